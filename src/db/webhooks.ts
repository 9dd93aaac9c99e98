import { and, eq, inArray, sql } from 'drizzle-orm'
import type { EventType } from '../events/catalogue.js'
import { rowsOf, type Executor } from './executor.js'
import { events, webhookDeliveries, webhookEndpoints, type DeliveryStatus } from './schema.js'

export interface Endpoint {
  id: string
  tenantId: string
  url: string
  events: Array<EventType | '*'>
  description: string | null
  enabled: boolean
  disabledReason: string | null
  failingSince: string | null
  createdAt: string
}

function toEndpoint (row: typeof webhookEndpoints.$inferSelect): Endpoint {
  return {
    id: row.id,
    tenantId: row.tenantId,
    url: row.url,
    events: row.events as Endpoint['events'],
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    failingSince: row.failingSince?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString()
  }
}

const scoped = (tenantScope: string | null) => tenantScope === null ? undefined : eq(webhookEndpoints.tenantId, tenantScope)

export async function insertEndpoint (db: Executor, e: { id: string, tenantId: string, url: string, events: string[], description: string | null, sealedSecret: string, createdBy: string, at: Date }): Promise<Endpoint> {
  const [row] = await db.insert(webhookEndpoints).values({ id: e.id, tenantId: e.tenantId, url: e.url, events: e.events, description: e.description, secret: e.sealedSecret, createdBy: e.createdBy, createdAt: e.at }).returning()
  return toEndpoint(row!)
}

export async function listEndpoints (db: Executor, tenantScope: string | null): Promise<Endpoint[]> {
  const rows = await db.select().from(webhookEndpoints).where(scoped(tenantScope)).orderBy(webhookEndpoints.createdAt, webhookEndpoints.id)
  return rows.map(toEndpoint)
}

export async function findEndpoint (db: Executor, id: string, tenantScope: string | null): Promise<Endpoint | null> {
  const rows = await db.select().from(webhookEndpoints).where(and(eq(webhookEndpoints.id, id), scoped(tenantScope)))
  return rows[0] !== undefined ? toEndpoint(rows[0]) : null
}

/** Deletes the endpoint and what it was still owed. */
export async function deleteEndpoint (db: Executor, id: string, tenantScope: string | null): Promise<Endpoint | null> {
  const rows = await db.delete(webhookEndpoints).where(and(eq(webhookEndpoints.id, id), scoped(tenantScope))).returning()
  return rows[0] !== undefined ? toEndpoint(rows[0]) : null
}

export interface Delivery {
  id: string
  eventId: string
  type: string
  status: DeliveryStatus
  attempts: number
  lastStatus: number | null
  lastError: string | null
  nextAttemptAt: string | null
  createdAt: string
  deliveredAt: string | null
}

/** The endpoint's deliveries, newest first. */
export async function listDeliveries (db: Executor, endpointId: string, limit: number, status?: DeliveryStatus): Promise<Delivery[]> {
  const rows = rowsOf<Record<string, unknown>>(await db.execute(sql`
    select d.id, d.event_id, e.type, d.status, d.attempts, d.last_status, d.last_error, d.next_attempt_at, d.created_at, d.delivered_at
    from ${webhookDeliveries} d join events e on e.id = d.event_id
    where d.endpoint_id = ${endpointId}::uuid ${status === undefined ? sql`` : sql`and d.status = ${status}`}
    order by d.created_at desc, d.seq desc limit ${limit}`))
  const iso = (v: unknown) => v === null ? null : new Date(v as string).toISOString()
  return rows.map((r) => ({
    id: r.id as string,
    eventId: r.event_id as string,
    type: r.type as string,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    lastError: r.last_error as string | null,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    createdAt: iso(r.created_at)!,
    deliveredAt: iso(r.delivered_at)
  }))
}

/** Queues one delivery of the endpoint again, at `now`; null: not the endpoint's. */
export async function requeueDelivery (db: Executor, endpointId: string, deliveryId: string, now: Date): Promise<{ id: string, previous: DeliveryStatus } | null> {
  const rows = rowsOf<{ id: string, previous: DeliveryStatus }>(await db.execute(sql`
    update ${webhookDeliveries} d set status = 'pending', next_attempt_at = ${now.toISOString()}::timestamptz, lease_until = null,
      created_at = case when d.status = 'pending' then d.created_at else ${now.toISOString()}::timestamptz end
    from (select id, status from ${webhookDeliveries} where id = ${deliveryId}::uuid and endpoint_id = ${endpointId}::uuid for update) old
    where d.id = old.id
    returning d.id, old.status as previous`))
  return rows[0] ?? null
}

/** Turns a disabled endpoint on again (a person asked for a delivery to it). */
export async function enableEndpoint (db: Executor, id: string): Promise<boolean> {
  const rows = await db.update(webhookEndpoints).set({ enabled: true, disabledReason: null, failingSince: null })
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.enabled, false))).returning({ id: webhookEndpoints.id })
  return rows.length > 0
}

// ---- The deliverer's

export interface ClaimedDelivery {
  id: string
  tenantId: string
  endpointId: string
  url: string
  sealedSecret: string
  eventId: string
  type: string
  data: unknown
  at: Date
  attempts: number
  createdAt: Date
}

/**
 * Leases up to `limit` due deliveries until `until`: of enabled endpoints, each the earliest still
 * pending of its call at its endpoint (a call's events arrive in order), and no more than
 * `perEndpoint` to one endpoint counting `busy` (endpoint id → deliveries the caller has in flight
 * to it), so a slow one cannot take every slot. Rows another process is claiming are skipped; a
 * lease past its time (its process died) is claimable again.
 */
export async function claimDeliveries (db: Executor, now: Date, until: Date, limit: number, perEndpoint: number, busy: Map<string, number>): Promise<ClaimedDelivery[]> {
  const at = now.toISOString()
  const rows = rowsOf<Record<string, unknown>>(await db.execute(sql`
    with c as (
      select d.id, d.endpoint_id, d.next_attempt_at, d.seq from ${webhookDeliveries} d
      join ${webhookEndpoints} h on h.id = d.endpoint_id and h.enabled
      where d.status = 'pending' and d.next_attempt_at <= ${at}::timestamptz and (d.lease_until is null or d.lease_until < ${at}::timestamptz)
        and (d.call_sid is null or not exists (
          select 1 from ${webhookDeliveries} p
          where p.endpoint_id = d.endpoint_id and p.call_sid = d.call_sid and p.status = 'pending' and p.seq < d.seq))
      order by d.next_attempt_at, d.seq
      limit ${limit * 4}
      for update of d skip locked
    ), r as (
      select c.id, c.next_attempt_at, c.seq,
        row_number() over (partition by c.endpoint_id order by c.next_attempt_at, c.seq) + coalesce((${JSON.stringify(Object.fromEntries(busy))}::jsonb->>c.endpoint_id::text)::int, 0) as slot
      from c
    ), pick as (
      select id from r where slot <= ${perEndpoint} order by next_attempt_at, seq limit ${limit}
    )
    update ${webhookDeliveries} d set lease_until = ${until.toISOString()}::timestamptz, attempts = d.attempts + 1
    from pick, events e, ${webhookEndpoints} h
    where d.id = pick.id and e.id = d.event_id and h.id = d.endpoint_id
    returning d.id, d.tenant_id, d.endpoint_id, h.url, h.secret, d.event_id, e.type, e.data, e.at, d.attempts, d.created_at`))
  return rows.map((r) => ({
    id: r.id as string,
    tenantId: r.tenant_id as string,
    endpointId: r.endpoint_id as string,
    url: r.url as string,
    sealedSecret: r.secret as string,
    eventId: r.event_id as string,
    type: r.type as string,
    data: r.data,
    at: new Date(r.at as string),
    attempts: Number(r.attempts),
    createdAt: new Date(r.created_at as string)
  }))
}

/**
 * A 2xx: the delivery is done, the endpoint is healthy, and what it was owed but put off by its
 * back-off is due now (a receiver that is back gets its backlog at once, not over hours).
 */
export async function markDelivered (db: Executor, done: Array<{ id: string, endpointId: string, status: number }>, now: Date): Promise<void> {
  const at = now.toISOString()
  const rows = JSON.stringify(done)
  await db.execute(sql`
    with x as (
      select * from jsonb_to_recordset(${rows}::text::jsonb) as x(id uuid, "endpointId" uuid, status int)
    ), done as (
      update ${webhookDeliveries} d set status = 'delivered', delivered_at = ${at}::timestamptz, lease_until = null, last_status = x.status, last_error = null
      from x where d.id = x.id and d.status = 'pending'
    ), healthy as (
      update ${webhookEndpoints} set failing_since = null where id in (select "endpointId" from x) and failing_since is not null
    )
    update ${webhookDeliveries} set next_attempt_at = ${at}::timestamptz
    where endpoint_id in (select "endpointId" from x) and status = 'pending' and next_attempt_at > ${at}::timestamptz
      and id not in (select id from x)`)
}

/**
 * Anything else: tried again at `retryAt`, or failed for good when null. The endpoint is marked
 * failing (since when, if it was not); returns since when it has been.
 */
export async function markFailed (db: Executor, d: ClaimedDelivery, result: { status: number | null, error: string | null }, retryAt: Date | null, now: Date): Promise<Date> {
  const rows = rowsOf<{ failing_since: unknown }>(await db.execute(sql`
    with undone as (
      update ${webhookDeliveries} set status = ${retryAt === null ? 'failed' : 'pending'}, next_attempt_at = ${retryAt?.toISOString() ?? null}::timestamptz,
        lease_until = null, last_status = ${result.status}, last_error = ${result.error}
      where id = ${d.id}::uuid and status = 'pending'
    )
    update ${webhookEndpoints} set failing_since = coalesce(failing_since, ${now.toISOString()}::timestamptz)
    where id = ${d.endpointId}::uuid
    returning failing_since`))
  return rows[0] === undefined ? now : new Date(rows[0].failing_since as string)
}

/** Turns the endpoint off; false if it was off (or gone) already. */
export async function disableEndpoint (db: Executor, id: string, reason: string): Promise<boolean> {
  const rows = await db.update(webhookEndpoints).set({ enabled: false, disabledReason: reason })
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.enabled, true))).returning({ id: webhookEndpoints.id })
  return rows.length > 0
}

/**
 * What the outbox holds about these calls, and what it still owed endpoints of it: their records
 * go (an erasure, the end of their retention), so do the events that name them.
 */
export async function deleteEventsOfCalls (db: Executor, callSids: string[]): Promise<void> {
  if (callSids.length === 0) return
  await db.delete(events).where(inArray(events.callSid, callSids))
}

/** Events older than `before` that no enabled endpoint is still owed, a batch at a time; returns how many went. */
export async function pruneEvents (db: Executor, before: Date, batch = 5000): Promise<number> {
  const rows = rowsOf<{ id: string }>(await db.execute(sql`
    delete from events where id in (
      select e.id from events e where e.at < ${before.toISOString()}::timestamptz
        and not exists (select 1 from ${webhookDeliveries} d join ${webhookEndpoints} h on h.id = d.endpoint_id and h.enabled where d.event_id = e.id and d.status = 'pending')
      limit ${batch})
    returning id`))
  return rows.length
}
