#pragma once

// SQL shared by the statements of several aggregates. Included only by
// persistence's .cpp files (and bench/): HERALD_MS stays defined for them.

#include <string>

namespace herald::sql {

// Epoch milliseconds of a timestamptz. floor() so that a time is never
// reported later than it was.
#define HERALD_MS(x) "floor(extract(epoch from " x ") * 1000)::bigint"

// Column list read by row_to_notification; the table is always aliased `n`.
inline const std::string k_notification_columns =
  "n.id::text, n.tenant_id, n.channel, n.to_addr, coalesce(n.subject, ''), "
  "n.body, coalesce(n.data::text, ''), n.priority, "
  "coalesce(" HERALD_MS("n.send_at") ", 0), coalesce(n.provider, ''), "
  "n.status, n.attempts, coalesce(n.last_error, ''), " HERALD_MS("n.created_at")
  ", " HERALD_MS("n.updated_at") ", coalesce(n.idempotency_key, ''), "
  "coalesce(n.idempotency_hash, ''), coalesce(" HERALD_MS("n.next_attempt_at")
  ", 0), coalesce(n.request_id, ''), coalesce(n.template_code, ''),"
  " coalesce(n.template_version, 0), coalesce(n.rendered::text, ''),"
  " coalesce(n.recipient_id, ''), coalesce(n.provider_message_id, '')";

// How many columns k_notification_columns has: statements that read more
// after them start there. (unsigned int is libpqxx 6's pqxx::row::size_type.)
inline constexpr unsigned int k_notification_column_count = 24;

} // namespace herald::sql
