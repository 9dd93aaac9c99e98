import { createRequire } from 'node:module'
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/min'
import { Metadata, parsePhoneNumberFromString as parseWithMetadata, type MetadataJson } from 'libphonenumber-js/core'
import metadataJson from 'libphonenumber-js/min/metadata'

/**
 * The E.164 form of a number as people write it: "020 7946 0018" (with the campaign's default
 * country), "+44 (0)20 7946 0018", "00442079460018". null when it cannot be a phone number.
 * Possible rather than valid: a do-not-call list must match numbers in ranges the metadata
 * does not know yet.
 */
export function normalizeNumber (input: string, defaultCountry?: string | null): string | null {
  let text = input.trim()
  if (text.length === 0 || text.length > 40) return null
  // "00" is the international prefix in most of the world; without a country it means "+".
  if ((defaultCountry === undefined || defaultCountry === null) && /^00[1-9]/.test(text.replace(/[\s().-]/g, ''))) {
    text = '+' + text.replace(/[\s().-]/g, '').slice(2)
  }
  const fast = fastNormalize(text, defaultCountry ?? undefined)
  return fast !== undefined ? fast : normalizeWithLibrary(text, defaultCountry)
}

/** The reference path: libphonenumber-js itself. Exported so tests can hold the fast path to it. */
export function normalizeWithLibrary (text: string, defaultCountry?: string | null): string | null {
  const parsed = parsePhoneNumberFromString(text, (defaultCountry ?? undefined) as CountryCode | undefined)
  return parsed !== undefined && parsed.isPossible() ? parsed.number : null
}

// Fast path. libphonenumber-js spends ~15 µs a number, most of it rebuilding regular
// expressions from metadata strings on every call; at a million numbers that is the whole budget
// of a screening run. For the plain shapes lists are made of — digits with single spaces, optionally
// after "+" — the steps `parsePhoneNumberFromString(…).isPossible()` takes are replayed below over
// the same metadata with the expressions compiled once. Each step names the library function it
// mirrors (libphonenumber-js 1.13, es6/). Where the library would branch into anything else
// (an IDD prefix, a calling code written without "+", a national-prefix transform or carrier
// code, a verdict that depends on which of several countries sharing a calling code the number
// belongs to), the fast path answers undefined and the library decides. test/suppression-fast-path.test.ts
// and test/privacy/phone-fast-path.test.ts hold the two to the same answers.
//
// It fails closed: the replay is of one release (package.json pins it exactly), so with any other
// installed release, another metadata layout, a field of an unexpected type, an exception, or a
// disagreement with the library on a built-in sample checked when the module loads, it answers
// undefined and every number goes to the library.

/** The libphonenumber-js release whose internals the fast path replays (package.json pins it). */
export const REPLAYED_VERSION = '1.13.16'
/** The metadata layout that release reads (metadata.min.json's "version"). */
export const REPLAYED_METADATA_FORMAT = 4

type LengthVerdict = 'IS_POSSIBLE' | 'TOO_SHORT' | 'TOO_LONG' | 'INVALID_LENGTH'
interface Plan {
  callingCode: string
  idd: RegExp
  nationalPrefix: RegExp | null
  nationalNumberPattern: RegExp
  hasPossibleLengths: boolean
  /** By national-number length: true/false when every candidate country agrees, undefined when they differ. */
  incompleteOk: Array<boolean | undefined>
  possible: Array<boolean | undefined>
}

interface RawNumberingPlan {
  callingCode (): string
  IDDPrefix (): string
  nationalPrefixForParsing (): string | 0 | undefined
  nationalNumberPattern (): string
  possibleLengths (): number[] | undefined
}
interface RawMetadata {
  selectNumberingPlan (countryOrCallingCode: string): RawMetadata
  numberingPlan: RawNumberingPlan
  hasCountry (country: string): boolean
  hasCallingCode (callingCode: string): boolean
  getCountryCodesForCallingCode (callingCode: string): string[] | undefined
  getCountryCodeForCallingCode (callingCode: string): string | undefined
}

const MIN_LENGTH_FOR_NSN = 2 // constants.js
const MAX_LENGTH_FOR_NSN = 17
const MAX_LENGTH_COUNTRY_CODE = 3
const MAX_INPUT = 40 // normalizeNumber's own bound on the text
const SIMPLE = /^\+?\d+(?: \d+)*$/

/** checkNumberLength.js (checkNumberLengthForType without a type). */
function checkNumberLength (length: number, possibleLengths: number[] | undefined): LengthVerdict {
  if (possibleLengths === undefined) return 'IS_POSSIBLE'
  const minimum = possibleLengths[0]!
  if (minimum === length) return 'IS_POSSIBLE'
  if (minimum > length) return 'TOO_SHORT'
  if (possibleLengths[possibleLengths.length - 1]! < length) return 'TOO_LONG'
  return possibleLengths.indexOf(length, 1) >= 0 ? 'IS_POSSIBLE' : 'INVALID_LENGTH'
}

const agree = (values: boolean[]) => values.every((v) => v === values[0]) ? values[0] : undefined

export type FastPath = (text: string, defaultCountry?: string) => string | null | undefined
type Reference = (text: string, defaultCountry?: string) => string | null
const deferAll: FastPath = () => undefined

/** libphonenumber-js's own answer over the given metadata (the core build takes it as an argument). */
const referenceFor = (json: MetadataJson): Reference => (text, defaultCountry) => {
  const parsed = parseWithMetadata(text, { defaultCountry: defaultCountry as CountryCode | undefined }, json)
  return parsed !== undefined && parsed.isPossible() ? parsed.number : null
}

const isDigits = (v: unknown): v is string => typeof v === 'string' && /^[0-9]{1,3}$/.test(v)
const isLengths = (v: unknown): v is number[] | undefined => v === undefined || (Array.isArray(v) && v.length > 0 && v.every((n, i) => Number.isInteger(n) && n > 0 && (i === 0 || n > v[i - 1])))

// Shapes the fast path answers, in countries with and without a national prefix, sharing a calling
// code or not: checked against the library when a fast path is made.
const SAMPLE: Array<[string, string | undefined]> = [
  ['020 7946 0018', 'GB'], ['07700 900123', 'GB'], ['+44 20 7946 0018', undefined], ['+44 0 20 7946 0018', undefined],
  ['01481 256789', 'GG'], ['+44 7624 123456', undefined], ['2125550123', 'US'], ['+1 212 555 0123', undefined],
  ['+1 268 464 1234', undefined], ['030 1234567', 'DE'], ['+49 30 1234567', undefined], ['01 23 45 67 89', 'FR'],
  ['+679 604 4840', undefined], ['+61 2 9876 5432', undefined], ['+7 495 123 45 67', undefined], ['12', 'GB'],
  ['1234567', 'GB'], ['+44 20', undefined], ['999999999999999999', 'DE'], ['+999 1234567', undefined]
]

/**
 * A fast path over `json`, or one that always defers when anything differs from what it replays.
 * `reference` is the library's answer it must agree with on SAMPLE (tests pass another to see it
 * turn itself off).
 */
export function createFastPath (json: unknown, libraryVersion: string, reference: Reference = referenceFor(json as MetadataJson)): FastPath {
  if (libraryVersion !== REPLAYED_VERSION || (json as { version?: unknown } | null)?.version !== REPLAYED_METADATA_FORMAT) return deferAll
  let metadata: RawMetadata
  try {
    metadata = new Metadata(json as MetadataJson) as unknown as RawMetadata
  } catch {
    return deferAll
  }
  const plans = new Map<string, Plan | null>()
  const mainCountries = new Map<string, string | null>()

  /** The numbering plan of a country, with the country's calling-code siblings folded into the length verdicts. */
  function planFor (country: string): Plan | null {
    let plan = plans.get(country)
    if (plan !== undefined) return plan
    try {
      plan = readPlan(country)
    } catch {
      // A field of another type than the replay reads (or a pattern that does not compile): the library's.
      plan = null
    }
    plans.set(country, plan)
    return plan
  }

  function readPlan (country: string): Plan | null {
    if (!metadata.hasCountry(country)) return null
    const own = metadata.selectNumberingPlan(country).numberingPlan
    const callingCode: unknown = own.callingCode()
    const idd: unknown = own.IDDPrefix()
    // Absent fields are 0 in the compressed metadata: the library tests them for truthiness.
    const prefix: unknown = own.nationalPrefixForParsing()
    const pattern: unknown = own.nationalNumberPattern()
    const ownLengths: unknown = own.possibleLengths()
    if (!isDigits(callingCode) || typeof idd !== 'string' || typeof pattern !== 'string' || !isLengths(ownLengths) ||
      !(prefix === undefined || prefix === 0 || prefix === '' || typeof prefix === 'string')) return null
    const siblings = metadata.getCountryCodesForCallingCode(callingCode)
    if (!Array.isArray(siblings)) return null
    // getCountryByCallingCode may settle on any sibling, or on none (then this plan stays selected).
    const lengths: unknown[] = [...new Set([country, ...siblings])].map((c) => metadata.selectNumberingPlan(c).numberingPlan.possibleLengths())
    if (!lengths.every(isLengths)) return null
    const verdicts = (ok: (v: LengthVerdict) => boolean) => Array.from({ length: MAX_INPUT + 1 }, (_, n) => agree(lengths.map((l) => ok(checkNumberLength(n, l as number[] | undefined)))))
    return {
      callingCode,
      idd: new RegExp(idd),
      nationalPrefix: !prefix ? null : new RegExp('^(?:' + prefix + ')'),
      nationalNumberPattern: new RegExp('^(?:' + pattern + ')$'),
      hasPossibleLengths: Boolean(ownLengths),
      incompleteOk: verdicts((v) => v !== 'TOO_SHORT' && v !== 'INVALID_LENGTH'),
      possible: verdicts((v) => v === 'IS_POSSIBLE')
    }
  }

  /** The country whose plan metadata.selectNumberingPlan(callingCode) selects; null for non-geographic codes. */
  function mainCountry (callingCode: string): string | null {
    let country = mainCountries.get(callingCode)
    if (country === undefined) {
      country = metadata.getCountryCodeForCallingCode(callingCode) ?? null
      mainCountries.set(callingCode, country)
    }
    return country
  }

  const replay = (text: string, defaultCountry?: string): string | null | undefined => {
    if (!SIMPLE.test(text)) return undefined
    // parseIncompletePhoneNumber: spaces are punctuation and go; digits and a leading "+" stay.
    // With ≥ 3 digits the text is viable (isViablePhoneNumber) and carries no extension (every
    // extension form needs a label or a mark: "ext", "x", "#", ";", ",").
    const digits = text.includes(' ') ? text.replaceAll(' ', '') : text
    const international = digits.startsWith('+')
    const number = international ? digits.slice(1) : digits
    if (number.length < 3) return undefined
    let plan: Plan | null
    let rest: string
    if (international) {
      // extractCountryCallingCode: "+0…" is no number; else the shortest known calling code.
      if (number[0] === '0') return undefined
      let callingCode: string | undefined
      for (let i = 1; i <= MAX_LENGTH_COUNTRY_CODE && i < number.length; i++) {
        if (metadata.hasCallingCode(number.slice(0, i))) { callingCode = number.slice(0, i); break }
      }
      if (callingCode === undefined) return undefined
      const main = mainCountry(callingCode)
      if (main === null) return undefined
      plan = planFor(main)
      rest = number.slice(callingCode.length)
    } else {
      if (defaultCountry === undefined) return undefined
      plan = planFor(defaultCountry)
      if (plan === null) return undefined
      // stripIddPrefix and extractCountryCallingCodeFromInternationalNumberWithoutPlusSign would
      // look further at these.
      if (number.search(plan.idd) === 0 || number.startsWith(plan.callingCode)) return undefined
      rest = number
    }
    if (plan === null) return undefined
    // extractNationalNumber → extractNationalNumberFromPossiblyIncompleteNumber.
    let national = rest
    if (plan.nationalPrefix !== null) {
      const match = plan.nationalPrefix.exec(rest)
      if (match !== null) {
        const groups = match.length - 1
        // A captured group means a transform rule or a carrier code: left to the library.
        if (groups > 0 && match[groups] !== undefined && match[groups] !== '') return undefined
        national = rest.slice(match[0].length)
      }
    }
    if (national !== rest) {
      // shouldHaveExtractedNationalPrefix, then isPossibleIncompleteNationalNumber.
      if (plan.nationalNumberPattern.test(rest) && !plan.nationalNumberPattern.test(national)) {
        national = rest
      } else if (plan.hasPossibleLengths) {
        const ok = plan.incompleteOk[national.length]
        if (ok === undefined) return undefined
        if (!ok) national = rest
      }
    }
    // parse.js: the national (significant) number's length bounds; then PhoneNumber.isPossible().
    if (national.length < MIN_LENGTH_FOR_NSN || national.length > MAX_LENGTH_FOR_NSN) return null
    const possible = plan.possible[national.length]
    if (possible === undefined) return undefined
    return possible ? '+' + plan.callingCode + national : null
  }

  const guarded: FastPath = (text, defaultCountry) => {
    try {
      return replay(text, defaultCountry)
    } catch {
      return undefined
    }
  }
  for (const [text, country] of SAMPLE) {
    const answer = guarded(text, country)
    if (answer !== undefined && answer !== reference(text, country)) return deferAll
  }
  return guarded
}

const libraryVersion = (createRequire(import.meta.url)('libphonenumber-js/package.json') as { version: string }).version

/** The E.164 form, null if not a possible number, undefined when only the library can tell. */
export const fastNormalize: FastPath = createFastPath(metadataJson, libraryVersion, normalizeWithLibrary)
