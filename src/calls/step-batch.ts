import type { Clock } from '../clock.js'
import type { RawQuery, RawSql } from '../db/client.js'
import { insertStartedCallsRaw, readCallsRaw, writeStepsRaw, type LockedCall, type NewCall, type StepCall, type StepWrite } from '../db/calls.js'
import type { FlowVersionCache } from '../db/flows.js'
import { routesForCalls, type CallRoute } from '../db/numbers.js'
import { apologyTwiml, initialCallState, runStep, type FlowContext, type FlowDefinition, type FlowInput } from '../flows/index.js'
import { hashNumber } from '../privacy/number-hash.js'
import { emptyTwiml, hangupTwiml } from '../twilio/twiml.js'
import { flowUrl, streamUrl } from '../twilio/urls.js'
import { stepWrite } from './persist-step.js'
import { nextStep, repeatOf } from './replay.js'
import { replayTwiml, streamTokenFor, type StreamTokenKey } from './stream-token.js'

/** Object first, message second, as pino takes them. */
export interface StepLog { info (obj: object, msg: string): void, warn (obj: object, msg: string): void, error (obj: object, msg: string): void }

export interface StepBatchDeps {
  /** The hot path's SQL (see db/client.ts). */
  raw: RawSql
  definitions: FlowVersionCache
  clock: Clock
  publicUrl: string
  numberHashKey: string
  /** Derives the stream tokens a step issues (see stream-token.ts). */
  streamTokenKey: StreamTokenKey
  /** Told the switchboard of every number looked up, for the database-free fallback. */
  rememberSwitchboard (number: string, switchboard: string | null): void
}

/** A webhook step for the batch: a call starting (/twilio/voice) or going on (/twilio/flow). */
export type StepJob =
  | { kind: 'start', callSid: string, from: string, to: string, direction: string, log: StepLog }
  | { kind: 'step', callSid: string, input: FlowInput, step?: number, log: StepLog }

/** Nothing of the job was written: the general path (call-steps.ts) must run it. */
export const GENERAL = Symbol('general path')
/** A start whose call exists already (Twilio's retry): nothing was written. */
export const EXISTS = Symbol('call exists')
/** The TwiML to answer with (what it promises is committed), or what to do instead. */
export type StepOutcome = string | typeof GENERAL | typeof EXISTS

const E164 = /^\+[1-9][0-9]{7,14}$/

/**
 * The usual webhook steps of many calls, two round trips for the batch whatever its size: one
 * reads the calls going on and the routes of the calls starting; the engine runs for each; one
 * statement writes the steps and one inserts the new calls, each committing on its own.
 *
 * No lock is held in between. A step is written only if its call is still as it was read (see
 * db/calls.ts WRITE_STEPS); a call changed meanwhile (a retry's original, a status callback)
 * goes to the general path, which locks it and finds out what to do. What only the general path
 * does is left to it too, with nothing written: opt-outs, steps after the call ended, numbers
 * without a runnable flow, offboarding tenants, ended campaigns. If a statement fails, none of
 * its steps is kept: each is tried again alone, and one that fails alone goes to the general
 * path, which stores what it still can (see call-steps.ts).
 */
export async function runStepBatch (deps: StepBatchDeps, jobs: StepJob[]): Promise<StepOutcome[]> {
  const { outcomes, again } = await deps.raw.session(async (q) => await readPlanWrite(deps, q, jobs))
  // Nothing of these was written: each is run again alone, as if it had just arrived.
  const alone = await Promise.all(again.map(async (job) => (await runStepBatch(deps, [job]))[0]!))
  again.forEach((job, i) => outcomes.set(job, alone[i]!))
  return jobs.map((job) => outcomes.get(job)!)
}

async function readPlanWrite (deps: StepBatchDeps, q: RawQuery, jobs: StepJob[]): Promise<{ outcomes: Map<StepJob, StepOutcome>, again: StepJob[] }> {
  const definitionOf = async (flowId: string, version: number) => await deps.definitions(q, flowId, version) as FlowDefinition | null
  const going = jobs.filter((j) => j.kind === 'step').map((j) => j.callSid)
  const starting = jobs.flatMap((j) => j.kind === 'start' ? [localOf(j)] : [])
  const [found, routes] = await Promise.all([
    going.length > 0 ? readCallsRaw(q, going, definitionOf) : new Map<string, LockedCall>(),
    starting.length > 0 ? routesForCalls(q, starting) : new Map<string, CallRoute>()
  ])
  const now = deps.clock.now()
  const steps: Array<{ job: StepJob, call: StepCall, write: StepWrite }> = []
  const starts: Array<{ job: StepJob, call: NewCall, write: StepWrite }> = []
  const outcomes = new Map<StepJob, StepOutcome>()
  for (const job of jobs) {
    outcomes.set(job, job.kind === 'step'
      ? planStep(deps, job, found.get(job.callSid) ?? null, now, (call, write) => steps.push({ job, call, write }))
      : await planStart(deps, job, routes.get(localOf(job)) ?? null, definitionOf, now, (call, write) => starts.push({ job, call, write })))
  }
  const [wroteSteps, wroteStarts] = await Promise.allSettled([
    steps.length > 0 ? writeStepsRaw(q, steps, now) : new Set<string>(),
    starts.length > 0 ? insertStartedCallsRaw(q, starts, now) : new Set<string>()
  ])
  const again: StepJob[] = []
  if (wroteSteps.status === 'fulfilled') {
    for (const { job, call } of steps) if (!wroteSteps.value.has(call.id)) outcomes.set(job, GENERAL)
  } else {
    again.push(...failed(steps.map((s) => s.job), wroteSteps.reason, outcomes))
  }
  if (wroteStarts.status === 'fulfilled') {
    for (const { job } of starts) if (!wroteStarts.value.has(job.callSid)) outcomes.set(job, EXISTS)
  } else {
    again.push(...failed(starts.map((s) => s.job), wroteStarts.reason, outcomes))
  }
  return { outcomes, again }
}

/** Steps of a statement that failed: a lone one goes to the general path; several are returned to be tried alone. */
function failed (jobs: StepJob[], err: unknown, outcomes: Map<StepJob, StepOutcome>): StepJob[] {
  if (jobs.length > 1) return jobs
  jobs[0]!.log.warn({ err }, 'could not write the step in one statement: running it on the general path')
  outcomes.set(jobs[0]!, GENERAL)
  return []
}

/** The step of a call going on, as the general path's runLocked would run it; its changes go to `write`. */
function planStep (deps: StepBatchDeps, job: Extract<StepJob, { kind: 'step' }>, call: LockedCall | null, now: Date, write: (call: StepCall, write: StepWrite) => void): StepOutcome {
  if (call === null || call.definition === null || call.campaign === null) {
    job.log.warn({ callSid: job.callSid }, 'flow callback for an unknown call: apologised')
    return apologyTwiml()
  }
  const repeat = repeatOf(call, job.input, job.step)
  if (call.endedAt !== null && repeat === 'new') return GENERAL
  if (repeat !== 'new') job.log.info({ step: job.step, lastStep: call.lastStep, repeat }, 'repeated webhook answered without running the flow')
  if (call.endedAt !== null) return hangupTwiml()
  if (repeat === 'last') return replayTwiml(deps.streamTokenKey, call)
  if (repeat === 'older') return emptyTwiml()
  const result = runStep(call.definition, call.state, job.input, contextFor(deps, call, now))
  const changes = stepWrite(call, result)
  if (changes === null) return GENERAL
  write(call, changes)
  return result.twiml
}

/** The first step of a new call on a number with a runnable flow; its changes go to `write`. */
async function planStart (deps: StepBatchDeps, job: Extract<StepJob, { kind: 'start' }>, route: CallRoute | null, definitionOf: (flowId: string, version: number) => Promise<FlowDefinition | null>, now: Date, write: (call: NewCall, write: StepWrite) => void): Promise<StepOutcome> {
  if (route === null || route.offboardingSince !== null || route.publishedVersion === null) return GENERAL
  const { campaign } = route
  if (campaign.endsAt !== null && now >= campaign.endsAt) return GENERAL
  const definition = await definitionOf(route.flowId, route.publishedVersion)
  if (definition === null) return GENERAL
  const inbound = isInbound(job)
  const local = localOf(job)
  deps.rememberSwitchboard(local, campaign.switchboard)
  const call = newCall(deps, job.callSid, inbound, local, remoteOf(job), route, now)
  const campaignContext = { timezone: campaign.timezone, hours: campaign.hours, holidays: campaign.holidays, switchboard: campaign.switchboard }
  const fresh: LockedCall = { ...call, id: '', stepSeq: 0, lastStep: 0, lastTwiml: null, endedAt: null, definition, campaign: campaignContext }
  const result = runStep(definition, fresh.state, { kind: 'start' }, contextFor(deps, fresh, now))
  const changes = stepWrite(fresh, result)
  if (changes === null) return GENERAL
  write(call, changes)
  return result.twiml
}

export const isInbound = (p: { direction: string }): boolean => !p.direction.startsWith('outbound')
/** Our number: the one called (inbound) or calling (outbound). */
export const localOf = (p: { from: string, to: string, direction: string }): string => isInbound(p) ? p.to : p.from
export const remoteOf = (p: { from: string, to: string, direction: string }): string => (isInbound(p) ? p.from : p.to).trim()

/** The row of a call that starts now, as both start paths insert it. */
export function newCall (deps: Pick<StepBatchDeps, 'numberHashKey'>, callSid: string, inbound: boolean, local: string, remote: string, route: { tenantId: string, flowId: string, publishedVersion: number | null, campaign: { id: string, storeCallerNumber: boolean } }, now: Date): NewCall {
  return {
    tenantId: route.tenantId,
    callSid,
    direction: inbound ? 'inbound' : 'outbound',
    campaignId: route.campaign.id,
    flowId: route.flowId,
    flowVersion: route.publishedVersion,
    remoteHash: hashNumber(deps.numberHashKey, remote),
    remoteNumber: route.campaign.storeCallerNumber ? remote : null,
    remoteWithheld: !E164.test(remote),
    localNumber: local,
    status: 'in-progress',
    state: initialCallState(),
    startedAt: now
  }
}

export function contextFor (deps: Pick<StepBatchDeps, 'publicUrl' | 'streamTokenKey'>, call: LockedCall, now: Date): FlowContext {
  let token: string | undefined
  return {
    now,
    campaign: call.campaign!,
    flowUrl: (node) => flowUrl(deps.publicUrl, node, nextStep(call)),
    streamUrl: streamUrl(deps.publicUrl),
    // Derived when a step starts a stream, not for every step (drawing one was 4 % of a
    // webhook's CPU); the same for a retry of the step, which derives it again (stream-token.ts).
    get streamToken () {
      token ??= streamTokenFor(deps.streamTokenKey, call.callSid, nextStep(call))
      return token
    }
  }
}
