import { and, desc, eq, inArray, isNull, or, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { auditLog, recordings, tenantOffboardings, tenants } from './schema.js'

export type OffboardingRow = typeof tenantOffboardings.$inferSelect

export async function findOffboarding (db: Executor, tenantId: string): Promise<OffboardingRow | null> {
  const rows = await db.select().from(tenantOffboardings).where(eq(tenantOffboardings.tenantId, tenantId))
  return rows[0] ?? null
}

export async function insertOffboarding (db: Executor, row: typeof tenantOffboardings.$inferInsert): Promise<void> {
  await db.insert(tenantOffboardings).values(row)
}

export async function updateOffboarding (db: Executor, tenantId: string, patch: Partial<typeof tenantOffboardings.$inferInsert>): Promise<void> {
  await db.update(tenantOffboardings).set(patch).where(eq(tenantOffboardings.tenantId, tenantId))
}

/** Locks the tenant row for the rest of the transaction: offboarding steps never interleave. */
export async function lockTenant (tx: Executor, tenantId: string) {
  const rows = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for('update')
  return rows[0] ?? null
}

export async function isOffboarding (db: Executor, tenantId: string): Promise<boolean> {
  const rows = await db.select({ since: tenants.offboardingSince }).from(tenants).where(eq(tenants.id, tenantId))
  return rows[0]?.since != null
}

export async function markOffboarding (tx: Executor, tenantId: string, since: Date | null): Promise<void> {
  await tx.update(tenants).set({ offboardingSince: since }).where(eq(tenants.id, tenantId))
}

/** What stops an offboarding: recordings under legal hold, and recordings not yet in the bucket. */
export async function offboardingBlockers (db: Executor, tenantId: string) {
  return await db.select({ id: recordings.id, status: recordings.status, legalHold: recordings.legalHold }).from(recordings)
    .where(and(eq(recordings.tenantId, tenantId), isNull(recordings.deletedAt), or(eq(recordings.legalHold, true), inArray(recordings.status, ['recording', 'spooled']))))
    .limit(50)
}

export async function auditHead (db: Executor, tenantId: string): Promise<{ seq: number, hash: string }> {
  const [last] = await db.select({ seq: auditLog.seq, hash: auditLog.hash }).from(auditLog)
    .where(eq(auditLog.tenantId, tenantId)).orderBy(desc(auditLog.seq)).limit(1)
  return last ?? { seq: 0, hash: '0'.repeat(64) }
}

/** Lets this transaction delete the tenant's audit entries (see migration 0007). */
export async function allowAuditDeletion (tx: Executor, tenantId: string): Promise<void> {
  await tx.execute(sql`select set_config('callgate.offboarding_tenant', ${tenantId}, true)`)
}

export async function pendingOffboardings (db: Executor): Promise<OffboardingRow[]> {
  return await db.select().from(tenantOffboardings).where(isNull(tenantOffboardings.completedAt))
}

/** null: finished already, or another process is finishing it right now. */
export async function lockOffboarding (tx: Executor, tenantId: string): Promise<OffboardingRow | null> {
  const rows = await tx.select().from(tenantOffboardings).where(eq(tenantOffboardings.tenantId, tenantId)).for('update', { skipLocked: true })
  return rows[0] ?? null
}
