import { asc, eq, inArray, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { objectDeletions } from './schema.js'

export interface ObjectDeletion { id: number, bucket: string, key: string, reason: string }

/**
 * Queues objects to delete after the caller's transaction commits (see drainObjectDeletions);
 * returns the entries' ids, so the caller can drain just its own.
 */
export async function queueObjectDeletions (tx: Executor, refs: Array<{ bucket: string, key: string }>, reason: string, at: Date): Promise<number[]> {
  if (refs.length === 0) return []
  const rows = await tx.insert(objectDeletions).values(refs.map((r) => ({ bucket: r.bucket, key: r.key, reason, requestedAt: at })))
    .returning({ id: objectDeletions.id })
  return rows.map((r) => r.id)
}

/**
 * Queued deletions (of `ids` only, when given), those tried least first, then oldest. Deleting
 * an object twice is harmless, so two drains need not exclude each other.
 */
export async function pendingObjectDeletions (db: Executor, limit: number, ids?: number[]): Promise<ObjectDeletion[]> {
  return await db.select({ id: objectDeletions.id, bucket: objectDeletions.bucket, key: objectDeletions.key, reason: objectDeletions.reason })
    .from(objectDeletions).where(ids === undefined ? undefined : inArray(objectDeletions.id, ids))
    .orderBy(asc(objectDeletions.attempts), asc(objectDeletions.id)).limit(limit)
}

export async function objectDeletionDone (db: Executor, id: number): Promise<void> {
  await db.delete(objectDeletions).where(eq(objectDeletions.id, id))
}

export async function objectDeletionFailed (db: Executor, id: number, error: string): Promise<void> {
  await db.update(objectDeletions).set({ attempts: sql`${objectDeletions.attempts} + 1`, lastError: error.slice(0, 500) }).where(eq(objectDeletions.id, id))
}
