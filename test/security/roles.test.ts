// Issue 17, finding 16: numbers are ops', flow versions ops' and controllers' (what callers heard
// around their consent), never agents'; binding a number another tenant holds does not tell that
// it is held there.
import t from 'tap'
import { admin, bearer, build } from '../helper.js'
import { definition } from '../media-helpers.js'
import type { App } from '../../src/app.js'

const campaign = { name: 'A', timezone: 'Europe/London', hours: { tue: [['09:00', '17:00']] }, switchboard: '+442079460000', retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 }, lawfulBasis: 'consent' }

async function tenant (app: App, name: string) {
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name } })).json().id
  const key = async (role: string) => bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: role, email: `${role}@${name}.test` } })).json().apiKey)
  const ops = await key('ops')
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: campaign })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'R', campaignId } })).json().id
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  return { tenantId, campaignId, flowId, ops, agent: await key('agent'), controller: await key('controller') }
}

t.test('roles and number binding', async (t) => {
  const app = await build(t)
  const a = await tenant(app, 'acme')
  const b = await tenant(app, 'globex')
  const NUMBER = '+442079460018'
  t.equal((await app.inject({ method: 'POST', url: '/api/numbers', headers: a.ops, payload: { number: NUMBER, campaignId: a.campaignId, flowId: a.flowId } })).statusCode, 201)

  t.test('numbers are read by ops, flow versions by ops and controllers, neither by agents', async (t) => {
    const reads: Array<[string, string[]]> = [
      ['/api/numbers', ['ops']],
      [`/api/flows/${a.flowId}/versions`, ['ops', 'controller']],
      [`/api/flows/${a.flowId}/versions/1`, ['ops', 'controller']]
    ]
    for (const [url, allowed] of reads) {
      for (const [role, headers] of [['agent', a.agent], ['controller', a.controller], ['ops', a.ops], ['admin', admin]] as const) {
        const res = await app.inject({ method: 'GET', url, headers })
        if (role === 'admin' || allowed.includes(role)) {
          t.equal(res.statusCode, 200, `${role}: GET ${url}`)
        } else {
          t.equal(res.statusCode, 403, `${role}: GET ${url} is refused`)
          t.match(res.json().message, `needs ${['admin', ...allowed].join(' or ')}`)
        }
      }
    }
    t.equal((await app.inject({ method: 'GET', url: `/api/flows/${b.flowId}/versions`, headers: a.agent })).statusCode, 404, 'another tenant\'s flow is still a 404, not a 403')
    // An agent places calls with a campaign and a flow: it still lists them.
    t.equal((await app.inject({ method: 'GET', url: '/api/flows', headers: a.agent })).statusCode, 200, 'agent: GET /api/flows')
    t.equal((await app.inject({ method: 'GET', url: `/api/flows/${a.flowId}`, headers: a.agent })).statusCode, 200, 'agent: GET /api/flows/:id')
  })

  t.test('binding a number another tenant holds answers as if it did not exist', async (t) => {
    const elsewhere = await app.inject({ method: 'POST', url: '/api/numbers', headers: b.ops, payload: { number: NUMBER, campaignId: b.campaignId, flowId: b.flowId } })
    t.equal(elsewhere.statusCode, 404)
    t.match(elsewhere.json(), { code: 'CG_NOT_FOUND', message: 'body/number not found' })
    t.notMatch(elsewhere.body, /bound|tenant|acme/i, 'says nothing of where it is bound')
    const foreignCampaign = await app.inject({ method: 'POST', url: '/api/numbers', headers: b.ops, payload: { number: '+442079460055', campaignId: a.campaignId, flowId: b.flowId } })
    t.equal(foreignCampaign.statusCode, elsewhere.statusCode, 'the same answer as another tenant\'s campaign')
    t.same((await app.inject({ method: 'GET', url: '/api/numbers', headers: b.ops })).json(), [], 'nothing was bound')

    const again = await app.inject({ method: 'POST', url: '/api/numbers', headers: a.ops, payload: { number: NUMBER, campaignId: a.campaignId, flowId: a.flowId } })
    t.equal(again.statusCode, 409, 'its own tenant hears it is already bound there')
    t.match(again.json().message, /already bound in this tenant/)
    const byAdmin = await app.inject({ method: 'POST', url: '/api/numbers', headers: admin, payload: { number: NUMBER, campaignId: b.campaignId, flowId: b.flowId } })
    t.equal(byAdmin.statusCode, 409, 'the admin, who sees every tenant, is told')
    t.match(byAdmin.json().message, /already bound to another tenant/)
  })
})
