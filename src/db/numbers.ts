import { and, asc, eq } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { campaigns, numbers } from './schema.js'

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

/** Whether `number` is bound to the campaign (the numbers its dialler may present). */
export async function isBoundTo (db: Executor, campaignId: string, number: string): Promise<boolean> {
  const rows = await db.select({ id: numbers.id }).from(numbers).where(and(eq(numbers.campaignId, campaignId), eq(numbers.number, number))).limit(1)
  return rows.length > 0
}
