import { and, asc, count, eq, gte, inArray, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { callAttempts, dsrRequests, suppressions } from './schema.js'

export type SuppressionSource = 'ivr' | 'api' | 'import' | 'registry'

/** The one way an opt-out is written, whichever way it arrived. Returns false if it was already on file. */
export async function addSuppression (db: Executor, entry: { tenantId: string, numberHash: string, source: SuppressionSource, reason: string | null, callSid?: string | null, createdBy?: string | null, at: Date }): Promise<boolean> {
  const rows = await db.insert(suppressions).values({ tenantId: entry.tenantId, numberHash: entry.numberHash, source: entry.source, reason: entry.reason, callSid: entry.callSid ?? null, createdBy: entry.createdBy ?? null, createdAt: entry.at })
    .onConflictDoNothing().returning({ id: suppressions.id })
  return rows.length > 0
}

/**
 * Adds many hashes of one source at once; returns how many were new. The hashes travel as one
 * array parameter and are unnested by the server: a batch of thousands is one short statement,
 * not thousands of bound parameters for the driver and the planner to handle one by one.
 */
export async function addSuppressions (db: Executor, tenantId: string, hashes: string[], source: SuppressionSource, reason: string | null, createdBy: string | null, at: Date): Promise<number> {
  if (hashes.length === 0) return 0
  const result = await db.execute(sql`with added as (
    insert into ${suppressions} (tenant_id, number_hash, source, reason, created_by, created_at)
    select ${tenantId}::uuid, h, ${source}::text, ${reason}::text, ${createdBy}::uuid, ${at.toISOString()}::timestamptz from unnest(${hashArray(hashes)}::text[]) as h
    on conflict do nothing returning 1
  ) select count(*)::int as n from added`)
  return Number(rowsOf<{ n: number }>(result)[0]!.n)
}

export async function suppressionsOf (db: Executor, tenantId: string, numberHash: string) {
  return await db.select().from(suppressions).where(and(eq(suppressions.tenantId, tenantId), eq(suppressions.numberHash, numberHash))).orderBy(asc(suppressions.createdAt))
}

export async function removeSuppressions (db: Executor, tenantId: string, numberHash: string, sources: SuppressionSource[]): Promise<number> {
  const rows = await db.delete(suppressions).where(and(eq(suppressions.tenantId, tenantId), eq(suppressions.numberHash, numberHash), inArray(suppressions.source, sources))).returning({ id: suppressions.id })
  return rows.length
}

/** For screening many numbers: which hashes are suppressed (by source), restricted, or at their cap. */
export async function screeningFacts (db: Executor, tenantId: string, hashes: string[], cap: { campaignId: string, since: Date } | null) {
  if (hashes.length === 0) return { sources: new Map<string, Set<string>>(), restricted: new Set<string>(), attempts: new Map<string, number>() }
  // One array parameter (= any), not an IN list of one bound parameter per hash: see addSuppressions.
  const list = hashArray(hashes)
  const [supp, restr, att] = await Promise.all([
    db.select({ hash: suppressions.numberHash, source: suppressions.source }).from(suppressions)
      .where(and(eq(suppressions.tenantId, tenantId), sql`${suppressions.numberHash} = any(${list}::text[])`)),
    db.select({ hash: dsrRequests.numberHash }).from(dsrRequests)
      .where(and(eq(dsrRequests.tenantId, tenantId), sql`${dsrRequests.numberHash} = any(${list}::text[])`, eq(dsrRequests.type, 'restriction'), eq(dsrRequests.status, 'active'))),
    cap === null
      ? Promise.resolve([])
      : db.select({ hash: callAttempts.numberHash, n: count() }).from(callAttempts)
        .where(and(eq(callAttempts.campaignId, cap.campaignId), sql`${callAttempts.numberHash} = any(${list}::text[])`, gte(callAttempts.at, cap.since))).groupBy(callAttempts.numberHash)
  ])
  const sources = new Map<string, Set<string>>()
  for (const row of supp) sources.set(row.hash, (sources.get(row.hash) ?? new Set()).add(row.source))
  return { sources, restricted: new Set(restr.map((r) => r.hash)), attempts: new Map(att.map((a) => [a.hash, Number(a.n)])) }
}

const HASH = /^[0-9a-f]+$/

/** A PostgreSQL array literal of number hashes. Hex digits need no quoting; anything else is refused, not escaped. */
function hashArray (hashes: string[]): string {
  for (const h of hashes) if (!HASH.test(h)) throw new TypeError('a number hash must be hex')
  return '{' + hashes.join(',') + '}'
}

/** db.execute answers with the rows (postgres.js) or with { rows } (PGlite). */
function rowsOf<T> (result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}

export async function recordAttempt (db: Executor, attempt: { tenantId: string, campaignId: string, numberHash: string, at: Date }): Promise<void> {
  await db.insert(callAttempts).values(attempt)
}
