import { sql } from 'drizzle-orm'
import type { Executor } from '../db/executor.js'
import { callOf, type Emitted } from './catalogue.js'
import { emitting } from './outbox-sql.js'

const CLAUSES = emitting('ob', 'select tenant_id, type, call_sid, data, at from ob_src order by n')

/**
 * The one way to record a domain event: written with `tx`, the transaction of the change it
 * reports, so it commits or rolls back with it. Delivery (events/deliverer.ts) happens later,
 * from whichever process is free.
 */
export async function emit (tx: Executor, ...emitted: Emitted[]): Promise<void> {
  if (emitted.length === 0) return
  const rows = JSON.stringify(emitted.map((e, n) => ({ n, tenant_id: e.tenantId, type: e.type, call_sid: callOf(e), data: e.data, at: e.at.toISOString() })))
  await tx.execute(sql`with ob_src as (
    select * from jsonb_to_recordset(${rows}::text::jsonb) as x(n int, tenant_id uuid, type text, call_sid text, data jsonb, at timestamptz)
  ), ${sql.raw(CLAUSES)} select 1`)
}
