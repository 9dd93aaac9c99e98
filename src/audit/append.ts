import { createHash } from 'node:crypto'
import { desc, eq, sql } from 'drizzle-orm'
import type { Executor } from '../db/executor.js'
import { auditLog } from '../db/schema.js'

export interface AuditEntry {
  tenantId: string
  actor: string
  action: string
  subject: string | null
  /** Never raw phone numbers: hashes or ids only. */
  details: Record<string, unknown>
  at: Date
}

export const GENESIS = '0'.repeat(64)

/** JSON with object keys sorted at every level, so the same entry always hashes the same. */
export function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export function entryHash (prevHash: string, entry: { seq: number, at: string, actor: string, action: string, subject: string | null, details: unknown }): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(entry)).digest('hex')
}

/**
 * Appends to the tenant's hash chain. Must run inside a transaction: the advisory lock, held to
 * its end, keeps two writers (in any process) from forking the chain.
 */
export async function appendAudit (tx: Executor, entry: AuditEntry): Promise<{ seq: number, hash: string }> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${'audit:' + entry.tenantId}, 0))`)
  const [last] = await tx.select({ seq: auditLog.seq, hash: auditLog.hash }).from(auditLog)
    .where(eq(auditLog.tenantId, entry.tenantId)).orderBy(desc(auditLog.seq)).limit(1)
  const seq = (last?.seq ?? 0) + 1
  const prevHash = last?.hash ?? GENESIS
  const at = entry.at.toISOString()
  const hash = entryHash(prevHash, { seq, at, actor: entry.actor, action: entry.action, subject: entry.subject, details: entry.details })
  await tx.insert(auditLog).values({ tenantId: entry.tenantId, seq, at: entry.at, actor: entry.actor, action: entry.action, subject: entry.subject, details: entry.details, prevHash, hash })
  return { seq, hash }
}
