import { appendEvents, insertConsent, insertStreamToken, saveCallState, type EventRow, type LockedCall, type StepWrite } from '../db/calls.js'
import { addSuppression } from '../db/suppressions.js'
import type { Executor } from '../db/executor.js'
import type { FlowInput, StepResult } from '../flows/index.js'
import { nextStep } from './replay.js'
import { tokenHash, twimlAtRest } from './stream-token.js'

export class OptOutNotStorable extends Error {}

/**
 * Writes what one engine step did: consent evidence, opt-outs, stream tokens, events and the new
 * call state. Runs inside the call's transaction, before the TwiML goes back to Twilio, so a
 * caller never hears a confirmation of something that was not stored.
 */
export async function persistStep (tx: Executor, call: LockedCall, result: StepResult, at: Date): Promise<void> {
  const events: EventRow[] = []
  for (const effect of result.effects) {
    switch (effect.type) {
      case 'logEvent':
        events.push({ node: effect.node, input: effect.input ?? null, outcome: effect.outcome })
        break
      case 'recordConsent':
        await insertConsent(tx, {
          tenantId: call.tenantId,
          callId: call.id,
          callSid: call.callSid,
          remoteHash: call.remoteHash,
          campaignId: call.campaignId,
          flowId: call.flowId,
          flowVersion: call.flowVersion,
          node: effect.node,
          prompt: effect.prompt,
          digits: effect.digits,
          decision: effect.decision,
          granted: effect.granted,
          method: 'ivr',
          at
        })
        break
      case 'suppress':
        // A withheld or non-phone caller id cannot be matched when dialling later: claiming the
        // opt-out was stored would be a false promise.
        if (call.remoteWithheld) {
          throw new OptOutNotStorable('the caller id is not a phone number')
        }
        await suppressCaller(tx, call, at)
        break
      case 'startRecording':
        await insertStreamToken(tx, { tokenHash: tokenHash(effect.token), tenantId: call.tenantId, callSid: call.callSid, at })
        break
      case 'stopRecording':
      case 'dial':
      case 'hangup':
        break
      default: {
        const never: never = effect
        throw new Error(`unknown effect ${JSON.stringify(never)}`)
      }
    }
  }
  const seq = await appendEvents(tx, call, events, at)
  await saveCallState(tx, call.id, result.nextState, seq, result.nextState.ended ? 'ended' : 'in-progress', { step: nextStep(call), twiml: twimlAtRest(result) })
}

/**
 * A step that arrived after Twilio's terminal status callback (callbacks are not ordered: a
 * caller who presses 9 and hangs up at once can be reported `completed` before the menu's
 * request is handled). Nothing the step asks for can happen on a call that is over: no stream
 * (its consent tokens are already expired), no dial, no new state or status.
 *
 * Except an opt-out. An objection to being called is the caller's decision, made during the call
 * and not undone by the line dropping (GDPR Art. 21(3): the data must no longer be processed for
 * that purpose), so the suppression in `result` is stored — only it, not consent evidence for a
 * call that can no longer be recorded. The step is numbered and its answer kept like any other,
 * so Twilio's retry of it writes nothing twice.
 */
export async function persistLateStep (tx: Executor, call: LockedCall, input: FlowInput, result: StepResult, twiml: string, at: Date): Promise<void> {
  const digits = input.kind === 'resume' && input.digits !== undefined && input.digits !== '' ? input.digits : null
  const events: EventRow[] = [{ node: input.kind === 'resume' ? input.node : null, input: digits, outcome: 'ignored-call-ended' }]
  for (const effect of result.effects) {
    if (effect.type !== 'suppress') continue
    if (call.remoteWithheld) {
      events.push({ node: effect.node, input: null, outcome: 'optout-not-stored' })
      continue
    }
    await suppressCaller(tx, call, at)
    events.push({ node: effect.node, input: null, outcome: 'suppressed' })
  }
  const seq = await appendEvents(tx, call, events, at)
  await saveCallState(tx, call.id, call.state, seq, null, { step: nextStep(call), twiml })
}

async function suppressCaller (tx: Executor, call: LockedCall, at: Date): Promise<void> {
  await addSuppression(tx, { tenantId: call.tenantId, numberHash: call.remoteHash, source: 'ivr', reason: 'opted out in the IVR', callSid: call.callSid, at })
}

/**
 * persistStep's writes as one statement's data (db/calls.ts writeStepRaw), or null for a step
 * that opts the caller out: that one takes persistStep's path, which knows about suppressions.
 */
export function stepWrite (call: LockedCall, result: StepResult): StepWrite | null {
  const write: StepWrite = {
    events: [],
    consents: [],
    streamTokenHashes: [],
    state: result.nextState,
    status: result.nextState.ended ? 'ended' : 'in-progress',
    step: nextStep(call),
    twiml: twimlAtRest(result)
  }
  for (const effect of result.effects) {
    switch (effect.type) {
      case 'logEvent':
        write.events.push({ node: effect.node, input: effect.input ?? null, outcome: effect.outcome })
        break
      case 'recordConsent':
        write.consents.push({ node: effect.node, prompt: effect.prompt, digits: effect.digits, decision: effect.decision, granted: effect.granted })
        break
      case 'startRecording':
        write.streamTokenHashes.push(tokenHash(effect.token))
        break
      case 'suppress':
        return null
      case 'stopRecording':
      case 'dial':
      case 'hangup':
        break
      default: {
        const never: never = effect
        throw new Error(`unknown effect ${JSON.stringify(never)}`)
      }
    }
  }
  return write
}
