import type { NewCall } from '../db/calls.js'
import type { CallRoute, CallSnapshot, StepWrite, WriteTarget } from '../db/step-sql.js'
import type { DomainEvent } from '../events/catalogue.js'
import { apologyTwiml, initialCallState, runStep, type FlowContext, type FlowDefinition, type FlowInput, type StepResult } from '../flows/index.js'
import { hashNumber } from '../privacy/number-hash.js'
import { emptyTwiml, forwardOrApologise, hangupTwiml } from '../twilio/twiml.js'
import { flowUrl, streamUrl } from '../twilio/urls.js'
import { nextStep, repeatOf } from './replay.js'
import { replayTwiml, streamTokenFor, tokenHash, twimlAtRest, type StreamTokenKey } from './stream-token.js'

/**
 * One webhook step, decided: what Twilio is answered and what is stored for it. Pure (no
 * database, clock or logger: time and the call as read come in, log lines go out), so every case
 * is decided here once, and the committer (step-batch.ts) only reads, writes and re-plans.
 */

/** A webhook step: a call starting (/twilio/voice) or going on (/twilio/flow). */
export type StepInput =
  | { kind: 'start', callSid: string, from: string, to: string, direction: string, answeredBy?: string }
  | { kind: 'step', callSid: string, input: FlowInput, step?: number }

/** What was read for the step. `route` only for a start; `call` null: no such call (for a start, presumed: its insert checks). */
export interface Snapshot {
  call: CallSnapshot | null
  route?: { route: CallRoute, definition: FlowDefinition | null } | null
}

export interface PlanContext {
  now: Date
  publicUrl: string
  numberHashKey: string
  streamTokenKey: StreamTokenKey
  /**
   * Set after a write of this step failed: what could not be stored is planned as not storable,
   * so the caller is told (an opt-out) or nothing is recorded without evidence (consent).
   */
  unwritable?: { consent: boolean, optout: boolean }
}

export interface LogLine { level: 'info' | 'warn' | 'error', obj: object, msg: string }

export interface Plan {
  /** The TwiML to answer with: what it promises is in `write`. */
  reply: string
  write: (StepWrite & { target: WriteTarget }) | null
  log: LogLine[]
  /** The switchboard of the number called, for the database-free fallback's copy. */
  switchboard?: { number: string, switchboard: string | null }
}

const E164 = /^\+[1-9][0-9]{7,14}$/

export const isInbound = (p: { direction: string }): boolean => !p.direction.startsWith('outbound')
/** Answering-machine detection's AnsweredBy: machine_start, machine_end_beep… or fax. */
const answeredByMachine = (p: { direction: string, answeredBy?: string }): boolean =>
  !isInbound(p) && p.answeredBy !== undefined && (p.answeredBy.startsWith('machine') || p.answeredBy === 'fax')
/** Our number: the one called (inbound) or calling (outbound). */
export const localOf = (p: { from: string, to: string, direction: string }): string => isInbound(p) ? p.to : p.from
export const remoteOf = (p: { from: string, to: string, direction: string }): string => (isInbound(p) ? p.from : p.to).trim()

export function plan (snapshot: Snapshot, input: StepInput, ctx: PlanContext): Plan {
  return input.kind === 'start' ? planStart(snapshot, input, ctx) : planStep(snapshot.call, input, ctx)
}

function planStart (snapshot: Snapshot, input: Extract<StepInput, { kind: 'start' }>, ctx: PlanContext): Plan {
  const found = snapshot.route ?? null
  if (found === null) {
    return { reply: apologyTwiml(), write: null, log: [{ level: 'warn', obj: { callSid: input.callSid }, msg: 'call to a number that no campaign owns: apologised' }] }
  }
  const { route, definition } = found
  const { campaign } = route
  const inbound = isInbound(input)
  const local = localOf(input)
  const switchboard = { number: local, switchboard: campaign.switchboard }
  if (route.offboardingSince !== null) {
    // The tenant's data is being handed over and erased: the caller still reaches the client,
    // and nothing about the call is stored.
    return { reply: inbound ? forwardOrApologise(campaign.switchboard) : apologyTwiml(), write: null, switchboard, log: [{ level: 'warn', obj: { callSid: input.callSid, tenantId: route.tenantId }, msg: 'call of a tenant being offboarded: not run, not stored' }] }
  }
  const ended = campaign.endsAt !== null && ctx.now >= campaign.endsAt
  if (ended || route.publishedVersion === null || definition === null) {
    // After its end date a campaign's number still reaches the client: straight to the switchboard.
    const outcome = ended ? 'campaign-ended-forwarded' : 'no-published-flow'
    const events = [{ node: null, input: null, outcome }]
    const call = snapshot.call
    const write = call === null
      ? started({ target: { kind: 'insert' as const, call: newCall(ctx, input.callSid, inbound, local, remoteOf(input), route, ctx.now) }, ...nothing(initialCallState()), events, state: { ...initialCallState(), ended: true }, status: outcome })
      // A call placed through the API is on file before it is answered: only the outcome is added.
      : call.stepSeq === 0 ? { target: { kind: 'update' as const, call }, ...nothing(call.state), events } : null
    return { reply: ended ? forwardOrApologise(campaign.switchboard) : apologyTwiml(), write, switchboard, log: [{ level: 'warn', obj: { callSid: input.callSid, campaignId: campaign.id, outcome }, msg: 'call not run through a flow' }] }
  }
  // Twilio's retry of a start, or an outbound call answered: the call on file takes its step.
  const start: FlowInput = { kind: 'start', ...(answeredByMachine(input) ? { machine: true } : {}) }
  if (snapshot.call !== null) return { ...planStep(snapshot.call, { kind: 'step', callSid: input.callSid, input: start }, ctx), switchboard }
  const call = newCall(ctx, input.callSid, inbound, local, remoteOf(input), route, ctx.now)
  const campaignContext = { timezone: campaign.timezone, hours: campaign.hours, holidays: campaign.holidays, switchboard: campaign.switchboard }
  const fresh: CallSnapshot = { ...call, id: '', stepSeq: 0, lastStep: 0, lastTwiml: null, endedAt: null, definition, campaign: campaignContext }
  const { reply, write, log } = runPlanned(fresh, start, ctx)
  return { reply, write: started({ target: { kind: 'insert', call }, ...write }), log, switchboard }
}

/** A call's first write also tells that it started (before anything else of its step). */
function started<W extends StepWrite & { target: { kind: 'insert', call: NewCall } }> (write: W): W {
  const { call } = write.target
  return { ...write, emits: [{ type: 'call.started', data: { callSid: call.callSid, campaignId: call.campaignId, direction: call.direction } }, ...write.emits] }
}

function planStep (call: CallSnapshot | null, input: Extract<StepInput, { kind: 'step' }>, ctx: PlanContext): Plan {
  if (call === null || call.definition === null || call.campaign === null) {
    return { reply: apologyTwiml(), write: null, log: [{ level: 'warn', obj: { callSid: input.callSid }, msg: 'flow callback for an unknown call: apologised' }] }
  }
  const repeat = repeatOf(call, input.input, input.step)
  const log: LogLine[] = repeat === 'new' ? [] : [{ level: 'info', obj: { step: input.step, lastStep: call.lastStep, repeat }, msg: 'repeated webhook answered without running the flow' }]
  if (call.endedAt !== null) return repeat === 'new' ? lateStep(call, input.input, ctx) : { reply: hangupTwiml(), write: null, log }
  if (repeat === 'last') return { reply: replayTwiml(ctx.streamTokenKey, call), write: null, log }
  if (repeat === 'older') return { reply: emptyTwiml(), write: null, log }
  const planned = runPlanned(call, input.input, ctx)
  return { reply: planned.reply, write: { target: { kind: 'update', call }, ...planned.write }, log: planned.log }
}

/**
 * Runs the engine for the step and turns its effects into the write. An opt-out that cannot be
 * stored (a withheld or non-phone caller id cannot be matched when dialling later: claiming it
 * was stored would be a false promise), or anything `ctx.unwritable` names, is planned as not
 * storable: the engine runs again knowing it (it is deterministic, so only that differs).
 */
function runPlanned (call: CallSnapshot, input: FlowInput, ctx: PlanContext): { reply: string, write: StepWrite, log: LogLine[] } {
  const flowCtx = contextFor(ctx, call)
  const unwritable = ctx.unwritable
  let result = runStep(call.definition!, call.state, input, unwritable === undefined ? flowCtx : { ...flowCtx, consentWritable: !unwritable.consent, optoutWritable: !unwritable.optout })
  const log: LogLine[] = []
  if (unwritable === undefined && call.remoteWithheld && result.effects.some((e) => e.type === 'suppress')) {
    log.push({ level: 'error', obj: { err: new Error('the caller id is not a phone number'), callSid: call.callSid, consent: false, optout: true }, msg: 'could not store consent or opt-out; the caller is told and nothing is recorded' })
    result = runStep(call.definition!, call.state, input, { ...flowCtx, optoutWritable: false })
  }
  return { reply: result.twiml, write: writeOf(call, result), log }
}

/** The one place a step's effects become what is stored. */
function writeOf (call: CallSnapshot, result: StepResult): StepWrite {
  const write: StepWrite = { ...nothing(result.nextState), status: result.nextState.ended ? 'ended' : 'in-progress', reply: { step: nextStep(call), twiml: twimlAtRest(result) } }
  for (const effect of result.effects) {
    switch (effect.type) {
      case 'logEvent':
        write.events.push({ node: effect.node, input: effect.input ?? null, outcome: effect.outcome })
        break
      case 'recordConsent':
        write.consents.push({ node: effect.node, prompt: effect.prompt, digits: effect.digits, decision: effect.decision, granted: effect.granted })
        write.emits.push({ type: 'consent.recorded', data: { callSid: call.callSid, decision: effect.decision, node: effect.node, flowVersion: call.flowVersion } })
        break
      case 'startRecording':
        write.streamTokenHashes.push(tokenHash(effect.token))
        break
      case 'suppress':
        write.suppress = true
        write.emits.push(optedOut(call))
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
  return write
}

/**
 * A step that arrived after Twilio's terminal status callback (callbacks are not ordered: a
 * caller who presses 9 and hangs up at once can be reported `completed` before the menu's
 * request is handled). Nothing the step asks for can happen on a call that is over: no stream
 * (its consent tokens are already expired), no dial, no new state or status.
 *
 * Except an opt-out. An objection to being called is the caller's decision, made during the call
 * and not undone by the line dropping (GDPR Art. 21(3): the data must no longer be processed for
 * that purpose), so the suppression is stored — only it, not consent evidence for a call that can
 * no longer be recorded. The step is numbered and its answer kept like any other, so Twilio's
 * retry of it writes nothing twice.
 */
function lateStep (call: CallSnapshot, input: FlowInput, ctx: PlanContext): Plan {
  const result = runStep(call.definition!, call.state, input, contextFor(ctx, call))
  const reply = hangupTwiml()
  const digits = input.kind === 'resume' && input.digits !== undefined && input.digits !== '' ? input.digits : null
  const write: StepWrite = { ...nothing(call.state), events: [{ node: input.kind === 'resume' ? input.node : null, input: digits, outcome: 'ignored-call-ended' }], reply: { step: nextStep(call), twiml: reply } }
  const optouts = result.effects.filter((e) => e.type === 'suppress')
  for (const effect of optouts) {
    const storable = !call.remoteWithheld && ctx.unwritable?.optout !== true
    if (storable) {
      write.suppress = true
      write.emits.push(optedOut(call))
    }
    write.events.push({ node: effect.node, input: null, outcome: storable ? 'suppressed' : 'optout-not-stored' })
  }
  const log: LogLine = { level: 'warn', obj: { node: input.kind === 'resume' ? input.node : null, optout: optouts.length > 0 }, msg: 'flow step after the call ended: hung up, only an opt-out kept' }
  return { reply, write: { target: { kind: 'update', call }, ...write }, log: [log] }
}

/** A write that stores nothing but `state` (as read, for steps that change nothing of it). */
const nothing = (state: StepWrite['state']): StepWrite => ({ events: [], consents: [], streamTokenHashes: [], suppress: false, emits: [], state, status: null, reply: null })

const optedOut = (call: CallSnapshot): DomainEvent => ({ type: 'optout.recorded', data: { callSid: call.callSid, campaignId: call.campaignId } })

/** The row of a call that starts now. */
export function newCall (keys: { numberHashKey: string }, callSid: string, inbound: boolean, local: string, remote: string, route: Pick<CallRoute, 'tenantId' | 'flowId' | 'publishedVersion'> & { campaign: { id: string, storeCallerNumber: boolean } }, now: Date): NewCall {
  return {
    tenantId: route.tenantId,
    callSid,
    direction: inbound ? 'inbound' : 'outbound',
    campaignId: route.campaign.id,
    flowId: route.flowId,
    flowVersion: route.publishedVersion,
    remoteHash: hashNumber(keys.numberHashKey, remote),
    remoteNumber: route.campaign.storeCallerNumber ? remote : null,
    remoteWithheld: !E164.test(remote),
    localNumber: local,
    status: 'in-progress',
    state: initialCallState(),
    startedAt: now
  }
}

function contextFor (ctx: PlanContext, call: CallSnapshot): FlowContext {
  let token: string | undefined
  return {
    now: ctx.now,
    campaign: call.campaign!,
    flowUrl: (node) => flowUrl(ctx.publicUrl, node, nextStep(call)),
    streamUrl: streamUrl(ctx.publicUrl),
    // Derived when a step starts a stream, not for every step (drawing one was 4 % of a
    // webhook's CPU); the same for a retry of the step, which derives it again (stream-token.ts).
    get streamToken () {
      token ??= streamTokenFor(ctx.streamTokenKey, call.callSid, nextStep(call))
      return token
    }
  }
}
