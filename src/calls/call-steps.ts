import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import type { Tx } from '../db/executor.js'
import { appendEvents, endCall, insertCall, lockCall, saveCallState, setCallStatus, type LockedCall } from '../db/calls.js'
import { routeForNumber } from '../db/numbers.js'
import { expireStreamTokens } from '../db/recordings.js'
import { apologyTwiml, runStep, type FlowContext, type FlowInput, type StepResult } from '../flows/index.js'
import { emptyTwiml, forwardOrApologise, hangupTwiml } from '../twilio/twiml.js'
import { persistLateStep, persistStep } from './persist-step.js'
import { repeatOf } from './replay.js'
import { replayTwiml, type StreamTokenKey } from './stream-token.js'
import { contextFor, EXISTS, GENERAL, isInbound, localOf, newCall, remoteOf, type StepJob, type StepLog, type StepOutcome } from './step-batch.js'

export interface CallStepDeps {
  db: Db
  clock: Clock
  log: StepLog
  publicUrl: string
  numberHashKey: string
  /** Derives the stream tokens a step issues (see stream-token.ts). */
  streamTokenKey: StreamTokenKey
  /** Told the switchboard of every number looked up, for the database-free fallback. */
  rememberSwitchboard (number: string, switchboard: string | null): void
  /** The usual path: the step joins the next batch (step-batch.ts, batcher.ts). */
  steps (job: StepJob): Promise<StepOutcome>
}

const TERMINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled'])

/**
 * POST /twilio/voice: a call starts (inbound, or an outbound call answered).
 *
 * Two paths with the same outcome. The usual one (a number with a published flow, a step that
 * stores events, consent or a stream token) runs in a batch with other calls' steps
 * (step-batch.ts). Anything else, and any failure of that write, takes the general path
 * (startCallGeneral), which is the reference: it knows about opt-outs, offboarding, ended
 * campaigns and storing what it can when consent or an opt-out cannot be stored.
 */
export async function startCall (deps: CallStepDeps, p: { callSid: string, from: string, to: string, direction: string }): Promise<string> {
  const outcome = await deps.steps({ kind: 'start', ...p, log: deps.log })
  if (typeof outcome === 'string') return outcome
  if (outcome === GENERAL) return await startCallGeneral(deps, p)
  // Twilio's retry of a start already stored: answered from the stored row like any repeat.
  const again = await deps.steps({ kind: 'step', callSid: p.callSid, input: { kind: 'start' }, log: deps.log })
  return typeof again === 'string' ? again : await startCallGeneral(deps, p)
}

async function startCallGeneral (deps: CallStepDeps, p: { callSid: string, from: string, to: string, direction: string }): Promise<string> {
  const inbound = isInbound(p)
  const local = localOf(p)
  const remote = remoteOf(p)
  const route = await routeForNumber(deps.db, local)
  if (route === null) {
    deps.log.warn({ callSid: p.callSid }, 'call to a number that no campaign owns: apologised')
    return apologyTwiml()
  }
  const { campaign } = route
  deps.rememberSwitchboard(local, campaign.switchboard)
  if (route.offboardingSince !== null) {
    // The tenant's data is being handed over and erased: the caller still reaches the client,
    // and nothing about the call is stored.
    deps.log.warn({ callSid: p.callSid, tenantId: route.tenantId }, 'call of a tenant being offboarded: not run, not stored')
    return inbound ? forwardOrApologise(campaign.switchboard) : apologyTwiml()
  }
  const now = deps.clock.now()
  const ended = campaign.endsAt !== null && now >= campaign.endsAt
  const call = newCall(deps, p.callSid, inbound, local, remote, route, now)
  if (ended || route.definition === null) {
    // After its end date a campaign's number still reaches the client: straight to the switchboard.
    const outcome = ended ? 'campaign-ended-forwarded' : 'no-published-flow'
    deps.log.warn({ callSid: p.callSid, campaignId: campaign.id, outcome }, 'call not run through a flow')
    await deps.db.transaction(async (tx) => {
      await insertCall(tx, { ...call, status: outcome, state: { ...call.state, ended: true } })
      const locked = await lockCall(tx, p.callSid)
      if (locked !== null && locked.stepSeq === 0) {
        const seq = await appendEvents(tx, locked, [{ node: null, input: null, outcome }], now)
        await saveCallState(tx, locked.id, locked.state, seq, null)
      }
    })
    return ended ? forwardOrApologise(campaign.switchboard) : apologyTwiml()
  }
  await insertCall(deps.db, call)
  return await runLocked(deps, p.callSid, { kind: 'start' })
}

/**
 * POST /twilio/flow?node=ID&step=N: a <Gather> or <Dial> finished; continue the call at that node.
 * `step` (absent in URLs of older versions) tells a retried request from a new one.
 */
export async function continueCall (deps: CallStepDeps, p: { callSid: string, node: string, step?: number, digits?: string, dialStatus?: string }): Promise<string> {
  const input: FlowInput = { kind: 'resume', node: p.node, ...(p.digits !== undefined ? { digits: p.digits } : {}), ...(p.dialStatus !== undefined ? { dialStatus: p.dialStatus } : {}) }
  const outcome = await deps.steps({ kind: 'step', callSid: p.callSid, input, ...(p.step !== undefined ? { step: p.step } : {}), log: deps.log })
  return typeof outcome === 'string' ? outcome : await runLocked(deps, p.callSid, input, p.step)
}

/** POST /twilio/status: idempotent; only the first terminal status ends the call. */
export async function callStatus (deps: CallStepDeps, p: { callSid: string, status: string, durationSeconds: number | null }): Promise<void> {
  if (!TERMINAL.has(p.status)) {
    if (!await setCallStatus(deps.db, p.callSid, p.status)) deps.log.info({ status: p.status }, 'status callback changed nothing: unknown call or status, or the call is already past it')
    return
  }
  const now = deps.clock.now()
  const ended = await deps.db.transaction(async (tx) => {
    const first = await endCall(tx, p.callSid, p.status, p.durationSeconds, now)
    // Consent was for this call: a token it never used must not admit a stream later.
    if (first) await expireStreamTokens(tx, p.callSid, now)
    return first
  })
  if (!ended) deps.log.info({ callSid: p.callSid, status: p.status }, 'status callback for an ended or unknown call ignored')
}

/**
 * Runs one webhook step under the call's row lock, so a repeat waits for the original and then
 * finds it applied (see replay.ts), and a terminal status callback is either before or after it.
 */
async function runLocked (deps: CallStepDeps, callSid: string, input: FlowInput, step?: number): Promise<string> {
  return await deps.db.transaction(async (tx) => {
    const call = await lockCall(tx, callSid)
    if (call === null || call.definition === null || call.campaign === null) {
      deps.log.warn({ callSid }, 'flow callback for an unknown call: apologised')
      return apologyTwiml()
    }
    const repeat = repeatOf(call, input, step)
    if (repeat !== 'new') deps.log.info({ step, lastStep: call.lastStep, repeat }, 'repeated webhook answered without running the flow')
    const now = deps.clock.now()
    if (call.endedAt !== null) return repeat === 'new' ? await lateStep(deps, tx, call, input, now) : hangupTwiml()
    if (repeat === 'last') return replayTwiml(deps.streamTokenKey, call)
    if (repeat === 'older') return emptyTwiml()
    const ctx = contextFor(deps, call, now)
    const result = runStep(call.definition, call.state, input, ctx)
    try {
      await tx.transaction((savepoint) => persistStep(savepoint, call, result, now))
      return result.twiml
    } catch (err) {
      return await persistDegraded(deps, tx, call, input, ctx, result, now, err)
    }
  })
}

/** Twilio already reported the call ended: see persistLateStep for what is kept. */
async function lateStep (deps: CallStepDeps, tx: Tx, call: LockedCall, input: FlowInput, now: Date): Promise<string> {
  const result = runStep(call.definition!, call.state, input, contextFor(deps, call, now))
  const twiml = hangupTwiml()
  await persistLateStep(tx, call, input, result, twiml, now)
  deps.log.warn({ node: input.kind === 'resume' ? input.node : null, optout: result.effects.some((e) => e.type === 'suppress') }, 'flow step after the call ended: hung up, only an opt-out kept')
  return twiml
}

/**
 * Consent or an opt-out could not be stored. Re-run the step telling the engine so: the caller
 * hears that the opt-out was not recorded, and consent is treated as not given, so nothing is
 * recorded without evidence. Any other failure, or a step that would still start a stream,
 * gives up: the Twilio error handler answers with the fallback, which never records.
 */
async function persistDegraded (deps: CallStepDeps, tx: Tx, call: LockedCall, input: FlowInput, ctx: FlowContext, failed: StepResult, now: Date, err: unknown): Promise<string> {
  const consent = failed.effects.some((e) => e.type === 'recordConsent')
  const optout = failed.effects.some((e) => e.type === 'suppress')
  if (!consent && !optout) throw err
  deps.log.error({ err, callSid: call.callSid, consent, optout }, 'could not store consent or opt-out; the caller is told and nothing is recorded')
  const result = runStep(call.definition!, call.state, input, { ...ctx, consentWritable: !consent, optoutWritable: !optout })
  if (result.effects.some((e) => e.type === 'startRecording' || e.type === 'recordConsent' || e.type === 'suppress')) throw err
  await tx.transaction((savepoint) => persistStep(savepoint, call, result, now))
  return result.twiml
}
