#pragma once

// Statements of delivery_store: leases (claim, renew, release) and outcomes.

#include <string>

#include "persistence/sql/common.hpp"

namespace herald::sql {

// The non-terminal statuses, spelled exactly as in the predicate of
// notifications_claim_idx (0004_reliability.sql) so the planner matches it.
#define HERALD_OPEN_STATUSES "('accepted', 'queued', 'sending', 'retry_scheduled')"

// The key expressions of notifications_claim_idx (0004_reliability.sql):
// when a row is due (the later of send_at and next_attempt_at; -infinity =
// now) and until when it is leased (-infinity = free). Compared with a value
// they become index conditions, so leased and not-due rows are skipped
// inside the index.
#define HERALD_CLAIM_DUE                                                       \
  "coalesce(greatest(send_at, next_attempt_at), '-infinity'::timestamptz)"
#define HERALD_CLAIM_LEASE "coalesce(lease_until, '-infinity'::timestamptz)"
// A claimed row `u` (old values) that keeps its status: a retry not due yet.
#define HERALD_CLAIM_WAITS                                                     \
  "(u.status = 'retry_scheduled' AND u.next_attempt_at > now())"
// An outcome `w` that leaves the lease with its holder: only a retry that
// waits in that node's retry scheduler.
#define HERALD_KEEPS_LEASE "(w.keep_lease <> 0 AND w.status = 'retry_scheduled')"

// MATERIALIZED: the locked set must be computed exactly once; an inlined
// LIMIT ... SKIP LOCKED subquery may be re-evaluated by some plans.
// Due within the horizon ($5 ms). With reclaim_own ($3) the lease bound
// becomes +infinity (every row passes the index) and the filter keeps
// expired leases and the owner's own; without it both tests are the same
// index condition. A retry_scheduled row not due yet keeps its status: the
// claiming node holds it on a timer. Other rows become 'queued'.
inline const std::string k_claim =
  "WITH picked AS MATERIALIZED ("
  "  SELECT id FROM notifications"
  "   WHERE status IN " HERALD_OPEN_STATUSES
  "     AND " HERALD_CLAIM_DUE " <= now() + $5::bigint * interval '1 millisecond'"
  "     AND " HERALD_CLAIM_LEASE
  "           <= CASE WHEN $3::boolean THEN 'infinity'::timestamptz ELSE now() END"
  "     AND (" HERALD_CLAIM_LEASE " <= now()"
  "          OR ($3::boolean AND lease_owner = $1::text))"
  "   ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED"
  "), c AS ("
  "  UPDATE notifications u"
  "     SET status = CASE WHEN " HERALD_CLAIM_WAITS " THEN u.status"
  "                       ELSE 'queued' END,"
  "         status_reason = CASE WHEN " HERALD_CLAIM_WAITS
  "                                OR u.status = 'queued'"
  "                              THEN u.status_reason"
  "                              ELSE 'claimed by ' || $1::text END,"
  "         lease_owner = $1::text,"
  "         lease_until = now() + $2::bigint * interval '1 millisecond',"
  "         fence = u.fence + 1, updated_at = now()"
  "    FROM picked WHERE u.id = picked.id"
  "  RETURNING u.*"
  ") SELECT " + k_notification_columns
  + ", n.fence, t.webhook_secret, n.attempts - n.attempts_base,"
    " coalesce(t.email_from, ''), coalesce(t.email_reply_to, '')"
    " FROM c AS n JOIN tenants t ON t.id = n.tenant_id ORDER BY n.id";

// Rows are locked in id order, as lock_outcome_rows does: two statements
// locking the same rows in different orders can deadlock.
inline const std::string k_renew_leases =
  "UPDATE notifications u"
  "   SET lease_until = now() + $2::bigint * interval '1 millisecond'"
  "  FROM (SELECT id FROM notifications"
  "         WHERE lease_owner = $1 AND status IN " HERALD_OPEN_STATUSES
  "         ORDER BY id FOR UPDATE) AS held"
  " WHERE u.id = held.id";

// Only 'queued' and 'retry_scheduled' rows: a row in 'sending' is on the
// wire right now and its outcome will still come back to this node. A
// retry_scheduled row keeps its status and next_attempt_at, so whoever
// claims it next waits for the same time.
inline const std::string k_release_leases =
  "UPDATE notifications"
  "   SET status = CASE WHEN status = 'queued' THEN 'accepted' ELSE status END,"
  "       status_reason = CASE WHEN status = 'queued'"
  "                            THEN 'released by ' || $1::text"
  "                            ELSE status_reason END,"
  "       lease_owner = NULL, lease_until = NULL, updated_at = now()"
  " WHERE lease_owner = $1 AND status IN ('queued', 'retry_scheduled')";

// A node that is down (membership says so) loses every open row it held,
// 'sending' ones too (their outcome will never come back): freed for any
// sweeper, fence bumped so that the node, should it wake up, cannot record
// an outcome. A retry_scheduled row keeps its status and next_attempt_at.
inline const std::string k_take_over_leases =
  "UPDATE notifications"
  "   SET status = CASE WHEN status IN ('queued', 'sending') THEN 'accepted'"
  "                     ELSE status END,"
  "       status_reason = CASE WHEN status IN ('queued', 'sending')"
  "                            THEN 'taken over from ' || $1::text"
  "                            ELSE status_reason END,"
  "       lease_owner = NULL, lease_until = NULL, fence = fence + 1,"
  "       updated_at = now()"
  " WHERE lease_owner = $1 AND status IN " HERALD_OPEN_STATUSES;

// Locks the notifications of a batch in id order before their attempts are
// numbered: two reporters for one row (a stale and a current holder) then
// serialize instead of both reading the same max(number). A separate
// statement, so the next one's snapshot sees what the lock waited for.
inline const std::string k_lock_outcome_rows =
  "SELECT 1 FROM notifications WHERE id = ANY($1::uuid[])"
  " ORDER BY id FOR UPDATE";

// Set-based, one statement: the whole batch arrives as parallel arrays.
// Every outcome of a known (id, tenant) that made a call (not 'deferred')
// gets an attempt row. A row changes only through outcomes whose fence still
// matches while it is held (queued, sending, retry_scheduled); they all
// count (attempts + the calls among them), the last one decides the rest
// (last_error: the last non-empty error among them).
// A dead-lettered row also gets its dead letter (parked again after a DLQ
// retry). The transition trigger logs status changes with status_reason.
// Returns how many outcomes applied.
inline const std::string k_record_outcomes =
  "WITH o AS ("
  "  SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[],"
  "                       $5::integer[], $6::text[], $7::text[], $8::text[],"
  "                       $9::bigint[], $10::bigint[], $11::text[],"
  "                       $12::bigint[], $13::integer[], $14::text[],"
  "                       $15::text[], $16::text[])"
  "    WITH ORDINALITY AS o(id, tenant_id, fence, outcome, http_status, error,"
  "                         node, provider, started_ms, duration_us, status,"
  "                         next_attempt_ms, keep_lease, reason, attempt_key,"
  "                         message_id, seq)"
  "), known AS ("
  "  SELECT o.*, n.fence AS current_fence, n.status AS current_status"
  "    FROM o JOIN notifications n ON n.id = o.id AND n.tenant_id = o.tenant_id"
  "), ins AS ("
  "  INSERT INTO delivery_attempts (notification_id, number, at, node,"
  "                                 provider, outcome, http_status, error,"
  "                                 duration_us, attempt_key,"
  "                                 provider_message_id)"
  "  SELECT k.id,"
  "         coalesce((SELECT max(d.number) FROM delivery_attempts d"
  "                    WHERE d.notification_id = k.id), 0)"
  "           + row_number() OVER (PARTITION BY k.id ORDER BY k.seq),"
  "         CASE WHEN k.started_ms > 0"
  "              THEN 'epoch'::timestamptz + k.started_ms * interval '1 millisecond'"
  "              ELSE now() END,"
  "         k.node, nullif(k.provider, ''), k.outcome, nullif(k.http_status, 0),"
  "         nullif(k.error, ''), k.duration_us, nullif(k.attempt_key, ''),"
  "         nullif(k.message_id, '')"
  "    FROM known k WHERE k.outcome <> 'deferred'"
  "  ON CONFLICT (attempt_key) WHERE attempt_key IS NOT NULL DO NOTHING"
  "  RETURNING attempt_key"
  "), matched AS ("
  "  SELECT k.*, count(*) OVER (PARTITION BY k.id) AS applied,"
  "         count(*) FILTER (WHERE k.outcome <> 'deferred')"
  "           OVER (PARTITION BY k.id) AS calls,"
  "         first_value(nullif(k.error, '')) OVER ("
  "           PARTITION BY k.id ORDER BY k.error = '', k.seq DESC) AS last_error"
  "    FROM known k"
  "   WHERE k.fence = k.current_fence"
  "     AND k.current_status IN ('queued', 'sending', 'retry_scheduled')"
  // A call recorded before (a batch sent again) counts once.
  "     AND (k.outcome = 'deferred' OR k.attempt_key = ''"
  "          OR k.attempt_key IN (SELECT i.attempt_key FROM ins i))"
  "), winners AS ("
  "  SELECT DISTINCT ON (m.id) m.* FROM matched m ORDER BY m.id, m.seq DESC"
  "), upd AS ("
  "  UPDATE notifications n"
  "     SET status = w.status, attempts = n.attempts + w.calls,"
  "         last_error = coalesce(w.last_error, n.last_error),"
  "         next_attempt_at = CASE WHEN w.status <> 'retry_scheduled' THEN NULL"
  "                                WHEN w.next_attempt_ms > 0"
  "                                THEN 'epoch'::timestamptz"
  "                                     + w.next_attempt_ms * interval '1 millisecond'"
  "                                ELSE now() END,"
  "         delivered_at = CASE WHEN w.status = 'delivered' THEN now()"
  "                             ELSE n.delivered_at END,"
  "         provider_message_id = CASE WHEN w.status = 'delivered'"
  "                                    THEN nullif(w.message_id, '')"
  "                                    ELSE n.provider_message_id END,"
  "         status_reason = nullif(w.reason, ''),"
  "         lease_owner = CASE WHEN " HERALD_KEEPS_LEASE " THEN n.lease_owner END,"
  "         lease_until = CASE WHEN " HERALD_KEEPS_LEASE " THEN n.lease_until END,"
  "         updated_at = now()"
  "    FROM winners w"
  "   WHERE n.id = w.id AND n.fence = w.fence"
  "  RETURNING n.id, n.tenant_id, n.channel, n.status, n.attempts,"
  "            n.last_error, w.provider, w.reason, w.applied"
  "), dead AS ("
  "  INSERT INTO dead_letters AS d (notification_id, tenant_id, channel,"
  "                                 provider, reason, last_error, attempts)"
  "  SELECT u.id, u.tenant_id, u.channel, nullif(u.provider, ''),"
  "         coalesce(nullif(u.reason, ''), 'dead lettered'), u.last_error,"
  "         u.attempts"
  "    FROM upd u WHERE u.status = 'dead_lettered'"
  "  ON CONFLICT (notification_id) DO UPDATE"
  "     SET state = 'parked', provider = excluded.provider,"
  "         reason = excluded.reason, last_error = excluded.last_error,"
  "         attempts = excluded.attempts, dead_at = now(), updated_at = now()"
  ") SELECT coalesce(sum(u.applied), 0)::bigint FROM upd u";

// A push address the provider reported gone (FCM UNREGISTERED, Web Push
// 404/410): the device is removed from every recipient of the tenant that
// holds it (an FCM token, or a Web Push subscription with that endpoint).
// $1 tenant, $2 the notification's address.
inline const std::string k_remove_dead_device =
  "UPDATE recipients r"
  "   SET devices = coalesce((SELECT jsonb_agg(d ORDER BY i)"
  "                             FROM jsonb_array_elements(r.devices)"
  "                                  WITH ORDINALITY AS x(d, i)"
  // coalesce: a device without a token (or subscription) yields NULL
  // there, which must count as "not this one", not drop the device.
  "                            WHERE NOT coalesce(d->>'token' = $2, false)"
  "                              AND NOT coalesce($3 <> ''"
  "                                  AND d->'subscription'->>'endpoint' = $3,"
  "                                  false)), '[]'::jsonb),"
  "       updated_at = now()"
  " WHERE r.tenant_id = $1"
  "   AND (r.devices @> jsonb_build_array(jsonb_build_object('token', $2::text))"
  "        OR ($3::text <> '' AND r.devices @> jsonb_build_array("
  "              jsonb_build_object('subscription',"
  "                jsonb_build_object('endpoint', $3::text)))))";

// A delivery receipt: $1 provider, $2 its message ids, $3 new status, $4
// reason. Only a delivered row, and only one this provider delivered.
inline const std::string k_apply_receipt =
  "UPDATE notifications n"
  "   SET status = $3, status_reason = $4, last_error = $4, updated_at = now()"
  " WHERE n.provider_message_id = ANY($2::text[])"
  "   AND n.status = 'delivered'"
  "   AND EXISTS (SELECT 1 FROM delivery_attempts a"
  "                WHERE a.notification_id = n.id AND a.provider = $1"
  "                  AND a.outcome = 'delivered'"
  "                  AND a.provider_message_id = n.provider_message_id)"
  " RETURNING n.id::text";

#undef HERALD_KEEPS_LEASE
#undef HERALD_CLAIM_WAITS
#undef HERALD_CLAIM_LEASE
#undef HERALD_CLAIM_DUE
#undef HERALD_OPEN_STATUSES

} // namespace herald::sql
