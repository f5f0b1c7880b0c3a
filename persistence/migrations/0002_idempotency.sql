-- Idempotency keys (API.md "Idempotency-Key", DESIGN.md invariant 4). A key
-- lives on the notification it created: notifications.idempotency_key and
-- its unique index exist since 0001; the hash of the request body joins it
-- here, so the key commits atomically with its notification in one COPY and
-- a replay can be answered from the row (id + 'accepted').

-- How long a tenant's keys are kept. 0 = the node default (24 h). Less than
-- 24 h is never applied: the contract is "at least 24 h", so the effective
-- retention is greatest(24, value) hours (pg_store.cpp). The upper bound
-- (10 years) keeps created_at + retention inside timestamptz's range.
ALTER TABLE tenants
  ADD COLUMN idempotency_retention_hours integer NOT NULL DEFAULT 0
  CONSTRAINT tenants_idempotency_retention_check
  CHECK (idempotency_retention_hours BETWEEN 0 AND 87600);

-- SHA-256 hex of the canonical request body (http/codec.hpp request_hash).
-- NOT VALID: the column is new, so every existing row satisfies the check
-- already; skipping the scan keeps the migration quick on a big table.
ALTER TABLE notifications
  ADD COLUMN idempotency_hash text,
  ADD CONSTRAINT notifications_idempotency_hash_check
  CHECK (idempotency_hash IS NULL OR idempotency_key IS NOT NULL) NOT VALID;

-- The purge finds expired keys by age; rows without a key (or whose key was
-- forgotten already) stay out of this index.
CREATE INDEX notifications_idempotency_created_idx
  ON notifications (created_at)
  WHERE idempotency_key IS NOT NULL;
