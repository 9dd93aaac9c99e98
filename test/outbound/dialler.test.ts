import { readFileSync } from 'node:fs'
import { and, eq, isNotNull } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { callAttempts, suppressions } from '../../src/db/schema.js'
import { CALLER, caller, NUMBER, setup } from '../call-setup.js'
import { fakeTwilioApi } from '../fake-twilio-api.js'
import { eventually } from '../harness/eventually.js'
import { injectTransport, type TwilioTransport } from '../harness/twilio-caller.js'
import { ACCOUNT_SID, twilioCallees, type CalleeScript, type Scripts } from '../harness/twilio-callee.js'
import { admin, bearer, TWILIO_TOKEN } from '../helper.js'

const outboundFlow = JSON.parse(readFileSync(new URL('../../examples/outbound-flow.json', import.meta.url), 'utf8'))

// The outbound flow: intro, consent (2: no recording), menu (1: adviser, 9: opt out).
const PERSON: CalleeScript = { status: 'completed', answeredBy: 'human', digits: ['2', '1'] }
const OPTS_OUT: CalleeScript = { status: 'completed', answeredBy: 'human', digits: ['2', '9'] }
const BUSY: CalleeScript = { status: 'busy' }
const NO_ANSWER: CalleeScript = { status: 'no-answer' }
const MACHINE: CalleeScript = { status: 'completed', answeredBy: 'machine_start' }

const settings = (flowId: string, over: Record<string, unknown> = {}) => ({
  flowId,
  callerId: NUMBER,
  maxConcurrent: 10,
  callsPerMinute: 600,
  maxAttempts: 3,
  retryAfterSeconds: { busy: 5, noAnswer: 10, failed: 10, machine: 20 },
  machineDetection: 'detect',
  abandonLimitPercent: 3,
  ...over
})

/** A campaign with the outbound flow as its dialler's, against the Twilio stand-in running `scripts`. */
async function outbound (t: Test, scripts: Scripts, over: Record<string, unknown> = {}) {
  const transports: TwilioTransport[] = []
  const callees = twilioCallees(transports, scripts)
  const api = await fakeTwilioApi(t, { auth: { accountSid: ACCOUNT_SID, authToken: TWILIO_TOKEN }, placed: callees.placed })
  const s = await setup(t, { env: { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_API_URL: api.url } })
  const { app, campaignId } = s
  transports.push(injectTransport(app))
  const ops = bearer(s.opsKey)
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'Outbound', campaignId } })).json().id
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition: outboundFlow } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })).statusCode, 200)
  const patched = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaignId}`, headers: ops, payload: { dialler: settings(flowId, over) } })
  t.equal(patched.statusCode, 200, patched.body)
  const db = app.database.db
  return {
    ...s,
    ops,
    api,
    callees,
    flowId,
    async load (lines: string[]) {
      const res = await app.inject({ method: 'POST', url: `/api/campaigns/${campaignId}/contacts?country=GB`, headers: { ...ops, 'content-type': 'text/csv' }, payload: lines.join('\n') + '\n' })
      t.equal(res.statusCode, 200, res.body)
    },
    async act (action: string) {
      return await app.inject({ method: 'POST', url: `/api/campaigns/${campaignId}/dialler`, headers: ops, payload: { action } })
    },
    async status () {
      const res = await app.inject({ url: `/api/campaigns/${campaignId}/dialler`, headers: ops })
      t.equal(res.statusCode, 200, res.body)
      return res.json()
    },
    /** One dialler turn, then every call it placed played out. */
    async tick () {
      const { placed } = await app.dialler.tick()
      await callees.settled()
      return placed
    },
    async contact (number: string) {
      const list = (await app.inject({ url: `/api/campaigns/${campaignId}/contacts?limit=1000`, headers: ops })).json().contacts as Array<{ number: string, status: string, attempts: number, lastOutcome: string | null, nextAttemptAt: string | null }>
      return list.find((c) => c.number === number)
    },
    async attempts () {
      return await db.select().from(callAttempts).where(and(eq(callAttempts.campaignId, campaignId), isNotNull(callAttempts.contactId)))
    }
  }
}

const N = (i: number) => `+4477009${String(i).padStart(5, '0')}`

t.test('a run through the list: placement as DESIGN says, outcomes by script, retries after their delay, then completed', async (t) => {
  const numbers = { person: N(1), optsOut: N(2), busyThenPerson: N(3), neverAnswers: N(4), machine: N(5), suppressed: N(6), registry: N(7) }
  const scripts: Scripts = (to, attempt) => {
    if (to === numbers.person) return PERSON
    if (to === numbers.optsOut) return OPTS_OUT
    if (to === numbers.busyThenPerson) return attempt === 1 ? BUSY : PERSON
    if (to === numbers.neverAnswers) return NO_ANSWER
    if (to === numbers.machine) return MACHINE
    throw new Error(`${to} should never have been dialled`)
  }
  const run = await outbound(t, scripts)
  const { app, clock, ops } = run
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions', headers: ops, payload: { number: numbers.suppressed } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions/import?source=registry', headers: { ...ops, 'content-type': 'text/csv' }, payload: numbers.registry + '\n' })).statusCode, 200)
  await run.load(['number,reference', ...Object.entries(numbers).map(([ref, n]) => `${n},${ref}`)])

  t.equal((await run.act('pause')).statusCode, 409, 'an idle dialler cannot pause')
  t.match((await run.act('pause')).json().message, 'idle')
  t.equal((await app.dialler.tick()).placed, 0, 'nothing is dialled before start')
  const started = await run.act('start')
  t.equal(started.statusCode, 200, started.body)
  t.match(started.json(), { state: 'running', reason: null, inFlight: 0, contacts: { pending: 7 } })
  t.equal((await run.act('start')).statusCode, 409, 'a running dialler cannot start again')

  t.equal(await run.tick(), 5, 'five placed; the suppressed and the registered number are never dialled')
  t.same(run.callees.failures, [], 'every webhook answered 200')
  const created = run.api.requests.filter((r) => r.path.endsWith('/Calls.json'))
  t.equal(created.length, 5)
  const first = created[0]!
  t.equal(first.path, `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`)
  t.equal(first.form.get('From'), NUMBER)
  t.equal(first.form.get('Url'), 'https://voice.callgate.test/twilio/voice')
  t.equal(first.form.get('StatusCallback'), 'https://voice.callgate.test/twilio/status')
  t.same(first.form.getAll('StatusCallbackEvent'), ['initiated', 'ringing', 'answered', 'completed'])
  t.equal(first.form.get('MachineDetection'), 'Enable')
  t.match(run.callees.calls.find((c) => c.to === numbers.person)!.replies[0], /Acme calling about your enquiry/, 'the answered call runs the dialler\'s flow')
  t.match(run.callees.calls.find((c) => c.to === numbers.machine)!.replies[0], /<Say>[^<]*call us back on 020 7946 0018 and press 9\.<\/Say><Hangup\/>/, 'a machine hears the message for machines')

  t.match(await run.contact(numbers.person), { status: 'completed', attempts: 1, lastOutcome: 'human', nextAttemptAt: null })
  t.match(await run.contact(numbers.optsOut), { status: 'suppressed', attempts: 1, lastOutcome: 'optedOut' })
  t.match(await run.contact(numbers.busyThenPerson), { status: 'scheduled', attempts: 1, lastOutcome: 'busy', nextAttemptAt: '2026-11-24T10:00:05.000Z' })
  t.match(await run.contact(numbers.neverAnswers), { status: 'scheduled', lastOutcome: 'noAnswer', nextAttemptAt: '2026-11-24T10:00:10.000Z' })
  t.match(await run.contact(numbers.machine), { status: 'scheduled', lastOutcome: 'machine', nextAttemptAt: '2026-11-24T10:00:20.000Z' })
  t.match(await run.contact(numbers.suppressed), { status: 'suppressed', attempts: 0, lastOutcome: 'suppressed' })
  t.match(await run.contact(numbers.registry), { status: 'suppressed', attempts: 0, lastOutcome: 'registry' })
  const optout = await app.database.db.select().from(suppressions).where(eq(suppressions.source, 'ivr'))
  t.equal(optout.length, 1, 'the opt-out is on the tenant\'s suppression list')

  clock.advance(4_000)
  t.equal(await run.tick(), 0, 'no retry before its delay')
  clock.advance(1_000)
  t.equal(await run.tick(), 1, 'the busy number is tried again after 5 s')
  t.match(await run.contact(numbers.busyThenPerson), { status: 'completed', attempts: 2, lastOutcome: 'human' })
  for (let i = 0; i < 6; i++) {
    clock.advance(10_000)
    await run.tick()
  }
  t.match(await run.contact(numbers.neverAnswers), { status: 'exhausted', attempts: 3, lastOutcome: 'noAnswer', nextAttemptAt: null })
  t.match(await run.contact(numbers.machine), { status: 'exhausted', attempts: 3, lastOutcome: 'machine' })
  t.equal(run.callees.dialled(numbers.neverAnswers), 3, 'maxAttempts holds')
  t.equal(run.callees.dialled(numbers.person), 1)

  const status = await run.status()
  t.same(status, {
    state: 'completed',
    reason: null,
    inFlight: 0,
    contacts: { pending: 0, scheduled: 0, dialling: 0, completed: 2, exhausted: 2, suppressed: 3 },
    outcomes: { human: 2, machine: 3, busy: 1, noAnswer: 3, failed: 0, abandoned: 0, optedOut: 1 },
    abandonRate24h: 0
  })
  // The outcomes settled after the last turn go into the audit log with the next.
  await app.dialler.tick()
  const audit = (await app.inject({ url: `/api/audit?tenantId=${run.tenantId}&limit=500`, headers: admin })).json()
  const text = JSON.stringify(audit)
  const audited = audit.entries.filter((e: { action: string }) => e.action === 'dialler.outcomes').flatMap((e: { details: { outcomes: unknown[] } }) => e.details.outcomes)
  t.equal(audited.length, 10, 'every outcome audited once')
  t.match(text, /dialler\.place/)
  t.match(text, /dialler\.outcomes/)
  for (const n of Object.values(numbers)) t.notOk(text.includes(n), 'the audit log holds no number')
})

t.test('a number opted out by another call during the run is not dialled afterwards', async (t) => {
  const run = await outbound(t, () => PERSON, { callsPerMinute: 1 })
  await run.load([N(11)])
  t.equal((await run.act('start')).statusCode, 200)
  t.equal(await run.tick(), 1, 'one a minute: the first contact')
  await run.load([CALLER])
  // The second contact calls the campaign's number in and opts out in its inbound flow.
  const inbound = caller(run.app)
  await inbound.start()
  await inbound.press('consent', '2')
  await inbound.press('menu', '9')
  await inbound.status('completed')
  t.match(await run.contact(CALLER), { status: 'suppressed', lastOutcome: 'optedOut' }, 'its contact is suppressed at once')
  run.clock.advance(61_000)
  t.equal(await run.tick(), 0)
  t.equal(run.callees.dialled(CALLER), 0)
})

t.test('maxConcurrent holds: calls in flight are counted in the database', async (t) => {
  let release!: () => void
  const hold = new Promise<void>((resolve) => { release = resolve })
  const run = await outbound(t, () => ({ ...PERSON, hold }), { maxConcurrent: 2 })
  await run.load([1, 2, 3, 4, 5].map((i) => N(20 + i)))
  await run.act('start')
  const placed = []
  for (let i = 0; i < 4; i++) {
    placed.push((await run.app.dialler.tick()).placed)
    run.clock.advance(1_000)
  }
  t.same(placed, [2, 0, 0, 0], 'two in flight, no more')
  t.match(await run.status(), { inFlight: 2, contacts: { dialling: 2, pending: 3 } })
  release()
  await run.callees.settled()
  t.equal(await run.tick(), 2, 'two more once they ended')
  t.equal(await run.tick(), 1)
  t.equal(run.callees.maxLive, 2)
  t.match(await run.status(), { state: 'running', inFlight: 0, contacts: { completed: 5 } })
  t.equal(await run.tick(), 0)
  t.match(await run.status(), { state: 'completed' })
})

t.test('callsPerMinute holds over a sliding minute', async (t) => {
  const run = await outbound(t, () => PERSON, { callsPerMinute: 3 })
  await run.load(Array.from({ length: 8 }, (_, i) => N(40 + i)))
  await run.act('start')
  const placed = []
  for (let second = 0; second < 60; second += 10) {
    placed.push(await run.tick())
    run.clock.advance(10_000)
  }
  t.same(placed, [1, 1, 1, 0, 0, 0], 'a share a turn, three in the minute')
  placed.length = 0
  for (let second = 0; second < 60; second += 10) {
    placed.push(await run.tick())
    run.clock.advance(10_000)
  }
  t.same(placed, [1, 1, 1, 0, 0, 0], 'three more in the next minute')
  const times = (await run.attempts()).map((a) => a.at.getTime()).sort()
  for (let i = 3; i < times.length; i++) t.ok(times[i]! - times[i - 3]! >= 60_000, 'no four within a minute')
})

t.test('calling hours: nothing is dialled outside them, in the contact\'s own time zone when it has one', async (t) => {
  const run = await outbound(t, () => PERSON)
  run.clock.set('2026-11-24T07:30:00Z') // Tuesday 07:30 in London, 02:30 in New York
  await run.load(['number,reference,timezone', `${N(61)},london,`, `${N(62)},new-york,America/New_York`])
  await run.act('start')
  t.equal(await run.tick(), 0)
  t.match(await run.contact(N(61)), { status: 'scheduled', nextAttemptAt: '2026-11-24T09:00:00.000Z' })
  t.match(await run.contact(N(62)), { status: 'scheduled', nextAttemptAt: '2026-11-24T14:00:00.000Z' })
  t.match(await run.status(), { state: 'running' })
  run.clock.set('2026-11-24T09:00:00Z')
  t.equal(await run.tick(), 1, 'London opens at 09:00')
  t.equal(run.callees.dialled(N(62)), 0)
  run.clock.set('2026-11-24T14:00:00Z')
  t.equal(await run.tick(), 1, 'New York at 09:00 its time')
  run.clock.set('2026-12-25T10:00:00Z')
  await run.load([N(63)])
  t.equal(await run.tick(), 0, 'never on a holiday')
  // Christmas Day is a holiday and the 26th a Saturday, with no hours: Sunday 09:00.
  t.match(await run.contact(N(63)), { status: 'scheduled', nextAttemptAt: '2026-12-27T09:00:00.000Z' })
})

t.test('abandoned calls: counted, not re-dialled within 72 hours, and past the limit the dialler pauses itself', async (t) => {
  // Answered by a person, but the server could not be reached: Twilio's fallback answered, no flow ran.
  const run = await outbound(t, (to) => to === N(71) ? { status: 'completed', answeredBy: 'human', voice: false } : PERSON, { callsPerMinute: 1 })
  // Loaded a second apart: the dialler takes due contacts oldest first.
  for (const n of [70, 71, 72]) {
    await run.load([N(n)])
    run.clock.advance(1_000)
  }
  await run.act('start')
  t.equal(await run.tick(), 1)
  run.clock.advance(60_000)
  t.equal(await run.tick(), 1)
  t.equal(run.callees.dialled(N(71)), 1)
  const status = await run.status()
  t.match(status, { state: 'paused', reason: 'abandon-limit', outcomes: { human: 1, abandoned: 1 }, abandonRate24h: 50 })
  const abandoned = await run.contact(N(71))
  t.match(abandoned, { status: 'scheduled', lastOutcome: 'abandoned' })
  t.ok(new Date(abandoned!.nextAttemptAt!).getTime() >= run.clock.now().getTime() + 72 * 3600_000, 'not before 72 hours')
  run.clock.advance(60_000)
  t.equal(await run.tick(), 0, 'paused: nothing dialled')
  t.equal((await run.act('resume')).statusCode, 200)
  t.equal(await run.tick(), 1, 'resumed by ops')
})

t.test('an attempt whose outcome never comes is settled as failed after its timeout; one Twilio refuses, at once', async (t) => {
  // The first callee's status callbacks never arrive: the call stays up at Twilio for ever.
  const never = new Promise<void>(() => {})
  const run = await outbound(t, (to, attempt) => to === N(81) && attempt === 1 ? { ...PERSON, hold: never } : PERSON, { maxAttempts: 2 })
  await run.load([N(80)])
  run.clock.advance(1_000)
  await run.load([N(81)])
  await run.act('start')
  run.api.failNext()
  t.equal((await run.app.dialler.tick()).placed, 1, 'Twilio refused the first, placed the second')
  t.match(await run.contact(N(80)), { status: 'scheduled', attempts: 1, lastOutcome: 'failed', nextAttemptAt: '2026-11-24T10:00:11.000Z' })
  t.match(await run.contact(N(81)), { status: 'dialling', attempts: 1 })
  run.clock.advance(3 * 3600_000)
  t.match(await run.app.dialler.tick(), { lost: 0, placed: 1 }, 'a call may last hours; the refused one is tried again')
  t.match(await run.contact(N(81)), { status: 'dialling' })
  run.clock.advance(3600_000 + 11 * 60_000)
  t.match(await run.app.dialler.tick(), { lost: 1 }, 'past the longest call Twilio makes it is lost')
  t.match(await run.contact(N(81)), { status: 'scheduled', lastOutcome: 'failed' })
  run.clock.advance(10_000)
  t.match(await run.app.dialler.tick(), { placed: 1 }, 'tried again')
  // Not run.tick(): the first call to N(81) never ends.
  await eventually('the second calls ended', async () => (await run.status()).inFlight === 0)
  t.match(await run.contact(N(81)), { status: 'completed', attempts: 2 })
  t.match(await run.status(), { outcomes: { failed: 2, human: 2 } })
})

t.test('a number suppressed through the API or a register import leaves every list still to call at once', async (t) => {
  const run = await outbound(t, () => PERSON)
  const { app, ops } = run
  await run.load([N(91), N(92), N(93)])
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions', headers: ops, payload: { number: N(91), reason: 'asked by e-mail' } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions/import?source=registry', headers: { ...ops, 'content-type': 'text/csv' }, payload: `${N(92)}\n` })).statusCode, 200)
  t.match(await run.contact(N(91)), { status: 'suppressed', lastOutcome: 'suppressed' })
  t.match(await run.contact(N(92)), { status: 'suppressed', lastOutcome: 'registry' })
  t.match(await run.contact(N(93)), { status: 'pending' })
  await run.act('start')
  t.equal(await run.tick(), 1)
  t.same(run.callees.calls.map((c) => c.to), [N(93)])
})

t.test('the customer\'s systems hear each contact\'s end: contact.completed after the call\'s own events, with the reference', async (t) => {
  const numbers = { person: N(1), optsOut: N(2), busy: N(3) }
  const run = await outbound(t, (to) => to === numbers.person ? PERSON : to === numbers.optsOut ? OPTS_OUT : BUSY)
  const { app } = run
  const { startReceiver } = await import('../events/receiver.js')
  const receiver = await startReceiver(t)
  const controller = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: run.tenantId, role: 'controller', name: 'C', email: 'c@acme.test' } })).json().apiKey)
  const registered = await app.inject({ method: 'POST', url: '/api/webhooks', headers: controller, payload: { url: receiver.url, events: ['call.started', 'optout.recorded', 'call.completed', 'contact.completed'] } })
  t.equal(registered.statusCode, 201)
  receiver.useSecret(registered.json().secret)
  await run.load(['number,reference', ...Object.entries(numbers).map(([ref, n]) => `${n},${ref}`)])
  t.equal((await run.act('start')).statusCode, 200)
  t.equal(await run.tick(), 3)
  await app.webhooks.drain()
  t.ok(receiver.received.every((r) => r.verified))
  const completed = receiver.received.filter((r) => r.type === 'contact.completed').map((r) => r.data)
  t.match(completed.sort((a, b) => String(a.reference).localeCompare(String(b.reference))), [
    { campaignId: run.campaignId, contactId: String, reference: 'optsOut', outcome: 'optedOut' },
    { campaignId: run.campaignId, contactId: String, reference: 'person', outcome: 'human' }
  ], 'the person and the opt-out are done; the busy number is to be tried again, so not yet')
  const optOut = receiver.received.find((r) => r.type === 'optout.recorded')
  t.match(optOut?.data, { callSid: String, campaignId: run.campaignId })
  for (const r of receiver.received.filter((x) => x.type === 'call.started')) {
    t.equal(r.data.direction, 'outbound')
  }
  // One call's events in the order they happened, contact.completed last.
  const first = receiver.received.findIndex((r) => r.type === 'contact.completed')
  const callSid = receiver.received.slice(0, first).findLast((r) => r.type === 'call.completed')?.data.callSid
  const ofCall = receiver.received.filter((r) => r.data.callSid === callSid || (r.type === 'contact.completed' && receiver.received.indexOf(r) === first))
  t.same(ofCall.map((r) => r.type).slice(-2), ['call.completed', 'contact.completed'])
  t.notOk(receiver.received.some((r) => r.body.includes('+4477')), 'no number in any payload')
})
