import { and, eq, isNull, lt, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { recordingLinks, recordings } from './schema.js'

export type RecordingLinkRow = typeof recordingLinks.$inferSelect

export async function insertLink (db: Executor, link: { recordingId: string, issuedBy: string, pin: boolean, expiresAt: Date, createdAt: Date }): Promise<string> {
  const [row] = await db.insert(recordingLinks).values(link).returning({ id: recordingLinks.id })
  return row!.id
}

/**
 * Links past their end (of one recording, or of all with null): they can never play again, so
 * their rows can go. Returns how many went.
 */
export async function pruneExpiredLinks (db: Executor, recordingId: string | null, now: Date): Promise<number> {
  const expired = lt(recordingLinks.expiresAt, now)
  const rows = await db.delete(recordingLinks)
    .where(recordingId === null ? expired : and(eq(recordingLinks.recordingId, recordingId), expired))
    .returning({ id: recordingLinks.id })
  return rows.length
}

/**
 * The link with its recording's tenant, locked until the transaction ends: concurrent guesses
 * at one link's PIN are checked and counted one after another, so no burst outruns the lock.
 */
export async function lockLink (tx: Executor, linkId: string, recordingId: string): Promise<(RecordingLinkRow & { tenantId: string }) | null> {
  const rows = await tx.select({ link: recordingLinks, tenantId: recordings.tenantId }).from(recordingLinks)
    .innerJoin(recordings, eq(recordings.id, recordingLinks.recordingId))
    .where(and(eq(recordingLinks.id, linkId), eq(recordingLinks.recordingId, recordingId)))
    .for('update', { of: recordingLinks })
  const row = rows[0]
  return row === undefined ? null : { ...row.link, tenantId: row.tenantId }
}

/** Counts one wrong PIN; the `max`-th locks the link for good. */
export async function recordPinFailure (tx: Executor, linkId: string, max: number, at: Date): Promise<{ failures: number, locked: boolean }> {
  const [row] = await tx.update(recordingLinks)
    .set({
      pinFailures: sql`${recordingLinks.pinFailures} + 1`,
      lockedAt: sql`case when ${recordingLinks.pinFailures} + 1 >= ${max} then ${at.toISOString()}::timestamptz else ${recordingLinks.lockedAt} end`
    })
    .where(eq(recordingLinks.id, linkId))
    .returning({ failures: recordingLinks.pinFailures, lockedAt: recordingLinks.lockedAt })
  return { failures: row!.failures, locked: row!.lockedAt !== null }
}

/** Revokes every link of the recording not yet revoked; returns how many. */
export async function revokeLinks (db: Executor, recordingId: string, at: Date): Promise<number> {
  const rows = await db.update(recordingLinks).set({ revokedAt: at })
    .where(and(eq(recordingLinks.recordingId, recordingId), isNull(recordingLinks.revokedAt)))
    .returning({ id: recordingLinks.id })
  return rows.length
}
