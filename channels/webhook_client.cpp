#include "channels/webhook_client.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <csignal>
#include <mutex>

#include <httplib.h>
#include <openssl/x509.h>

namespace herald {

namespace {

constexpr const char* user_agent = "Herald-Webhooks/0.1";

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string s) {
  for (auto& c : s)
    c = ascii_lower(c);
  return s;
}

bool iequals(const std::string& a, const char* b) {
  size_t i = 0;
  for (; i < a.size() && b[i] != '\0'; ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return i == a.size() && b[i] == '\0';
}

bool is_digits(const std::string& s) {
  return !s.empty()
         && std::all_of(s.begin(), s.end(),
                        [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_reg_name(const std::string& host) {
  if (host.empty() || host.size() > 253)
    return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
}

// --- HTTP-date --------------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil); avoids timegm and its dependence on the TZ setup.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int month_of(const std::string& name) {
  static constexpr const char* names[] = {"jan", "feb", "mar", "apr",
                                          "may", "jun", "jul", "aug",
                                          "sep", "oct", "nov", "dec"};
  for (int i = 0; i < 12; ++i)
    if (iequals(name, names[i]))
      return i + 1;
  return 0;
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty())
        out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty())
    out.push_back(std::move(cur));
  return out;
}

bool parse_int(const std::string& s, size_t max_digits, int& out) {
  if (!is_digits(s) || s.size() > max_digits)
    return false;
  out = std::stoi(s);
  return true;
}

bool parse_clock(const std::string& s, int& h, int& m, int& sec) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':')
    return false;
  return parse_int(s.substr(0, 2), 2, h) && parse_int(s.substr(3, 2), 2, m)
         && parse_int(s.substr(6, 2), 2, sec) && h <= 23 && m <= 59
         && sec <= 60;
}

// Seconds since the epoch of an HTTP-date in any of the three forms that
// RFC 9110 §5.6.7 obliges recipients to accept.
std::optional<int64_t> parse_http_date(const std::string& value) {
  auto t = split_ws(value);
  int day = 0, month = 0, year = 0, h = 0, m = 0, s = 0;
  if (t.size() == 6 && t[0].size() == 4 && t[0].back() == ',') {
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    if (!parse_int(t[1], 2, day) || !(month = month_of(t[2]))
        || !parse_int(t[3], 4, year) || !parse_clock(t[4], h, m, s)
        || t[5] != "GMT")
      return std::nullopt;
  } else if (t.size() == 4 && t[0].back() == ',') {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    const auto& d = t[1];
    if (d.size() != 9 || d[2] != '-' || d[6] != '-'
        || !parse_int(d.substr(0, 2), 2, day)
        || !(month = month_of(d.substr(3, 3)))
        || !parse_int(d.substr(7, 2), 2, year) || !parse_clock(t[2], h, m, s)
        || t[3] != "GMT")
      return std::nullopt;
    year += year < 70 ? 2000 : 1900;
  } else if (t.size() == 5) {
    // asctime: Sun Nov  6 08:49:37 1994
    if (!(month = month_of(t[1])) || !parse_int(t[2], 2, day)
        || !parse_clock(t[3], h, m, s) || !parse_int(t[4], 4, year))
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (day < 1 || day > 31 || year < 1900)
    return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(month),
                         static_cast<unsigned>(day))
           * 86400
         + h * 3600 + m * 60 + s;
}

std::string describe(httplib::Error err) {
  switch (err) {
    case httplib::Error::Connection:
      return "cannot connect (refused, unreachable or unknown host)";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::Read:
      return "connection closed before a complete answer";
    case httplib::Error::Write:
      return "connection closed while sending the request";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA certificates";
    default:
      return "HTTP client error: " + httplib::to_string(err);
  }
}

// OpenSSL writes to sockets with write(2), so a receiver that drops a TLS
// connection would kill the whole process with SIGPIPE. Ignore it once,
// unless the program installed its own handler.
void ignore_sigpipe_once() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
      std::signal(SIGPIPE, SIG_IGN);
  });
}

} // namespace

// --- URLs -------------------------------------------------------------------

std::optional<parsed_url> parse_url(const std::string& url) {
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f)
      return std::nullopt;
  auto sep = url.find("://");
  if (sep == std::string::npos)
    return std::nullopt;
  parsed_url out;
  out.scheme = lowercase(url.substr(0, sep));
  int default_port = 0;
  if (out.scheme == "http")
    default_port = 80;
  else if (out.scheme == "https")
    default_port = 443;
  else
    return std::nullopt;
  auto auth_begin = sep + 3;
  auto auth_end = url.find_first_of("/?#", auth_begin);
  if (auth_end == std::string::npos)
    auth_end = url.size();
  auto authority = url.substr(auth_begin, auth_end - auth_begin);
  if (authority.empty() || authority.find('@') != std::string::npos)
    return std::nullopt;
  std::string port_text;
  bool has_port = false;
  bool ipv6 = false;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      return std::nullopt;
    out.host = lowercase(authority.substr(1, close - 1));
    in6_addr addr{};
    if (inet_pton(AF_INET6, out.host.c_str(), &addr) != 1)
      return std::nullopt;
    ipv6 = true;
    auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return std::nullopt;
      has_port = true;
      port_text = rest.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    out.host = lowercase(authority.substr(0, colon));
    if (!valid_reg_name(out.host))
      return std::nullopt;
    if (colon != std::string::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
  }
  out.port = default_port;
  // RFC 3986 allows an empty port ("host:") and means the default then.
  if (has_port && !port_text.empty()) {
    if (!is_digits(port_text) || port_text.size() > 5)
      return std::nullopt;
    out.port = std::stoi(port_text);
    if (out.port < 1 || out.port > 65535)
      return std::nullopt;
  }
  auto fragment = url.find('#', auth_end);
  out.target = url.substr(auth_end, fragment == std::string::npos
                                      ? std::string::npos
                                      : fragment - auth_end);
  if (out.target.empty() || out.target.front() != '/')
    out.target.insert(0, "/");
  out.endpoint = out.scheme + "://" + (ipv6 ? "[" + out.host + "]" : out.host)
                 + ":" + std::to_string(out.port);
  return out;
}

std::optional<std::string> endpoint_of(const std::string& url) {
  auto parsed = parse_url(url);
  if (!parsed)
    return std::nullopt;
  return std::move(parsed->endpoint);
}

int64_t parse_retry_after_ms(const std::string& value,
                             std::chrono::system_clock::time_point now) {
  auto first = value.find_first_not_of(" \t");
  if (first == std::string::npos)
    return -1;
  auto last = value.find_last_not_of(" \t");
  auto v = value.substr(first, last - first + 1);
  if (is_digits(v)) {
    // More than ten digits (over 300 years) is nonsense; treat as absent
    // rather than overflow.
    if (v.size() > 10)
      return -1;
    return std::stoll(v) * 1000;
  }
  auto when = parse_http_date(v);
  if (!when)
    return -1;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  now.time_since_epoch())
                  .count();
  return std::max<int64_t>(0, *when * 1000 - now_ms);
}

// --- client -----------------------------------------------------------------

webhook_client::webhook_client(std::chrono::milliseconds timeout,
                               std::size_t max_endpoints)
  : timeout_(timeout), max_endpoints_(std::max<std::size_t>(1, max_endpoints)) {
  ignore_sigpipe_once();
}

webhook_client::~webhook_client() = default;

httplib::ClientImpl& webhook_client::client_for(const parsed_url& url) {
  auto i = clients_.find(url.endpoint);
  if (i != clients_.end()) {
    i->second.last_used = ++use_counter_;
    return *i->second.client;
  }
  if (clients_.size() >= max_endpoints_) {
    auto oldest = std::min_element(clients_.begin(), clients_.end(),
                                   [](const auto& a, const auto& b) {
                                     return a.second.last_used
                                            < b.second.last_used;
                                   });
    clients_.erase(oldest);
  }
  std::unique_ptr<httplib::ClientImpl> cli;
  if (url.scheme == "https")
    cli = std::make_unique<httplib::SSLClient>(url.host, url.port);
  else
    cli = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  cli->set_keep_alive(true);
  // Without it Nagle and delayed ACKs add ~40 ms to every small request.
  cli->set_tcp_nodelay(true);
  cli->set_connection_timeout(timeout_);
  cli->set_read_timeout(timeout_);
  cli->set_write_timeout(timeout_);
  cli->set_follow_location(false);
  auto& ref = *cli;
  clients_.emplace(url.endpoint, entry{std::move(cli), ++use_counter_});
  return ref;
}

post_result webhook_client::post(
  const std::string& url,
  const std::vector<std::pair<std::string, std::string>>& headers,
  const std::string& body, const std::string& content_type) {
  post_result result;
  auto parsed = parse_url(url);
  if (!parsed) {
    result.error = "invalid URL (need http:// or https://host[:port][/path])";
    return result;
  }
  httplib::Headers hdrs;
  bool has_user_agent = false;
  for (const auto& [name, value] : headers) {
    // httplib writes these itself; a second copy would make the request
    // ambiguous.
    if (iequals(name, "content-length")
        || (!content_type.empty() && iequals(name, "content-type")))
      continue;
    has_user_agent = has_user_agent || iequals(name, "user-agent");
    hdrs.emplace(name, value);
  }
  if (!has_user_agent)
    hdrs.emplace("User-Agent", user_agent);
  auto start = std::chrono::steady_clock::now();
  try {
    auto& cli = client_for(*parsed);
    auto res = cli.Post(parsed->target, hdrs, body, content_type);
    if (res) {
      result.http_status = res->status;
      // httplib has read the whole body already; keep only the start.
      result.body = res->body.size() > max_kept_body_bytes
                      ? res->body.substr(0, max_kept_body_bytes)
                      : std::move(res->body);
      result.location = res->get_header_value("Location");
      if (res->has_header("Retry-After"))
        result.retry_after_ms = parse_retry_after_ms(
          res->get_header_value("Retry-After"),
          std::chrono::system_clock::now());
      return result;
    }
    auto err = res.error();
    auto elapsed = std::chrono::steady_clock::now() - start;
    // httplib reports a read/connect timeout as a plain read/connection
    // error; only the elapsed time tells it apart from a reset.
    result.timed_out = err == httplib::Error::ConnectionTimeout
                       || (err != httplib::Error::Canceled
                           && elapsed + std::chrono::milliseconds(2)
                                >= timeout_);
    if (result.timed_out) {
      result.error = "no answer within " + std::to_string(timeout_.count())
                     + " ms (" + httplib::to_string(err) + ")";
    } else if (err == httplib::Error::SSLServerVerification) {
      auto code = static_cast<httplib::SSLClient&>(cli)
                    .get_openssl_verify_result();
      result.error = std::string{"TLS certificate verification failed: "}
                     + X509_verify_cert_error_string(code);
    } else {
      result.error = describe(err);
    }
    result.error += " [" + parsed->endpoint + "]";
  } catch (const std::exception& e) {
    // httplib can throw on resource exhaustion (threads, memory); a
    // delivery attempt must still end with an answer.
    clients_.erase(parsed->endpoint);
    result.http_status = 0;
    result.error = std::string{"client error: "} + e.what();
  }
  return result;
}

} // namespace herald
