import { and, asc, eq, sql } from 'drizzle-orm'
import type { Campaign, CampaignCreate, CampaignPatch } from '../campaigns/schema.js'
import type { Db } from './client.js'
import { campaigns } from './schema.js'

type Row = typeof campaigns.$inferSelect

function toCampaign (row: Row): Campaign {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    timezone: row.timezone,
    hours: row.hours,
    holidays: row.holidays,
    switchboard: row.switchboard,
    retention: row.retention,
    lawfulBasis: row.lawfulBasis,
    lia: row.lia,
    callCap: row.callCap,
    defaultCountry: row.defaultCountry,
    endsAt: row.endsAt?.toISOString() ?? null,
    storeCallerNumber: row.storeCallerNumber,
    dialler: row.dialler ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString()
  }
}

const scoped = (id: string, tenantScope: string | null) =>
  and(eq(campaigns.id, id), tenantScope === null ? undefined : eq(campaigns.tenantId, tenantScope))

export async function insertCampaign (db: Db, tenantId: string, input: Omit<CampaignCreate, 'tenantId'>, at: Date): Promise<Campaign> {
  const [row] = await db.insert(campaigns).values({
    tenantId,
    name: input.name,
    timezone: input.timezone,
    hours: input.hours ?? {},
    holidays: input.holidays ?? [],
    switchboard: input.switchboard ?? null,
    retention: input.retention,
    lawfulBasis: input.lawfulBasis,
    lia: input.lia ?? null,
    callCap: input.callCap ?? null,
    defaultCountry: input.defaultCountry ?? null,
    endsAt: input.endsAt != null ? new Date(input.endsAt) : null,
    storeCallerNumber: input.storeCallerNumber ?? false,
    createdAt: at,
    updatedAt: at
  }).returning()
  return toCampaign(row!)
}

export async function findCampaign (db: Db, id: string, tenantScope: string | null): Promise<Campaign | null> {
  const rows = await db.select().from(campaigns).where(scoped(id, tenantScope))
  return rows[0] !== undefined ? toCampaign(rows[0]) : null
}

export async function listCampaigns (db: Db, tenantScope: string | null): Promise<Campaign[]> {
  const rows = await db.select().from(campaigns)
    .where(tenantScope === null ? undefined : eq(campaigns.tenantId, tenantScope))
    .orderBy(asc(campaigns.createdAt), asc(campaigns.id))
  return rows.map(toCampaign)
}

export async function updateCampaign (db: Db, id: string, tenantScope: string | null, patch: CampaignPatch, at: Date): Promise<Campaign | null> {
  const { endsAt, ...rest } = patch
  const rows = await db.update(campaigns)
    .set({ ...rest, ...(endsAt !== undefined ? { endsAt: endsAt === null ? null : new Date(endsAt) } : {}), updatedAt: at })
    .where(scoped(id, tenantScope)).returning()
  return rows[0] !== undefined ? toCampaign(rows[0]) : null
}

/** Every recordings window any campaign uses, for the bucket's lifecycle rules. */
export async function retentionWindowsInUse (db: Db): Promise<number[]> {
  const rows = await db.selectDistinct({ days: sql<number>`(${campaigns.retention}->>'recordingsDays')::int` }).from(campaigns)
  return rows.map((r) => Number(r.days)).sort((a, b) => a - b)
}
