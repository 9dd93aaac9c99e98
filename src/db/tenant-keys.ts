import { eq } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { tenantKeys, tenants } from './schema.js'

export interface StoredTenantKey {
  kmsKeyId: string | null
  /** null: the tenant has no key yet. */
  wrapped: string | null
  wrappedBy: string | null
}

/** null: no such tenant (never was, or offboarded). */
export async function tenantKeyOf (db: Executor, tenantId: string): Promise<StoredTenantKey | null> {
  const rows = await db.select({ kmsKeyId: tenants.kmsKeyId, wrapped: tenantKeys.wrapped, wrappedBy: tenantKeys.wrappedBy })
    .from(tenants).leftJoin(tenantKeys, eq(tenantKeys.tenantId, tenants.id)).where(eq(tenants.id, tenantId))
  return rows[0] ?? null
}

/** false: another process stored the tenant's key first (its key is the one to use). */
export async function insertTenantKey (db: Executor, key: { tenantId: string, wrapped: string, wrappedBy: string }): Promise<boolean> {
  const rows = await db.insert(tenantKeys).values(key).onConflictDoNothing().returning({ tenantId: tenantKeys.tenantId })
  return rows.length > 0
}

export async function deleteTenantKey (db: Executor, tenantId: string): Promise<boolean> {
  const rows = await db.delete(tenantKeys).where(eq(tenantKeys.tenantId, tenantId)).returning({ tenantId: tenantKeys.tenantId })
  return rows.length > 0
}
