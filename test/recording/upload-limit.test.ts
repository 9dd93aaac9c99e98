import { eq } from 'drizzle-orm'
import t from 'tap'
import { recordings } from '../../src/db/schema.js'
import { settle, setup, stopFrame, streamCall } from '../media-helpers.js'

t.test('calls that end together upload four at a time, and every one is stored', async (t) => {
  const { app } = await setup(t)
  // Every S3 request takes 50 ms longer, so uploads overlap; an upload is counted from its first
  // request for the key until its retention tag is set, which is its last.
  const active = new Set<string>()
  let most = 0
  app.objectStore.client.middlewareStack.add((next, context) => async (args) => {
    const key = (args.input as { Key?: string }).Key
    if (key === undefined) return await next(args)
    active.add(key)
    most = Math.max(most, active.size)
    await new Promise((resolve) => setTimeout(resolve, 50))
    try { return await next(args) } finally { if (context.commandName === 'PutObjectTaggingCommand') active.delete(key) }
  }, { step: 'initialize', name: 'countUploads' })

  const CALLS = 10
  const streams = []
  for (let i = 0; i < CALLS; i++) streams.push(await streamCall(app, `+4477009001${String(i).padStart(2, '0')}`, 1, { stop: false }))
  for (const { ws, callSid } of streams) ws.send(stopFrame(callSid))
  await settle(app)
  for (const { ws } of streams) ws.terminate()

  t.ok(most <= 4, `never more than four uploads at once (${most})`)
  // An upload runs inside a transaction that holds its recording's row: PGlite runs one
  // transaction at a time, so there they go one by one; PostgreSQL runs the four side by side.
  if (app.database.kind === 'postgres') t.equal(most, 4, 'and the four were used')
  else t.equal(most, 1, 'one at a time in the embedded database')
  const stored = await app.database.db.select({ status: recordings.status }).from(recordings).where(eq(recordings.status, 'stored'))
  t.equal(stored.length, CALLS, 'the ones that waited were uploaded too')
  t.equal(active.size, 0)
})
