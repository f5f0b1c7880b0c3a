-- Recipients (issue 18): per tenant, a profile with addresses, locale, time
-- zone, per-channel opt-outs and push devices. A notification may target a
-- recipient instead of an address; one that cannot be sent (opted out, no
-- address for the channel) is stored as 'skipped', a terminal status, with
-- the reason in last_error.
CREATE TABLE recipients (
  tenant_id   text        NOT NULL REFERENCES tenants (id),
  id          text        NOT NULL,
  email       text,
  phone       text,
  locale      text,
  timezone    text,
  opt_out     text[]      NOT NULL DEFAULT '{}',
  devices     jsonb       NOT NULL DEFAULT '[]',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

ALTER TABLE notifications ADD COLUMN IF NOT EXISTS recipient_id text;

ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
  CHECK (status IN ('accepted', 'queued', 'sending', 'retry_scheduled',
                    'delivered', 'failed', 'dead_lettered', 'cancelled',
                    'discarded', 'skipped'));
