-- Herald's initial schema. Columns hold timestamptz; the C++ side speaks
-- Unix epoch milliseconds and converts in SQL (persistence/pg_store.cpp).

-- pg_store::migrate() creates this table itself before reading it (it must
-- exist to know that 0001 is missing); repeated here so the schema is whole.
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
  id             text        PRIMARY KEY,
  name           text        NOT NULL,
  rate_per_sec   integer     NOT NULL DEFAULT 0 CHECK (rate_per_sec >= 0),
  burst          integer     NOT NULL DEFAULT 0 CHECK (burst >= 0),
  -- Allowed channels; empty = all.
  channels       text[]      NOT NULL DEFAULT '{}'
                 CHECK (channels <@ ARRAY['email', 'sms', 'push', 'webhook']),
  webhook_secret text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  key_id     text        PRIMARY KEY,
  tenant_id  text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  key_hash   text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE notifications (
  id              uuid        PRIMARY KEY,
  tenant_id       text        NOT NULL REFERENCES tenants (id),
  channel         text        NOT NULL
                  CHECK (channel IN ('email', 'sms', 'push', 'webhook')),
  to_addr         text        NOT NULL,
  subject         text,
  body            text        NOT NULL,
  data            jsonb,
  priority        text        NOT NULL DEFAULT 'normal'
                  CHECK (priority IN ('high', 'normal', 'low')),
  send_at         timestamptz,
  provider        text,
  status          text        NOT NULL
                  CHECK (status IN ('accepted', 'queued', 'sending',
                                    'retry_scheduled', 'delivered', 'failed',
                                    'dead_lettered', 'cancelled',
                                    'discarded')),
  attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error      text,
  idempotency_key text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  lease_owner     text,
  lease_until     timestamptz,
  -- Bumped by every claim; an outcome applies only with the current value,
  -- so a node that lost its lease cannot overwrite the new holder's result.
  fence           bigint      NOT NULL DEFAULT 0,
  CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);

-- Listings: a tenant's notifications newest first (ids are UUIDv7).
CREATE INDEX notifications_tenant_id_idx ON notifications (tenant_id, id DESC);

-- Claims scan only work still to do; terminal rows (the vast majority after
-- a while) stay out of this index. The predicate must match the claim query
-- text for the planner to use it.
CREATE INDEX notifications_claimable_idx ON notifications (id)
  WHERE status IN ('accepted', 'queued', 'sending', 'retry_scheduled');

-- Lease renewal looks rows up by holder; only held rows are indexed.
CREATE INDEX notifications_lease_owner_idx ON notifications (lease_owner)
  WHERE lease_owner IS NOT NULL;

-- Invariant 4 of DESIGN.md: at most one notification per (tenant, key), ever.
CREATE UNIQUE INDEX notifications_idempotency_idx
  ON notifications (tenant_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE delivery_attempts (
  id              bigserial   PRIMARY KEY,
  notification_id uuid        NOT NULL
                  REFERENCES notifications (id) ON DELETE CASCADE,
  number          integer     NOT NULL CHECK (number >= 1),
  at              timestamptz NOT NULL,
  node            text        NOT NULL,
  provider        text,
  outcome         text        NOT NULL CHECK (outcome IN ('delivered', 'failed')),
  http_status     integer,
  error           text,
  duration_us     bigint      NOT NULL DEFAULT 0
);

CREATE INDEX delivery_attempts_notification_idx
  ON delivery_attempts (notification_id, number);

CREATE TABLE dead_letters (
  notification_id uuid        PRIMARY KEY REFERENCES notifications (id),
  tenant_id       text        NOT NULL REFERENCES tenants (id),
  channel         text        NOT NULL
                  CHECK (channel IN ('email', 'sms', 'push', 'webhook')),
  provider        text,
  reason          text        NOT NULL,
  last_error      text,
  attempts        integer     NOT NULL DEFAULT 0,
  dead_at         timestamptz NOT NULL DEFAULT now(),
  state           text        NOT NULL DEFAULT 'parked'
                  CHECK (state IN ('parked', 'retried', 'discarded')),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- GET /v1/dlq: a tenant's dead letters, newest first.
CREATE INDEX dead_letters_tenant_idx
  ON dead_letters (tenant_id, notification_id DESC);
