import { and, asc, eq, gt, inArray, isNull, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { calls, campaigns, recordingControls, recordings, streamTokens, tenants } from './schema.js'

/**
 * Spends a one-time stream token: it must exist, belong to this call and be unused. The
 * conditional UPDATE makes the check and the spending one step, so a token admits one stream.
 */
export async function spendStreamToken (db: Executor, tokenHash: string, callSid: string, at: Date): Promise<boolean> {
  const rows = await db.update(streamTokens).set({ usedAt: at })
    .where(and(eq(streamTokens.tokenHash, tokenHash), eq(streamTokens.callSid, callSid), isNull(streamTokens.usedAt)))
    .returning({ callSid: streamTokens.callSid })
  return rows.length > 0
}

/** Unused tokens of a finished call can never be spent afterwards. */
export async function expireStreamTokens (db: Executor, callSid: string, at: Date): Promise<void> {
  await db.update(streamTokens).set({ usedAt: at }).where(and(eq(streamTokens.callSid, callSid), isNull(streamTokens.usedAt)))
}

export async function callForRecording (db: Executor, callSid: string) {
  const rows = await db.select({ id: calls.id, tenantId: calls.tenantId, remoteHash: calls.remoteHash, retention: campaigns.retention, offboardingSince: tenants.offboardingSince })
    .from(calls).innerJoin(tenants, eq(tenants.id, calls.tenantId)).leftJoin(campaigns, eq(campaigns.id, calls.campaignId)).where(eq(calls.callSid, callSid))
  return rows[0] ?? null
}

export type RecordingRow = typeof recordings.$inferSelect

export async function insertRecording (db: Executor, row: typeof recordings.$inferInsert): Promise<void> {
  await db.insert(recordings).values(row)
}

export async function updateRecording (db: Executor, id: string, patch: Partial<typeof recordings.$inferInsert>): Promise<void> {
  await db.update(recordings).set(patch).where(eq(recordings.id, id))
}

/**
 * Claims a spooled recording for upload until `until`: one short statement, so no transaction
 * (and no connection) is held while the file goes to S3. Another claimer's lease still running is
 * skipped (SKIP LOCKED covers the instant of another claim); one past its time is taken over, and
 * so is one whose owner starts with `deadPredecessors` and is not us (a dead process's).
 */
export async function claimUpload (db: Executor, id: string, claimer: { owner: string, deadPredecessors: string }, now: Date, until: Date): Promise<RecordingRow | null> {
  const { owner, deadPredecessors } = claimer
  const rows = await db.update(recordings).set({ uploadLeaseOwner: owner, uploadLeaseUntil: until })
    .where(eq(recordings.id, sql`(select id from recordings where id = ${id} and status = 'spooled'
      and (upload_lease_until is null or upload_lease_until < ${now.toISOString()}::timestamptz
        or (starts_with(upload_lease_owner, ${deadPredecessors}) and upload_lease_owner <> ${owner}))
      for update skip locked)`))
    .returning()
  return rows[0] ?? null
}

/** Extends our lease while a long upload runs; false: it is no longer ours (taken over, or the row went). */
export async function renewUpload (db: Executor, id: string, owner: string, until: Date): Promise<boolean> {
  const rows = await db.update(recordings).set({ uploadLeaseUntil: until })
    .where(and(eq(recordings.id, id), eq(recordings.status, 'spooled'), eq(recordings.uploadLeaseOwner, owner)))
    .returning({ id: recordings.id })
  return rows.length > 0
}

/**
 * The outcome of an upload, if the lease is still ours: 'stored' (this call marked it), 'gone'
 * (the row was erased or deleted meanwhile), or 'lost' (another claimer holds it now, or it is no longer spooled).
 */
export async function commitUpload (tx: Executor, id: string, owner: string, retainUntil: Date): Promise<'stored' | 'gone' | 'lost'> {
  const rows = await tx.update(recordings).set({ status: 'stored', retainUntil, uploadLeaseOwner: null, uploadLeaseUntil: null })
    .where(and(eq(recordings.id, id), eq(recordings.status, 'spooled'), eq(recordings.uploadLeaseOwner, owner)))
    .returning({ id: recordings.id })
  if (rows.length > 0) return 'stored'
  const row = await findRecording(tx, id)
  return row === null || row.deletedAt !== null ? 'gone' : 'lost'
}

/** A failed upload gives its lease back, so the next retry (in any process) need not wait it out. */
export async function releaseUpload (db: Executor, id: string, owner: string): Promise<void> {
  await db.update(recordings).set({ uploadLeaseOwner: null, uploadLeaseUntil: null })
    .where(and(eq(recordings.id, id), eq(recordings.uploadLeaseOwner, owner)))
}

/** The row, locked to the end of the transaction: an upload committing meanwhile waits for it. */
export async function lockRecording (tx: Executor, id: string): Promise<RecordingRow | null> {
  const rows = await tx.select().from(recordings).where(eq(recordings.id, id)).for('update')
  return rows[0] ?? null
}

export async function findRecording (db: Executor, id: string): Promise<RecordingRow | null> {
  const rows = await db.select().from(recordings).where(eq(recordings.id, id))
  return rows[0] ?? null
}

export async function liveRecordingOf (db: Executor, callSid: string): Promise<RecordingRow | null> {
  const rows = await db.select().from(recordings).where(and(eq(recordings.callSid, callSid), eq(recordings.status, 'recording')))
  return rows[0] ?? null
}

export async function insertControl (db: Executor, control: { tenantId: string, recordingId: string, action: 'pause' | 'resume' | 'stop', at: Date, createdBy: string | null }): Promise<void> {
  await db.insert(recordingControls).values(control)
}

/** Controls newer than `afterId` for the given live recordings, oldest first. */
export async function controlsSince (db: Executor, recordingIds: string[], afterId: number) {
  if (recordingIds.length === 0) return []
  return await db.select().from(recordingControls)
    .where(and(inArray(recordingControls.recordingId, recordingIds), gt(recordingControls.id, afterId)))
    .orderBy(asc(recordingControls.id))
}

export async function findRecordingScoped (db: Executor, id: string, tenantScope: string | null): Promise<RecordingRow | null> {
  const rows = await db.select().from(recordings).where(and(eq(recordings.id, id), tenantScope === null ? undefined : eq(recordings.tenantId, tenantScope)))
  return rows[0] ?? null
}

export async function deleteRecordingRow (db: Executor, id: string): Promise<void> {
  await db.delete(recordings).where(eq(recordings.id, id))
}

/** Re-computes retainUntil of the campaign's kept recordings for a new window; returns them. */
export async function recomputeRetainUntil (db: Executor, campaignId: string, days: number) {
  return await db.update(recordings)
    .set({ retainUntil: sql`${recordings.createdAt} + make_interval(days => ${days})` })
    .where(and(eq(recordings.status, 'stored'), isNull(recordings.deletedAt), sql`${recordings.callId} in (select id from calls where campaign_id = ${campaignId})`))
    .returning({ id: recordings.id, bucket: recordings.bucket, key: recordings.key })
}
