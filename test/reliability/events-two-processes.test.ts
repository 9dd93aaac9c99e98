// Two server processes share one PostgreSQL and deliver the same outbox: every event reaches the
// receiver once, verified, and each call's events in order, whichever process took the webhook
// and whichever delivered.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { fakeKms } from '../fake-kms.js'
import { freshPostgresUrl } from '../helper.js'
import { eventually } from '../harness/eventually.js'
import { httpPost as webhook, newSid, NUMBER } from '../harness/twilio-caller.js'
import { startReceiver } from '../events/receiver.js'
import { installationEnv, serverProcess, startS3 } from './cluster.js'
import { api, provision } from './api-client.js'

const skip = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? 'several processes need PostgreSQL: set DATABASE_URL' : false

t.test('two processes deliver one outbox: each event once, each call in order', { skip }, async (t) => {
  const [kms, s3, databaseUrl, receiver] = await Promise.all([fakeKms(t), startS3(t), freshPostgresUrl(t), startReceiver(t)])
  const shared = {
    ...installationEnv({ databaseUrl: databaseUrl!, s3, kmsEndpoint: kms.endpoint, numberHashKey: randomBytes(32).toString('base64url') }),
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_INTERVAL_MS: '50'
  }
  const a = serverProcess(t, shared)
  const b = serverProcess(t, shared)
  await Promise.all([a.start(), b.start()])
  const { controller } = await provision(a.url)
  const registered = await api<{ id: string, secret: string }>(b.url, 'POST', '/api/webhooks', { url: receiver.url, events: ['call.started', 'consent.recorded', 'call.completed'] }, controller)
  t.equal(registered.status, 201)
  receiver.useSecret(registered.json.secret)
  receiver.slow(10)

  const calls: string[] = []
  for (let i = 0; i < 30; i++) {
    const [first, second] = i % 2 === 0 ? [a, b] : [b, a]
    const call = { CallSid: newSid(), From: `+4477009007${String(i).padStart(2, '0')}`, To: NUMBER }
    await webhook(first.url, '/twilio/voice', call)
    await webhook(second.url, '/twilio/flow?node=consent', { ...call, Digits: '2' })
    await webhook(first.url, '/twilio/status', { ...call, CallStatus: 'completed', CallDuration: String(i) })
    calls.push(call.CallSid)
  }
  await eventually('every event delivered', async () => receiver.received.length >= 90 ? true : undefined, { timeoutMs: 20_000 })
  // Anything sent twice would arrive within a few more rounds.
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(receiver.received.length, 90, 'ninety requests: nothing twice', { output: a.output() + b.output() })
  t.equal(new Set(receiver.received.map((r) => r.id)).size, 90, 'ninety distinct webhook-ids')
  t.ok(receiver.received.every((r) => r.verified), 'every one verified')
  for (const sid of calls) {
    t.same(receiver.received.filter((r) => r.data.callSid === sid).map((r) => r.type), ['call.started', 'consent.recorded', 'call.completed'], `${sid} in order`)
  }
  const deliveries = await api<{ deliveries: Array<{ status: string }> }>(a.url, 'GET', `/api/webhooks/${registered.json.id}/deliveries?limit=500`, undefined, controller)
  t.equal(deliveries.json.deliveries.filter((d) => d.status === 'delivered').length, 90, 'each marked delivered')
})
