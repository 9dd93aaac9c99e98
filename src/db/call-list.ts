import { and, desc, eq, gte, lt, or, sql, type SQL } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { calls, recordings } from './schema.js'

export interface CallListFilter {
  /** null: every tenant (admin). */
  tenantId: string | null
  /** Keyed hash of the remote number: calls keep no number in clear unless the campaign says so. */
  remoteHash?: string
  from?: Date
  to?: Date
  status?: string
  limit: number
  /** Keyset cursor: the last row of the previous page. */
  before?: { startedAt: Date, callSid: string }
}

export interface CallSummary {
  callSid: string
  direction: string
  status: string
  campaignId: string | null
  flowId: string | null
  flowVersion: number | null
  ourNumber: string
  callerNumber: string | null
  startedAt: string
  endedAt: string | null
  durationSeconds: number | null
  recordings: number
}

/** Newest first; one more row than asked for tells the caller whether a next page exists. */
export async function listCalls (db: Executor, filter: CallListFilter): Promise<{ calls: CallSummary[], more: boolean }> {
  const where: Array<SQL | undefined> = [
    filter.tenantId === null ? undefined : eq(calls.tenantId, filter.tenantId),
    filter.remoteHash === undefined ? undefined : eq(calls.remoteHash, filter.remoteHash),
    filter.from === undefined ? undefined : gte(calls.startedAt, filter.from),
    filter.to === undefined ? undefined : lt(calls.startedAt, filter.to),
    filter.status === undefined ? undefined : eq(calls.status, filter.status),
    filter.before === undefined
      ? undefined
      : or(lt(calls.startedAt, filter.before.startedAt), and(eq(calls.startedAt, filter.before.startedAt), lt(calls.callSid, filter.before.callSid)))
  ]
  const rows = await db.select({
    callSid: calls.callSid,
    direction: calls.direction,
    status: calls.status,
    campaignId: calls.campaignId,
    flowId: calls.flowId,
    flowVersion: calls.flowVersion,
    ourNumber: calls.localNumber,
    callerNumber: calls.remoteNumber,
    startedAt: calls.startedAt,
    endedAt: calls.endedAt,
    durationSeconds: calls.durationSeconds,
    recordings: sql<number>`(select count(*)::int from ${recordings} where ${recordings.callId} = ${calls.id})`
  }).from(calls).where(and(...where)).orderBy(desc(calls.startedAt), desc(calls.callSid)).limit(filter.limit + 1)
  return {
    calls: rows.slice(0, filter.limit).map((r) => ({ ...r, recordings: Number(r.recordings), startedAt: r.startedAt.toISOString(), endedAt: r.endedAt?.toISOString() ?? null })),
    more: rows.length > filter.limit
  }
}
