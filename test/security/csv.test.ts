// Issue 17, findings 5 and 8: text/csv bodies are bounded (line length, total size) and every CSV
// the product writes is safe to open in a spreadsheet.
import { getDefaultHighWaterMark, Readable } from 'node:stream'
import t from 'tap'
import { toCsv } from '../../src/dsr/csv.js'
import { admin, bearer, build, fixedClock } from '../helper.js'

const LINE_LIMIT = 1024
const csv = { 'content-type': 'text/csv' }

/** A body sent in pieces with no Content-Length (chunked, as a streaming client sends it); counts what the server pulled. */
function pieces (parts: Buffer[]) {
  const state = { pulled: 0 }
  const stream = Readable.from((function * () { for (const part of parts) { state.pulled++; yield part } })(), { objectMode: false })
  return { stream, state }
}
const numbers = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `020 7${String(1_000_000 + from + i)}`)

async function setup (t: { teardown (fn: () => unknown): void }, env: Record<string, string> = {}) {
  const app = await build(t, { env, overrides: { clock: fixedClock('2026-11-24T10:00:00Z') } })
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'a' } })).json().id as string
  const user = async (role: string) => ({ ...bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: role, email: `${role}@a.test` } })).json().apiKey), ...csv })
  const ops = await user('ops')
  const controller = await user('controller')
  const campaign = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: { authorization: ops.authorization }, payload: { name: 'Renewals', timezone: 'Europe/London', retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'consent', defaultCountry: 'GB' } })).json()
  const suppressed = async (number: string) => (await app.inject({ method: 'GET', url: `/api/suppressions?number=${encodeURIComponent(number)}&country=GB`, headers: { authorization: ops.authorization } })).json().suppressed as boolean
  const audits = async () => (await app.inject({ method: 'GET', url: '/api/audit?action=suppression.import', headers: { authorization: controller.authorization } })).json().entries as Array<{ details: Record<string, unknown> }>
  return { app, ops, campaign, suppressed, audits }
}

t.test('a line over the limit: 400 naming the line and the limit, a small reply, nothing imported', async (t) => {
  const { app, ops, campaign, suppressed, audits } = await setup(t)
  const long = 'x'.repeat(LINE_LIMIT + 1)

  const screened = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: ops, payload: `020 7946 0001\n020 7946 0002\n${long},ref\n020 7946 0003\n` })
  t.equal(screened.statusCode, 400, 'screening refuses the list')
  t.match(screened.json(), { code: 'CG_CSV_LINE_TOO_LONG', message: /line 3 .*1024 bytes/ })
  t.ok(screened.body.length < 400, `the reply echoes none of the line (${screened.body.length} bytes)`)

  const imported = await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: `number\r\n020 7946 0001\r\n${long}\r\n020 7946 0003\r\n` })
  t.equal(imported.statusCode, 400, 'the import refuses the list')
  t.match(imported.json(), { code: 'CG_CSV_LINE_TOO_LONG', message: /line 3 .*1024 bytes.*nothing was imported/ })
  t.ok(imported.body.length < 400, `a small reply (${imported.body.length} bytes)`)
  t.equal(await suppressed('020 7946 0001'), false, 'the line before the long one is not half-imported')
  t.same(await audits(), [], 'nothing imported, nothing audited')

  // Exactly at the limit is a line like any other (an invalid number, here).
  const atLimit = await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: `020 7946 0001\n${'y'.repeat(LINE_LIMIT)}\n` })
  t.match(atLimit.json(), { lines: 2, added: 1, invalid: 1, invalidLines: [2] })
})

t.test('one enormous line is refused having read a bounded part of it, not held whole', async (t) => {
  const { app, ops, campaign } = await setup(t)
  // 8 MiB on one line, in 64 KiB pieces (the audit's case was 128 MB: the same, larger).
  const part = Buffer.alloc(65_536, 0x31)
  for (const url of [`/api/screen?campaignId=${campaign.id}`, '/api/suppressions/import?country=GB']) {
    const { stream, state } = pieces(Array.from({ length: 128 }, () => part))
    const res = await app.inject({ method: 'POST', url, headers: ops, payload: stream })
    t.equal(res.statusCode, 400, url)
    t.match(res.json(), { message: /line 1 is longer than 1024 bytes/ })
    t.ok(res.body.length < 400, `small reply (${res.body.length} bytes)`)
    t.ok(state.pulled < 8, `stopped after ${state.pulled} of 128 pieces`)
  }
})

t.test('a body over CSV_MAX_BYTES: 413 naming the limit, declared or streamed, nothing imported', async (t) => {
  const { app, ops, campaign, suppressed, audits } = await setup(t, { CSV_MAX_BYTES: '65536' })
  const body = Buffer.from(numbers(40_000).join('\n') + '\n') // ~560 KB; the limit falls before the first 5,000-number batch
  t.ok(body.length > 4 * 65_536)

  const declared = await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: body })
  t.equal(declared.statusCode, 413, 'a Content-Length over the limit')
  t.match(declared.json(), { code: 'CG_CSV_TOO_LARGE', message: /larger than 65536 bytes/ })

  const count = Math.ceil(body.length / 16_384)
  const { stream, state } = pieces(Array.from({ length: count }, (_, i) => body.subarray(i * 16_384, (i + 1) * 16_384)))
  // The injected request and its payload stream each read ahead up to the default high-water mark
  // (16 KiB on Node 20, 64 KiB from Node 22): beyond the 5 pieces that cross the limit, only that
  // and a piece or two in flight.
  const readAhead = 2 * Math.ceil(getDefaultHighWaterMark(false) / 16_384) + 2
  const streamed = await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: stream })
  t.equal(streamed.statusCode, 413, 'a chunked body that grows past the limit')
  t.match(streamed.json(), { code: 'CG_CSV_TOO_LARGE', message: /larger than 65536 bytes.*nothing was imported/ })
  t.ok(state.pulled <= 5 + readAhead, `read no further than the limit (${state.pulled} of ${count} pieces of 16 KiB, at most ${readAhead} read ahead)`)
  t.equal(await suppressed(numbers(1)[0]!), false, 'nothing imported')
  t.same(await audits(), [])

  const screened = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: ops, payload: pieces([body]).stream })
  t.equal(screened.statusCode, 413, 'screening too')
  t.match(screened.json(), { message: /larger than 65536 bytes/ })

  const small = await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: numbers(10).join('\n') })
  t.match(small.json(), { lines: 10, added: 10 }, 'under the limit, as before')
})

t.test('an import stopped after batches were stored says so and is audited', async (t) => {
  const { app, ops, suppressed, audits } = await setup(t)
  const lines = numbers(12_000)
  lines[10_500] = 'z'.repeat(LINE_LIMIT + 10)
  const body = Buffer.from(lines.join('\n'))
  const res = await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: pieces(Array.from({ length: Math.ceil(body.length / 16_384) }, (_, i) => body.subarray(i * 16_384, (i + 1) * 16_384))).stream })
  t.equal(res.statusCode, 400)
  t.match(res.json().message, /^line 10501 is longer than 1024 bytes, .*; the import stopped after line \d+, \d+ numbers added \(send the corrected list again/)
  const added = Number(/, (\d+) numbers added/.exec(res.json().message)![1])
  t.ok(added > 0 && added % 5000 === 0 && added <= 10_500, `whole batches before the line: ${added}`)
  t.equal(await suppressed(lines[0]!), true)
  t.equal(await suppressed(lines[11_000]!), false, 'nothing after the line')
  t.match(await audits(), [{ details: { added, stopped: 'CG_CSV_LINE_TOO_LONG' } }], 'what was stored is on the record')
  lines[10_500] = numbers(1, 10_500)[0]!
  t.match((await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: lines.join('\n') })).json(), { lines: 12_000, added: 12_000 - added, alreadyPresent: added }, 'sending the corrected list again completes it')
})

t.test('lines end at LF, CRLF or a lone CR, in the import and in screening alike', async (t) => {
  const { app, ops, campaign } = await setup(t)
  const body = '020 7946 0001\r020 7946 0002\r\n020 7946 0003\nnope\r'
  t.match((await app.inject({ method: 'POST', url: '/api/suppressions/import?country=GB', headers: ops, payload: body })).json(), { lines: 4, added: 3, invalid: 1, invalidLines: [4] })
  const screened = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: ops, payload: body })
  t.equal(screened.body, 'input,number,result\r\n020 7946 0001,+442079460001,suppressed\r\n020 7946 0002,+442079460002,suppressed\r\n020 7946 0003,+442079460003,suppressed\r\nnope,,invalid\r\n')
})

t.test('screening output: formulas neutralised, E.164 numbers as they are', async (t) => {
  const { app, ops, campaign } = await setup(t)
  const inputs = ['=HYPERLINK("http://x")', '@SUM(1)', '-1+1', '+cmd|\'/c calc\'!A0', '+447700900123', '+44 7700 900124', '020 7946 0001', 'a;=1']
  const res = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: ops, payload: inputs.join('\n') })
  t.equal(res.statusCode, 200)
  t.same(res.body.split('\r\n'), [
    'input,number,result',
    '"\'=HYPERLINK(""http://x"")",,invalid',
    '"\'@SUM(1)",,invalid',
    '"\'-1+1",,invalid',
    '"\'+cmd|\'/c calc\'!A0",,invalid',
    '+447700900123,+447700900123,callable',
    '"\'+44 7700 900124",+447700900124,callable',
    '020 7946 0001,+442079460001,callable',
    '"a;=1",,invalid',
    ''
  ])
})

t.test('the DSR access CSV: an operator-written prompt cannot become a formula', async (t) => {
  const rows = [
    { seq: 1, type: 'say', detail: { text: '=HYPERLINK("http://x")' }, prompt: '=HYPERLINK("http://x")', caller: '+447700900123', note: '@SUM(1)' },
    { seq: -1, type: '\tfoo', detail: null, prompt: '-1+1', caller: '+44 7700 900123', note: '\rbar' }
  ]
  t.equal(toCsv(rows), [
    'seq,type,detail,prompt,caller,note',
    '1,say,"{""text"":""=HYPERLINK(\\""http://x\\"")""}","\'=HYPERLINK(""http://x"")",+447700900123,"\'@SUM(1)"',
    '"\'-1","\'\tfoo",,"\'-1+1","\'+44 7700 900123","\'\rbar"',
    ''
  ].join('\r\n'))
})

t.test('screening: a line too long after the answer has started cuts the answer off', async (t) => {
  const { app, ops, campaign } = await setup(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const lines = numbers(30_000) // ~420 KB: the first chunk is answered before the long line is read
  lines.push('w'.repeat(LINE_LIMIT + 1), ...numbers(10, 30_000))
  const body = Buffer.from(lines.join('\n'))
  const { stream } = pieces(Array.from({ length: Math.ceil(body.length / 16_384) }, (_, i) => body.subarray(i * 16_384, (i + 1) * 16_384)))
  const res = await fetch(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/screen?campaignId=${campaign.id}`, { method: 'POST', headers: ops, body: Readable.toWeb(stream) as ReadableStream, duplex: 'half' } as RequestInit)
  t.equal(res.status, 200, 'the answer had started')
  await t.rejects(res.text(), 'but does not end as a complete answer would')
})
