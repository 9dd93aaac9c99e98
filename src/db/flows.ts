import { and, asc, desc, eq, isNotNull, ne, sql } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { flows, flowVersions } from './schema.js'

export interface Flow {
  id: string
  tenantId: string
  campaignId: string
  name: string
  publishedVersion: number | null
  createdAt: string
}

export interface FlowVersion {
  version: number
  definition: unknown
  createdBy: string | null
  createdAt: string
  publishedAt: string | null
  publishedBy: string | null
}

const iso = (d: Date | null) => d?.toISOString() ?? null

function toFlow (row: typeof flows.$inferSelect): Flow {
  return { id: row.id, tenantId: row.tenantId, campaignId: row.campaignId, name: row.name, publishedVersion: row.publishedVersion, createdAt: row.createdAt.toISOString() }
}

function toVersion (row: typeof flowVersions.$inferSelect): FlowVersion {
  return { version: row.version, definition: row.definition, createdBy: row.createdBy, createdAt: row.createdAt.toISOString(), publishedAt: iso(row.publishedAt), publishedBy: row.publishedBy }
}

export async function insertFlow (db: Executor, flow: { tenantId: string, campaignId: string, name: string, at: Date }): Promise<Flow> {
  const [row] = await db.insert(flows).values({ tenantId: flow.tenantId, campaignId: flow.campaignId, name: flow.name, createdAt: flow.at }).returning()
  return toFlow(row!)
}

export async function findFlow (db: Executor, id: string, tenantScope: string | null): Promise<Flow | null> {
  const rows = await db.select().from(flows).where(and(eq(flows.id, id), tenantScope === null ? undefined : eq(flows.tenantId, tenantScope)))
  return rows[0] !== undefined ? toFlow(rows[0]) : null
}

export async function listFlows (db: Executor, tenantScope: string | null): Promise<Flow[]> {
  const rows = await db.select().from(flows).where(tenantScope === null ? undefined : eq(flows.tenantId, tenantScope)).orderBy(asc(flows.createdAt), asc(flows.id))
  return rows.map(toFlow)
}

/** Stores a draft as the next version; the unique (flow, version) index settles a race between two saves. */
export async function insertVersion (db: Executor, v: { tenantId: string, flowId: string, definition: unknown, createdBy: string | null, at: Date }): Promise<FlowVersion> {
  const [row] = await db.insert(flowVersions).values({
    tenantId: v.tenantId,
    flowId: v.flowId,
    version: sql`(select coalesce(max(${flowVersions.version}), 0) + 1 from ${flowVersions} where ${flowVersions.flowId} = ${v.flowId})`,
    definition: v.definition,
    createdBy: v.createdBy,
    createdAt: v.at
  }).returning()
  return toVersion(row!)
}

export async function listVersions (db: Executor, flowId: string): Promise<FlowVersion[]> {
  const rows = await db.select().from(flowVersions).where(eq(flowVersions.flowId, flowId)).orderBy(asc(flowVersions.version))
  return rows.map(toVersion)
}

export async function findVersion (db: Executor, flowId: string, version: number): Promise<FlowVersion | null> {
  const rows = await db.select().from(flowVersions).where(and(eq(flowVersions.flowId, flowId), eq(flowVersions.version, version)))
  return rows[0] !== undefined ? toVersion(rows[0]) : null
}

export async function markPublished (db: Executor, flowId: string, version: number, by: string | null, at: Date): Promise<void> {
  await db.update(flowVersions).set({ publishedAt: at, publishedBy: by }).where(and(eq(flowVersions.flowId, flowId), eq(flowVersions.version, version)))
  await db.update(flows).set({ publishedVersion: version }).where(eq(flows.id, flowId))
}

/** The version that was live before the current one: the most recently published other version. */
export async function previousPublished (db: Executor, flowId: string, current: number): Promise<number | null> {
  const rows = await db.select({ version: flowVersions.version }).from(flowVersions)
    .where(and(eq(flowVersions.flowId, flowId), isNotNull(flowVersions.publishedAt), ne(flowVersions.version, current)))
    .orderBy(desc(flowVersions.publishedAt), desc(flowVersions.version)).limit(1)
  return rows[0]?.version ?? null
}
