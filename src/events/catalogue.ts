import type { DialOutcome } from '../db/schema.js'

// The events the customer's systems are told of, and what each carries (DESIGN, "Events to the
// customer's systems"). Ids, outcomes and references only: never a phone number, audio or a token.
export interface EventData {
  'call.started': { callSid: string, campaignId: string | null, direction: string }
  'consent.recorded': { callSid: string, decision: string, node: string, flowVersion: number | null }
  'optout.recorded': { callSid: string, campaignId: string | null }
  'recording.stored': { recordingId: string, callSid: string, durationSeconds: number | null, sha256: string | null }
  'recording.deleted': { recordingId: string, reason: string }
  'call.completed': { callSid: string, status: string, durationSeconds: number | null }
  'contact.completed': { campaignId: string, contactId: string, reference: string | null, outcome: DialOutcome }
  'dsr.completed': { dsrId: string, type: string }
}
export type EventType = keyof EventData

export const EVENT_TYPES = [
  'call.started', 'consent.recorded', 'optout.recorded', 'recording.stored', 'recording.deleted', 'call.completed', 'contact.completed', 'dsr.completed'
] as const satisfies readonly EventType[]
// Every type of EventData is listed above (registration accepts only those): a type added there
// and not here fails to compile.
const everyTypeListed: Exclude<EventType, typeof EVENT_TYPES[number]> extends never ? true : never = true
void everyTypeListed

/** One event of the catalogue, typed by its name. */
export type DomainEvent = { [K in EventType]: { type: K, data: EventData[K] } }[EventType]

/** An event as emit() writes it: whose it is, when, and the call it belongs to (orders delivery). */
export type Emitted = DomainEvent & { tenantId: string, at: Date }

/** The call an event is about, if any: a call's events reach an endpoint in order. */
export function callOf (event: DomainEvent): string | null {
  return 'callSid' in event.data ? event.data.callSid : null
}
