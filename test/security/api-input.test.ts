// Issue 17, finding 14: out-of-range query values are a 400 naming the field, never a 500 from
// the database (bigint and int4 overflow, dates PostgreSQL or Date cannot hold, from after to).
import t from 'tap'
import { admin, bearer, build } from '../helper.js'
import { definition } from '../media-helpers.js'

const cursorOf = (s: string) => Buffer.from(s).toString('base64url')

t.test('query and path values out of range', async (t) => {
  const app = await build(t)
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const key = async (role: string) => bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: role, email: `${role}@acme.test` } })).json().apiKey)
  const controller = await key('controller')
  const ops = await key('ops')
  const campaignId = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: { name: 'A', timezone: 'Europe/London', hours: { tue: [['09:00', '17:00']] }, switchboard: '+442079460000', retention: { recordingsDays: 90, callLogDays: 365, redactAfterDays: 30 }, lawfulBasis: 'consent' } })).json().id
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'R', campaignId } })).json().id
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })).statusCode, 201)

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['/api/audit?afterSeq=99999999999999999999', controller, /^querystring\/afterSeq must be <= 9007199254740991/],
    ['/api/audit?afterSeq=9223372036854775808', controller, /^querystring\/afterSeq must be <=/],
    ['/api/audit?afterSeq=1e400', controller, /^querystring\/afterSeq must be a finite number/],
    ['/api/audit?afterSeq=-Infinity', controller, /^querystring\/afterSeq must be a finite number/],
    ['/api/audit?limit=1e400', controller, /^querystring\/limit must be a finite number/],
    ['/api/audit?from=0000-01-01T00:00:00Z', controller, /^querystring\/from must match pattern/],
    ['/api/audit?to=0001-01-01T00:00:00%2B01:00', controller, /^querystring\/to must match pattern/],
    ['/api/audit?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z', controller, /^querystring\/from must not be after querystring\/to/],
    ['/api/calls?cursor=' + cursorOf('+275760-09-13T00:00:00.000Z|CA' + '0'.repeat(32)), controller, /^querystring\/cursor is not a cursor this API gave out/],
    ['/api/calls?cursor=' + cursorOf('0000-01-01T00:00:00.000Z|CA' + '0'.repeat(32)), controller, /^querystring\/cursor/],
    ['/api/calls?cursor=' + cursorOf('2026-11-24T10:00:00.000Z|x'), controller, /^querystring\/cursor/],
    ['/api/calls?cursor=not%20base64!', controller, /^querystring\/cursor must match pattern/],
    ['/api/calls?limit=1e400', controller, /^querystring\/limit must be a finite number/],
    ['/api/calls?from=2026-01-01T23:59:60Z', controller, /^querystring\/from must match pattern/],
    ['/api/calls?to=2026-01-01T10:00:00%2B01', controller, /^querystring\/to must match pattern/],
    ['/api/calls?from=0000-01-01T00:00:00Z', controller, /^querystring\/from must match pattern/],
    ['/api/calls?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z', controller, /^querystring\/from must not be after querystring\/to/],
    [`/api/flows/${flowId}/versions/99999999999`, ops, /^params\/v must be <= 2147483647/],
    [`/api/flows/${flowId}/versions/1e400`, ops, /^params\/v must be a finite number/]
  ]
  for (const [url, headers, message] of refused) {
    const res = await app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 400, `${url}: 400`)
    t.match(res.json().message, message, `${url}: names the field`)
  }

  const simulate = await app.inject({ method: 'POST', url: `/api/flows/${flowId}/simulate`, headers: ops, payload: { version: 99999999999, digits: [], at: '2026-11-24T10:00:00Z' } })
  t.equal(simulate.statusCode, 400, 'a body version beyond int4 is a 400')
  t.match(simulate.json().message, /^body\/version must be <= 2147483647/)

  const accepted = [
    '/api/audit?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&afterSeq=9007199254740991&limit=1000',
    '/api/audit?from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z',
    '/api/calls?from=2026-11-01T00:00:00.123456%2B01:00&to=2026-12-01t00:00:00z&limit=200',
    '/api/calls?from=2026-11-01 00:00:00%2B0100',
    '/api/calls?cursor=' + cursorOf('2026-11-24T10:00:00.000Z|CA' + '0'.repeat(32))
  ]
  for (const url of accepted) {
    const res = await app.inject({ method: 'GET', url, headers: controller })
    t.equal(res.statusCode, 200, `${url}: still accepted`)
  }
  t.equal((await app.inject({ method: 'GET', url: `/api/flows/${flowId}/versions/1`, headers: ops })).statusCode, 200, 'a real version still reads')
})
