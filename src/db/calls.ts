import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm'
import type { CallState, FlowDefinition } from '../flows/index.js'
import type { Executor } from './executor.js'
import { callEvents, calls, campaigns, consents, flowVersions, recordings, streamTokens } from './schema.js'

export interface NewCall {
  tenantId: string
  callSid: string
  direction: string
  campaignId: string
  flowId: string
  flowVersion: number | null
  remoteHash: string
  remoteNumber: string | null
  remoteWithheld: boolean
  localNumber: string
  status: string
  state: CallState
  startedAt: Date
}

/** Inserts the call unless Twilio already told us about it (a retried webhook). */
export async function insertCall (db: Executor, call: NewCall): Promise<void> {
  await db.insert(calls).values(call).onConflictDoNothing({ target: calls.callSid })
}

/**
 * The call with what is needed to run its next step, locked until the transaction ends: two
 * webhooks of one call (on any instance) are applied one after the other, never interleaved.
 * The flow version is the one the call started on, so publishing mid-call changes nothing for it.
 */
export async function lockCall (tx: Executor, callSid: string) {
  const rows = await tx.select({
    id: calls.id,
    tenantId: calls.tenantId,
    callSid: calls.callSid,
    campaignId: calls.campaignId,
    flowId: calls.flowId,
    flowVersion: calls.flowVersion,
    remoteHash: calls.remoteHash,
    remoteNumber: calls.remoteNumber,
    remoteWithheld: calls.remoteWithheld,
    state: calls.state,
    stepSeq: calls.stepSeq,
    lastStep: calls.lastStep,
    lastTwiml: calls.lastTwiml,
    endedAt: calls.endedAt,
    definition: flowVersions.definition,
    campaign: { timezone: campaigns.timezone, hours: campaigns.hours, holidays: campaigns.holidays, switchboard: campaigns.switchboard }
  }).from(calls)
    .leftJoin(flowVersions, and(eq(flowVersions.flowId, calls.flowId), eq(flowVersions.version, calls.flowVersion)))
    .leftJoin(campaigns, eq(campaigns.id, calls.campaignId))
    .where(eq(calls.callSid, callSid))
    .for('update', { of: calls })
  const row = rows[0]
  if (row === undefined) return null
  return { ...row, state: row.state as CallState, definition: row.definition as FlowDefinition | null }
}
export type LockedCall = NonNullable<Awaited<ReturnType<typeof lockCall>>>

export interface EventRow { node: string | null, input: string | null, outcome: string }

export async function appendEvents (tx: Executor, call: Pick<LockedCall, 'id' | 'tenantId' | 'stepSeq'>, events: EventRow[], at: Date): Promise<number> {
  let seq = call.stepSeq
  if (events.length === 0) return seq
  await tx.insert(callEvents).values(events.map((e) => ({ tenantId: call.tenantId, callId: call.id, seq: ++seq, node: e.node, input: e.input, outcome: e.outcome, at })))
  return seq
}

/** `reply`: the webhook step just applied and its TwiML, kept to answer Twilio's retries of it. */
export async function saveCallState (tx: Executor, callId: string, state: CallState, stepSeq: number, status: string | null, reply: { step: number, twiml: string } | null = null): Promise<void> {
  await tx.update(calls).set({
    state,
    stepSeq,
    ...(status !== null ? { status } : {}),
    ...(reply !== null ? { lastStep: reply.step, lastTwiml: reply.twiml } : {})
  }).where(eq(calls.id, callId))
}

export async function insertConsent (tx: Executor, consent: typeof consents.$inferInsert): Promise<void> {
  await tx.insert(consents).values(consent)
}

export async function insertStreamToken (tx: Executor, token: { tokenHash: string, tenantId: string, callSid: string, at: Date }): Promise<void> {
  await tx.insert(streamTokens).values({ tokenHash: token.tokenHash, tenantId: token.tenantId, callSid: token.callSid, createdAt: token.at })
}

/** Adds one event to a call from outside its webhook steps (recording outcomes, status). */
export async function appendCallEvent (tx: Executor, callSid: string, event: EventRow, at: Date): Promise<boolean> {
  const rows = await tx.update(calls).set({ stepSeq: sql`${calls.stepSeq} + 1` }).where(eq(calls.callSid, callSid))
    .returning({ id: calls.id, tenantId: calls.tenantId, stepSeq: calls.stepSeq })
  const row = rows[0]
  if (row === undefined) return false
  await tx.insert(callEvents).values({ tenantId: row.tenantId, callId: row.id, seq: row.stepSeq, node: event.node, input: event.input, outcome: event.outcome, at })
  return true
}

/**
 * Records the final status once; Twilio's retries of the same callback change nothing. The last
 * answer kept for a retry goes: steps of an ended call are answered <Hangup/>, and it may hold
 * a stream token in clear.
 */
export async function endCall (tx: Executor, callSid: string, status: string, durationSeconds: number | null, at: Date) {
  const rows = await tx.update(calls)
    .set({ status, endedAt: at, durationSeconds, stepSeq: sql`${calls.stepSeq} + 1`, lastTwiml: null })
    .where(and(eq(calls.callSid, callSid), isNull(calls.endedAt)))
    .returning({ id: calls.id, tenantId: calls.tenantId, stepSeq: calls.stepSeq })
  const row = rows[0]
  if (row === undefined) return false
  await tx.insert(callEvents).values({ tenantId: row.tenantId, callId: row.id, seq: row.stepSeq, node: null, input: null, outcome: `status-${status}`, at })
  return true
}

// Twilio's progress statuses in the order a call goes through them
// (https://www.twilio.com/docs/voice/api/call-resource#call-status-values).
const PROGRESS = ['queued', 'initiated', 'ringing', 'in-progress']

/**
 * A progress status only moves a call forward: callbacks may arrive out of order, so a late
 * `ringing` must not undo `in-progress`, and nothing undoes an end (ours, `ended`, or Twilio's,
 * which also sets ended_at). Returns false when the status changed nothing.
 */
export async function setCallStatus (tx: Executor, callSid: string, status: string): Promise<boolean> {
  const rank = PROGRESS.indexOf(status)
  if (rank <= 0) return false
  const rows = await tx.update(calls).set({ status })
    .where(and(eq(calls.callSid, callSid), isNull(calls.endedAt), inArray(calls.status, PROGRESS.slice(0, rank))))
    .returning({ id: calls.id })
  return rows.length > 0
}

export async function findCallBySid (db: Executor, callSid: string, tenantScope: string | null) {
  const rows = await db.select({ id: calls.id, tenantId: calls.tenantId, callSid: calls.callSid, remoteHash: calls.remoteHash, campaignId: calls.campaignId, flowId: calls.flowId, flowVersion: calls.flowVersion, endedAt: calls.endedAt })
    .from(calls).where(and(eq(calls.callSid, callSid), tenantScope === null ? undefined : eq(calls.tenantId, tenantScope)))
  return rows[0] ?? null
}

export async function hasGrantedConsent (db: Executor, callId: string): Promise<boolean> {
  const rows = await db.select({ id: consents.id }).from(consents).where(and(eq(consents.callId, callId), eq(consents.granted, true))).limit(1)
  return rows.length > 0
}

export async function callDetail (db: Executor, callId: string) {
  const [call] = await db.select().from(calls).where(eq(calls.id, callId))
  const [events, consentRows, recordingRows] = await Promise.all([
    db.select().from(callEvents).where(eq(callEvents.callId, callId)).orderBy(asc(callEvents.seq)),
    db.select().from(consents).where(eq(consents.callId, callId)).orderBy(asc(consents.at)),
    db.select().from(recordings).where(eq(recordings.callId, callId)).orderBy(asc(recordings.createdAt))
  ])
  const c = call!
  return {
    callSid: c.callSid,
    direction: c.direction,
    status: c.status,
    campaignId: c.campaignId,
    flowId: c.flowId,
    flowVersion: c.flowVersion,
    ourNumber: c.localNumber,
    callerNumber: c.remoteNumber,
    attributes: c.attributes,
    startedAt: c.startedAt.toISOString(),
    endedAt: c.endedAt?.toISOString() ?? null,
    durationSeconds: c.durationSeconds,
    events: events.map((e) => ({ seq: e.seq, node: e.node, input: e.input, outcome: e.outcome, at: e.at.toISOString() })),
    consents: consentRows.map((x) => ({ decision: x.decision, granted: x.granted, method: x.method, node: x.node, prompt: x.prompt, digits: x.digits, flowVersion: x.flowVersion, attestedBy: x.attestedBy, at: x.at.toISOString() })),
    recordings: recordingRows.map((r) => ({ id: r.id, status: r.status, durationMs: r.durationMs, createdAt: r.createdAt.toISOString(), retainUntil: r.retainUntil?.toISOString() ?? null, legalHold: r.legalHold, truncated: r.truncated }))
  }
}
