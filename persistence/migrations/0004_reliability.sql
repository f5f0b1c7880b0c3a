-- Issue 4: retries with a schedule, fresh attempt budgets after a DLQ retry,
-- a transition log, and a claim index that stays fast with many rows in
-- flight or waiting (persistence/pg_store.cpp k_claim).

-- Nullable or constant-default columns: PostgreSQL 15 only records them in
-- the catalog, no table rewrite, so this is quick on a big table.
--   next_attempt_at  retry_scheduled (and paced DLQ replays): when the next
--                    attempt is due; NULL = as soon as send_at allows.
--   attempts_base    attempts made before a DLQ retry gave a fresh budget
--                    (budget used = attempts - attempts_base).
--   status_reason    why the current status was set; the transition trigger
--                    copies it into notification_events.
ALTER TABLE notifications
  ADD COLUMN next_attempt_at timestamptz,
  ADD COLUMN attempts_base   integer NOT NULL DEFAULT 0,
  ADD COLUMN status_reason   text;

-- Every status change of a notification. No foreign key: it would cost a
-- look-up per event on the delivery hot path, and the log may outlive rows.
CREATE TABLE notification_events (
  id              bigserial   PRIMARY KEY,
  notification_id uuid        NOT NULL,
  tenant_id       text        NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  from_status     text,
  to_status       text        NOT NULL,
  reason          text
);

CREATE INDEX notification_events_notification_idx
  ON notification_events (notification_id, id);

-- Statement level with transition tables: one set-based INSERT per UPDATE
-- statement (a claim or an outcome batch of hundreds of rows), not one per
-- row. Creation is no transition, so there is no INSERT trigger.
CREATE FUNCTION notifications_log_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO notification_events (notification_id, tenant_id, from_status,
                                   to_status, reason)
  SELECT n.id, n.tenant_id, o.status, n.status, n.status_reason
    FROM n JOIN o ON o.id = n.id
   WHERE o.status IS DISTINCT FROM n.status;
  RETURN NULL;
END
$$;

CREATE TRIGGER notifications_transitions
  AFTER UPDATE ON notifications
  REFERENCING OLD TABLE AS o NEW TABLE AS n
  FOR EACH STATEMENT EXECUTE FUNCTION notifications_log_transitions();

-- The claim walks open rows in id order (oldest first) and must skip rows
-- that are leased or not due without visiting the heap for each of them.
-- Both tests are single-column comparisons on index keys, so the btree
-- checks them on the index tuple (Index Cond) while scanning in id order.
-- EXPLAIN ANALYZE, 20,000 leased + 20,000 not-due rows ahead of 1,000 due
-- ones, LIMIT 100, generic plan: 22 ms with notifications_claimable_idx
-- (40,000 heap rows removed by Filter), 1.3 ms with this index.
-- The expressions must stay identical to HERALD_CLAIM_DUE/_LEASE in
-- pg_store.cpp. The planner preferred the smaller 0001 index whenever
-- both existed, so that one goes.
CREATE INDEX notifications_claim_idx ON notifications (
  id,
  coalesce(greatest(send_at, next_attempt_at), '-infinity'::timestamptz),
  coalesce(lease_until, '-infinity'::timestamptz))
  WHERE status IN ('accepted', 'queued', 'sending', 'retry_scheduled');

DROP INDEX notifications_claimable_idx;

-- POST /v1/dlq/replay: a tenant's parked dead letters, oldest dead_at first.
CREATE INDEX dead_letters_replay_idx
  ON dead_letters (tenant_id, state, dead_at);
