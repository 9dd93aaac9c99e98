import type { Clock } from '../clock.js'
import type { RawQuery, RawSql } from '../db/client.js'
import { insertCalls, readCalls, readRoutes, writeSteps, type CallRoute, type CallSnapshot, type FlowVersionCache } from '../db/step-sql.js'
import type { FlowDefinition } from '../flows/index.js'
import { isInbound, localOf, plan, type Plan, type PlanContext, type Snapshot, type StepInput } from './plan.js'
import type { StreamTokenKey } from './stream-token.js'

/** Object first, message second, as pino takes them. */
export interface StepLog { info (obj: object, msg: string): void, warn (obj: object, msg: string): void, error (obj: object, msg: string): void }

export interface StepBatchDeps {
  /** The hot path's SQL (see db/step-sql.ts). */
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

/** A webhook step for the batch, with the logger of its request. */
export type StepJob = StepInput & { log: StepLog }

/** The step could not be stored even as planned for a failed write: the Twilio error handler answers. */
export class StepFailed {
  constructor (readonly cause: unknown) {}
}

/** The TwiML to answer with (what it promises is committed), or the failure. */
export type StepOutcome = string | StepFailed

/** Re-plans of a step whose call kept changing between its read and its write. */
const MAX_REPLANS = 3

interface Attempt {
  job: StepJob
  replans: number
  /** Read the call on file: every step, and a start whose insert found the call there. */
  readCall: boolean
  mode: { kind: 'first' } | { kind: 'retry' } | { kind: 'degraded', consent: boolean, optout: boolean, err: unknown }
}

/**
 * The webhook steps of many calls, two round trips for the batch whatever its size: one reads the
 * calls going on and the routes of the calls starting; each step is planned (plan.ts); one
 * statement writes the steps and one inserts the new calls, each committing on its own.
 *
 * No lock is held in between. A step is written only if its call is still as it was read (see
 * db/step-sql.ts WRITE_STEPS), a new call only if it is not on file yet; a step whose call
 * changed meanwhile (a status callback, the recorder, another process) is read and planned again,
 * a few times at most. If a statement fails, none of its steps is kept: its batch is split in
 * halves and each half tried again, down to one step; a step that fails alone is tried once more,
 * then planned without what could not be stored (consent: nothing is recorded; an opt-out: the
 * caller is told it was not recorded), and if even that fails, it fails.
 */
export async function runStepBatch (deps: StepBatchDeps, jobs: StepJob[]): Promise<StepOutcome[]> {
  const outcomes = new Map<StepJob, StepOutcome>()
  await commit(deps, jobs.map((job) => ({ job, replans: 0, readCall: job.kind === 'step', mode: { kind: 'first' } })), outcomes)
  return jobs.map((job) => outcomes.get(job)!)
}

async function commit (deps: StepBatchDeps, attempts: Attempt[], outcomes: Map<StepJob, StepOutcome>): Promise<void> {
  const again = await deps.raw.session(async (q) => await readPlanWrite(deps, q, attempts, outcomes))
  await Promise.all(again.map(async (group) => { await commit(deps, group, outcomes) }))
}

interface Planned { attempt: Attempt, plan: Plan }

/** One round: read, plan, write. Returns the groups of attempts to run again. */
async function readPlanWrite (deps: StepBatchDeps, q: RawQuery, attempts: Attempt[], outcomes: Map<StepJob, StepOutcome>): Promise<Attempt[][]> {
  const definitionOf = async (flowId: string, version: number) => await deps.definitions(q, flowId, version) as FlowDefinition | null
  const going = attempts.filter((a) => a.readCall).map((a) => a.job.callSid)
  const starting = attempts.flatMap((a) => a.job.kind === 'start' ? [localOf(a.job)] : [])
  const [found, routes] = await Promise.all([
    going.length > 0 ? readCalls(q, going, definitionOf) : new Map<string, CallSnapshot>(),
    starting.length > 0 ? readRoutes(q, starting) : new Map<string, CallRoute>()
  ])
  const now = deps.clock.now()
  const planned: Planned[] = []
  for (const attempt of attempts) {
    const { job, mode } = attempt
    const snapshot: Snapshot = { call: found.get(job.callSid) ?? null }
    if (job.kind === 'start') {
      const found = routes.get(localOf(job)) ?? null
      const route = found?.dialler != null && !isInbound(job) ? { ...found, ...found.dialler } : found
      snapshot.route = route === null ? null : { route, definition: route.publishedVersion === null ? null : await definitionOf(route.flowId, route.publishedVersion) }
    }
    const ctx: PlanContext = { now, publicUrl: deps.publicUrl, numberHashKey: deps.numberHashKey, streamTokenKey: deps.streamTokenKey }
    if (mode.kind === 'degraded') ctx.unwritable = { consent: mode.consent, optout: mode.optout }
    const p = plan(snapshot, job, ctx)
    if (p.switchboard !== undefined) deps.rememberSwitchboard(p.switchboard.number, p.switchboard.switchboard)
    // Planned without what could not be stored, the step must not store any of it: anything else
    // that still fails gives up (the Twilio error handler's fallback never records).
    if (mode.kind === 'degraded' && p.write !== null && (p.write.consents.length > 0 || p.write.streamTokenHashes.length > 0 || p.write.suppress)) {
      outcomes.set(job, new StepFailed(mode.err))
      continue
    }
    planned.push({ attempt, plan: p })
  }
  const updates = planned.flatMap((x) => x.plan.write?.target.kind === 'update' ? [{ ...x, call: x.plan.write.target.call, write: x.plan.write }] : [])
  const inserts = planned.flatMap((x) => x.plan.write?.target.kind === 'insert' ? [{ ...x, call: x.plan.write.target.call, write: x.plan.write }] : [])
  const [updated, inserted] = await Promise.allSettled([
    updates.length > 0 ? writeSteps(q, updates, now) : new Set<string>(),
    inserts.length > 0 ? insertCalls(q, inserts, now) : new Set<string>()
  ])
  const settle = ({ attempt: { job }, plan: p }: Planned): void => {
    for (const line of p.log) job.log[line.level](line.obj, line.msg)
    outcomes.set(job, p.reply)
  }
  for (const x of planned) if (x.plan.write === null) settle(x)
  const again: Attempt[][] = []
  const changed: Attempt[] = []
  if (updated.status === 'fulfilled') {
    for (const x of updates) if (updated.value.has(x.call.id)) settle(x); else changed.push(x.attempt)
  } else {
    again.push(...failed(updates, updated.reason, outcomes))
  }
  if (inserted.status === 'fulfilled') {
    for (const x of inserts) if (inserted.value.has(x.call.callSid)) settle(x); else changed.push({ ...x.attempt, readCall: true })
  } else {
    again.push(...failed(inserts, inserted.reason, outcomes))
  }
  const replans: Attempt[] = []
  for (const attempt of changed) {
    if (attempt.replans < MAX_REPLANS) replans.push({ ...attempt, replans: attempt.replans + 1 })
    else outcomes.set(attempt.job, new StepFailed(new Error(`call ${attempt.job.callSid} changed under each of ${MAX_REPLANS + 1} writes of its step`)))
  }
  if (replans.length > 0) again.push(replans)
  return again
}

/** The steps of a statement that failed: nothing of them was written. Returns what to try next. */
function failed (steps: Planned[], err: unknown, outcomes: Map<StepJob, StepOutcome>): Attempt[][] {
  if (steps.length > 1) {
    const half = Math.ceil(steps.length / 2)
    return [steps.slice(0, half), steps.slice(half)].map((part) => part.map((x) => x.attempt))
  }
  const { attempt, plan: p } = steps[0]!
  const { job, mode } = attempt
  if (mode.kind === 'first') {
    job.log.warn({ err }, 'could not write the step in one statement: trying it again alone')
    return [[{ ...attempt, mode: { kind: 'retry' } }]]
  }
  const consent = p.write!.consents.length > 0
  const optout = p.write!.suppress
  if (mode.kind === 'degraded' || (!consent && !optout)) {
    outcomes.set(job, new StepFailed(err))
    return []
  }
  job.log.error({ err, callSid: job.callSid, consent, optout }, 'could not store consent or opt-out; the caller is told and nothing is recorded')
  return [[{ ...attempt, mode: { kind: 'degraded', consent, optout, err } }]]
}
