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

/**
 * `reply`: the webhook step just applied and its TwiML, kept to answer Twilio's retries of it
 * (with a placeholder for any stream token: calls/stream-token.ts).
 */
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
 * answer kept for a retry goes: steps of an ended call are answered <Hangup/>.
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
// kind of write for a whole batch of calls (calls/step-batch.ts). They do what lockCall,
// insertCall, insertConsent, insertStreamToken, appendEvents and saveCallState do together, in
// fewer round trips and without building queries per request. Lists travel as one jsonb text
// parameter, so each text is the same whatever the batch holds and is prepared once.

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

// No row lock: the write that follows checks that the call is still as read (see WRITE_STEPS).
// `= any(array(…))` lets the planner probe the index once per CallSid; an `in (select …)` over
// the jsonb was planned as a scan of the table.
const READ_CALLS = `select c.id, c.tenant_id, c.call_sid, c.campaign_id, c.flow_id, c.flow_version, c.remote_hash, c.remote_number,
  c.remote_withheld, c.state, c.step_seq, c.last_step, c.last_twiml, c.ended_at,
  ca.id is not null as campaign_found, ca.timezone, ca.hours, ca.holidays, ca.switchboard
from calls c left join campaigns ca on ca.id = c.campaign_id
where c.call_sid = any(array(select jsonb_array_elements_text($1::text::jsonb)))`

/**
 * lockCall's read on RawSql, for many calls at once and without the lock: CallSid → the call as
 * it stands (absent: unknown). The flow definition comes from `definitionOf` (flow versions never
 * change once saved, so it can be cached by flow id and version) instead of being read with
 * every step.
 */
export async function readCallsRaw (q: RawQuery, callSids: string[], definitionOf: (flowId: string, version: number) => Promise<FlowDefinition | null>): Promise<Map<string, LockedCall>> {
  const rows = await q<LockedRow>(READ_CALLS, [JSON.stringify(callSids)])
  const found = new Map<string, LockedCall>()
  for (const row of rows) {
    const definition = row.flow_id !== null && row.flow_version !== null ? await definitionOf(row.flow_id, row.flow_version) : null
    found.set(row.call_sid, {
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
    })
  }
  return found
}

export interface ConsentRow { node: string, prompt: string, digits: string | null, decision: string, granted: boolean }

export interface StepWrite {
  events: EventRow[]
  consents: ConsentRow[]
  streamTokenHashes: string[]
  state: CallState
  status: string | null
  step: number
  /** The answer as stored for a retry: stream tokens replaced by a placeholder (calls/stream-token.ts). */
  twiml: string
}

// Data-modifying CTEs run to completion with the statement, all or nothing
// (https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING). A call is
// written only if it is still as it was read: the same last step and event number, not ended.
// Anything that changed it in between (a retry's original, a status callback, the general path,
// an event appended by the recorder) changed one of those. The others' rows are written; the
// statement returns the ids it wrote. Under READ COMMITTED an update that waited for another
// writer checks its conditions against the row that writer left
// (https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED).
const WRITE_STEPS = `with s as (
  select * from jsonb_to_recordset($2::text::jsonb) as s(id uuid, tenant_id uuid, call_sid text, remote_hash text, campaign_id uuid,
    flow_id uuid, flow_version int, read_step int, read_seq int, events jsonb, consents jsonb, tokens jsonb, state jsonb, step_seq int,
    status text, last_step int, last_twiml text)
), u as (
  update calls c set state = s.state, step_seq = s.step_seq, status = coalesce(s.status, c.status), last_step = s.last_step, last_twiml = s.last_twiml
  from s
  where c.id = s.id and c.id = any(array(select id from s)) and c.last_step = s.read_step and c.step_seq = s.read_seq and c.ended_at is null
  returning c.id
), w as (
  select s.* from s join u on u.id = s.id
), ev as (
  insert into call_events (tenant_id, call_id, seq, node, input, outcome, at)
  select w.tenant_id, w.id, e.seq, e.node, e.input, e.outcome, $1::text::timestamptz
  from w, jsonb_to_recordset(w.events) as e(seq int, node text, input text, outcome text)
), co as (
  insert into consents (tenant_id, call_id, call_sid, remote_hash, campaign_id, flow_id, flow_version, node, prompt, digits, decision, granted, method, at)
  select w.tenant_id, w.id, w.call_sid, w.remote_hash, w.campaign_id, w.flow_id, w.flow_version, c.node, c.prompt, c.digits, c.decision, c.granted, 'ivr', $1::text::timestamptz
  from w, jsonb_to_recordset(w.consents) as c(node text, prompt text, digits text, decision text, granted boolean)
), tk as (
  insert into stream_tokens (token_hash, tenant_id, call_sid, created_at)
  select t.value, w.tenant_id, w.call_sid, $1::text::timestamptz from w, jsonb_array_elements_text(w.tokens) as t
)
select id from u`

export type StepCall = Pick<LockedCall, 'id' | 'tenantId' | 'callSid' | 'remoteHash' | 'campaignId' | 'flowId' | 'flowVersion' | 'stepSeq' | 'lastStep'>

/**
 * Webhook steps' writes in one statement: for each call its events (numbered after its
 * step_seq), consent evidence, stream tokens, and the new state with the answer kept for
 * Twilio's retries. Each call appears once. Returns the ids of the calls written; a call missing
 * from it had changed since it was read, and nothing of its step was written.
 */
export async function writeStepsRaw (q: RawQuery, steps: Array<{ call: StepCall, write: StepWrite }>, at: Date): Promise<Set<string>> {
  const rows = steps.map(({ call, write: w }) => {
    const events = numbered(w.events, call.stepSeq)
    return {
      id: call.id,
      tenant_id: call.tenantId,
      call_sid: call.callSid,
      remote_hash: call.remoteHash,
      campaign_id: call.campaignId,
      flow_id: call.flowId,
      flow_version: call.flowVersion,
      read_step: call.lastStep,
      read_seq: call.stepSeq,
      events,
      consents: w.consents,
      tokens: w.streamTokenHashes,
      state: w.state,
      step_seq: call.stepSeq + events.length,
      status: w.status,
      last_step: w.step,
      last_twiml: w.twiml
    }
  })
  const written = await q<{ id: string }>(WRITE_STEPS, [at.toISOString(), JSON.stringify(rows)])
  return new Set(written.map((r) => r.id))
}

/** A step's events, numbered after the call's last one. */
const numbered = (events: EventRow[], after: number) => events.map((e, i) => ({ seq: after + i + 1, node: e.node, input: e.input, outcome: e.outcome }))

// New calls, each inserted with the state its start node left it in and that step's events,
// consent and tokens (so nobody can see a call before its first step is stored). A call that
// exists already (Twilio's retry of the start) is left as it is and nothing of it is written;
// its CallSid is missing from what the statement returns.
const START_CALLS = `with s as (
  select * from jsonb_to_recordset($2::text::jsonb) as s(tenant_id uuid, call_sid text, direction text, campaign_id uuid, flow_id uuid,
    flow_version int, remote_hash text, remote_number text, remote_withheld boolean, local_number text, status text, state jsonb,
    step_seq int, last_step int, last_twiml text, events jsonb, consents jsonb, tokens jsonb)
), c as (
  insert into calls (tenant_id, call_sid, direction, campaign_id, flow_id, flow_version, remote_hash, remote_number,
    remote_withheld, local_number, status, state, started_at, step_seq, last_step, last_twiml)
  select tenant_id, call_sid, direction, campaign_id, flow_id, flow_version, remote_hash, remote_number,
    remote_withheld, local_number, status, state, $1::text::timestamptz, step_seq, last_step, last_twiml
  from s
  on conflict (call_sid) do nothing
  returning id, call_sid
), ev as (
  insert into call_events (tenant_id, call_id, seq, node, input, outcome, at)
  select s.tenant_id, c.id, e.seq, e.node, e.input, e.outcome, $1::text::timestamptz
  from c join s on s.call_sid = c.call_sid, jsonb_to_recordset(s.events) as e(seq int, node text, input text, outcome text)
), co as (
  insert into consents (tenant_id, call_id, call_sid, remote_hash, campaign_id, flow_id, flow_version, node, prompt, digits, decision, granted, method, at)
  select s.tenant_id, c.id, s.call_sid, s.remote_hash, s.campaign_id, s.flow_id, s.flow_version, x.node, x.prompt, x.digits, x.decision, x.granted, 'ivr', $1::text::timestamptz
  from c join s on s.call_sid = c.call_sid, jsonb_to_recordset(s.consents) as x(node text, prompt text, digits text, decision text, granted boolean)
), tk as (
  insert into stream_tokens (token_hash, tenant_id, call_sid, created_at)
  select t.value, s.tenant_id, s.call_sid, $1::text::timestamptz from c join s on s.call_sid = c.call_sid, jsonb_array_elements_text(s.tokens) as t
)
select call_sid from c`

/**
 * New calls and their first steps' writes, all started at `at`. Returns the CallSids inserted;
 * the others existed already and nothing of them was written.
 */
export async function insertStartedCallsRaw (q: RawQuery, starts: Array<{ call: NewCall, write: StepWrite }>, at: Date): Promise<Set<string>> {
  const rows = starts.map(({ call, write: w }) => {
    const events = numbered(w.events, 0)
    return {
      tenant_id: call.tenantId,
      call_sid: call.callSid,
      direction: call.direction,
      campaign_id: call.campaignId,
      flow_id: call.flowId,
      flow_version: call.flowVersion,
      remote_hash: call.remoteHash,
      remote_number: call.remoteNumber,
      remote_withheld: call.remoteWithheld,
      local_number: call.localNumber,
      status: w.status ?? call.status,
      state: w.state,
      step_seq: events.length,
      last_step: w.step,
      last_twiml: w.twiml,
      events,
      consents: w.consents,
      tokens: w.streamTokenHashes
    }
  })
  const inserted = await q<{ call_sid: string }>(START_CALLS, [at.toISOString(), JSON.stringify(rows)])
  return new Set(inserted.map((r) => r.call_sid))
}
