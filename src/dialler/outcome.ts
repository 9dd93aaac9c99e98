import type { ContactStatus, DialOutcome, DiallerSettings } from '../db/schema.js'

/** What Twilio's final status callback says of an outbound call. */
export interface CallEnd {
  /** CallStatus: completed, busy, no-answer, failed, canceled. */
  status: string
  /** AnsweredBy, when machine detection ran: human, machine_start, machine_end_beep, fax, unknown… */
  answeredBy: string | null
  /** The flow ran at least one step (a person who answered heard it). */
  flowRan: boolean
  /** The callee opted out during the call. */
  optedOut: boolean
}

/**
 * The attempt's outcome. An opt-out wins over everything; a call answered by a person (or by
 * someone detection could not tell) that no flow step ever reached is abandoned: the callee
 * picked up and nobody spoke to them (Ofcom's definition of an abandoned call).
 */
export function outcomeOf (end: CallEnd): DialOutcome {
  if (end.optedOut) return 'optedOut'
  const answeredBy = end.answeredBy ?? ''
  if (answeredBy.startsWith('machine') || answeredBy === 'fax') return 'machine'
  switch (end.status) {
    case 'completed': return end.flowRan ? 'human' : 'abandoned'
    case 'busy': return 'busy'
    case 'no-answer': return 'noAnswer'
    default: return 'failed'
  }
}

/** An abandoned contact is not called again within this time (Ofcom: 72 hours). */
export const ABANDONED_QUIET_MS = 72 * 3600_000

/**
 * How an outcome moves its contact on, as data: the statement that settles the attempt applies it
 * (db/dial-attempts.ts), against the contact's attempts and the campaign's settings as they are
 * then. `exhaustible`: at `maxAttempts` the contact is `exhausted` instead; `retryAfter`: the
 * delay of `retryAfterSeconds` before the next attempt, at least `minDelayMs`.
 */
export interface ContactRule {
  status: ContactStatus
  exhaustible: boolean
  retryAfter: keyof DiallerSettings['retryAfterSeconds'] | null
  minDelayMs: number
}

export function contactRule (outcome: DialOutcome): ContactRule {
  switch (outcome) {
    case 'human': return { status: 'completed', exhaustible: false, retryAfter: null, minDelayMs: 0 }
    case 'optedOut': return { status: 'suppressed', exhaustible: false, retryAfter: null, minDelayMs: 0 }
    case 'abandoned': return { status: 'scheduled', exhaustible: true, retryAfter: 'noAnswer', minDelayMs: ABANDONED_QUIET_MS }
    default: return { status: 'scheduled', exhaustible: true, retryAfter: outcome, minDelayMs: 0 }
  }
}

/** Abandoned calls as a percentage of the calls a person answered (abandoned ones included). */
export function abandonRate (counts: { human: number, abandoned: number, optedOut: number }): number {
  const live = counts.human + counts.abandoned + counts.optedOut
  return live === 0 ? 0 : Math.round(10_000 * counts.abandoned / live) / 100
}
