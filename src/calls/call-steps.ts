import { randomBytes } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Db, RawQuery, RawSql } from '../db/client.js'
import type { Tx } from '../db/executor.js'
import { appendEvents, endCall, insertCall, insertStartedCallRaw, lockCall, lockCallRaw, saveCallState, setCallStatus, writeStepRaw, type LockedCall, type NewCall } from '../db/calls.js'
import type { FlowVersionCache } from '../db/flows.js'
import { routeForCall, routeForNumber } from '../db/numbers.js'
import { expireStreamTokens } from '../db/recordings.js'
import { apologyTwiml, initialCallState, runStep, type FlowContext, type FlowDefinition, type FlowInput, type StepResult } from '../flows/index.js'
import { hashNumber } from '../privacy/number-hash.js'
import { emptyTwiml, forwardOrApologise, hangupTwiml } from '../twilio/twiml.js'
import { flowUrl, streamUrl } from '../twilio/urls.js'
import { persistLateStep, persistStep, stepWrite } from './persist-step.js'
import { nextStep, repeatOf } from './replay.js'

export interface CallStepDeps {
  db: Db
  /** The hot path's SQL (see startCall). */
  raw: RawSql
  definitions: FlowVersionCache
  clock: Clock
  /** Object first, message second, as pino takes them. */
  log: { info (obj: object, msg: string): void, warn (obj: object, msg: string): void, error (obj: object, msg: string): void }
  publicUrl: string
  numberHashKey: string
  /** Told the switchboard of every number looked up, for the database-free fallback. */
  rememberSwitchboard (number: string, switchboard: string | null): void
}

const E164 = /^\+[1-9][0-9]{7,14}$/
const TERMINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled'])

/**
 * POST /twilio/voice: a call starts (inbound, or an outbound call answered).
 *
 * Two paths with the same outcome. The usual one (a number with a published flow, a step that
 * stores events, consent or a stream token) is two round trips: the number's route, then the
 * start node runs and one statement inserts the call with its first step's writes (see
 * insertStartedCallRaw). Anything else, and any failure of that write, takes the general path
 * (startCallGeneral), which is the reference: it knows about opt-outs, offboarding, ended
 * campaigns and storing what it can when consent or an opt-out cannot be stored.
 */
export async function startCall (deps: CallStepDeps, p: { callSid: string, from: string, to: string, direction: string }): Promise<string> {
  const inbound = !p.direction.startsWith('outbound')
  const local = inbound ? p.to : p.from
  const remote = (inbound ? p.from : p.to).trim()
  const route = await routeForCall(deps.raw.query, local)
  if (route === null || route.offboardingSince !== null || route.publishedVersion === null) return await startCallGeneral(deps, p)
  const { campaign } = route
  const now = deps.clock.now()
  if (campaign.endsAt !== null && now >= campaign.endsAt) return await startCallGeneral(deps, p)
  const definition = await deps.definitions(deps.raw.query, route.flowId, route.publishedVersion) as FlowDefinition | null
  if (definition === null) return await startCallGeneral(deps, p)
  deps.rememberSwitchboard(local, campaign.switchboard)
  const call = newCall(deps, p.callSid, inbound, local, remote, route, now)
  const campaignContext = { timezone: campaign.timezone, hours: campaign.hours, holidays: campaign.holidays, switchboard: campaign.switchboard }
  const fresh: LockedCall = { ...call, id: '', stepSeq: 0, lastStep: 0, lastTwiml: null, endedAt: null, definition, campaign: campaignContext }
  const result = runStep(definition, fresh.state, { kind: 'start' }, contextFor(deps, fresh, now))
  const write = stepWrite(fresh, result)
  if (write === null) return await startCallGeneral(deps, p)
  // Two round trips: the route above, and one statement for the call and its first step.
  let stored: string | null
  try {
    stored = await insertStartedCallRaw(deps.raw.query, call, write)
  } catch (err) {
    deps.log.warn({ err }, 'could not write the step in one statement: running it on the general path')
    return await startCallGeneral(deps, p)
  }
  if (stored !== null) return result.twiml
  // Twilio's retry of a start already stored: answered from the locked row like any repeat.
  const answer = await fastPath(deps, async (q) => {
    const locked = await lockCallRaw(q, p.callSid, definitionsIn(deps, q))
    return await fastStep(deps, q, p.callSid, locked, { kind: 'start' }, undefined, now)
  })
  return answer ?? await startCallGeneral(deps, p)
}

/** The row of a call that starts now, as both start paths insert it. */
function newCall (deps: CallStepDeps, callSid: string, inbound: boolean, local: string, remote: string, route: { tenantId: string, flowId: string, publishedVersion: number | null, campaign: { id: string, storeCallerNumber: boolean } }, now: Date): NewCall {
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

async function startCallGeneral (deps: CallStepDeps, p: { callSid: string, from: string, to: string, direction: string }): Promise<string> {
  const inbound = !p.direction.startsWith('outbound')
  const local = inbound ? p.to : p.from
  const remote = (inbound ? p.from : p.to).trim()
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
  // The usual path: lock, one write, commit; two round trips on PostgreSQL (db/client.ts), see startCall.
  const answer = await fastPath(deps, async (q) => {
    const call = await lockCallRaw(q, p.callSid, definitionsIn(deps, q))
    return await fastStep(deps, q, p.callSid, call, input, p.step, deps.clock.now())
  })
  return answer ?? await runLocked(deps, p.callSid, input, p.step)
}

/** Nothing was written: the step is for the general path. */
const GENERAL = Symbol('general path')
class FastWriteFailed extends Error {}

/**
 * Runs `fn` in a RawSql transaction. null: the general path must run the step, either because
 * `fn` said so before writing anything, or because the step's write failed and was rolled back
 * (the general path then stores what it still can, see persistDegraded). Other failures (the
 * database unreachable) are thrown, as the general path would throw them too.
 */
async function fastPath (deps: CallStepDeps, fn: (q: RawQuery) => Promise<string | typeof GENERAL>): Promise<string | null> {
  try {
    const answer = await deps.raw.transaction(fn)
    return answer === GENERAL ? null : answer
  } catch (err) {
    if (!(err instanceof FastWriteFailed)) throw err
    deps.log.warn({ err: err.cause }, 'could not write the step in one statement: running it on the general path')
    return null
  }
}

const definitionsIn = (deps: CallStepDeps, q: RawQuery) => async (flowId: string, version: number) => await deps.definitions(q, flowId, version) as FlowDefinition | null

/** runLocked's usual case on RawSql; GENERAL for what only runLocked does (late steps, opt-outs). */
async function fastStep (deps: CallStepDeps, q: RawQuery, callSid: string, call: LockedCall | null, input: FlowInput, step: number | undefined, now: Date): Promise<string | typeof GENERAL> {
  if (call === null || call.definition === null || call.campaign === null) {
    deps.log.warn({ callSid }, 'flow callback for an unknown call: apologised')
    return apologyTwiml()
  }
  const repeat = repeatOf(call, input, step)
  if (call.endedAt !== null && repeat === 'new') return GENERAL
  if (repeat !== 'new') deps.log.info({ step, lastStep: call.lastStep, repeat }, 'repeated webhook answered without running the flow')
  if (call.endedAt !== null) return hangupTwiml()
  if (repeat === 'last') return call.lastTwiml!
  if (repeat === 'older') return emptyTwiml()
  const result = runStep(call.definition, call.state, input, contextFor(deps, call, now))
  const write = stepWrite(call, result)
  if (write === null) return GENERAL
  try {
    await writeStepRaw(q, call, write, now)
  } catch (err) {
    throw new FastWriteFailed('step write failed', { cause: err })
  }
  return result.twiml
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
    if (repeat === 'last') return call.lastTwiml!
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

function contextFor (deps: CallStepDeps, call: LockedCall, now: Date): FlowContext {
  return {
    now,
    campaign: call.campaign!,
    flowUrl: (node) => flowUrl(deps.publicUrl, node, nextStep(call)),
    streamUrl: streamUrl(deps.publicUrl),
    streamToken: randomBytes(24).toString('base64url')
  }
}
