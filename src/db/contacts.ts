import { and, asc, count, eq, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm'
import { rowsOf, type Executor } from './executor.js'
import { contacts, type ContactStatus } from './schema.js'

export interface NewContact { numberHash: string, numberSealed: string, reference: string | null, timezone: string | null }

/**
 * Adds the contacts not on the campaign's list yet; returns how many were added. The batch goes
 * as one JSON parameter: building a statement of thousands of bound values cost more CPU than
 * everything else an import does.
 */
export async function addContacts (db: Executor, tenantId: string, campaignId: string, list: NewContact[], at: Date): Promise<number> {
  if (list.length === 0) return 0
  const rows = JSON.stringify(list.map((c) => ({ h: c.numberHash, s: c.numberSealed, r: c.reference, z: c.timezone })))
  const result = await db.execute(sql`
    with added as (
      insert into ${contacts} (tenant_id, campaign_id, number_hash, number_sealed, reference, timezone, created_at)
      select ${tenantId}::uuid, ${campaignId}::uuid, x.h, x.s, x.r, x.z, ${at.toISOString()}::timestamptz
        from jsonb_to_recordset(${rows}::text::jsonb) as x(h text, s text, r text, z text)
      on conflict (campaign_id, number_hash) do nothing
      returning 1
    )
    select count(*)::int as n from added`)
  const [row] = rowsOf<{ n: number }>(result)
  return Number(row?.n ?? 0)
}

export type ContactRow = typeof contacts.$inferSelect

/** A page of the campaign's contacts in id order, after `cursor` (an id), optionally of one status. */
export async function contactPage (db: Executor, campaignId: string, opts: { status?: ContactStatus, after?: string, limit: number }): Promise<ContactRow[]> {
  return await db.select().from(contacts)
    .where(and(
      eq(contacts.campaignId, campaignId),
      opts.status !== undefined ? eq(contacts.status, opts.status) : undefined,
      opts.after !== undefined ? gt(contacts.id, opts.after) : undefined
    ))
    .orderBy(asc(contacts.id))
    .limit(opts.limit)
}

/** The contacts the dialler may still call (pending, or scheduled and due by `now`), a page at a time. */
export async function dueContactPage (db: Executor, campaignId: string, now: Date, opts: { after?: string, limit: number }) {
  return await db.select({ id: contacts.id, numberHash: contacts.numberHash, timezone: contacts.timezone }).from(contacts)
    .where(and(
      eq(contacts.campaignId, campaignId),
      or(eq(contacts.status, 'pending'), and(eq(contacts.status, 'scheduled'), or(isNull(contacts.nextAttemptAt), lte(contacts.nextAttemptAt, now)))),
      opts.after !== undefined ? gt(contacts.id, opts.after) : undefined
    ))
    .orderBy(asc(contacts.id))
    .limit(opts.limit)
}

/** How many of the campaign's contacts are in each status. */
export async function contactCounts (db: Executor, campaignId: string): Promise<Record<ContactStatus, number>> {
  const rows = await db.select({ status: contacts.status, n: count() }).from(contacts).where(eq(contacts.campaignId, campaignId)).groupBy(contacts.status)
  const counts: Record<ContactStatus, number> = { pending: 0, scheduled: 0, dialling: 0, completed: 0, exhausted: 0, suppressed: 0 }
  for (const row of rows) counts[row.status] = row.n
  return counts
}

/** Erasure of a data subject: their contacts go from every campaign of the tenant. */
export async function deleteContactsOf (db: Executor, tenantId: string, numberHashes: string[]): Promise<number> {
  if (numberHashes.length === 0) return 0
  const rows = await db.delete(contacts).where(and(eq(contacts.tenantId, tenantId), inArray(contacts.numberHash, numberHashes))).returning({ id: contacts.id })
  return rows.length
}
