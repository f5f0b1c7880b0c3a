#pragma once

// The API's memory of a tenant's last 429, so that a tenant hammering past
// its limit is refused without asking its rate limiter again and again.
//
// A denied single-token request learns from the limiter how long until the
// next token (retry_after_ms, at most 1 / rate_per_sec <= 1 s). Until then
// the bucket cannot grant a token: tokens only come back with time. So the
// limiter's own answer to any single-token request in that window is known
// in advance, with the RateLimit-* values counted down by the elapsed time.
// Answering it here saves a round trip into the actor system per refused
// request, the bulk of what a noisy tenant costs the node (fairness,
// bench/RESULTS-guards.md). The memo is keyed by the tenant's limits too: a
// limit changed through the admin API (seen by the auth cache within a
// second) is asked afresh at once. Batches always ask the limiter.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/messages.hpp"

namespace herald {

class denial_memo {
public:
  using clock = std::chrono::steady_clock;

  /// Notes the limiter's answer to a single-token request of `tenant`
  /// under the limits (`rate`, `burst`) it was asked with. Only denials are
  /// kept; an allowed answer forgets the tenant.
  void note(const std::string& tenant, int32_t rate, int32_t burst,
            const rate_decision& d, clock::time_point now);

  /// The limiter's answer to a single-token request now, if it is known to
  /// be a denial: the noted one counted down by the elapsed time.
  std::optional<rate_decision> denial(const std::string& tenant, int32_t rate,
                                      int32_t burst, clock::time_point now);

  size_t size() const;

private:
  struct entry {
    int32_t rate;
    int32_t burst;
    rate_decision decision;
    clock::time_point noted;
    clock::time_point until; // next token
  };

  /// Drops expired entries once the map has grown (amortised).
  void sweep(clock::time_point now);

  mutable std::mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
  size_t sweep_at_ = 1024;
};

} // namespace herald
