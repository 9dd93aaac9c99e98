import { createHmac, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { recordAttempt } from '../src/db/suppressions.js'
import { hashNumber, NumberHasher } from '../src/privacy/number-hash.js'
import { normalizeNumber } from '../src/privacy/phone.js'
import { csvCell } from '../src/csv/cell.js'
import { csvLineChunks } from '../src/csv/lines.js'
import { screenCsvLines } from '../src/suppression/screen-csv.js'
import { ScreenWorkers } from '../src/suppression/screen-workers.js'
import { concat, flagsOf, keyList, merge } from '../src/suppression/screening-set.js'
import { CAPPED, REGISTRY, RESTRICTED, SUPPRESSED } from '../src/suppression/verdict.js'
import { admin, bearer, build, fixedClock } from './helper.js'

const hex = (hi: number, lo: number) => hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')

t.test('the keyed hash in JavaScript is HMAC-SHA-256, as node:crypto computes it', async (t) => {
  const key = randomBytes(32).toString('base64url')
  const hasher = new NumberHasher(key)
  const inputs = ['+442079460001', ' +15550100 ', '', 'é'.repeat(40), '+'.repeat(200), '+49 30 1234567']
  for (let i = 0; i < 20_000; i++) inputs.push('+' + randomBytes(1 + (i % 12)).toString('hex'))
  let differ = 0
  for (const input of inputs) {
    const expected = createHmac('sha256', key).update(input.trim()).digest('hex')
    if (Buffer.from(hasher.digest(input)).toString('hex') !== expected || hashNumber(key, input) !== expected) differ++
  }
  t.equal(differ, 0, `${inputs.length} inputs, long and non-ASCII ones included`)
})

t.test('a screening set: sorted keys, bits of every list combined, exact lookups', async (t) => {
  // Out of order, with a key twice (one number, two sources): sorted and combined.
  const suppressions = keyList(hex(9, 1) + hex(2, 7) + hex(2, 5) + hex(9, 1), '1222')
  t.same([...suppressions.hi], [2, 2, 9, 9])
  t.same([...suppressions.lo], [5, 7, 1, 1])
  t.same([...suppressions.bits], [2, 2, 1, 2], 'bits follow their keys through the sort')
  const restrictions = concat([keyList(hex(2, 5), '4'), keyList(hex(0xffffffff, 0xffffffff), '4')])
  const capped = keyList(hex(9, 1) + hex(10, 0), '88')
  const set = merge([suppressions, restrictions, capped])
  t.ok(set.hi.buffer instanceof SharedArrayBuffer, 'in shared memory, for the threads')
  t.same([...set.hi], [2, 2, 9, 10, 0xffffffff])
  t.equal(flagsOf(set, 2, 5), REGISTRY | RESTRICTED)
  t.equal(flagsOf(set, 2, 7), REGISTRY)
  t.equal(flagsOf(set, 9, 1), SUPPRESSED | REGISTRY | CAPPED)
  t.equal(flagsOf(set, 10, 0), CAPPED)
  t.equal(flagsOf(set, 0xffffffff, 0xffffffff), RESTRICTED)
  for (const [hi, lo] of [[2, 6], [9, 0], [9, 2], [0, 0], [11, 0], [0xffffffff, 0xfffffffe]]) t.equal(flagsOf(set, hi!, lo!), 0, `${hi}/${lo} is on no list`)
  t.equal(flagsOf(merge([]), 2, 5), 0, 'an empty set')
  t.throws(() => keyList(hex(1, 1), '12'), /differ in length/)
})

t.test('a CSV body re-cut into whole lines, never inside a character', async (t) => {
  const lines = Array.from({ length: 5000 }, (_, i) => i % 7 === 0 ? `"Zoë ${i}",+44 20 7946 ${String(i).padStart(4, '0')}` : `020 7946 ${String(i).padStart(4, '0')}`)
  const text = lines.join('\r\n') // CRLF, and no newline after the last line
  const bytes = Buffer.from(text)
  for (const piece of [1, 3, 1000, 65_536]) {
    const pieces: Buffer[] = []
    for (let at = 0; at < bytes.length; at += piece) pieces.push(bytes.subarray(at, at + piece))
    const chunks: string[] = []
    for await (const chunk of csvLineChunks(Readable.from(pieces), { chunkBytes: 4096, maxBytes: bytes.length })) chunks.push(chunk)
    t.equal(chunks.join(''), text, `arriving in pieces of ${piece} bytes: nothing lost, nothing garbled`)
    t.ok(chunks.slice(0, -1).every((chunk) => chunk.endsWith('\n')), 'each chunk but the last ends a line')
    t.ok(chunks.slice(0, -1).every((chunk) => Buffer.byteLength(chunk) >= 4096 && Buffer.byteLength(chunk) < 4096 + 64 + piece), 'about the size asked for')
  }
})

t.test('CSV rows: the first field, quoted when it must be, blank lines skipped', async (t) => {
  const set = merge([])
  const out = screenCsvLines('020 7946 0001,Jane,Doe\r\n\r\n   \nsay "hi"\n+442079460002', set, new NumberHasher('k'), 'GB')
  t.equal(out, '020 7946 0001,+442079460001,callable\r\n"say ""hi""",,invalid\r\n+442079460002,+442079460002,callable\r\n')
})

t.test('screening threads: in order, and stopped with their owner', async (t) => {
  const workers = new ScreenWorkers('k', 2)
  const set = merge([keyList(hashNumber('k', '+442079460003').slice(0, 16), '1')])
  const answers = await Promise.all(['020 7946 0001\n', '020 7946 0003\n', 'x\n'].map(async (text) => await workers.screen(text, set, 'GB')))
  t.same(answers, ['020 7946 0001,+442079460001,callable\r\n', '020 7946 0003,+442079460003,suppressed\r\n', 'x,,invalid\r\n'])
  await workers.close()
  await t.rejects(workers.screen('020 7946 0001\n', set, 'GB'), /stopped/)
})

t.test('a bulk CSV screening answers as the per-number check does, list by list', async (t) => {
  const clock = fixedClock('2026-11-24T10:00:00Z')
  const app = await build(t, { overrides: { clock } })
  const tenant = async (name: string) => {
    const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name } })).json().id as string
    const user = async (role: string) => bearer((await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: role, email: `${role}@${name}.test` } })).json().apiKey)
    return { tenantId, ops: await user('ops'), controller: await user('controller') }
  }
  const a = await tenant('a')
  const b = await tenant('b')
  const campaign = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: a.ops, payload: { name: 'Renewals', timezone: 'Europe/London', retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'consent', callCap: { count: 2, perDays: 30 }, defaultCountry: 'GB' } })).json()
  const number = (i: number) => `020 7${String(1_000_000 + i)}`
  const e164 = (i: number) => normalizeNumber(number(i), 'GB')!
  const hash = (i: number) => hashNumber(app.config.numberHashKey, e164(i))

  // Tenant a: a register of every third number, opt-outs of every fifth (so every fifteenth is
  // on both), restrictions of every 97th, two recent attempts at every 11th (capped) and two at
  // every 13th of which one is older than the window (not capped).
  const N = 12_000
  const register = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 === 0).map(number).join('\n')
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions/import?source=registry&country=GB', headers: { ...a.ops, 'content-type': 'text/csv' }, payload: register })).json().added, N / 3)
  const optOuts = Array.from({ length: N }, (_, i) => i).filter((i) => i % 5 === 0).map(number).join('\n')
  await app.inject({ method: 'POST', url: '/api/suppressions/import?source=import&country=GB', headers: { ...a.ops, 'content-type': 'text/csv' }, payload: optOuts })
  for (let i = 0; i < N; i += 97) t.equal((await app.inject({ method: 'POST', url: '/api/dsr', headers: a.controller, payload: { type: 'restriction', number: e164(i) } })).statusCode, 201)
  const { db } = app.database
  for (let i = 0; i < N; i += 11) for (const daysAgo of [1, 2]) await recordAttempt(db, { tenantId: a.tenantId, campaignId: campaign.id, numberHash: hash(i), at: new Date(clock.now().getTime() - daysAgo * 86_400_000) })
  for (let i = 1; i < N; i += 13) for (const daysAgo of [1, 40]) await recordAttempt(db, { tenantId: a.tenantId, campaignId: campaign.id, numberHash: hash(i), at: new Date(clock.now().getTime() - daysAgo * 86_400_000) })
  // Tenant b opts out of every number: none of it may leak into a's screening.
  await app.inject({ method: 'POST', url: '/api/suppressions/import?source=import&country=GB', headers: { ...b.ops, 'content-type': 'text/csv' }, payload: Array.from({ length: N }, (_, i) => number(i)).join('\n') })
  t.equal(new Set(Array.from({ length: N }, (_, i) => hash(i)[0])).size, 16, 'the listed hashes fall in every sixteenth the set is read in')

  // Over 128 KiB, so the list is cut into chunks screened by different threads.
  const inputs = [...Array.from({ length: N }, (_, i) => number(i)), 'nonsense', '+1 202 555 0143', '0044 20 7946 0001']
  const csv = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: { ...a.ops, 'content-type': 'text/csv' }, payload: inputs.join('\r\n') + '\r\n' })
  t.equal(csv.statusCode, 200)
  const rows = csv.body.split('\r\n')
  t.equal(rows.shift(), 'input,number,result')
  t.equal(rows.pop(), '', 'the answer ends with a line end')
  const expected: string[] = []
  for (let at = 0; at < inputs.length; at += 5000) {
    const res = await app.inject({ method: 'POST', url: '/api/screen', headers: a.ops, payload: { campaignId: campaign.id, numbers: inputs.slice(at, at + 5000) } })
    for (const r of res.json().results as Array<{ input: string, number: string | null, callable: boolean, reason?: string }>) expected.push(`${csvCell(r.input)},${r.number ?? ''},${r.callable ? 'callable' : r.reason}`)
  }
  t.equal(rows.length, inputs.length, 'a row for every line, in order')
  const mismatches = rows.filter((row, i) => row !== expected[i])
  t.same(mismatches, [], 'every row as the per-number check answers it')
  const counts: Record<string, number> = {}
  for (const row of rows) { const result = row.slice(row.lastIndexOf(',') + 1); counts[result] = (counts[result] ?? 0) + 1 }
  t.ok(['callable', 'suppressed', 'registry', 'restricted', 'cap', 'invalid'].every((reason) => (counts[reason] ?? 0) > 0), `every reason occurs: ${JSON.stringify(counts)}`)
  t.equal(rows[15], `${number(15)},${e164(15)},suppressed`, 'on the register and opted out: suppressed wins')
  t.equal(rows[97 * 15], `${number(97 * 15)},${e164(97 * 15)},restricted`, 'restricted wins over both')
  t.equal(rows[1], `${number(1)},${e164(1)},callable`, 'one attempt within the window is under the cap')
  t.equal(rows[22], `${number(22)},${e164(22)},cap`)
})
