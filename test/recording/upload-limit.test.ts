import { eq } from 'drizzle-orm'
import t from 'tap'
import { recordings } from '../../src/db/schema.js'
import { settle, setup, streamCall } from '../media-helpers.js'
import { intercept } from '../storage-helpers.js'

t.test('calls that end together upload four at a time, and every one is stored', async (t) => {
  const { app } = await setup(t)
  // Every upload takes 50 ms longer, so uploads overlap; an upload is counted from the start of
  // its put (the object and its retention tag) to its end.
  const active = new Set<string>()
  let most = 0
  intercept(app, 'put', async (put, ref, ...rest) => {
    active.add(ref.key)
    most = Math.max(most, active.size)
    await new Promise((resolve) => setTimeout(resolve, 50))
    try { await put(ref, ...rest) } finally { active.delete(ref.key) }
  })

  const CALLS = 10
  const streams = []
  for (let i = 0; i < CALLS; i++) streams.push(await streamCall(app, `+4477009001${String(i).padStart(2, '0')}`, 1, { stop: false }))
  for (const { stream } of streams) stream.stop()
  await settle(app)
  for (const { ws } of streams) ws.terminate()

  t.ok(most <= 4, `never more than four uploads at once (${most})`)
  // No transaction is open during an upload (a lease claims the row), so PGlite's one
  // connection does not serialise them: four run side by side on either database.
  t.equal(most, 4, 'and the four were used')
  const stored = await app.database.db.select({ status: recordings.status }).from(recordings).where(eq(recordings.status, 'stored'))
  t.equal(stored.length, CALLS, 'the ones that waited were uploaded too')
  t.equal(active.size, 0)
})
