-- Idempotency keys move out of `notifications` into a table of their own,
-- written once when a keyed notification is accepted and never updated.
--
-- Why: no update of `notifications` is ever HOT (the claim index covers
-- status, lease and due times, and COPY fills the pages), so every claim,
-- lease renewal and outcome inserted a new entry into every index of the
-- row, the unique (tenant_id, idempotency_key) index and the purge index
-- included. A keyed notification paid for two more index entries on each of
-- its four or more updates (bench/RESULTS-guards.md, issue 3). Here a key
-- costs two index entries once.
--
-- Invariant 4 of DESIGN.md (at most one notification per (tenant, key)
-- while the key is retained) is now this primary key. The key row commits in
-- the same transaction as its notification (pg_store insert_notifications),
-- so neither exists without the other.
--
-- notifications.idempotency_key/hash stay as the record of what the request
-- carried (unindexed, no longer unique); the purge and the take-over of an
-- expired key delete rows here and leave the notification alone.
CREATE TABLE idempotency_keys (
  tenant_id       text        NOT NULL,
  key             text        NOT NULL,
  -- SHA-256 hex of the canonical request body; NULL only for keys stored
  -- without one (none that Herald's API writes).
  request_hash    text,
  notification_id uuid        NOT NULL,
  -- The notification's created_at: retention counts from acceptance.
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

-- The purge finds expired keys by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

INSERT INTO idempotency_keys (tenant_id, key, request_hash, notification_id,
                              created_at)
SELECT tenant_id, idempotency_key, idempotency_hash, id, created_at
  FROM notifications
 WHERE idempotency_key IS NOT NULL;

DROP INDEX IF EXISTS notifications_idempotency_purge_idx;
DROP INDEX IF EXISTS notifications_idempotency_idx;
