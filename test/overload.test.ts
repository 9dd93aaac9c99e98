// Load shedding (src/plugins/overload.ts): a lagging event loop or a database that stops
// answering its health check turns requests away at once with 503 + Retry-After, so Twilio asks
// its Fallback URL instead of waiting; the fallback, liveness and readiness keep answering.
import t, { type Test } from 'tap'
import { loadConfig } from '../src/config.js'
import type { App } from '../src/app.js'
import { eventually } from './harness/eventually.js'
import { injectStream } from './harness/media-streamer.js'
import { NUMBER, newSid, SWITCHBOARD } from './harness/twilio-caller.js'
import { admin, bearer, build, fixedClock, signedTwilio, tempDir, testDatabase } from './helper.js'
import { definition } from './media-helpers.js'

/** A number with a published flow, and an ops key (the same provisioning as media-helpers' setup). */
async function provision (app: App) {
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const ops = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'O', email: 'o@acme.test' } })).json().apiKey)
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: { name: 'A', timezone: 'Europe/London', hours: { tue: [['09:00', '17:00']] }, switchboard: SWITCHBOARD, retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 }, lawfulBasis: 'consent' } })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'R', campaignId } })).json().id
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })
  const number = await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: NUMBER, campaignId, flowId } })
  if (number.statusCode !== 201) throw new Error(number.body)
  return { ops }
}

const openMedia = (app: App) => injectStream(app)

function assertShed (t: Test, res: { statusCode: number, headers: Record<string, unknown>, json (): unknown }, what: string) {
  t.equal(res.statusCode, 503, `${what}: 503`)
  t.equal(res.headers['retry-after'], '5', `${what}: Retry-After`)
  t.match(res.json(), { statusCode: 503, code: 'CG_OVERLOADED', error: 'Service Unavailable' }, `${what}: says why`)
}

t.test('a lagging event loop: webhooks, API and media upgrades get 503 at once; fallback and health answer', async (t) => {
  // Provisioning (schema compiles, PGlite statements run in this thread) makes long turns of the
  // loop of its own; it runs in an app without the guard, on the database the guarded app then uses.
  const database = await testDatabase(t)
  const options = { clock: fixedClock('2026-11-24T10:00:00Z'), recorder: { spoolRetryMs: 3_600_000, controlPollMs: 3_600_000 }, database }
  // The same DATA_DIR too: its keys opened what provisioning stored.
  const keys = { DATA_DIR: tempDir(t) }
  const setupApp = await build(t, { env: { ...keys, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' }, overrides: options })
  const { ops } = await provision(setupApp)
  await setupApp.close()
  // The threshold is far above a calm loop's mean lag, and far below the blocker's (each turn of the loop takes 500 ms).
  const app = await build(t, { env: { ...keys, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '250', OVERLOAD_DATABASE_CHECK_MS: '0' }, overrides: { ...options, overload: { sampleIntervalMs: 50 } } })
  await app.ready()
  const calm = () => app.memoryUsage().eventLoopDelay < 250
  await eventually('a calm event loop', calm, { intervalMs: 10 })

  const load = { on: true }
  const blocker = (async () => {
    while (load.on) {
      const until = performance.now() + 500
      while (performance.now() < until) { /* the process is saturated */ }
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  t.teardown(() => { load.on = false })
  await eventually('the lag to be measured', () => app.memoryUsage().eventLoopDelay > 250, { intervalMs: 10 })

  const callSid = newSid()
  const call = { CallSid: callSid, From: '+447700900123', To: NUMBER }
  assertShed(t, await app.inject(signedTwilio('/twilio/voice', call)), '/twilio/voice')
  assertShed(t, await app.inject(signedTwilio('/twilio/flow?node=consent', { ...call, Digits: '1' })), '/twilio/flow')
  assertShed(t, await app.inject(signedTwilio('/twilio/status', { ...call, CallStatus: 'completed' })), '/twilio/status')
  assertShed(t, await app.inject({ method: 'GET', url: '/api/me', headers: ops }), 'the API')
  await t.rejects(openMedia(app), /Unexpected server response: 503/, 'a new media stream is refused before the upgrade')

  const fallback = await app.inject(signedTwilio('/twilio/fallback', call))
  t.equal(fallback.statusCode, 200, 'the Fallback URL still answers')
  t.match(fallback.headers['content-type'], /text\/xml/)
  t.match(fallback.body, /<Response>/)
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness answers')
  // Its own probes may time out on a loop this slow: what matters is that it runs them.
  t.match((await app.inject({ method: 'GET', url: '/readyz' })).json(), { database: /^(ok|failed)$/, objectStore: /^(ok|failed)$/ }, 'readiness runs its checks (not shed)')
  t.notMatch((await app.inject({ method: 'GET', url: '/console/' })).body, /CG_OVERLOADED/, 'the console\'s files are not shed')

  load.on = false
  await blocker
  await eventually('the lag to pass', calm, { intervalMs: 10 })
  const answered = await app.inject(signedTwilio('/twilio/voice', call))
  t.equal(answered.statusCode, 200, 'calm again: the webhook answers')
  t.match(answered.body, /<Gather/, 'the call starts now: the shed request never reached the handler')
  t.equal((await app.inject({ method: 'GET', url: '/api/me', headers: ops })).statusCode, 200, 'and the API')
})

t.test('the database stops answering its health check: webhooks answer the fallback without it, the API gets 503', async (t) => {
  const database = await testDatabase(t)
  let down = false
  // Only the health probe sees the outage: a webhook that reached the database would still start a call.
  const probed = { ...database, ping: async () => { if (down) throw new Error('connection refused'); await database.ping() } }
  const app = await build(t, {
    env: { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_DATABASE_CHECK_MS: '20' },
    overrides: { database: probed, clock: fixedClock('2026-11-24T10:00:00Z'), recorder: { spoolRetryMs: 3_600_000, controlPollMs: 3_600_000 } }
  })
  const { ops } = await provision(app)
  const known = { CallSid: newSid(), From: '+447700900123', To: NUMBER }
  t.match((await app.inject(signedTwilio('/twilio/voice', known))).body, /<Gather/, 'a call before the outage')

  down = true
  await eventually('the health check to fail', () => !app.overload.databaseHealthy, { intervalMs: 10 })
  const fresh = { CallSid: newSid(), From: '+447700900124', To: NUMBER }
  const forwarded = new RegExp(`<Dial><Number>\\${SWITCHBOARD}</Number></Dial>`)
  for (const [path, params] of [['/twilio/voice', fresh], ['/twilio/flow?node=consent', { ...known, Digits: '1' }]] as const) {
    const res = await app.inject(signedTwilio(path, params))
    t.equal(res.statusCode, 200, `${path}: answered`)
    t.match(res.body, forwarded, `${path}: forwarded to the switchboard, as the fallback does`)
    t.notMatch(res.body, /<Stream|<Gather/, `${path}: without the flow (the database was not used)`)
  }
  const unsigned = await app.inject({ ...signedTwilio('/twilio/voice', fresh), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(unsigned.statusCode, 403, 'an unsigned webhook still gets nothing')
  t.equal((await app.inject(signedTwilio('/twilio/status', { ...known, CallStatus: 'completed' }))).statusCode, 200, '/twilio/status: answered, nothing stored')
  const fallback = await app.inject(signedTwilio('/twilio/fallback', fresh))
  t.equal(fallback.statusCode, 200, 'the Fallback URL answers TwiML')
  t.match(fallback.body, forwarded)
  assertShed(t, await app.inject({ method: 'GET', url: '/api/me', headers: ops }), 'the API')
  await t.rejects(openMedia(app), /Unexpected server response: 503/, 'a media stream cannot prove its token without the database: refused')
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness answers')

  down = false
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, '/readyz sees the database back')
  t.ok(app.overload.databaseHealthy, 'and its probe lifts the guard at once')
  t.match((await app.inject(signedTwilio('/twilio/voice', fresh))).body, /<Gather/, 'back: the call starts (the shed one was never written)')
  t.equal((await app.inject({ method: 'GET', url: '/api/me', headers: ops })).statusCode, 200, 'back: the API answers')
})

t.test('the overload settings are validated and default to generous limits', async (t) => {
  const dir = tempDir(t)
  const defaults = loadConfig({ DATA_DIR: dir })
  t.same(defaults.overload, { maxEventLoopDelayMs: 1000, maxEventLoopUtilization: 0, databaseCheckMs: 2000 })
  t.same(loadConfig({ DATA_DIR: dir, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0', OVERLOAD_MAX_EVENT_LOOP_UTILIZATION: '0.97', OVERLOAD_DATABASE_CHECK_MS: '500' }).overload,
    { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0.97, databaseCheckMs: 500 })
  t.throws(() => loadConfig({ DATA_DIR: dir, OVERLOAD_MAX_EVENT_LOOP_UTILIZATION: '1.5' }), /OVERLOAD_MAX_EVENT_LOOP_UTILIZATION/)
  t.throws(() => loadConfig({ DATA_DIR: dir, OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '-1' }), /OVERLOAD_MAX_EVENT_LOOP_DELAY_MS/)
})
