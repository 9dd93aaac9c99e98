import { createHash } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import t, { type Test } from 'tap'
import type { Principal } from '../../src/auth/principal.js'
import { auditLog, consents, dsrRequests, streamTokens } from '../../src/db/schema.js'
import { BadRequest, Conflict, NotFound, TwilioApiFailed } from '../../src/errors.js'
import { hashNumber } from '../../src/privacy/number-hash.js'
import { createRecordingControls, VERBAL_CONSENT_PROMPT } from '../../src/recording/controls.js'
import { createTwilioRest } from '../../src/twilio/rest.js'
import { CALLER, caller, setup } from '../call-setup.js'
import { fakeTwilioApi } from '../fake-twilio-api.js'
import { admin, PUBLIC_URL, TWILIO_TOKEN } from '../helper.js'

const ACCOUNT = 'AC' + 'd'.repeat(32)
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e)

async function controlsSetup (t: Test) {
  const s = await setup(t)
  const api = await fakeTwilioApi(t)
  const agentRow = (await s.app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: s.tenantId, role: 'agent', name: 'Ann', email: 'agent@acme.test' } })).json()
  const agent: Principal = { userId: agentRow.id, tenantId: s.tenantId, role: 'agent', actor: `user:${agentRow.id}` }
  const twilio = createTwilioRest({ twilioAccountSid: ACCOUNT, twilioAuthToken: TWILIO_TOKEN, twilioApiUrl: api.url })
  const controls = createRecordingControls({ db: s.app.database.db, twilio, clock: s.clock, publicUrl: PUBLIC_URL })
  return { ...s, api, agent, controls }
}

t.test('start on an agent\'s attestation: evidence, a stream token, then Twilio\'s Streams API', async (t) => {
  const { app, api, agent, controls } = await controlsSetup(t)
  const call = caller(app)
  await call.start()

  const bare = await refusal(controls.control(agent, call.callSid, { action: 'start' }))
  t.ok(bare instanceof BadRequest, 'no IVR consent and no attestation')
  t.match(bare, { message: /body\/attestation "verbal" is required/ })
  t.equal(api.requests.length, 0, 'Twilio not asked')

  const started = await controls.control(agent, call.callSid, { action: 'start', attestation: 'verbal' })
  t.same(started, { callSid: call.callSid, action: 'start', at: '2026-11-24T10:00:00.000Z' })
  t.equal(api.requests.length, 1)
  const { path, form } = api.requests[0]!
  t.equal(path, `/2010-04-01/Accounts/${ACCOUNT}/Calls/${call.callSid}/Streams.json`)
  t.equal(form.get('Url'), 'wss://voice.callgate.test/twilio/media')
  const token = form.get('Parameter1.Value')!
  const stored = await app.database.db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))
  t.ok(stored.some((row) => row.tokenHash === createHash('sha256').update(token).digest('hex') && row.usedAt === null), 'the token Twilio got is the one stored, unused')
  const evidence = await app.database.db.select().from(consents).where(eq(consents.callSid, call.callSid))
  t.match(evidence, [{ method: 'verbal', granted: true, attestedBy: agent.userId, prompt: VERBAL_CONSENT_PROMPT, node: 'agent' }])
  t.equal((await app.database.db.select().from(auditLog).where(and(eq(auditLog.action, 'recording.start'), eq(auditLog.subject, `call:${call.callSid}`)))).length, 1)
})

t.test('Twilio refusing the stream: TwilioApiFailed, and the token it would have used is void', async (t) => {
  const { app, api, agent, controls } = await controlsSetup(t)
  const call = caller(app)
  await call.start()
  api.failNext()
  const err = await refusal(controls.control(agent, call.callSid, { action: 'start', attestation: 'verbal' }))
  t.ok(err instanceof TwilioApiFailed)
  t.match(err, { statusCode: 502, message: 'Twilio did not start the stream' })
  t.match((err as { cause?: unknown }).cause, { code: 21211 })
  const tokens = await app.database.db.select().from(streamTokens).where(eq(streamTokens.callSid, call.callSid))
  t.ok(tokens.length > 0 && tokens.every((row) => row.usedAt !== null), 'every token of the call is void')
})

t.test('refusals', async (t) => {
  const { app, api, clock, tenantId, agent, controls } = await controlsSetup(t)
  const call = caller(app)
  await call.start()

  t.ok(await refusal(controls.control({ ...agent, tenantId: '00000000-0000-4000-8000-000000000000' }, call.callSid, { action: 'stop' })) instanceof NotFound, 'another tenant\'s call is not found')
  t.match(await refusal(controls.control({ ...agent, role: 'controller' }, call.callSid, { action: 'stop' })), { statusCode: 403 }, 'a controller does not run calls')
  t.match(await refusal(controls.control(agent, call.callSid, { action: 'pause' })), { statusCode: 409, message: 'the call has no live recording' })

  const noTwilio = createRecordingControls({ db: app.database.db, twilio: null, clock, publicUrl: PUBLIC_URL })
  t.match(await refusal(noTwilio.control(agent, call.callSid, { action: 'start', attestation: 'verbal' })), { statusCode: 409, message: /TWILIO_ACCOUNT_SID is not configured/ })

  await app.database.db.insert(dsrRequests).values({ tenantId, type: 'restriction', numberHash: hashNumber(app.config.numberHashKey, CALLER), status: 'active' })
  const restricted = await refusal(controls.control(agent, call.callSid, { action: 'start', attestation: 'verbal' }))
  t.ok(restricted instanceof Conflict)
  t.match(restricted, { message: /data-subject restriction/ })

  await call.status('completed')
  t.match(await refusal(controls.control(agent, call.callSid, { action: 'start', attestation: 'verbal' })), { statusCode: 409, message: 'the call has ended' })
  t.equal(api.requests.length, 0, 'Twilio was never asked')
  t.equal((await app.database.db.select().from(consents).where(eq(consents.callSid, call.callSid))).length, 0, 'no evidence was written for a refused start')
})
