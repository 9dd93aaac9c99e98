// The pass that deletes queued objects after commit reads the queue a page at a time and keeps a
// bounded number of S3 deletions in flight: a backlog of any size is neither loaded whole nor
// sent to S3 all at once.
import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import type { Db } from '../../src/db/client.js'
import { objectDeletions } from '../../src/db/schema.js'
import { DRAIN_CONCURRENCY, DRAIN_PAGE_SIZE, drainObjectDeletions } from '../../src/storage/pending-deletions.js'
import { build } from '../helper.js'
import { intercept, objectsUnder, s3Down } from '../storage-helpers.js'

const BACKLOG = 250

/** The database, counting the queries that read the queue (the drain's only SELECTs). */
function countingSelects (db: Db): { db: Db, selects: () => number } {
  let selects = 0
  const proxy = new Proxy(db, {
    get (target, prop) {
      const value = Reflect.get(target, prop, target) as unknown
      if (prop === 'select') return (...args: unknown[]) => { selects++; return (value as (...a: unknown[]) => unknown).apply(target, args) }
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  return { db: proxy, selects: () => selects }
}

t.test(`a backlog of ${BACKLOG} is deleted in pages, a few at a time`, async (t) => {
  const app = await build(t)
  const bucket = app.objectStore.bucket
  const keys = Array.from({ length: BACKLOG }, () => `backlog/${randomUUID()}.enc`)
  for (let i = 0; i < keys.length; i += 25) {
    await Promise.all(keys.slice(i, i + 25).map((key) => app.objectStore.put({ bucket, key }, Readable.from([Buffer.from('x')]), { retentionDays: 1, sseKmsKeyId: null })))
  }
  await app.database.db.insert(objectDeletions).values(keys.map((key) => ({ bucket, key, reason: 'erasure', requestedAt: app.clock.now() })))

  const counted = countingSelects(app.database.db)
  let inFlight = 0
  let maxInFlight = 0
  const perPage = new Map<number, number>()
  intercept(app, 'deleteAllVersions', async (real, ref) => {
    perPage.set(counted.selects(), (perPage.get(counted.selects()) ?? 0) + 1)
    maxInFlight = Math.max(maxInFlight, ++inFlight)
    try {
      // Long enough that the workers overlap, whatever the machine.
      await new Promise((resolve) => setTimeout(resolve, 5))
      return await real(ref)
    } finally {
      inFlight--
    }
  })

  const result = await drainObjectDeletions({ db: counted.db, store: app.objectStore, log: app.log })
  t.match(result, { objects: BACKLOG, failed: 0 })
  t.same(await app.database.db.select().from(objectDeletions), [], 'the queue is empty')
  for (const key of [keys[0]!, keys[BACKLOG - 1]!]) t.same(await objectsUnder(app, key), [], `${key} is gone`)
  t.equal(counted.selects(), Math.ceil(BACKLOG / DRAIN_PAGE_SIZE) + 1, 'one query a page, and one that finds the queue empty')
  t.ok([...perPage.values()].every((n) => n <= DRAIN_PAGE_SIZE), `no page handed S3 more than ${DRAIN_PAGE_SIZE} deletions`)
  t.ok(maxInFlight > 1, `deletions overlap (${maxInFlight} at once)`)
  t.ok(maxInFlight <= DRAIN_CONCURRENCY, `never more than ${DRAIN_CONCURRENCY} at once`)
})

t.test('S3 failing stops the pass: entries in flight finish, the rest stay queued for the next', async (t) => {
  const app = await build(t)
  const bucket = app.objectStore.bucket
  await app.database.db.insert(objectDeletions).values(Array.from({ length: 50 }, () => ({ bucket, key: `backlog/${randomUUID()}.enc`, reason: 'erasure', requestedAt: app.clock.now() })))
  let calls = 0
  const restore = s3Down(app, 'deleteAllVersions')
  intercept(app, 'deleteAllVersions', async (down, ref) => { calls++; return await down(ref) })

  const result = await drainObjectDeletions({ db: app.database.db, store: app.objectStore, log: app.log })
  t.equal(result.objects, 0)
  t.ok(result.failed >= 1 && result.failed <= DRAIN_CONCURRENCY, `the failures in flight are counted (${result.failed})`)
  t.equal(calls, result.failed, 'no deletion was tried after the first failure came back')
  const left = await app.database.db.select().from(objectDeletions)
  t.equal(left.length, 50, 'every entry stays queued')
  t.equal(left.filter((d) => d.attempts === 1).length, result.failed, 'each failure counted on its own entry')

  restore()
  t.match(await drainObjectDeletions({ db: app.database.db, store: app.objectStore, log: app.log }), { objects: 50, failed: 0 }, 'S3 back: the next pass finishes')
})
