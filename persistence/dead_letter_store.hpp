#pragma once

#include <optional>
#include <string>

#include "core/messages.hpp"
#include "persistence/store_types.hpp"

namespace herald {

/// Dead letters: listing, reading, and giving them back to work or up.
/// Part of a pg_store (db.dead_letters()), on its connection; its statements
/// are in persistence/sql/dead_letters.hpp.
class dead_letter_store {
public:
  explicit dead_letter_store(pg_store& db) : db_(db) {
  }

  /// Newest first (by notification id); cursor = id of the last item seen;
  /// limit clamped to 1..200. Items carry the notification, not events.
  dlq_page list(const dlq_query& q);

  /// One dead letter of a tenant with its notification's transitions
  /// (oldest first), or nullopt.
  std::optional<dead_letter> get(const std::string& tenant_id,
                                 const std::string& id);

  /// A parked dead letter back to work with a fresh attempt budget: the
  /// dead letter's state 'retried'; the notification 'accepted', lease and
  /// next_attempt_at cleared, attempts_base = attempts, status_reason =
  /// reason. One transaction. `out` gets the notification as it is now.
  change_result retry(const std::string& tenant_id, const std::string& id,
                      const std::string& reason, notification& out);

  /// A parked dead letter given up: state 'discarded', the notification
  /// 'discarded' (terminal). One transaction.
  change_result discard(const std::string& tenant_id, const std::string& id,
                        const std::string& reason, notification& out);

  /// Re-enqueues a tenant's parked dead letters matching the filter, oldest
  /// dead_at first, at most r.limit (clamped to 1..100000), as retry does
  /// but paced: the k-th (0-based) gets next_attempt_at = now + k /
  /// r.rate_per_sec s (rate clamped to 1..100000). One transaction.
  replay_result replay(const replay_request& r);

private:
  pg_store& db_;
};

} // namespace herald
