import { createWriteStream } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms'
import { eq } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import { appendAudit } from '../audit/append.js'
import { audited } from '../audit/audited.js'
import { kmsClientFor, type KmsOptions } from '../crypto/keyring.js'
import type { Db } from '../db/client.js'
import type { Tx } from '../db/executor.js'
import {
  allowAuditDeletion, auditHead, findOffboarding, insertOffboarding, lockOffboarding, lockTenant, markOffboarding, offboardingBlockers,
  pendingOffboardings, updateOffboarding,
  type OffboardingRow
} from '../db/offboardings.js'
import { tenants } from '../db/schema.js'
import { BadRequest, Conflict, NotFound } from '../errors.js'
import { exportTenant, type ExportDeps } from './export.js'
import { countRows, deleteRows, TENANT_TABLES } from './tenant-tables.js'

export interface OffboardDeps extends ExportDeps {
  db: Db
  /** Where hand-over archives are written (DATA_DIR/exports). */
  exportDir: string
  kms: KmsOptions
  log: FastifyBaseLogger
}

/** The shortest waiting period KMS allows: the key can still be rescued for a week. */
export const KMS_PENDING_DAYS = 7

/**
 * Hands the tenant's data over and erases it, in steps that can each be re-run:
 * 1. mark the tenant (its numbers stop taking calls, no recording starts), unless a recording
 *    is under legal hold or not yet in the bucket;
 * 2. write the export archive (to a .partial file, renamed once complete and synced);
 * 3. in one transaction, check nothing changed since the export, delete every row of the
 *    tenant (its audit chain included, now that it is handed over) and its wrapped key, and
 *    record the offboarding;
 * 4. delete every object under the tenant's prefix, all versions;
 * 5. schedule deletion of the tenant's own KMS key, when it has one.
 * After 3 the tenant's ciphertext is unreadable wherever it survives. A failure in 4 or 5 leaves
 * the record incomplete; offboarding the tenant again (or the sweeper) finishes it.
 */
export async function offboardTenant (deps: OffboardDeps, tenantId: string, actor: string, confirm: string): Promise<OffboardingRow> {
  const done = await findOffboarding(deps.db, tenantId)
  if (done !== null) return await finish(deps, done)

  const startedAt = deps.clock.now()
  const tenant = await deps.db.transaction(async (tx) => {
    const row = await lockTenant(tx, tenantId)
    if (row === null) throw new NotFound('tenant')
    if (confirm !== row.name) throw new BadRequest('body/confirm must be the tenant\'s name, exactly, to offboard it')
    const blockers = await offboardingBlockers(tx, tenantId)
    const held = blockers.filter((b) => b.legalHold).map((b) => b.id)
    if (held.length > 0) throw new Conflict(`recordings under legal hold: ${held.join(', ')}; lift the holds first`)
    if (blockers.length > 0) throw new Conflict(`recordings not yet stored: ${blockers.map((b) => `${b.id} (${b.status})`).join(', ')}; retry once they are`)
    if (row.offboardingSince === null) {
      await markOffboarding(tx, tenantId, startedAt)
      await appendAudit(tx, { tenantId, actor, action: 'tenant.offboard.start', subject: `tenant:${tenantId}`, details: {}, at: startedAt })
    }
    return row
  })

  await mkdir(deps.exportDir, { recursive: true, mode: 0o700 })
  const file = join(deps.exportDir, `${tenantId}-${startedAt.toISOString().replaceAll(':', '')}.tar`)
  const partial = `${file}.partial`
  let summary
  try {
    summary = await exportTenant(deps, tenantId, createWriteStream(partial, { mode: 0o600 }))
    const handle = await open(partial, 'r')
    try { await handle.sync() } finally { await handle.close() }
    await rename(partial, file)
  } catch (err) {
    await rm(partial, { force: true })
    throw err
  }
  deps.log.info({ tenantId, file, bytes: summary.bytes, sha256: summary.sha256 }, 'tenant export written')
  if (summary.objectsMissing.length > 0) {
    deps.log.warn({ tenantId, recordings: summary.objectsMissing }, 'recordings whose object the bucket did not have: listed in the export manifest as not exported')
  }

  await deps.db.transaction(async (tx) => {
    if (await lockTenant(tx, tenantId) === null) throw new NotFound('tenant')
    for (const t of TENANT_TABLES) {
      if (t.file === null) continue
      const key = t.file.replace(/\.jsonl$/, '')
      const now = await countRows(tx, t, tenantId)
      if (now !== summary.counts[key]) {
        throw new Conflict(`the tenant's ${key} changed while it was being exported (${summary.counts[key]} → ${now}); nothing was deleted, offboard again`)
      }
    }
    const head = await auditHead(tx, tenantId)
    await allowAuditDeletion(tx, tenantId)
    for (const t of TENANT_TABLES) await deleteRows(tx, t, tenantId)
    await tx.delete(tenants).where(eq(tenants.id, tenantId))
    await insertOffboarding(tx, {
      tenantId,
      actor,
      startedAt: tenant.offboardingSince ?? startedAt,
      rowsDeletedAt: deps.clock.now(),
      exportFile: file,
      exportSha256: summary.sha256,
      exportBytes: summary.bytes,
      counts: summary.counts,
      auditHeadSeq: head.seq,
      auditHeadHash: head.hash,
      kmsKeyId: tenant.kmsKeyId
    })
  })
  deps.tenantKeys.forget(tenantId)
  deps.log.info({ tenantId }, 'tenant rows and key deleted')
  return await finish(deps, (await findOffboarding(deps.db, tenantId))!)
}

/**
 * Calls off an offboarding whose rows are not yet erased: the tenant takes calls again. The
 * tenant's row is locked first, so an offboarding about to delete the rows waits for the mark
 * to go (and then finds its export stale) or has already deleted them (the tenant is erased).
 */
export async function cancelOffboarding (deps: Pick<OffboardDeps, 'db'>, tenantId: string, actor: string, at: Date): Promise<void> {
  await audited(deps.db, async (tx) => {
    const tenant = await lockTenant(tx, tenantId)
    if (tenant === null) {
      if (await findOffboarding(tx, tenantId) !== null) throw new Conflict('the tenant is already erased')
      throw new NotFound('tenant')
    }
    if (tenant.offboardingSince === null) throw new Conflict('the tenant is not being offboarded')
    await markOffboarding(tx, tenantId, null)
  }, { tenantId, actor, action: 'tenant.offboard.cancel', subject: `tenant:${tenantId}`, details: {}, at })
}

/**
 * Steps 4 and 5, each committed as done when it succeeds, so a re-run does only what is left.
 * The S3 and KMS requests run outside any transaction (a lock held through them would hold a
 * connection, PGlite's only one, for as long as S3 takes): two instances finishing the same
 * tenant at once may both send them, which is harmless (deleting twice; KMS refuses a second
 * schedule, and that instance retries later to find the step done).
 */
export async function finish (deps: OffboardDeps, row: OffboardingRow): Promise<OffboardingRow> {
  if (row.completedAt !== null) return row
  const { tenantId } = row
  const step = (work: (tx: Tx, locked: OffboardingRow) => Promise<void>) => deps.db.transaction(async (tx) => {
    const locked = await lockOffboarding(tx, tenantId)
    if (locked !== null && locked.completedAt === null) await work(tx, locked)
  })
  const current = await findOffboarding(deps.db, tenantId)
  if (current !== null && current.completedAt === null && current.objectsDeleted === null) {
    const objectsDeleted = await deps.store.deleteAllUnderPrefix(deps.store.bucket, `${tenantId}/`)
    await step(async (tx, locked) => {
      if (locked.objectsDeleted !== null) return
      await updateOffboarding(tx, tenantId, { objectsDeleted })
      deps.log.info({ tenantId, objectsDeleted }, 'tenant objects deleted')
    })
  }
  if (current !== null && current.completedAt === null && current.kmsKeyId !== null && current.kmsDeletionDate === null) {
    const kmsKeyId = current.kmsKeyId
    const client = kmsClientFor(deps.kms, kmsKeyId)
    let deletionDate: Date | undefined
    try {
      deletionDate = (await client.send(new ScheduleKeyDeletionCommand({ KeyId: kmsKeyId, PendingWindowInDays: KMS_PENDING_DAYS }))).DeletionDate
    } finally {
      client.destroy()
    }
    await step(async (tx, locked) => {
      if (locked.kmsDeletionDate !== null) return
      await updateOffboarding(tx, tenantId, { kmsDeletionDate: deletionDate ?? deps.clock.now() })
      deps.log.info({ tenantId, kmsKeyId, deletionDate }, 'tenant KMS key scheduled for deletion')
    })
  }
  await step(async (tx, locked) => {
    if (locked.objectsDeleted !== null && (locked.kmsKeyId === null || locked.kmsDeletionDate !== null)) {
      await updateOffboarding(tx, tenantId, { completedAt: deps.clock.now() })
    }
  })
  return (await findOffboarding(deps.db, tenantId))!
}

/** Finishes offboardings a failure (S3 or KMS unreachable) left incomplete. */
export async function finishPending (deps: OffboardDeps): Promise<number> {
  let finished = 0
  for (const row of await pendingOffboardings(deps.db)) {
    try {
      if ((await finish(deps, row)).completedAt !== null) finished++
    } catch (err) {
      deps.log.error({ err, tenantId: row.tenantId }, 'could not finish offboarding; will retry')
    }
  }
  return finished
}
