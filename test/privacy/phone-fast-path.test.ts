// The fast path of src/privacy/phone.ts replays libphonenumber-js's internals: it must give the
// library's answer wherever it answers at all, and step aside (answer undefined, so the library
// decides) whenever what it replays is not what is installed.
import { createRequire } from 'node:module'
import { getCountries } from 'libphonenumber-js/min'
import { Metadata, type MetadataJson } from 'libphonenumber-js/core'
import metadataJson from 'libphonenumber-js/min/metadata'
import t from 'tap'
import { createFastPath, fastNormalize, normalizeNumber, normalizeWithLibrary, REPLAYED_METADATA_FORMAT, REPLAYED_VERSION } from '../../src/privacy/phone.js'

const require = createRequire(import.meta.url)
const clone = (): Record<string, any> => JSON.parse(JSON.stringify(metadataJson))

/** normalizeNumber with the library alone (its own pre-processing of "00" kept). */
function reference (input: string, country: string | undefined): string | null {
  let text = input.trim()
  if (text.length === 0 || text.length > 40) return null
  if (country === undefined && /^00[1-9]/.test(text.replace(/[\s().-]/g, ''))) text = '+' + text.replace(/[\s().-]/g, '').slice(2)
  return normalizeWithLibrary(text, country)
}

t.test('the pinned release is the one replayed', async (t) => {
  t.equal(require('libphonenumber-js/package.json').version, REPLAYED_VERSION, 'installed')
  t.equal(require('../../package.json').dependencies['libphonenumber-js'], REPLAYED_VERSION, 'package.json pins it exactly')
  t.equal((metadataJson as unknown as { version: number }).version, REPLAYED_METADATA_FORMAT, 'its metadata layout')
  t.equal(fastNormalize('020 7946 0018', 'GB'), '+442079460018', 'so the fast path is on')
})

t.test('where the two could disagree, normalizeNumber gives the library\'s answer', async (t) => {
  // Numbers built around each country's own boundaries: every possible length and one either
  // side, with and without its national prefix, its calling code (with "+", "+cc 0", and without
  // "+"), IDD-like and prefix-like leading digits, spaces in odd places.
  // The typings leave out what selectNumberingPlan returns: itself, with the plan selected.
  const metadata = new Metadata(metadataJson as MetadataJson) as unknown as { selectNumberingPlan (c: string): { numberingPlan: { callingCode (): string, possibleLengths (): number[] | undefined, nationalPrefix (): string | undefined } } }
  let seed = 0x0bad5eed
  const random = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  const digits = (n: number) => Array.from({ length: Math.max(0, n) }, () => String(random(10))).join('')
  const spaced = (s: string) => s.replace(/\d/g, (d) => random(4) === 0 ? d + ' ' : d).trim()
  let checked = 0
  let fast = 0
  const mismatches: string[] = []
  for (const country of getCountries()) {
    const plan = metadata.selectNumberingPlan(country).numberingPlan
    const code = plan.callingCode()
    const lengths = plan.possibleLengths() ?? [8]
    const prefix = plan.nationalPrefix() ?? ''
    const leads = ['', '0', '00', '011', '1', '8', '810', code, prefix, prefix + prefix]
    for (let length = lengths[0]! - 1; length <= lengths[lengths.length - 1]! + 1; length++) {
      for (let i = 0; i < 4; i++) {
        const national = leads[random(leads.length)]! + digits(length)
        const shapes = [national, prefix + national, spaced(prefix + national), '+' + code + ' ' + national, '+' + code + ' 0 ' + national, '+' + code + national, code + national, '+' + spaced(code + national)]
        for (const text of shapes) {
          for (const defaultCountry of [country, undefined, 'GB', 'US']) {
            checked++
            if (fastNormalize(text.trim(), defaultCountry) !== undefined) fast++
            const got = normalizeNumber(text, defaultCountry)
            const want = reference(text, defaultCountry)
            if (got !== want) mismatches.push(`${JSON.stringify(text)} (${defaultCountry}): ${got} ≠ library ${want}`)
          }
        }
      }
    }
  }
  t.same(mismatches.slice(0, 20), [], `every answer is the library's (${checked} inputs)`)
  t.ok(fast > checked / 4, `the fast path answered ${fast} of ${checked} itself`)
})

t.test('the fast path steps aside when its assumptions break', async (t) => {
  const inputs: Array<[string, string | undefined]> = [['020 7946 0018', 'GB'], ['+49 30 1234567', undefined], ['2125550123', 'US'], ['12', 'DE']]
  const silent = (fast: ReturnType<typeof createFastPath>, why: string) => {
    t.same(inputs.map(([text, country]) => fast(text, country)), inputs.map(() => undefined), why)
  }
  t.same(inputs.map(([text, country]) => createFastPath(metadataJson, REPLAYED_VERSION)(text, country)), ['+442079460018', '+49301234567', '+12125550123', null], 'over the real metadata it answers')

  silent(createFastPath(metadataJson, '1.13.17'), 'another release of the library: every number is the library\'s')
  silent(createFastPath({ ...clone(), version: REPLAYED_METADATA_FORMAT + 1 }, REPLAYED_VERSION), 'another metadata layout')
  silent(createFastPath({ nothing: true }, REPLAYED_VERSION), 'metadata the library itself refuses')
  silent(createFastPath(null, REPLAYED_VERSION), 'no metadata')

  // One country's entry of an unexpected shape: that country defers, the others still answer.
  const odd = clone()
  odd.countries.GB[2] = 123 // the national number pattern, not a string
  odd.countries.DE[3] = 'seven' // possible lengths, not a list
  const partly = createFastPath(odd, REPLAYED_VERSION)
  t.equal(partly('020 7946 0018', 'GB'), undefined, 'a pattern that is not a string: GB is the library\'s')
  t.equal(partly('+44 20 7946 0018'), undefined, 'also when reached by calling code')
  t.equal(partly('030 1234567', 'DE'), undefined, 'lengths that are not a list: DE is the library\'s')
  t.equal(partly('2125550123', 'US'), '+12125550123', 'the United States still take the fast path')

  const broken = clone()
  broken.countries.FR[2] = '(' // a pattern that does not compile
  t.equal(createFastPath(broken, REPLAYED_VERSION)('01 23 45 67 89', 'FR'), undefined, 'a pattern that does not compile: deferred, not thrown')

  // The library answers differently from the replay on the built-in sample: the fast path turns itself off.
  const disagreeing = createFastPath(metadataJson, REPLAYED_VERSION, (text, country) => text === '020 7946 0018' ? '+440000000000' : normalizeWithLibrary(text, country))
  silent(disagreeing, 'a disagreement on the sample switches the whole fast path off')
  t.equal(normalizeNumber('020 7946 0018', 'GB'), '+442079460018', 'the module\'s own fast path agreed with the library when it loaded')
})
