import { createHash } from 'node:crypto'
import { appendEvents, insertConsent, insertStreamToken, saveCallState, type EventRow, type LockedCall } from '../db/calls.js'
import { addSuppression } from '../db/suppressions.js'
import type { Executor } from '../db/executor.js'
import type { StepResult } from '../flows/index.js'

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
        await addSuppression(tx, { tenantId: call.tenantId, numberHash: call.remoteHash, source: 'ivr', reason: 'opted out in the IVR', callSid: call.callSid, at })
        break
      case 'startRecording':
        await insertStreamToken(tx, { tokenHash: createHash('sha256').update(effect.token).digest('hex'), tenantId: call.tenantId, callSid: call.callSid, at })
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
  await saveCallState(tx, call.id, result.nextState, seq, result.nextState.ended ? 'ended' : 'in-progress')
}
