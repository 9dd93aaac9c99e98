import { and, eq } from 'drizzle-orm'
import t, { type Test } from 'tap'
import type { Principal } from '../../src/auth/principal.js'
import { createOutbound } from '../../src/calls/outbound.js'
import { auditLog, callAttempts, calls } from '../../src/db/schema.js'
import { Conflict, NotCallable, NotFound, TwilioApiFailed } from '../../src/errors.js'
import { createTwilioRest } from '../../src/twilio/rest.js'
import { campaignBody, definition, IN_HOURS, NUMBER } from '../call-setup.js'
import { fakeTwilioApi } from '../fake-twilio-api.js'
import { admin, bearer, build, fixedClock, PUBLIC_URL } from '../helper.js'

const ACCOUNT = 'AC' + 'c'.repeat(32)
const TO = '+447700900456'

async function setup (t: Test) {
  const api = await fakeTwilioApi(t)
  const clock = fixedClock(IN_HOURS)
  const app = await build(t, { env: { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_API_URL: api.url }, overrides: { clock } })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const user = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'agent', name: 'Ann', email: 'agent@acme.test' } })).json()
  const ops = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'Olga', email: 'ops@acme.test' } })).json().apiKey)
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: campaignBody })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'Out', campaignId } })).json().id
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })).statusCode, 200, 'published')
  t.equal((await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: NUMBER, campaignId, flowId } })).statusCode, 201, 'number bound')
  const agent: Principal = { userId: user.id, tenantId, role: 'agent', actor: `user:${user.id}` }
  const outbound = createOutbound({ db: app.database.db, twilio: createTwilioRest(app.config), clock, config: app.config })
  return { api, app, clock, tenantId, campaignId, flowId, agent, agentKey: user.apiKey as string, outbound }
}

t.test('placement: screened, dialled through Twilio, then the call row and its audit entry', async (t) => {
  const { api, app, campaignId, flowId, agent, outbound } = await setup(t)
  const placed = await outbound.place(agent, { to: TO, campaignId, flowId })
  t.match(placed, { callSid: /^CA[0-9a-f]{32}$/, to: TO, from: NUMBER, status: 'queued' })
  t.equal(api.requests.length, 1)
  const { path, form } = api.requests[0]!
  t.equal(path, `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`)
  t.same({ to: form.get('To'), from: form.get('From'), url: form.get('Url'), status: form.get('StatusCallback') }, { to: TO, from: NUMBER, url: `${PUBLIC_URL}/twilio/voice`, status: `${PUBLIC_URL}/twilio/status` })
  const [row] = await app.database.db.select().from(calls).where(eq(calls.callSid, placed.callSid))
  t.match(row, { direction: 'outbound', campaignId, flowId, flowVersion: 1, localNumber: NUMBER, status: 'queued' })
  t.equal((await app.database.db.select().from(callAttempts).where(eq(callAttempts.campaignId, campaignId))).length, 1, 'the attempt counts against the cap')
  const audit = await app.database.db.select().from(auditLog).where(and(eq(auditLog.action, 'call.place'), eq(auditLog.subject, `call:${placed.callSid}`)))
  t.equal(audit.length, 1)
  t.equal(audit[0]!.actor, agent.actor)
})

t.test('Twilio refusing: a TwilioApiFailed carrying Twilio\'s error, the attempt counted, no call row', async (t) => {
  const { api, app, campaignId, flowId, agent, agentKey, outbound } = await setup(t)
  api.failNext()
  const err = await outbound.place(agent, { to: TO, campaignId, flowId }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof TwilioApiFailed, 'a TwilioApiFailed')
  t.match(err, { statusCode: 502, code: 'CG_TWILIO_API', message: 'Twilio did not place the call' })
  t.match((err as { cause?: unknown }).cause, { status: 400, code: 21211 }, 'Twilio\'s own error travels as the cause')
  t.equal((await app.database.db.select().from(calls)).length, 0)
  t.equal((await app.database.db.select().from(callAttempts)).length, 1)

  // Through the route: the thrown error is answered as it is, not hidden as a 500.
  api.failNext()
  const res = await app.inject({ method: 'POST', url: '/api/calls', headers: bearer(agentKey), payload: { to: TO, campaignId, flowId } })
  t.equal(res.statusCode, 502)
  t.same(res.json(), { statusCode: 502, code: 'CG_TWILIO_API', error: 'Bad Gateway', message: 'Twilio did not place the call' })
})

t.test('refusals before anyone dials', async (t) => {
  const { api, app, clock, campaignId, flowId, agent, outbound } = await setup(t)
  const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e)

  t.ok(await refusal(outbound.place({ ...agent, tenantId: '00000000-0000-4000-8000-000000000000' }, { to: TO, campaignId, flowId })) instanceof NotFound, 'another tenant\'s campaign is not found')
  t.match(await refusal(outbound.place({ ...agent, role: 'controller' }, { to: TO, campaignId, flowId })), { statusCode: 403 }, 'a controller does not place calls')
  t.match(await refusal(outbound.place(agent, { to: '12', campaignId, flowId })), { statusCode: 400, message: /body\/to "12" is not a phone number/ })

  clock.set('2026-11-24T20:00:00Z')
  const closed = await refusal(outbound.place(agent, { to: TO, campaignId, flowId }))
  t.ok(closed instanceof NotCallable)
  t.equal((closed as NotCallable).reason, 'hours')
  clock.set(IN_HOURS)

  const noTwilio = createOutbound({ db: app.database.db, twilio: null, clock, config: app.config })
  const unconfigured = await refusal(noTwilio.place(agent, { to: TO, campaignId, flowId }))
  t.ok(unconfigured instanceof Conflict)
  t.match(unconfigured, { message: /TWILIO_ACCOUNT_SID is not configured/ })

  t.equal(api.requests.length, 0, 'Twilio was never asked')
  t.equal((await app.database.db.select().from(callAttempts)).length, 0, 'and nothing counted against the cap')
})
