-- Templates (issue 18): versioned, per tenant, addressed by code. A version
-- is never changed once published; a notification stores what it rendered
-- (notifications.rendered) and the version it pinned, so publishing or
-- archiving never touches notifications already accepted.
CREATE TABLE template_heads (
  tenant_id   text        NOT NULL REFERENCES tenants (id),
  code        text        NOT NULL,
  latest      integer     NOT NULL,
  archived_at timestamptz,
  PRIMARY KEY (tenant_id, code)
);

CREATE TABLE template_versions (
  tenant_id      text        NOT NULL,
  code           text        NOT NULL,
  version        integer     NOT NULL,
  default_locale text        NOT NULL,
  locales        jsonb       NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, code, version),
  FOREIGN KEY (tenant_id, code) REFERENCES template_heads (tenant_id, code)
);

ALTER TABLE notifications
  ADD COLUMN IF NOT EXISTS template_code    text,
  ADD COLUMN IF NOT EXISTS template_version integer,
  ADD COLUMN IF NOT EXISTS rendered         jsonb;
