#pragma once

// What every sender does around its provider call: the report's identity
// fields, the liveness gate (a node paused past the connection timeout makes
// no call: its leases may have moved), and the attempt's timing.

#include <chrono>
#include <string>

#include <caf/local_actor.hpp>

#include "actors/config.hpp"
#include "actors/policy/liveness_gate.hpp"
#include "channels/classify.hpp"
#include "channels/webhook_client.hpp"
#include "core/messages.hpp"

namespace herald {

/// A report of `job` with its identity filled in (outcome still `failed`).
attempt_report report_for(const delivery_job& job, const std::string& node,
                          const std::string& provider);

/// A permanent failure without a call (the job cannot be sent at all).
attempt_report refused_report(const delivery_job& job, const std::string& node,
                              const std::string& provider, std::string reason);

/// Fills the outcome fields of `out` from a classification of the HTTP
/// answer `res`: delivered, or failed with `retryable`, the Retry-After and
/// an error text (the client's when there was no answer, else the reason,
/// followed by `detail` when given, e.g. the provider's error code).
attempt_report& apply_classified(attempt_report& out, classified c,
                                 const post_result& res,
                                 const std::string& detail = {});

/// An HTTP answer by the webhook rules (classify_webhook), the connection
/// error flag derived from the client's result.
classified classify_http(const post_result& res);

/// Runs `call(started_ms)` (which returns the attempt_report of one provider
/// call) unless `gate` is closed, in which case the job is answered
/// `deferred` without a call; stamps the start time and duration.
template <class F>
attempt_report timed_attempt(caf::local_actor* self, const liveness_gate* gate,
                             const delivery_job& job, const std::string& node,
                             const std::string& provider, F&& call) {
  auto started = std::chrono::steady_clock::now();
  auto started_ms = wall_ms(self);
  attempt_report out;
  if (gate != nullptr && !gate->is_open()) {
    out = report_for(job, node, provider);
    out.outcome = attempt_result::deferred;
    out.error = "node paused: its leases may have moved";
  } else {
    out = call(started_ms);
  }
  out.started_at_ms = started_ms;
  out.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  return out;
}

} // namespace herald
