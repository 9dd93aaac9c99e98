import { asc, eq } from 'drizzle-orm'
import type { Executor } from '../db/executor.js'
import { auditLog } from '../db/schema.js'
import { entryHash, GENESIS } from './append.js'

export type ChainCheck = { ok: true, entries: number } | { ok: false, entries: number, firstBroken: { seq: number, reason: string } }

/** Recomputes the tenant's chain from the start and names the first entry that does not fit. */
export async function verifyChain (db: Executor, tenantId: string): Promise<ChainCheck> {
  const rows = await db.select().from(auditLog).where(eq(auditLog.tenantId, tenantId)).orderBy(asc(auditLog.seq))
  let prev = GENESIS
  for (const [i, row] of rows.entries()) {
    const broken = (reason: string): ChainCheck => ({ ok: false, entries: rows.length, firstBroken: { seq: row.seq, reason } })
    if (row.seq !== i + 1) return broken(`expected seq ${i + 1}: an entry is missing`)
    if (row.prevHash !== prev) return broken('prev_hash does not match the entry before it')
    const hash = entryHash(prev, { seq: row.seq, at: row.at.toISOString(), actor: row.actor, action: row.action, subject: row.subject, details: row.details })
    if (hash !== row.hash) return broken('hash does not match the entry\'s content')
    prev = row.hash
  }
  return { ok: true, entries: rows.length }
}
