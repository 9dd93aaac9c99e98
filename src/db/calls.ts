import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm'
import { initialCallState, type CallState } from '../flows/index.js'
import type { DomainEvent, Emitted } from '../events/catalogue.js'
import { emit } from '../events/emit.js'
import { emitting } from '../events/outbox-sql.js'
import { rowsOf, type Executor } from './executor.js'
import { callEvents, calls, consents, recordings, streamTokens } from './schema.js'

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

/** Inserts the calls Twilio has not already told us about (a retried webhook, an early status); each inserted one emits call.started. */
export async function insertCall (db: Executor, call: NewCall | NewCall[]): Promise<void> {
  const list = Array.isArray(call) ? call : [call]
  if (list.length === 0) return
  const inserted = await db.insert(calls).values(list).onConflictDoNothing({ target: calls.callSid }).returning({ callSid: calls.callSid })
  const placed = new Set(inserted.map((r) => r.callSid))
  await emit(db, ...list.filter((c) => placed.has(c.callSid)).map((c): Emitted => ({
    type: 'call.started', tenantId: c.tenantId, at: c.startedAt, data: { callSid: c.callSid, campaignId: c.campaignId, direction: c.direction }
  })))
}

/**
 * The outbox clauses for a statement whose CTE `from` returns the changed call's tenant_id and
 * campaign_id, once per change: `events` are emitted for each row it returns (none if it
 * returned none), a `campaignId` in their data taken from that row.
 */
function outboxOf (from: string, events: DomainEvent[], at: string) {
  const rows = JSON.stringify(events.map((e, n) => ({ n, type: e.type, data: e.data, at })))
  const source = `select f.tenant_id, x.type, x.data->>'callSid',
    case when x.data ? 'campaignId' then x.data || jsonb_build_object('campaignId', f.campaign_id) else x.data end, x.at
    from ${from} f, ob_src x order by x.n`
  return sql`ob_src as (select * from jsonb_to_recordset(${rows}::text::jsonb) as x(n int, type text, data jsonb, at timestamptz)), ${sql.raw(emitting('ob', source))}`
}

export interface EventRow { node: string | null, input: string | null, outcome: string }

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
export async function endCall (tx: Executor, callSid: string, status: string, durationSeconds: number | null, at: Date): Promise<EndedCall | null> {
  // One statement: this runs for every call, and the dialler's pace is 100 calls a second.
  // Consent was for this call: a stream token it never used must not admit a stream later.
  // The optout node logs "suppressed" once the suppression is stored (flows/nodes/optout.ts).
  const when = at.toISOString()
  const rows = rowsOf<{ tenant_id: string, direction: string, remote_hash: string, last_step: number, opted_out: boolean }>(await tx.execute(sql`
    with c as (
      update ${calls} set status = ${status}, ended_at = ${when}::timestamptz, duration_seconds = ${durationSeconds}, step_seq = step_seq + 1, last_twiml = null
      where call_sid = ${callSid} and ended_at is null
      returning id, tenant_id, campaign_id, step_seq, direction, remote_hash, last_step
    ), e as (
      insert into ${callEvents} (tenant_id, call_id, seq, node, input, outcome, at)
      select tenant_id, id, step_seq, null, null, ${`status-${status}`}, ${when}::timestamptz from c
    ), t as (
      update ${streamTokens} set used_at = ${when}::timestamptz where call_sid = ${callSid} and used_at is null and exists (select 1 from c)
    ), ${outboxOf('c', [{ type: 'call.completed', data: { callSid, status, durationSeconds } }], when)}
    select c.tenant_id, c.direction, c.remote_hash, c.last_step,
      c.direction <> 'inbound' and exists (select 1 from ${callEvents} ce where ce.call_id = c.id and ce.outcome = 'suppressed') as opted_out
    from c`))
  const row = rows[0]
  if (row === undefined) return null
  return { callSid, tenantId: row.tenant_id, direction: row.direction, remoteHash: row.remote_hash, flowRan: Number(row.last_step) > 0, optedOut: row.opted_out }
}

/**
 * The final status of an outbound call not on file: its placement is stored after Twilio
 * answers the request, and a call that ends at once (busy, no answer) can report before that.
 * The call is stored ended, on the number it was placed from, so the attempt behind it settles.
 * Null: the number is not ours, or the call is on file after all.
 */
export async function endUnseenOutboundCall (tx: Executor, p: { callSid: string, localNumber: string, remoteHash: string, status: string, durationSeconds: number | null, at: Date }): Promise<EndedCall | null> {
  const at = p.at.toISOString()
  const rows = rowsOf<{ tenant_id: string }>(await tx.execute(sql`
    with c as (
      insert into ${calls} (tenant_id, call_sid, direction, campaign_id, flow_id, remote_hash, remote_withheld, local_number, status, state, started_at, ended_at, duration_seconds, step_seq)
      select n.tenant_id, ${p.callSid}, 'outbound', n.campaign_id, n.flow_id, ${p.remoteHash}, false, n.number, ${p.status}, ${JSON.stringify({ ...initialCallState(), ended: true })}::jsonb,
        ${at}::timestamptz, ${at}::timestamptz, ${p.durationSeconds}, 1
      from numbers n where n.number = ${p.localNumber}
      on conflict (call_sid) do nothing
      returning id, tenant_id, campaign_id
    ), e as (
      insert into ${callEvents} (tenant_id, call_id, seq, node, input, outcome, at)
      select tenant_id, id, 1, null, null, ${`status-${p.status}`}, ${at}::timestamptz from c
    ), ${outboxOf('c', [
      { type: 'call.started', data: { callSid: p.callSid, campaignId: null, direction: 'outbound' } },
      { type: 'call.completed', data: { callSid: p.callSid, status: p.status, durationSeconds: p.durationSeconds } }
    ], at)}
    select tenant_id from c`))
  const row = rows[0]
  if (row === undefined) return null
  return { callSid: p.callSid, tenantId: row.tenant_id, direction: 'outbound', remoteHash: p.remoteHash, flowRan: false, optedOut: false }
}

/** A call as its final status found it. */
export interface EndedCall {
  callSid: string
  tenantId: string
  direction: string
  remoteHash: string
  /** At least one flow step was answered. */
  flowRan: boolean
  /** The caller opted out during the call (outbound calls only are asked). */
  optedOut: boolean
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
