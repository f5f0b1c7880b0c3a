#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/messages.hpp"
#include "persistence/store_types.hpp"

namespace herald {

/// Notifications: new rows, reads, attempts, cancel and counters. Part of a
/// pg_store (db.notifications()), on its connection; its statements are in
/// persistence/sql/notifications.hpp.
class notification_store {
public:
  explicit notification_store(pg_store& db) : db_(db) {
  }

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
  void insert(const std::vector<notification>& xs, const lease_spec& lease,
              int64_t due_by_ms = k_due_always);

  /// One notification of a tenant, or nullopt (also for other tenants' ids
  /// and for ids that are not UUIDs).
  std::optional<notification> get(const std::string& tenant_id,
                                  const std::string& id);

  /// Newest first (ORDER BY id DESC: ids are time-ordered); `cursor` is the
  /// id of the last item already seen; limit is clamped to 1..200.
  notification_page list(const notification_query& q);

  /// Attempts of one notification of a tenant, oldest first; nullopt when
  /// the notification does not exist for this tenant.
  std::optional<std::vector<attempt>> attempts(const std::string& tenant_id,
                                               const std::string& id);

  /// Cancels a notification not delivered yet (accepted, queued, sending,
  /// retry_scheduled): status 'cancelled', lease and next_attempt_at
  /// cleared, fence + 1 (a sender's late outcome is fenced out). conflict
  /// if its status is terminal already (delivered, dead_lettered, failed,
  /// cancelled, discarded); `out` then holds it too, so the caller can say
  /// which status it has.
  change_result cancel(const std::string& tenant_id, const std::string& id,
                       const std::string& reason, notification& out);

  /// Number of notifications per status (non-zero ones only), for /metrics
  /// and /admin.
  std::vector<std::pair<std::string, int64_t>> count_by_status();

private:
  pg_store& db_;
};

} // namespace herald
