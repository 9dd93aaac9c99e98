import { createHash } from 'node:crypto'
import { asc, eq, sql } from 'drizzle-orm'
import t from 'tap'
import { auditLog, callEvents, calls, consents, streamTokens, suppressions } from '../src/db/schema.js'
import { hashNumber } from '../src/privacy/number-hash.js'
import { caller, CALLER, campaignBody, definition, IN_HOURS, newSid, NUMBER, setup, SWITCHBOARD } from './call-setup.js'
import { admin, bearer, signedTwilio } from './helper.js'

t.test('whole calls through the webhooks', async (t) => {
  const { app, clock } = await setup(t)
  const { db } = app.database

  t.test('in hours, consent granted: a stream with a one-time token, and the evidence', async (t) => {
    const call = caller(app)
    const first = await call.start()
    t.match(first, '<Say>Thank you for calling Acme.</Say>')
    t.match(first, '<Gather input="dtmf" numDigits="1"')
    t.match(first, 'action="https://voice.callgate.test/twilio/flow?node=consent&amp;step=1"', 'the action URL names the step that emitted it')
    t.notMatch(first, '<Stream', 'nothing recorded before consent')

    const second = await call.press('consent', '1')
    t.match(second, /<Start><Stream [^>]*url="wss:\/\/voice\.callgate\.test\/twilio\/media"/, 'record node starts the media stream')
    t.match(second, /<Stream [^>]*track="both_tracks"/)
    const stream = /<Parameter name="token" value="([A-Za-z0-9_-]{20,})"\/><\/Stream><\/Start>/.exec(second)
    t.ok(stream, 'with the token as a Parameter (Twilio drops query strings on stream URLs)')
    t.match(second, 'node=menu', 'and moves on to the menu')

    const [evidence] = await db.select().from(consents).where(eq(consents.callSid, call.callSid))
    t.match(evidence, {
      granted: true,
      decision: 'granted',
      digits: '1',
      node: 'consent',
      prompt: definition.nodes.consent.prompt,
      flowVersion: 1,
      method: 'ivr',
      remoteHash: hashNumber(app.config.numberHashKey, CALLER)
    })
    t.equal(evidence!.at.toISOString(), '2026-11-24T10:00:00.000Z', 'timestamped by the injected clock')
    const tokens = await db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))
    t.equal(tokens.length, 1)
    t.equal(tokens[0]!.tokenHash, createHash('sha256').update(stream![1]!).digest('hex'), 'only the token hash is stored')
    t.equal(tokens[0]!.usedAt, null)

    const third = await call.press('menu', '1')
    t.match(third, /<Dial action="https:\/\/voice\.callgate\.test\/twilio\/flow\?node=sales&amp;step=3" method="POST" timeout="25">\+442039364242<\/Dial>/)
    const last = await call.dialed('sales', 'completed')
    t.match(last, '<Hangup/>')

    const [row] = await db.select().from(calls).where(eq(calls.callSid, call.callSid))
    t.equal(row!.remoteNumber, null, 'storeCallerNumber is off: only the hash is kept')
    const events = await db.select().from(callEvents).where(eq(callEvents.callId, row!.id)).orderBy(asc(callEvents.seq))
    t.same(events.map((e) => e.seq), events.map((_e, i) => i + 1), 'events numbered without gaps')
    t.ok(events.some((e) => e.node === 'consent' && e.input === '1'), 'the consent step is in the log')
    t.notOk(JSON.stringify({ row, events, evidence }).includes(CALLER), 'the caller number is nowhere in the call data')
  })

  t.test('consent denied: no stream anywhere in the call', async (t) => {
    const call = caller(app)
    await call.start()
    await call.press('consent', '2')
    await call.press('menu', '1')
    await call.dialed('sales', 'no-answer')
    for (const body of call.responses) t.notMatch(body, '<Stream')
    const [evidence] = await db.select().from(consents).where(eq(consents.callSid, call.callSid))
    t.match(evidence, { granted: false, decision: 'denied', digits: '2' })
    t.equal((await db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))).length, 0, 'no stream token issued')
  })

  t.test('no answer to the consent question counts as no', async (t) => {
    const call = caller(app)
    await call.start()
    const reprompt = await call.press('consent', '')
    t.match(reprompt, 'node=consent', 'asked again')
    await call.press('consent', '7')
    const after = await call.press('consent', '')
    t.match(after, 'node=menu', 'after the retries: the no-input path')
    for (const body of call.responses) t.notMatch(body, '<Stream')
    const evidence = await db.select().from(consents).where(eq(consents.callSid, call.callSid))
    t.same(evidence.map((e) => [e.decision, e.granted]), [['noInput', false]])
  })

  t.test('out of hours: forwarded to the switchboard', async (t) => {
    clock.set('2026-11-28T12:00:00Z') // a Saturday
    const call = caller(app)
    const body = await call.start()
    t.match(body, '<Say>We are closed. Connecting you to reception.</Say>')
    t.match(body, `>${SWITCHBOARD}</Dial>`)
    t.notMatch(body, '<Gather')
    clock.set(IN_HOURS)
  })

  t.test('a holiday takes the closed branch', async (t) => {
    clock.set('2026-12-25T10:00:00Z') // Friday, Christmas Day
    t.match(await caller(app).start(), `>${SWITCHBOARD}</Dial>`)
    clock.set('2026-12-24T10:00:00Z')
    t.match(await caller(app).start(), 'node=consent', 'the day before is an ordinary Thursday')
    clock.set(IN_HOURS)
  })

  t.test('the DST change day in London takes the right branch', async (t) => {
    // Sunday hours 09:00-12:00. On 29 March 2026 clocks go forward at 01:00 UTC:
    // 08:30 UTC is 09:30 BST (open); a week earlier 08:30 UTC is 08:30 GMT (closed).
    clock.set('2026-03-29T08:30:00Z')
    t.match(await caller(app).start(), 'node=consent', 'open at 09:30 BST')
    clock.set('2026-03-22T08:30:00Z')
    t.match(await caller(app).start(), `>${SWITCHBOARD}</Dial>`, 'closed at 08:30 GMT')
    clock.set('2026-03-29T10:30:00Z')
    t.match(await caller(app).start(), 'node=consent', '11:30 BST still open')
    clock.set('2026-03-29T11:30:00Z')
    t.match(await caller(app).start(), `>${SWITCHBOARD}</Dial>`, '12:30 BST closed, though 11:30 UTC is before noon')
    clock.set(IN_HOURS)
  })

  t.test('opt-out: stored before the caller hears the confirmation', async (t) => {
    const call = caller(app, { from: '+447700900555' })
    await call.start()
    await call.press('consent', '2')
    const body = await call.press('menu', '9')
    t.match(body, '<Say>You will not be called again. Goodbye.</Say>')
    const rows = await db.select().from(suppressions).where(eq(suppressions.numberHash, hashNumber(app.config.numberHashKey, '+447700900555')))
    t.equal(rows.length, 1)
    t.match(rows[0], { source: 'ivr', callSid: call.callSid })
    // The same webhooks again, for the call that has ended: posted as they are, no action URL to follow.
    await call.start()
    await call.post('/twilio/flow?node=consent', { Digits: '2' })
    await call.post('/twilio/flow?node=menu', { Digits: '9' })
    t.equal((await db.select().from(suppressions).where(eq(suppressions.numberHash, rows[0]!.numberHash))).length, 1, 'a second opt-out keeps the first entry')
  })

  t.test('opt-out from a withheld number: the caller is told it was not recorded', async (t) => {
    const call = caller(app, { from: 'anonymous' })
    await call.start()
    await call.press('consent', '2')
    const body = await call.press('menu', '9')
    t.notMatch(body, 'You will not be called again')
    t.match(body, 'could not record your request')
  })

  t.test('status callback twice: one completed call', async (t) => {
    const call = caller(app)
    await call.start()
    clock.advance(42_000)
    await call.status('completed', '42')
    await call.status('completed', '42')
    await call.status('in-progress')
    const [row] = await db.select().from(calls).where(eq(calls.callSid, call.callSid))
    t.equal(row!.status, 'completed')
    t.equal(row!.durationSeconds, 42)
    t.equal(row!.endedAt!.toISOString(), '2026-11-24T10:00:42.000Z')
    const ends = await db.select().from(callEvents).where(eq(callEvents.callId, row!.id))
    t.equal(ends.filter((e) => e.outcome === 'status-completed').length, 1)
    clock.set(IN_HOURS)
  })

  t.test('calls the flow cannot take', async (t) => {
    const unknown = await caller(app, { to: '+442079469999' }).start()
    t.match(unknown, '<Say>Sorry, we cannot take your call right now.')
    t.match(unknown, '<Hangup/>')
    const stale = await caller(app).post('/twilio/flow?node=menu', { Digits: '1' })
    t.match(stale, '<Hangup/>', 'a flow callback for a call never started is refused politely')
    const call = caller(app)
    await call.start()
    const wrongNode = await call.post('/twilio/flow?node=menu', { Digits: '1' })
    t.match(wrongNode, '<Hangup/>', 'a callback for a node the call is not waiting at is refused')
  })

  t.test('fallback forwards from memory to the number\'s switchboard', async (t) => {
    const res = await app.inject(signedTwilio('/twilio/fallback', { CallSid: newSid(), From: CALLER, To: NUMBER }))
    t.match(res.body, `<Dial><Number>${SWITCHBOARD}</Number></Dial>`)
    t.notMatch(res.body, '<Stream')
  })
})

t.test('consent that cannot be stored is never acted on', async (t) => {
  const { app } = await setup(t)
  // A real write failure, raised by the database itself.
  await app.database.db.execute(sql.raw('create function refuse() returns trigger language plpgsql as $$ begin raise exception \'disk full\'; end $$'))
  await app.database.db.execute(sql.raw('create trigger refuse_consents before insert on consents for each row execute function refuse()'))
  await app.database.db.execute(sql.raw('create trigger refuse_suppressions before insert on suppressions for each row execute function refuse()'))
  const call = caller(app)
  await call.start()
  const afterConsent = await call.press('consent', '1')
  t.notMatch(afterConsent, '<Stream', 'consent granted but not stored: no recording')
  t.match(afterConsent, 'node=menu')
  const optout = await call.press('menu', '9')
  t.notMatch(optout, 'You will not be called again', 'never a false confirmation')
  t.match(optout, 'could not record your request')
  const [row] = await app.database.db.select().from(calls).where(eq(calls.callSid, call.callSid))
  t.equal(row!.state && (row!.state as { consent: string }).consent, 'denied')
})

t.test('campaign end, unpublished flows and publishing', async (t) => {
  const { app, clock, opsKey, campaignId, flowId, tenantId } = await setup(t)
  const ops = bearer(opsKey)

  t.test('drafts are validated, with every problem named', async (t) => {
    const bad = { ...definition, nodes: { ...definition.nodes, record: { type: 'record', next: 'nowhere' }, menu: { ...definition.nodes.menu, options: { 1: 'sales', 9: 'optout', 10: 'sales' } } } }
    const res = await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition: bad } })
    t.equal(res.statusCode, 400)
    const body = res.json()
    t.equal(body.code, 'CG_INVALID_FLOW')
    t.ok(body.problems.length >= 2, 'all problems at once')
    t.ok(body.problems.some((p: { path: string }) => p.path === '/definition/nodes/record/next'))
    t.ok(body.problems.some((p: { path: string }) => p.path.startsWith('/definition/nodes/menu/options')))
  })

  t.test('publishing needs what the flow uses from the campaign', async (t) => {
    const bare = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: { ...campaignBody, name: 'No switchboard', switchboard: null } })).json()
    const flow = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'x', campaignId: bare.id } })).json()
    await app.inject({ method: 'POST', url: `/api/flows/${flow.id}/versions`, headers: ops, payload: { definition } })
    const res = await app.inject({ method: 'POST', url: `/api/flows/${flow.id}/versions/1/publish`, headers: ops })
    t.equal(res.statusCode, 400)
    t.match(res.json().problems, [{ path: '/nodes/afterHours/to' }])
    const wrongCampaign = await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: '+442079460019', campaignId, flowId: flow.id } })
    t.equal(wrongCampaign.statusCode, 400)
    t.match(wrongCampaign.json().message, /flowId/)
    const taken = await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: NUMBER, campaignId: bare.id, flowId: flow.id } })
    t.equal(taken.statusCode, 409)
  })

  t.test('a call keeps its version; publish and rollback are audited', async (t) => {
    const call = caller(app)
    await call.start()
    const v2 = { ...definition, nodes: { ...definition.nodes, welcome: { type: 'say', text: 'Welcome to Acme, version two.', next: 'consent' } } }
    const saved = await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition: v2 } })
    t.equal(saved.json().version, 2)
    clock.advance(1000)
    t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/2/publish`, headers: ops })).json().publishedVersion, 2)
    t.match(await call.press('consent', '2'), 'node=menu', 'the call in progress continues on version 1')
    t.match(await caller(app).start(), 'version two', 'new calls run version 2')
    clock.advance(1000)
    const rolled = await app.inject({ method: 'POST', url: `/api/flows/${flowId}/rollback`, headers: ops })
    t.equal(rolled.json().publishedVersion, 1)
    t.match(await caller(app).start(), 'Thank you for calling Acme.')

    const versions = (await app.inject({ method: 'GET', url: `/api/flows/${flowId}/versions`, headers: ops })).json()
    t.same(versions.map((v: { version: number }) => v.version), [1, 2])
    t.ok(versions.every((v: { createdBy: string | null }) => v.createdBy !== null), 'who saved each version')
    const exported = (await app.inject({ method: 'GET', url: `/api/flows/${flowId}/versions/2`, headers: ops })).json()
    t.same(exported.definition, v2, 'a version exports unchanged')

    const audit = await app.database.db.select().from(auditLog).where(eq(auditLog.tenantId, tenantId)).orderBy(asc(auditLog.seq))
    t.same(audit.filter((a) => a.action.startsWith('flow.')).map((a) => a.action), ['flow.publish', 'flow.publish', 'flow.rollback'])
    t.equal(audit[0]!.prevHash, '0'.repeat(64))
    t.ok(audit.every((a, i) => i === 0 || a.prevHash === audit[i - 1]!.hash), 'hash-chained')
  })

  t.test('another tenant sees none of it', async (t) => {
    const other = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Globex' } })).json().id
    const key = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: other, role: 'ops', name: 'x', email: 'x@globex.test' } })).json().apiKey
    t.equal((await app.inject({ method: 'GET', url: `/api/flows/${flowId}`, headers: bearer(key) })).statusCode, 404)
    t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: bearer(key) })).statusCode, 404)
    t.same((await app.inject({ method: 'GET', url: '/api/numbers', headers: bearer(key) })).json(), [])
  })

  t.test('after the campaign ends, calls go straight to the switchboard', async (t) => {
    await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaignId}`, headers: ops, payload: { endsAt: '2026-11-24T09:00:00Z' } })
    const body = await caller(app).start()
    t.equal(body, `<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>${SWITCHBOARD}</Number></Dial></Response>`)
  })
})

t.test('webhook fuzz: never a 5xx, never a stream without consent', async (t) => {
  const { app } = await setup(t)
  let seed = 42
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!
  const nodes = [...Object.keys(definition.nodes), '', 'nope', '../x', '%00']
  const values = ['', '1', '2', '9', '#', '*', '12345', 'x'.repeat(300), 'completed', '+447700900123', 'anonymous', '\u0000', '<Say>']
  const sids = [newSid(), newSid(), newSid(), 'CAnotasid', '']
  let fiveHundreds = 0
  let streamsWithoutConsent = 0
  for (let i = 0; i < 500; i++) {
    const path = pick(['/twilio/voice', '/twilio/flow?node=' + encodeURIComponent(pick(nodes)), '/twilio/status', '/twilio/fallback', '/twilio/flow'])
    const params: Record<string, string> = {}
    for (const key of ['CallSid', 'From', 'To', 'Digits', 'DialCallStatus', 'CallStatus', 'CallDuration', 'Direction', 'Junk']) {
      if (rand() < 0.7) params[key] = key === 'CallSid' ? pick(sids) : key === 'To' && rand() < 0.7 ? NUMBER : pick(values)
    }
    const res = await app.inject(signedTwilio(path, params))
    if (res.statusCode >= 500) fiveHundreds++
    if (res.body.includes('<Stream') && !(params.Digits === '1' && path.includes('node=consent'))) streamsWithoutConsent++
  }
  t.equal(fiveHundreds, 0)
  t.equal(streamsWithoutConsent, 0)
  const tokens = await app.database.db.select().from(streamTokens)
  for (const token of tokens) {
    const granted = await app.database.db.select().from(consents).where(eq(consents.callSid, token.callSid))
    t.ok(granted.some((c) => c.granted), 'every stream token has granted consent on file')
  }
})
