import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { auditLog, calls } from '../src/db/schema.js'
import { admin, bearer, build, fixedClock, signedTwilio } from './helper.js'

const definition = JSON.parse(readFileSync(new URL('./fixtures/flows/valid/design-example.json', import.meta.url), 'utf8'))
const OUR_NUMBER = '+442079460018'
const ACCOUNT = 'AC' + 'b'.repeat(32)

t.test('suppression, screening and outbound calls', async (t) => {
  const placed: URLSearchParams[] = []
  let sid = 0xca11
  const api = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      if (req.url === `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`) placed.push(new URLSearchParams(body))
      res.writeHead(201, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ sid: 'CA' + (++sid).toString(16).padStart(32, '0'), status: 'queued' }))
    })
  })
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
  t.teardown(() => api.close())

  const clock = fixedClock('2026-11-24T10:00:00Z') // a Tuesday, in hours
  const app = await build(t, { env: { TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}` }, overrides: { clock } })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Acme' } })).json().id
  const user = async (role: string) => bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: role, email: `${role}@acme.test` } })).json().apiKey)
  const ops = await user('ops')
  const agent = await user('agent')
  const controller = await user('controller')
  const weekdays = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => [d, [['09:00', '17:30']]]))
  const campaign = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops, payload: { name: 'Renewals', timezone: 'Europe/London', hours: weekdays, switchboard: '+442079460000', retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'legitimate_interest', lia: { purpose: 'p', necessity: 'n', balancing: 'b' }, callCap: { count: 3, perDays: 30 }, defaultCountry: 'GB' } })).json()
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'Out', campaignId: campaign.id } })).json().id
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition } })
  await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })
  await app.inject({ method: 'POST', url: '/api/numbers', headers: ops, payload: { number: OUR_NUMBER, campaignId: campaign.id, flowId } })
  const dial = (to: string) => app.inject({ method: 'POST', url: '/api/calls', headers: agent, payload: { to, campaignId: campaign.id, flowId } })

  t.test('an IVR opt-out stops an outbound call to the same number in another format', async (t) => {
    const callSid = 'CA' + 'e'.repeat(32)
    const base = { CallSid: callSid, From: '+442079460555', To: OUR_NUMBER }
    await app.inject(signedTwilio('/twilio/voice', base))
    await app.inject(signedTwilio('/twilio/flow?node=consent', { ...base, Digits: '2' }))
    t.match((await app.inject(signedTwilio('/twilio/flow?node=menu', { ...base, Digits: '9' }))).body, 'You will not be called again')

    const res = await dial('020 7946 0555')
    t.equal(res.statusCode, 409)
    t.match(res.json(), { code: 'CG_NOT_CALLABLE', reason: 'suppressed' })
    t.equal(placed.length, 0, 'Twilio was never asked to dial')
    for (const form of ['00442079460555', '+44 (0)20 7946 0555', '+442079460555']) {
      const status = await app.inject({ method: 'GET', url: `/api/suppressions?number=${encodeURIComponent(form)}`, headers: ops })
      t.match(status.json(), { number: '+442079460555', suppressed: true, since: '2026-11-24T10:00:00.000Z', entries: [{ source: 'ivr' }] }, form)
    }
    t.equal((await app.inject({ method: 'GET', url: '/api/suppressions?number=020%207946%200555', headers: ops })).statusCode, 400, 'a national number needs a country')
    t.equal((await app.inject({ method: 'GET', url: '/api/suppressions?number=020%207946%200555&country=GB', headers: ops })).json().suppressed, true)
  })

  t.test('a registry file: streamed import, counts, line numbers', async (t) => {
    const file = 'number\n02079460001\n020 7946 0002\nnot a number\n\n+442079460003\n12\n'
    const res = await app.inject({ method: 'POST', url: '/api/suppressions/import?source=registry&country=GB', headers: { ...ops, 'content-type': 'text/csv' }, payload: file })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { lines: 7, added: 3, alreadyPresent: 0, invalid: 2, invalidLines: [4, 7] })
    const again = await app.inject({ method: 'POST', url: '/api/suppressions/import?source=registry&country=GB', headers: { ...ops, 'content-type': 'text/csv' }, payload: file })
    t.match(again.json(), { added: 0, alreadyPresent: 3 })
    t.match((await dial('02079460001')).json(), { reason: 'registry' })
    t.equal((await app.inject({ method: 'POST', url: '/api/suppressions/import', headers: ops, payload: { numbers: [] } })).statusCode, 415)
    t.equal((await app.inject({ method: 'POST', url: '/api/suppressions/import', headers: { ...agent, 'content-type': 'text/csv' }, payload: '1' })).statusCode, 403)
  })

  t.test('the call cap, the calling hours, and placing the call', async (t) => {
    for (let i = 1; i <= 3; i++) t.equal((await dial('020 7946 0777')).statusCode, 201, `attempt ${i}`)
    t.equal(placed.length, 3)
    t.match(Object.fromEntries(placed[0]!), { To: '+442079460777', From: OUR_NUMBER, Url: 'https://voice.callgate.test/twilio/voice', StatusCallback: 'https://voice.callgate.test/twilio/status' })
    t.match((await dial('020 7946 0777')).json(), { reason: 'cap' }, 'a 4th attempt within 30 days')
    clock.set('2026-12-25T10:00:00Z') // 31 days later, a Friday
    t.equal((await dial('020 7946 0777')).statusCode, 201, 'allowed again after the window')
    clock.set('2026-12-26T10:00:00Z') // Saturday
    t.match((await dial('020 7946 0778')).json(), { reason: 'hours' })
    clock.set('2026-11-24T10:00:00Z')
    t.equal((await dial('not a number')).statusCode, 400)
    t.match((await dial('not a number')).json().message, /body\/to/)

    const placedSid = 'CA' + sid.toString(16).padStart(32, '0')
    const answered = await app.inject(signedTwilio('/twilio/voice', { CallSid: placedSid, From: OUR_NUMBER, To: '+442079460777', Direction: 'outbound-api' }))
    t.match(answered.body, 'node=consent', 'the answered call runs the flow')
    const [row] = await app.database.db.select().from(calls).where(eq(calls.callSid, placedSid))
    t.match(row, { direction: 'outbound', flowVersion: 1, localNumber: OUR_NUMBER })
  })

  t.test('screening names every reason', async (t) => {
    await app.inject({ method: 'POST', url: '/api/suppressions', headers: agent, payload: { number: '02079460888', country: 'GB', reason: 'asked by e-mail' } })
    await app.inject({ method: 'POST', url: '/api/dsr', headers: controller, payload: { type: 'restriction', number: '+442079460999' } })
    const numbers = ['020 7946 0123', '020 7946 0888', '02079460002', '+442079460999', '020 7946 0777', 'nonsense', '020 7946 0555']
    const res = await app.inject({ method: 'POST', url: '/api/screen', headers: ops, payload: { campaignId: campaign.id, numbers } })
    t.same(res.json().results.map((r: { callable: boolean, reason?: string }) => r.callable ? 'callable' : r.reason), ['callable', 'suppressed', 'registry', 'restricted', 'cap', 'invalid', 'suppressed'])
    const csv = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: { ...ops, 'content-type': 'text/csv' }, payload: numbers.join('\n') })
    t.equal(csv.headers['content-type'], 'text/csv')
    t.same(csv.body.trim().split('\r\n'), ['input,number,result', '020 7946 0123,+442079460123,callable', '020 7946 0888,+442079460888,suppressed', '02079460002,+442079460002,registry', '+442079460999,+442079460999,restricted', '020 7946 0777,+442079460777,cap', 'nonsense,,invalid', '020 7946 0555,+442079460555,suppressed'])
    t.match((await dial('+442079460999')).json(), { reason: 'restricted' })
    const many = Array.from({ length: 3000 }, (_, i) => `020 7${String(1000000 + i)}`).join('\n')
    const big = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: { ...ops, 'content-type': 'text/csv' }, payload: many })
    t.equal(big.body.trim().split('\r\n').length, 3001, 'every line of a long list answered, none dropped')
  })

  t.test('lifting a suppression', async (t) => {
    const url = '/api/suppressions?number=%2B442079460555'
    t.equal((await app.inject({ method: 'DELETE', url, headers: ops })).statusCode, 403, 'ops cannot lift an IVR opt-out')
    t.equal((await app.inject({ method: 'DELETE', url, headers: controller })).statusCode, 400, 'not without a reason')
    const lifted = await app.inject({ method: 'DELETE', url: `${url}&reason=caller%20asked%20to%20be%20called%20back`, headers: controller })
    t.equal(lifted.json().suppressed, false)
    t.equal((await app.inject({ method: 'DELETE', url: '/api/suppressions?number=%2B442079460888', headers: ops })).json().suppressed, false, 'ops may lift one added through the API')
    const audit = await app.database.db.select().from(auditLog).where(eq(auditLog.action, 'suppression.remove'))
    t.equal(audit.length, 2)
    t.notOk(JSON.stringify(audit).includes('7946'), 'no number in the audit log')
  })
})
