// PostgreSQL stops under a running server process and comes back: meanwhile callers are
// forwarded (never recorded), an opt-out is never falsely confirmed, /readyz says which
// dependency is down; afterwards service resumes without a restart.
import t from 'tap'
import { openDatabase } from '../../src/db/client.js'
import { suppressions } from '../../src/db/schema.js'
import { postgresUnavailable, serverProcess, throwawayPostgres } from './cluster.js'
import { eventually } from '../harness/eventually.js'
import { httpPost as webhook, newSid, NUMBER, streamToken, SWITCHBOARD } from '../harness/twilio-caller.js'
import { api, provision } from './api-client.js'

const skip = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === ''
  ? 'the outage test runs with the PostgreSQL suite: set DATABASE_URL'
  : postgresUnavailable ?? false

t.test('database outage: fallback answers, no false opt-out, recovery without restart', { skip }, async (t) => {
  const pg = await throwawayPostgres(t)
  const server = serverProcess(t, { DATABASE_URL: pg.url, SWEEP_INTERVAL_SECONDS: '1' })
  await server.start()
  const { agent, campaignId } = await provision(server.url)
  const forwarded = new RegExp(`<Dial><Number>\\${SWITCHBOARD}</Number></Dial>`)

  // Calls under way when the database goes: one about to consent, one about to opt out.
  const consenting = { CallSid: newSid(), From: '+447700900701', To: NUMBER }
  const objecting = { CallSid: newSid(), From: '+447700900702', To: NUMBER }
  for (const call of [consenting, objecting]) t.match((await webhook(server.url, '/twilio/voice', call)).body, /<Gather/)
  await webhook(server.url, '/twilio/flow?node=consent', { ...objecting, Digits: '2' })
  t.equal((await api(server.url, 'GET', '/readyz')).status, 200)

  pg.stop()
  const outage = Date.now()

  const ready = await api<{ database?: string }>(server.url, 'GET', '/readyz')
  t.equal(ready.status, 503, '/readyz: not ready')
  t.match(JSON.stringify(ready.json), /database/, 'and says the database is what is down')

  const times: number[] = []
  const timed = async (path: string, params: Record<string, string>) => {
    const started = Date.now()
    const reply = await webhook(server.url, path, params)
    times.push(Date.now() - started)
    return reply
  }
  const fresh = await timed('/twilio/voice', { CallSid: newSid(), From: '+447700900703', To: NUMBER })
  t.equal(fresh.status, 200)
  t.match(fresh.body, forwarded, 'a new call is forwarded to the switchboard')
  const consent = await timed('/twilio/flow?node=consent', { ...consenting, Digits: '1' })
  t.match(consent.body, forwarded, 'consent pressed meanwhile: forwarded')
  t.notMatch(consent.body, /<Stream/, 'and never streamed')
  const optout = await timed('/twilio/flow?node=menu', { ...objecting, Digits: '9' })
  t.notMatch(optout.body, /You will not be called again/, 'an opt-out that could not be stored is never confirmed')
  t.match(optout.body, forwarded)
  const fallback = await timed('/twilio/fallback', { CallSid: objecting.CallSid, From: objecting.From, To: NUMBER })
  t.match(fallback.body, forwarded, 'the fallback URL answers too')
  t.ok(Math.max(...times) < 6000, `each answer came in time for Twilio (slowest ${Math.max(...times)} ms)`)

  pg.start()
  const back = await eventually('/readyz to recover', async () => (await api(server.url, 'GET', '/readyz')).status === 200 ? Date.now() : undefined, { timeoutMs: 30_000 })
  t.comment(`outage ${back - outage} ms; ready again ${back - outage} ms after the stop, without a restart`)

  // The same process serves normally again: a call consents and gets its stream.
  const after = { CallSid: newSid(), From: '+447700900704', To: NUMBER }
  t.match((await webhook(server.url, '/twilio/voice', after)).body, /<Gather/)
  t.ok(streamToken((await webhook(server.url, '/twilio/flow?node=consent', { ...after, Digits: '1' })).body), 'consent stored, stream started')
  const retried = await webhook(server.url, '/twilio/flow?node=menu', { ...objecting, Digits: '9' })
  t.ok(retried.status === 200, 'the objecting caller can try again')

  // Nothing was half-written during the outage: no suppression from the unconfirmed opt-out
  // (the retry just now may have stored one: then it was confirmed).
  const database = await openDatabase({ url: pg.url, pgliteDir: '' })
  t.teardown(() => database.close())
  const rows = await database.db.select().from(suppressions)
  t.equal(rows.length, /You will not be called again/.test(retried.body) ? 1 : 0, 'a suppression exactly when one was confirmed')
  const screened = await api<{ results: Array<{ callable: boolean }> }>(server.url, 'POST', '/api/screen', { campaignId, numbers: ['+447700900703'] }, agent)
  t.match(screened.json.results, [{ callable: true }])
})
