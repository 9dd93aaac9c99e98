import { asc, eq, inArray, sql } from 'drizzle-orm'
import t from 'tap'
import type { App } from '../src/app.js'
import type { RawQuery } from '../src/db/client.js'
import { callEvents, calls, consents, streamTokens, suppressions } from '../src/db/schema.js'
import { setup } from './call-setup.js'
import { injectTransport, twilioCaller, type TwilioCaller } from './harness/twilio-caller.js'

/** Runs `wrap` around each statement of the hot path (a batch's statements go through a session). */
function aroundStatements (app: App, wrap: (query: RawQuery) => RawQuery): void {
  const raw = app.database.raw
  const session = raw.session.bind(raw)
  raw.session = async (fn) => await session(async (query) => await fn(wrap(query)))
}

/** Counts the hot path's statements: a read and a write or two per batch of webhook steps. */
function countStatements (app: App): { count: number } {
  const seen = { count: 0 }
  aroundStatements(app, (query) => async <T>(text: string, params: unknown[]) => {
    seen.count++
    return await query<T>(text, params)
  })
  return seen
}

/** Many calls' webhooks sent at once, as Twilio sends them when calls overlap. */
function overlapping (app: App, n: number) {
  const transport = injectTransport(app)
  const list = Array.from({ length: n }, (_, i) => twilioCaller(transport, { from: `+4477009${String(100 + i).padStart(5, '0')}`, params: { Direction: 'inbound' } }))
  const post = async (call: TwilioCaller, path: string, params: Record<string, string> = {}) => {
    const res = await call.post(path, params)
    t.equal(res.status, 200, `${path} answered`)
    return res.body
  }
  return { list, post, all: async (path: string, params: (i: number) => Record<string, string> = () => ({})) => await Promise.all(list.map(async (call, i) => await post(call, path, params(i)))) }
}

t.test('steps of calls that arrive together are written together, each as if alone', async (t) => {
  const { app } = await setup(t)
  const { db } = app.database
  const statements = countStatements(app)
  const group = overlapping(app, 30)

  const starts = await group.all('/twilio/voice')
  for (const body of starts) t.match(body, 'node=consent&amp;step=1')
  t.ok(statements.count <= 4, `30 starts in ${statements.count} statements`)

  // One caller refuses recording; the others agree.
  statements.count = 0
  const consented = await group.all('/twilio/flow?node=consent&step=1', (i) => ({ Digits: i === 0 ? '2' : '1' }))
  t.notMatch(consented[0], '<Stream', 'the caller who said no is not recorded')
  for (const body of consented.slice(1)) t.match(body, /<Stream [^>]*><Parameter name="token" value="[A-Za-z0-9_-]{20,}"\/>/)
  t.equal(new Set(consented.slice(1).map((b) => /value="([^"]+)"/.exec(b)![1])).size, 29, 'a token of its own for each call')
  t.equal(statements.count, 2, '30 consents in one read and one write')

  // One caller opts out (in the middle of the others' batch); the others dial.
  const menu = await group.all('/twilio/flow?node=menu&step=2', (i) => ({ Digits: i === 5 ? '9' : '1' }))
  t.match(menu[5], 'You will not be called again.')
  for (const [i, body] of menu.entries()) if (i !== 5) t.match(body, 'node=sales&amp;step=3')

  const sids = group.list.map((c) => c.callSid)
  const rows = await db.select().from(calls).where(inArray(calls.callSid, sids))
  t.equal(rows.length, 30)
  for (const row of rows) {
    t.equal(row.lastStep, 3, 'three steps applied')
    const events = await db.select().from(callEvents).where(eq(callEvents.callId, row.id)).orderBy(asc(callEvents.seq))
    t.same(events.map((e) => e.seq), events.map((_e, i) => i + 1), 'events numbered without gaps')
    t.equal(row.stepSeq, events.length, 'the call knows its last event')
  }
  const evidence = await db.select().from(consents).where(inArray(consents.callSid, sids))
  t.equal(evidence.length, 30, 'one consent record per call')
  t.equal(evidence.filter((e) => e.granted).length, 29)
  t.equal((await db.select().from(streamTokens).where(inArray(streamTokens.callSid, sids))).length, 29, 'a stream token per consenting call')
  t.equal((await db.select().from(suppressions).where(eq(suppressions.callSid, sids[5]!))).length, 1, 'the opt-out is stored')
})

t.test('a retry sent with its original is answered with the original\'s answer', async (t) => {
  const { app } = await setup(t)
  const { db } = app.database
  const group = overlapping(app, 1)
  const [call] = group.list
  await group.post(call!, '/twilio/voice')
  const [a, b] = await Promise.all([
    group.post(call!, '/twilio/flow?node=consent&step=1', { Digits: '1' }),
    group.post(call!, '/twilio/flow?node=consent&step=1', { Digits: '1' })
  ])
  t.match(a, '<Stream')
  t.equal(b, a, 'byte for byte: the same token, the same action URLs')
  t.equal((await db.select().from(consents).where(eq(consents.callSid, call!.callSid))).length, 1, 'consent stored once')
  t.equal((await db.select().from(streamTokens).where(eq(streamTokens.callSid, call!.callSid))).length, 1, 'one token')
})

t.test('a step whose write fails does not take the others of its batch with it', async (t) => {
  const { app } = await setup(t)
  const { db } = app.database
  const group = overlapping(app, 8)
  await group.all('/twilio/voice')
  const bad = group.list[3]!.callSid
  // Consent evidence for one call cannot be stored.
  await db.execute(sql.raw(`create function refuse_consent() returns trigger language plpgsql as $$
    begin if new.call_sid = '${bad}' then raise exception 'consent storage refused'; end if; return new; end $$`))
  await db.execute(sql.raw('create trigger refuse_consent before insert on consents for each row execute function refuse_consent()'))
  const statements = countStatements(app)

  const answers = await group.all('/twilio/flow?node=consent&step=1', () => ({ Digits: '1' }))
  t.equal(statements.count, 2 + 8 * 2, 'the write failed, and each step was read and written again alone')
  t.notMatch(answers[3], '<Stream', 'the call whose consent could not be stored is not recorded')
  t.match(answers[3], 'node=menu', 'and goes on to the menu')
  for (const [i, body] of answers.entries()) if (i !== 3) t.match(body, '<Stream', `call ${i} is recorded`)

  const evidence = await db.select().from(consents).where(inArray(consents.callSid, group.list.map((c) => c.callSid)))
  t.same(evidence.map((e) => e.callSid).sort(), group.list.map((c) => c.callSid).filter((sid) => sid !== bad).sort(), 'the other seven consents are stored')
  t.equal((await db.select().from(streamTokens).where(eq(streamTokens.callSid, bad))).length, 0, 'no token for the call without evidence')
  const [row] = await db.select().from(calls).where(eq(calls.callSid, bad))
  t.equal(row!.lastStep, 2, 'its step is still applied, once')
})

t.test('a call that changes between the read and the write is read and planned again', async (t) => {
  const { app } = await setup(t)
  const { db } = app.database
  const group = overlapping(app, 2)
  await group.all('/twilio/voice')
  const [ending, other] = group.list
  // Twilio reports the first call completed while the batch holding its consent step is between
  // its read and its write (the caller hung up as they pressed 1).
  let interfered = false
  aroundStatements(app, (query) => async <T>(text: string, params: unknown[]) => {
    const rows = await query<T>(text, params)
    if (!interfered && text.includes('from calls c left join campaigns')) {
      interfered = true
      t.equal((await ending!.status('completed', '9')).status, 200)
    }
    return rows
  })
  const [late, onTime] = await Promise.all([
    group.post(ending!, '/twilio/flow?node=consent&step=1', { Digits: '1' }),
    group.post(other!, '/twilio/flow?node=consent&step=1', { Digits: '1' })
  ])
  t.ok(interfered)
  t.match(late, '<Hangup/>', 'the ended call is hung up, as a step after the end is')
  t.notMatch(late, '<Stream')
  t.match(onTime, '<Stream', 'the other call of the batch goes on')
  t.equal((await db.select().from(streamTokens).where(eq(streamTokens.callSid, ending!.callSid))).length, 0, 'no stream token for the ended call')
  t.equal((await db.select().from(consents).where(eq(consents.callSid, ending!.callSid))).length, 0, 'no consent evidence for a call that can no longer be recorded')
  const [row] = await db.select().from(calls).where(eq(calls.callSid, ending!.callSid))
  t.equal(row!.status, 'completed', 'the status stays')
  const events = await db.select().from(callEvents).where(eq(callEvents.callId, row!.id)).orderBy(asc(callEvents.seq))
  t.same(events.map((e) => e.seq), events.map((_e, i) => i + 1), 'events numbered without gaps or repeats')
  t.same(events.slice(-2).map((e) => e.outcome), ['status-completed', 'ignored-call-ended'])
})

t.test('starts and steps that arrive together: a statement that fails for one of them keeps the others', async (t) => {
  const { app } = await setup(t)
  const { db } = app.database
  const going = overlapping(app, 6)
  await going.all('/twilio/voice')
  const starting = overlapping(app, 6)
  const refusedStep = going.list[2]!.callSid
  const refusedStart = starting.list[4]!.callSid
  await db.execute(sql.raw(`create function refuse_some() returns trigger language plpgsql as $$
    begin if new.call_sid in ('${refusedStep}', '${refusedStart}') then raise exception 'refused'; end if; return new; end $$`))
  await db.execute(sql.raw('create trigger refuse_consent before insert on consents for each row execute function refuse_some()'))
  await db.execute(sql.raw('create trigger refuse_call before insert on calls for each row execute function refuse_some()'))
  const [steps, starts] = await Promise.all([
    going.all('/twilio/flow?node=consent&step=1', () => ({ Digits: '1' })),
    starting.all('/twilio/voice')
  ])

  for (const [i, body] of steps.entries()) {
    if (i === 2) t.notMatch(body, '<Stream', 'the call whose consent could not be stored is not recorded')
    else t.match(body, '<Stream', `going call ${i} is recorded`)
  }
  for (const [i, body] of starts.entries()) if (i !== 4) t.match(body, 'node=consent&amp;step=1', `new call ${i} started`)
  t.notMatch(starts[4], 'node=consent', 'the call that could not be stored is not run')

  const rows = await db.select().from(calls).where(inArray(calls.callSid, [...going.list, ...starting.list].map((c) => c.callSid)))
  const step = new Map(rows.map((r) => [r.callSid, r.lastStep]))
  for (const c of going.list) t.equal(step.get(c.callSid), 2, 'every going call\'s step applied once')
  for (const c of starting.list) t.equal(step.get(c.callSid), c.callSid === refusedStart ? undefined : 1, 'every new call stored but the refused one')
  const evidence = await db.select().from(consents).where(inArray(consents.callSid, going.list.map((c) => c.callSid)))
  t.equal(evidence.length, 5, 'the other five consents are stored')
})
