#pragma once

// Blocking HTTP(S) POST for webhook deliveries, on cpp-httplib. Keeps one
// keep-alive connection per endpoint so a sender thread that delivers to the
// same receiver again does not pay for TCP and TLS handshakes each time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace httplib {
class ClientImpl;
} // namespace httplib

namespace herald {

/// Outcome of one POST.
struct post_result {
  /// HTTP status of the answer; 0 = no HTTP answer (invalid URL, DNS,
  /// connection, TLS, timeout, connection closed mid-response).
  int http_status = 0;
  /// Why there was no HTTP answer; "" if an HTTP answer came.
  std::string error;
  /// Delay the receiver asked for in Retry-After (delay-seconds or
  /// HTTP-date, a date in the past gives 0); -1 if absent or unparseable.
  int64_t retry_after_ms = -1;
  /// No answer within the timeout (connect, send or receive).
  bool timed_out = false;
  /// The answer's body, cut to its first max_kept_body_bytes (providers put
  /// their error codes there); "" without an HTTP answer.
  std::string body;
  /// The answer's Location header ("" if none): a Web Push service names
  /// the message it accepted there (RFC 8030 §5).
  std::string location;
};

/// How much of an answer's body post_result keeps.
inline constexpr std::size_t max_kept_body_bytes = 64 * 1024;

/// A URL split into what the client needs.
struct parsed_url {
  std::string scheme;   // "http" or "https", lowercase
  std::string host;     // lowercase; IPv6 literals without brackets
  int port = 0;         // explicit or the scheme's default
  std::string target;   // path and query, at least "/"; fragment dropped
  std::string endpoint; // "scheme://host:port" (IPv6 host in brackets)
};

/// Parses an absolute http/https URL. nullopt for anything else, including
/// userinfo ("user:pass@"), ports outside 1..65535, whitespace and control
/// characters.
std::optional<parsed_url> parse_url(const std::string& url);

/// "scheme://host:port" of a URL with the default port filled in: the key of
/// the per-endpoint circuit breaker. nullopt for invalid URLs.
std::optional<std::string> endpoint_of(const std::string& url);

/// Not thread-safe: one sender thread uses an instance at a time.
class webhook_client {
public:
  /// `timeout` bounds connecting, each send and each receive. At most
  /// `max_endpoints` idle connections are kept (least recently used go
  /// first), so a sender that sees many receivers does not hoard sockets.
  explicit webhook_client(std::chrono::milliseconds timeout,
                          std::size_t max_endpoints = 128);
  ~webhook_client();

  webhook_client(const webhook_client&) = delete;
  webhook_client& operator=(const webhook_client&) = delete;

  /// POSTs `body` to `url`. Never throws for network problems or bad URLs:
  /// they come back as http_status 0 with an error. Redirects are not
  /// followed (a 3xx is returned as such).
  post_result post(const std::string& url,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   const std::string& body, const std::string& content_type);

  /// Number of endpoints with a cached client (for tests and inspection).
  std::size_t cached_endpoints() const {
    return clients_.size();
  }

private:
  struct entry {
    std::unique_ptr<httplib::ClientImpl> client;
    uint64_t last_used = 0;
  };

  httplib::ClientImpl& client_for(const parsed_url& url);

  std::chrono::milliseconds timeout_;
  std::size_t max_endpoints_;
  uint64_t use_counter_ = 0;
  std::unordered_map<std::string, entry> clients_;
};

/// Parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an
/// HTTP-date (IMF-fixdate, RFC 850 or asctime form) relative to `now`.
/// Returns milliseconds, 0 for dates in the past, -1 if unparseable.
int64_t parse_retry_after_ms(const std::string& value,
                             std::chrono::system_clock::time_point now);

} // namespace herald
