// Twilio retries a webhook it got no answer to, and its status callbacks race the flow's own
// requests. Each test here fails without the protection it names.
import { readFileSync } from 'node:fs'
import { asc, eq } from 'drizzle-orm'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { callEvents, calls, consents, streamTokens, suppressions } from '../../src/db/schema.js'
import type { CallState } from '../../src/flows/index.js'
import { hashNumber } from '../../src/privacy/number-hash.js'
import { CALLER, injectTransport, nextPath, NUMBER, twilioCaller } from '../harness/twilio-caller.js'
import { admin, bearer, build, fixedClock } from '../helper.js'

const definition = JSON.parse(readFileSync(new URL('../fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))
const XML = '<?xml version="1.0" encoding="UTF-8"?>'
const HANGUP = `${XML}<Response><Hangup/></Response>`
const EMPTY = `${XML}<Response/>`

async function setup (t: Test): Promise<App> {
  // Tuesday 24 November 2026, 10:00 in London: the flow's open branch.
  const app = await build(t, { overrides: { clock: fixedClock('2026-11-24T10:00:00Z') } })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const ops = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'O', email: 'o@acme.test' } })).json().apiKey)
  const campaign = { name: 'A', timezone: 'Europe/London', hours: { tue: [['09:00', '17:30']] }, holidays: [], switchboard: '+442079460000', retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 }, lawfulBasis: 'consent' }
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: campaign })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'R', campaignId } })).json().id
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })).statusCode, 200, 'flow published')
  t.equal((await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: NUMBER, campaignId, flowId } })).statusCode, 201, 'number bound')
  return app
}

/** Twilio's side of one call; `token` stands for I-Twilio-Idempotency-Token, kept on retries. */
function twilio (app: App, from = CALLER) {
  const call = twilioCaller(injectTransport(app), { from, params: { AccountSid: 'AC' + '0'.repeat(32), Direction: 'inbound' } })
  const post = async (path: string, params: Record<string, string> = {}, token = 'idem-' + path) => {
    const res = await call.post(path, params, { 'i-twilio-idempotency-token': token })
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${res.body}`)
    return res.body
  }
  return {
    callSid: call.callSid,
    post,
    start: async () => await post('/twilio/voice'),
    /** Answers the <Gather> of `twiml` with a key press, at the URL that answer named. */
    press: async (twiml: string, digits: string) => await post(nextPath(twiml), { Digits: digits }),
    status: async (status: string) => await post('/twilio/status', { CallStatus: status, CallDuration: '7' }, 'idem-status-' + status)
  }
}

t.test('webhooks Twilio retries, and callbacks out of order', async (t) => {
  const app = await setup(t)
  const { db } = app.database
  const callRow = async (callSid: string) => {
    const row = (await db.select().from(calls).where(eq(calls.callSid, callSid)))[0]!
    return { ...row, state: row.state as CallState }
  }
  const eventsOf = async (callSid: string) => {
    const call = await callRow(callSid)
    const rows = await db.select().from(callEvents).where(eq(callEvents.callId, call.id)).orderBy(asc(callEvents.seq))
    return rows.map((e) => `${e.node ?? '-'}:${e.input ?? ''}:${e.outcome}`)
  }

  t.test('every URL the server emits names the step that emitted it', async (t) => {
    const call = twilio(app)
    const first = await call.start()
    t.equal(nextPath(first), '/twilio/flow?node=consent&step=1')
    const second = await call.press(first, '2')
    t.equal(nextPath(second), '/twilio/flow?node=menu&step=2')
    t.equal(nextPath(await call.press(second, '1')), '/twilio/flow?node=sales&step=3', 'the <Dial action> too')
    const row = await callRow(call.callSid)
    t.equal(row.lastStep, 3)
    t.match(row.lastTwiml, '<Dial action=', 'the last answer is kept for a retry')
  })

  t.test('the menu step posted twice is applied once, with the same answer', async (t) => {
    const call = twilio(app)
    const menu = await call.press(await call.start(), '2')
    const dialled = await call.press(menu, '1')
    const before = await eventsOf(call.callSid)
    const again = await call.press(menu, '1')
    t.equal(again, dialled, 'the retry gets the stored answer, byte for byte')
    t.same(await eventsOf(call.callSid), before, 'no second set of events')
    t.equal(before.filter((e) => e === 'menu:1:option').length, 1)
    t.equal((await callRow(call.callSid)).state.node, 'sales', 'the call still waits at the dial')
  })

  t.test('a re-prompt retried does not use up a second retry', async (t) => {
    const call = twilio(app)
    const first = await call.start()
    const reprompt = await call.press(first, '7')
    t.equal(await call.press(first, '7'), reprompt)
    const row = await callRow(call.callSid)
    t.same(row.state.retries, { consent: 1 }, 'one retry used, not two')
    t.equal((await eventsOf(call.callSid)).filter((e) => e.startsWith('consent:7:')).length, 1)
  })

  t.test('a consent step retried: the same token, one piece of evidence, one token', async (t) => {
    const call = twilio(app)
    const first = await call.start()
    const granted = await call.press(first, '1')
    t.match(granted, '<Stream')
    t.equal(await call.press(first, '1'), granted, 'the same <Stream> and token: Twilio may never have had the first answer')
    t.equal((await db.select().from(consents).where(eq(consents.callSid, call.callSid))).length, 1)
    t.equal((await db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))).length, 1)
    const token = /<Parameter name="token" value="([^"]+)"/.exec(granted)![1]!
    t.notMatch((await callRow(call.callSid)).lastTwiml, token, 'the kept answer holds a placeholder, not the token')
    await call.status('completed')
    t.equal((await callRow(call.callSid)).lastTwiml, null, 'the kept answer goes when the call ends')
    t.equal(await call.press(first, '1'), HANGUP, 'a retry after the end is hung up')
  })

  t.test('an opt-out retried: one suppression, one event', async (t) => {
    const call = twilio(app, '+447700900601')
    const menu = await call.press(await call.start(), '2')
    const bye = await call.press(menu, '9')
    t.match(bye, 'You will not be called again')
    t.equal(await call.press(menu, '9'), bye)
    t.equal((await eventsOf(call.callSid)).filter((e) => e.endsWith(':suppressed')).length, 1)
    t.equal((await db.select().from(suppressions).where(eq(suppressions.callSid, call.callSid))).length, 1)
  })

  t.test('an older step repeated after the call moved on: an empty answer, nothing written', async (t) => {
    const call = twilio(app)
    const first = await call.start()
    const menu = await call.press(first, '2')
    await call.press(menu, '1')
    const before = await callRow(call.callSid)
    const events = await eventsOf(call.callSid)
    t.equal(await call.press(first, '2'), EMPTY, 'neither a second <Dial> nor an apology that would hang up')
    const after = await callRow(call.callSid)
    t.same([after.state, after.lastStep, after.status], [before.state, before.lastStep, before.status])
    t.same(await eventsOf(call.callSid), events)
  })

  t.test('two identical requests at once are applied once', async (t) => {
    const call = twilio(app)
    const menu = await call.press(await call.start(), '2')
    const [a, b] = await Promise.all([call.press(menu, '1'), call.press(menu, '1')])
    t.equal(a, b, 'both get the same answer')
    t.match(a, '<Dial action=')
    t.equal((await eventsOf(call.callSid)).filter((e) => e === 'menu:1:option').length, 1)
    t.equal((await callRow(call.callSid)).lastStep, 3)
  })

  t.test('/voice retried: one call, the same first answer, no restart', async (t) => {
    const call = twilio(app)
    const [a, b] = await Promise.all([call.start(), call.start()])
    t.equal(a, b)
    t.equal((await db.select().from(calls).where(eq(calls.callSid, call.callSid))).length, 1, 'one call row')
    const events = await eventsOf(call.callSid)
    t.equal(events.filter((e) => e.startsWith('hours:')).length, 1, 'the start ran once')
    t.equal(await call.start(), a, 'a later retry of the start gets the stored first answer')
    await call.press(a, '2')
    t.equal(await call.start(), EMPTY, 'once the call moved on, a retried start neither restarts it nor answers anything')
    t.equal((await callRow(call.callSid)).state.node, 'menu', 'still at the menu')
  })

  t.test('a call started before steps were numbered is not restarted either', async (t) => {
    const call = twilio(app)
    await call.start()
    // What a call started by the previous version looks like: state, but no numbered step.
    await db.update(calls).set({ lastStep: 0, lastTwiml: null }).where(eq(calls.callSid, call.callSid))
    const events = await eventsOf(call.callSid)
    t.equal(await call.start(), EMPTY)
    t.same(await eventsOf(call.callSid), events)
    t.match(await call.post('/twilio/flow?node=consent', { Digits: '2' }), 'node=menu&amp;step=1', 'a URL without step runs as before, and numbering starts')
  })

  t.test('status completed, then a late consent step: no stream, still completed', async (t) => {
    const call = twilio(app)
    const first = await call.start()
    await call.status('completed')
    const late = await call.press(first, '1')
    t.equal(late, HANGUP, 'a harmless answer: no <Stream>, no prompt')
    const row = await callRow(call.callSid)
    t.equal(row.status, 'completed', 'not moved back to in-progress')
    t.not(row.endedAt, null)
    t.same(row.state.node, 'consent', 'the flow state is left as the call ended')
    const tokens = await db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))
    t.equal(tokens.filter((k) => k.usedAt === null).length, 0, 'no stream token can admit a stream')
    t.equal((await db.select().from(consents).where(eq(consents.callSid, call.callSid))).length, 0, 'no evidence for a call that can no longer be recorded')
    const events = await eventsOf(call.callSid)
    t.ok(events.includes('consent:1:ignored-call-ended'), 'the late step is in the log')
    t.equal(await call.press(first, '1'), HANGUP, 'its retry too')
    t.equal(await call.start(), HANGUP, 'and a retried start')
    t.same(await eventsOf(call.callSid), events, 'retries write nothing')
  })

  t.test('a step without step number after the end is hung up too', async (t) => {
    const call = twilio(app)
    await call.start()
    await call.status('no-answer')
    t.equal(await call.post('/twilio/flow?node=consent', { Digits: '1' }), HANGUP)
    t.equal((await callRow(call.callSid)).status, 'no-answer')
    t.equal((await db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))).length, 0)
  })

  t.test('an opt-out pressed just before the caller hung up is kept', async (t) => {
    // The decision under test: a late step stores its opt-out (and nothing else it asked for).
    const from = '+447700900602'
    const call = twilio(app, from)
    const menu = await call.press(await call.start(), '2')
    await call.status('completed')
    t.equal(await call.press(menu, '9'), HANGUP)
    const rows = await db.select().from(suppressions).where(eq(suppressions.numberHash, hashNumber(app.config.numberHashKey, from)))
    t.match(rows, [{ source: 'ivr', callSid: call.callSid }], 'the objection is stored')
    t.equal((await callRow(call.callSid)).status, 'completed')
    const events = await eventsOf(call.callSid)
    t.same(events.slice(-2), ['menu:9:ignored-call-ended', 'optout::suppressed'])
    await call.press(menu, '9')
    t.same(await eventsOf(call.callSid), events, 'the retry writes nothing again')

    const withheld = twilio(app, 'anonymous')
    const menu2 = await withheld.press(await withheld.start(), '2')
    await withheld.status('completed')
    t.equal(await withheld.press(menu2, '9'), HANGUP)
    t.same((await eventsOf(withheld.callSid)).slice(-1), ['optout::optout-not-stored'], 'a withheld number cannot be suppressed: said so in the log')
  })

  t.test('a progress status never undoes a later one', async (t) => {
    const call = twilio(app)
    await call.start()
    await call.status('ringing')
    t.equal((await callRow(call.callSid)).status, 'in-progress', 'a late ringing after the call was answered')
    await call.status('completed')
    await call.status('in-progress')
    t.equal((await callRow(call.callSid)).status, 'completed', 'nothing after a terminal status')

    const ended = twilio(app)
    await ended.press(await ended.press(await ended.start(), '2'), '9')
    t.equal((await callRow(ended.callSid)).status, 'ended', 'the flow hung up')
    await ended.status('in-progress')
    t.equal((await callRow(ended.callSid)).status, 'ended', 'a late in-progress does not revive it')

    // An outbound call placed through the API starts `queued` and moves forward.
    const placed = twilio(app)
    await placed.start()
    await db.update(calls).set({ status: 'queued' }).where(eq(calls.callSid, placed.callSid))
    await placed.status('ringing')
    t.equal((await callRow(placed.callSid)).status, 'ringing')
    await placed.status('answered-by-a-fax')
    t.equal((await callRow(placed.callSid)).status, 'ringing', 'a status Twilio does not document changes nothing')
  })
})
