import type { FastifyBaseLogger } from 'fastify'
import type { Db } from '../db/client.js'
import { objectDeletionDone, objectDeletionFailed, pendingObjectDeletions, type ObjectDeletion } from '../db/object-deletions.js'
import type { ObjectStore } from './object-store.js'

export interface DrainDeps { db: Db, store: Pick<ObjectStore, 'deleteAllVersions'>, log: FastifyBaseLogger }
export interface DrainResult { objects: number, versions: number, failed: number }
export interface DrainOptions {
  /** Only these entries (those the caller's transaction queued); absent: the whole queue. */
  ids?: number[]
  pageSize?: number
  concurrency?: number
}

/** Entries read per query: a backlog of any size is never loaded whole. */
export const DRAIN_PAGE_SIZE = 100
/** S3 deletions in flight at once: a backlog goes faster than one by one, without a flood of requests. */
export const DRAIN_CONCURRENCY = 8

/**
 * Deletes the objects whose rows a committed transaction gave up (queued with
 * queueObjectDeletions), each outside any transaction; an entry goes once its object is gone.
 * The queue is read a page at a time, and a page deleted by a few workers at once. The first
 * failure (S3 unreachable) stops the workers taking more (those in flight finish) and ends the
 * drain; each failure is counted on its entry, which then comes after the others: the next drain
 * (the sweeper's, or the next erasure's) finishes the work, and one object S3 keeps refusing
 * does not hold up the rest.
 */
export async function drainObjectDeletions (deps: DrainDeps, options: DrainOptions = {}): Promise<DrainResult> {
  const pageSize = options.pageSize ?? DRAIN_PAGE_SIZE
  const concurrency = options.concurrency ?? DRAIN_CONCURRENCY
  const result: DrainResult = { objects: 0, versions: 0, failed: 0 }
  if (options.ids?.length === 0) return result
  for (;;) {
    const page = await pendingObjectDeletions(deps.db, pageSize, options.ids)
    if (page.length === 0) return result
    let next = 0
    let stopped = false
    const remove = async (d: ObjectDeletion): Promise<void> => {
      let versions: number
      try {
        versions = await deps.store.deleteAllVersions(d)
      } catch (err) {
        stopped = true
        result.failed++
        deps.log.warn({ err, bucket: d.bucket, key: d.key, reason: d.reason }, 'object deletion failed; kept for the next retry')
        await objectDeletionFailed(deps.db, d.id, (err as Error).message ?? String(err))
        return
      }
      await objectDeletionDone(deps.db, d.id)
      result.versions += versions
      result.objects++
    }
    const worker = async (): Promise<void> => {
      try {
        while (next < page.length) {
          if (stopped) return
          await remove(page[next++]!)
        }
      } catch (err) {
        stopped = true
        throw err
      }
    }
    // Settled, not Promise.all: after a database error the drain ends once the others have stopped, not before.
    const settled = await Promise.allSettled(Array.from({ length: Math.min(concurrency, page.length) }, worker))
    const broken = settled.find((s) => s.status === 'rejected')
    if (broken !== undefined) throw broken.reason
    if (stopped) return result
  }
}
