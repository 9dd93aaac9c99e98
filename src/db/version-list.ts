import { and, asc, eq } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import type { Executor } from './executor.js'
import { flowVersions, users } from './schema.js'

export interface VersionListItem {
  version: number
  createdBy: string | null
  /** null: saved with the admin token, which has no user. */
  createdByName: string | null
  createdAt: string
  publishedAt: string | null
  publishedBy: string | null
  publishedByName: string | null
}

const creator = alias(users, 'creator')
const publisher = alias(users, 'publisher')

/**
 * A flow's versions with who saved and published them, by name: one query, joined to users of
 * the flow's own tenant (a revoked user keeps its row, so its name still shows). No definitions.
 */
export async function listVersionsWithNames (db: Executor, flowId: string): Promise<VersionListItem[]> {
  const rows = await db.select({
    version: flowVersions.version,
    createdBy: flowVersions.createdBy,
    createdByName: creator.name,
    createdAt: flowVersions.createdAt,
    publishedAt: flowVersions.publishedAt,
    publishedBy: flowVersions.publishedBy,
    publishedByName: publisher.name
  }).from(flowVersions)
    .leftJoin(creator, and(eq(creator.id, flowVersions.createdBy), eq(creator.tenantId, flowVersions.tenantId)))
    .leftJoin(publisher, and(eq(publisher.id, flowVersions.publishedBy), eq(publisher.tenantId, flowVersions.tenantId)))
    .where(eq(flowVersions.flowId, flowId))
    .orderBy(asc(flowVersions.version))
  return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString(), publishedAt: r.publishedAt?.toISOString() ?? null }))
}
