// Issue 17 finding 6: a live stream token is never stored in clear (calls.last_twiml held it, and
// so the tenant export and the WAL did), yet Twilio's retry of the consent step still gets an
// answer whose token admits the stream, once.
import { readFileSync } from 'node:fs'
import { eq, sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { continueCall } from '../../src/calls/call-steps.js'
import { runStepBatch } from '../../src/calls/step-batch.js'
import type { RawQuery } from '../../src/db/client.js'
import { recordings } from '../../src/db/schema.js'
import { createFlowVersionCache } from '../../src/db/step-sql.js'
import { injectTransport, twilioCaller } from '../harness/twilio-caller.js'
import { admin } from '../helper.js'
import { openStream, payloadFor, settle, setup } from '../media-helpers.js'

const TOKEN = /<Parameter name="token" value="([^"]+)"\/>/

/** The tables, and how many of their rows hold `needle` anywhere (any column, jsonb included). */
async function rowsHolding (app: App, needle: string): Promise<Record<string, number>> {
  const { db } = app.database
  const tables = await db.execute(sql`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`)
  const found: Record<string, number> = {}
  for (const { name } of rowsOf<{ name: string }>(tables)) {
    const [row] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from ${sql.identifier(name)} r where strpos(r::text, ${needle}) > 0`))
    if (row!.n > 0) found[name] = row!.n
  }
  return found
}
// PGlite's drizzle driver answers { rows }, postgres.js an array.
const rowsOf = <T>(result: unknown): T[] => Array.isArray(result) ? result as T[] : (result as { rows: T[] }).rows

/** A call up to its consent question, through the harness caller; `post` sends one of its webhooks. */
async function startCall (app: App) {
  const call = twilioCaller(injectTransport(app), { params: { Direction: 'inbound' } })
  const post = async (path: string, params: Record<string, string> = {}) => {
    const res = await call.post(path, params)
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.body}`)
    return res.body
  }
  const start = await post('/twilio/voice')
  if (!start.includes('node=consent&amp;step=1')) throw new Error('unexpected start ' + start)
  return { callSid: call.callSid, post }
}

/** Opens a media stream with `token`: the close code if refused, 0 once admitted (then stopped). */
async function stream (app: App, callSid: string, token: string): Promise<number> {
  const recordingsOf = async () => (await app.database.db.select({ id: recordings.id }).from(recordings).where(eq(recordings.callSid, callSid))).length
  const before = await recordingsOf()
  const stream = await openStream(app)
  stream.start(callSid, token)
  stream.media('inbound', 0, payloadFor(0, 0))
  // Set once the race below is decided (an object: the loop reads it after each await).
  const race = { done: false }
  const opened = (async () => {
    while (!race.done) {
      if (await recordingsOf() > before) return 0
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return -1
  })()
  const code = await Promise.race([stream.closed.then((c) => c.code), opened])
  race.done = true
  if (code === 0) {
    stream.stop()
    await settle(app)
  }
  stream.terminate()
  return code
}

/** What every path must guarantee for the consent step's answer `first` and its retry `again`. */
async function checkAtRest (t: Test, app: App, tenantId: string, callSid: string, first: string, again: string) {
  const token = TOKEN.exec(first)?.[1]
  t.ok(token, 'consent granted: the answer starts a stream with a token')
  if (token === undefined) return
  t.same(await rowsHolding(app, token), {}, 'no column of any row holds the token in clear')
  t.equal(again, first, 'Twilio\'s retry gets the same answer, byte for byte (the same token)')
  const archive = await app.inject({ method: 'GET', url: `/api/tenants/${tenantId}/export`, headers: admin })
  t.equal(archive.statusCode, 200)
  t.equal(archive.rawPayload.indexOf(token), -1, 'the tenant export does not hold the token')
  t.equal(await stream(app, callSid, token), 0, 'the token of the retried answer admits the stream')
  t.equal(await stream(app, callSid, token), 1008, 'once only')
}

t.test('the batch path: a consent step and its retry', async (t) => {
  const { app, tenantId } = await setup(t)
  const call = await startCall(app)
  const first = await call.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  const again = await call.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  await checkAtRest(t, app, tenantId, call.callSid, first, again)
})

t.test('the batch\'s write fails, the committer\'s second attempt stores the step', async (t) => {
  const { app, tenantId } = await setup(t)
  const call = await startCall(app)
  // The step's first write fails, so the step is stored by the committer's second attempt.
  let refused = 0
  const raw = app.database.raw
  const session = raw.session.bind(raw)
  raw.session = async (fn) => await session(async (query) => await fn((async <T>(text: string, params: unknown[]) => {
    if (text.includes('update calls c set state') && refused++ === 0) throw new Error('write refused by the test')
    return await query<T>(text, params)
  }) as RawQuery))
  const first = await call.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  t.ok(refused > 0, 'the batch write was tried and failed')
  const again = await call.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  await checkAtRest(t, app, tenantId, call.callSid, first, again)
})

t.test('the committer reached without the batcher answers a retry from the stored answer too', async (t) => {
  const { app, tenantId, clock } = await setup(t)
  const call = await startCall(app)
  const first = await call.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  // The retry reaches the committer directly (not through the route's batcher), with a cold flow-version cache.
  // Imported here so that the other tests of this file run on code without stream-token.ts.
  const { streamTokenKey } = await import('../../src/calls/stream-token.js')
  const log = { info: () => {}, warn: () => {}, error: () => {} }
  const committer = {
    raw: app.database.raw,
    definitions: createFlowVersionCache(),
    clock,
    publicUrl: app.config.publicUrl,
    numberHashKey: app.config.numberHashKey,
    streamTokenKey: streamTokenKey(app.config.linkSecret),
    rememberSwitchboard: () => {}
  }
  const again = await continueCall({
    db: app.database.db,
    clock,
    log,
    steps: async (job) => (await runStepBatch(committer, [job]))[0]!,
    numberHashKey: app.config.numberHashKey,
    dialler: app.dialler
  }, { callSid: call.callSid, node: 'consent', step: 1, digits: '1' })
  await checkAtRest(t, app, tenantId, call.callSid, first, again)
})

t.test('an upgrade clears the answers stored with a clear token before tokens were derived', async (t) => {
  const { app } = await setup(t)
  const before = await startCall(app)
  const after = await startCall(app)
  const first = await before.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  await after.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  const token = TOKEN.exec(first)?.[1]
  t.ok(token)
  // What the code before the fix stored: the answer as sent, the token in it.
  await app.database.db.execute(sql`update calls set last_twiml = ${first} where call_sid = ${before.callSid}`)
  t.same(Object.keys(await rowsHolding(app, token!)), ['calls'], 'an old row holds the token')
  const migration = readFileSync(new URL('../../src/db/migrations/0013_clear_stream_tokens_at_rest.sql', import.meta.url), 'utf8')
  await app.database.db.execute(sql.raw(migration))
  t.same(await rowsHolding(app, token!), {}, 'the migration leaves no clear token')
  const kept = rowsOf<{ sid: string, twiml: string | null }>(await app.database.db.execute(sql`select call_sid as sid, last_twiml as twiml from calls`))
  t.equal(kept.find((r) => r.sid === before.callSid)?.twiml, null, 'the old answer is gone (a retry gets an empty <Response/>)')
  t.match(kept.find((r) => r.sid === after.callSid)?.twiml, /<stream-token>/, 'an answer stored with the placeholder is kept')
})
