import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm'
import type { CallState, FlowDefinition } from '../flows/index.js'
import { rawDate, type RawQuery } from './client.js'
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

// ---- The webhook hot path: fixed SQL texts through RawSql (see client.ts), one statement per
// write. They do what lockCall, insertCall, insertConsent, insertStreamToken, appendEvents and
// saveCallState do together, in fewer round trips and without building queries per request.

interface LockedRow {
  id: string
  tenant_id: string
  call_sid: string
  campaign_id: string | null
  flow_id: string | null
  flow_version: number | null
  remote_hash: string
  remote_number: string | null
  remote_withheld: boolean
  state: unknown
  step_seq: number
  last_step: number
  last_twiml: string | null
  ended_at: unknown
  campaign_found: boolean | null
  timezone: string | null
  hours: unknown
  holidays: unknown
  switchboard: string | null
}

const LOCK_CALL = `select c.id, c.tenant_id, c.call_sid, c.campaign_id, c.flow_id, c.flow_version, c.remote_hash, c.remote_number,
  c.remote_withheld, c.state, c.step_seq, c.last_step, c.last_twiml, c.ended_at,
  ca.id is not null as campaign_found, ca.timezone, ca.hours, ca.holidays, ca.switchboard
from calls c left join campaigns ca on ca.id = c.campaign_id
where c.call_sid = $1::text
for update of c`

/**
 * lockCall on RawSql. The flow definition comes from `definitionOf` (flow versions never change
 * once saved, so it can be cached by flow id and version) instead of being read with every step.
 */
export async function lockCallRaw (q: RawQuery, callSid: string, definitionOf: (flowId: string, version: number) => Promise<FlowDefinition | null>): Promise<LockedCall | null> {
  const [row] = await q<LockedRow>(LOCK_CALL, [callSid])
  if (row === undefined) return null
  const definition = row.flow_id !== null && row.flow_version !== null ? await definitionOf(row.flow_id, row.flow_version) : null
  return {
    id: row.id,
    tenantId: row.tenant_id,
    callSid: row.call_sid,
    campaignId: row.campaign_id,
    flowId: row.flow_id,
    flowVersion: row.flow_version,
    remoteHash: row.remote_hash,
    remoteNumber: row.remote_number,
    remoteWithheld: row.remote_withheld,
    state: row.state as CallState,
    stepSeq: row.step_seq,
    lastStep: row.last_step,
    lastTwiml: row.last_twiml,
    endedAt: rawDate(row.ended_at),
    definition,
    campaign: row.campaign_found === true
      ? { timezone: row.timezone!, hours: row.hours as Record<string, [string, string][]>, holidays: row.holidays as string[], switchboard: row.switchboard }
      : null
  }
}

export interface ConsentRow { node: string, prompt: string, digits: string | null, decision: string, granted: boolean }

export interface StepWrite {
  events: EventRow[]
  consents: ConsentRow[]
  streamTokenHashes: string[]
  state: CallState
  status: string | null
  step: number
  twiml: string
}

// Data-modifying CTEs run to completion with the statement, all or nothing
// (https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING). The rows
// arrive as jsonb arrays, so the text is the same whatever the step wrote and is prepared once.
const WRITE_STEP = `with ev as (
  insert into call_events (tenant_id, call_id, seq, node, input, outcome, at)
  select $1::uuid, $2::uuid, e.seq, e.node, e.input, e.outcome, $3::text::timestamptz
  from jsonb_to_recordset($4::text::jsonb) as e(seq int, node text, input text, outcome text)
), co as (
  insert into consents (tenant_id, call_id, call_sid, remote_hash, campaign_id, flow_id, flow_version, node, prompt, digits, decision, granted, method, at)
  select $1::uuid, $2::uuid, $5::text, $6::text, $7::uuid, $8::uuid, $9::int, c.node, c.prompt, c.digits, c.decision, c.granted, 'ivr', $3::text::timestamptz
  from jsonb_to_recordset($10::text::jsonb) as c(node text, prompt text, digits text, decision text, granted boolean)
), tk as (
  insert into stream_tokens (token_hash, tenant_id, call_sid, created_at)
  select t.value, $1::uuid, $5::text, $3::text::timestamptz from jsonb_array_elements_text($11::text::jsonb) as t
)
update calls set state = $12::text::jsonb, step_seq = $13::int, status = coalesce($14::text, status), last_step = $15::int, last_twiml = $16::text
where id = $2::uuid`

/**
 * One webhook step's writes in one statement: its events (numbered after the call's step_seq),
 * consent evidence, stream tokens, and the new state with the answer kept for Twilio's retries.
 * The last statement of its transaction: it commits with it (see RawQuery).
 */
export async function writeStepRaw (q: RawQuery, call: Pick<LockedCall, 'id' | 'tenantId' | 'callSid' | 'remoteHash' | 'campaignId' | 'flowId' | 'flowVersion' | 'stepSeq'>, w: StepWrite, at: Date): Promise<void> {
  let seq = call.stepSeq
  const events = w.events.map((e) => ({ seq: ++seq, node: e.node, input: e.input, outcome: e.outcome }))
  await q(WRITE_STEP, [call.tenantId, call.id, at.toISOString(), JSON.stringify(events), call.callSid, call.remoteHash, call.campaignId, call.flowId, call.flowVersion,
    JSON.stringify(w.consents), JSON.stringify(w.streamTokenHashes), JSON.stringify(w.state), seq, w.status, w.step, w.twiml], true)
}

// The voice webhook's step on a new call: the row is inserted with the state the start node left
// it in, with that step's events, consent and tokens, by one statement (so it commits on its own,
// nobody can see the call before its first step is stored, and nothing is inserted for a call
// that exists already — a retry — whose row the caller then locks as usual).
const START_CALL = `with c as (
  insert into calls (tenant_id, call_sid, direction, campaign_id, flow_id, flow_version, remote_hash, remote_number,
    remote_withheld, local_number, status, state, started_at, step_seq, last_step, last_twiml)
  values ($1::uuid, $2::text, $3::text, $4::uuid, $5::uuid, $6::int, $7::text, $8::text, $9::boolean, $10::text, $11::text,
    $12::text::jsonb, $13::text::timestamptz, $14::int, $15::int, $16::text)
  on conflict (call_sid) do nothing
  returning id
), ev as (
  insert into call_events (tenant_id, call_id, seq, node, input, outcome, at)
  select $1::uuid, c.id, e.seq, e.node, e.input, e.outcome, $13::text::timestamptz
  from c, jsonb_to_recordset($17::text::jsonb) as e(seq int, node text, input text, outcome text)
), co as (
  insert into consents (tenant_id, call_id, call_sid, remote_hash, campaign_id, flow_id, flow_version, node, prompt, digits, decision, granted, method, at)
  select $1::uuid, c.id, $2::text, $7::text, $4::uuid, $5::uuid, $6::int, x.node, x.prompt, x.digits, x.decision, x.granted, 'ivr', $13::text::timestamptz
  from c, jsonb_to_recordset($18::text::jsonb) as x(node text, prompt text, digits text, decision text, granted boolean)
), tk as (
  insert into stream_tokens (token_hash, tenant_id, call_sid, created_at)
  select t.value, $1::uuid, $2::text, $13::text::timestamptz from c, jsonb_array_elements_text($19::text::jsonb) as t
)
select id from c`

/** A new call and its first step's writes; null when the call exists already (nothing written). */
export async function insertStartedCallRaw (q: RawQuery, call: NewCall, w: StepWrite): Promise<string | null> {
  let seq = 0
  const events = w.events.map((e) => ({ seq: ++seq, node: e.node, input: e.input, outcome: e.outcome }))
  const [row] = await q<{ id: string }>(START_CALL, [call.tenantId, call.callSid, call.direction, call.campaignId, call.flowId, call.flowVersion,
    call.remoteHash, call.remoteNumber, call.remoteWithheld, call.localNumber, w.status ?? call.status, JSON.stringify(w.state), call.startedAt.toISOString(),
    seq, w.step, w.twiml, JSON.stringify(events), JSON.stringify(w.consents), JSON.stringify(w.streamTokenHashes)])
  return row?.id ?? null
}
