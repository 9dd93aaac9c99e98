import { and, asc, eq, gt, gte, lt, type SQL } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { auditLog } from './schema.js'

export interface AuditFilter {
  tenantId: string
  actor?: string
  action?: string
  subject?: string
  from?: Date
  to?: Date
  afterSeq?: number
  limit: number
}

export async function listAudit (db: Executor, f: AuditFilter) {
  const where: SQL[] = [eq(auditLog.tenantId, f.tenantId)]
  if (f.actor !== undefined) where.push(eq(auditLog.actor, f.actor))
  if (f.action !== undefined) where.push(eq(auditLog.action, f.action))
  if (f.subject !== undefined) where.push(eq(auditLog.subject, f.subject))
  if (f.from !== undefined) where.push(gte(auditLog.at, f.from))
  if (f.to !== undefined) where.push(lt(auditLog.at, f.to))
  if (f.afterSeq !== undefined) where.push(gt(auditLog.seq, f.afterSeq))
  const rows = await db.select().from(auditLog).where(and(...where)).orderBy(asc(auditLog.seq)).limit(f.limit)
  return rows.map((r) => ({ seq: r.seq, at: r.at.toISOString(), actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: r.prevHash, hash: r.hash }))
}
