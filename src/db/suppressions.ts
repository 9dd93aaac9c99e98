import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import { rowsOf, type Executor } from './executor.js'
import { callAttempts, contacts, dsrRequests, suppressions } from './schema.js'

export type SuppressionSource = 'ivr' | 'api' | 'import' | 'registry'

/**
 * The numbers' contacts still to be called, in every campaign of the tenant, are suppressed with
 * them (the IVR's opt-out does the same in its step: db/step-sql.ts). `hashes`: a text[] literal.
 */
const suppressContacts = (tenantId: string, hashes: string, source: SuppressionSource) => sql`
  update ${contacts} set status = 'suppressed', next_attempt_at = null, last_outcome = ${source === 'registry' ? 'registry' : 'suppressed'}
  where tenant_id = ${tenantId}::uuid and number_hash = any(${hashes}::text[]) and status in ('pending', 'scheduled')`

/** The one way an opt-out is written, whichever way it arrived. Returns false if it was already on file. */
export async function addSuppression (db: Executor, entry: { tenantId: string, numberHash: string, source: SuppressionSource, reason: string | null, callSid?: string | null, createdBy?: string | null, at: Date }): Promise<boolean> {
  const rows = await db.insert(suppressions).values({ tenantId: entry.tenantId, numberHash: entry.numberHash, source: entry.source, reason: entry.reason, callSid: entry.callSid ?? null, createdBy: entry.createdBy ?? null, createdAt: entry.at })
    .onConflictDoNothing().returning({ id: suppressions.id })
  await db.execute(suppressContacts(entry.tenantId, hashArray([entry.numberHash]), entry.source))
  return rows.length > 0
}

/**
 * Adds many hashes of one source at once; returns how many were new. The hashes travel as one
 * array parameter and are unnested by the server: a batch of thousands is one short statement,
 * not thousands of bound parameters for the driver and the planner to handle one by one.
 */
export async function addSuppressions (db: Executor, tenantId: string, hashes: string[], source: SuppressionSource, reason: string | null, createdBy: string | null, at: Date): Promise<number> {
  if (hashes.length === 0) return 0
  const list = hashArray(hashes)
  const result = await db.execute(sql`with added as (
    insert into ${suppressions} (tenant_id, number_hash, source, reason, created_by, created_at)
    select ${tenantId}::uuid, h, ${source}::text, ${reason}::text, ${createdBy}::uuid, ${at.toISOString()}::timestamptz from unnest(${list}::text[]) as h
    order by h collate "C" -- in index order: each leaf page of a large index is visited once per batch, not at random
    on conflict do nothing returning 1
  ), contacts_suppressed as (${suppressContacts(tenantId, list, source)})
  select count(*)::int as n from added`)
  return Number(rowsOf<{ n: number }>(result)[0]!.n)
}

/**
 * After a large import. Until a table is vacuumed its fresh rows have no visibility map, so the
 * index-only scans that load a screening set visit the heap for every row, and the first reader
 * also sets each row's hint bits (measured at 1M rows on PostgreSQL: the first screening's set
 * took 2.6 s instead of 0.8 s). PGlite has no autovacuum worker at all, and PostgreSQL's gets to
 * it only later; done here, the import pays it once, in both.
 */
export async function tidyAfterImport (db: Executor): Promise<void> {
  await db.execute(sql`vacuum (analyze) ${suppressions}`)
}

export async function suppressionsOf (db: Executor, tenantId: string, numberHash: string) {
  return await db.select().from(suppressions).where(and(eq(suppressions.tenantId, tenantId), eq(suppressions.numberHash, numberHash))).orderBy(asc(suppressions.createdAt))
}

export async function removeSuppressions (db: Executor, tenantId: string, numberHash: string, sources: SuppressionSource[]): Promise<number> {
  const rows = await db.delete(suppressions).where(and(eq(suppressions.tenantId, tenantId), eq(suppressions.numberHash, numberHash), inArray(suppressions.source, sources))).returning({ id: suppressions.id })
  return rows.length
}

/** For screening many numbers: which hashes are suppressed (by source), restricted, or at their cap. */
export async function screeningFacts (db: Executor, tenantId: string, hashes: string[], cap: { campaignId: string, since: Date } | null) {
  const sources = new Map<string, Set<string>>()
  const restricted = new Set<string>()
  const attempts = new Map<string, number>()
  if (hashes.length === 0) return { sources, restricted, attempts }
  // One statement, the list sent once as one array parameter (= any) rather than three IN lists
  // of one bound parameter per hash: for the embedded database every byte of a query crosses
  // into WebAssembly, and the hex hashes are most of the bytes.
  const list = hashArray(hashes)
  const result = await db.execute(sql`
    with list as (select ${list}::text[] as hashes)
    select number_hash as hash, 's' as kind, source as value from ${suppressions}
      where tenant_id = ${tenantId}::uuid and number_hash = any((select hashes from list)::text[])
    union all
    select number_hash, 'r', null from ${dsrRequests}
      where tenant_id = ${tenantId}::uuid and number_hash = any((select hashes from list)::text[]) and type = 'restriction' and status = 'active'
    ${cap === null
      ? sql``
      : sql`union all
    select number_hash, 'a', count(*)::text from ${callAttempts}
      where campaign_id = ${cap.campaignId}::uuid and number_hash = any((select hashes from list)::text[]) and at >= ${cap.since.toISOString()}::timestamptz
      group by number_hash`}`)
  for (const row of rowsOf<{ hash: string, kind: 's' | 'r' | 'a', value: string | null }>(result)) {
    if (row.kind === 's') sources.set(row.hash, (sources.get(row.hash) ?? new Set()).add(row.value!))
    else if (row.kind === 'r') restricted.add(row.hash)
    else attempts.set(row.hash, Number(row.value))
  }
  return { sources, restricted, attempts }
}

export type ListedKind = 'suppressions' | 'restrictions' | 'capped'
export interface ListedPage { keys: string, bits: string }

/**
 * A tenant's listed hashes that start with one hex digit (`digit`, 0–f): a sixteenth of a list,
 * whatever its size. For each, the first 16 hex digits (64 bits, all a bulk screening keeps)
 * concatenated, and a digit of verdict bits (see suppression/verdict.ts). Aggregated by the
 * database into two strings, so a million entries cross as 16 rows rather than a million. The
 * two aggregates read the same rows in the same order, so keys and bits stay aligned; a hash on
 * several lists or with several sources comes once per entry, for the caller to combine.
 */
export async function listedPage (db: Executor, kind: ListedKind, scope: { tenantId: string, cap: { campaignId: string, since: Date, count: number } | null }, digit: number): Promise<ListedPage> {
  const from = digit.toString(16)
  const to = (digit + 1).toString(16) // 16 → "10" sorts after "f…" too, as every hex hash does before "g"
  const range = sql`number_hash >= ${from} and number_hash < ${digit === 15 ? 'g' : to}`
  const entries = kind === 'suppressions'
    ? sql`select number_hash as h, case when source = 'registry' then 2 else 1 end as b from ${suppressions}
        where tenant_id = ${scope.tenantId}::uuid and ${range}`
    : kind === 'restrictions'
      ? sql`select number_hash as h, 4 as b from ${dsrRequests}
        where tenant_id = ${scope.tenantId}::uuid and type = 'restriction' and status = 'active' and ${range}`
      : sql`select number_hash as h, 8 as b from ${callAttempts}
        where campaign_id = ${scope.cap!.campaignId}::uuid and at >= ${scope.cap!.since.toISOString()}::timestamptz and ${range}
        group by number_hash having count(*) >= ${scope.cap!.count}`
  const result = await db.execute(sql`select coalesce(string_agg(substr(h, 1, 16), ''), '') as keys, coalesce(string_agg(b::text, ''), '') as bits from (${entries}) entries`)
  return rowsOf<ListedPage>(result)[0]!
}

const HEX_LIST = /^[0-9a-f]+(?:,[0-9a-f]+)*$/

/** A PostgreSQL array literal of number hashes. Hex digits need no quoting; anything else is refused, not escaped. */
function hashArray (hashes: string[]): string {
  const list = hashes.join(',')
  if (!HEX_LIST.test(list)) throw new TypeError('a number hash must be hex')
  return '{' + list + '}'
}

/** db.execute answers with the rows (postgres.js) or with { rows } (PGlite). */

export async function recordAttempt (db: Executor, attempt: { tenantId: string, campaignId: string, numberHash: string, at: Date }): Promise<void> {
  await db.insert(callAttempts).values(attempt)
}
