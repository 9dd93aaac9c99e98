import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/min'
import { Metadata } from 'libphonenumber-js/core'
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
// holds the two to the same answers (on a corpus and on random numbers of every country), so a
// library upgrade that changes behaviour fails there.

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
const metadata = new Metadata(metadataJson) as unknown as RawMetadata
const plans = new Map<string, Plan | null>()
const mainCountries = new Map<string, string | null>()

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

/** The numbering plan of a country, with the country's calling-code siblings folded into the length verdicts. */
function planFor (country: string): Plan | null {
  let plan = plans.get(country)
  if (plan !== undefined) return plan
  plan = null
  if (metadata.hasCountry(country)) {
    const own = metadata.selectNumberingPlan(country).numberingPlan
    const callingCode = own.callingCode()
    const siblings = metadata.getCountryCodesForCallingCode(callingCode)
    if (siblings !== undefined) {
      // getCountryByCallingCode may settle on any sibling, or on none (then this plan stays selected).
      const lengths = [...new Set([country, ...siblings])].map((c) => metadata.selectNumberingPlan(c).numberingPlan.possibleLengths())
      const verdicts = (ok: (v: LengthVerdict) => boolean) => Array.from({ length: MAX_INPUT + 1 }, (_, n) => agree(lengths.map((l) => ok(checkNumberLength(n, l)))))
      // Absent fields are 0 in the compressed metadata: the library tests them for truthiness.
      const prefix = own.nationalPrefixForParsing()
      plan = {
        callingCode,
        idd: new RegExp(own.IDDPrefix()),
        nationalPrefix: !prefix ? null : new RegExp('^(?:' + prefix + ')'),
        nationalNumberPattern: new RegExp('^(?:' + own.nationalNumberPattern() + ')$'),
        hasPossibleLengths: Boolean(own.possibleLengths()),
        incompleteOk: verdicts((v) => v !== 'TOO_SHORT' && v !== 'INVALID_LENGTH'),
        possible: verdicts((v) => v === 'IS_POSSIBLE')
      }
    }
  }
  plans.set(country, plan)
  return plan
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

/** The E.164 form, null if not a possible number, undefined when only the library can tell. */
export function fastNormalize (text: string, defaultCountry?: string): string | null | undefined {
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
