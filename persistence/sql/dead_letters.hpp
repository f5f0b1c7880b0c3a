#pragma once

// Statements of dead_letter_store: listing, reading, retrying, discarding
// and replaying dead letters.

#include <string>

#include "persistence/sql/common.hpp"

namespace herald::sql {

// Column list read by row_to_dead_letter after k_notification_columns; the
// table is always aliased `d`.
inline const std::string k_dead_letter_columns =
  "coalesce(d.provider, ''), d.reason, coalesce(d.last_error, ''),"
  " d.attempts, " HERALD_MS("d.dead_at") ", d.state, " HERALD_MS("d.updated_at");

inline const std::string k_dead_letter_from =
  " FROM dead_letters d JOIN notifications n ON n.id = d.notification_id";

// Cursor as in k_list_notifications; dead_letters_tenant_idx serves it.
inline const std::string k_list_dead_letters =
  "SELECT " + k_notification_columns + ", " + k_dead_letter_columns
  + k_dead_letter_from
  + " WHERE d.tenant_id = $1"
    "   AND ($2::text = '' OR d.state = $2::text)"
    "   AND ($3::text = '' OR d.channel = $3::text)"
    "   AND ($4::text = '' OR d.provider = $4::text)"
    "   AND d.notification_id < coalesce(nullif($5::text, '')::uuid,"
    "                       'ffffffff-ffff-ffff-ffff-ffffffffffff')"
    " ORDER BY d.notification_id DESC LIMIT $6";

// The admin view (GET /admin/dlq without a tenant): every tenant's, newest
// first, by the primary key.
inline const std::string k_list_all_dead_letters =
  "SELECT " + k_notification_columns + ", " + k_dead_letter_columns
  + k_dead_letter_from
  + " WHERE ($1::text = '' OR d.state = $1::text)"
    "   AND ($2::text = '' OR d.channel = $2::text)"
    "   AND ($3::text = '' OR d.provider = $3::text)"
    "   AND d.notification_id < coalesce(nullif($4::text, '')::uuid,"
    "                       'ffffffff-ffff-ffff-ffff-ffffffffffff')"
    " ORDER BY d.notification_id DESC LIMIT $5";

inline const std::string k_get_dead_letter =
  "SELECT " + k_notification_columns + ", " + k_dead_letter_columns
  + k_dead_letter_from
  + " WHERE d.tenant_id = $1 AND d.notification_id = $2::uuid";

inline const std::string k_list_events =
  "SELECT " HERALD_MS("e.at") ", coalesce(e.from_status, ''), e.to_status,"
  " coalesce(e.reason, '')"
  " FROM notification_events e"
  " WHERE e.notification_id = $2::uuid AND e.tenant_id = $1 ORDER BY e.id";

// The lock statement of retry and discard for pg_store::change_state: the
// notification columns, then the state that decides. FOR UPDATE on a join
// locks both rows.
inline const std::string k_lock_dead_letter =
  "SELECT " + k_notification_columns + ", d.state" + k_dead_letter_from
  + " WHERE d.tenant_id = $1 AND d.notification_id = $2::uuid FOR UPDATE";

// Back to work with a fresh budget (DLQ retry and replay): unleased, a new
// fence (nothing reported under the old one applies), attempts so far no
// longer count against the budget. A notification row is aliased `n`.
#define HERALD_REQUEUE                                                         \
  "status = 'accepted', lease_owner = NULL, lease_until = NULL,"              \
  " attempts_base = n.attempts, fence = n.fence + 1, updated_at = now()"

// The update statements of pg_store::change_state: $1 id, $2 reason. A
// data-modifying CTE runs whether or not it is referenced.
inline const std::string k_retry_dead_letter =
  "WITH d AS (UPDATE dead_letters SET state = 'retried', updated_at = now()"
  "            WHERE notification_id = $1::uuid)"
  " UPDATE notifications n SET " HERALD_REQUEUE ", next_attempt_at = NULL,"
  "        status_reason = nullif($2::text, '')"
  "  WHERE n.id = $1::uuid RETURNING " + k_notification_columns;

inline const std::string k_discard_dead_letter =
  "WITH d AS (UPDATE dead_letters SET state = 'discarded', updated_at = now()"
  "            WHERE notification_id = $1::uuid)"
  " UPDATE notifications n SET status = 'discarded',"
  "        status_reason = nullif($2::text, ''), updated_at = now()"
  "  WHERE n.id = $1::uuid RETURNING " + k_notification_columns;

// One statement: lock the matching parked dead letters (oldest dead_at
// first, dead_letters_replay_idx), rank them, requeue each with the k-th
// (0-based) due at now + k / rate s. Window functions cannot share a SELECT
// with FOR UPDATE, hence the separate ranking step.
inline const std::string k_replay_dead_letters =
  "WITH picked AS MATERIALIZED ("
  "  SELECT d.notification_id AS id, d.dead_at FROM dead_letters d"
  "   WHERE d.tenant_id = $1 AND d.state = 'parked'"
  "     AND ($2::text = '' OR d.channel = $2::text)"
  "     AND ($3::text = '' OR d.provider = $3::text)"
  "     AND d.dead_at >= CASE WHEN $4::bigint = 0 THEN '-infinity'::timestamptz"
  "                           ELSE 'epoch'::timestamptz"
  "                                + $4::bigint * interval '1 millisecond' END"
  "     AND d.dead_at < CASE WHEN $5::bigint = 0 THEN 'infinity'::timestamptz"
  "                          ELSE 'epoch'::timestamptz"
  "                               + $5::bigint * interval '1 millisecond' END"
  "   ORDER BY d.dead_at, d.notification_id LIMIT $6 FOR UPDATE"
  "), ranked AS ("
  "  SELECT id, row_number() OVER (ORDER BY dead_at, id) - 1 AS k FROM picked"
  "), d AS ("
  "  UPDATE dead_letters d SET state = 'retried', updated_at = now()"
  "    FROM ranked r WHERE d.notification_id = r.id"
  "), u AS ("
  "  UPDATE notifications n SET " HERALD_REQUEUE ","
  "         next_attempt_at = now() + (r.k::double precision / $7::integer)"
  "                                   * interval '1 second',"
  "         status_reason = nullif($8::text, '')"
  "    FROM ranked r WHERE n.id = r.id"
  "  RETURNING n.next_attempt_at"
  ") SELECT count(*), coalesce(" HERALD_MS("min(u.next_attempt_at)") ", 0),"
  "         coalesce(" HERALD_MS("max(u.next_attempt_at)") ", 0) FROM u";

#undef HERALD_REQUEUE

} // namespace herald::sql
