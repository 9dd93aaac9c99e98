-- The one way out of the append-only audit log: a transaction offboarding a tenant may delete
-- that tenant's entries (after handing them over in its export), and only that tenant's. It
-- has to say so explicitly with set_config('callgate.offboarding_tenant', <id>, true), which
-- lasts until the end of that transaction. UPDATE and TRUNCATE stay refused.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND OLD.tenant_id::text = current_setting('callgate.offboarding_tenant', true) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
