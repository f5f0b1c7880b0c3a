// herald-test-links: herald_channels
#define CAF_SUITE fake_provider

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "channels/classify.hpp"
#include "channels/fcm.hpp"
#include "channels/smtp_client.hpp"
#include "channels/twilio.hpp"
#include "channels/webhook_client.hpp"
#include "channels/webhook_signature.hpp"
#include "channels/webpush.hpp"
#include "core/crypto.hpp"

#include <caf/test/unit_test_impl.hpp>

extern char** environ;

using namespace herald;
using namespace std::chrono_literals;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

using header_list = std::vector<std::pair<std::string, std::string>>;

const std::string secret_a = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string secret_b = webhook::new_webhook_secret();

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

header_list signed_headers(const std::string& secret, const std::string& id,
                           const std::string& body, int64_t ts = now_s()) {
  return {{"webhook-id", id},
          {"webhook-timestamp", std::to_string(ts)},
          {"webhook-signature", webhook::sign(secret, id, ts, body)}};
}

// Polls `f` until it returns true or `timeout` passes: waits on a condition
// instead of guessing how long it takes.
template <class F>
bool eventually(F f, milliseconds timeout = 10s) {
  auto deadline = steady_clock::now() + timeout;
  for (;;) {
    if (f())
      return true;
    if (steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

// errno of a plain TCP connect to 127.0.0.1:port (0 = connected).
int connect_errno(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// The fake-provider binary as a child process; its ports are read from the
// lines it prints on stdout.
class provider_process {
public:
  explicit provider_process(std::vector<std::string> args) {
    args.insert(args.begin(), HERALD_FAKE_PROVIDER);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    CAF_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    auto rc = posix_spawn(&pid_, HERALD_FAKE_PROVIDER, &actions, nullptr,
                          argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
    CAF_REQUIRE_EQUAL(rc, 0);
  }

  ~provider_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0)
      ::close(out_);
  }

  // Reads stdout until both port lines arrived; false on EOF or timeout.
  bool read_ports(milliseconds timeout = 10s) {
    auto deadline = steady_clock::now() + timeout;
    std::string buf;
    while (port == 0 || control_port == 0) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline
                                                           - steady_clock::now());
      if (left <= 0ms)
        return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char chunk[256];
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0)
        return false;
      buf.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        auto line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        output += line + "\n";
        parse_port(line, "fake-provider: webhooks on 127.0.0.1:", port);
        // Printed before the control line when --smtp-port is given.
        parse_port(line, "fake-provider: smtp on 127.0.0.1:", smtp_port);
        parse_port(line, "fake-provider: control on 127.0.0.1:", control_port);
      }
    }
    return true;
  }

  // Waits for the process to end by itself; its exit code, -1 on timeout or
  // a signal.
  int wait_exit(milliseconds timeout = 10s) {
    int status = 0;
    auto ended = eventually(
      [&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!ended)
      return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // SIGTERM and wait: the exit code (0 = clean stop).
  int terminate() {
    ::kill(pid_, SIGTERM);
    return wait_exit();
  }

  int port = 0;
  int control_port = 0;
  int smtp_port = 0;
  std::string output;

private:
  static void parse_port(const std::string& line, const std::string& prefix,
                         int& out) {
    if (line.rfind(prefix, 0) == 0)
      out = std::stoi(line.substr(prefix.size()));
  }

  pid_t pid_ = -1;
  int out_ = -1;
};

struct fixture {
  provider_process proc{{"--port=0", "--control-port=0", "--secret=" + secret_a,
                         "--secret=" + secret_b, "--threads=16"}};
  std::unique_ptr<webhook_client> client = std::make_unique<webhook_client>(5s);
  std::unique_ptr<httplib::Client> control;

  fixture() {
    CAF_REQUIRE(proc.read_ports());
    control = std::make_unique<httplib::Client>("127.0.0.1", proc.control_port);
    control->set_connection_timeout(5s);
    control->set_read_timeout(5s);
  }

  ~fixture() {
    // Close our keep-alive connection first: the provider waits for idle
    // connections when it stops.
    client.reset();
    CAF_CHECK_EQUAL(proc.terminate(), 0);
  }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(proc.port) + path;
  }

  post_result deliver(const std::string& id, const std::string& body = "{}",
                      const std::string& secret = secret_a) {
    return client->post(url(), signed_headers(secret, id, body), body,
                       "application/json");
  }

  json stats(bool ids = false) {
    auto res = control->Get(ids ? "/stats?ids=1" : "/stats");
    CAF_REQUIRE(res);
    CAF_REQUIRE_EQUAL(res->status, 200);
    return json::parse(res->body);
  }

  // POST /control; returns the status and fills `body`.
  int set_faults(const std::string& payload, json* body = nullptr) {
    auto res = control->Post("/control", payload, "application/json");
    CAF_REQUIRE(res);
    if (body)
      *body = json::parse(res->body, nullptr, false);
    return res->status;
  }
};

} // namespace

CAF_TEST(bad command lines fail with a message) {
  for (auto bad : {"--port=abc", "--port=70000", "--bogus=1", "--secret=nope!",
                   "positional", "--fcm-token=", "--twilio-auth-token=",
                   "--twilio-callback-delay-ms=soon", "--smtp-port=abc",
                   "--smtp-port=70000", "--smtp-port="}) {
    provider_process proc{{bad}};
    CAF_CHECK_EQUAL(proc.wait_exit(), 2);
  }
}

CAF_TEST_FIXTURE_SCOPE(fake_provider_tests, fixture)

CAF_TEST(signed deliveries are counted by id) {
  for (int i = 0; i < 5; ++i) {
    auto res = deliver("msg_" + std::to_string(i), R"({"n":1})");
    CAF_CHECK_EQUAL(res.http_status, 200);
    CAF_CHECK_EQUAL(res.error, "");
  }
  // A redelivery of msg_0, signed with the other (rotated) secret.
  CAF_CHECK_EQUAL(deliver("msg_0", "{}", secret_b).http_status, 200);
  auto s = stats(true);
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 6);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 6);
  CAF_CHECK_EQUAL(s["unique"].get<int64_t>(), 5);
  CAF_CHECK_EQUAL(s["duplicates"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["bad_signature"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["failed_injected"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["refusing"].get<bool>(), false);
  CAF_CHECK_EQUAL(s["ids"]["msg_0"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["ids"]["msg_4"].get<int64_t>(), 1);
  CAF_CHECK(!stats().contains("ids"));
}

CAF_TEST(bad and missing signatures are rejected with 401) {
  auto body = std::string{R"({"x":1})"};
  // No signature headers at all.
  CAF_CHECK_EQUAL(client->post(url(), {}, body, "application/json").http_status,
                  401);
  // Signed with a secret the provider does not know.
  CAF_CHECK_EQUAL(client
                    ->post(url(),
                          signed_headers(webhook::new_webhook_secret(), "m1",
                                         body),
                          body, "application/json")
                    .http_status,
                  401);
  // Signed body differs from the sent one.
  CAF_CHECK_EQUAL(client
                    ->post(url(), signed_headers(secret_a, "m2", body),
                          R"({"x":2})", "application/json")
                    .http_status,
                  401);
  // Correct signature, but outside the 5 minute tolerance.
  CAF_CHECK_EQUAL(client
                    ->post(url(),
                          signed_headers(secret_a, "m3", body, now_s() - 600),
                          body, "application/json")
                    .http_status,
                  401);
  CAF_CHECK_EQUAL(deliver("m4", body).http_status, 200);
  auto s = stats();
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 5);
  CAF_CHECK_EQUAL(s["bad_signature"].get<int64_t>(), 4);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["unique"].get<int64_t>(), 1);
}

CAF_TEST(fail rate 1 fails every request until reset) {
  json answer;
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":1.0,"fail_status":503,"retry_after":"2"})",
                               &answer),
                    200);
  CAF_CHECK_EQUAL(answer["fail_rate"].get<double>(), 1.0);
  for (int i = 0; i < 10; ++i) {
    auto res = deliver("f" + std::to_string(i));
    CAF_CHECK_EQUAL(res.http_status, 503);
    CAF_CHECK_EQUAL(res.retry_after_ms, 2000);
  }
  auto s = stats();
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 10);
  CAF_CHECK_EQUAL(s["failed_injected"].get<int64_t>(), 10);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["unique"].get<int64_t>(), 0);
  auto reset = control->Post("/reset", "", "application/json");
  CAF_REQUIRE(reset);
  CAF_CHECK_EQUAL(reset->status, 200);
  CAF_CHECK_EQUAL(deliver("f0").http_status, 200);
  s = stats();
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["failed_injected"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 1);
}

CAF_TEST(a partial fail rate fails some and delivers the rest) {
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":0.5,"fail_status":429})"), 200);
  int failed = 0;
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    auto status = deliver("p" + std::to_string(i)).http_status;
    failed += status == 429;
    ok += status == 200;
  }
  CAF_CHECK_EQUAL(failed + ok, 200);
  // Binomial(200, 0.5): outside [50, 150] has probability ~1e-12.
  CAF_CHECK_GREATER(failed, 50);
  CAF_CHECK_GREATER(ok, 50);
  auto s = stats();
  CAF_CHECK_EQUAL(s["failed_injected"].get<int64_t>(), failed);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), ok);
}

CAF_TEST(latency is added to answers) {
  CAF_REQUIRE_EQUAL(set_faults(R"({"latency_ms":300})"), 200);
  auto start = steady_clock::now();
  CAF_CHECK_EQUAL(deliver("slow").http_status, 200);
  CAF_CHECK(steady_clock::now() - start >= 300ms);
}

CAF_TEST(refuse_ms refuses connections for real and then accepts again) {
  // Open a keep-alive connection first: it must not keep working either.
  CAF_CHECK_EQUAL(deliver("before").http_status, 200);
  json answer;
  CAF_REQUIRE_EQUAL(set_faults(R"({"refuse_ms":1500})", &answer), 200);
  CAF_CHECK_EQUAL(answer["refusing"].get<bool>(), true);
  CAF_CHECK_EQUAL(stats()["refusing"].get<bool>(), true);
  // The listening socket is closed before the control answer.
  CAF_CHECK_EQUAL(connect_errno(proc.port), ECONNREFUSED);
  auto during = deliver("during");
  CAF_CHECK_EQUAL(during.http_status, 0);
  CAF_CHECK_NOT_EQUAL(during.error, "");
  auto fresh = webhook_client{2s}.post(url(), signed_headers(secret_a, "x", "{}"),
                                       "{}", "application/json");
  CAF_CHECK_EQUAL(fresh.http_status, 0);
  // After the window the same port listens again.
  CAF_CHECK(eventually([&] { return deliver("after").http_status == 200; }));
  auto s = stats(true);
  CAF_CHECK_EQUAL(s["refusing"].get<bool>(), false);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 2);
  CAF_CHECK(!s["ids"].contains("during"));
  CAF_CHECK_EQUAL(connect_errno(proc.port), 0);
}

CAF_TEST(refuse_ms 0 ends a refusal early) {
  CAF_REQUIRE_EQUAL(set_faults(R"({"refuse_ms":600000})"), 200);
  CAF_CHECK_EQUAL(connect_errno(proc.port), ECONNREFUSED);
  CAF_REQUIRE_EQUAL(set_faults(R"({"refuse_ms":0})"), 200);
  CAF_CHECK(eventually([&] { return deliver("back").http_status == 200; }));
  CAF_CHECK_EQUAL(stats()["refusing"].get<bool>(), false);
}

CAF_TEST(malformed control requests are rejected and change nothing) {
  json answer;
  CAF_CHECK_EQUAL(set_faults("not json", &answer), 400);
  CAF_CHECK(answer.contains("error"));
  CAF_CHECK_EQUAL(set_faults("[1,2]"), 400);
  CAF_CHECK_EQUAL(set_faults(R"({"fail_rate":2})", &answer), 400);
  CAF_CHECK_EQUAL(answer["field"].get<std::string>(), "fail_rate");
  CAF_CHECK_EQUAL(set_faults(R"({"fail_rate":"0.5"})"), 400);
  CAF_CHECK_EQUAL(set_faults(R"({"fail_status":200})"), 400);
  CAF_CHECK_EQUAL(set_faults(R"({"latency_ms":-1})"), 400);
  CAF_CHECK_EQUAL(set_faults(R"({"refuse_ms":1.5})"), 400);
  CAF_CHECK_EQUAL(set_faults(R"({"retry_after":"1\r\nX-Evil: 1"})"), 400);
  // One bad field spoils the whole request.
  CAF_CHECK_EQUAL(set_faults(R"({"fail_rate":0.5,"bogus":true})", &answer), 400);
  CAF_CHECK_EQUAL(answer["field"].get<std::string>(), "bogus");
  auto current = control->Get("/control");
  CAF_REQUIRE(current);
  auto faults = json::parse(current->body);
  CAF_CHECK_EQUAL(faults["fail_rate"].get<double>(), 0.0);
  CAF_CHECK_EQUAL(faults["fail_status"].get<int64_t>(), 503);
  auto health = control->Get("/health");
  CAF_REQUIRE(health);
  CAF_CHECK_EQUAL(health->status, 200);
  CAF_CHECK_EQUAL(deliver("still-fine").http_status, 200);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(without secrets every POST is accepted and counted) {
  provider_process proc{{"--port=0", "--control-port=0"}};
  CAF_REQUIRE(proc.read_ports());
  {
    // Scoped: its idle keep-alive connection would delay the stop below.
    webhook_client client{5s};
    auto base = "http://127.0.0.1:" + std::to_string(proc.port);
    CAF_CHECK_EQUAL(client.post(base + "/a", {{"webhook-id", "u1"}}, "{}",
                                "application/json")
                      .http_status,
                    200);
    CAF_CHECK_EQUAL(client.post(base + "/b/c?x=1", {}, "{}",
                                "application/json")
                      .http_status,
                    200);
  }
  httplib::Client control{"127.0.0.1", proc.control_port};
  auto res = control.Get("/stats");
  CAF_REQUIRE(res);
  auto s = json::parse(res->body);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["unique"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["without_id"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["bad_signature"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(proc.terminate(), 0);
}

// --- provider shapes ----------------------------------------------------------

namespace {

const std::string twilio_sid = "ACtest";
const std::string twilio_token = "twilio-token";

// Status callbacks POSTed to a small receiver of the test's own.
class callback_receiver {
public:
  struct callback {
    std::string target; // path and query
    std::string body;
    std::string signature;
  };

  callback_receiver() {
    srv_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::string target = req.path;
      if (!req.params.empty()) {
        // httplib splits the query off; this test sends one in a fixed form.
        target += "?tenant=" + req.get_param_value("tenant");
      }
      std::lock_guard<std::mutex> guard{mu_};
      got_.push_back({target, req.body,
                      req.get_header_value("X-Twilio-Signature")});
      res.status = 204;
    });
    port = srv_.bind_to_any_port("127.0.0.1");
    CAF_REQUIRE(port > 0);
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    CAF_REQUIRE(eventually([this] { return srv_.is_running(); }));
  }

  ~callback_receiver() {
    srv_.stop();
    thread_.join();
  }

  std::vector<callback> received() {
    std::lock_guard<std::mutex> guard{mu_};
    return got_;
  }

  std::string url(const std::string& tenant) const {
    return "http://127.0.0.1:" + std::to_string(port)
           + "/receipts/sms?tenant=" + tenant;
  }

  int port = 0;

private:
  httplib::Server srv_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<callback> got_;
};

std::string field(const twilio::form_fields& fields, const std::string& name) {
  for (const auto& [k, v] : fields)
    if (k == name)
      return v;
  return "<absent>";
}

struct shape_fixture : fixture {
  std::string base() const {
    return "http://127.0.0.1:" + std::to_string(proc.port);
  }

  twilio::settings sms_settings() const {
    twilio::settings cfg;
    cfg.base_url = base();
    cfg.account_sid = twilio_sid;
    cfg.auth_token = twilio_token;
    cfg.from = "+15005550006";
    return cfg;
  }

  fcm::settings fcm_settings() const {
    fcm::settings cfg;
    cfg.base_url = base();
    cfg.project = "herald-test";
    cfg.token = "fcm-token";
    return cfg;
  }

  template <class Request>
  post_result send(const Request& req, const std::string& request_id = {}) {
    auto headers = req.headers;
    if (!request_id.empty())
      headers.emplace_back("X-Request-Id", request_id);
    return client->post(req.url, headers, req.body, req.content_type);
  }

  post_result sms(const std::string& to, const std::string& text = "hello",
                  const std::string& request_id = {}) {
    return send(twilio::build_request(sms_settings(), to, text), request_id);
  }

  post_result push(const std::string& token, const std::string& data = "",
                   const std::string& request_id = {}) {
    auto req = fcm::build_request(fcm_settings(), token, "Title", "Body", data);
    CAF_REQUIRE_EQUAL(req.error, "");
    return send(req, request_id);
  }

  json messages(const std::string& shape, int limit = 0) {
    auto path = "/messages?shape=" + shape;
    if (limit > 0)
      path += "&limit=" + std::to_string(limit);
    auto res = control->Get(path.c_str());
    CAF_REQUIRE(res);
    CAF_REQUIRE_EQUAL(res->status, 200);
    return json::parse(res->body)["messages"];
  }

  json shape_stats(const std::string& shape) {
    return stats()["shapes"][shape];
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(provider_shape_tests, shape_fixture)

CAF_TEST(the sms shape refuses wrong credentials) {
  auto cfg = sms_settings();
  cfg.auth_token = "wrong";
  auto res = send(twilio::build_request(cfg, "+15551230000", "x"));
  CAF_CHECK_EQUAL(res.http_status, 401);
  auto answer = twilio::parse_response(res.body);
  CAF_CHECK_EQUAL(answer.error_code, "20003");
  CAF_CHECK_EQUAL(to_string(classify_sms(res.http_status, answer.error_code).kind),
                  std::string{"permanent"});
  // Credentials of another account, in that account's URL.
  cfg = sms_settings();
  cfg.account_sid = "ACother";
  CAF_CHECK_EQUAL(send(twilio::build_request(cfg, "+15551230000", "x")).http_status,
                  401);
  // Good credentials, another account's URL: not found, as with Twilio.
  auto req = twilio::build_request(sms_settings(), "+15551230000", "x");
  req.url = base() + "/2010-04-01/Accounts/ACother/Messages.json";
  res = send(req);
  CAF_CHECK_EQUAL(res.http_status, 404);
  CAF_CHECK_EQUAL(twilio::parse_response(res.body).error_code, "20404");
  auto s = stats();
  CAF_CHECK_EQUAL(s["shapes"]["sms"]["received"].get<int64_t>(), 3);
  CAF_CHECK_EQUAL(s["shapes"]["sms"]["unauthorized"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["shapes"]["sms"]["rejected"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["shapes"]["sms"]["delivered"].get<int64_t>(), 0);
  // The webhook counters do not see the shapes.
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["bad_signature"].get<int64_t>(), 0);
}

CAF_TEST(the sms shape accepts a message and records it) {
  std::string text = "Grüße & 100% sure? a+b=c";
  auto res = sms("+15551234567", text, "req-sms-1");
  CAF_REQUIRE_EQUAL(res.http_status, 201);
  auto answer = twilio::parse_response(res.body);
  CAF_CHECK_EQUAL(answer.status, "queued");
  CAF_CHECK_EQUAL(answer.error_code, "");
  CAF_REQUIRE_EQUAL(answer.sid.size(), 34u);
  CAF_CHECK_EQUAL(answer.sid.substr(0, 2), "SM");
  CAF_CHECK_EQUAL(answer.sid.find_first_not_of("0123456789abcdef", 2),
                  std::string::npos);
  auto body = json::parse(res.body);
  CAF_CHECK_EQUAL(body["body"].get<std::string>(), text);
  CAF_CHECK_EQUAL(body["to"].get<std::string>(), "+15551234567");
  CAF_CHECK_EQUAL(body["from"].get<std::string>(), "+15005550006");
  CAF_CHECK_EQUAL(sms("+15551234568", "second").http_status, 201);
  auto got = messages("sms");
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_CHECK_EQUAL(got[0]["to"].get<std::string>(), "+15551234567");
  CAF_CHECK_EQUAL(got[0]["from"].get<std::string>(), "+15005550006");
  CAF_CHECK_EQUAL(got[0]["body"].get<std::string>(), text);
  CAF_CHECK_EQUAL(got[0]["sid"].get<std::string>(), answer.sid);
  CAF_CHECK_EQUAL(got[0]["status"].get<int64_t>(), 201);
  CAF_CHECK_EQUAL(got[0]["request_id"].get<std::string>(), "req-sms-1");
  CAF_CHECK_EQUAL(got[1]["body"].get<std::string>(), "second");
  CAF_CHECK_EQUAL(got[1]["request_id"].get<std::string>(), "");
  auto last = messages("sms", 1);
  CAF_REQUIRE_EQUAL(last.size(), 1u);
  CAF_CHECK_EQUAL(last[0]["body"].get<std::string>(), "second");
  auto s = shape_stats("sms");
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 2);
  CAF_CHECK(messages("fcm").empty());
  for (auto bad : {"/messages", "/messages?shape=mms",
                   "/messages?shape=sms&limit=0",
                   "/messages?shape=sms&limit=x"}) {
    auto r = control->Get(bad);
    CAF_REQUIRE(r);
    CAF_CHECK_EQUAL(r->status, 400);
  }
}

CAF_TEST(the sms test numbers answer as Twilio does) {
  struct expectation {
    const char* to;
    int status;
    const char* code;
    const char* kind;
  };
  for (auto e : {expectation{"+15005550001", 400, "21211", "permanent"},
                 expectation{"+15005550009", 400, "21614", "permanent"},
                 expectation{"+15005550003", 429, "20429", "retryable"}}) {
    CAF_MESSAGE("To " << e.to);
    auto res = sms(e.to);
    CAF_CHECK_EQUAL(res.http_status, e.status);
    auto answer = twilio::parse_response(res.body);
    CAF_CHECK_EQUAL(answer.error_code, e.code);
    CAF_CHECK_NOT_EQUAL(answer.message, "");
    CAF_CHECK_EQUAL(answer.sid, "");
    auto c = classify_sms(res.http_status, answer.error_code,
                          res.retry_after_ms);
    CAF_CHECK_EQUAL(to_string(c.kind), std::string{e.kind});
  }
  CAF_CHECK_EQUAL(sms("+15005550003").retry_after_ms, 1000);
  // A form without a body is Twilio's 21602.
  auto req = twilio::build_request(sms_settings(), "+15551234567", "");
  auto res = send(req);
  CAF_CHECK_EQUAL(res.http_status, 400);
  CAF_CHECK_EQUAL(twilio::parse_response(res.body).error_code, "21602");
  auto got = messages("sms");
  CAF_REQUIRE_EQUAL(got.size(), 5u);
  CAF_CHECK_EQUAL(got[0]["status"].get<int64_t>(), 400);
  CAF_CHECK_EQUAL(got[2]["status"].get<int64_t>(), 429);
  auto s = shape_stats("sms");
  CAF_CHECK_EQUAL(s["rejected"].get<int64_t>(), 5);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["max_per_second"].get<int64_t>(), 0);
}

CAF_TEST(sms status callbacks arrive signed with the auth token) {
  callback_receiver receiver;
  auto cfg = sms_settings();
  cfg.status_callback = receiver.url("t1");
  auto ok = send(twilio::build_request(cfg, "+15551234567", "receipt please"));
  CAF_REQUIRE_EQUAL(ok.http_status, 201);
  auto ok_sid = twilio::parse_response(ok.body).sid;
  auto bad = send(twilio::build_request(cfg, "+15005550006", "unreachable"));
  CAF_REQUIRE_EQUAL(bad.http_status, 201);
  auto bad_sid = twilio::parse_response(bad.body).sid;
  // Refused messages get no receipt.
  CAF_CHECK_EQUAL(send(twilio::build_request(cfg, "+15005550001", "x")).http_status,
                  400);
  CAF_REQUIRE(eventually([&] { return receiver.received().size() >= 2; }));
  auto got = receiver.received();
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  for (const auto& cb : got) {
    CAF_CHECK_EQUAL(cb.target, "/receipts/sms?tenant=t1");
    auto fields = twilio::form_decode(cb.body);
    CAF_REQUIRE(fields);
    CAF_CHECK(twilio::verify_signature(twilio_token, cfg.status_callback,
                                       *fields, cb.signature));
    CAF_CHECK(!twilio::verify_signature("other-token", cfg.status_callback,
                                        *fields, cb.signature));
    CAF_CHECK(!twilio::verify_signature(twilio_token, receiver.url("t2"),
                                        *fields, cb.signature));
    CAF_CHECK_EQUAL(field(*fields, "AccountSid"), twilio_sid);
    CAF_CHECK_EQUAL(field(*fields, "From"), "+15005550006");
    auto sid = field(*fields, "MessageSid");
    if (sid == ok_sid) {
      CAF_CHECK_EQUAL(field(*fields, "MessageStatus"), "delivered");
      CAF_CHECK_EQUAL(field(*fields, "To"), "+15551234567");
      CAF_CHECK_EQUAL(field(*fields, "ErrorCode"), "<absent>");
    } else {
      CAF_CHECK_EQUAL(sid, bad_sid);
      CAF_CHECK_EQUAL(field(*fields, "MessageStatus"), "undelivered");
      CAF_CHECK_EQUAL(field(*fields, "To"), "+15005550006");
      CAF_CHECK_EQUAL(field(*fields, "ErrorCode"), "30003");
    }
  }
  CAF_CHECK(eventually([&] {
    return shape_stats("sms")["callbacks_sent"].get<int64_t>() == 2;
  }));
  CAF_CHECK_EQUAL(shape_stats("sms")["callbacks_failed"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(messages("sms")[0]["status_callback"].get<std::string>(),
                  cfg.status_callback);
}

CAF_TEST(the fcm shape refuses a wrong bearer token) {
  auto cfg = fcm_settings();
  cfg.token = "expired";
  auto res = send(fcm::build_request(cfg, "device-1", "t", "b", ""));
  CAF_CHECK_EQUAL(res.http_status, 401);
  auto answer = fcm::parse_response(res.body);
  CAF_CHECK_EQUAL(answer.status, "UNAUTHENTICATED");
  CAF_CHECK_EQUAL(to_string(classify_push(401, fcm::classify_reason(answer)).kind),
                  std::string{"permanent"});
  CAF_CHECK(!fcm::token_dead(401, answer));
  auto s = shape_stats("fcm");
  CAF_CHECK_EQUAL(s["unauthorized"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 1);
  CAF_CHECK(messages("fcm").empty());
}

CAF_TEST(the fcm shape accepts a message and records it) {
  auto res = push("device-1", R"({"order": 42, "kind": "receipt", "ok": true})",
                  "req-fcm-1");
  CAF_REQUIRE_EQUAL(res.http_status, 200);
  auto answer = fcm::parse_response(res.body);
  CAF_CHECK_EQUAL(answer.name.rfind("projects/herald-test/messages/", 0), 0u);
  CAF_CHECK_EQUAL(answer.status, "");
  auto got = messages("fcm");
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0]["token"].get<std::string>(), "device-1");
  CAF_CHECK_EQUAL(got[0]["title"].get<std::string>(), "Title");
  CAF_CHECK_EQUAL(got[0]["body"].get<std::string>(), "Body");
  CAF_CHECK(got[0]["data"]
            == json::parse(R"({"order": "42", "kind": "receipt", "ok": "true"})"));
  CAF_CHECK_EQUAL(got[0]["name"].get<std::string>(), answer.name);
  CAF_CHECK_EQUAL(got[0]["project"].get<std::string>(), "herald-test");
  CAF_CHECK_EQUAL(got[0]["request_id"].get<std::string>(), "req-fcm-1");
  CAF_CHECK_EQUAL(got[0]["status"].get<int64_t>(), 200);
  auto s = shape_stats("fcm");
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["max_per_second"].get<int64_t>(), 1);
}

CAF_TEST(fcm device tokens decide the outcome) {
  auto res = push("dead-1");
  CAF_CHECK_EQUAL(res.http_status, 404);
  auto answer = fcm::parse_response(res.body);
  CAF_CHECK_EQUAL(answer.error_code, "UNREGISTERED");
  CAF_CHECK(fcm::token_dead(res.http_status, answer));
  CAF_CHECK_EQUAL(to_string(classify_push(404, fcm::classify_reason(answer)).kind),
                  std::string{"permanent"});
  res = push("bad-1");
  CAF_CHECK_EQUAL(res.http_status, 400);
  answer = fcm::parse_response(res.body);
  CAF_CHECK_EQUAL(answer.status, "INVALID_ARGUMENT");
  CAF_CHECK(fcm::token_dead(res.http_status, answer));
  res = push("unavailable-1");
  CAF_CHECK_EQUAL(res.http_status, 503);
  answer = fcm::parse_response(res.body);
  CAF_CHECK_EQUAL(fcm::classify_reason(answer), "UNAVAILABLE");
  CAF_CHECK(!fcm::token_dead(res.http_status, answer));
  CAF_CHECK_EQUAL(to_string(classify_push(503, fcm::classify_reason(answer)).kind),
                  std::string{"retryable"});
  // Data values must be strings: a client that does not stringify them gets
  // a permanent error that says nothing about the token.
  auto req = fcm::build_request(fcm_settings(), "device-2", "t", "b", "");
  req.body = R"({"message": {"token": "device-2", "data": {"n": 1}}})";
  res = send(req);
  CAF_CHECK_EQUAL(res.http_status, 400);
  answer = fcm::parse_response(res.body);
  CAF_CHECK_EQUAL(answer.status, "INVALID_ARGUMENT");
  CAF_CHECK(!fcm::token_dead(res.http_status, answer));
  req.body = "not json";
  CAF_CHECK_EQUAL(send(req).http_status, 400);
  auto s = shape_stats("fcm");
  CAF_CHECK_EQUAL(s["rejected"].get<int64_t>(), 5);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(messages("fcm").size(), 5u);
}

CAF_TEST(injected faults apply to every shape) {
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":1.0,"fail_status":503,"retry_after":"2"})"),
                    200);
  auto res = sms("+15551234567");
  CAF_CHECK_EQUAL(res.http_status, 503);
  CAF_CHECK_EQUAL(res.retry_after_ms, 2000);
  CAF_CHECK_EQUAL(twilio::parse_response(res.body).error_code, "20503");
  res = push("device-1");
  CAF_CHECK_EQUAL(res.http_status, 503);
  CAF_CHECK_EQUAL(res.retry_after_ms, 2000);
  CAF_CHECK_EQUAL(fcm::classify_reason(fcm::parse_response(res.body)),
                  "UNAVAILABLE");
  // Credentials are checked before the dice roll, as the webhooks'
  // signatures are.
  auto cfg = sms_settings();
  cfg.auth_token = "wrong";
  CAF_CHECK_EQUAL(send(twilio::build_request(cfg, "+15551234567", "x")).http_status,
                  401);
  auto s = stats();
  CAF_CHECK_EQUAL(s["shapes"]["sms"]["failed_injected"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["shapes"]["fcm"]["failed_injected"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["failed_injected"].get<int64_t>(), 0);
  CAF_CHECK(messages("sms").empty());
  // Latency, then refusal.
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":0,"latency_ms":300})"), 200);
  auto start = steady_clock::now();
  CAF_CHECK_EQUAL(push("device-1").http_status, 200);
  CAF_CHECK(steady_clock::now() - start >= 300ms);
  CAF_REQUIRE_EQUAL(set_faults(R"({"latency_ms":0,"refuse_ms":600000})"), 200);
  CAF_CHECK_EQUAL(sms("+15551234567").http_status, 0);
  CAF_REQUIRE_EQUAL(set_faults(R"({"refuse_ms":0})"), 200);
  CAF_CHECK(eventually([&] { return sms("+15551234567").http_status == 201; }));
}

CAF_TEST(max_per_second counts accepted requests within one second) {
  // Ten back to back over one keep-alive connection take milliseconds.
  for (int i = 0; i < 10; ++i)
    CAF_REQUIRE_EQUAL(sms("+1555000" + std::to_string(1000 + i)).http_status,
                      201);
  // Refused ones do not count.
  CAF_CHECK_EQUAL(sms("+15005550001").http_status, 400);
  CAF_CHECK_EQUAL(push("device-1").http_status, 200);
  auto s = stats();
  CAF_CHECK_EQUAL(s["shapes"]["sms"]["max_per_second"].get<int64_t>(), 10);
  CAF_CHECK_EQUAL(s["shapes"]["fcm"]["max_per_second"].get<int64_t>(), 1);
  auto reset = control->Post("/reset", "", "application/json");
  CAF_REQUIRE(reset);
  CAF_CHECK_EQUAL(reset->status, 200);
  s = stats();
  for (auto shape : {"sms", "fcm"}) {
    CAF_CHECK_EQUAL(s["shapes"][shape]["received"].get<int64_t>(), 0);
    CAF_CHECK_EQUAL(s["shapes"][shape]["max_per_second"].get<int64_t>(), 0);
    CAF_CHECK(messages(shape).empty());
  }
}

CAF_TEST_FIXTURE_SCOPE_END()

// --- Web Push -----------------------------------------------------------------

namespace {

// Two application server keys, made for these tests only
// (openssl ecparam -name prime256v1 -genkey -noout).
const std::string vapid_pem_a = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEICMD3XJ3VuL41mj2axceksznTKURaUgJHRQdOqpa3iihoAoGCCqGSM49
AwEHoUQDQgAEQULkHgXt+Yll0p8iNfBCsbpF9HzrLN5/qnVQha61iRZcQWuScAxE
FJcCZzhWX2CqIY/MH0wDgHpHvzkjBCvO6w==
-----END EC PRIVATE KEY-----
)";
const std::string vapid_pem_b = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIIj+0PAYqxEyj5cpd5o6TMRIHzY000WxMKeIjZqz4WZvoAoGCCqGSM49
AwEHoUQDQgAEWEB0hdPgqsKHftWKuEJxf3bNVPTih3cBftcbfFRgxwXySRHBvjV1
wtkZQndZ/l6yqKQUDjiWdb+DgIEC2D46LA==
-----END EC PRIVATE KEY-----
)";

const std::string vapid_subject = "mailto:ops@example.com";

std::unique_ptr<webpush::vapid_signer> load_signer(const std::string& pem) {
  std::string error;
  auto signer = webpush::vapid_signer::from_pem(pem, error);
  CAF_REQUIRE_EQUAL(error, "");
  CAF_REQUIRE(signer != nullptr);
  return signer;
}

// A subscription from the factory of the fake behind `control`; `id` gets
// its id.
webpush::subscription subscribe(httplib::Client& control,
                                std::string* id = nullptr) {
  auto res = control.Post("/webpush/subscriptions", "", "application/json");
  CAF_REQUIRE(res);
  CAF_REQUIRE_EQUAL(res->status, 201);
  if (id)
    *id = json::parse(res->body)["id"].get<std::string>();
  std::string error;
  auto sub = webpush::parse_subscription(res->body, error);
  CAF_REQUIRE_EQUAL(error, "");
  CAF_REQUIRE(sub);
  return *sub;
}

std::string encrypt_for(const webpush::subscription& sub,
                        const std::string& plaintext) {
  std::string error;
  auto body = webpush::encrypt(sub, plaintext, error);
  CAF_REQUIRE_EQUAL(error, "");
  CAF_REQUIRE(body);
  return *body;
}

header_list push_headers(const webpush::subscription& sub,
                         const webpush::vapid_signer& signer) {
  return {{"TTL", "60"},
          {"Content-Encoding", "aes128gcm"},
          {"Urgency", "high"},
          {"Authorization",
           signer.authorization(sub.endpoint, vapid_subject, now_s())}};
}

header_list without(header_list headers, const std::string& name) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) { return h.first == name; }),
                headers.end());
  return headers;
}

header_list with(header_list headers, const std::string& name,
                 const std::string& value) {
  headers = without(std::move(headers), name);
  headers.emplace_back(name, value);
  return headers;
}

struct webpush_fixture : shape_fixture {
  std::unique_ptr<webpush::vapid_signer> vapid = load_signer(vapid_pem_a);

  post_result push_to(const webpush::subscription& sub, const std::string& body,
                      const header_list& headers) {
    return client->post(sub.endpoint, headers, body,
                        "application/octet-stream");
  }

  std::string reason_of(const post_result& res) {
    auto j = json::parse(res.body, nullptr, false);
    return j.is_object() && j.contains("reason")
             ? j["reason"].get<std::string>()
             : std::string{};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(webpush_shape_tests, webpush_fixture)

CAF_TEST(web push subscriptions come from the control port) {
  std::string id;
  auto sub = subscribe(*control, &id);
  CAF_CHECK_EQUAL(sub.endpoint, base() + "/webpush/" + id);
  CAF_CHECK_EQUAL(crypto::base64url_decode(sub.p256dh)->size(), 65u);
  CAF_CHECK_EQUAL(crypto::base64url_decode(sub.auth)->size(), 16u);
  auto other = subscribe(*control);
  CAF_CHECK_NOT_EQUAL(other.endpoint, sub.endpoint);
  CAF_CHECK_NOT_EQUAL(other.p256dh, sub.p256dh);
  CAF_CHECK_EQUAL(shape_stats("webpush")["subscriptions"].get<int64_t>(), 2);
  auto res = control->Post("/webpush/subscriptions/nope/expire", "",
                           "application/json");
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->status, 404);
}

CAF_TEST(a web push payload is decrypted and recorded) {
  std::string id;
  auto sub = subscribe(*control, &id);
  std::string payload = R"({"title": "Grüße", "body": "your order shipped"})";
  // httplib's client here, to see the Location header.
  httplib::Client push_client{"127.0.0.1", proc.port};
  httplib::Headers headers;
  for (const auto& [k, v] : push_headers(sub, *vapid))
    headers.emplace(k, v);
  headers.emplace("X-Request-Id", "req-wp-1");
  headers.emplace("Topic", "orders");
  auto res = push_client.Post(("/webpush/" + id).c_str(), headers,
                              encrypt_for(sub, payload),
                              "application/octet-stream");
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->status, 201);
  CAF_CHECK_EQUAL(res->get_header_value("Location"),
                  sub.endpoint + "/messages/1");
  CAF_CHECK_EQUAL(push_to(sub, encrypt_for(sub, "second"),
                          push_headers(sub, *vapid))
                    .http_status,
                  201);
  auto got = messages("webpush");
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_CHECK_EQUAL(got[0]["subscription"].get<std::string>(), id);
  CAF_CHECK_EQUAL(got[0]["plaintext"].get<std::string>(), payload);
  CAF_CHECK_EQUAL(got[0]["subject"].get<std::string>(), vapid_subject);
  CAF_CHECK_EQUAL(got[0]["ttl"].get<std::string>(), "60");
  CAF_CHECK_EQUAL(got[0]["urgency"].get<std::string>(), "high");
  CAF_CHECK_EQUAL(got[0]["topic"].get<std::string>(), "orders");
  CAF_CHECK_EQUAL(got[0]["request_id"].get<std::string>(), "req-wp-1");
  CAF_CHECK_EQUAL(got[0]["status"].get<int64_t>(), 201);
  CAF_CHECK_EQUAL(got[1]["plaintext"].get<std::string>(), "second");
  auto s = shape_stats("webpush");
  CAF_CHECK_EQUAL(s["received"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["max_per_second"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(stats()["received"].get<int64_t>(), 0);
}

CAF_TEST(web push refuses bad VAPID authorizations) {
  auto sub = subscribe(*control);
  auto body = encrypt_for(sub, "x");
  auto headers = push_headers(sub, *vapid);
  auto res = push_to(sub, body, without(headers, "Authorization"));
  CAF_CHECK_EQUAL(res.http_status, 403);
  CAF_CHECK_NOT_EQUAL(reason_of(res), "");
  // Signed for another push service.
  res = push_to(sub, body,
                with(headers, "Authorization",
                     vapid->authorization("http://push.example.net/x",
                                          vapid_subject, now_s())));
  CAF_CHECK_EQUAL(res.http_status, 403);
  CAF_CHECK_NOT_EQUAL(reason_of(res).find("aud"), std::string::npos);
  // A token of key A presented with key B.
  auto auth_a = vapid->authorization(sub.endpoint, vapid_subject, now_s());
  auto k_at = auth_a.find("k=");
  CAF_REQUIRE_NOT_EQUAL(k_at, std::string::npos);
  auto forged = auth_a.substr(0, k_at + 2) + load_signer(vapid_pem_b)->public_key();
  res = push_to(sub, body, with(headers, "Authorization", forged));
  CAF_CHECK_EQUAL(res.http_status, 403);
  // Expired.
  res = push_to(sub, body,
                with(headers, "Authorization",
                     vapid->authorization(sub.endpoint, vapid_subject,
                                          now_s() - 13 * 3600)));
  CAF_CHECK_EQUAL(res.http_status, 403);
  CAF_CHECK_EQUAL(push_to(sub, body, headers).http_status, 201);
  auto s = shape_stats("webpush");
  CAF_CHECK_EQUAL(s["unauthorized"].get<int64_t>(), 4);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(messages("webpush").size(), 1u);
}

CAF_TEST(web push refuses what it cannot take) {
  std::string id;
  auto sub = subscribe(*control, &id);
  auto other = subscribe(*control);
  auto headers = push_headers(sub, *vapid);
  auto body = encrypt_for(sub, "hello");
  // Unknown subscription.
  auto unknown = sub;
  unknown.endpoint = base() + "/webpush/unknown";
  CAF_CHECK_EQUAL(push_to(unknown, body, push_headers(unknown, *vapid)).http_status,
                  404);
  // Headers a push service requires.
  CAF_CHECK_EQUAL(push_to(sub, body, without(headers, "TTL")).http_status, 400);
  CAF_CHECK_EQUAL(push_to(sub, body, with(headers, "TTL", "soon")).http_status,
                  400);
  CAF_CHECK_EQUAL(push_to(sub, body, with(headers, "Content-Encoding", "aesgcm"))
                    .http_status,
                  415);
  // Encrypted for another subscription, or not at all.
  auto res = push_to(sub, encrypt_for(other, "hello"), headers);
  CAF_CHECK_EQUAL(res.http_status, 400);
  CAF_CHECK_NOT_EQUAL(reason_of(res), "");
  CAF_CHECK_EQUAL(push_to(sub, "plain text", headers).http_status, 400);
  // Injected faults apply here too, after the VAPID check.
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":1.0,"fail_status":503,"retry_after":"2"})"),
                    200);
  res = push_to(sub, body, headers);
  CAF_CHECK_EQUAL(res.http_status, 503);
  CAF_CHECK_EQUAL(res.retry_after_ms, 2000);
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":0})"), 200);
  CAF_CHECK_EQUAL(push_to(sub, body, headers).http_status, 201);
  // An expired subscription is gone.
  auto expire = control->Post(("/webpush/subscriptions/" + id + "/expire").c_str(),
                              "", "application/json");
  CAF_REQUIRE(expire);
  CAF_CHECK_EQUAL(expire->status, 200);
  CAF_CHECK_EQUAL(push_to(sub, body, headers).http_status, 410);
  CAF_CHECK_EQUAL(push_to(other, encrypt_for(other, "still here"),
                          push_headers(other, *vapid))
                    .http_status,
                  201);
  auto s = shape_stats("webpush");
  CAF_CHECK_EQUAL(s["failed_injected"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["delivered"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["rejected"].get<int64_t>(), 7);
  auto got = messages("webpush");
  CAF_REQUIRE_EQUAL(got.size(), 9u);
  CAF_CHECK_EQUAL(got[0]["status"].get<int64_t>(), 404);
  CAF_CHECK_EQUAL(got[5]["plaintext"].get<std::string>(), "");
  CAF_CHECK_EQUAL(got[6]["plaintext"].get<std::string>(), "hello");
  CAF_CHECK_EQUAL(got[7]["status"].get<int64_t>(), 410);
  CAF_CHECK_EQUAL(got[8]["plaintext"].get<std::string>(), "still here");
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(a pinned VAPID key refuses every other key) {
  auto a = load_signer(vapid_pem_a);
  auto b = load_signer(vapid_pem_b);
  provider_process proc{{"--port=0", "--control-port=0",
                         "--vapid-public-key=" + a->public_key()}};
  CAF_REQUIRE(proc.read_ports());
  httplib::Client control{"127.0.0.1", proc.control_port};
  auto sub = subscribe(control);
  {
    webhook_client client{5s};
    auto body = encrypt_for(sub, "pinned");
    auto res = client.post(sub.endpoint, push_headers(sub, *b), body,
                           "application/octet-stream");
    CAF_CHECK_EQUAL(res.http_status, 403);
    CAF_CHECK_NOT_EQUAL(res.body.find("pins"), std::string::npos);
    CAF_CHECK_EQUAL(client
                      .post(sub.endpoint, push_headers(sub, *a), body,
                            "application/octet-stream")
                      .http_status,
                    201);
  }
  CAF_CHECK_EQUAL(proc.terminate(), 0);
  provider_process bad{{"--vapid-public-key=" + crypto::base64url_encode("short")}};
  CAF_CHECK_EQUAL(bad.wait_exit(), 2);
}

// --- SMTP --------------------------------------------------------------------

namespace {

// A plain-text SMTP conversation over a raw socket, for what smtp_client
// never sends (commands out of order, pipelining, unknown verbs).
class smtp_conversation {
public:
  explicit smtp_conversation(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
                 == 0;
  }

  ~smtp_conversation() {
    ::close(fd_);
  }

  bool connected() const {
    return connected_;
  }

  void send(const std::string& text) {
    CAF_REQUIRE_EQUAL(::send(fd_, text.data(), text.size(), MSG_NOSIGNAL),
                      static_cast<ssize_t>(text.size()));
  }

  // The next complete reply (every line of a multi-line one, CRLF kept);
  // "" if the server closed the connection or said nothing within 5 s.
  std::string reply() {
    for (;;) {
      // A reply ends with a line "NNN text" (a space after the code).
      size_t start = 0;
      for (auto nl = buf_.find("\r\n"); nl != std::string::npos;
           nl = buf_.find("\r\n", start)) {
        if (nl - start >= 4 && buf_[start + 3] == ' ') {
          auto out = buf_.substr(0, nl + 2);
          buf_.erase(0, nl + 2);
          return out;
        }
        start = nl + 2;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0)
        return {};
      char chunk[4096];
      auto n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0)
        return {};
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  // The code of the next reply (0 = none).
  int code() {
    auto r = reply();
    return r.size() >= 3 ? std::stoi(r.substr(0, 3)) : 0;
  }

  // Whether the server closed the connection (EOF within 5 s).
  bool closed() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0)
      return false;
    char c;
    return ::recv(fd_, &c, 1, 0) <= 0;
  }

private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

// A message as build_mime writes one: CRLF lines, a header block.
std::string mime(const std::string& id, const std::string& body = "hello\r\n") {
  std::string m = "From: Herald <noreply@herald.example>\r\n"
                  "To: ana@example.org\r\n"
                  "Subject: bench\r\n";
  if (!id.empty())
    m += "X-Herald-Notification-Id: " + id + "\r\n";
  return m + "\r\n" + body;
}

struct smtp_fixture {
  provider_process proc{{"--port=0", "--control-port=0", "--smtp-port=0",
                         "--threads=4"}};
  std::unique_ptr<httplib::Client> control;

  smtp_fixture() {
    CAF_REQUIRE(proc.read_ports());
    CAF_REQUIRE_NOT_EQUAL(proc.smtp_port, 0);
    control = std::make_unique<httplib::Client>("127.0.0.1", proc.control_port);
    control->set_connection_timeout(5s);
    control->set_read_timeout(5s);
  }

  ~smtp_fixture() {
    CAF_CHECK_EQUAL(proc.terminate(), 0);
  }

  smtp_settings settings() const {
    smtp_settings s;
    s.url = "smtp://127.0.0.1:" + std::to_string(proc.smtp_port);
    s.timeout = 5s;
    return s;
  }

  json smtp_stats(bool ids = false) {
    auto res = control->Get(ids ? "/stats?ids=1" : "/stats");
    CAF_REQUIRE(res);
    CAF_REQUIRE_EQUAL(res->status, 200);
    return json::parse(res->body)["shapes"]["smtp"];
  }

  json messages(int limit = 1000) {
    auto res = control->Get(
      ("/messages?shape=smtp&limit=" + std::to_string(limit)).c_str());
    CAF_REQUIRE(res);
    CAF_REQUIRE_EQUAL(res->status, 200);
    return json::parse(res->body)["messages"];
  }

  int set_faults(const std::string& payload) {
    auto res = control->Post("/control", payload, "application/json");
    CAF_REQUIRE(res);
    return res->status;
  }
};

int64_t count(const json& stats, const char* name) {
  return stats.value(name, int64_t{-1});
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(smtp_shape_tests, smtp_fixture)

CAF_TEST(smtp messages are delivered over one reused connection) {
  smtp_client client{settings()};
  for (int i = 0; i < 10; ++i) {
    auto r = client.send("noreply@herald.example", "ana@example.org",
                         mime("n" + std::to_string(i)));
    CAF_CHECK_EQUAL(r.reply_code, 250);
    CAF_CHECK_EQUAL(r.error, "");
  }
  CAF_CHECK_EQUAL(client.connections_opened(), 1u);
  auto s = smtp_stats();
  CAF_CHECK_EQUAL(count(s, "received"), 10);
  CAF_CHECK_EQUAL(count(s, "delivered"), 10);
  CAF_CHECK_EQUAL(count(s, "unique"), 10);
  CAF_CHECK_EQUAL(count(s, "duplicates"), 0);
  CAF_CHECK_EQUAL(count(s, "connections"), 1);
  CAF_CHECK_EQUAL(count(s, "max_per_second"), 10);
  auto ms = messages();
  CAF_REQUIRE_EQUAL(ms.size(), 10u);
  CAF_CHECK_EQUAL(ms[0].value("mail_from", ""), "noreply@herald.example");
  CAF_CHECK_EQUAL(ms[0]["rcpt_to"], json::array({"ana@example.org"}));
  CAF_CHECK_EQUAL(ms[0].value("notification_id", ""), "n0");
  CAF_CHECK_EQUAL(ms[9].value("notification_id", ""), "n9");
  CAF_CHECK_EQUAL(ms[9].value("status", 0), 250);
}

CAF_TEST(smtp duplicates are counted by notification id) {
  smtp_client client{settings()};
  for (auto id : {"a", "a", "b", "a", ""})
    CAF_CHECK_EQUAL(client.send("x@herald.example", "y@example.org", mime(id))
                      .reply_code,
                    250);
  auto s = smtp_stats(true);
  CAF_CHECK_EQUAL(count(s, "delivered"), 5);
  CAF_CHECK_EQUAL(count(s, "unique"), 2);
  CAF_CHECK_EQUAL(count(s, "duplicates"), 1);           // ids delivered twice or more
  CAF_CHECK_EQUAL(count(s, "duplicate_deliveries"), 2); // deliveries beyond the first
  CAF_CHECK_EQUAL(count(s, "without_id"), 1);
  CAF_CHECK_EQUAL(s["ids"], json({{"a", 3}, {"b", 1}}));
  // The header name is case-insensitive, its value trimmed.
  CAF_CHECK_EQUAL(client
                    .send("x@herald.example", "y@example.org",
                          "x-herald-notification-id:   b  \r\n\r\nhi\r\n")
                    .reply_code,
                  250);
  CAF_CHECK_EQUAL(count(smtp_stats(), "duplicate_deliveries"), 3);
}

CAF_TEST(smtp dot-stuffing is undone) {
  // curl stuffs a dot before every line that starts with one; the sink
  // must hand back exactly what was sent, a lone "." line included.
  auto body = std::string{".leading dot\r\n.\r\n..two dots\r\nlast .\r\n"};
  smtp_client client{settings()};
  CAF_REQUIRE_EQUAL(client.send("x@herald.example", "y@example.org",
                                mime("dots", body))
                      .reply_code,
                    250);
  auto ms = messages(1);
  CAF_REQUIRE_EQUAL(ms.size(), 1u);
  CAF_CHECK_EQUAL(ms[0].value("data", ""), mime("dots", body));
  CAF_CHECK_EQUAL(ms[0].value("size", 0u), mime("dots", body).size());
}

CAF_TEST(smtp injected failures answer 451 at the end of data) {
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":1.0})"), 200);
  smtp_client client{settings()};
  auto r = client.send("x@herald.example", "y@example.org", mime("f1"));
  CAF_CHECK_EQUAL(r.reply_code, 451);
  CAF_CHECK_EQUAL(r.enhanced_status, "4.3.0");
  CAF_CHECK(classify_smtp(r.reply_code, r.timed_out, r.connection_error,
                          r.enhanced_status)
              .kind
            == delivery_class::retryable);
  auto s = smtp_stats();
  CAF_CHECK_EQUAL(count(s, "received"), 1);
  CAF_CHECK_EQUAL(count(s, "failed_injected"), 1);
  CAF_CHECK_EQUAL(count(s, "delivered"), 0);
  CAF_CHECK_EQUAL(count(s, "unique"), 0);
  // Latency delays the answer to the end of DATA.
  CAF_REQUIRE_EQUAL(set_faults(R"({"fail_rate":0,"latency_ms":300})"), 200);
  auto start = steady_clock::now();
  CAF_CHECK_EQUAL(client.send("x@herald.example", "y@example.org", mime("f1"))
                    .reply_code,
                  250);
  CAF_CHECK(steady_clock::now() - start >= 300ms);
  // The client dropped the connection of the failed transaction.
  CAF_CHECK_EQUAL(count(smtp_stats(), "connections"), 2);
}

CAF_TEST(smtp refusal closes connections until it ends) {
  smtp_client client{settings()};
  CAF_REQUIRE_EQUAL(client.send("x@herald.example", "y@example.org", mime("r1"))
                      .reply_code,
                    250);
  CAF_REQUIRE_EQUAL(set_faults(R"({"refuse_ms":600000})"), 200);
  // The open connection is told 421 and closed; a new one is reset.
  auto r = client.send("x@herald.example", "y@example.org", mime("r2"));
  CAF_CHECK(r.reply_code == 421 || r.connection_error);
  r = client.send("x@herald.example", "y@example.org", mime("r2"));
  CAF_CHECK_EQUAL(r.reply_code, 0);
  CAF_CHECK(r.connection_error);
  CAF_CHECK_GREATER_OR_EQUAL(count(smtp_stats(), "aborted_while_refusing"), 2);
  CAF_REQUIRE_EQUAL(set_faults(R"({"refuse_ms":0})"), 200);
  CAF_CHECK_EQUAL(client.send("x@herald.example", "y@example.org", mime("r2"))
                    .reply_code,
                  250);
  CAF_CHECK_EQUAL(count(smtp_stats(), "unique"), 2);
}

CAF_TEST(the smtp shape speaks ESMTP to a plain client) {
  smtp_conversation c{proc.smtp_port};
  CAF_REQUIRE(c.connected());
  CAF_CHECK_EQUAL(c.code(), 220);
  c.send("MAIL FROM:<a@b>\r\n");
  CAF_CHECK_EQUAL(c.code(), 503); // HELO/EHLO first
  c.send("EHLO tester\r\n");
  auto ehlo = c.reply();
  for (auto ext : {"250-PIPELINING", "250-8BITMIME", "250-SIZE "})
    CAF_CHECK_NOT_EQUAL(ehlo.find(ext), std::string::npos);
  c.send("RCPT TO:<c@d>\r\n");
  CAF_CHECK_EQUAL(c.code(), 503); // MAIL first
  c.send("DATA\r\n");
  CAF_CHECK_EQUAL(c.code(), 503); // RCPT first
  c.send("MAIL FROM:<a@b> SIZE=999999999\r\n");
  CAF_CHECK_EQUAL(c.code(), 552);
  c.send("MAIL FROM:no-brackets\r\n");
  CAF_CHECK_EQUAL(c.code(), 250); // lenient, as most servers are
  c.send("RSET\r\n");
  CAF_CHECK_EQUAL(c.code(), 250);
  // Pipelined: every command in one write, the answers in order.
  c.send("MAIL FROM:<a@b> BODY=8BITMIME\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\n"
         "DATA\r\n");
  CAF_CHECK_EQUAL(c.code(), 250);
  CAF_CHECK_EQUAL(c.code(), 250);
  CAF_CHECK_EQUAL(c.code(), 250);
  CAF_CHECK_EQUAL(c.code(), 354);
  c.send("X-Herald-Notification-Id: raw-1\r\n\r\n..x\r\n.\r\nNOOP\r\n");
  CAF_CHECK_EQUAL(c.code(), 250);
  CAF_CHECK_EQUAL(c.code(), 250); // NOOP
  c.send("HELO again\r\n");
  CAF_CHECK_EQUAL(c.code(), 250);
  c.send("BOGUS\r\n");
  CAF_CHECK_EQUAL(c.code(), 500);
  c.send("QUIT\r\n");
  CAF_CHECK_EQUAL(c.code(), 221);
  CAF_CHECK(c.closed());
  auto ms = messages(1);
  CAF_REQUIRE_EQUAL(ms.size(), 1u);
  CAF_CHECK_EQUAL(ms[0]["rcpt_to"], json::array({"c@d", "e@f"}));
  CAF_CHECK_EQUAL(ms[0].value("data", ""),
                  "X-Herald-Notification-Id: raw-1\r\n\r\n.x\r\n");
}

CAF_TEST(reset clears the smtp counters) {
  {
    smtp_client client{settings()};
    CAF_REQUIRE_EQUAL(client.send("x@herald.example", "y@example.org",
                                  mime("z"))
                        .reply_code,
                      250);
  }
  CAF_CHECK_EQUAL(count(smtp_stats(), "delivered"), 1);
  auto res = control->Post("/reset", "", "application/json");
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->status, 200);
  auto s = smtp_stats(true);
  for (auto name : {"received", "delivered", "unique", "connections",
                    "max_per_second", "duplicates"})
    CAF_CHECK_EQUAL(count(s, name), 0);
  CAF_CHECK(s["ids"].empty());
  CAF_CHECK(messages().empty());
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(without smtp-port there is no SMTP listener) {
  provider_process proc{{"--port=0", "--control-port=0"}};
  CAF_REQUIRE(proc.read_ports());
  CAF_CHECK_EQUAL(proc.smtp_port, 0);
  CAF_CHECK_EQUAL(proc.output.find("smtp"), std::string::npos);
  httplib::Client control{"127.0.0.1", proc.control_port};
  auto res = control.Get("/stats");
  CAF_REQUIRE(res);
  CAF_CHECK(!json::parse(res->body)["shapes"].contains("smtp"));
  res = control.Get("/messages?shape=smtp");
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->status, 400);
  CAF_CHECK_EQUAL(proc.terminate(), 0);
}
