#pragma once

// Whether this node may still act on its leases. Other nodes take a
// member's leases over once they have not heard from it for the connection
// timeout; so a node may start a delivery only while its own heartbeats are
// going out. The cluster actor opens the gate up to "now + connection
// timeout" on every heartbeat it sends; a node frozen longer than that
// (SIGSTOP, a stalled VM) finds the gate closed when it wakes, and its
// senders make no call until it has dropped the work it held (its leases
// may belong to other nodes by then). Shared by the cluster actor and the
// senders (detached actors, other threads): one atomic, no lock. Without a
// cluster there is no gate.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace herald {

class liveness_gate {
public:
  using clock = std::chrono::steady_clock;

  /// Open until `t` (a later call may move it either way).
  void open_until(clock::time_point t) {
    until_ns_.store(t.time_since_epoch().count(), std::memory_order_release);
  }

  /// Closed from now on, until the next open_until.
  void close() {
    until_ns_.store(std::numeric_limits<int64_t>::min(),
                    std::memory_order_release);
  }

  /// Whether a delivery may start at `now`.
  bool is_open(clock::time_point now = clock::now()) const {
    return now.time_since_epoch().count()
           < until_ns_.load(std::memory_order_acquire);
  }

private:
  // Open until the end of time before the cluster actor first ticks.
  std::atomic<int64_t> until_ns_{std::numeric_limits<int64_t>::max()};
};

} // namespace herald
