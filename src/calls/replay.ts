import type { CallSnapshot } from '../db/step-sql.js'
import type { FlowInput } from '../flows/index.js'

/**
 * Twilio retries a webhook it got no answer to (timeout, connection reset), with the same URL
 * and body (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides). So the
 * webhook steps of a call are numbered: /twilio/voice applies step 1, and every flow URL a step
 * emits carries that step's number (`&step=N`), so the request Twilio posts to it applies step
 * N + 1. A request whose step was already applied is a repeat, answered without running the
 * flow again (no second event, consent or suppression).
 *
 * - `new`: not applied yet (or a URL without `step`, emitted by an older version or made by
 *   hand): the flow runs, as it always did; the engine still refuses a node the call is not
 *   waiting at.
 * - `last`: a repeat of the call's last step, whose TwiML is stored: answered with it again,
 *   byte for byte (the same stream token, derived again: see stream-token.ts; the same action
 *   URLs), since this may be the answer Twilio never received.
 * - `older`: a repeat of an earlier step. Twilio acts only on the answer to its last attempt,
 *   and the call can only have moved on through an answer Twilio got, so nobody acts on this
 *   one: it is answered with what can neither dial nor stream nor speak twice (an empty
 *   <Response/>).
 */
export type Repeat = 'new' | 'last' | 'older'

/** The number the step applied by the request now being handled will have. */
export const nextStep = (call: Pick<CallSnapshot, 'lastStep'>): number => call.lastStep + 1

export function repeatOf (call: Pick<CallSnapshot, 'lastStep' | 'lastTwiml' | 'state'>, input: FlowInput, step: number | undefined): Repeat {
  // The start is step 1; a call started by a version that did not number its steps has steps
  // in its state but no stored answer.
  const applies = input.kind === 'start' ? 1 : step === undefined ? undefined : step + 1
  if (applies === undefined) return 'new'
  if (input.kind === 'start' && call.lastStep === 0 && call.state.steps > 0) return 'older'
  if (applies > call.lastStep) return 'new'
  return applies === call.lastStep && call.lastTwiml !== null ? 'last' : 'older'
}
