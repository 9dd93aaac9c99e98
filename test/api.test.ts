import t from 'tap'
import { admin, bearer, build, fixedClock } from './helper.js'
import type { App } from '../src/app.js'

const campaignBody = {
  name: 'Winter sales',
  timezone: 'Europe/London',
  hours: { mon: [['09:00', '17:30']], fri: [['22:00', '02:00']], sat: [['10:00', '24:00']] },
  holidays: ['2026-12-25'],
  switchboard: '+442079460000',
  retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 },
  lawfulBasis: 'legitimate_interest',
  lia: { purpose: 'Quality training', necessity: 'Calls are the service', balancing: 'Callers are told and may refuse' },
  callCap: { count: 3, perDays: 30 },
  defaultCountry: 'GB',
  storeCallerNumber: false
}

async function newTenant (app: App, name: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name } })
  t.equal(res.statusCode, 201, `tenant ${name} created`)
  return res.json().id
}

async function newUser (app: App, tenantId: string, role: string): Promise<{ id: string, apiKey: string }> {
  const res = await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: `${role} user`, email: `${role}@example.com` } })
  t.equal(res.statusCode, 201, `${role} created`)
  return res.json()
}

t.test('admin API', async (t) => {
  const clock = fixedClock('2026-11-24T10:00:00Z')
  const app = await build(t, { overrides: { clock } })
  const tenantA = await newTenant(app, 'Acme')
  const tenantB = await newTenant(app, 'Globex')
  const opsA = await newUser(app, tenantA, 'ops')
  const opsB = await newUser(app, tenantB, 'ops')
  const agentA = await newUser(app, tenantA, 'agent')

  t.test('keys are opaque, shown once and stored only as hashes', async (t) => {
    t.match(opsA.apiKey, /^cg_[A-Za-z0-9_-]{43}$/)
    const { users } = await import('../src/db/schema.js')
    const rows = await app.database.db.select().from(users)
    t.equal(rows.length, 3)
    for (const row of rows) {
      t.notOk(JSON.stringify(row).includes(opsA.apiKey), 'no stored row holds the key in clear')
      t.match(row.keyHash, /^[0-9a-f]{64}$/)
    }
  })

  t.test('authentication', async (t) => {
    const none = await app.inject({ method: 'GET', url: '/api/campaigns' })
    t.equal(none.statusCode, 401)
    t.equal(none.json().code, 'CG_UNAUTHORIZED')
    const wrong = await app.inject({ method: 'GET', url: '/api/campaigns', headers: bearer('cg_not-a-key') })
    t.equal(wrong.statusCode, 401)
    const basic = await app.inject({ method: 'GET', url: '/api/campaigns', headers: { authorization: 'Basic abc' } })
    t.equal(basic.statusCode, 401)
    const ok = await app.inject({ method: 'GET', url: '/api/campaigns', headers: bearer(opsA.apiKey) })
    t.equal(ok.statusCode, 200)
  })

  t.test('roles', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/api/users', headers: bearer(agentA.apiKey), payload: { tenantId: tenantA, role: 'agent', name: 'x', email: 'x@example.com' } })
    t.equal(res.statusCode, 403, 'an agent cannot create users')
    t.equal(res.json().code, 'CG_FORBIDDEN')
    const ops = await app.inject({ method: 'POST', url: '/api/users', headers: bearer(opsA.apiKey), payload: { tenantId: tenantA, role: 'admin', name: 'x', email: 'x@example.com' } })
    t.equal(ops.statusCode, 403, 'ops cannot create users (nor grant itself admin)')
    const tenant = await app.inject({ method: 'POST', url: '/api/tenants', headers: bearer(opsA.apiKey), payload: { name: 'Mine' } })
    t.equal(tenant.statusCode, 403, 'only an admin creates tenants')
    const campaign = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(agentA.apiKey), payload: campaignBody })
    t.equal(campaign.statusCode, 403, 'an agent cannot create campaigns')
  })

  t.test('bad bodies are 400 naming the field', async (t) => {
    const missing = await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: tenantA, role: 'ops', name: 'x' } })
    t.equal(missing.statusCode, 400)
    t.match(missing.json().message, /email/)
    const role = await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: tenantA, role: 'boss', name: 'x', email: 'x@example.com' } })
    t.equal(role.statusCode, 400)
    t.match(role.json().message, /role/)
    const extra = await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'x', colour: 'red' } })
    t.equal(extra.statusCode, 400, 'unknown fields are refused, not dropped')
    t.match(extra.json().message, /additional/)
    const tz = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsA.apiKey), payload: { ...campaignBody, timezone: 'Mars/Olympus' } })
    t.equal(tz.statusCode, 400)
    t.match(tz.json().message, /body\/timezone/)
    const hours = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsA.apiKey), payload: { ...campaignBody, hours: { mon: [['9:00', '17:00']] } } })
    t.equal(hours.statusCode, 400)
    t.match(hours.json().message, /hours\/mon\/0\/0/)
    const same = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsA.apiKey), payload: { ...campaignBody, hours: { tue: [['09:00', '09:00']] } } })
    t.equal(same.statusCode, 400)
    t.match(same.json().message, /body\/hours\/tue\/0/)
    const redact = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsA.apiKey), payload: { ...campaignBody, retention: { recordingsDays: 30, callLogDays: 60, redactAfterDays: 90 } } })
    t.equal(redact.statusCode, 400)
    t.match(redact.json().message, /redactAfterDays/)
    const lia = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsA.apiKey), payload: { ...campaignBody, lia: undefined } })
    t.equal(lia.statusCode, 400, 'legitimate interest needs its written assessment')
    t.match(lia.json().message, /body\/lia/)
    const switchboard = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsA.apiKey), payload: { ...campaignBody, switchboard: '020 7946 0000' } })
    t.equal(switchboard.statusCode, 400)
    t.match(switchboard.json().message, /switchboard/)
    const badId = await app.inject({ method: 'GET', url: '/api/campaigns/not-a-uuid', headers: bearer(opsA.apiKey) })
    t.equal(badId.statusCode, 400)
    t.match(badId.json().message, /params\/id/)
  })

  t.test('campaigns and tenant isolation', async (t) => {
    const created = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsB.apiKey), payload: campaignBody })
    t.equal(created.statusCode, 201)
    const campaign = created.json()
    t.equal(campaign.tenantId, tenantB, 'created in the caller\'s own tenant')
    t.same(campaign.hours, campaignBody.hours)
    t.equal(campaign.createdAt, '2026-11-24T10:00:00.000Z', 'times come from the injected clock')
    t.equal(campaign.endsAt, null)

    const own = await app.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}`, headers: bearer(opsB.apiKey) })
    t.equal(own.statusCode, 200)
    t.equal(own.json().name, 'Winter sales')

    const other = await app.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}`, headers: bearer(opsA.apiKey) })
    t.equal(other.statusCode, 404, 'tenant A cannot see tenant B\'s campaign, not even that it exists')
    const otherPatch = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaign.id}`, headers: bearer(opsA.apiKey), payload: { name: 'Mine now' } })
    t.equal(otherPatch.statusCode, 404)
    const listA = await app.inject({ method: 'GET', url: '/api/campaigns', headers: bearer(opsA.apiKey) })
    t.same(listA.json(), [], 'tenant A lists none of B\'s campaigns')
    const foreign = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(opsA.apiKey), payload: { ...campaignBody, tenantId: tenantB } })
    t.equal(foreign.statusCode, 403, 'ops cannot create in another tenant')

    const adminView = await app.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}`, headers: admin })
    t.equal(adminView.statusCode, 200, 'admin sees every tenant')
    const adminCreate = await app.inject({ method: 'POST', url: '/api/campaigns', headers: admin, payload: campaignBody })
    t.equal(adminCreate.statusCode, 400, 'admin must say which tenant')
    t.match(adminCreate.json().message, /tenantId/)
    const adminCreateA = await app.inject({ method: 'POST', url: '/api/campaigns', headers: admin, payload: { ...campaignBody, tenantId: tenantA } })
    t.equal(adminCreateA.statusCode, 201)
    t.equal(adminCreateA.json().tenantId, tenantA)
    const ghostTenant = await app.inject({ method: 'POST', url: '/api/campaigns', headers: admin, payload: { ...campaignBody, tenantId: '00000000-0000-4000-8000-000000000000' } })
    t.equal(ghostTenant.statusCode, 404)

    clock.advance(60_000)
    const patched = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaign.id}`, headers: bearer(opsB.apiKey), payload: { endsAt: '2027-01-31T18:00:00Z', storeCallerNumber: true } })
    t.equal(patched.statusCode, 200)
    t.equal(patched.json().endsAt, '2027-01-31T18:00:00.000Z')
    t.equal(patched.json().storeCallerNumber, true)
    t.equal(patched.json().updatedAt, '2026-11-24T10:01:00.000Z')
    t.equal(patched.json().name, 'Winter sales', 'fields not in the patch are kept')
    const cleared = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaign.id}`, headers: bearer(opsB.apiKey), payload: { endsAt: null } })
    t.equal(cleared.json().endsAt, null)
    const badPatch = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaign.id}`, headers: bearer(opsB.apiKey), payload: { lawfulBasis: 'legitimate_interest', lia: null } })
    t.equal(badPatch.statusCode, 400, 'a patch cannot leave the campaign invalid')
    const empty = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaign.id}`, headers: bearer(opsB.apiKey), payload: {} })
    t.equal(empty.statusCode, 400)
    const agentB = await newUser(app, tenantB, 'agent')
    const agentPatch = await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaign.id}`, headers: bearer(agentB.apiKey), payload: { name: 'x' } })
    t.equal(agentPatch.statusCode, 403)
    const agentRead = await app.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}`, headers: bearer(agentB.apiKey) })
    t.equal(agentRead.statusCode, 200, 'an agent may read its tenant\'s campaigns')
  })

  t.test('key rotation and revocation take effect at once', async (t) => {
    const user = await newUser(app, tenantA, 'controller')
    const before = await app.inject({ method: 'GET', url: '/api/campaigns', headers: bearer(user.apiKey) })
    t.equal(before.statusCode, 200)

    const rotated = await app.inject({ method: 'POST', url: `/api/users/${user.id}/rotate-key`, headers: bearer(user.apiKey) })
    t.equal(rotated.statusCode, 200, 'a user may rotate its own key')
    const fresh = rotated.json().apiKey
    t.not(fresh, user.apiKey)
    t.equal((await app.inject({ method: 'GET', url: '/api/campaigns', headers: bearer(user.apiKey) })).statusCode, 401, 'old key dead')
    t.equal((await app.inject({ method: 'GET', url: '/api/campaigns', headers: bearer(fresh) })).statusCode, 200, 'new key works')

    const foreign = await app.inject({ method: 'POST', url: `/api/users/${user.id}/rotate-key`, headers: bearer(opsB.apiKey) })
    t.equal(foreign.statusCode, 404, 'another tenant cannot see the user')
    const sibling = await app.inject({ method: 'POST', url: `/api/users/${user.id}/rotate-key`, headers: bearer(opsA.apiKey) })
    t.equal(sibling.statusCode, 403, 'a colleague cannot rotate someone else\'s key')

    const byAdmin = await app.inject({ method: 'POST', url: `/api/users/${user.id}/rotate-key`, headers: admin })
    t.equal(byAdmin.statusCode, 200)
    const adminKey = byAdmin.json().apiKey

    const notAdmin = await app.inject({ method: 'DELETE', url: `/api/users/${user.id}`, headers: bearer(adminKey) })
    t.equal(notAdmin.statusCode, 403, 'only an admin revokes')
    const revoked = await app.inject({ method: 'DELETE', url: `/api/users/${user.id}`, headers: admin })
    t.equal(revoked.statusCode, 204)
    t.equal((await app.inject({ method: 'GET', url: '/api/campaigns', headers: bearer(adminKey) })).statusCode, 401, 'revoked key stops working at once')
    t.equal((await app.inject({ method: 'DELETE', url: `/api/users/${user.id}`, headers: admin })).statusCode, 404, 'revoking twice is a 404')
    t.equal((await app.inject({ method: 'POST', url: `/api/users/${user.id}/rotate-key`, headers: admin })).statusCode, 404, 'a revoked user cannot be given a new key')
    const ghost = await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: '00000000-0000-4000-8000-000000000000', role: 'ops', name: 'x', email: 'x@example.com' } })
    t.equal(ghost.statusCode, 404)
  })

  t.test('health, readiness and API docs', async (t) => {
    t.same((await app.inject('/healthz')).json(), { status: 'ok' })
    const ready = await app.inject('/readyz')
    t.equal(ready.statusCode, 200)
    t.same(ready.json(), { status: 'ready', database: 'ok', objectStore: 'ok' })
    const docs = await app.inject('/docs/json')
    t.equal(docs.statusCode, 200)
    const spec = docs.json()
    t.ok(spec.paths['/api/campaigns/{id}'], 'campaign routes documented')
    t.ok(spec.paths['/twilio/fallback'], 'twilio routes documented')
  })
})

t.test('readiness reports a lost database and object store', async (t) => {
  const app = await build(t)
  await app.objectStore.close()
  const storeDown = await app.inject('/readyz')
  t.equal(storeDown.statusCode, 503)
  t.same(storeDown.json(), { status: 'unavailable', database: 'ok', objectStore: 'failed' })
  await app.database.close()
  const bothDown = await app.inject('/readyz')
  t.equal(bothDown.statusCode, 503)
  t.equal(bothDown.json().database, 'failed')
  t.equal((await app.inject('/healthz')).statusCode, 200, 'the process itself is still up')
})
