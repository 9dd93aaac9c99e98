import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import type { Dialler } from '../dialler/dialler.js'
import { endCall, endUnseenOutboundCall, setCallStatus } from '../db/calls.js'
import type { FlowInput } from '../flows/index.js'
import { hashNumber } from '../privacy/number-hash.js'
import { StepFailed, type StepJob, type StepLog, type StepOutcome } from './step-batch.js'

export interface CallStepDeps {
  /** For status callbacks, which are not webhook steps. */
  db: Db
  clock: Clock
  log: StepLog
  /** Every webhook step is planned and committed here (step-batch.ts, through batcher.ts). */
  steps (job: StepJob): Promise<StepOutcome>
  /** Hashes the remote number of a call not on file. */
  numberHashKey: string
  /** The dialler's side of an ended call (dialler/dialler.ts), in the same transaction. */
  dialler: Pick<Dialler, 'settle'>
}

const TERMINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled'])

function answer (outcome: StepOutcome): string {
  if (outcome instanceof StepFailed) throw outcome.cause
  return outcome
}

/** POST /twilio/voice: a call starts (inbound, or an outbound call answered). */
export async function startCall (deps: CallStepDeps, p: { callSid: string, from: string, to: string, direction: string, answeredBy?: string }): Promise<string> {
  return answer(await deps.steps({ kind: 'start', ...p, log: deps.log }))
}

/**
 * POST /twilio/flow?node=ID&step=N: a <Gather> or <Dial> finished; continue the call at that node.
 * `step` (absent in URLs of older versions) tells a retried request from a new one.
 */
export async function continueCall (deps: CallStepDeps, p: { callSid: string, node: string, step?: number, digits?: string, dialStatus?: string }): Promise<string> {
  const input: FlowInput = { kind: 'resume', node: p.node, ...(p.digits !== undefined ? { digits: p.digits } : {}), ...(p.dialStatus !== undefined ? { dialStatus: p.dialStatus } : {}) }
  return answer(await deps.steps({ kind: 'step', callSid: p.callSid, input, ...(p.step !== undefined ? { step: p.step } : {}), log: deps.log }))
}

/**
 * POST /twilio/status: idempotent; only the first terminal status ends the call, and settles the
 * dialler's attempt that placed it, if one did.
 */
export async function callStatus (deps: CallStepDeps, p: { callSid: string, status: string, durationSeconds: number | null, answeredBy: string | null, outbound: { from: string, to: string } | null }): Promise<void> {
  if (!TERMINAL.has(p.status)) {
    if (!await setCallStatus(deps.db, p.callSid, p.status)) deps.log.info({ status: p.status }, 'status callback changed nothing: unknown call or status, or the call is already past it')
    return
  }
  const now = deps.clock.now()
  const ended = await deps.db.transaction(async (tx) => {
    let call = await endCall(tx, p.callSid, p.status, p.durationSeconds, now)
    if (call === null && p.outbound !== null) {
      const unseen = { callSid: p.callSid, localNumber: p.outbound.from, remoteHash: hashNumber(deps.numberHashKey, p.outbound.to), status: p.status, durationSeconds: p.durationSeconds, at: now }
      call = await endUnseenOutboundCall(tx, unseen) ?? await endCall(tx, p.callSid, p.status, p.durationSeconds, now)
    }
    if (call === null) return false
    await deps.dialler.settle(tx, call, { status: p.status, answeredBy: p.answeredBy }, now)
    return true
  })
  if (!ended) deps.log.info({ callSid: p.callSid, status: p.status }, 'status callback for an ended or unknown call ignored')
}
