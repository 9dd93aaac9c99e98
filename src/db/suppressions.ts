import { and, asc, count, eq, gte, inArray } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { callAttempts, dsrRequests, suppressions } from './schema.js'

export type SuppressionSource = 'ivr' | 'api' | 'import' | 'registry'

/** The one way an opt-out is written, whichever way it arrived. Returns false if it was already on file. */
export async function addSuppression (db: Executor, entry: { tenantId: string, numberHash: string, source: SuppressionSource, reason: string | null, callSid?: string | null, createdBy?: string | null, at: Date }): Promise<boolean> {
  const rows = await db.insert(suppressions).values({ tenantId: entry.tenantId, numberHash: entry.numberHash, source: entry.source, reason: entry.reason, callSid: entry.callSid ?? null, createdBy: entry.createdBy ?? null, createdAt: entry.at })
    .onConflictDoNothing().returning({ id: suppressions.id })
  return rows.length > 0
}

/** Adds many hashes of one source at once; returns how many were new. */
export async function addSuppressions (db: Executor, tenantId: string, hashes: string[], source: SuppressionSource, reason: string | null, createdBy: string | null, at: Date): Promise<number> {
  if (hashes.length === 0) return 0
  const rows = await db.insert(suppressions).values(hashes.map((numberHash) => ({ tenantId, numberHash, source, reason, createdBy, createdAt: at })))
    .onConflictDoNothing().returning({ id: suppressions.id })
  return rows.length
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
  const [supp, restr, att] = await Promise.all([
    db.select({ hash: suppressions.numberHash, source: suppressions.source }).from(suppressions).where(and(eq(suppressions.tenantId, tenantId), inArray(suppressions.numberHash, hashes))),
    db.select({ hash: dsrRequests.numberHash }).from(dsrRequests).where(and(eq(dsrRequests.tenantId, tenantId), inArray(dsrRequests.numberHash, hashes), eq(dsrRequests.type, 'restriction'), eq(dsrRequests.status, 'active'))),
    cap === null
      ? Promise.resolve([])
      : db.select({ hash: callAttempts.numberHash, n: count() }).from(callAttempts)
        .where(and(eq(callAttempts.campaignId, cap.campaignId), inArray(callAttempts.numberHash, hashes), gte(callAttempts.at, cap.since))).groupBy(callAttempts.numberHash)
  ])
  const sources = new Map<string, Set<string>>()
  for (const row of supp) sources.set(row.hash, (sources.get(row.hash) ?? new Set()).add(row.source))
  return { sources, restricted: new Set(restr.map((r) => r.hash)), attempts: new Map(att.map((a) => [a.hash, Number(a.n)])) }
}

export async function recordAttempt (db: Executor, attempt: { tenantId: string, campaignId: string, numberHash: string, at: Date }): Promise<void> {
  await db.insert(callAttempts).values(attempt)
}
