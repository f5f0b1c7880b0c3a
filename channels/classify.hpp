#pragma once

// Error classification of a delivery attempt, as plain functions: what the
// provider (or the network) answered decides whether the notification is
// delivered, retried (actors/policy/backoff.hpp) or dead-lettered at once. The
// circuit breaker (actors/policy/circuit_breaker.hpp) is fed by the caller; this
// file does not decide what counts against a provider's health.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

enum class delivery_class : uint8_t {
  ok,        // delivered
  retryable, // try again later (within the attempt budget)
  permanent, // retrying cannot help: dead-letter now
};

/// "ok", "retryable", "permanent".
const char* to_string(delivery_class x);

struct classified {
  delivery_class kind = delivery_class::permanent;
  /// The server's Retry-After, only on retryable results, to be honoured
  /// exactly (backoff::delay); nullopt when absent.
  std::optional<std::chrono::milliseconds> retry_after;
  /// For the delivery log, the DLQ and operators, e.g. "HTTP 503" or
  /// "timeout".
  std::string reason;
};

/// A webhook attempt (API.md, "Webhook deliveries"), from webhook_client's
/// post_result: `http_status` 0 = no HTTP answer; `retry_after_ms` -1 =
/// absent.
///
/// A real HTTP answer (status 100..599) decides, whatever the flags say:
///   2xx                     ok
///   408, 429, 5xx           retryable (Retry-After honoured when given)
///   other 4xx               permanent
///   1xx                     permanent: an interim status as the final answer
///                           is a broken receiver, not a load problem
///   3xx                     permanent: redirects are not followed (a signed
///                           POST must not be replayed to another host); the
///                           tenant has to register the final URL
/// Without one:
///   timed_out               retryable ("timeout")
///   connection_error        retryable ("connection error")
///   status 0, no flag       retryable ("no HTTP answer")
///   any other status        retryable: RFC 9110 §15 says to treat a status
///                           outside 100..599 as a 5xx
classified classify_webhook(int http_status, bool timed_out,
                            bool connection_error, int64_t retry_after_ms);

/// An SMTP transaction's final reply (RFC 5321 §4.2.1); `reply_code` 0 = no
/// reply. `enhanced_status` is the RFC 3463 code if the server sent one
/// ("4.2.2"), else empty.
///   2xx                     ok
///   4xx                     retryable (transient negative completion)
///   5xx                     permanent, except with an enhanced status of
///                           class 4 (e.g. 552 4.5.3: "too many recipients"
///                           was 552 in RFC 821, and RFC 5321 §4.5.3.1.10
///                           asks clients to treat it as temporary)
///   1xx, 3xx                permanent: not a final reply, a protocol error
///   0 / timeout / conn.     retryable
///   any other code          retryable (invalid reply, treated as transient)
classified classify_smtp(int reply_code, bool timed_out,
                         bool connection_error,
                         std::string_view enhanced_status = {});

/// An SMS provider's HTTP answer, Twilio-shaped: `provider_code` is the error
/// code of the body ("21211"), empty if none. A 2xx is ok whatever the code;
/// otherwise a known code decides (see the table in classify.cpp: invalid,
/// unsubscribed or landline numbers are permanent; rate limits, queue
/// overflow and provider outages retryable), and unknown codes fall back to
/// the HTTP rules of classify_webhook (status 0 = no answer: retryable).
classified classify_sms(int http_status, std::string_view provider_code,
                        int64_t retry_after_ms = -1);

/// A push provider's HTTP answer, FCM-shaped: `provider_reason` is FCM v1's
/// error status or errorCode ("UNREGISTERED") or an APNs reason
/// ("BadDeviceToken"), empty if none. A 2xx is ok; a known reason decides
/// (dead or foreign tokens, bad payloads and auth errors permanent;
/// UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED and their APNs twins retryable);
/// unknown reasons fall back to the HTTP rules of classify_webhook.
classified classify_push(int http_status, std::string_view provider_reason,
                         int64_t retry_after_ms = -1);

} // namespace herald
