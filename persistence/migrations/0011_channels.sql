-- Channels (issue 17): the provider's id of a delivered message (Twilio's
-- SID, FCM's message name, the SMTP Message-ID), kept on the attempt and on
-- the notification, so a delivery receipt finds its notification; receipts
-- move a delivered notification to 'bounced' (the address bounced or
-- complained) or 'failed' (the provider could not deliver it after all).
-- Tenants get an email From and Reply-To of their own.
ALTER TABLE delivery_attempts ADD COLUMN IF NOT EXISTS provider_message_id text;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS provider_message_id text;

-- Receipts look notifications up by the provider's message id. Partial:
-- webhooks have none, so their deliveries never touch this index.
CREATE INDEX IF NOT EXISTS notifications_provider_message_idx
  ON notifications (provider_message_id) WHERE provider_message_id IS NOT NULL;

ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
  CHECK (status IN ('accepted', 'queued', 'sending', 'retry_scheduled',
                    'delivered', 'failed', 'dead_lettered', 'cancelled',
                    'discarded', 'skipped', 'bounced'));

ALTER TABLE tenants ADD COLUMN IF NOT EXISTS email_from text;
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS email_reply_to text;
