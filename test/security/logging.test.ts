// Issue 17, finding 4: a request's log line names the route and a redacted query, never a
// recording-link token, a phone number or a PIN.
import t from 'tap'
import { loggableUrl, redactQuery } from '../../src/request-log.js'
import { admin, build } from '../helper.js'

const TOKEN = 'v1.eyJyIjoiMDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAwIn0.c2VjcmV0LXNpZ25hdHVyZS1ieXRlcw'
const NUMBER = '+447700900123'
const NATIONAL = '07700900456'
const PIN = '482913'
const RECORDING = '00000000-0000-4000-8000-000000000000'

t.test('request log lines: route and redacted query, never a token, number or PIN', async (t) => {
  const lines: string[] = []
  const app = await build(t, { env: { LOG_LEVEL: 'info' }, overrides: { logStream: { write: (line: string) => { lines.push(line) } } } })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id as string
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString()

  const requests = [
    { method: 'GET' as const, url: `/recordings/${RECORDING}?${q({ token: TOKEN })}`, headers: { 'x-recording-pin': PIN } },
    { method: 'GET' as const, url: `/api/suppressions?${q({ number: NUMBER, tenantId })}`, headers: admin },
    { method: 'GET' as const, url: `/api/suppressions?${q({ number: NATIONAL, country: 'GB', tenantId })}`, headers: admin },
    { method: 'DELETE' as const, url: `/api/suppressions?${q({ number: NUMBER, reason: `called ${NUMBER} by mistake`, tenantId })}`, headers: admin },
    { method: 'GET' as const, url: `/api/calls?${q({ number: NUMBER, limit: '5', tenantId })}`, headers: admin },
    // Raw, as a client may send it: `+` unencoded, a key with no value, a path no route has.
    { method: 'GET' as const, url: `/api/calls?number=${NUMBER}&${NUMBER}&limit=5`, headers: admin },
    { method: 'GET' as const, url: `/api/suppressions/${NUMBER}?pin=${PIN}&token=${TOKEN}`, headers: admin }
  ]
  for (const r of requests) {
    const res = await app.inject(r)
    t.ok(res.statusCode < 500, `${r.method} ${r.url.split('?')[0]!}: answered ${res.statusCode}`)
  }

  const completed = lines.map((l) => JSON.parse(l) as { msg: string, req?: { method: string, route: string | null, url: string } }).filter((l) => l.msg === 'request completed')
  t.ok(completed.length >= requests.length, 'one line per request reached the log')
  for (const line of lines) {
    for (const secret of [TOKEN, TOKEN.slice(0, 20), NUMBER, encodeURIComponent(NUMBER), NUMBER.slice(1), NATIONAL, PIN]) {
      t.notOk(line.includes(secret), `no ${secret.slice(0, 12)}… in ${line.slice(0, 160)}`)
    }
  }
  const byRoute = (route: string) => completed.filter((l) => l.req?.route === route).map((l) => l.req!.url)
  t.same(byRoute('/recordings/:id'), [`/recordings/${RECORDING}?token=[redacted]`], 'the route, the recording id, the token redacted')
  t.same(byRoute('/api/suppressions').slice(0, 2), [
    `/api/suppressions?number=[redacted]&tenantId=${tenantId}`,
    `/api/suppressions?number=[redacted]&country=GB&tenantId=${tenantId}`
  ], 'keys kept, harmless values kept, the number redacted')
  t.match(byRoute('/api/suppressions')[2], /reason=\[redacted\]/, 'a free-text reason is redacted too')
  t.same(byRoute('/api/calls'), [`/api/calls?number=[redacted]&limit=5&tenantId=${tenantId}`, '/api/calls?number=[redacted]&[redacted]&limit=5'])
  const unmatched = completed.find((l) => l.req?.route === null && l.req.url.startsWith('/api/suppressions/'))
  t.equal(unmatched?.req?.url, '/api/suppressions/[redacted]?pin=[redacted]&token=[redacted]', 'no route: the path is masked where it holds a number')
})

t.test('redaction rules', async (t) => {
  t.equal(redactQuery(''), '')
  t.equal(redactQuery('limit=5&cursor=abc&token=x&pin=1&number=%2B44&somethingNew=y'), 'limit=5&cursor=abc&token=[redacted]&pin=[redacted]&number=[redacted]&somethingNew=[redacted]', 'only known-harmless values are kept')
  t.equal(redactQuery('%2B447700900123=1'), '[redacted]=[redacted]', 'a key that is not a name is data')
  t.equal(loggableUrl(`/api/tenants/${RECORDING}`, '/api/tenants/:id'), `/api/tenants/${RECORDING}`, 'a matched route keeps its ids')
  t.equal(loggableUrl('/console/call/+44 7700 900123', '/console/*'), '/console/call/[redacted]', 'a wildcard route\'s path is the client\'s: masked')
})
