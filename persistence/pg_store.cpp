#include "persistence/pg_store.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>

#include <libpq-fe.h>
#include <pqxx/largeobject>
#include <pqxx/pqxx>

#include "core/ids.hpp"
#include "core/json_text.hpp"
#include "core/time.hpp"
#include "persistence/copy_binary.hpp"
#include "persistence/migrations.hpp"

namespace herald {

// Epoch milliseconds of a timestamptz. floor() so that a time is never
// reported later than it was.
#define HERALD_MS(x) "floor(extract(epoch from " x ") * 1000)::bigint"

std::string insert_keys_statement(const std::string& table) {
  return "WITH now_ms AS (SELECT " HERALD_MS("now()") " AS ms),"
         " ins AS ("
         "  INSERT INTO " + table + " (tenant_id, key, request_hash,"
         "                             notification_id, created_at)"
         "  SELECT x.tenant_id, x.key, nullif(x.hash, ''), x.id::uuid,"
         "         timestamptz 'epoch'"
         "           + (CASE WHEN x.ms = 0 THEN now_ms.ms ELSE x.ms END)"
         "             * interval '1 millisecond'"
         "    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
         "                $5::bigint[]) AS x(tenant_id, key, hash, id, ms),"
         "         now_ms"
         ") SELECT ms FROM now_ms";
}

namespace {

// -- SQL ----------------------------------------------------------------------

// Column list read by row_to_notification; the table is always aliased `n`.
const std::string k_notification_columns =
  "n.id::text, n.tenant_id, n.channel, n.to_addr, coalesce(n.subject, ''), "
  "n.body, coalesce(n.data::text, ''), n.priority, "
  "coalesce(" HERALD_MS("n.send_at") ", 0), coalesce(n.provider, ''), "
  "n.status, n.attempts, coalesce(n.last_error, ''), " HERALD_MS("n.created_at")
  ", " HERALD_MS("n.updated_at") ", coalesce(n.idempotency_key, ''), "
  "coalesce(n.idempotency_hash, ''), coalesce(" HERALD_MS("n.next_attempt_at")
  ", 0)";

// How many columns k_notification_columns has: statements that read more
// after them start there.
constexpr pqxx::row::size_type k_notification_column_count = 18;

// Column list read by row_to_tenant; the table is always aliased `t`.
const std::string k_tenant_columns =
  "t.id, t.name, t.rate_per_sec, t.burst, t.channels, t.webhook_secret, "
  HERALD_MS("t.created_at") ", " HERALD_MS("t.updated_at")
  ", t.idempotency_retention_hours";

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

// Key of the session advisory lock that serializes migrations across nodes.
// Any fixed number works; this one is "herald" in ASCII.
constexpr int64_t k_migrate_lock_key = 0x686572616c64;

const std::string k_bootstrap_migrations =
  "CREATE TABLE IF NOT EXISTS schema_migrations ("
  " version integer PRIMARY KEY, name text NOT NULL,"
  " applied_at timestamptz NOT NULL DEFAULT now())";

const std::string k_applied_versions = "SELECT version FROM schema_migrations";

const std::string k_record_migration =
  "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

// The database clock decides leases (claims compare with its now()), so
// rows streamed by COPY get their lease deadline from it as well.
const std::string k_db_now_ms = "SELECT " HERALD_MS("now()");

const std::string k_get_notification =
  "SELECT " + k_notification_columns
  + " FROM notifications n WHERE n.id = $2::uuid AND n.tenant_id = $1";

// No cursor ('') means "below the max UUID", which no id is: the cursor then
// stays an index condition on (tenant_id, id DESC) even in a generic plan,
// so deep pages cost no more than the first.
const std::string k_list_notifications =
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
const std::string k_list_attempts =
  "SELECT a.id IS NOT NULL, a.number, " HERALD_MS("a.at")
  ", a.node, coalesce(a.provider, ''), a.outcome, coalesce(a.http_status, 0),"
  " coalesce(a.error, ''), a.duration_us"
  " FROM notifications n"
  " LEFT JOIN delivery_attempts a ON a.notification_id = n.id"
  " WHERE n.id = $2::uuid AND n.tenant_id = $1"
  " ORDER BY a.number, a.id";

// MATERIALIZED: the locked set must be computed exactly once; an inlined
// LIMIT ... SKIP LOCKED subquery may be re-evaluated by some plans.
// Due within the horizon ($5 ms). With reclaim_own ($3) the lease bound
// becomes +infinity (every row passes the index) and the filter keeps
// expired leases and the owner's own; without it both tests are the same
// index condition. A retry_scheduled row not due yet keeps its status: the
// claiming node holds it on a timer. Other rows become 'queued'.
const std::string k_claim =
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
  + ", n.fence, t.webhook_secret, n.attempts - n.attempts_base"
    " FROM c AS n JOIN tenants t ON t.id = n.tenant_id ORDER BY n.id";

// Rows are locked in id order, as lock_outcome_rows does: two statements
// locking the same rows in different orders can deadlock.
const std::string k_renew_leases =
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
const std::string k_release_leases =
  "UPDATE notifications"
  "   SET status = CASE WHEN status = 'queued' THEN 'accepted' ELSE status END,"
  "       status_reason = CASE WHEN status = 'queued'"
  "                            THEN 'released by ' || $1::text"
  "                            ELSE status_reason END,"
  "       lease_owner = NULL, lease_until = NULL, updated_at = now()"
  " WHERE lease_owner = $1 AND status IN ('queued', 'retry_scheduled')";

// Locks the notifications of a batch in id order before their attempts are
// numbered: two reporters for one row (a stale and a current holder) then
// serialize instead of both reading the same max(number). A separate
// statement, so the next one's snapshot sees what the lock waited for.
const std::string k_lock_outcome_rows =
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
const std::string k_record_outcomes =
  "WITH o AS ("
  "  SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[],"
  "                       $5::integer[], $6::text[], $7::text[], $8::text[],"
  "                       $9::bigint[], $10::bigint[], $11::text[],"
  "                       $12::bigint[], $13::integer[], $14::text[],"
  "                       $15::text[])"
  "    WITH ORDINALITY AS o(id, tenant_id, fence, outcome, http_status, error,"
  "                         node, provider, started_ms, duration_us, status,"
  "                         next_attempt_ms, keep_lease, reason, attempt_key,"
  "                         seq)"
  "), known AS ("
  "  SELECT o.*, n.fence AS current_fence, n.status AS current_status"
  "    FROM o JOIN notifications n ON n.id = o.id AND n.tenant_id = o.tenant_id"
  "), ins AS ("
  "  INSERT INTO delivery_attempts (notification_id, number, at, node,"
  "                                 provider, outcome, http_status, error,"
  "                                 duration_us, attempt_key)"
  "  SELECT k.id,"
  "         coalesce((SELECT max(d.number) FROM delivery_attempts d"
  "                    WHERE d.notification_id = k.id), 0)"
  "           + row_number() OVER (PARTITION BY k.id ORDER BY k.seq),"
  "         CASE WHEN k.started_ms > 0"
  "              THEN 'epoch'::timestamptz + k.started_ms * interval '1 millisecond'"
  "              ELSE now() END,"
  "         k.node, nullif(k.provider, ''), k.outcome, nullif(k.http_status, 0),"
  "         nullif(k.error, ''), k.duration_us, nullif(k.attempt_key, '')"
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

// -- dead letters and cancel --

// Column list read by row_to_dead_letter after k_notification_columns; the
// table is always aliased `d`.
const std::string k_dead_letter_columns =
  "coalesce(d.provider, ''), d.reason, coalesce(d.last_error, ''),"
  " d.attempts, " HERALD_MS("d.dead_at") ", d.state, " HERALD_MS("d.updated_at");

const std::string k_dead_letter_from =
  " FROM dead_letters d JOIN notifications n ON n.id = d.notification_id";

// Cursor as in k_list_notifications; dead_letters_tenant_idx serves it.
const std::string k_list_dead_letters =
  "SELECT " + k_notification_columns + ", " + k_dead_letter_columns
  + k_dead_letter_from
  + " WHERE d.tenant_id = $1"
    "   AND ($2::text = '' OR d.state = $2::text)"
    "   AND ($3::text = '' OR d.channel = $3::text)"
    "   AND ($4::text = '' OR d.provider = $4::text)"
    "   AND d.notification_id < coalesce(nullif($5::text, '')::uuid,"
    "                       'ffffffff-ffff-ffff-ffff-ffffffffffff')"
    " ORDER BY d.notification_id DESC LIMIT $6";

const std::string k_get_dead_letter =
  "SELECT " + k_notification_columns + ", " + k_dead_letter_columns
  + k_dead_letter_from
  + " WHERE d.tenant_id = $1 AND d.notification_id = $2::uuid";

const std::string k_list_events =
  "SELECT " HERALD_MS("e.at") ", coalesce(e.from_status, ''), e.to_status,"
  " coalesce(e.reason, '')"
  " FROM notification_events e"
  " WHERE e.notification_id = $2::uuid AND e.tenant_id = $1 ORDER BY e.id";

// The lock statements of pg_store::change_state: the notification columns,
// then the state that decides. FOR UPDATE on a join locks both rows.
const std::string k_lock_dead_letter =
  "SELECT " + k_notification_columns + ", d.state" + k_dead_letter_from
  + " WHERE d.tenant_id = $1 AND d.notification_id = $2::uuid FOR UPDATE";

const std::string k_lock_notification =
  "SELECT " + k_notification_columns + ", n.status FROM notifications n"
  " WHERE n.tenant_id = $1 AND n.id = $2::uuid FOR UPDATE";

// Back to work with a fresh budget (DLQ retry and replay): unleased, a new
// fence (nothing reported under the old one applies), attempts so far no
// longer count against the budget. A notification row is aliased `n`.
#define HERALD_REQUEUE                                                         \
  "status = 'accepted', lease_owner = NULL, lease_until = NULL,"              \
  " attempts_base = n.attempts, fence = n.fence + 1, updated_at = now()"

// The update statements of pg_store::change_state: $1 id, $2 reason. A
// data-modifying CTE runs whether or not it is referenced.
const std::string k_retry_dead_letter =
  "WITH d AS (UPDATE dead_letters SET state = 'retried', updated_at = now()"
  "            WHERE notification_id = $1::uuid)"
  " UPDATE notifications n SET " HERALD_REQUEUE ", next_attempt_at = NULL,"
  "        status_reason = nullif($2::text, '')"
  "  WHERE n.id = $1::uuid RETURNING " + k_notification_columns;

const std::string k_discard_dead_letter =
  "WITH d AS (UPDATE dead_letters SET state = 'discarded', updated_at = now()"
  "            WHERE notification_id = $1::uuid)"
  " UPDATE notifications n SET status = 'discarded',"
  "        status_reason = nullif($2::text, ''), updated_at = now()"
  "  WHERE n.id = $1::uuid RETURNING " + k_notification_columns;

const std::string k_cancel_notification =
  "UPDATE notifications n SET status = 'cancelled', lease_owner = NULL,"
  "       lease_until = NULL, next_attempt_at = NULL, fence = n.fence + 1,"
  "       status_reason = nullif($2::text, ''), updated_at = now()"
  " WHERE n.id = $1::uuid RETURNING " + k_notification_columns;

// One statement: lock the matching parked dead letters (oldest dead_at
// first, dead_letters_replay_idx), rank them, requeue each with the k-th
// (0-based) due at now + k / rate s. Window functions cannot share a SELECT
// with FOR UPDATE, hence the separate ranking step.
const std::string k_replay_dead_letters =
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

// xmax = 0 only for a row version created by this INSERT (not by the
// ON CONFLICT update), which tells "created" from "updated".
const std::string k_put_tenant =
  "INSERT INTO tenants AS t (id, name, rate_per_sec, burst, channels,"
  "                          webhook_secret, idempotency_retention_hours)"
  " VALUES ($1, $2, $3, $4, $5::text[], $6, $7)"
  " ON CONFLICT (id) DO UPDATE"
  "   SET name = excluded.name, rate_per_sec = excluded.rate_per_sec,"
  "       burst = excluded.burst, channels = excluded.channels,"
  "       idempotency_retention_hours = excluded.idempotency_retention_hours,"
  "       updated_at = now()"
  " RETURNING " + k_tenant_columns + ", (t.xmax = 0)";

const std::string k_get_tenant =
  "SELECT " + k_tenant_columns + " FROM tenants t WHERE t.id = $1";

const std::string k_create_key =
  "INSERT INTO api_keys (key_id, tenant_id, key_hash)"
  " SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2)";

const std::string k_revoke_key =
  "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
  " WHERE key_id = $1 AND tenant_id = $2";

const std::string k_lookup_key =
  "SELECT k.key_id, k.key_hash, k.revoked_at IS NOT NULL, " + k_tenant_columns
  + " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
    " WHERE k.key_id = $1";

const std::string k_count_by_status =
  "SELECT status, count(*) FROM notifications GROUP BY status ORDER BY status";

const std::string k_ping = "SELECT 1";

// -- idempotency keys --

// When a key `k` (joined with its tenant `t`) stops being retained. The
// contract is "at least 24 h": a tenant's 0 (node default) or any smaller
// value means 24 h. Keep the 24 in step with HERALD_IDEM_MIN_AGE.
#define HERALD_IDEM_EXPIRES                                                    \
  "(k.created_at + greatest(24, t.idempotency_retention_hours)"               \
  " * interval '1 hour')"
// Implied by an expired key whatever its tenant's retention; lets the purge
// range-scan idempotency_keys_created_idx.
#define HERALD_IDEM_MIN_AGE "k.created_at <= now() - interval '24 hours'"

// The primary key that enforces invariant 4 (0007_idempotency_keys_table.sql):
// a violation of it, and only of it, is a conflict_error.
constexpr std::string_view k_idempotency_index = "idempotency_keys_pkey";

const std::string k_lookup_idempotency =
  "SELECT coalesce(k.request_hash, ''), k.notification_id::text, "
  HERALD_MS(HERALD_IDEM_EXPIRES)
  " FROM idempotency_keys k JOIN tenants t ON t.id = k.tenant_id"
  " WHERE k.tenant_id = $1 AND k.key = $2"
  "   AND " HERALD_IDEM_EXPIRES " > now()";

// The keys of a batch, written in the transaction of its COPY, answering
// what db_now_ms answers (one round trip for both); see
// insert_keys_statement.
const std::string k_insert_keys = insert_keys_statement("idempotency_keys");

// Before a batch takes its keys: an expired key that the purge has not
// reached yet must not refuse its reuse. Parallel arrays (tenant, key).
const std::string k_release_expired_keys =
  "DELETE FROM idempotency_keys k"
  " USING unnest($1::text[], $2::text[]) AS x(tenant_id, key), tenants t"
  " WHERE k.tenant_id = x.tenant_id AND k.key = x.key"
  "   AND t.id = k.tenant_id AND " HERALD_IDEM_EXPIRES " <= now()";

// One short transaction per call: at most $1 keys, none that another
// transaction holds (SKIP LOCKED), so the purge never waits on or blocks
// ingestion for long. MATERIALIZED as in k_claim.
const std::string k_purge_idempotency =
  "WITH picked AS MATERIALIZED ("
  "  SELECT k.tenant_id, k.key"
  "    FROM idempotency_keys k JOIN tenants t ON t.id = k.tenant_id"
  "   WHERE " HERALD_IDEM_MIN_AGE
  "     AND " HERALD_IDEM_EXPIRES " <= now()"
  "   LIMIT $1 FOR UPDATE OF k SKIP LOCKED"
  ") DELETE FROM idempotency_keys d"
  "    USING picked WHERE d.tenant_id = picked.tenant_id"
  "                   AND d.key = picked.key";

#undef HERALD_IDEM_MIN_AGE
#undef HERALD_IDEM_EXPIRES

#undef HERALD_KEEPS_LEASE
#undef HERALD_CLAIM_WAITS
#undef HERALD_CLAIM_LEASE
#undef HERALD_CLAIM_DUE
#undef HERALD_OPEN_STATUSES
#undef HERALD_MS

// Prepared on every new connection; names are what exec_prepared takes.
const std::pair<const char*, const std::string*> k_prepared[] = {
  {"db_now_ms", &k_db_now_ms},
  {"get_notification", &k_get_notification},
  {"list_notifications", &k_list_notifications},
  {"list_attempts", &k_list_attempts},
  {"claim", &k_claim},
  {"renew_leases", &k_renew_leases},
  {"release_leases", &k_release_leases},
  {"lock_outcome_rows", &k_lock_outcome_rows},
  {"record_outcomes", &k_record_outcomes},
  {"list_dead_letters", &k_list_dead_letters},
  {"get_dead_letter", &k_get_dead_letter},
  {"list_events", &k_list_events},
  {"lock_dead_letter", &k_lock_dead_letter},
  {"lock_notification", &k_lock_notification},
  {"retry_dead_letter", &k_retry_dead_letter},
  {"discard_dead_letter", &k_discard_dead_letter},
  {"cancel_notification", &k_cancel_notification},
  {"replay_dead_letters", &k_replay_dead_letters},
  {"put_tenant", &k_put_tenant},
  {"get_tenant", &k_get_tenant},
  {"create_key", &k_create_key},
  {"revoke_key", &k_revoke_key},
  {"lookup_key", &k_lookup_key},
  {"count_by_status", &k_count_by_status},
  {"ping", &k_ping},
  {"lookup_idempotency", &k_lookup_idempotency},
  {"insert_keys", &k_insert_keys},
  {"release_expired_keys", &k_release_expired_keys},
  {"purge_idempotency", &k_purge_idempotency},
  {"applied_versions", &k_applied_versions},
  {"record_migration", &k_record_migration},
};

const std::vector<std::string> k_copy_columns{
  "id",         "tenant_id",  "channel",         "to_addr",
  "subject",    "body",       "data",            "priority",
  "send_at",    "provider",   "status",          "attempts",
  "created_at", "updated_at", "idempotency_key", "idempotency_hash",
  "lease_owner", "lease_until", "fence"};

// -- helpers ------------------------------------------------------------------

constexpr int32_t k_max_page = 200;

bool is_connectivity_state(const std::string& state) {
  // Class 08: connection exceptions; 57P01..03: admin / crash shutdown and
  // "cannot connect now" (starting up, recovering).
  return state.compare(0, 2, "08") == 0 || state == "57P01"
         || state == "57P02" || state == "57P03";
}

// Runs `f`; turns every sign of a lost or unreachable server into
// db_unavailable_error and drops the connection, so the next call starts
// from a fresh one (prepared statements and session state included).
// Other errors keep the connection: the failed transaction was rolled back.
template <class F>
auto guarded(std::unique_ptr<pqxx::connection>& conn, const char* what, F&& f)
  -> decltype(f()) {
  auto unavailable = [&](const std::exception& e) {
    conn.reset();
    return db_unavailable_error(std::string{what} + ": " + e.what());
  };
  try {
    return f();
  } catch (const pqxx::broken_connection& e) {
    throw unavailable(e);
  } catch (const pqxx::in_doubt_error& e) {
    // The commit may or may not have happened; the caller has to treat it
    // like an outage (and retry idempotently).
    throw unavailable(e);
  } catch (const pqxx::statement_completion_unknown& e) {
    throw unavailable(e);
  } catch (const pqxx::sql_error& e) {
    if (is_connectivity_state(e.sqlstate()))
      throw unavailable(e);
    throw;
  }
}

// libpqxx 6 cannot send containers as parameters: build the array literal.
std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

template <class T>
std::string number_array(const std::vector<T>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(xs[i]);
  }
  out += '}';
  return out;
}

std::vector<std::string> parse_text_array(const pqxx::field& f) {
  std::vector<std::string> out;
  if (f.is_null())
    return out;
  auto parser = f.as_array();
  for (auto step = parser.get_next(); step.first != pqxx::array_parser::done;
       step = parser.get_next())
    if (step.first == pqxx::array_parser::string_value)
      out.push_back(std::move(step.second));
  return out;
}

notification row_to_notification(const pqxx::row& r) {
  notification n;
  n.id = r[0].as<std::string>();
  n.tenant_id = r[1].as<std::string>();
  n.channel = r[2].as<std::string>();
  n.to = r[3].as<std::string>();
  n.subject = r[4].as<std::string>();
  n.body = r[5].as<std::string>();
  n.data = r[6].as<std::string>();
  n.priority = r[7].as<std::string>();
  n.send_at_ms = r[8].as<int64_t>();
  n.provider = r[9].as<std::string>();
  n.status = r[10].as<std::string>();
  n.attempts = r[11].as<int32_t>();
  n.last_error = r[12].as<std::string>();
  n.created_at_ms = r[13].as<int64_t>();
  n.updated_at_ms = r[14].as<int64_t>();
  n.idempotency_key = r[15].as<std::string>();
  n.idempotency_hash = r[16].as<std::string>();
  n.next_attempt_at_ms = r[17].as<int64_t>();
  return n;
}

// Reads k_notification_columns followed by k_dead_letter_columns.
dead_letter row_to_dead_letter(const pqxx::row& r) {
  dead_letter d;
  d.n = row_to_notification(r);
  const auto at = k_notification_column_count;
  d.provider = r[at].as<std::string>();
  d.reason = r[at + 1].as<std::string>();
  d.last_error = r[at + 2].as<std::string>();
  d.attempts = r[at + 3].as<int32_t>();
  d.dead_at_ms = r[at + 4].as<int64_t>();
  d.state = r[at + 5].as<std::string>();
  d.updated_at_ms = r[at + 6].as<int64_t>();
  return d;
}

// A listing page from rows fetched with LIMIT limit + 1: an extra row only
// tells that another page exists, which then starts after the last item.
template <class Page, class Convert, class IdOf>
Page page_of(const pqxx::result& r, int32_t limit, Convert convert,
             IdOf id_of) {
  Page page;
  for (const auto& row : r) {
    if (page.items.size() == static_cast<size_t>(limit)) {
      page.next_cursor = id_of(page.items.back());
      break;
    }
    page.items.push_back(convert(row));
  }
  return page;
}

bool is_parked(const std::string& state) {
  return state == "parked";
}

bool is_open_status(const std::string& status) {
  return status == "accepted" || status == "queued" || status == "sending"
         || status == "retry_scheduled";
}

// Reads the k_tenant_columns starting at column `at`.
tenant row_to_tenant(const pqxx::row& r, pqxx::row::size_type at = 0) {
  tenant t;
  t.id = r[at].as<std::string>();
  t.name = r[at + 1].as<std::string>();
  t.rate_per_sec = r[at + 2].as<int32_t>();
  t.burst = r[at + 3].as<int32_t>();
  t.channels = parse_text_array(r[at + 4]);
  t.webhook_secret = r[at + 5].as<std::string>();
  t.created_at_ms = r[at + 6].as<int64_t>();
  t.updated_at_ms = r[at + 7].as<int64_t>();
  t.idempotency_retention_hours = r[at + 8].as<int32_t>();
  return t;
}

// libpqxx 6 streams COPY only as text, escaping every field through a tuple
// of strings: a third of the node's CPU in a batch, and the server then
// parses timestamps, UUIDs and integers back from text. The binary format
// (persistence/copy_binary.hpp) skips both; it needs libpq's connection,
// which libpqxx 6 hands out only to large-object classes.
struct raw_connection_of : pqxx::largeobject {
  static PGconn* get(const pqxx::dbtransaction& tx) {
    return raw_connection(tx);
  }
};

// Throws what libpqxx would have thrown for the failed `res` (a
// pqxx::sql_error with its SQLSTATE, or pqxx::broken_connection), so callers
// and guarded() treat the COPY like any other statement. Without a result
// (sending the data or its end failed) the connection may still be in the
// middle of the COPY: it counts as broken, so guarded() drops it.
[[noreturn]] void throw_copy_error(PGconn* conn, PGresult* res,
                                   const std::string& query) {
  std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  if (msg.empty())
    msg = "COPY into notifications failed";
  if (res == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    if (res)
      PQclear(res);
    throw pqxx::broken_connection(msg);
  }
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string sqlstate = state ? state : "";
  PQclear(res);
  throw pqxx::sql_error(msg, query, sqlstate.empty() ? nullptr : sqlstate.c_str());
}

// Streams `xs` into notifications with a binary COPY inside `tx` (see
// pg_store::insert_notifications for the lease rules); `now_ms` is the
// database's now() of `tx`. On any error the server has aborted `tx`; it
// must not be committed.
void copy_notifications(pqxx::work& tx, const std::vector<notification>& xs,
                        const lease_spec& lease, int64_t due_by_ms,
                        int64_t now_ms) {
  const bool owner = !lease.owner.empty();
  PGconn* conn = raw_connection_of::get(tx);
  static const std::string query = [] {
    std::string q = "COPY notifications (";
    for (size_t i = 0; i < k_copy_columns.size(); ++i)
      q += (i > 0 ? ", " : "") + k_copy_columns[i];
    return q + ") FROM STDIN (FORMAT binary)";
  }();
  PGresult* res = PQexec(conn, query.c_str());
  if (PQresultStatus(res) != PGRES_COPY_IN)
    throw_copy_error(conn, res, query);
  PQclear(res);
  auto put = [&](const std::string& bytes) {
    if (PQputCopyData(conn, bytes.data(), static_cast<int>(bytes.size())) != 1)
      throw_copy_error(conn, nullptr, query);
  };
  // An id that is no UUID would be refused by the server as well; ending the
  // COPY with an error message aborts it the same way.
  const char* refusal = nullptr;
  copy_binary w;
  auto text_or_null = [&w](const std::string& v) {
    if (v.empty())
      w.null();
    else
      w.text(v);
  };
  for (const auto& x : xs) {
    w.row(static_cast<int16_t>(k_copy_columns.size()));
    if (!w.uuid(x.id)) {
      refusal = "invalid notification id (not a UUID)";
      break;
    }
    w.text(x.tenant_id);
    w.text(x.channel);
    w.text(x.to);
    text_or_null(x.subject);
    w.text(x.body);
    if (x.data.empty())
      w.null();
    else
      w.jsonb(x.data);
    w.text(x.priority.empty() ? std::string_view{"normal"} : x.priority);
    if (x.send_at_ms != 0)
      w.timestamptz_ms(x.send_at_ms);
    else
      w.null();
    text_or_null(x.provider);
    const bool leased = owner && due_by(x, due_by_ms);
    w.text(leased ? std::string_view{"queued"} : std::string_view{"accepted"});
    w.int4(0); // attempts
    w.timestamptz_ms(x.created_at_ms != 0 ? x.created_at_ms : now_ms);
    w.timestamptz_ms(now_ms); // updated_at
    text_or_null(x.idempotency_key);
    // A hash without its key would mean nothing (and the schema refuses it).
    if (x.idempotency_key.empty())
      w.null();
    else
      text_or_null(x.idempotency_hash);
    if (leased) {
      w.text(lease.owner);
      w.timestamptz_ms(now_ms + lease.ttl_ms);
    } else {
      w.null();
      w.null();
    }
    w.int8(leased ? 1 : 0); // fence
    // Pieces of ~256 KiB keep the buffer small for large batches.
    if (w.size() >= 256 * 1024)
      put(w.take());
  }
  if (refusal == nullptr) {
    w.finish();
    put(w.take());
  }
  if (PQputCopyEnd(conn, refusal) != 1)
    throw_copy_error(conn, nullptr, query);
  PGresult* failed = nullptr;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && failed == nullptr)
      failed = r;
    else
      PQclear(r);
  }
  if (failed != nullptr)
    throw_copy_error(conn, failed, query);
}

// Bounds connection attempts to an unreachable host (libpq waits forever by
// default), unless the URL already says otherwise.
std::string with_connect_timeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos)
    return url;
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0)
    return url + (url.find('?') == std::string::npos ? "?" : "&")
           + "connect_timeout=5";
  return url + " connect_timeout=5";
}

// Releases the migration lock however migrate() ends. If the connection is
// gone the server has released the session lock already.
struct migrate_lock_guard {
  pqxx::connection& c;
  ~migrate_lock_guard() {
    try {
      pqxx::nontransaction tx{c};
      tx.exec("SELECT pg_advisory_unlock(" + std::to_string(k_migrate_lock_key)
              + ")");
    } catch (...) {
      // Nothing to do: see above.
    }
  }
};

} // namespace

pg_store::pg_store(std::string url) : url_(with_connect_timeout(url)) {
  // Connecting lazily lets a node start (and report not-ready) while the
  // database is down.
}

pg_store::~pg_store() = default;

pqxx::connection& pg_store::conn() {
  if (conn_ && conn_->is_open())
    return *conn_;
  conn_.reset();
  auto c = std::make_unique<pqxx::connection>(url_);
  for (auto& [name, sql] : k_prepared)
    c->prepare(name, *sql);
  conn_ = std::move(c);
  return *conn_;
}

void pg_store::migrate() {
  guarded(conn_, "migrate", [&] {
    auto& c = conn();
    {
      pqxx::nontransaction tx{c};
      // IF NOT EXISTS would print a NOTICE on every start otherwise.
      tx.exec("SET client_min_messages = warning");
      tx.exec("SELECT pg_advisory_lock(" + std::to_string(k_migrate_lock_key)
              + ")");
    }
    migrate_lock_guard unlock{c};
    std::vector<int> applied;
    {
      pqxx::work tx{c};
      tx.exec(k_bootstrap_migrations);
      for (const auto& row : tx.exec_prepared("applied_versions"))
        applied.push_back(row[0].as<int>());
      tx.commit();
    }
    for (const auto& m : migrations()) {
      if (std::find(applied.begin(), applied.end(), m.version) != applied.end())
        continue;
      pqxx::work tx{c};
      tx.exec(m.sql);
      tx.exec_prepared("record_migration", m.version, std::string{m.name});
      tx.commit();
    }
  });
}

bool pg_store::ping() {
  try {
    return guarded(conn_, "ping", [&] {
      pqxx::nontransaction tx{conn()};
      tx.exec_prepared("ping");
      return true;
    });
  } catch (const std::exception&) {
    return false;
  }
}

// -- notifications ------------------------------------------------------------

void pg_store::insert_notifications(const std::vector<notification>& xs,
                                    const lease_spec& lease,
                                    int64_t due_by_ms) {
  if (xs.empty())
    return;
  // The keys of the batch as parallel arrays for insert_keys.
  std::vector<std::string> key_tenants, keys, hashes, key_ids, key_created;
  for (const auto& x : xs)
    if (!x.idempotency_key.empty()) {
      key_tenants.push_back(x.tenant_id);
      keys.push_back(x.idempotency_key);
      hashes.push_back(x.idempotency_hash);
      key_ids.push_back(x.id);
      key_created.push_back(std::to_string(x.created_at_ms));
    }
  // A refusal by the primary key of idempotency_keys; other unique
  // violations (a duplicate id) are not about idempotency keys and stay
  // errors.
  auto key_taken = [](const pqxx::sql_error& e) {
    return e.sqlstate() == "23505"
           && std::string_view{e.what()}.find(k_idempotency_index)
                != std::string_view::npos;
  };
  // Keys first: a taken key aborts the transaction before any row is sent.
  // The first statement also opens the transaction on the server, before
  // the COPY goes around libpqxx.
  auto write = [&](pqxx::work& tx) {
    auto r = keys.empty()
               ? tx.exec_prepared("db_now_ms")
               : tx.exec_prepared("insert_keys", text_array(key_tenants),
                                  text_array(keys), text_array(hashes),
                                  text_array(key_ids), text_array(key_created));
    copy_notifications(tx, xs, lease, due_by_ms, r[0][0].as<int64_t>());
    tx.commit();
  };
  guarded(conn_, "insert_notifications", [&] {
    // Keys are new in the common case: the rows go in at once. Only when
    // the primary key refuses one are keys past their retention released
    // (their notifications keep the record of the key) and the batch tried
    // again, so the release costs nothing on the hot path.
    try {
      pqxx::work tx{conn()};
      write(tx);
      return;
    } catch (const pqxx::sql_error& e) {
      // The transaction is gone, nothing of the batch was written.
      if (!key_taken(e))
        throw;
    }
    try {
      pqxx::work tx{conn()};
      auto released = tx.exec_prepared("release_expired_keys",
                                       text_array(key_tenants), text_array(keys));
      if (released.affected_rows() == 0)
        throw conflict_error("idempotency key already taken");
      write(tx);
    } catch (const pqxx::sql_error& e) {
      // The message names the key: not repeated here.
      if (key_taken(e))
        throw conflict_error("idempotency key already taken");
      throw;
    }
  });
}

std::optional<notification>
pg_store::get_notification(const std::string& tenant_id,
                           const std::string& id) {
  if (!is_uuid(id))
    return std::nullopt;
  return guarded(conn_, "get_notification", [&]() -> std::optional<notification> {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("get_notification", tenant_id, id);
    if (r.empty())
      return std::nullopt;
    return row_to_notification(r[0]);
  });
}

notification_page pg_store::list_notifications(const notification_query& q) {
  // A cursor we never handed out cannot continue a listing.
  if (!q.cursor.empty() && !is_uuid(q.cursor))
    return {};
  const int32_t limit = std::max(1, std::min(q.limit, k_max_page));
  return guarded(conn_, "list_notifications", [&] {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("list_notifications", q.tenant_id, q.status,
                              q.channel, q.cursor, limit + 1);
    return page_of<notification_page>(r, limit, row_to_notification,
                                      [](const notification& n) { return n.id; });
  });
}

std::optional<std::vector<attempt>>
pg_store::list_attempts(const std::string& tenant_id, const std::string& id) {
  if (!is_uuid(id))
    return std::nullopt;
  using result_type = std::optional<std::vector<attempt>>;
  return guarded(conn_, "list_attempts", [&]() -> result_type {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("list_attempts", tenant_id, id);
    if (r.empty())
      return std::nullopt;
    std::vector<attempt> out;
    for (const auto& row : r) {
      if (!row[0].as<bool>())
        continue; // the notification exists but has no attempts yet
      attempt a;
      a.notification_id = id;
      a.number = row[1].as<int32_t>();
      a.at_ms = row[2].as<int64_t>();
      a.node = row[3].as<std::string>();
      a.provider = row[4].as<std::string>();
      a.outcome = row[5].as<std::string>();
      a.http_status = row[6].as<int32_t>();
      a.error = row[7].as<std::string>();
      a.duration_us = row[8].as<int64_t>();
      out.push_back(std::move(a));
    }
    return out;
  });
}

std::vector<delivery_job> pg_store::claim(const lease_spec& lease, int limit,
                                          bool reclaim_own) {
  if (lease.owner.empty())
    throw std::invalid_argument("pg_store::claim: lease owner is empty");
  if (limit <= 0)
    return {};
  return guarded(conn_, "claim", [&] {
    pqxx::work tx{conn()};
    auto r = tx.exec_prepared("claim", lease.owner, lease.ttl_ms, reclaim_own,
                              limit, std::max<int64_t>(0, lease.horizon_ms));
    tx.commit();
    std::vector<delivery_job> jobs;
    jobs.reserve(r.size());
    constexpr auto at = k_notification_column_count;
    for (const auto& row : r) {
      delivery_job job;
      job.n = row_to_notification(row);
      job.fence = row[at].as<int64_t>();
      job.signing_secret = row[at + 1].as<std::string>();
      job.budget_used = row[at + 2].as<int32_t>();
      jobs.push_back(std::move(job));
    }
    return jobs;
  });
}

int64_t pg_store::renew_leases(const lease_spec& lease) {
  if (lease.owner.empty())
    return 0;
  return guarded(conn_, "renew_leases", [&] {
    pqxx::work tx{conn()};
    auto r = tx.exec_prepared("renew_leases", lease.owner, lease.ttl_ms);
    tx.commit();
    return static_cast<int64_t>(r.affected_rows());
  });
}

int64_t pg_store::release_leases(const lease_spec& lease) {
  if (lease.owner.empty())
    return 0;
  return guarded(conn_, "release_leases", [&] {
    pqxx::work tx{conn()};
    auto r = tx.exec_prepared("release_leases", lease.owner);
    tx.commit();
    return static_cast<int64_t>(r.affected_rows());
  });
}

int64_t pg_store::record_outcomes(const std::vector<delivery_outcome>& xs) {
  // Ids that are not UUIDs name no notification: they cannot be recorded,
  // and must not fail the rest of the batch with a cast error.
  std::vector<std::string> ids, tenants, outcomes, errors, nodes, providers,
    statuses, reasons, attempt_keys;
  std::vector<int64_t> fences, started, durations, next_attempts;
  std::vector<int32_t> http_statuses, keep_leases;
  for (const auto& x : xs) {
    if (x.outcome != "delivered" && x.outcome != "failed"
        && x.outcome != "deferred")
      throw std::invalid_argument("pg_store::record_outcomes: bad outcome '"
                                  + x.outcome + "'");
    if (x.status != "delivered" && x.status != "retry_scheduled"
        && x.status != "dead_lettered")
      throw std::invalid_argument("pg_store::record_outcomes: bad status '"
                                  + x.status + "'");
    if (!is_uuid(x.id))
      continue;
    ids.push_back(x.id);
    tenants.push_back(x.tenant_id);
    fences.push_back(x.fence);
    outcomes.push_back(x.outcome);
    http_statuses.push_back(x.http_status);
    errors.push_back(x.error);
    nodes.push_back(x.node);
    providers.push_back(x.provider);
    started.push_back(x.started_at_ms);
    durations.push_back(x.duration_us);
    statuses.push_back(x.status);
    next_attempts.push_back(x.next_attempt_ms);
    keep_leases.push_back(x.keep_lease ? 1 : 0);
    reasons.push_back(x.reason);
    attempt_keys.push_back(x.attempt_key);
  }
  const auto total = static_cast<int64_t>(xs.size());
  if (ids.empty())
    return total;
  return guarded(conn_, "record_outcomes", [&] {
    pqxx::work tx{conn()};
    const auto id_array = text_array(ids);
    tx.exec_prepared("lock_outcome_rows", id_array);
    auto r = tx.exec_prepared(
      "record_outcomes", id_array, text_array(tenants), number_array(fences),
      text_array(outcomes), number_array(http_statuses), text_array(errors),
      text_array(nodes), text_array(providers), number_array(started),
      number_array(durations), text_array(statuses),
      number_array(next_attempts), number_array(keep_leases),
      text_array(reasons), text_array(attempt_keys));
    tx.commit();
    return total - r[0][0].as<int64_t>();
  });
}

// -- tenants and keys ---------------------------------------------------------

tenant_put_result pg_store::put_tenant(const tenant& x) {
  return guarded(conn_, "put_tenant", [&] {
    pqxx::work tx{conn()};
    auto r = tx.exec_prepared("put_tenant", x.id, x.name, x.rate_per_sec,
                              x.burst, text_array(x.channels),
                              x.webhook_secret, x.idempotency_retention_hours);
    tx.commit();
    tenant_put_result out;
    out.value = row_to_tenant(r[0]);
    out.created = r[0][9].as<bool>();
    return out;
  });
}

std::optional<tenant> pg_store::get_tenant(const std::string& id) {
  return guarded(conn_, "get_tenant", [&]() -> std::optional<tenant> {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("get_tenant", id);
    if (r.empty())
      return std::nullopt;
    return row_to_tenant(r[0]);
  });
}

bool pg_store::create_key(const std::string& tenant_id,
                          const std::string& key_id,
                          const std::string& key_hash) {
  return guarded(conn_, "create_key", [&] {
    try {
      pqxx::work tx{conn()};
      auto r = tx.exec_prepared("create_key", key_id, tenant_id, key_hash);
      tx.commit();
      return r.affected_rows() == 1;
    } catch (const pqxx::foreign_key_violation&) {
      return false; // the tenant was deleted between the check and the insert
    }
  });
}

bool pg_store::revoke_key(const std::string& tenant_id,
                          const std::string& key_id) {
  return guarded(conn_, "revoke_key", [&] {
    pqxx::work tx{conn()};
    auto r = tx.exec_prepared("revoke_key", key_id, tenant_id);
    tx.commit();
    return r.affected_rows() == 1;
  });
}

std::optional<key_record> pg_store::lookup_key(const std::string& key_id) {
  return guarded(conn_, "lookup_key", [&]() -> std::optional<key_record> {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("lookup_key", key_id);
    if (r.empty())
      return std::nullopt;
    key_record k;
    k.key_id = r[0][0].as<std::string>();
    k.key_hash = r[0][1].as<std::string>();
    k.revoked = r[0][2].as<bool>();
    k.owner = row_to_tenant(r[0], 3);
    return k;
  });
}

std::vector<std::pair<std::string, int64_t>> pg_store::count_by_status() {
  return guarded(conn_, "count_by_status", [&] {
    pqxx::read_transaction tx{conn()};
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& row : tx.exec_prepared("count_by_status"))
      out.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
    return out;
  });
}

// -- idempotency keys ---------------------------------------------------------

std::optional<idem_record>
pg_store::lookup_idempotency(const std::string& tenant_id,
                             const std::string& key) {
  if (key.empty())
    return std::nullopt; // "" is how a row says "no key"
  using result_type = std::optional<idem_record>;
  return guarded(conn_, "lookup_idempotency", [&]() -> result_type {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("lookup_idempotency", tenant_id, key);
    if (r.empty())
      return std::nullopt;
    idem_record rec;
    rec.request_hash = r[0][0].as<std::string>();
    rec.notification_id = r[0][1].as<std::string>();
    rec.expires_at_ms = r[0][2].as<int64_t>();
    return rec;
  });
}

int64_t pg_store::purge_idempotency(int batch, int max_batches) {
  if (batch <= 0)
    return 0;
  int64_t total = 0;
  for (int i = 0; max_batches <= 0 || i < max_batches; ++i) {
    auto n = guarded(conn_, "purge_idempotency", [&] {
      pqxx::work tx{conn()};
      auto r = tx.exec_prepared("purge_idempotency", batch);
      tx.commit();
      return static_cast<int64_t>(r.affected_rows());
    });
    total += n;
    if (n < batch)
      break;
  }
  return total;
}

} // namespace herald

// -- dead letters and cancel --------------------------------------------------

namespace herald {

dlq_page pg_store::list_dead_letters(const dlq_query& q) {
  if (!q.cursor.empty() && !is_uuid(q.cursor))
    return {};
  const int32_t limit = std::max(1, std::min(q.limit, k_max_page));
  return guarded(conn_, "list_dead_letters", [&] {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("list_dead_letters", q.tenant_id, q.state,
                              q.channel, q.provider, q.cursor, limit + 1);
    return page_of<dlq_page>(r, limit, row_to_dead_letter,
                             [](const dead_letter& d) { return d.n.id; });
  });
}

std::optional<dead_letter> pg_store::get_dead_letter(const std::string& tenant_id,
                                                     const std::string& id) {
  if (!is_uuid(id))
    return std::nullopt;
  return guarded(conn_, "get_dead_letter", [&]() -> std::optional<dead_letter> {
    pqxx::read_transaction tx{conn()};
    auto r = tx.exec_prepared("get_dead_letter", tenant_id, id);
    if (r.empty())
      return std::nullopt;
    auto d = row_to_dead_letter(r[0]);
    for (const auto& row : tx.exec_prepared("list_events", tenant_id, id))
      d.events.push_back(status_event{row[0].as<int64_t>(),
                                      row[1].as<std::string>(),
                                      row[2].as<std::string>(),
                                      row[3].as<std::string>()});
    return d;
  });
}

change_result pg_store::retry_dead_letter(const std::string& tenant_id,
                                          const std::string& id,
                                          const std::string& reason,
                                          notification& out) {
  return change_state("retry_dead_letter", "lock_dead_letter", is_parked,
                      tenant_id, id, reason, out);
}

change_result pg_store::discard_dead_letter(const std::string& tenant_id,
                                            const std::string& id,
                                            const std::string& reason,
                                            notification& out) {
  return change_state("discard_dead_letter", "lock_dead_letter", is_parked,
                      tenant_id, id, reason, out);
}

change_result pg_store::cancel_notification(const std::string& tenant_id,
                                            const std::string& id,
                                            const std::string& reason,
                                            notification& out) {
  return change_state("cancel_notification", "lock_notification",
                      is_open_status, tenant_id, id, reason, out);
}

change_result pg_store::change_state(const char* update, const char* lock,
                                     bool (*allowed)(const std::string&),
                                     const std::string& tenant_id,
                                     const std::string& id,
                                     const std::string& reason,
                                     notification& out) {
  if (!is_uuid(id))
    return change_result::not_found;
  return guarded(conn_, update, [&] {
    pqxx::work tx{conn()};
    auto locked = tx.exec_prepared(lock, tenant_id, id);
    if (locked.empty())
      return change_result::not_found;
    out = row_to_notification(locked[0]);
    if (!allowed(locked[0][k_notification_column_count].as<std::string>()))
      return change_result::conflict; // nothing written: the tx rolls back
    out = row_to_notification(tx.exec_prepared1(update, id, reason));
    tx.commit();
    return change_result::done;
  });
}

replay_result pg_store::replay_dead_letters(const replay_request& r) {
  const int32_t limit = std::max(1, std::min(r.limit, 100000));
  const int32_t rate = std::max(1, std::min(r.rate_per_sec, 100000));
  return guarded(conn_, "replay_dead_letters", [&] {
    pqxx::work tx{conn()};
    auto row = tx.exec_prepared1("replay_dead_letters", r.tenant_id, r.channel,
                                 r.provider, r.from_ms, r.to_ms, limit, rate,
                                 r.reason);
    tx.commit();
    replay_result out;
    out.count = row[0].as<int64_t>();
    out.first_due_ms = row[1].as<int64_t>();
    out.last_due_ms = row[2].as<int64_t>();
    return out;
  });
}

} // namespace herald
