// herald-test-links: herald_channels
#define CAF_SUITE webhook_client

#include <caf/test/unit_test.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <httplib.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "channels/webhook_client.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

std::string http_date(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// A loopback port nobody listens on: bind one, note it, close it.
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs an httplib server on a free loopback port in its own thread.
template <class Server>
struct running_server {
  Server& srv;
  std::thread thread;
  int port = 0;

  explicit running_server(Server& s) : srv(s) {
    port = srv.bind_to_any_port("127.0.0.1");
    CAF_REQUIRE(port > 0);
    thread = std::thread([this] { srv.listen_after_bind(); });
    while (!srv.is_running())
      std::this_thread::sleep_for(1ms);
  }

  ~running_server() {
    srv.stop();
    thread.join();
  }
};

struct fixture {
  httplib::Server srv;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::vector<int> remote_ports;
  std::vector<httplib::Request> requests;
  std::unique_ptr<running_server<httplib::Server>> running;

  fixture() {
    srv.set_tcp_nodelay(true);
    srv.set_keep_alive_max_count(1000);
    srv.set_keep_alive_timeout(1);
    srv.Post("/ok", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> guard{mu};
      remote_ports.push_back(req.remote_port);
      requests.push_back(req);
      res.set_content("ok", "text/plain");
    });
    srv.Post("/busy", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_header("Retry-After", "7");
    });
    srv.Post("/limited", [](const httplib::Request&, httplib::Response& res) {
      res.status = 429;
      res.set_header("Retry-After",
                     http_date(std::chrono::system_clock::now() + 30s));
    });
    srv.Post("/gone", [](const httplib::Request&, httplib::Response& res) {
      res.status = 410;
    });
    srv.Post("/slow", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock<std::mutex> lk{mu};
      cv.wait_for(lk, 3s, [this] { return stopping; });
      res.set_content("late", "text/plain");
    });
    running = std::make_unique<running_server<httplib::Server>>(srv);
  }

  ~fixture() {
    {
      std::lock_guard<std::mutex> guard{mu};
      stopping = true;
    }
    cv.notify_all();
    running.reset();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(running->port) + path;
  }
};

// A self-signed certificate, which a verifying client must refuse.
struct self_signed {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;

  self_signed() {
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    auto name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(
                                 "127.0.0.1"),
                               -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
  }

  ~self_signed() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

} // namespace

CAF_TEST(parse_url and endpoint_of) {
  auto u = parse_url("HTTPS://Example.COM/hooks/a?x=1#frag");
  CAF_REQUIRE(u.has_value());
  CAF_CHECK_EQUAL(u->scheme, "https");
  CAF_CHECK_EQUAL(u->host, "example.com");
  CAF_CHECK_EQUAL(u->port, 443);
  CAF_CHECK_EQUAL(u->target, "/hooks/a?x=1");
  CAF_CHECK_EQUAL(u->endpoint, "https://example.com:443");
  CAF_CHECK(endpoint_of("http://example.com") == std::string{"http://example.com:80"});
  CAF_CHECK(endpoint_of("http://example.com:8080/x") == std::string{"http://example.com:8080"});
  CAF_CHECK(endpoint_of("http://example.com:/x") == std::string{"http://example.com:80"});
  CAF_CHECK(endpoint_of("http://[::1]:9000/p") == std::string{"http://[::1]:9000"});
  CAF_CHECK(endpoint_of("https://[2001:DB8::1]") == std::string{"https://[2001:db8::1]:443"});
  CAF_CHECK(endpoint_of("http://h?q") == std::string{"http://h:80"});
  CAF_CHECK_EQUAL(parse_url("http://h?q")->target, "/?q");
  CAF_CHECK_EQUAL(parse_url("http://h")->target, "/");
  for (auto bad : {"", "example.com", "ftp://example.com", "http://",
                   "http:///path", "http://h:0", "http://h:65536",
                   "http://h:99999999999", "http://h:8o", "http://user:pw@h/",
                   "http://h /x", "http://h/\n", "http://[::1", "http://[zz]/",
                   "http://[::1]x/", "http://h%41/", "//h/x", "http:/h"})
    CAF_CHECK_EQUAL(endpoint_of(bad).has_value(), false);
}

CAF_TEST(parse_retry_after_ms) {
  using std::chrono::system_clock;
  // 1994-11-06 08:49:37 UTC.
  auto t = system_clock::time_point{std::chrono::seconds{784111777}};
  CAF_CHECK_EQUAL(parse_retry_after_ms("120", t), 120000);
  CAF_CHECK_EQUAL(parse_retry_after_ms(" 5 ", t), 5000);
  CAF_CHECK_EQUAL(parse_retry_after_ms("0", t), 0);
  CAF_CHECK_EQUAL(parse_retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", t),
                  10000);
  CAF_CHECK_EQUAL(parse_retry_after_ms("Sunday, 06-Nov-94 08:49:57 GMT", t),
                  20000);
  CAF_CHECK_EQUAL(parse_retry_after_ms("Sun Nov  6 08:50:37 1994", t), 60000);
  CAF_CHECK_EQUAL(parse_retry_after_ms("Sun, 06 Nov 1994 08:49:00 GMT", t), 0);
  for (auto bad : {"", "soon", "-5", "1.5", "99999999999", "5s",
                   "Sun, 06 Nov 1994 08:49:47 CET", "Sun, 32 Nov 1994 08:49:47 GMT",
                   "Sun, 06 Foo 1994 08:49:47 GMT"})
    CAF_CHECK_EQUAL(parse_retry_after_ms(bad, t), -1);
}

CAF_TEST_FIXTURE_SCOPE(webhook_client_tests, fixture)

CAF_TEST(a 2xx answer with headers and body delivered) {
  webhook_client client{2s};
  auto res = client.post(url("/ok"), {{"webhook-id", "msg_1"}, {"X-Extra", "1"}},
                         R"({"a":1})", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 200);
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.retry_after_ms, -1);
  CAF_CHECK_EQUAL(res.timed_out, false);
  std::lock_guard<std::mutex> guard{mu};
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  const auto& req = requests.front();
  CAF_CHECK_EQUAL(req.body, R"({"a":1})");
  CAF_CHECK_EQUAL(req.get_header_value("Content-Type"), "application/json");
  CAF_CHECK_EQUAL(req.get_header_value("webhook-id"), "msg_1");
  CAF_CHECK_EQUAL(req.get_header_value("x-extra"), "1");
  CAF_CHECK_EQUAL(req.get_header_value("User-Agent"), "Herald-Webhooks/0.1");
  CAF_CHECK_EQUAL(req.get_header_value_count("Content-Type"), 1u);
}

CAF_TEST(the caller may set the user agent and content type once) {
  webhook_client client{2s};
  auto res = client.post(url("/ok"),
                         {{"User-Agent", "Herald/9"},
                          {"content-type", "text/plain"}},
                         "x", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 200);
  std::lock_guard<std::mutex> guard{mu};
  CAF_REQUIRE_EQUAL(requests.size(), 1u);
  CAF_CHECK_EQUAL(requests[0].get_header_value("User-Agent"), "Herald/9");
  CAF_CHECK_EQUAL(requests[0].get_header_value_count("User-Agent"), 1u);
  CAF_CHECK_EQUAL(requests[0].get_header_value_count("Content-Type"), 1u);
  CAF_CHECK_EQUAL(requests[0].get_header_value("Content-Type"),
                  "application/json");
}

CAF_TEST(503 with Retry-After in seconds) {
  webhook_client client{2s};
  auto res = client.post(url("/busy"), {}, "{}", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 503);
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.retry_after_ms, 7000);
  CAF_CHECK_EQUAL(res.timed_out, false);
}

CAF_TEST(429 with Retry-After as an HTTP date) {
  webhook_client client{2s};
  auto res = client.post(url("/limited"), {}, "{}", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 429);
  // 30 s ahead, minus the second the date format cuts off and test jitter.
  CAF_CHECK_GREATER(res.retry_after_ms, 25000);
  CAF_CHECK_LESS_OR_EQUAL(res.retry_after_ms, 30000);
}

CAF_TEST(a permanent 4xx comes back as such) {
  webhook_client client{2s};
  auto res = client.post(url("/gone"), {}, "{}", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 410);
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.retry_after_ms, -1);
}

CAF_TEST(a receiver slower than the timeout times out) {
  webhook_client client{300ms};
  auto start = steady_clock::now();
  auto res = client.post(url("/slow"), {}, "{}", "application/json");
  auto elapsed = steady_clock::now() - start;
  CAF_CHECK_EQUAL(res.http_status, 0);
  CAF_CHECK_EQUAL(res.timed_out, true);
  CAF_CHECK_NOT_EQUAL(res.error, "");
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK(elapsed >= 300ms);
  CAF_CHECK(elapsed < 2s);
  // The client stays usable for the next delivery.
  auto next = client.post(url("/ok"), {}, "{}", "application/json");
  CAF_CHECK_EQUAL(next.http_status, 200);
}

CAF_TEST(keep alive connections are reused) {
  webhook_client client{2s};
  for (int i = 0; i < 5; ++i) {
    auto res = client.post(url(i % 2 == 0 ? "/ok" : "/ok?i=1"), {}, "{}",
                           "application/json");
    CAF_CHECK_EQUAL(res.http_status, 200);
  }
  CAF_CHECK_EQUAL(client.cached_endpoints(), 1u);
  std::lock_guard<std::mutex> guard{mu};
  CAF_REQUIRE_EQUAL(remote_ports.size(), 5u);
  for (auto p : remote_ports)
    CAF_CHECK_EQUAL(p, remote_ports.front());
}

CAF_TEST(a connection the receiver closed while idle is replaced) {
  webhook_client client{2s};
  CAF_CHECK_EQUAL(client.post(url("/ok"), {}, "{}", "application/json")
                    .http_status,
                  200);
  // The server's keep-alive timeout is 1 s: wait it out, so the next post
  // finds a connection closed by the peer.
  std::this_thread::sleep_for(1500ms);
  auto res = client.post(url("/ok"), {}, "{}", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 200);
  CAF_CHECK_EQUAL(res.error, "");
  std::lock_guard<std::mutex> guard{mu};
  CAF_REQUIRE_EQUAL(remote_ports.size(), 2u);
  CAF_CHECK_NOT_EQUAL(remote_ports[0], remote_ports[1]);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(connection refused is an error without a status) {
  webhook_client client{2s};
  auto url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/x";
  auto start = steady_clock::now();
  auto res = client.post(url, {}, "{}", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 0);
  CAF_CHECK_NOT_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.timed_out, false);
  CAF_CHECK_EQUAL(res.retry_after_ms, -1);
  CAF_CHECK(steady_clock::now() - start < 1s);
  CAF_MESSAGE("error: " << res.error);
}

CAF_TEST(invalid URLs are errors not exceptions) {
  webhook_client client{1s};
  for (auto bad : {"", "not a url", "ftp://example.com/", "http://:80/",
                   "http://h:70000/", "http://user@h/"}) {
    auto res = client.post(bad, {}, "{}", "application/json");
    CAF_CHECK_EQUAL(res.http_status, 0);
    CAF_CHECK_NOT_EQUAL(res.error.find("invalid URL"), std::string::npos);
  }
  CAF_CHECK_EQUAL(client.cached_endpoints(), 0u);
}

CAF_TEST(unresolvable hosts are errors not exceptions) {
  webhook_client client{1s};
  auto res = client.post("http://no-such-host.invalid/x", {}, "{}",
                         "application/json");
  CAF_CHECK_EQUAL(res.http_status, 0);
  CAF_CHECK_NOT_EQUAL(res.error, "");
}

CAF_TEST(the endpoint cache is bounded) {
  webhook_client client{1s, 2};
  for (int i = 0; i < 3; ++i)
    client.post("http://127.0.0.1:" + std::to_string(unused_port()) + "/", {},
                "{}", "application/json");
  CAF_CHECK_EQUAL(client.cached_endpoints(), 2u);
}

CAF_TEST(https verifies the server certificate) {
  self_signed creds;
  httplib::SSLServer srv{creds.cert, creds.key};
  CAF_REQUIRE(srv.is_valid());
  srv.Post("/ok", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  running_server<httplib::SSLServer> running{srv};
  webhook_client client{2s};
  auto res = client.post("https://127.0.0.1:" + std::to_string(running.port)
                           + "/ok",
                         {}, "{}", "application/json");
  CAF_CHECK_EQUAL(res.http_status, 0);
  CAF_CHECK_NOT_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(res.timed_out, false);
  CAF_MESSAGE("error: " << res.error);
}
