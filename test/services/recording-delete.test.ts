// DELETE /api/recordings/:id deletes the way erasure and the sweeper do: the row is marked and
// its object queued in one transaction, and the object is deleted after the commit; an object
// S3 will not delete then stays queued until the sweeper's pass takes it.
import { randomBytes, randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { and, eq } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../../src/app.js'
import { auditLog, objectDeletions, recordings } from '../../src/db/schema.js'
import { admin, bearer, build } from '../helper.js'
import { intercept, objectsUnder, s3Down } from '../storage-helpers.js'

async function controllerOf (app: App) {
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id as string
  const user = await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })
  return { tenantId, controller: bearer(user.json().apiKey) }
}

/** A stored recording: its row, and an object in the bucket under its key. */
async function storedRecording (app: App, tenantId: string) {
  const [row] = await app.database.db.insert(recordings).values({
    tenantId,
    callSid: `CA${randomBytes(16).toString('hex')}`,
    bucket: app.objectStore.bucket,
    key: `${tenantId}/recordings/${randomUUID()}.enc`,
    status: 'stored',
    plainBytes: 4,
    sha256: '0'.repeat(64)
  }).returning()
  await app.objectStore.put(row!, Readable.from([Buffer.from('fake')]), { retentionDays: 1, sseKmsKeyId: null })
  return row!
}

const rowOf = async (app: App, id: string) => (await app.database.db.select().from(recordings).where(eq(recordings.id, id)))[0]!
const queued = (app: App) => app.database.db.select().from(objectDeletions)

t.test('the row is marked deleted and the object queued in one commit; the object goes after it', async (t) => {
  const app = await build(t)
  const { tenantId, controller } = await controllerOf(app)
  const rec = await storedRecording(app, tenantId)
  t.same(await objectsUnder(app, rec.key), [rec.key], 'stored')
  const seen: Array<{ deletedAt: Date | null, queued: number }> = []
  intercept(app, 'deleteAllVersions', async (real, ref) => {
    seen.push({ deletedAt: (await rowOf(app, rec.id)).deletedAt, queued: (await queued(app)).length })
    return await real(ref)
  })

  const res = await app.inject({ method: 'DELETE', url: `/api/recordings/${rec.id}`, headers: controller })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal(seen.length, 1, 'one S3 deletion')
  t.ok(seen[0]!.deletedAt !== null, 'S3 was asked only once the row was committed as deleted')
  t.equal(seen[0]!.queued, 1, '… and with the object queued, so a crash then loses nothing')
  t.match(await rowOf(app, rec.id), { status: 'deleted' })
  t.same(await objectsUnder(app, rec.key), [], 'the object is gone when the answer comes')
  t.same(await queued(app), [], 'nothing left queued')
  const [entry] = await app.database.db.select().from(auditLog).where(and(eq(auditLog.tenantId, tenantId), eq(auditLog.action, 'recording.delete')))
  t.match(entry, { subject: `recording:${rec.id}`, details: { objectQueued: true } })
  t.equal((await app.inject({ method: 'DELETE', url: `/api/recordings/${rec.id}`, headers: controller })).statusCode, 410, 'a second deletion: Gone')
})

t.test('with S3 refusing, the deletion stands and stays queued; the sweeper\'s pass finishes it', async (t) => {
  const app = await build(t)
  const { tenantId, controller } = await controllerOf(app)
  const rec = await storedRecording(app, tenantId)
  const s3Back = s3Down(app, 'deleteAllVersions')

  const res = await app.inject({ method: 'DELETE', url: `/api/recordings/${rec.id}`, headers: controller })
  t.equal(res.statusCode, 204, 'answered as a deletion: the row is gone for every reader')
  t.match(await rowOf(app, rec.id), { status: 'deleted' })
  t.match(await queued(app), [{ bucket: rec.bucket, key: rec.key, reason: 'deletion', attempts: 1, lastError: 'S3 is down' }], 'the key stays queued, its failure counted')
  t.same(await objectsUnder(app, rec.key), [rec.key], 'the object is still there')
  t.equal((await app.inject({ method: 'POST', url: `/api/recordings/${rec.id}/link`, headers: controller })).statusCode, 410, 'no new link to it')

  s3Back()
  t.match(await app.sweep(), { objectsDeleted: 1, objectDeletionsPending: 0 })
  t.same(await objectsUnder(app, rec.key), [], 'the retry deleted the object')
  t.same(await queued(app), [], 'and its entry')
})

t.test('a deletion drains its own entry, not a backlog left by others', async (t) => {
  const app = await build(t)
  const { tenantId, controller } = await controllerOf(app)
  const other = await storedRecording(app, tenantId)
  await app.database.db.insert(objectDeletions).values({ bucket: other.bucket, key: other.key, reason: 'retention', requestedAt: app.clock.now() })
  const rec = await storedRecording(app, tenantId)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/recordings/${rec.id}`, headers: controller })).statusCode, 204)
  t.same(await objectsUnder(app, rec.key), [])
  t.same((await queued(app)).map((d) => d.key), [other.key], 'the sweeper\'s entry is left to the sweeper')
  t.same(await objectsUnder(app, other.key), [other.key])
})
