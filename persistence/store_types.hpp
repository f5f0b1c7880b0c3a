#pragma once

// What the aggregates of pg_store (persistence/pg_store.hpp) share: their
// errors, lease settings and the answer to a state change.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace herald {

class pg_store;

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
/// notification_store::insert's default bound: every row counts as due.
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

} // namespace herald
