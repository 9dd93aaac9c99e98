// What the lists say about one number, as bits: the database probe (screenNumbers) and the
// in-memory set of a bulk screening (ScreeningSet) both reduce to these, and one function decides.
export const SUPPRESSED = 1 // an opt-out given to this client: IVR, API or import
export const REGISTRY = 2 // a national do-not-call register
export const RESTRICTED = 4 // a data-subject restriction
export const CAPPED = 8 // the campaign's attempts for the number have reached its cap

export type NotCallableReason = 'invalid' | 'restricted' | 'suppressed' | 'registry' | 'cap'

/** The first reason that applies wins: restricted, suppressed, registry, cap. Undefined: callable. */
export function verdict (flags: number): Exclude<NotCallableReason, 'invalid'> | undefined {
  if ((flags & RESTRICTED) !== 0) return 'restricted'
  if ((flags & SUPPRESSED) !== 0) return 'suppressed'
  if ((flags & REGISTRY) !== 0) return 'registry'
  if ((flags & CAPPED) !== 0) return 'cap'
  return undefined
}
