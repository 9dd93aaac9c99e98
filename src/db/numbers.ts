import { and, asc, eq } from 'drizzle-orm'
import { rawDate, type RawQuery } from './client.js'
import type { Executor } from './executor.js'
import { campaigns, flows, flowVersions, numbers, tenants } from './schema.js'

export interface PhoneNumber { id: string, tenantId: string, number: string, campaignId: string, flowId: string, createdAt: string }

function toNumber (row: typeof numbers.$inferSelect): PhoneNumber {
  return { id: row.id, tenantId: row.tenantId, number: row.number, campaignId: row.campaignId, flowId: row.flowId, createdAt: row.createdAt.toISOString() }
}

export async function insertNumber (db: Executor, n: { tenantId: string, number: string, campaignId: string, flowId: string, at: Date }): Promise<PhoneNumber | null> {
  const rows = await db.insert(numbers).values({ tenantId: n.tenantId, number: n.number, campaignId: n.campaignId, flowId: n.flowId, createdAt: n.at })
    .onConflictDoNothing({ target: numbers.number }).returning()
  return rows[0] !== undefined ? toNumber(rows[0]) : null
}

/** The tenant a number is bound in, if any. */
export async function tenantOfNumber (db: Executor, number: string): Promise<string | null> {
  const rows = await db.select({ tenantId: numbers.tenantId }).from(numbers).where(eq(numbers.number, number))
  return rows[0]?.tenantId ?? null
}

export async function listNumbers (db: Executor, tenantScope: string | null): Promise<PhoneNumber[]> {
  const rows = await db.select().from(numbers).where(tenantScope === null ? undefined : eq(numbers.tenantId, tenantScope)).orderBy(asc(numbers.number))
  return rows.map(toNumber)
}

export async function deleteNumber (db: Executor, id: string, tenantScope: string | null): Promise<boolean> {
  const rows = await db.delete(numbers).where(and(eq(numbers.id, id), tenantScope === null ? undefined : eq(numbers.tenantId, tenantScope))).returning({ id: numbers.id })
  return rows.length > 0
}

/** Everything needed to answer a call to `number`: its tenant, campaign, flow and published definition. */
export async function routeForNumber (db: Executor, number: string) {
  const rows = await db.select({
    tenantId: numbers.tenantId,
    offboardingSince: tenants.offboardingSince,
    flowId: numbers.flowId,
    campaign: campaigns,
    publishedVersion: flows.publishedVersion,
    definition: flowVersions.definition
  }).from(numbers)
    .innerJoin(campaigns, eq(campaigns.id, numbers.campaignId))
    .innerJoin(flows, eq(flows.id, numbers.flowId))
    .innerJoin(tenants, eq(tenants.id, numbers.tenantId))
    .leftJoin(flowVersions, and(eq(flowVersions.flowId, flows.id), eq(flowVersions.version, flows.publishedVersion)))
    .where(eq(numbers.number, number))
  return rows[0] ?? null
}

/** number → switchboard for every number whose campaign has one (the fallback's in-memory copy). */
export async function switchboardsByNumber (db: Executor): Promise<Map<string, string>> {
  const rows = await db.select({ number: numbers.number, switchboard: campaigns.switchboard }).from(numbers)
    .innerJoin(campaigns, eq(campaigns.id, numbers.campaignId))
  return new Map(rows.filter((r) => r.switchboard !== null).map((r) => [r.number, r.switchboard!]))
}

/** A number of the campaign to call from: the one bound to this flow if there is one. */
export async function callerIdFor (db: Executor, campaignId: string, flowId: string): Promise<string | null> {
  const rows = await db.select({ number: numbers.number, flowId: numbers.flowId }).from(numbers).where(eq(numbers.campaignId, campaignId)).orderBy(asc(numbers.number))
  return (rows.find((r) => r.flowId === flowId) ?? rows[0])?.number ?? null
}

export interface CallRoute {
  tenantId: string
  offboardingSince: Date | null
  flowId: string
  publishedVersion: number | null
  campaign: { id: string, timezone: string, hours: Record<string, [string, string][]>, holidays: string[], switchboard: string | null, endsAt: Date | null, storeCallerNumber: boolean }
}

const ROUTES = `select n.number, n.tenant_id, t.offboarding_since, n.flow_id, f.published_version,
  ca.id as campaign_id, ca.timezone, ca.hours, ca.holidays, ca.switchboard, ca.ends_at, ca.store_caller_number
from numbers n
join campaigns ca on ca.id = n.campaign_id
join flows f on f.id = n.flow_id
join tenants t on t.id = n.tenant_id
where n.number = any(array(select jsonb_array_elements_text($1::text::jsonb)))`

/**
 * routeForNumber for the voice webhook, on RawSql, for a batch of calls (number → its route;
 * absent: no campaign owns it), and without the definition: the caller takes it from the
 * flow-version cache (db/flows.ts). The campaign is read on every call: it can change.
 */
export async function routesForCalls (q: RawQuery, numbers: string[]): Promise<Map<string, CallRoute>> {
  const rows = await q<Record<string, unknown>>(ROUTES, [JSON.stringify([...new Set(numbers)])])
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
    }
  }]))
}
