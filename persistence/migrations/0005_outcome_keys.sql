-- Outcome recording that is safe to repeat, and a transition log whose cost
-- stays linear in the batch size.

-- Every real call gets a key from the node that made it (delivery_outcome::
-- attempt_key). A batch whose first try timed out on the caller's side but
-- committed anyway may be sent again: its attempts are then neither inserted
-- nor counted twice (ON CONFLICT DO NOTHING in record_outcomes).
ALTER TABLE delivery_attempts ADD COLUMN attempt_key text;
CREATE UNIQUE INDEX delivery_attempts_key_idx ON delivery_attempts (attempt_key)
  WHERE attempt_key IS NOT NULL;

-- 0004's trigger ran its INSERT as a static PL/pgSQL statement, whose plan is
-- cached per connection: planned for a one-row update (a nested loop over the
-- two transition tables), it was reused for a 9,000-row outcome batch, 81 M
-- comparisons and 14 s (bench/RESULTS.md, "Egress reliability"). EXECUTE
-- plans each time, with the transition tables' real sizes (a hash join).
CREATE OR REPLACE FUNCTION notifications_log_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'INSERT INTO notification_events (notification_id, tenant_id,'
          '                                 from_status, to_status, reason)'
          ' SELECT n.id, n.tenant_id, o.status, n.status, n.status_reason'
          '   FROM n JOIN o ON o.id = n.id'
          '  WHERE o.status IS DISTINCT FROM n.status';
  RETURN NULL;
END
$$;
