import t, { type Test } from 'tap'
import { campaignBody, definition } from '../call-setup.js'
import { fakeTwilioApi } from '../fake-twilio-api.js'
import { admin, bearer, build, PUBLIC_URL } from '../helper.js'

const ACCOUNT = 'AC' + '1'.repeat(32)
const OWNED = '+442079460018'

async function tenant (t: Test, env: Record<string, string>) {
  const app = await build(t, { env })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const ops = bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'ops', name: 'Olga', email: 'ops@acme.test' } })).json().apiKey)
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: campaignBody })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'Reception', campaignId } })).json().id
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  const bind = async (number: string) => await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number, campaignId, flowId, configureTwilio: true } })
  const bound = async () => (await app.inject({ url: '/api/numbers', headers: ops })).json().map((n: { number: string }) => n.number)
  return { app, bind, bound }
}

t.test('configureTwilio points the number at this server at Twilio, or binds nothing', async (t) => {
  const api = await fakeTwilioApi(t, { owned: [OWNED] })
  const { bind, bound } = await tenant(t, { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_API_URL: api.url })

  const res = await bind(OWNED)
  t.equal(res.statusCode, 201, res.body)
  const update = api.requests.find((r) => /\/IncomingPhoneNumbers\/PN[0-9a-f]{32}\.json$/.test(r.path))
  t.ok(update, 'the number was updated at Twilio')
  t.match(update!.path, `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/`)
  t.same(Object.fromEntries(update!.form), {
    VoiceUrl: `${PUBLIC_URL}/twilio/voice`,
    VoiceMethod: 'POST',
    StatusCallback: `${PUBLIC_URL}/twilio/status`,
    StatusCallbackMethod: 'POST',
    VoiceFallbackUrl: `${PUBLIC_URL}/twilio/fallback`,
    VoiceFallbackMethod: 'POST'
  })
  t.same(await bound(), [OWNED])

  // A number the account does not have: nothing bound, the field named.
  const notOwned = await bind('+442079460099')
  t.equal(notOwned.statusCode, 404)
  t.match(notOwned.json().message, 'body/number')
  // Twilio refuses: 502, and the binding taken back.
  api.failNext()
  const refused = await bind('+442079460077')
  t.equal(refused.statusCode, 502)
  t.same(await bound(), [OWNED], 'only the configured number is bound')
})

t.test('without a Twilio account, configureTwilio is refused before anything is bound', async (t) => {
  const { bind, bound } = await tenant(t, {})
  const res = await bind(OWNED)
  t.equal(res.statusCode, 409)
  t.match(res.json().message, 'body/configureTwilio')
  t.same(await bound(), [])
})
