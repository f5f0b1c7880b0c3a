#pragma once

// Statements of notification_store: reading notifications and their
// attempts, cancel, counters. New rows go in by COPY (k_copy_columns) with
// their keys (persistence/sql/idempotency.hpp).

#include <string>
#include <vector>

#include "persistence/sql/common.hpp"

namespace herald::sql {

inline const std::string k_get_notification =
  "SELECT " + k_notification_columns
  + " FROM notifications n WHERE n.id = $2::uuid AND n.tenant_id = $1";

// No cursor ('') means "below the max UUID", which no id is: the cursor then
// stays an index condition on (tenant_id, id DESC) even in a generic plan,
// so deep pages cost no more than the first.
inline const std::string k_list_notifications =
  "SELECT " + k_notification_columns
  + " FROM notifications n"
    " WHERE n.tenant_id = $1"
    "   AND ($2::text = '' OR n.status = $2::text)"
    "   AND ($3::text = '' OR n.channel = $3::text)"
    "   AND n.id < coalesce(nullif($4::text, '')::uuid,"
    "                       'ffffffff-ffff-ffff-ffff-ffffffffffff')"
    " ORDER BY n.id DESC LIMIT $5";

// One round trip: whether the notification exists (first column) and its
// attempts (LEFT JOIN), so "no such notification" differs from "no attempts".
inline const std::string k_list_attempts =
  "SELECT a.id IS NOT NULL, a.number, " HERALD_MS("a.at")
  ", a.node, coalesce(a.provider, ''), a.outcome, coalesce(a.http_status, 0),"
  " coalesce(a.error, ''), a.duration_us"
  " FROM notifications n"
  " LEFT JOIN delivery_attempts a ON a.notification_id = n.id"
  " WHERE n.id = $2::uuid AND n.tenant_id = $1"
  " ORDER BY a.number, a.id";

// The statements of cancel for pg_store::change_state, as in
// persistence/sql/dead_letters.hpp: the lock answers the notification
// columns, then the status that decides; the update takes $1 id, $2 reason.
inline const std::string k_lock_notification =
  "SELECT " + k_notification_columns + ", n.status FROM notifications n"
  " WHERE n.tenant_id = $1 AND n.id = $2::uuid FOR UPDATE";

inline const std::string k_cancel_notification =
  "UPDATE notifications n SET status = 'cancelled', lease_owner = NULL,"
  "       lease_until = NULL, next_attempt_at = NULL, fence = n.fence + 1,"
  "       status_reason = nullif($2::text, ''), updated_at = now()"
  " WHERE n.id = $1::uuid RETURNING " + k_notification_columns;

inline const std::string k_count_by_status =
  "SELECT status, count(*) FROM notifications GROUP BY status ORDER BY status";

// copy_notifications writes each row's fields in this order.
inline const std::vector<std::string> k_copy_columns{
  "id",         "tenant_id",  "channel",         "to_addr",
  "subject",    "body",       "data",            "priority",
  "send_at",    "provider",   "status",          "attempts",
  "created_at", "updated_at", "idempotency_key", "idempotency_hash",
  "lease_owner", "lease_until", "fence", "request_id", "template_code",
  "template_version", "rendered", "recipient_id", "last_error"};

} // namespace herald::sql
