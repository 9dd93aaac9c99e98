import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import { appendAudit } from '../audit/append.js'
import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import { queueObjectDeletions } from '../db/object-deletions.js'
import { pruneExpiredLinks } from '../db/recording-links.js'
import { callEvents, calls, recordings, streamTokens } from '../db/schema.js'
import { deleteEventsOfCalls } from '../db/webhooks.js'
import { emit } from '../events/emit.js'
import type { ObjectStore } from '../storage/object-store.js'
import { drainObjectDeletions } from '../storage/pending-deletions.js'

export interface SweepDeps { db: Db, store: Pick<ObjectStore, 'deleteAllVersions'>, clock: Clock, log: FastifyBaseLogger }
export interface SweepResult {
  recordingsDeleted: number
  callsDeleted: number
  callsRedacted: number
  linksDeleted: number
  /** Objects deleted from the bucket (this sweep's expired recordings, and deletions left over from earlier runs and erasures). */
  objectsDeleted: number
  /** Deletions S3 did not take this time; the next sweep retries them. */
  objectDeletionsPending: number
  offboardingsFinished?: number
  /** Outbox events past 30 days that no endpoint was still owed. */
  eventsPruned?: number
}

const ACTOR = 'system:retention'
const BATCH = 50

/**
 * Enforces each campaign's retention windows: recordings past retainUntil (unless on legal
 * hold), call logs past callLogDays, personal data in call logs past redactAfterDays. Rows are
 * claimed with FOR UPDATE SKIP LOCKED or changed by single statements, so any number of
 * instances can sweep at once and each item is handled once. An expired recording's row is
 * marked deleted and its object queued in the transaction; objects are deleted after it commits,
 * outside any transaction, and what S3 does not take now the next sweep deletes.
 */
export async function sweep (deps: SweepDeps): Promise<SweepResult> {
  const now = deps.clock.now()
  const result: SweepResult = { recordingsDeleted: 0, callsDeleted: 0, callsRedacted: 0, linksDeleted: 0, objectsDeleted: 0, objectDeletionsPending: 0 }
  for (;;) {
    const done = await deps.db.transaction(async (tx) => {
      const due = await tx.select().from(recordings)
        .where(and(eq(recordings.status, 'stored'), isNull(recordings.deletedAt), eq(recordings.legalHold, false), lte(recordings.retainUntil, now)))
        .orderBy(asc(recordings.retainUntil)).limit(BATCH).for('update', { skipLocked: true })
      for (const rec of due) {
        await tx.update(recordings).set({ status: 'deleted', deletedAt: now }).where(eq(recordings.id, rec.id))
        await appendAudit(tx, { tenantId: rec.tenantId, actor: ACTOR, action: 'recording.expire', subject: `recording:${rec.id}`, details: { retainUntil: rec.retainUntil!.toISOString() }, at: now })
        await emit(tx, { type: 'recording.deleted', tenantId: rec.tenantId, at: now, data: { recordingId: rec.id, reason: 'retention' } })
      }
      await queueObjectDeletions(tx, due, 'retention', now)
      result.recordingsDeleted += due.length
      return due.length < BATCH
    })
    if (done) break
  }

  const cutoff = (field: 'callLogDays' | 'redactAfterDays') =>
    sql`${calls.startedAt} < ${now.toISOString()}::timestamptz - make_interval(days => (select (k.retention->>${field})::int from campaigns k where k.id = ${calls.campaignId}))`
  await deps.db.transaction(async (tx) => {
    // A call whose recording is still kept (or held) keeps its log and consent evidence with it.
    const expired = await tx.delete(calls)
      .where(and(cutoff('callLogDays'), sql`not exists (select 1 from recordings r where r.call_id = ${calls.id} and r.deleted_at is null and r.status <> 'failed')`))
      .returning({ tenantId: calls.tenantId, callSid: calls.callSid })
    if (expired.length > 0) await tx.delete(streamTokens).where(inArray(streamTokens.callSid, expired.map((c) => c.callSid)))
    await deleteEventsOfCalls(tx, expired.map((c) => c.callSid))
    result.callsDeleted = expired.length
    for (const [tenantId, count] of countBy(expired)) await appendAudit(tx, { tenantId, actor: ACTOR, action: 'calls.expire', subject: null, details: { count }, at: now })

    // The keyed hash stays: opt-outs and caps still match; the number and what was captured go.
    const redacted = await tx.update(calls).set({ remoteNumber: null, attributes: {}, redactedAt: now })
      .where(and(isNull(calls.redactedAt), cutoff('redactAfterDays')))
      .returning({ id: calls.id, tenantId: calls.tenantId })
    if (redacted.length > 0) await tx.update(callEvents).set({ input: null }).where(inArray(callEvents.callId, redacted.map((c) => c.id)))
    result.callsRedacted = redacted.length
    for (const [tenantId, count] of countBy(redacted)) await appendAudit(tx, { tenantId, actor: ACTOR, action: 'calls.redact', subject: null, details: { count }, at: now })
  })
  const drained = await drainObjectDeletions(deps)
  result.objectsDeleted = drained.objects
  result.objectDeletionsPending = drained.failed
  // A link past its end never plays again; issuing a link prunes its recording's, this the rest.
  result.linksDeleted = await pruneExpiredLinks(deps.db, null, now)
  if (result.recordingsDeleted + result.callsDeleted + result.callsRedacted + result.linksDeleted + result.objectsDeleted + result.objectDeletionsPending > 0) deps.log.info(result, 'retention sweep')
  return result
}

function countBy (rows: Array<{ tenantId: string }>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const row of rows) counts.set(row.tenantId, (counts.get(row.tenantId) ?? 0) + 1)
  return counts
}
