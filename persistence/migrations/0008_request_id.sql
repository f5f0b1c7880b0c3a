-- The correlation id of the request that submitted a notification (its
-- X-Request-Id, or one the node generated): carried into the delivery
-- attempts' log lines and the webhook's X-Request-Id header, on whichever
-- node delivers it. Nullable without a default: adding it rewrites nothing.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS request_id text;
