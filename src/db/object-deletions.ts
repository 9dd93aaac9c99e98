import { asc, eq, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { objectDeletions } from './schema.js'

export interface ObjectDeletion { id: number, bucket: string, key: string, reason: string }

/** Queues objects to delete after the caller's transaction commits (see drainObjectDeletions). */
export async function queueObjectDeletions (tx: Executor, refs: Array<{ bucket: string, key: string }>, reason: string, at: Date): Promise<void> {
  if (refs.length === 0) return
  await tx.insert(objectDeletions).values(refs.map((r) => ({ bucket: r.bucket, key: r.key, reason, requestedAt: at })))
}

/**
 * Queued deletions, those tried least first. Deleting an object twice is harmless, so two drains
 * need not exclude each other.
 */
export async function pendingObjectDeletions (db: Executor, limit: number): Promise<ObjectDeletion[]> {
  return await db.select({ id: objectDeletions.id, bucket: objectDeletions.bucket, key: objectDeletions.key, reason: objectDeletions.reason })
    .from(objectDeletions).orderBy(asc(objectDeletions.attempts), asc(objectDeletions.id)).limit(limit)
}

export async function objectDeletionDone (db: Executor, id: number): Promise<void> {
  await db.delete(objectDeletions).where(eq(objectDeletions.id, id))
}

export async function objectDeletionFailed (db: Executor, id: number, error: string): Promise<void> {
  await db.update(objectDeletions).set({ attempts: sql`${objectDeletions.attempts} + 1`, lastError: error.slice(0, 500) }).where(eq(objectDeletions.id, id))
}
