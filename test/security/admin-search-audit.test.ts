// Issue 17 finding 15: a lookup of a person by number is audited whoever makes it, the admin
// too (call.search was appended only for tenant keys), in the log of the tenant searched.
import t from 'tap'
import { admin, bearer } from '../helper.js'
import { CALLER, caller, setup } from '../call-setup.js'

t.test('searches by number are audited for the admin as for tenant keys', async (t) => {
  const { app, tenantId } = await setup(t)
  const call = caller(app)
  await call.start()
  const user = async (role: string) => bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: role, email: `${role}@acme.test` } })).json().apiKey)
  const controller = await user('controller')
  const agent = await user('agent')
  const otherId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Other' } })).json().id
  const number = encodeURIComponent(CALLER)
  const audit = async (action: string) => {
    const res = await app.inject({ method: 'GET', url: `/api/audit?action=${action}`, headers: controller })
    t.equal(res.statusCode, 200)
    return res.json().entries as Array<{ actor: string, subject: string | null, details: Record<string, unknown> }>
  }

  t.test('call search', async (t) => {
    const across = await app.inject({ method: 'GET', url: `/api/calls?number=${number}`, headers: admin })
    t.equal(across.statusCode, 400, 'an admin searching by number names the tenant')
    t.match(across.json().message, 'querystring/tenantId')
    const res = await app.inject({ method: 'GET', url: `/api/calls?number=${number}&tenantId=${tenantId}`, headers: admin })
    t.equal(res.statusCode, 200, res.body)
    t.same(res.json().calls?.map((c: { callSid: string }) => c.callSid), [call.callSid], 'the tenant\'s call is found')
    const entries = await audit('call.search')
    t.match(entries, [{ actor: 'admin-token', subject: null, details: { results: 1 } }], 'the admin\'s search is in the tenant\'s log, which its controller reads')
    t.notMatch(JSON.stringify(entries), '7700900', 'without the number')

    const unknown = await app.inject({ method: 'GET', url: `/api/calls?number=${number}&tenantId=00000000-0000-4000-8000-000000000000`, headers: admin })
    t.equal(unknown.statusCode, 404, 'a tenant that does not exist')
    t.equal((await app.inject({ method: 'GET', url: `/api/calls?number=${number}&tenantId=${otherId}`, headers: agent })).statusCode, 403, 'a tenant key searches only its own tenant')
    t.equal((await app.inject({ method: 'GET', url: `/api/calls?number=${number}`, headers: agent })).statusCode, 200)
    t.equal((await app.inject({ method: 'GET', url: '/api/calls', headers: admin })).statusCode, 200, 'the admin still lists every tenant\'s calls without a number')
    t.equal((await audit('call.search')).length, 2, 'the agent\'s search is audited; plain listings are not')
  })

  t.test('suppression check', async (t) => {
    t.equal((await app.inject({ method: 'GET', url: `/api/suppressions?number=${number}&tenantId=${tenantId}`, headers: admin })).statusCode, 200)
    t.equal((await app.inject({ method: 'GET', url: `/api/suppressions?number=${number}`, headers: agent })).statusCode, 200)
    t.equal((await app.inject({ method: 'GET', url: `/api/suppressions?number=${number}&tenantId=00000000-0000-4000-8000-000000000000`, headers: admin })).statusCode, 404, 'a tenant that does not exist')
    const entries = await audit('suppression.check')
    t.match(entries, [{ actor: 'admin-token', subject: null, details: { suppressed: false } }, { actor: /^user:/, subject: null }], 'the admin\'s check and the agent\'s, alike')
    t.equal(entries.length, 2)
    t.notMatch(JSON.stringify(entries), '7700900', 'without the number')
  })
})
