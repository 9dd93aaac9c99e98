import { eq } from 'drizzle-orm'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { events, webhookDeliveries } from '../../src/db/schema.js'
import { twilioCaller, injectTransport } from '../harness/twilio-caller.js'
import { admin, bearer } from '../helper.js'
import { admitted, openStream, settle, setup } from '../media-helpers.js'
import { startReceiver } from './receiver.js'

async function controllerOf (app: Awaited<ReturnType<typeof setup>>['app'], tenantId: string) {
  const res = await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'Cleo', email: 'cleo@acme.test' } })
  return bearer(res.json().apiKey)
}

async function register (app: Awaited<ReturnType<typeof setup>>['app'], headers: Record<string, string>, url: string, evts: string[] = ['*']) {
  const res = await app.inject({ method: 'POST', url: '/api/webhooks', headers, payload: { url, events: evts, description: 'CRM' } })
  if (res.statusCode !== 201) throw new Error(res.body)
  return res.json() as { id: string, secret: string }
}

/** A consenting caller whose call is recorded and then completed, start to end through the real paths. */
async function wholeCall (s: Awaited<ReturnType<typeof setup>>) {
  const call = twilioCaller(injectTransport(s.app), { from: '+447700900123' })
  await call.start()
  await call.press('1')
  const stream = await openStream(s.app)
  stream.start(call.callSid, call.token()!)
  await admitted(s.app, call.callSid)
  await stream.play(0, 50)
  stream.stop()
  await settle(s.app)
  stream.ws.terminate()
  await call.status('completed', '7')
  return call.callSid
}

t.test('a whole call reaches the receiver in order, each event signed and verified', async (t) => {
  const s = await setup(t)
  const receiver = await startReceiver(t)
  const controller = await controllerOf(s.app, s.tenantId)
  const { id, secret } = await register(s.app, controller, receiver.url)
  receiver.useSecret(secret)
  t.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/, 'a Standard Webhooks secret')

  const callSid = await wholeCall(s)
  const round = await s.app.webhooks.drain()
  t.same(round, { delivered: 4, retried: 0, failed: 0 })
  t.same(receiver.types(), ['call.started', 'consent.recorded', 'recording.stored', 'call.completed'], 'in the order they happened')
  t.ok(receiver.received.every((r) => r.verified), 'every delivery verifies with the standardwebhooks library')
  const [started, consent, stored, completed] = receiver.received
  t.same(started!.data, { callSid, campaignId: started!.data.campaignId, direction: 'inbound' })
  t.match(started!.data.campaignId, /^[0-9a-f-]{36}$/)
  t.same(consent!.data, { callSid, decision: 'granted', node: 'consent', flowVersion: 1 })
  t.match(stored!.data, { callSid, recordingId: String, durationSeconds: 1, sha256: /^[0-9a-f]{64}$/ })
  t.same(completed!.data, { callSid, status: 'completed', durationSeconds: 7 })
  t.notOk(receiver.received.some((r) => r.body.includes('+44')), 'no phone number in any payload')
  const body = JSON.parse(completed!.body)
  t.same(Object.keys(body).sort(), ['data', 'timestamp', 'type'])
  t.equal(body.timestamp, '2026-11-24T10:00:00.000Z', 'the event time (the test clock)')
  t.match(completed!.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/)
  t.ok(Math.abs(Number(completed!.timestamp) - Date.now() / 1000) < 60, 'webhook-timestamp: the send time, in Unix seconds')

  const list = await s.app.inject({ method: 'GET', url: `/api/webhooks/${id}/deliveries`, headers: controller })
  t.equal(list.statusCode, 200)
  t.same(list.json().deliveries.map((d: { type: string, status: string, attempts: number, lastStatus: number }) => [d.type, d.status, d.attempts, d.lastStatus]),
    [['call.completed', 'delivered', 1, 200], ['recording.stored', 'delivered', 1, 200], ['consent.recorded', 'delivered', 1, 200], ['call.started', 'delivered', 1, 200]])
  t.equal(list.json().deliveries[0].eventId, completed!.id, 'webhook-id is the event id')

  const tampered = completed!.body.replace('"completed"', '"failed"')
  t.throws(() => new Webhook(secret).verify(tampered, completed!.headers as Record<string, string>), 'a tampered body fails verification')
  t.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(completed!.body, completed!.headers as Record<string, string>), 'another secret fails it too')
})

t.test('a 500 then a 200: the same webhook-id again, nothing lost, the call\'s order kept', async (t) => {
  const s = await setup(t)
  const receiver = await startReceiver(t)
  const { id, secret } = await register(s.app, await controllerOf(s.app, s.tenantId), receiver.url, ['call.started', 'call.completed'])
  receiver.useSecret(secret)
  receiver.answer(500)
  const call = twilioCaller(injectTransport(s.app))
  await call.start()
  await call.status('completed', '3')
  t.same(await s.app.webhooks.drain(), { delivered: 0, retried: 1, failed: 0 }, 'call.started refused; call.completed waits behind it')
  t.same(receiver.types(), ['call.started'])
  const [row] = await s.app.database.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.status, 'pending')).orderBy(webhookDeliveries.seq)
  t.equal(row!.lastStatus, 500)
  const wait = row!.nextAttemptAt!.getTime() - s.clock.now().getTime()
  t.ok(wait >= 2500 && wait <= 5000, `retried after a back-off (${wait} ms)`)
  t.same(await s.app.webhooks.drain(), { delivered: 0, retried: 0, failed: 0 }, 'nothing is due before then')
  s.clock.advance(5000)
  t.same(await s.app.webhooks.drain(), { delivered: 2, retried: 0, failed: 0 })
  t.same(receiver.types(), ['call.started', 'call.started', 'call.completed'])
  t.equal(receiver.received[0]!.id, receiver.received[1]!.id, 'the retry carries the same webhook-id')
  t.ok(receiver.received.every((r) => r.verified))
  const endpoints = await s.app.inject({ method: 'GET', url: '/api/webhooks', headers: admin })
  t.match(endpoints.json(), [{ id, enabled: true, failingSince: null, events: ['call.started', 'call.completed'], description: 'CRM' }])
})

t.test('a receiver down for hours gets everything once it is back; 24 h of failures fail a delivery; 3 days disable the endpoint', async (t) => {
  const s = await setup(t)
  const receiver = await startReceiver(t)
  const controller = await controllerOf(s.app, s.tenantId)
  const { id, secret } = await register(s.app, controller, receiver.url)
  receiver.useSecret(secret)
  receiver.answerAlways(503)
  for (let i = 0; i < 3; i++) {
    const call = twilioCaller(injectTransport(s.app))
    await call.start()
    await call.status('no-answer', '0')
  }
  // Hours of failures: each round, what is due is tried and put off again.
  for (let h = 0; h < 6; h++) {
    await s.app.webhooks.drain()
    s.clock.advance(3600_000)
  }
  const tried = receiver.received.length
  t.ok(tried >= 3 * 6, `tried again and again (${tried} attempts)`)
  receiver.answerAlways(200)
  await s.app.webhooks.drain()
  const delivered = receiver.received.filter((r, i) => i >= tried)
  t.equal(delivered.length, 6, 'six events')
  t.equal(new Set(delivered.map((r) => r.id)).size, 6, 'each of the six once the receiver is back')
  t.ok(delivered.every((r) => r.verified))

  // Down again, for good: after 24 h the deliveries fail; after 3 days the endpoint is off.
  receiver.answerAlways(500)
  const call = twilioCaller(injectTransport(s.app))
  await call.start()
  for (let h = 0; h < 26; h++) {
    await s.app.webhooks.drain()
    s.clock.advance(3600_000)
  }
  await s.app.webhooks.drain()
  const failed = await s.app.inject({ method: 'GET', url: `/api/webhooks/${id}/deliveries?status=failed`, headers: controller })
  t.equal(failed.json().deliveries.length, 1, 'failed after at least 24 h of tries')
  t.match(failed.json().deliveries[0], { type: 'call.started', status: 'failed', lastStatus: 500, nextAttemptAt: null })
  t.ok(failed.json().deliveries[0].attempts > 10)
  // Calls go on while it is down: each has its deliveries fail in turn.
  for (let h = 0; h < 50; h++) {
    if (h % 10 === 0) await twilioCaller(injectTransport(s.app)).start()
    await s.app.webhooks.drain()
    s.clock.advance(3600_000)
  }
  const listed = (await s.app.inject({ method: 'GET', url: '/api/webhooks', headers: controller })).json()
  t.match(listed, [{ id, enabled: false, disabledReason: /^every delivery failed since / }])
  const audit = (await s.app.inject({ method: 'GET', url: `/api/audit?tenantId=${s.tenantId}`, headers: admin })).json()
  t.ok(JSON.stringify(audit).includes('webhook.disable'), 'the audit log says the endpoint was disabled')

  // Retry by hand: the endpoint is on again and the delivery goes.
  receiver.answerAlways(200)
  const retried = await s.app.inject({ method: 'POST', url: `/api/webhooks/${id}/deliveries/${failed.json().deliveries[0].id}/retry`, headers: controller })
  t.equal(retried.statusCode, 202)
  t.match(retried.json(), { id: failed.json().deliveries[0].id, status: 'pending' })
  const before = receiver.received.length
  await s.app.webhooks.drain()
  t.ok(receiver.received.slice(before).some((r) => r.id === failed.json().deliveries[0].eventId), 'the failed event is delivered')
  t.match((await s.app.inject({ method: 'GET', url: '/api/webhooks', headers: controller })).json(), [{ enabled: true, failingSince: null }])
})

t.test('a change that rolls back emits nothing', async (t) => {
  const s = await setup(t)
  const db = s.app.database.db
  const { emit } = await import('../../src/events/emit.js')
  await t.rejects(db.transaction(async (tx) => {
    await emit(tx, { type: 'dsr.completed', tenantId: s.tenantId, at: s.clock.now(), data: { dsrId: '00000000-0000-4000-8000-000000000000', type: 'access' } })
    throw new Error('the change failed')
  }))
  t.equal((await db.select().from(events)).length, 0, 'no event')
  // A webhook step whose statement fails writes neither its call nor its call.started.
  await db.transaction(async (tx) => {
    await emit(tx, { type: 'dsr.completed', tenantId: s.tenantId, at: s.clock.now(), data: { dsrId: '00000000-0000-4000-8000-000000000000', type: 'access' } })
  })
  t.equal((await db.select().from(events)).length, 1, 'one that commits has its event')
})

t.test('endpoints: validation, private addresses, roles and tenants', async (t) => {
  const s = await setup(t, { WEBHOOK_ALLOW_PRIVATE: 'false' })
  const controller = await controllerOf(s.app, s.tenantId)
  const post = async (payload: unknown, headers = controller) => await s.app.inject({ method: 'POST', url: '/api/webhooks', headers, payload: payload as object })
  for (const url of ['http://127.0.0.1:9/x', 'http://localhost/x', 'http://[::1]/x', 'http://10.1.2.3/x', 'http://192.168.1.1/x', 'http://169.254.169.254/latest/meta-data', 'http://[::ffff:127.0.0.1]/x', 'http://0.0.0.0/x']) {
    const res = await post({ url, events: ['*'] })
    t.equal(res.statusCode, 400, `${url} refused`)
    t.match(res.json().message, /^body\/url/, 'the message names the field')
  }
  t.match((await post({ url: 'ftp://example.com/x', events: ['*'] })).json(), { statusCode: 400, message: 'body/url must be http or https' })
  t.match((await post({ url: 'https://user:pw@93.184.215.14/x', events: ['*'] })).json(), { statusCode: 400, message: 'body/url must not carry credentials' })
  t.match((await post({ url: 'https://93.184.215.14/x', events: ['call.ended'] })).json(), { statusCode: 400, message: /body\/events/ })
  t.match((await post({ url: 'https://93.184.215.14/x', events: [] })).json(), { statusCode: 400, message: /body\/events/ })
  t.match((await post({ url: 'https://93.184.215.14/x', events: ['*', 'call.started'] })).json(), { statusCode: 400, message: /body\/events/ })
  const ops = bearer((await s.app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: s.tenantId, role: 'ops', name: 'Op', email: 'op2@acme.test' } })).json().apiKey)
  t.equal((await post({ url: 'https://93.184.215.14/x', events: ['*'] }, ops)).statusCode, 403, 'ops may not')
  const created = await post({ url: 'https://93.184.215.14/x', events: ['call.completed'] })
  t.equal(created.statusCode, 201, 'a public address is taken')

  // Another tenant sees none of it.
  const other = (await s.app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Other' } })).json().id
  const stranger = await s.app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: other, role: 'controller', name: 'S', email: 's@other.test' } })
  const theirs = bearer(stranger.json().apiKey)
  t.same((await s.app.inject({ method: 'GET', url: '/api/webhooks', headers: theirs })).json(), [])
  t.equal((await s.app.inject({ method: 'GET', url: `/api/webhooks/${created.json().id}/deliveries`, headers: theirs })).statusCode, 404)
  t.equal((await s.app.inject({ method: 'DELETE', url: `/api/webhooks/${created.json().id}`, headers: theirs })).statusCode, 404)
  t.equal((await s.app.inject({ method: 'DELETE', url: `/api/webhooks/${created.json().id}`, headers: controller })).statusCode, 204)
  t.same((await s.app.inject({ method: 'GET', url: '/api/webhooks', headers: controller })).json(), [])
  const audit = JSON.stringify((await s.app.inject({ method: 'GET', url: `/api/audit?tenantId=${s.tenantId}`, headers: admin })).json())
  t.ok(audit.includes('webhook.create') && audit.includes('webhook.delete'), 'registration and deletion audited')
  t.notOk(audit.includes('whsec_'), 'the secret is in no audit entry')
})

t.test('delivery refuses a private address without the flag, even one the endpoint had when it was registered', async (t) => {
  const s = await setup(t)
  const receiver = await startReceiver(t)
  const { id } = await register(s.app, await controllerOf(s.app, s.tenantId), receiver.url)
  // The flag turned off after registration (or a name re-pointed at a private address).
  const { createDeliverer } = await import('../../src/events/deliverer.js')
  const guarded = createDeliverer({ db: s.app.database.db, clock: s.clock, wallClock: s.clock, fields: async (tid) => await s.app.tenantKeys.fieldsOf(tid), allowPrivate: false, log: s.app.log })
  const call = twilioCaller(injectTransport(s.app))
  await call.start()
  t.same(await guarded.drain(), { delivered: 0, retried: 1, failed: 0 })
  t.equal(receiver.received.length, 0, 'nothing reached the receiver')
  const [d] = (await s.app.inject({ method: 'GET', url: `/api/webhooks/${id}/deliveries`, headers: admin })).json().deliveries
  t.match(d, { status: 'pending', lastStatus: null, lastError: /127\.0\.0\.1 is at 127\.0\.0\.1, a loopback, private or reserved address/ })
})

t.test('two deliverers at once (two processes): each event delivered once, each call in order', async (t) => {
  const s = await setup(t)
  const receiver = await startReceiver(t)
  const { secret } = await register(s.app, await controllerOf(s.app, s.tenantId), receiver.url, ['call.started', 'call.completed'])
  receiver.useSecret(secret)
  receiver.slow(5)
  const calls: string[] = []
  for (let i = 0; i < 20; i++) {
    const call = twilioCaller(injectTransport(s.app))
    await call.start()
    await call.status('completed', String(i))
    calls.push(call.callSid)
  }
  const { createDeliverer } = await import('../../src/events/deliverer.js')
  const make = () => createDeliverer({ db: s.app.database.db, clock: s.clock, wallClock: s.clock, fields: async (tid) => await s.app.tenantKeys.fieldsOf(tid), allowPrivate: true, log: s.app.log, concurrency: 3, perEndpoint: 3 })
  const [a, b] = await Promise.all([make().drain(), make().drain()])
  t.equal(a.delivered + b.delivered, 40, `40 deliveries between them (${a.delivered} + ${b.delivered})`)
  t.equal(receiver.received.length, 40, 'the receiver saw 40 requests')
  t.equal(new Set(receiver.received.map((r) => r.id)).size, 40, 'no event twice')
  for (const sid of calls) {
    t.same(receiver.received.filter((r) => r.data.callSid === sid).map((r) => r.type), ['call.started', 'call.completed'], `${sid} in order`)
  }
})

t.test('an erasure tells recording.deleted and dsr.completed, and takes the erased call\'s events out of the outbox', async (t) => {
  const s = await setup(t)
  const receiver = await startReceiver(t)
  const controller = await controllerOf(s.app, s.tenantId)
  const { secret } = await register(s.app, controller, receiver.url, ['recording.stored', 'recording.deleted', 'dsr.completed'])
  receiver.useSecret(secret)
  const callSid = await wholeCall(s)
  await s.app.webhooks.drain()
  const recordingId = receiver.received[0]!.data.recordingId
  const erased = await s.app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'erasure', number: '+447700900123' } })
  t.equal(erased.statusCode, 201, erased.body)
  await s.app.webhooks.drain()
  t.same(receiver.received.map((r) => [r.type, r.data]), [
    ['recording.stored', receiver.received[0]!.data],
    ['recording.deleted', { recordingId, reason: 'erasure' }],
    ['dsr.completed', { dsrId: erased.json().id, type: 'erasure' }]
  ])
  t.ok(receiver.received.every((r) => r.verified))
  t.same(await s.app.database.db.select().from(events).where(eq(events.callSid, callSid)), [], 'nothing about the erased call is left in the outbox')
})

t.test('a process that dies between sending and marking: the event is sent again, with the same webhook-id, once its lease runs out', async (t) => {
  const s = await setup(t)
  const receiver = await startReceiver(t)
  const { secret } = await register(s.app, await controllerOf(s.app, s.tenantId), receiver.url)
  receiver.useSecret(secret)
  await twilioCaller(injectTransport(s.app)).start()
  const { createDeliverer } = await import('../../src/events/deliverer.js')
  const db = s.app.database.db
  // Its claim (one statement) commits, its POST goes out, then nothing more it writes lands.
  let statements = 0
  const dying = {
    transaction: db.transaction.bind(db),
    execute: async (query: Parameters<typeof db.execute>[0]) => {
      if (statements++ === 0) return await db.execute(query)
      throw new Error('the process died')
    }
  } as unknown as typeof db
  const errors: string[] = []
  const log = { ...s.app.log, error: (obj: object, msg: string) => { errors.push(msg) } } as typeof s.app.log
  await createDeliverer({ db: dying, clock: s.clock, wallClock: s.clock, fields: async (tid) => await s.app.tenantKeys.fieldsOf(tid), allowPrivate: true, log }).deliver()
  t.equal(receiver.received.length, 1, 'sent once')
  t.same(errors, ['could not record an event delivery'])
  t.same(await s.app.webhooks.drain(), { delivered: 0, retried: 0, failed: 0 }, 'leased: no other process sends it meanwhile')
  s.clock.advance(61_000)
  t.same(await s.app.webhooks.drain(), { delivered: 1, retried: 0, failed: 0 }, 'taken over once the lease ran out')
  t.equal(receiver.received.length, 2)
  t.equal(receiver.received[0]!.id, receiver.received[1]!.id, 'the duplicate carries the same webhook-id, for the receiver to drop')
})

t.test('a slow endpoint does not hold up another; no answer within the timeout is a failure', async (t) => {
  const s = await setup(t, { WEBHOOK_INTERVAL_MS: '20' })
  const slow = await startReceiver(t)
  const fast = await startReceiver(t)
  const controller = await controllerOf(s.app, s.tenantId)
  slow.useSecret((await register(s.app, controller, slow.url)).secret)
  fast.useSecret((await register(s.app, controller, fast.url)).secret)
  slow.slow(1500)
  const { emit } = await import('../../src/events/emit.js')
  await s.app.database.db.transaction(async (tx) => {
    for (let i = 0; i < 12; i++) await emit(tx, { type: 'dsr.completed', tenantId: s.tenantId, at: s.clock.now(), data: { dsrId: `00000000-0000-4000-8000-0000000000${String(i).padStart(2, '0')}`, type: 'access' } })
  })
  const { eventually } = await import('../harness/eventually.js')
  await eventually('the fast endpoint has all twelve', async () => fast.received.length === 12 ? true : undefined, { timeoutMs: 5000 })
  t.ok(slow.received.length <= 8, `meanwhile the slow one took them at most 8 at a time (${slow.received.length} so far)`)
  await eventually('the slow endpoint has all twelve too', async () => slow.received.length === 12 ? true : undefined, { timeoutMs: 15_000 })

  const { createDeliverer } = await import('../../src/events/deliverer.js')
  await s.app.close()
  const s2 = await setup(t)
  const silent = await startReceiver(t)
  silent.useSecret((await register(s2.app, await controllerOf(s2.app, s2.tenantId), silent.url)).secret)
  silent.slow(1000)
  await twilioCaller(injectTransport(s2.app)).start()
  const impatient = createDeliverer({ db: s2.app.database.db, clock: s2.clock, wallClock: s2.clock, fields: async (tid) => await s2.app.tenantKeys.fieldsOf(tid), allowPrivate: true, log: s2.app.log, timeoutMs: 100 })
  t.same(await impatient.drain(), { delivered: 0, retried: 1, failed: 0 })
  const [d] = (await s2.app.inject({ method: 'GET', url: '/api/webhooks', headers: admin })).json()
  const [delivery] = (await s2.app.inject({ method: 'GET', url: `/api/webhooks/${d.id}/deliveries`, headers: admin })).json().deliveries
  t.match(delivery, { status: 'pending', lastStatus: null, lastError: 'no answer within 0.1 s' })
})

t.test('the sweeper prunes events past 30 days unless an enabled endpoint is still owed them', async (t) => {
  const s = await setup(t)
  const { emit } = await import('../../src/events/emit.js')
  const db = s.app.database.db
  const dsr = (n: number) => ({ type: 'dsr.completed' as const, tenantId: s.tenantId, at: s.clock.now(), data: { dsrId: `00000000-0000-4000-8000-00000000000${n}`, type: 'access' } })
  await db.transaction(async (tx) => { await emit(tx, dsr(1)) })
  const receiver = await startReceiver(t)
  await register(s.app, await controllerOf(s.app, s.tenantId), receiver.url)
  await db.transaction(async (tx) => { await emit(tx, dsr(2)) })
  s.clock.advance(29 * 24 * 3600_000)
  t.match(await s.app.sweep(), { eventsPruned: 0 }, 'nothing before 30 days')
  s.clock.advance(2 * 24 * 3600_000)
  t.match(await s.app.sweep(), { eventsPruned: 1 }, 'the event no endpoint is owed goes')
  t.same((await db.select({ data: events.data }).from(events)).map((e) => (e.data as { dsrId: string }).dsrId), ['00000000-0000-4000-8000-000000000002'], 'the one still owed stays')
})
