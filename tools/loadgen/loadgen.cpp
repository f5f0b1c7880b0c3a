// herald-loadgen: a small HTTP/1.1 load generator for POST /v1/notifications.
//
//   herald-loadgen --url=http://127.0.0.1:8080/v1/notifications --key=KEY
//                  --target=http://127.0.0.1:9000/hook [--connections=64]
//                  [--duration=10s] [--rate=5000] [--requests=N] ...
//
// One thread per keep-alive connection, blocking sockets with TCP_NODELAY.
//
// Closed model (no --rate): every connection sends its next request as soon
// as the previous answer arrived; latency = answer time - send time.
//
// Open model (--rate=R): request k is scheduled at start + k/R, whatever the
// server does. A connection takes the next ticket, sleeps until its scheduled
// time (if it is early) and sends; latency = answer time - *scheduled* time,
// so time spent waiting for a free connection counts (no coordinated
// omission, as in wrk2). If the connections cannot keep up, the latencies
// show it.
//
// --await-url / --await-count: after the submissions, poll a JSON stats URL
// (e.g. the fake provider's /stats) until its "delivered" field has grown by
// the given count, and report delivered/s from the first submission.
//
// The last line is machine readable: RESULT key=value ...

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

const char* usage_text =
  "usage: herald-loadgen --url=http://HOST:PORT/v1/notifications --key=KEY\n"
  "                      [--target=WEBHOOK_URL] [options]\n"
  "\n"
  "  --url           endpoint to POST to (http only)\n"
  "  --key           tenant API key (Authorization: Bearer KEY)\n"
  "  --target        the notification's \"to\" (default\n"
  "                  http://127.0.0.1:18099/hook)\n"
  "  --connections   keep-alive connections, one thread each (default 64)\n"
  "  --duration      how long to send, e.g. 10s, 500ms, 2min (default 10s)\n"
  "  --rate          open model: requests per second in total (default 0 =\n"
  "                  closed model, as fast as answers come back)\n"
  "  --requests      stop after this many requests in total (default 0 =\n"
  "                  no limit; --duration still bounds the run)\n"
  "  --body          text of the notification body (default \"benchmark\")\n"
  "  --body-bytes    pad the body text to this many bytes\n"
  "  --send-at       RFC 3339 send_at for every notification (default none)\n"
  "  --idempotency-prefix  send Idempotency-Key: PREFIX-<connection>-<n>,\n"
  "                  a fresh key per request (default: no key)\n"
  "  --timeout       per-request time limit (default 10s); a request that\n"
  "                  exceeds it counts as an error and the connection is\n"
  "                  reopened\n"
  "  --await-url     after sending, poll this URL (GET, JSON with a\n"
  "                  \"delivered\" field) ...\n"
  "  --await-count   ... until \"delivered\" grew by this many since the\n"
  "                  start (default: the number of 202 answers)\n"
  "  --await-timeout give up waiting after this long (default 120s)\n"
  "  --quiet         print only the RESULT line\n";

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "herald-loadgen: " << msg << "\n";
  std::exit(2);
}

// --- options ---------------------------------------------------------------

struct url_parts {
  std::string host;
  int port = 80;
  std::string path = "/";
};

url_parts parse_url(const std::string& url) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0)
    die("only http:// URLs are supported: " + url);
  auto rest = url.substr(prefix.size());
  url_parts u;
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  if (slash != std::string::npos)
    u.path = rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    u.host = hostport;
  } else {
    u.host = hostport.substr(0, colon);
    u.port = std::atoi(hostport.c_str() + colon + 1);
  }
  if (u.host.empty() || u.port <= 0 || u.port > 65535)
    die("bad URL: " + url);
  return u;
}

nanoseconds parse_duration(const std::string& name, const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? end : "";
  double ns = 0;
  if (unit == "ns")
    ns = v;
  else if (unit == "us")
    ns = v * 1e3;
  else if (unit == "ms")
    ns = v * 1e6;
  else if (unit == "s" || unit.empty())
    ns = v * 1e9;
  else if (unit == "min" || unit == "m")
    ns = v * 60e9;
  else
    die("--" + name + ": bad duration '" + s + "' (e.g. 10s, 500ms, 2min)");
  if (!(v > 0))
    die("--" + name + " must be positive");
  return nanoseconds(static_cast<int64_t>(ns));
}

long parse_long(const std::string& name, const std::string& s, long lo,
                long hi) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    die("--" + name + " must be an integer in [" + std::to_string(lo) + ", "
        + std::to_string(hi) + "]");
  return v;
}

std::string json_escape(const std::string& s) {
  return nlohmann::json(s).dump();
}

struct options {
  std::string url;
  url_parts endpoint;
  std::string key;
  std::string target = "http://127.0.0.1:18099/hook";
  int connections = 64;
  nanoseconds duration = std::chrono::seconds(10);
  double rate = 0;
  long requests = 0;
  std::string body = "benchmark";
  long body_bytes = 0;
  std::string send_at;
  std::string idempotency_prefix;
  nanoseconds timeout = std::chrono::seconds(10);
  std::string await_url;
  long await_count = -1;
  nanoseconds await_timeout = std::chrono::seconds(120);
  bool quiet = false;
};

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      std::exit(0);
    }
    if (arg == "--quiet") {
      o.quiet = true;
      continue;
    }
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos)
      die("unexpected argument '" + arg + "' (options are --name=value)");
    auto name = arg.substr(2, eq - 2);
    auto value = arg.substr(eq + 1);
    if (name == "url")
      o.url = value;
    else if (name == "key")
      o.key = value;
    else if (name == "target")
      o.target = value;
    else if (name == "connections")
      o.connections = static_cast<int>(parse_long(name, value, 1, 4096));
    else if (name == "duration")
      o.duration = parse_duration(name, value);
    else if (name == "rate") {
      char* end = nullptr;
      o.rate = std::strtod(value.c_str(), &end);
      if (*end != '\0' || o.rate < 0 || o.rate > 1e7)
        die("--rate must be a number in [0, 1e7]");
    } else if (name == "requests")
      o.requests = parse_long(name, value, 0, 1000000000);
    else if (name == "body")
      o.body = value;
    else if (name == "body-bytes")
      o.body_bytes = parse_long(name, value, 0, 10000000);
    else if (name == "send-at")
      o.send_at = value;
    else if (name == "idempotency-prefix") {
      if (value.empty() || value.size() > 200
          || !std::all_of(value.begin(), value.end(),
                          [](char c) { return c > 0x20 && c < 0x7f; }))
        die("--idempotency-prefix must be 1 to 200 printable ASCII characters"
            " without spaces");
      o.idempotency_prefix = value;
    }
    else if (name == "timeout")
      o.timeout = parse_duration(name, value);
    else if (name == "await-url")
      o.await_url = value;
    else if (name == "await-count")
      o.await_count = parse_long(name, value, 0, 1000000000);
    else if (name == "await-timeout")
      o.await_timeout = parse_duration(name, value);
    else
      die("unknown option --" + name + " (see --help)");
  }
  if (o.url.empty())
    die("--url is required (see --help)");
  o.endpoint = parse_url(o.url);
  if (o.key.empty())
    die("--key is required (see --help)");
  if (!o.await_url.empty())
    parse_url(o.await_url);
  return o;
}

// --- a minimal blocking HTTP/1.1 client --------------------------------------

sockaddr_in resolve(const url_parts& u) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(u.host.c_str(), nullptr, &hints, &res) != 0 || !res)
    die("cannot resolve " + u.host);
  sockaddr_in addr{};
  std::memcpy(&addr, res->ai_addr, sizeof(addr));
  addr.sin_port = htons(static_cast<uint16_t>(u.port));
  freeaddrinfo(res);
  return addr;
}

struct response {
  int status = 0;
  bool close = false;
  std::string body;
};

class connection {
public:
  connection(sockaddr_in addr, nanoseconds timeout)
    : addr_(addr), timeout_(timeout) {
  }

  ~connection() {
    reset();
  }

  void reset() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  /// Sends `request` and reads one answer. False on any I/O error or timeout
  /// (the connection is closed then); `err` says which.
  bool roundtrip(const std::string& request, response& res, std::string& err) {
    if (fd_ < 0 && !open(err))
      return false;
    if (!write_all(request, err)) {
      // A keep-alive connection the server closed meanwhile: retry once.
      reset();
      if (!open(err) || !write_all(request, err)) {
        reset();
        return false;
      }
    }
    if (!read_response(res, err)) {
      reset();
      return false;
    }
    if (res.close)
      reset();
    return true;
  }

  bool open(std::string& err) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      err = "socket";
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto us = duration_cast<std::chrono::microseconds>(timeout_).count();
    timeval tv{static_cast<time_t>(us / 1000000),
               static_cast<suseconds_t>(us % 1000000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr_),
                  sizeof(addr_))
        != 0) {
      err = "connect";
      reset();
      return false;
    }
    return true;
  }

private:
  bool write_all(const std::string& data, std::string& err) {
    size_t off = 0;
    while (off < data.size()) {
      auto n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        err = (errno == EAGAIN || errno == EWOULDBLOCK) ? "timeout" : "write";
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads more bytes into buf_; false on EOF, error or timeout.
  bool fill(std::string& err) {
    char tmp[16384];
    for (;;) {
      auto n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0) {
        err = "read (closed)";
        return false;
      }
      if (n < 0) {
        err = (errno == EAGAIN || errno == EWOULDBLOCK) ? "timeout" : "read";
        return false;
      }
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  static bool iequals_prefix(const std::string& line, const char* name) {
    auto len = std::strlen(name);
    if (line.size() < len)
      return false;
    for (size_t i = 0; i < len; ++i)
      if (std::tolower(static_cast<unsigned char>(line[i]))
          != std::tolower(static_cast<unsigned char>(name[i])))
        return false;
    return true;
  }

  static std::string header_value(const std::string& line) {
    auto colon = line.find(':');
    auto v = line.substr(colon + 1);
    auto b = v.find_first_not_of(" \t");
    auto e = v.find_last_not_of(" \t\r");
    return b == std::string::npos ? "" : v.substr(b, e - b + 1);
  }

  bool read_response(response& res, std::string& err) {
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(err))
        return false;
    res = response{};
    long content_length = -1;
    bool chunked = false;
    size_t pos = 0;
    bool first = true;
    while (pos < head_end) {
      auto eol = buf_.find("\r\n", pos);
      auto line = buf_.substr(pos, eol - pos);
      pos = eol + 2;
      if (first) {
        first = false;
        // HTTP/1.1 202 Accepted
        auto sp = line.find(' ');
        if (sp == std::string::npos) {
          err = "bad status line";
          return false;
        }
        res.status = std::atoi(line.c_str() + sp + 1);
        continue;
      }
      if (iequals_prefix(line, "content-length:")) {
        content_length = std::atol(header_value(line).c_str());
      } else if (iequals_prefix(line, "transfer-encoding:")) {
        auto v = header_value(line);
        chunked = v.find("chunked") != std::string::npos;
      } else if (iequals_prefix(line, "connection:")) {
        auto v = header_value(line);
        std::transform(v.begin(), v.end(), v.begin(), ::tolower);
        res.close = v.find("close") != std::string::npos;
      }
    }
    buf_.erase(0, head_end + 4);
    if (chunked) {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos)
          if (!fill(err))
            return false;
        auto size = std::strtol(buf_.c_str(), nullptr, 16);
        buf_.erase(0, eol + 2);
        while (buf_.size() < static_cast<size_t>(size) + 2)
          if (!fill(err))
            return false;
        res.body.append(buf_, 0, static_cast<size_t>(size));
        buf_.erase(0, static_cast<size_t>(size) + 2);
        if (size == 0)
          return true; // no trailers from the servers we talk to
      }
    }
    if (content_length < 0) {
      // Body until close.
      while (fill(err)) {
      }
      res.body = std::move(buf_);
      buf_.clear();
      res.close = true;
      return true;
    }
    while (buf_.size() < static_cast<size_t>(content_length))
      if (!fill(err))
        return false;
    res.body = buf_.substr(0, static_cast<size_t>(content_length));
    buf_.erase(0, static_cast<size_t>(content_length));
    return true;
  }

  sockaddr_in addr_;
  nanoseconds timeout_;
  int fd_ = -1;
  std::string buf_;
};

std::optional<long long> fetch_delivered(const url_parts& u) {
  connection c{resolve(u), std::chrono::seconds(5)};
  std::string req = "GET " + u.path + " HTTP/1.1\r\nHost: " + u.host + ":"
                    + std::to_string(u.port)
                    + "\r\nConnection: close\r\n\r\n";
  response res;
  std::string err;
  if (!c.roundtrip(req, res, err) || res.status != 200)
    return std::nullopt;
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("delivered")
      || !j["delivered"].is_number_integer())
    return std::nullopt;
  return j["delivered"].get<long long>();
}

// --- the run -----------------------------------------------------------------

struct thread_result {
  std::vector<uint32_t> latencies_us; // of answered requests
  std::map<int, long> statuses;
  std::map<std::string, long> errors;
  time_point last_answer{};
  std::string sample_error_body;
};

double percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto idx = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  idx = std::min(sorted.size() - 1, idx == 0 ? 0 : idx - 1);
  return sorted[idx] / 1000.0;
}

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  auto opt = parse_options(argc, argv);
  auto addr = resolve(opt.endpoint);

  auto text = opt.body;
  if (opt.body_bytes > static_cast<long>(text.size()))
    text.append(static_cast<size_t>(opt.body_bytes) - text.size(), 'x');
  std::string body = "{\"channel\":\"webhook\",\"to\":" + json_escape(opt.target)
                     + ",\"body\":" + json_escape(text);
  if (!opt.send_at.empty())
    body += ",\"send_at\":" + json_escape(opt.send_at);
  body += ",\"data\":{\"n\":1}}";
  const std::string request_head =
    "POST " + opt.endpoint.path + " HTTP/1.1\r\nHost: " + opt.endpoint.host
    + ":" + std::to_string(opt.endpoint.port)
    + "\r\nAuthorization: Bearer " + opt.key;
  const std::string request_tail =
    "\r\nContent-Type: application/json\r\nContent-Length: "
    + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string request = request_head + request_tail;

  std::optional<long long> delivered_before;
  url_parts await_u;
  if (!opt.await_url.empty()) {
    await_u = parse_url(opt.await_url);
    // Retry for a few seconds: a busy provider may be slow to answer.
    for (int i = 0; i < 50 && !delivered_before; ++i) {
      if (i > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      delivered_before = fetch_delivered(await_u);
    }
    if (!delivered_before)
      die("cannot read \"delivered\" from " + opt.await_url);
  }

  // Open every connection before the clock starts, one after the other: a
  // burst of simultaneous SYNs overflows a small listen backlog (httplib's
  // is 5) and the retransmitted SYNs (1 s, 3 s, 7 s) would show up as
  // latency of the first requests, which is not what we measure here.
  std::vector<std::unique_ptr<connection>> conns;
  for (int i = 0; i < opt.connections; ++i) {
    conns.push_back(std::make_unique<connection>(addr, opt.timeout));
    std::string err;
    if (!conns.back()->open(err))
      die("cannot open connection " + std::to_string(i + 1) + " to "
          + opt.url + ": " + err);
  }

  std::vector<thread_result> results(static_cast<size_t>(opt.connections));
  std::atomic<long> tickets{0};
  const bool open_model = opt.rate > 0;
  const double interval_ns = open_model ? 1e9 / opt.rate : 0;
  const long max_requests = opt.requests;
  // Give the threads a moment to start so the schedule starts together.
  const time_point start = clock_type::now() + std::chrono::milliseconds(20);
  const time_point end = start + opt.duration;
  // Hard stop for stragglers in the open model: the schedule ends at `end`,
  // late tickets are still sent, but never after end + timeout.
  const time_point hard_end = end + opt.timeout;

  auto worker = [&](size_t idx) {
    auto& r = results[idx];
    r.latencies_us.reserve(open_model ? static_cast<size_t>(
                             opt.rate * (opt.duration.count() / 1e9)
                             / opt.connections * 1.2 + 16)
                                      : 65536);
    auto& conn = *conns[idx];
    response res;
    std::string err;
    // With --idempotency-prefix every request carries its own key.
    std::string keyed;
    long sent = 0;
    const std::string key_head = request_head + "\r\nIdempotency-Key: "
                                 + opt.idempotency_prefix + "-"
                                 + std::to_string(idx) + "-";
    std::this_thread::sleep_until(start);
    for (;;) {
      time_point scheduled;
      if (open_model) {
        auto k = tickets.fetch_add(1, std::memory_order_relaxed);
        if (max_requests > 0 && k >= max_requests)
          break;
        scheduled = start + nanoseconds(static_cast<int64_t>(k * interval_ns));
        if (scheduled >= end)
          break;
        auto now = clock_type::now();
        if (now >= hard_end)
          break;
        if (scheduled > now)
          std::this_thread::sleep_until(scheduled);
      } else {
        auto now = clock_type::now();
        if (now >= end)
          break;
        if (max_requests > 0
            && tickets.fetch_add(1, std::memory_order_relaxed) >= max_requests)
          break;
        scheduled = now;
      }
      if (!opt.idempotency_prefix.empty()) {
        keyed = key_head;
        keyed += std::to_string(sent++);
        keyed += request_tail;
      }
      if (conn.roundtrip(opt.idempotency_prefix.empty() ? request : keyed, res,
                         err)) {
        auto done = clock_type::now();
        r.last_answer = done;
        auto us = duration_cast<std::chrono::microseconds>(done - scheduled)
                    .count();
        r.latencies_us.push_back(static_cast<uint32_t>(
          std::min<int64_t>(us, std::numeric_limits<uint32_t>::max())));
        ++r.statuses[res.status];
        if (res.status != 202 && r.sample_error_body.empty())
          r.sample_error_body = res.body.substr(0, 300);
      } else {
        ++r.errors[err];
        // Do not spin on a dead server.
        if (err == "connect")
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back(worker, i);
  for (auto& t : threads)
    t.join();

  // Merge.
  std::vector<uint32_t> lat;
  std::map<int, long> statuses;
  std::map<std::string, long> errors;
  time_point last = start;
  std::string sample;
  for (auto& r : results) {
    lat.insert(lat.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (auto& [k, v] : r.statuses)
      statuses[k] += v;
    for (auto& [k, v] : r.errors)
      errors[k] += v;
    last = std::max(last, r.last_answer);
    if (sample.empty())
      sample = r.sample_error_body;
  }
  std::sort(lat.begin(), lat.end());
  long total = 0, s202 = 0, s503 = 0, other = 0, nerr = 0;
  for (auto& [k, v] : statuses) {
    total += v;
    if (k == 202)
      s202 += v;
    else if (k == 503)
      s503 += v;
    else
      other += v;
  }
  for (auto& [k, v] : errors)
    nerr += v;
  // Elapsed: from the start of the schedule to the last answer (the closed
  // model stops sending at `end` and waits for the answers in flight).
  double elapsed = std::max(1e-9, duration_cast<nanoseconds>(last - start).count() / 1e9);
  if (open_model)
    elapsed = std::max(elapsed, opt.duration.count() / 1e9);
  double accepted_per_s = s202 / elapsed;

  double delivered_per_s = 0, delivered_s = 0;
  long long delivered = 0;
  bool await_ok = true;
  if (delivered_before) {
    long long want = opt.await_count >= 0 ? opt.await_count : s202;
    auto give_up = clock_type::now() + opt.await_timeout;
    for (;;) {
      auto d = fetch_delivered(await_u);
      auto now = clock_type::now();
      if (d) {
        delivered = *d - *delivered_before;
        if (delivered >= want) {
          delivered_s = duration_cast<nanoseconds>(now - start).count() / 1e9;
          break;
        }
      }
      if (now >= give_up) {
        await_ok = false;
        delivered_s = duration_cast<nanoseconds>(now - start).count() / 1e9;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    delivered_per_s = delivered / delivered_s;
  }

  if (!opt.quiet) {
    std::printf("herald-loadgen: %d connections, %s, %.1f s\n",
                opt.connections,
                open_model ? ("constant rate " + std::to_string(static_cast<long>(opt.rate)) + "/s").c_str()
                           : "closed loop (as fast as possible)",
                elapsed);
    std::printf("requests: %ld answered, %ld errors\n", total, nerr);
    std::printf("status:");
    for (auto& [k, v] : statuses)
      std::printf(" %d=%ld", k, v);
    std::printf("\n");
    for (auto& [k, v] : errors)
      std::printf("error %s: %ld\n", k.c_str(), v);
    if (!sample.empty())
      std::printf("first non-202 body: %s\n", sample.c_str());
    std::printf("accepted/s: %.0f\n", accepted_per_s);
    std::printf("latency%s: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, "
                "p99.9 %.2f ms, max %.2f ms\n",
                open_model ? " (from scheduled send time)" : "",
                percentile(lat, 50), percentile(lat, 90), percentile(lat, 99),
                percentile(lat, 99.9), lat.empty() ? 0.0 : lat.back() / 1000.0);
    if (delivered_before)
      std::printf("delivered: %lld in %.2f s from the first submission: "
                  "%.0f delivered/s%s\n",
                  delivered, delivered_s, delivered_per_s,
                  await_ok ? "" : " (GAVE UP WAITING)");
  }
  std::printf("RESULT accepted_per_s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
              "p999_ms=%.3f max_ms=%.3f answered=%ld s202=%ld s503=%ld "
              "other=%ld errors=%ld elapsed_s=%.3f",
              accepted_per_s, percentile(lat, 50), percentile(lat, 90),
              percentile(lat, 99), percentile(lat, 99.9),
              lat.empty() ? 0.0 : lat.back() / 1000.0, total, s202, s503,
              other, nerr, elapsed);
  if (delivered_before)
    std::printf(" delivered=%lld delivered_s=%.3f delivered_per_s=%.0f "
                "await_ok=%d",
                delivered, delivered_s, delivered_per_s, await_ok ? 1 : 0);
  std::printf("\n");
  return (nerr > 0 || other > 0 || !await_ok) ? 1 : 0;
}
