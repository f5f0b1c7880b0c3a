#pragma once

// Herald's PostgreSQL access: plain blocking code, no CAF. Each instance owns
// one connection and is used by exactly one thread at a time (a detached store
// worker actor). Connectivity problems throw `db_unavailable_error` and leave
// the instance reconnecting on its next call; every write is one transaction,
// so a failure never leaves half a record behind.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/messages.hpp"

// libpqxx 6 spells pqxx::connection as an alias of a class template, so a
// plain `class connection;` conflicts with <pqxx/connection>.
namespace pqxx {
class connect_direct;
template <typename CONNECTPOLICY>
class basic_connection_base;
using connection = basic_connection_base<connect_direct>;
} // namespace pqxx

namespace herald {

/// The database cannot be reached (connection refused, lost, shutting down).
struct db_unavailable_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A unique constraint refused a row (an idempotency key already taken).
/// The whole transaction was rolled back.
struct conflict_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Lease settings for inserts and claims.
/// insert_notifications' default bound: every row counts as due.
inline constexpr int64_t k_due_always = INT64_MAX;

struct lease_spec {
  std::string owner;     // node name; "" = insert unleased ('accepted')
  int64_t ttl_ms = 60000;
  /// Claims also take rows due within this horizon (send_at or
  /// next_attempt_at up to now + horizon): the claiming node holds them on
  /// timers in its retry scheduler instead of the sweeper polling for them.
  int64_t horizon_ms = 0;
};

/// Result of a state change asked for by a user (cancel, DLQ retry/discard).
enum class change_result : uint8_t {
  done,      // changed; the notification is returned as it is now
  not_found, // no such notification (or dead letter) for this tenant
  conflict,  // its current state does not allow the change
};

/// Statuses that are not terminal (work still to do).
/// accepted: durable, held by nobody; queued: held by a node (leased).
class pg_store {
public:
  explicit pg_store(std::string url);
  ~pg_store();

  pg_store(const pg_store&) = delete;
  pg_store& operator=(const pg_store&) = delete;

  /// Applies missing migrations (persistence/migrations.hpp) in one
  /// transaction per migration under a session advisory lock, so several
  /// nodes may start at once. Records versions in schema_migrations.
  void migrate();

  /// True if a trivial query succeeds (reconnecting if needed).
  bool ping();

  // -- notifications ----------------------------------------------------------

  /// Inserts all rows in ONE transaction with a binary COPY, and the keys of
  /// keyed rows into idempotency_keys in the same transaction (before the
  /// COPY). Throws conflict_error if an idempotency key is already taken, by
  /// an earlier batch or twice within this one (nothing of the batch is
  /// written then; the caller retries rows alone to find the offender). A
  /// key whose retention has expired is taken over even if not yet purged.
  /// The rows keep idempotency_key/hash as the record of what the request
  /// carried (a hash only together with a key); idempotency_keys is what
  /// guards them. With a lease owner the rows due by `due_by_ms` (due_by in
  /// core/messages.hpp) are stored as status 'queued', leased to that
  /// owner until now + ttl with fence 1; the others, and all rows without an
  /// owner, as 'accepted' with no lease and fence 0. Returns once committed
  /// (synchronous_commit on). The caller has filled id, tenant_id, channel,
  /// to, subject, body, data, priority, send_at_ms, provider, created_at_ms,
  /// idempotency_key/hash.
  void insert_notifications(const std::vector<notification>& xs,
                            const lease_spec& lease,
                            int64_t due_by_ms = k_due_always);

  /// One notification of a tenant, or nullopt (also for other tenants' ids
  /// and for ids that are not UUIDs).
  std::optional<notification> get_notification(const std::string& tenant_id,
                                                const std::string& id);

  /// Newest first (ORDER BY id DESC: ids are time-ordered); `cursor` is the
  /// id of the last item already seen; limit is clamped to 1..200.
  notification_page list_notifications(const notification_query& q);

  /// Attempts of one notification of a tenant, oldest first; nullopt when
  /// the notification does not exist for this tenant.
  std::optional<std::vector<attempt>>
  list_attempts(const std::string& tenant_id, const std::string& id);

  /// Claims up to `limit` non-terminal notifications due within
  /// lease.horizon_ms (send_at and next_attempt_at both NULL or <= now +
  /// horizon) whose lease is free or expired (or, with `reclaim_own`, held
  /// by `lease.owner`: a node restarting takes back what its previous
  /// incarnation held). Sets lease_owner, lease_until = now + ttl, fence =
  /// fence + 1 and status 'queued' (a 'retry_scheduled' row not due yet
  /// keeps its status), using FOR UPDATE SKIP LOCKED so concurrent claimers
  /// never share a row. Returns the jobs with the tenant's signing secret
  /// and budget_used = attempts - attempts_base, oldest first.
  std::vector<delivery_job> claim(const lease_spec& lease, int limit,
                                  bool reclaim_own);

  /// Extends the lease of every non-terminal row held by `lease.owner`.
  /// Returns the number of rows renewed.
  int64_t renew_leases(const lease_spec& lease);

  /// Hands back this owner's leased rows that are not being sent: 'queued'
  /// ones become 'accepted', 'retry_scheduled' ones keep their status and
  /// next_attempt_at; the lease is cleared, so another node or the next
  /// start takes them (graceful shutdown). Returns how many.
  int64_t release_leases(const lease_spec& lease);

  /// Records outcomes in one transaction. Per outcome: a delivery_attempts
  /// row unless outcome == "deferred" (no call was made) or its non-empty
  /// attempt_key was recorded before (then the outcome changes nothing: a
  /// batch sent again after a timeout is not counted twice). For outcomes
  /// whose fence still matches a row in 'queued', 'sending' or
  /// 'retry_scheduled': status = o.status (delivered | retry_scheduled |
  /// dead_lettered), attempts + the number of non-deferred outcomes for the
  /// row in this batch, last_error, next_attempt_at (retry_scheduled:
  /// o.next_attempt_ms, else NULL), delivered_at, status_reason = o.reason;
  /// the lease is kept if o.keep_lease (retry_scheduled only), else cleared.
  /// dead_lettered also writes the dead_letters row (parked again if it
  /// was retried before). Every status change lands in notification_events.
  /// Returns how many outcomes were fenced out (a newer holder owns the row).
  int64_t record_outcomes(const std::vector<delivery_outcome>& xs);

  // -- dead letters and cancel ------------------------------------------------

  /// Newest first (by notification id); cursor = id of the last item seen;
  /// limit clamped to 1..200. Items carry the notification, not events.
  dlq_page list_dead_letters(const dlq_query& q);

  /// One dead letter of a tenant with its notification's transitions
  /// (oldest first), or nullopt.
  std::optional<dead_letter> get_dead_letter(const std::string& tenant_id,
                                             const std::string& id);

  /// A parked dead letter back to work with a fresh attempt budget: the
  /// dead letter's state 'retried'; the notification 'accepted', lease and
  /// next_attempt_at cleared, attempts_base = attempts, status_reason =
  /// reason. One transaction. `out` gets the notification as it is now.
  change_result retry_dead_letter(const std::string& tenant_id,
                                  const std::string& id,
                                  const std::string& reason,
                                  notification& out);

  /// A parked dead letter given up: state 'discarded', the notification
  /// 'discarded' (terminal). One transaction.
  change_result discard_dead_letter(const std::string& tenant_id,
                                    const std::string& id,
                                    const std::string& reason,
                                    notification& out);

  /// Re-enqueues a tenant's parked dead letters matching the filter, oldest
  /// dead_at first, at most r.limit (clamped to 1..100000), as
  /// retry_dead_letter does but paced: the k-th (0-based) gets
  /// next_attempt_at = now + k / r.rate_per_sec s (rate clamped to
  /// 1..100000). One transaction.
  replay_result replay_dead_letters(const replay_request& r);

  /// Cancels a notification not delivered yet (accepted, queued, sending,
  /// retry_scheduled): status 'cancelled', lease and next_attempt_at
  /// cleared, fence + 1 (a sender's late outcome is fenced out). conflict
  /// if its status is terminal already (delivered, dead_lettered, failed,
  /// cancelled, discarded); `out` then holds it too, so the caller can say
  /// which status it has.
  change_result cancel_notification(const std::string& tenant_id,
                                    const std::string& id,
                                    const std::string& reason,
                                    notification& out);

  // -- tenants and keys ------------------------------------------------------

  /// Creates the tenant (with `x.webhook_secret`) or updates name,
  /// rate_per_sec, burst and channels of an existing one (the secret and
  /// created_at stay). Returns the stored tenant and whether it was created.
  tenant_put_result put_tenant(const tenant& x);

  std::optional<tenant> get_tenant(const std::string& id);

  /// Stores a new key (only its hash). False if the tenant does not exist.
  bool create_key(const std::string& tenant_id, const std::string& key_id,
                  const std::string& key_hash);

  /// Marks a key revoked. False if no such key for this tenant.
  bool revoke_key(const std::string& tenant_id, const std::string& key_id);

  /// The key with its tenant, or nullopt.
  std::optional<key_record> lookup_key(const std::string& key_id);

  // -- idempotency keys -------------------------------------------------------

  /// The notification holding (tenant, key) while the key is retained
  /// (created_at + the tenant's retention > now, the database's clock), or
  /// nullopt. Retention: greatest(24, tenant.idempotency_retention_hours) h.
  std::optional<idem_record> lookup_idempotency(const std::string& tenant_id,
                                                const std::string& key);

  /// Forgets expired keys (deletes them from idempotency_keys; their
  /// notifications keep the record) in transactions of at most `batch` keys,
  /// so no lock is held long, until a transaction finds fewer than `batch`
  /// or after `max_batches` of them (0 = no limit; a limit bounds how long
  /// one call occupies the worker). Keys locked by others are skipped. Returns how many keys were forgotten.
  int64_t purge_idempotency(int batch, int max_batches = 0);

  // -- counters for /metrics and /admin --------------------------------------

  /// Number of notifications per status (non-zero ones only).
  std::vector<std::pair<std::string, int64_t>> count_by_status();

private:
  pqxx::connection& conn();

  /// One transaction: `lock` (tenant_id, id) locks the row and returns the
  /// notification and then the state that `allowed` judges; if allowed, the
  /// prepared statement `update` (id, reason) changes it and returns the
  /// notification. `out` gets the notification unless not_found.
  change_result change_state(const char* update, const char* lock,
                             bool (*allowed)(const std::string&),
                             const std::string& tenant_id,
                             const std::string& id, const std::string& reason,
                             notification& out);

  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

/// The statement that writes a batch's idempotency keys into `table` (the
/// schema's idempotency_keys, or a copy of it: bench/key_insert.cpp times
/// it on one). Parameters: parallel text arrays of tenant ids, keys, hashes
/// ('' for none) and notification ids, and a bigint array of created_at in
/// epoch ms (0: the transaction's now). Answers now() in epoch ms.
std::string insert_keys_statement(const std::string& table);

} // namespace herald
