import type { FastifyBaseLogger } from 'fastify'
import type { Db } from '../db/client.js'
import { objectDeletionDone, objectDeletionFailed, pendingObjectDeletions } from '../db/object-deletions.js'
import type { ObjectStore } from './object-store.js'

export interface DrainDeps { db: Db, store: Pick<ObjectStore, 'deleteAllVersions'>, log: FastifyBaseLogger }
export interface DrainResult { objects: number, versions: number, failed: number }

const BATCH = 100

/**
 * Deletes the objects whose rows a committed transaction gave up (queued with
 * queueObjectDeletions), each outside any transaction; an entry goes once its object is gone. The
 * first failure (S3 unreachable) ends the drain and is counted on its entry, which then comes
 * after the others: the next drain (the sweeper's, or the next erasure's) finishes the work, and
 * one object S3 keeps refusing does not hold up the rest.
 */
export async function drainObjectDeletions (deps: DrainDeps): Promise<DrainResult> {
  const result: DrainResult = { objects: 0, versions: 0, failed: 0 }
  for (;;) {
    const batch = await pendingObjectDeletions(deps.db, BATCH)
    if (batch.length === 0) return result
    for (const d of batch) {
      try {
        result.versions += await deps.store.deleteAllVersions(d)
      } catch (err) {
        result.failed++
        deps.log.warn({ err, bucket: d.bucket, key: d.key, reason: d.reason }, 'object deletion failed; kept for the next retry')
        await objectDeletionFailed(deps.db, d.id, (err as Error).message ?? String(err))
        return result
      }
      await objectDeletionDone(deps.db, d.id)
      result.objects++
    }
  }
}
