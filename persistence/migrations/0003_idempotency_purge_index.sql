-- The purge index of 0002 (created_at WHERE idempotency_key IS NOT NULL)
-- also matched the hot look-up `tenant_id = $1 AND idempotency_key = $2`:
-- with statistics that underestimate keyed rows, the generic plan of the
-- prepared look-up scanned the whole purge index and filtered by key, a cost
-- growing with every stored key (6.7 ms per look-up at 600,000 rows).
-- A predicate the look-up does not imply keeps it on the unique
-- (tenant_id, idempotency_key) index. Every keyed row has a hash (0002's
-- CHECK: a hash only with a key, and Herald always writes both).
DROP INDEX IF EXISTS notifications_idempotency_created_idx;
CREATE INDEX notifications_idempotency_purge_idx
  ON notifications (created_at)
  WHERE idempotency_hash IS NOT NULL;
