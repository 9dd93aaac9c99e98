import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import { endCall, setCallStatus } from '../db/calls.js'
import { expireStreamTokens } from '../db/recordings.js'
import type { FlowInput } from '../flows/index.js'
import { StepFailed, type StepJob, type StepLog, type StepOutcome } from './step-batch.js'

export interface CallStepDeps {
  /** For status callbacks, which are not webhook steps. */
  db: Db
  clock: Clock
  log: StepLog
  /** Every webhook step is planned and committed here (step-batch.ts, through batcher.ts). */
  steps (job: StepJob): Promise<StepOutcome>
}

const TERMINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled'])

function answer (outcome: StepOutcome): string {
  if (outcome instanceof StepFailed) throw outcome.cause
  return outcome
}

/** POST /twilio/voice: a call starts (inbound, or an outbound call answered). */
export async function startCall (deps: CallStepDeps, p: { callSid: string, from: string, to: string, direction: string }): Promise<string> {
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
