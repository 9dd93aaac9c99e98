// The one piece of SQL that writes events: a pair of CTE clauses to put in any statement that
// makes a change, so the event is written by the statement that commits the change. `source` is a
// select of (tenant_id uuid, type text, call_sid text, data jsonb, at timestamptz); each event it
// yields is stored, and a delivery is owed to each enabled endpoint of its tenant that takes it.
// Used by emit() (emit.ts) and by the statements that must stay one (db/step-sql.ts, db/calls.ts).

/** `name as (…), name_to as (…)`: the clauses, to follow `with` or a comma. */
export function emitting (name: string, source: string): string {
  return `${name} as (
  insert into events (tenant_id, type, call_sid, data, at)
  ${source}
  returning id as event_id, seq as event_seq, tenant_id, type, call_sid, at
), ${name}_to as (
  insert into webhook_deliveries (tenant_id, endpoint_id, event_id, seq, call_sid, status, next_attempt_at, created_at)
  select x.tenant_id, h.id, x.event_id, x.event_seq, x.call_sid, 'pending', x.at, x.at
  from ${name} x join webhook_endpoints h on h.tenant_id = x.tenant_id and h.enabled and (x.type = any(h.events) or '*' = any(h.events))
)`
}
