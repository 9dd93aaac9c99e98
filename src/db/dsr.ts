import { and, eq } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { dsrRequests } from './schema.js'

/** A data-subject restriction in force for this number: it may never be recorded. */
export async function isRestricted (db: Executor, tenantId: string, numberHash: string): Promise<boolean> {
  const rows = await db.select({ id: dsrRequests.id }).from(dsrRequests)
    .where(and(eq(dsrRequests.tenantId, tenantId), eq(dsrRequests.numberHash, numberHash), eq(dsrRequests.type, 'restriction'), eq(dsrRequests.status, 'active')))
    .limit(1)
  return rows.length > 0
}
