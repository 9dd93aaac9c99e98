import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/min'

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
  const parsed = parsePhoneNumberFromString(text, (defaultCountry ?? undefined) as CountryCode | undefined)
  return parsed !== undefined && parsed.isPossible() ? parsed.number : null
}
