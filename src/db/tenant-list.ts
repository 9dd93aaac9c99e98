import { asc } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { tenants } from './schema.js'

export interface TenantSummary {
  id: string
  name: string
  createdAt: string
  /** Set while an offboarding is under way; an erased tenant has no row left to list. */
  offboardingSince: string | null
}

/** Every tenant, by name: the admin's list to pick the one to work in. */
export async function listTenants (db: Executor): Promise<TenantSummary[]> {
  const rows = await db.select({ id: tenants.id, name: tenants.name, createdAt: tenants.createdAt, offboardingSince: tenants.offboardingSince })
    .from(tenants).orderBy(asc(tenants.name), asc(tenants.id))
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.createdAt.toISOString(), offboardingSince: r.offboardingSince?.toISOString() ?? null }))
}
