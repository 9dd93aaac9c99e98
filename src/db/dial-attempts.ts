import { and, count, eq, gt, inArray, isNotNull, sql, type SQL } from 'drizzle-orm'
import { emitting } from '../events/outbox-sql.js'
import { contactRule, type ContactRule } from '../dialler/outcome.js'
import type { CampaignContext } from '../flows/definition.js'
import { rawDate } from './client.js'
import { rowsOf, type Executor } from './executor.js'
import { callAttempts, calls, campaigns, contacts, DIAL_OUTCOMES, type ContactStatus, type DialOutcome, type DiallerSettings, type DiallerState } from './schema.js'

// The dialler's reads and writes (dialler/dialler.ts). Its attempts are call_attempts rows that
// name a contact; one unsettled is a call in flight.

/** A campaign the dialler works on, locked for this process's turn. */
export interface DiallingCampaign {
  id: string
  tenantId: string
  timezone: string
  hours: CampaignContext['hours']
  holidays: string[]
  defaultCountry: string | null
  callCap: { count: number, perDays: number } | null
  endsAt: Date | null
  storeCallerNumber: boolean
  switchboard: string | null
  dialler: DiallerSettings
  offboarding: boolean
  /** The dialler flow's published version; null: none is published. */
  flowVersion: number | null
}

/** The ids of the campaigns whose dialler runs. */
export async function runningCampaigns (db: Executor): Promise<string[]> {
  const rows = await db.select({ id: campaigns.id }).from(campaigns).where(eq(campaigns.diallerState, 'running'))
  return rows.map((r) => r.id)
}

/**
 * Locks the campaign's row if its dialler runs and no other process holds it (null otherwise):
 * one process at a time counts the campaign's calls in flight and places the next ones, so the
 * limits hold over all of them together.
 */
export async function lockRunningCampaign (tx: Executor, campaignId: string): Promise<DiallingCampaign | null> {
  const rows = rowsOf<Record<string, unknown>>(await tx.execute(sql`
    select ca.id, ca.tenant_id, ca.timezone, ca.hours, ca.holidays, ca.default_country, ca.call_cap, ca.ends_at, ca.store_caller_number, ca.switchboard, ca.dialler,
      t.offboarding_since is not null as offboarding, f.published_version
    from ${campaigns} ca
    join tenants t on t.id = ca.tenant_id
    left join flows f on f.id = (ca.dialler->>'flowId')::uuid and f.campaign_id = ca.id
    where ca.id = ${campaignId}::uuid and ca.dialler_state = 'running' and ca.dialler is not null
    for update of ca skip locked`))
  const r = rows[0]
  if (r === undefined) return null
  return {
    id: r.id as string,
    tenantId: r.tenant_id as string,
    timezone: r.timezone as string,
    hours: r.hours as CampaignContext['hours'],
    holidays: r.holidays as string[],
    defaultCountry: r.default_country as string | null,
    callCap: r.call_cap as DiallingCampaign['callCap'],
    endsAt: rawDate(r.ends_at),
    storeCallerNumber: r.store_caller_number as boolean,
    switchboard: r.switchboard as string | null,
    dialler: r.dialler as DiallerSettings,
    offboarding: r.offboarding as boolean,
    flowVersion: r.published_version as number | null
  }
}

/** Calls in flight for the campaign, and attempts placed since `since` (the last minute). */
export async function pacing (tx: Executor, campaignId: string, since: Date): Promise<{ inFlight: number, recent: number }> {
  const [row] = await tx.select({
    inFlight: sql<number>`count(*) filter (where ${callAttempts.settledAt} is null)::int`,
    recent: sql<number>`count(*) filter (where ${callAttempts.at} > ${since.toISOString()}::timestamptz)::int`
  }).from(callAttempts)
    .where(and(eq(callAttempts.campaignId, campaignId), isNotNull(callAttempts.contactId), sql`(${callAttempts.settledAt} is null or ${callAttempts.at} > ${since.toISOString()}::timestamptz)`))
  return { inFlight: Number(row?.inFlight ?? 0), recent: Number(row?.recent ?? 0) }
}

export interface DueContact { id: string, numberHash: string, numberSealed: string, timezone: string | null, attempts: number }

/** The next contacts due, oldest due first, locked; rows another process holds are skipped. */
export async function claimDue (tx: Executor, campaignId: string, now: Date, limit: number): Promise<DueContact[]> {
  const rows = rowsOf<Record<string, unknown>>(await tx.execute(sql`
    select id, number_hash, number_sealed, timezone, attempts from ${contacts}
    where campaign_id = ${campaignId}::uuid
      and (status = 'pending' or (status = 'scheduled' and next_attempt_at <= ${now.toISOString()}::timestamptz))
    order by coalesce(next_attempt_at, created_at), id
    limit ${limit}
    for update skip locked`))
  return rows.map((r) => ({ id: r.id as string, numberHash: r.number_hash as string, numberSealed: r.number_sealed as string, timezone: r.timezone as string | null, attempts: Number(r.attempts) }))
}

/**
 * Of these numbers, those on a call with the tenant now: an attempt in flight (any campaign) or a
 * call on file that has not ended (inbound too), begun within the longest a Twilio call lasts.
 */
export async function numbersOnACall (tx: Executor, tenantId: string, hashes: string[], now: Date): Promise<Set<string>> {
  if (hashes.length === 0) return new Set()
  const since = new Date(now.getTime() - 4 * 3600_000).toISOString()
  const list = `{${hashes.join(',')}}`
  const rows = rowsOf<{ h: string }>(await tx.execute(sql`
    select number_hash as h from ${callAttempts}
      where tenant_id = ${tenantId}::uuid and number_hash = any(${list}::text[]) and contact_id is not null and settled_at is null
    union
    select remote_hash from ${calls}
      where tenant_id = ${tenantId}::uuid and remote_hash = any(${list}::text[]) and ended_at is null and started_at > ${since}::timestamptz`))
  return new Set(rows.map((r) => r.h))
}

/**
 * Writes the attempts (committed before anyone dials) and marks their contacts dialling. An
 * attempt whose number another process got in flight first is not written (the unique in-flight
 * index decides); returns contact id → attempt id for those written.
 */
export async function openAttempts (tx: Executor, campaign: { id: string, tenantId: string }, list: DueContact[], now: Date): Promise<Map<string, number>> {
  if (list.length === 0) return new Map()
  const rows = await tx.insert(callAttempts)
    .values(list.map((c) => ({ tenantId: campaign.tenantId, campaignId: campaign.id, numberHash: c.numberHash, contactId: c.id, at: now })))
    .onConflictDoNothing()
    .returning({ id: callAttempts.id, contactId: callAttempts.contactId })
  const opened = new Map(rows.map((r) => [r.contactId!, r.id]))
  if (opened.size > 0) {
    await tx.update(contacts).set({ status: 'dialling', attempts: sql`${contacts.attempts} + 1`, nextAttemptAt: null })
      .where(inArray(contacts.id, [...opened.keys()]))
  }
  return opened
}

export interface ContactMove { id: string, status: ContactStatus, nextAttemptAt: Date | null, lastOutcome?: string }

/** Moves contacts on (deferred, suppressed, settled), one statement for the lot. */
export async function moveContacts (tx: Executor, moves: ContactMove[]): Promise<void> {
  if (moves.length === 0) return
  const rows = JSON.stringify(moves.map((m) => ({ id: m.id, s: m.status, n: m.nextAttemptAt?.toISOString() ?? null, o: m.lastOutcome ?? null })))
  await tx.execute(sql`
    update ${contacts} c set status = x.s, next_attempt_at = x.n, last_outcome = coalesce(x.o, c.last_outcome)
    from jsonb_to_recordset(${rows}::text::jsonb) as x(id uuid, s text, n timestamptz, o text)
    where c.id = x.id`)
}

/** Twilio took the calls: each CallSid goes on its attempt, unless the attempt was settled meanwhile. */
export async function attachCallSids (db: Executor, placed: Array<{ attemptId: number, callSid: string }>): Promise<void> {
  if (placed.length === 0) return
  const rows = JSON.stringify(placed.map((p) => ({ id: p.attemptId, sid: p.callSid })))
  await db.execute(sql`
    update ${callAttempts} a set call_sid = x.sid
    from jsonb_to_recordset(${rows}::text::jsonb) as x(id bigint, sid text)
    where a.id = x.id and a.settled_at is null`)
}

export interface SettledAttempt { id: number, campaignId: string, tenantId: string, contactId: string, dialler: DiallerSettings | null }

/** A contact in one of these is not called again: the customer's systems are told (contact.completed). */
const FINAL: ContactStatus[] = ['completed', 'exhausted', 'suppressed']

/**
 * Runs `update` (an update of call_attempts setting their outcome, returning id, campaign_id,
 * contact_id, call_sid) and, in the same statement, moves each contact on by `rule` against its attempts
 * and the campaign's settings as they are now. A campaign without settings any more exhausts it.
 */
async function settling (tx: Executor, update: SQL, outcome: DialOutcome, rule: ContactRule, now: Date): Promise<SettledAttempt[]> {
  const at = now.toISOString()
  const rows = rowsOf<Record<string, unknown>>(await tx.execute(sql`
    with a as (${update}),
    r as (
      select a.*, ca.tenant_id, ca.dialler,
        ${rule.exhaustible} and (ca.dialler is null or c.attempts >= (ca.dialler->>'maxAttempts')::int) as exhausted
      from a join ${contacts} c on c.id = a.contact_id join ${campaigns} ca on ca.id = a.campaign_id
    ),
    m as (
      update ${contacts} c set
        status = case when r.exhausted then 'exhausted' else ${rule.status} end,
        next_attempt_at = case when r.exhausted or ${rule.retryAfter}::text is null then null
          else ${at}::timestamptz + greatest(${rule.minDelayMs}::bigint * interval '1 millisecond', (r.dialler->'retryAfterSeconds'->>${rule.retryAfter}::text)::numeric * interval '1 second') end,
        last_outcome = ${outcome}
      from r where c.id = r.contact_id
      returning c.id, c.status, c.reference
    ), p as (
      select ${outcome}::text as outcome, ${at}::timestamptz as at
    ), ${sql.raw(emitting('ob', `select r.tenant_id, 'contact.completed', r.call_sid,
        jsonb_build_object('campaignId', r.campaign_id, 'contactId', r.contact_id, 'reference', m.reference, 'outcome', p.outcome), p.at
      from r join m on m.id = r.contact_id, p where m.status in (${FINAL.map((s) => `'${s}'`).join(', ')})`))}
    select r.id, r.campaign_id, r.tenant_id, r.contact_id, r.dialler from r join m on m.id = r.contact_id`))
  return rows.map((r) => ({ id: Number(r.id), campaignId: r.campaign_id as string, tenantId: r.tenant_id as string, contactId: r.contact_id as string, dialler: r.dialler as DiallerSettings | null }))
}

/**
 * Settles the attempt in flight that placed this call, with its outcome. Found by CallSid, or,
 * when the process that placed it died before storing the CallSid, as the tenant's attempt in
 * flight to the call's number that has none. Null: the call was no attempt of the dialler's (or
 * it is settled already: status callbacks are retried).
 */
export async function settleAttempt (tx: Executor, call: { callSid: string, tenantId: string, remoteHash: string }, outcome: DialOutcome, now: Date): Promise<SettledAttempt | null> {
  const rows = await settling(tx, sql`
      update ${callAttempts} set settled_at = ${now.toISOString()}::timestamptz, outcome = ${outcome}, call_sid = ${call.callSid}
      where id = (
        select id from ${callAttempts}
        where contact_id is not null and settled_at is null
          and (call_sid = ${call.callSid} or (call_sid is null and tenant_id = ${call.tenantId}::uuid and number_hash = ${call.remoteHash}))
        order by (call_sid is null) limit 1
        for update)
      and settled_at is null
      returning id, campaign_id, contact_id, call_sid`, outcome, contactRule(outcome), now)
  return rows[0] ?? null
}

/**
 * Attempts whose outcome will never come: not placed `unplacedMs` after they were written (their
 * process died before or while asking Twilio), or with no final status after `callMs` (longer
 * than a Twilio call can last). Settled as failed, locked rows skipped; returns what was settled.
 */
export async function settleLost (tx: Executor, now: Date, unplacedMs: number, callMs: number): Promise<SettledAttempt[]> {
  const rows = await settling(tx, sql`
      update ${callAttempts} set settled_at = ${now.toISOString()}::timestamptz, outcome = 'failed'
      where id in (
        select id from ${callAttempts}
        where contact_id is not null and settled_at is null
          and ((call_sid is null and at < ${new Date(now.getTime() - unplacedMs).toISOString()}::timestamptz) or at < ${new Date(now.getTime() - callMs).toISOString()}::timestamptz)
        limit 500
        for update skip locked)
      returning id, campaign_id, contact_id, call_sid`, 'failed', contactRule('failed'), now)
  return rows
}

export type OutcomeCounts = Record<DialOutcome, number>

/** The campaign's settled attempts by outcome, since `since` (all of them without). */
export async function outcomeCounts (db: Executor, campaignId: string, since?: Date): Promise<OutcomeCounts> {
  const rows = await db.select({ outcome: callAttempts.outcome, n: count() }).from(callAttempts)
    .where(and(eq(callAttempts.campaignId, campaignId), isNotNull(callAttempts.outcome), since === undefined ? undefined : gt(callAttempts.at, since)))
    .groupBy(callAttempts.outcome)
  const counts = Object.fromEntries(DIAL_OUTCOMES.map((o) => [o, 0])) as OutcomeCounts
  for (const row of rows) counts[row.outcome!] = row.n
  return counts
}

/** Sets the dialler's state if it is in one of `from`; returns whether it changed. */
export async function setDiallerState (db: Executor, campaignId: string, from: readonly DiallerState[], to: DiallerState, reason: string | null, now: Date): Promise<boolean> {
  const rows = await db.update(campaigns).set({ diallerState: to, diallerReason: reason, updatedAt: now })
    .where(and(eq(campaigns.id, campaignId), inArray(campaigns.diallerState, [...from])))
    .returning({ id: campaigns.id })
  return rows.length > 0
}

/** Whether the campaign has contacts left to call (pending, scheduled or dialling). */
export async function hasWorkLeft (db: Executor, campaignId: string): Promise<boolean> {
  const rows = await db.select({ id: contacts.id }).from(contacts)
    .where(and(eq(contacts.campaignId, campaignId), inArray(contacts.status, ['pending', 'scheduled', 'dialling'])))
    .limit(1)
  return rows.length > 0
}

/** The dialler's state and why it stopped or paused itself. */
export async function diallerStateOf (db: Executor, campaignId: string): Promise<{ state: DiallerState, reason: string | null }> {
  const [row] = await db.select({ state: campaigns.diallerState, reason: campaigns.diallerReason }).from(campaigns).where(eq(campaigns.id, campaignId))
  return { state: row?.state ?? 'idle', reason: row?.reason ?? null }
}

/** Settles an attempt that Twilio never took (its request failed). */
export async function settleUnplaced (tx: Executor, attemptId: number, now: Date): Promise<SettledAttempt | null> {
  const rows = await settling(tx, sql`
      update ${callAttempts} set settled_at = ${now.toISOString()}::timestamptz, outcome = 'failed'
      where id = ${attemptId} and settled_at is null
      returning id, campaign_id, contact_id, call_sid`, 'failed', contactRule('failed'), now)
  return rows[0] ?? null
}

export interface UnauditedOutcome { tenantId: string, campaignId: string, contactId: string, callSid: string | null, outcome: DialOutcome }

/**
 * Marks up to `limit` settled attempts not yet in the audit log as audited, and returns them for
 * the entry that records them (in the same transaction). Rows another process is marking are
 * skipped: each outcome is audited once.
 */
export async function takeUnaudited (tx: Executor, now: Date, limit: number): Promise<UnauditedOutcome[]> {
  const rows = rowsOf<Record<string, unknown>>(await tx.execute(sql`
    update ${callAttempts} set audited_at = ${now.toISOString()}::timestamptz
    where id in (
      select id from ${callAttempts}
      where contact_id is not null and settled_at is not null and audited_at is null
      order by id limit ${limit}
      for update skip locked)
    returning tenant_id, campaign_id, contact_id, call_sid, outcome`))
  return rows.map((r) => ({ tenantId: r.tenant_id as string, campaignId: r.campaign_id as string, contactId: r.contact_id as string, callSid: r.call_sid as string | null, outcome: r.outcome as DialOutcome }))
}
