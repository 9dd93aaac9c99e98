import type { FastifyBaseLogger } from 'fastify'
import { audited } from '../audit/audited.js'
import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import { queueObjectDeletions } from '../db/object-deletions.js'
import { revokeLinks } from '../db/recording-links.js'
import { lockRecording, updateRecording, type RecordingRow } from '../db/recordings.js'
import { Conflict, Gone } from '../errors.js'
import { emit } from '../events/emit.js'
import type { ObjectStore } from '../storage/object-store.js'
import { drainObjectDeletions } from '../storage/pending-deletions.js'
import { DEFAULT_LINK_SECONDS } from './link-token.js'
import { issueLink } from './links.js'

export interface RecordingAdminDeps {
  db: Db
  store: Pick<ObjectStore, 'legalHold' | 'deleteAllVersions'>
  clock: Clock
  log: FastifyBaseLogger
  linkSecret: string
  publicUrl: string
}

/** Throws why the recording may not be deleted now; null: an erasure took the row meanwhile. */
function assertDeletable (row: RecordingRow | null): asserts row is RecordingRow {
  if (row === null || row.deletedAt !== null) throw new Gone('the recording was already deleted')
  if (row.legalHold) throw new Conflict('the recording is under legal hold')
  if (row.status === 'recording') throw new Conflict('the recording is still in progress')
}

/**
 * What a controller does to a recording the caller has found and authorised: share it through a
 * signed link, revoke its links, hold it, delete it. Each change is audited in its transaction.
 */
export function createRecordingAdmin (deps: RecordingAdminDeps) {
  const { db, clock } = deps

  /** A link row and its token, issued in the transaction that audits the issue. */
  async function shareLink (row: RecordingRow, actor: string, options: { expiresInSeconds?: number | undefined, pin?: string | undefined }) {
    if (row.deletedAt !== null) throw new Gone('the recording was deleted')
    if (row.status !== 'stored') throw new Conflict(`the recording is ${row.status}, not yet stored`)
    const now = clock.now()
    const expiresAt = new Date(now.getTime() + (options.expiresInSeconds ?? DEFAULT_LINK_SECONDS) * 1000)
    const link = await audited(db,
      (tx) => issueLink(tx, deps.linkSecret, { recordingId: row.id, issuedBy: actor, expiresAt, pin: options.pin }, now),
      (issued) => ({ tenantId: row.tenantId, actor, action: 'recording.link', subject: `recording:${row.id}`, details: { link: issued.id, expiresAt: expiresAt.toISOString(), pin: options.pin !== undefined }, at: now }))
    return { url: `${deps.publicUrl}/recordings/${row.id}?token=${link.token}`, expiresAt: expiresAt.toISOString() }
  }

  /** Revokes every link issued so far; returns how many this call revoked. */
  async function revokeAllLinks (row: RecordingRow, actor: string): Promise<number> {
    const now = clock.now()
    return await audited(db,
      (tx) => revokeLinks(tx, row.id, now),
      (n) => ({ tenantId: row.tenantId, actor, action: 'recording.link.revoke', subject: `recording:${row.id}`, details: { links: n }, at: now }))
  }

  /**
   * Legal hold on or off: the row's flag (which the sweeper and deletion obey) and its audit
   * entry first, then, after the commit, S3 Object Lock's own hold where the bucket has it.
   */
  async function setLegalHold (row: RecordingRow, actor: string, on: boolean) {
    if (row.deletedAt !== null) throw new Conflict('the recording was deleted')
    if (row.legalHold === on) return { id: row.id, legalHold: on }
    const now = clock.now()
    await audited(db,
      (tx) => updateRecording(tx, row.id, { legalHold: on }),
      { tenantId: row.tenantId, actor, action: on ? 'recording.hold' : 'recording.release', subject: `recording:${row.id}`, details: {}, at: now })
    if (row.status === 'stored') {
      // Object Lock makes S3 itself refuse the delete; buckets without it rely on the row's flag.
      await deps.store.legalHold(row, on)
        .catch((err: unknown) => { deps.log.info({ err: (err as Error).name, recordingId: row.id }, 'bucket has no Object Lock; legal hold kept in the database') })
    }
    return { id: row.id, legalHold: on }
  }

  /**
   * Deletes a recording the way erasure and the sweeper do: in one transaction the row is marked
   * deleted, its object queued in object_deletions and the deletion audited; every version of
   * the object is deleted after the commit, outside any transaction. The deletion stands even if
   * S3 refuses then: the entry stays queued and the sweeper's drain finishes it. The row is
   * locked and checked again in the transaction, so a hold put on meanwhile still stops it, a
   * second deletion finds it gone, and an upload committing at the same moment either stored
   * its object first (queued here) or finds the row deleted (and deletes its object itself).
   */
  async function deleteRecording (row: RecordingRow, actor: string): Promise<void> {
    assertDeletable(row)
    const now = clock.now()
    const queued = await audited(db,
      async (tx) => {
        const locked = await lockRecording(tx, row.id)
        assertDeletable(locked)
        await updateRecording(tx, row.id, { status: 'deleted', deletedAt: now })
        await emit(tx, { type: 'recording.deleted', tenantId: row.tenantId, at: now, data: { recordingId: row.id, reason: 'deletion' } })
        return locked.status === 'stored' ? await queueObjectDeletions(tx, [locked], 'deletion', now) : []
      },
      (ids) => ({ tenantId: row.tenantId, actor, action: 'recording.delete', subject: `recording:${row.id}`, details: { objectQueued: ids.length > 0 }, at: now }))
    // Only this deletion's entry: a backlog left by others is the sweeper's, not this request's, to wait for.
    await drainObjectDeletions(deps, { ids: queued })
      .catch((err: unknown) => { deps.log.warn({ err, recordingId: row.id }, 'object of a deleted recording not yet deleted; the sweeper retries it') })
  }

  return { shareLink, revokeAllLinks, setLegalHold, deleteRecording }
}

export type RecordingAdmin = ReturnType<typeof createRecordingAdmin>
