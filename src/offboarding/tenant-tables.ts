import { and, asc, count, eq, gt } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { Executor } from '../db/executor.js'
import {
  auditLog, callAttempts, callEvents, calls, campaigns, consents, contacts, dsrRequests, flows, flowVersions, numbers,
  events, recordingControls, recordings, streamTokens, suppressions, tenantKeys, users, webhookDeliveries, webhookEndpoints
} from '../db/schema.js'

interface TenantTable {
  /** The file in the export; null: not exported (secrets, or nothing the controller can use). */
  file: string | null
  table: PgTable
  tenantId: PgColumn
  /** Orders the rows and pages through them. */
  key: PgColumn
  /** Columns left out of the export. */
  omit?: string[]
}

/**
 * Every table holding rows of a tenant, children before parents (the order rows are deleted in).
 * A table added to the schema with a tenant_id must be listed here: the offboarding test checks
 * that no table keeps a row of an offboarded tenant.
 */
export const TENANT_TABLES: TenantTable[] = [
  { file: 'audit-log.jsonl', table: auditLog, tenantId: auditLog.tenantId, key: auditLog.seq },
  // Delivery bookkeeping, and endpoints' secrets: not the controller's to take away.
  { file: null, table: webhookDeliveries, tenantId: webhookDeliveries.tenantId, key: webhookDeliveries.id },
  { file: 'webhook-endpoints.jsonl', table: webhookEndpoints, tenantId: webhookEndpoints.tenantId, key: webhookEndpoints.id, omit: ['secret'] },
  { file: 'events.jsonl', table: events, tenantId: events.tenantId, key: events.seq },
  { file: 'recording-controls.jsonl', table: recordingControls, tenantId: recordingControls.tenantId, key: recordingControls.id },
  { file: 'recordings.jsonl', table: recordings, tenantId: recordings.tenantId, key: recordings.id },
  { file: null, table: streamTokens, tenantId: streamTokens.tenantId, key: streamTokens.tokenHash },
  { file: 'consents.jsonl', table: consents, tenantId: consents.tenantId, key: consents.id },
  { file: 'call-events.jsonl', table: callEvents, tenantId: callEvents.tenantId, key: callEvents.id },
  // last_twiml is the answer kept for Twilio's retry of a step: machinery, not the tenant's data,
  // and rows stored before stream tokens were derived (calls/stream-token.ts) hold one in clear.
  { file: 'calls.jsonl', table: calls, tenantId: calls.tenantId, key: calls.id, omit: ['lastTwiml'] },
  { file: 'call-attempts.jsonl', table: callAttempts, tenantId: callAttempts.tenantId, key: callAttempts.id },
  // The export opens numberSealed into `number` (export.ts): the hand-over must be usable.
  { file: 'contacts.jsonl', table: contacts, tenantId: contacts.tenantId, key: contacts.id },
  { file: 'suppressions.jsonl', table: suppressions, tenantId: suppressions.tenantId, key: suppressions.id },
  { file: 'dsr-requests.jsonl', table: dsrRequests, tenantId: dsrRequests.tenantId, key: dsrRequests.id },
  { file: 'numbers.jsonl', table: numbers, tenantId: numbers.tenantId, key: numbers.id },
  { file: 'flow-versions.jsonl', table: flowVersions, tenantId: flowVersions.tenantId, key: flowVersions.id },
  { file: 'flows.jsonl', table: flows, tenantId: flows.tenantId, key: flows.id },
  { file: 'campaigns.jsonl', table: campaigns, tenantId: campaigns.tenantId, key: campaigns.id },
  { file: 'users.jsonl', table: users, tenantId: users.tenantId, key: users.id, omit: ['keyHash'] },
  { file: null, table: tenantKeys, tenantId: tenantKeys.tenantId, key: tenantKeys.tenantId }
]

const PAGE = 1000

/** The tenant's rows of one table, a page at a time, in key order (memory stays one page). */
export async function * tenantRows (db: Executor, t: TenantTable, tenantId: string): AsyncGenerator<Array<Record<string, unknown>>> {
  const keyName = Object.entries(t.table).find(([, column]) => column === t.key)?.[0]
  if (keyName === undefined) throw new Error('the key column is not a column of its table')
  let last: unknown
  for (;;) {
    const where = last === undefined ? eq(t.tenantId, tenantId) : and(eq(t.tenantId, tenantId), gt(t.key, last))
    const rows = await db.select().from(t.table).where(where).orderBy(asc(t.key)).limit(PAGE) as Array<Record<string, unknown>>
    if (rows.length === 0) return
    for (const column of t.omit ?? []) for (const row of rows) delete row[column]
    yield rows
    if (rows.length < PAGE) return
    last = rows[rows.length - 1]![keyName]
  }
}

export async function countRows (db: Executor, t: TenantTable, tenantId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(t.table).where(eq(t.tenantId, tenantId))
  return row!.n
}

export async function deleteRows (db: Executor, t: TenantTable, tenantId: string): Promise<number> {
  const rows = await db.delete(t.table).where(eq(t.tenantId, tenantId)).returning({ k: t.key })
  return rows.length
}
