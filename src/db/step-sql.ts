import type { CallState, FlowDefinition } from '../flows/index.js'
import type { DomainEvent } from '../events/catalogue.js'
import { emitting } from '../events/outbox-sql.js'
import type { EventRow, NewCall } from './calls.js'
import { rawDate, type RawQuery } from './client.js'

// The webhook hot path's SQL, all of it: fixed texts through RawSql (see client.ts), one
// statement per kind of read or write for a whole batch of calls (calls/step-batch.ts). Lists
// travel as one jsonb text parameter, so each text is the same whatever the batch holds and is
// prepared once. test/calls/step-sql-columns.test.ts checks every column named here against
// the drizzle schema (schema.ts), so a schema change cannot silently miss these statements.

/** A call as its next webhook step needs it; the step's write is applied only if it is still so. */
export interface CallSnapshot {
  id: string
  tenantId: string
  callSid: string
  campaignId: string | null
  flowId: string | null
  flowVersion: number | null
  remoteHash: string
  remoteNumber: string | null
  remoteWithheld: boolean
  state: CallState
  stepSeq: number
  lastStep: number
  lastTwiml: string | null
  endedAt: Date | null
  /** The version the call started on: publishing mid-call changes nothing for it. */
  definition: FlowDefinition | null
  campaign: { timezone: string, hours: Record<string, [string, string][]>, holidays: string[], switchboard: string | null } | null
}

/** What answering a call to one of our numbers needs, without the definition (see FlowVersionCache). */
export interface CallRoute {
  tenantId: string
  offboardingSince: Date | null
  flowId: string
  publishedVersion: number | null
  campaign: { id: string, timezone: string, hours: Record<string, [string, string][]>, holidays: string[], switchboard: string | null, endsAt: Date | null, storeCallerNumber: boolean }
  /**
   * The campaign's dialler flow, when it has one. The dialler stores its call before Twilio's
   * first webhook in the usual case; a webhook that wins that race runs this flow, not the number's.
   */
  dialler: { flowId: string, publishedVersion: number | null } | null
}

export interface ConsentRow { node: string, prompt: string, digits: string | null, decision: string, granted: boolean }

/** Everything one webhook step stores, whatever the case (calls/plan.ts makes it). */
export interface StepWrite {
  events: EventRow[]
  consents: ConsentRow[]
  /** SHA-256 of each stream token the step issues (calls/stream-token.ts). */
  streamTokenHashes: string[]
  /** The caller opted out: their number's hash is suppressed for the call's tenant. */
  suppress: boolean
  /** What the step tells the customer's systems (events/catalogue.ts), in order. */
  emits: DomainEvent[]
  state: CallState
  /** null: the status stays. */
  status: string | null
  /** The step applied and its answer as stored for a retry (stream tokens as a placeholder); null: none. */
  reply: { step: number, twiml: string } | null
}

/** A write lands on a call as it was read (compare-and-set) or creates a call that must not exist yet. */
export type WriteTarget = { kind: 'update', call: CallSnapshot } | { kind: 'insert', call: NewCall }

// ---- Reads

interface CallRow {
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
export const READ_CALLS = `select c.id, c.tenant_id, c.call_sid, c.campaign_id, c.flow_id, c.flow_version, c.remote_hash, c.remote_number,
  c.remote_withheld, c.state, c.step_seq, c.last_step, c.last_twiml, c.ended_at,
  ca.id is not null as campaign_found, ca.timezone, ca.hours, ca.holidays, ca.switchboard
from calls c left join campaigns ca on ca.id = c.campaign_id
where c.call_sid = any(array(select jsonb_array_elements_text($1::text::jsonb)))`

export type DefinitionOf = (flowId: string, version: number) => Promise<FlowDefinition | null>

/** CallSid → the call as it stands (absent: unknown), for many calls at once and without a lock. */
export async function readCalls (q: RawQuery, callSids: string[], definitionOf: DefinitionOf): Promise<Map<string, CallSnapshot>> {
  const rows = await q<CallRow>(READ_CALLS, [JSON.stringify(callSids)])
  const found = new Map<string, CallSnapshot>()
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

export const READ_ROUTES = `select n.number, n.tenant_id, t.offboarding_since, n.flow_id, f.published_version,
  ca.id as campaign_id, ca.timezone, ca.hours, ca.holidays, ca.switchboard, ca.ends_at, ca.store_caller_number,
  df.id as dialler_flow_id, df.published_version as dialler_published_version
from numbers n
join campaigns ca on ca.id = n.campaign_id
join flows f on f.id = n.flow_id
join tenants t on t.id = n.tenant_id
left join flows df on df.id = (ca.dialler->>'flowId')::uuid and df.campaign_id = ca.id
where n.number = any(array(select jsonb_array_elements_text($1::text::jsonb)))`

/**
 * The routes of the numbers called in a batch (number → its route; absent: no campaign owns it),
 * without the definition: the caller takes it from the flow-version cache. The campaign is read
 * on every call: it can change.
 */
export async function readRoutes (q: RawQuery, numbers: string[]): Promise<Map<string, CallRoute>> {
  const rows = await q<Record<string, unknown>>(READ_ROUTES, [JSON.stringify([...new Set(numbers)])])
  return new Map(rows.map((r) => [r.number as string, {
    tenantId: r.tenant_id as string,
    offboardingSince: rawDate(r.offboarding_since),
    flowId: r.flow_id as string,
    publishedVersion: r.published_version as number | null,
    campaign: {
      id: r.campaign_id as string,
      timezone: r.timezone as string,
      hours: r.hours as Record<string, [string, string][]>,
      holidays: r.holidays as string[],
      switchboard: r.switchboard as string | null,
      endsAt: rawDate(r.ends_at),
      storeCallerNumber: r.store_caller_number as boolean
    },
    dialler: r.dialler_flow_id === null ? null : { flowId: r.dialler_flow_id as string, publishedVersion: r.dialler_published_version as number | null }
  }]))
}

export const READ_DEFINITION = 'select definition from flow_versions where flow_id = $1::uuid and version = $2::int'

/**
 * Saved flow versions never change (a new definition is a new version), so the calls running on
 * one read it once per process instead of once per webhook. Bounded: versions no longer called
 * age out in insertion order.
 */
export function createFlowVersionCache (max = 500) {
  const cache = new Map<string, Promise<unknown>>()
  return async (q: RawQuery, flowId: string, version: number): Promise<unknown> => {
    const key = `${flowId}:${version}`
    let found = cache.get(key)
    if (found === undefined) {
      found = q<{ definition: unknown }>(READ_DEFINITION, [flowId, version]).then((rows) => rows[0]?.definition ?? null)
      // A failed read is not remembered; a version not found (deleted with its tenant) is not either.
      found.then((d) => { if (d === null) cache.delete(key) }, () => cache.delete(key))
      if (cache.size >= max) cache.delete(cache.keys().next().value!)
      cache.set(key, found)
    }
    return await found
  }
}
export type FlowVersionCache = ReturnType<typeof createFlowVersionCache>

// ---- Writes. Data-modifying CTEs run to completion with the statement, all or nothing
// (https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING). The
// effects' tables are written by the same CTEs in both statements (STEP_EFFECTS). An opt-out
// also takes the number off every campaign's contact list still to be called.

const STEP_EFFECTS = `ev as (
  insert into call_events (tenant_id, call_id, seq, node, input, outcome, at)
  select w.tenant_id, w.id, e.seq, e.node, e.input, e.outcome, $1::text::timestamptz
  from w, jsonb_to_recordset(w.events) as e(seq int, node text, input text, outcome text)
), co as (
  insert into consents (tenant_id, call_id, call_sid, remote_hash, campaign_id, flow_id, flow_version, node, prompt, digits, decision, granted, method, at)
  select w.tenant_id, w.id, w.call_sid, w.remote_hash, w.campaign_id, w.flow_id, w.flow_version, x.node, x.prompt, x.digits, x.decision, x.granted, 'ivr', $1::text::timestamptz
  from w, jsonb_to_recordset(w.consents) as x(node text, prompt text, digits text, decision text, granted boolean)
), tk as (
  insert into stream_tokens (token_hash, tenant_id, call_sid, created_at)
  select t.value, w.tenant_id, w.call_sid, $1::text::timestamptz from w, jsonb_array_elements_text(w.tokens) as t
), sp as (
  insert into suppressions (tenant_id, number_hash, source, reason, call_sid, created_at)
  select distinct on (w.tenant_id, w.remote_hash) w.tenant_id, w.remote_hash, 'ivr', 'opted out in the IVR', w.call_sid, $1::text::timestamptz
  from w where w.suppress
  on conflict do nothing
), sc as (
  update contacts set status = 'suppressed', next_attempt_at = null, last_outcome = 'optedOut'
  where status in ('pending', 'scheduled') and (tenant_id, number_hash) in (select w.tenant_id, w.remote_hash from w where w.suppress)
), ${emitting('ob', 'select w.tenant_id, o.type, w.call_sid, o.data, $1::text::timestamptz from w, jsonb_to_recordset(w.emits) as o(type text, data jsonb)')}`

// A call is written only if it is still as it was read: the same last step and event number, and
// ended or not as it was. Anything that changed it in between (a status callback, an event
// appended by the recorder, another process) changed one of those; that call is missing from
// what the statement returns and nothing of its step is written. Under READ COMMITTED an update
// that waited for another writer checks its conditions against the row that writer left
// (https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED).
export const WRITE_STEPS = `with s as (
  select * from jsonb_to_recordset($2::text::jsonb) as s(id uuid, tenant_id uuid, call_sid text, remote_hash text, campaign_id uuid,
    flow_id uuid, flow_version int, read_step int, read_seq int, read_ended boolean, events jsonb, consents jsonb, tokens jsonb,
    suppress boolean, emits jsonb, state jsonb, step_seq int, status text, last_step int, last_twiml text)
), u as (
  update calls c set state = s.state, step_seq = s.step_seq, status = coalesce(s.status, c.status),
    last_step = coalesce(s.last_step, c.last_step), last_twiml = case when s.last_step is null then c.last_twiml else s.last_twiml end
  from s
  where c.id = s.id and c.id = any(array(select id from s)) and c.last_step = s.read_step and c.step_seq = s.read_seq
    and (c.ended_at is not null) = s.read_ended
  returning c.id
), w as (
  select s.* from s join u on u.id = s.id
), ${STEP_EFFECTS}
select id from u`

// New calls, each inserted with the state its first step left it in and that step's effects (so
// nobody can see a call before its first step is stored). A call that exists already (Twilio's
// retry of the start, an outbound call placed through the API) is left as it is and nothing of
// it is written; its CallSid is missing from what the statement returns.
export const START_CALLS = `with s as (
  select * from jsonb_to_recordset($2::text::jsonb) as s(tenant_id uuid, call_sid text, direction text, campaign_id uuid, flow_id uuid,
    flow_version int, remote_hash text, remote_number text, remote_withheld boolean, local_number text, status text, state jsonb,
    step_seq int, last_step int, last_twiml text, events jsonb, consents jsonb, tokens jsonb, suppress boolean, emits jsonb)
), c as (
  insert into calls (tenant_id, call_sid, direction, campaign_id, flow_id, flow_version, remote_hash, remote_number,
    remote_withheld, local_number, status, state, started_at, step_seq, last_step, last_twiml)
  select tenant_id, call_sid, direction, campaign_id, flow_id, flow_version, remote_hash, remote_number,
    remote_withheld, local_number, status, state, $1::text::timestamptz, step_seq, last_step, last_twiml
  from s
  on conflict (call_sid) do nothing
  returning id, call_sid
), w as (
  select c.id, s.* from c join s on s.call_sid = c.call_sid
), ${STEP_EFFECTS}
select call_sid from c`

/** A step's events, numbered after the call's last one. */
const numbered = (events: EventRow[], after: number) => events.map((e, i) => ({ seq: after + i + 1, node: e.node, input: e.input, outcome: e.outcome }))

/**
 * Steps of calls going on, in one statement. Each call appears once. Returns the ids of the calls
 * written; a call missing from it had changed since it was read, and nothing of its step was written.
 */
export async function writeSteps (q: RawQuery, steps: Array<{ call: CallSnapshot, write: StepWrite }>, at: Date): Promise<Set<string>> {
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
      read_ended: call.endedAt !== null,
      events,
      consents: w.consents,
      tokens: w.streamTokenHashes,
      suppress: w.suppress,
      emits: w.emits,
      state: w.state,
      step_seq: call.stepSeq + events.length,
      status: w.status,
      last_step: w.reply?.step ?? null,
      last_twiml: w.reply?.twiml ?? null
    }
  })
  const written = await q<{ id: string }>(WRITE_STEPS, [at.toISOString(), JSON.stringify(rows)])
  return new Set(written.map((r) => r.id))
}

/** New calls and their first steps, all started at `at`. Returns the CallSids inserted. */
export async function insertCalls (q: RawQuery, starts: Array<{ call: NewCall, write: StepWrite }>, at: Date): Promise<Set<string>> {
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
      last_step: w.reply?.step ?? 0,
      last_twiml: w.reply?.twiml ?? null,
      events,
      consents: w.consents,
      tokens: w.streamTokenHashes,
      suppress: w.suppress,
      emits: w.emits
    }
  })
  const inserted = await q<{ call_sid: string }>(START_CALLS, [at.toISOString(), JSON.stringify(rows)])
  return new Set(inserted.map((r) => r.call_sid))
}
