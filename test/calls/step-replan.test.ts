// Issue 18 item 1: one committer for every webhook step. A step whose call changed between its
// read and its write is read and planned again by the same statements (no second, locking
// path), a bounded number of times; steps the batch once left to that path (opt-outs, steps
// after the end) are written by the batch's own statements.
import { asc, eq } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../../src/app.js'
import type { RawQuery } from '../../src/db/client.js'
import { appendCallEvent } from '../../src/db/calls.js'
import { callEvents, calls, consents, streamTokens, suppressions } from '../../src/db/schema.js'
import { CALLER, NUMBER, setup } from '../call-setup.js'
import { injectTransport, twilioCaller } from '../harness/twilio-caller.js'
import { signedTwilio } from '../helper.js'

const READ_CALLS = 'from calls c left join campaigns'
const WRITE_STEPS = 'update calls c set state'

/** Every statement of the hot path, in order; `after` runs once a statement has answered. */
function statementsOf (app: App, after: (text: string) => Promise<void> = async () => {}): string[] {
  const seen: string[] = []
  const raw = app.database.raw
  const session = raw.session.bind(raw)
  raw.session = async (fn) => await session(async (query) => await fn((async <T>(text: string, params: unknown[]) => {
    const rows = await query<T>(text, params)
    seen.push(text.includes(READ_CALLS) ? 'read' : text.includes(WRITE_STEPS) ? 'write' : 'other')
    await after(text)
    return rows
  }) as RawQuery))
  return seen
}

/** A call up to its consent question, through the harness caller; `post` sends one of its webhooks. */
async function started (app: App) {
  const call = twilioCaller(injectTransport(app), { params: { Direction: 'inbound' } })
  const post = async (path: string, params: Record<string, string> = {}) => {
    const res = await call.post(path, params)
    t.equal(res.status, 200, `${path} answered`)
    return res.body
  }
  await post('/twilio/voice')
  return { callSid: call.callSid, post }
}

async function eventsOf (app: App, callSid: string) {
  const [row] = await app.database.db.select().from(calls).where(eq(calls.callSid, callSid))
  const events = await app.database.db.select().from(callEvents).where(eq(callEvents.callId, row!.id)).orderBy(asc(callEvents.seq))
  return { row: row!, events }
}

t.test('a call that changes between the read and the write is read and planned again', async (t) => {
  const { app, clock } = await setup(t)
  const call = await started(app)
  // The recorder adds an event to the call while its consent step is between read and write.
  let interfered = false
  const seen = statementsOf(app, async (text) => {
    if (!interfered && text.includes(READ_CALLS)) {
      interfered = true
      t.ok(await appendCallEvent(app.database.db, call.callSid, { node: null, input: null, outcome: 'recording-test-event' }, clock.now()))
    }
  })
  const answer = await call.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  t.match(answer, '<Stream', 'the step is applied: consent stored, stream started')
  t.same(seen, ['read', 'write', 'read', 'write'], 'the same read and write again, nothing else')
  const { row, events } = await eventsOf(app, call.callSid)
  t.same(events.map((e) => e.seq), events.map((_e, i) => i + 1), 'events numbered without gaps or repeats')
  t.equal(row.stepSeq, events.length)
  t.ok(events.findIndex((e) => e.outcome === 'recording-test-event') < events.findLastIndex((e) => e.node === 'consent'), 'the step\'s events come after the one that interfered')
  t.equal(row.lastStep, 2)
  t.equal((await app.database.db.select().from(consents).where(eq(consents.callSid, call.callSid))).length, 1, 'consent stored once')
  t.equal((await app.database.db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))).length, 1, 'one token')
})

t.test('a call that changes under every write: the step gives up after a few re-plans', async (t) => {
  const { app, clock } = await setup(t)
  const call = await started(app)
  const seen = statementsOf(app, async (text) => {
    if (text.includes(READ_CALLS)) t.ok(await appendCallEvent(app.database.db, call.callSid, { node: null, input: null, outcome: 'recording-test-event' }, clock.now()))
  })
  const answer = await call.post('/twilio/flow?node=consent&step=1', { Digits: '1' })
  t.notMatch(answer, '<Stream', 'the fallback answer: never a stream')
  t.match(answer, '<Dial>', 'the caller is forwarded to the switchboard')
  t.same(seen, ['read', 'write', 'read', 'write', 'read', 'write', 'read', 'write'], 'four attempts, each read and written')
  t.equal((await app.database.db.select().from(consents).where(eq(consents.callSid, call.callSid))).length, 0, 'nothing of the step stored')
  const { row } = await eventsOf(app, call.callSid)
  t.equal(row.lastStep, 1, 'the step is not applied')
})

t.test('an opt-out, and one after the call ended, are written by the batch\'s statements', async (t) => {
  const { app } = await setup(t)
  const live = await started(app)
  await live.post('/twilio/flow?node=consent&step=1', { Digits: '2' })
  const seen = statementsOf(app)
  t.match(await live.post('/twilio/flow?node=menu&step=2', { Digits: '9' }), 'You will not be called again.')
  t.same(seen, ['read', 'write'], 'one read and one write')
  t.equal((await app.database.db.select().from(suppressions).where(eq(suppressions.callSid, live.callSid))).length, 1, 'the opt-out is stored')

  const late = await started(app)
  await late.post('/twilio/flow?node=consent&step=1', { Digits: '2' })
  t.equal((await app.inject(signedTwilio('/twilio/status', { CallSid: late.callSid, From: CALLER, To: NUMBER, CallStatus: 'completed', CallDuration: '5' }))).statusCode, 200)
  seen.length = 0
  t.match(await late.post('/twilio/flow?node=menu&step=2', { Digits: '9' }), '<Hangup/>')
  t.same(seen, ['read', 'write'], 'one read and one write')
  const { events } = await eventsOf(app, late.callSid)
  t.same(events.slice(-2).map((e) => e.outcome), ['ignored-call-ended', 'suppressed'])
  // Twilio's retry of the late step: answered from the stored answer, nothing written twice.
  seen.length = 0
  t.match(await late.post('/twilio/flow?node=menu&step=2', { Digits: '9' }), '<Hangup/>')
  t.same(seen, ['read'], 'a retry is only read')
  t.equal((await eventsOf(app, late.callSid)).events.length, events.length)
})
