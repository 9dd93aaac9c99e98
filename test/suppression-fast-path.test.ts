import { createHmac } from 'node:crypto'
import { getCountries } from 'libphonenumber-js/min'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { csvCell } from '../src/csv/cell.js'
import { hashNumber } from '../src/privacy/number-hash.js'
import { fastNormalize, normalizeNumber, normalizeWithLibrary } from '../src/privacy/phone.js'
import { admin, build } from './helper.js'

// The hand-picked corpus: national formats, spaces, the "+44 0" trunk prefix, IDD prefixes,
// numbers of countries sharing a calling code (GB/GG/IM/JE, the NANP), non-UK, and non-numbers.
const CORPUS = [
  '020 7946 0018', '02079460018', '2079460018', '07700 900123', '+44 20 7946 0018', '+442079460018',
  '+44 0 20 7946 0018', '+4402079460018', '+44 (0)20 7946 0018', '00442079460018', '0044 20 7946 0018',
  '442079460018', '44 20 7946 0018', '+44 1481 256789', '01481 256789', '01624 612345', '01534 612345',
  '+44 7624 123456', '+44 7781 123456', '0800 123 4567', '0845 464 1234', '0345 123 4567',
  '+1 212 555 0123', '2125550123', '1 212 555 0123', '+1 268 464 1234', '(212) 555-0123',
  '+49 30 1234567', '030 1234567', '+33 1 23 45 67 89', '01 23 45 67 89', '+679 604 4840', '06044840',
  '+61 2 9876 5432', '+7 495 123 45 67', '8 495 123 45 67', '+86 10 1234 5678', '+800 1234 5678',
  '+0 20 7946 0018', '+', '12', '123', '1234567', '+44', '+44 20', '+999 1234567', '0', '00', '000000',
  'not a number', '020 7946 0018 ext. 12', '020 7946 0018#', 'tel:+442079460018', '٠٢٠٧٩٤٦٠٠١٨',
  '020  7946 0018', ' 020 7946 0018 ', '+44 20 7946 0018 1234 5678 9012', '9'.repeat(20), '0'.repeat(40)
]
const COUNTRIES = ['GB', 'JE', 'IM', 'GG', 'US', 'CA', 'AG', 'DE', 'FR', 'FJ', 'AU', 'RU', 'KZ', 'BR', 'AR', 'MX', 'IT', null]

/** normalizeNumber as it was before the fast path: libphonenumber-js for every number. */
function reference (input: string, defaultCountry: string | null): string | null {
  let text = input.trim()
  if (text.length === 0 || text.length > 40) return null
  if (defaultCountry === null && /^00[1-9]/.test(text.replace(/[\s().-]/g, ''))) text = '+' + text.replace(/[\s().-]/g, '').slice(2)
  return normalizeWithLibrary(text, defaultCountry)
}

t.test('the fast path and libphonenumber-js agree on the corpus', async (t) => {
  let fast = 0
  for (const country of COUNTRIES) {
    for (const input of CORPUS) {
      t.equal(normalizeNumber(input, country), reference(input, country), `${JSON.stringify(input)} (${country})`)
      const text = input.trim()
      const f = fastNormalize(text, country ?? undefined)
      if (f !== undefined) {
        fast++
        t.equal(f, normalizeWithLibrary(text, country), `fast path: ${JSON.stringify(input)} (${country})`)
      }
    }
  }
  t.ok(fast > CORPUS.length * 3, `the fast path answered ${fast} of ${CORPUS.length * COUNTRIES.length}`)
  // The shapes a list is made of take the fast path; the rest are the library's.
  t.equal(fastNormalize('020 7946 0018', 'GB'), '+442079460018')
  t.equal(fastNormalize('+442079460018'), '+442079460018')
  t.equal(fastNormalize('+44 0 20 7946 0018'), '+442079460018', 'the trunk 0 after +44 goes, as the library drops it')
  t.equal(fastNormalize('+1 212 555 0123'), '+12125550123')
  t.equal(fastNormalize('00442079460018', 'GB'), undefined, 'an IDD prefix is left to the library')
  t.equal(fastNormalize('442079460018', 'GB'), undefined, 'so is a calling code without +')
  t.equal(fastNormalize('(212) 555-0123', 'US'), undefined, 'and punctuation other than single spaces')
  t.equal(normalizeNumber('00442079460018', 'GB'), '+442079460018')
})

t.test('the fast path and libphonenumber-js agree on random numbers of every country', async (t) => {
  let seed = 0x5eed
  const random = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  const countries = getCountries()
  let fast = 0
  let mismatches = 0
  const N = 60_000
  for (let i = 0; i < N; i++) {
    const country = random(12) === 0 ? undefined : countries[random(countries.length)]!
    let text = Array.from({ length: 3 + random(15) }, () => String(random(10))).join('')
    switch (random(5)) {
      case 0: text = '+' + text; break
      case 1: text = '0' + text; break
      case 2: text = text.replace(/(\d{3})(?=\d)/g, '$1 '); break
      case 3: text = '+' + text.slice(0, 2) + ' ' + text.slice(2); break
    }
    const f = fastNormalize(text, country)
    if (f === undefined) continue
    fast++
    const expected = normalizeWithLibrary(text, country)
    if (f !== expected && mismatches++ < 10) t.fail(`${text} (${country}): fast ${f}, library ${expected}`)
  }
  t.equal(mismatches, 0)
  t.ok(fast > N / 2, `the fast path answered ${fast} of ${N}`)
})

t.test('the number hash is HMAC-SHA-256 of the E.164 form under the given key', async (t) => {
  for (const key of ['first-key', 'second-key', 'first-key']) {
    t.equal(hashNumber(key, '+442079460018'), createHmac('sha256', key).update('+442079460018').digest('hex'), key)
  }
  t.not(hashNumber('first-key', '+442079460018'), hashNumber('second-key', '+442079460018'))
  t.equal(hashNumber('k', ' +442079460018 '), hashNumber('k', '+442079460018'))
})

t.test('import and screening over several batches', async (t) => {
  const app = await build(t)
  const tenantId = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Batches' } })).json().id
  const campaign = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: admin, payload: { tenantId, name: 'B', timezone: 'UTC', retention: { recordingsDays: 30, callLogDays: 90, redactAfterDays: 30 }, lawfulBasis: 'consent', callCap: { count: 3, perDays: 30 }, defaultCountry: 'GB' } })).json()
  const COUNT = 20_100 // more than two batches of import and of screening, and enough added rows to vacuum after
  const national = (i: number) => `020 7${String(1_000_000 + i).slice(1, 4)} ${String(1_000_000 + i).slice(4)}`
  const lines: string[] = ['number']
  const invalidAt: number[] = []
  for (let i = 0; i < COUNT; i++) {
    // Every other number on the list, in a mix of the shapes a register file uses.
    if (i % 2 === 0) lines.push(i % 4 === 0 ? national(i) : `+44 20 7${String(1_000_000 + i).slice(1)}`)
    if (i % 1000 === 7) { lines.push('not a number'); invalidAt.push(lines.length) }
    if (i % 1000 === 8) lines.push(national(i - 8)) // a repeat within the file
  }
  const imported = await app.inject({ method: 'POST', url: `/api/suppressions/import?source=registry&country=GB&tenantId=${tenantId}`, headers: { ...admin, 'content-type': 'text/csv' }, payload: lines.join('\n') + '\n' })
  t.equal(imported.statusCode, 200)
  const repeats = lines.length - 1 - invalidAt.length - Math.ceil(COUNT / 2)
  t.same(imported.json(), { lines: lines.length, added: Math.ceil(COUNT / 2), alreadyPresent: repeats, invalid: invalidAt.length, invalidLines: invalidAt })
  if (app.database.kind === 'pglite') {
    const stats = await app.database.db.execute(sql`select last_vacuum, last_analyze from pg_stat_user_tables where relname = 'suppressions'`) as unknown as { rows: Array<{ last_vacuum: unknown, last_analyze: unknown }> }
    t.ok(stats.rows[0]?.last_vacuum != null && stats.rows[0]?.last_analyze != null, 'the embedded database vacuumed and analysed the list after a large import')
  }

  const inputs = Array.from({ length: COUNT }, (_, i) => (i % 3 === 0 ? `+4420 7${String(1_000_000 + i).slice(1)}` : national(i)))
  inputs.splice(5000, 0, 'nonsense')
  const screened = await app.inject({ method: 'POST', url: `/api/screen?campaignId=${campaign.id}`, headers: { ...admin, 'content-type': 'text/csv' }, payload: inputs.join('\n') })
  const rows = screened.body.trim().split('\r\n')
  t.equal(rows.shift(), 'input,number,result')
  t.equal(rows.length, inputs.length, 'one answer per line, none dropped')
  let wrong = 0
  rows.forEach((row, k) => {
    const i = k > 5000 ? k - 1 : k
    const expected = k === 5000 ? 'nonsense,,invalid' : `${csvCell(inputs[k]!)},+44207${String(1_000_000 + i).slice(1)},${i % 2 === 0 ? 'registry' : 'callable'}`
    if (row !== expected && wrong++ < 5) t.equal(row, expected, `line ${k + 1}`)
  })
  t.equal(wrong, 0, 'every number answered in order, listed ones as registry and the others callable')
})
