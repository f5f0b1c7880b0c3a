// herald-test-links: herald_channels
// smtp_client against a real SMTP server (tests/scripts/smtp_sink.py on
// aiosmtpd, started per test): delivery of build_mime's output checked by
// the server's own MIME parser, connection reuse, every failure kind and
// its classification, recovery after failures, STARTTLS with AUTH and
// implicit TLS with a certificate made by the openssl CLI.
#define CAF_SUITE smtp_client

#include <caf/test/unit_test.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "channels/classify.hpp"
#include "channels/email_message.hpp"
#include "channels/smtp_client.hpp"
#include "support/process.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;
using namespace std::chrono_literals;
using nlohmann::json;
using std::chrono::steady_clock;

namespace {

const std::string sink_script = std::string{HERALD_SOURCE_DIR}
                                + "/tests/scripts/smtp_sink.py";

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

// The SMTP sink as a child process, with its control API.
struct smtp_sink {
  std::unique_ptr<test::child_process> proc;
  int smtp_port = 0;
  int control_port = 0;

  explicit smtp_sink(std::vector<std::string> options = {}, int port = 0) {
    std::vector<std::string> args{sink_script, "--port", std::to_string(port),
                                  "--control-port", "0"};
    args.insert(args.end(), options.begin(), options.end());
    proc = std::make_unique<test::child_process>("/usr/bin/python3", args);
    std::string rest;
    auto ready = proc->await_line("smtp_sink ready ", rest);
    if (!ready)
      CAF_MESSAGE("smtp_sink stderr: " << proc->stderr_text());
    CAF_REQUIRE(ready);
    CAF_REQUIRE_EQUAL(std::sscanf(rest.c_str(), "smtp=%d control=%d",
                                  &smtp_port, &control_port),
                      2);
  }

  std::string url(const std::string& scheme = "smtp") const {
    return scheme + "://127.0.0.1:" + std::to_string(smtp_port);
  }

  json get(const std::string& path) const {
    httplib::Client cli{"127.0.0.1", control_port};
    cli.set_read_timeout(10, 0);
    auto res = cli.Get(path.c_str());
    if (!res || res->status != 200)
      return nullptr;
    return json::parse(res->body);
  }

  int64_t stat(const char* name) const {
    auto stats = get("/stats");
    return stats.is_null() ? -1 : stats.at(name).get<int64_t>();
  }

  json messages(bool raw = false) const {
    return get(raw ? "/messages?raw=1" : "/messages");
  }
};

// A self-signed certificate for 127.0.0.1 and localhost, made by the
// openssl CLI in a temporary directory.
struct tls_files {
  std::string dir;
  std::string cert;
  std::string key;

  tls_files() {
    char tmpl[] = "/tmp/herald-smtp-tls-XXXXXX";
    CAF_REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    auto res = test::run_command(
      "/usr/bin/openssl",
      {"req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
       "-days", "2", "-subj", "/CN=localhost", "-addext",
       "subjectAltName=IP:127.0.0.1,DNS:localhost"},
      30s);
    if (res.exit_code != 0)
      CAF_MESSAGE("openssl: " << res.output);
    CAF_REQUIRE_EQUAL(res.exit_code, 0);
  }

  ~tls_files() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::vector<std::string> sink_options() const {
    return {"--tls-cert", cert, "--tls-key", key};
  }
};

smtp_settings settings_for(const std::string& url) {
  smtp_settings s;
  s.url = url;
  s.timeout = 5s;
  return s;
}

const std::string sender = "Herald <notify@example.com>";

std::string simple_mime(const std::string& to,
                        const std::string& subject = "hello") {
  email_message m;
  m.from = sender;
  m.to = to;
  m.subject = subject;
  m.text = "hi\n";
  m.message_id = message_id_for(subject, sender);
  return build_mime(m, std::chrono::system_clock::now());
}

smtp_result send_simple(smtp_client& client, const std::string& to) {
  return client.send(sender, to, simple_mime(to));
}

delivery_class kind_of(const smtp_result& r) {
  return classify_smtp(r.reply_code, r.timed_out, r.connection_error,
                       r.enhanced_status)
    .kind;
}

std::string reason_of(const smtp_result& r) {
  return classify_smtp(r.reply_code, r.timed_out, r.connection_error,
                       r.enhanced_status)
    .reason;
}

bool delivered(const smtp_result& r) {
  return r.reply_code == 250 && r.error.empty() && !r.timed_out
         && !r.connection_error;
}

bool crlf_only(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n'))
      return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
      return false;
  }
  return true;
}

size_t longest_line(const std::string& s) {
  size_t longest = 0;
  size_t pos = 0;
  while (pos <= s.size()) {
    auto eol = s.find("\r\n", pos);
    if (eol == std::string::npos)
      eol = s.size();
    longest = std::max(longest, eol - pos);
    pos = eol + 2;
  }
  return longest;
}

constexpr auto ok = delivery_class::ok;
constexpr auto retry = delivery_class::retryable;
constexpr auto perm = delivery_class::permanent;

struct fixture {
  smtp_sink sink;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(plain_smtp, fixture)

CAF_TEST(a text and html mail arrives intact) {
  email_message m;
  m.from = "Herald Notifier <notify@example.com>";
  m.reply_to = "Support Team <help@example.com>";
  m.to = "Ana Lima <ana@example.org>";
  m.subject = "Olá — confirmação";
  m.text = "Olá Ana,\r\n\r\nsua conta está confirmada.\r\n"
           + std::string(1500, 'z') + "\r\n.a line with a leading dot\r\n.\r\n"
           + "From the start of a line\r\ntrailing spaces  \r\nsoma = 4\r\n";
  m.html = "<html><body><p>Olá <b>Ana</b>, sua conta está confirmada.</p>\r\n"
           "<p style=\"color:#333\">" + std::string(2000, 'x')
           + "</p></body></html>";
  m.message_id = message_id_for("0190c0de-7b1a-7cc3-8000-1234567890ab",
                                m.from);
  m.extra_headers = {{"X-Herald-Notification",
                      "0190c0de-7b1a-7cc3-8000-1234567890ab"}};
  smtp_client client{settings_for(sink.url())};
  auto res = client.send(m.from, m.to,
                         build_mime(m, std::chrono::system_clock::now()));
  CAF_CHECK_EQUAL(res.reply_code, 250);
  CAF_CHECK_EQUAL(res.enhanced_status, "2.0.0");
  CAF_CHECK_EQUAL(res.error, "");
  CAF_CHECK_EQUAL(kind_of(res), ok);
  auto msgs = sink.messages(true);
  CAF_REQUIRE_EQUAL(msgs.size(), 1u);
  auto& msg = msgs[0];
  CAF_CHECK_EQUAL(msg["mail_from"], "notify@example.com");
  CAF_CHECK_EQUAL(msg["rcpt_tos"], json::array({"ana@example.org"}));
  auto& headers = msg["headers"];
  CAF_CHECK_EQUAL(headers["Message-ID"],
                  "<notif-0190c0de-7b1a-7cc3-8000-1234567890ab@example.com>");
  CAF_CHECK_EQUAL(headers["From"], "Herald Notifier <notify@example.com>");
  CAF_CHECK_EQUAL(headers["To"], "Ana Lima <ana@example.org>");
  CAF_CHECK_EQUAL(headers["Reply-To"], "Support Team <help@example.com>");
  CAF_CHECK_EQUAL(headers["Subject"], "Olá — confirmação");
  CAF_CHECK_EQUAL(headers["MIME-Version"], "1.0");
  CAF_CHECK_EQUAL(headers["X-Herald-Notification"],
                  "0190c0de-7b1a-7cc3-8000-1234567890ab");
  CAF_CHECK(headers.contains("Date"));
  CAF_CHECK_EQUAL(msg["text"].get<std::string>(), m.text);
  CAF_CHECK_EQUAL(msg["html"].get<std::string>(), m.html);
  auto raw = msg["raw"].get<std::string>();
  CAF_CHECK(crlf_only(raw));
  CAF_CHECK_LESS_OR_EQUAL(longest_line(raw), 78u);
  CAF_CHECK_EQUAL(msg["raw_size"].get<size_t>(), raw.size());
}

CAF_TEST(ten messages reuse one connection) {
  smtp_client client{settings_for(sink.url())};
  for (int i = 0; i < 10; ++i) {
    auto to = "user" + std::to_string(i) + "@example.org";
    CAF_CHECK(delivered(send_simple(client, to)));
  }
  CAF_CHECK_EQUAL(client.connections_opened(), 1u);
  CAF_CHECK_EQUAL(sink.stat("connections"), 1);
  CAF_CHECK_EQUAL(sink.stat("messages"), 10);
  auto msgs = sink.messages();
  CAF_REQUIRE_EQUAL(msgs.size(), 10u);
  CAF_CHECK_EQUAL(msgs[9]["rcpt_tos"], json::array({"user9@example.org"}));
}

CAF_TEST(a 550 at RCPT is permanent with its enhanced status) {
  smtp_client client{settings_for(sink.url())};
  auto res = send_simple(client, "fail-550-5.1.1@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 550);
  CAF_CHECK_EQUAL(res.enhanced_status, "5.1.1");
  CAF_CHECK_EQUAL(res.timed_out, false);
  CAF_CHECK_EQUAL(res.connection_error, false);
  CAF_CHECK_NOT_EQUAL(res.error.find("fault injected"), std::string::npos);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), perm);
  CAF_CHECK_EQUAL(reason_of(res), "SMTP 550 5.1.1: permanent failure");
  // The next message goes through (curl drops a connection after a failed
  // transaction, so on a new one).
  CAF_CHECK(delivered(send_simple(client, "ana@example.org")));
  CAF_CHECK_EQUAL(client.connections_opened(), 2u);
  CAF_CHECK_EQUAL(sink.stat("connections"), 2);
  CAF_CHECK_EQUAL(sink.stat("rejected"), 1);
  CAF_CHECK_EQUAL(sink.stat("messages"), 1);
}

CAF_TEST(4xx replies are retryable and the client recovers) {
  smtp_client client{settings_for(sink.url())};
  struct expectation {
    std::string rcpt;
    int code;
    std::string enhanced;
  };
  std::vector<expectation> cases{
    {"fail-451-4.3.0@example.org", 451, "4.3.0"},
    {"fail-452@example.org", 452, ""},
    {"fail-421-4.3.2@example.org", 421, "4.3.2"},
  };
  for (auto& c : cases) {
    CAF_MESSAGE(c.rcpt);
    auto res = send_simple(client, c.rcpt);
    CAF_CHECK_EQUAL(res.reply_code, c.code);
    CAF_CHECK_EQUAL(res.enhanced_status, c.enhanced);
    CAF_CHECK_EQUAL(res.connection_error, false);
    CAF_CHECK_NOT_EQUAL(res.error, "");
    CAF_CHECK_EQUAL(kind_of(res), retry);
    CAF_CHECK(delivered(send_simple(client, "ana@example.org")));
  }
  CAF_CHECK_EQUAL(sink.stat("messages"), 3);
  CAF_CHECK_EQUAL(sink.stat("rejected"), 3);
}

CAF_TEST(a 5xx with a class 4 enhanced status is retryable) {
  smtp_client client{settings_for(sink.url())};
  auto res = send_simple(client, "fail-552-4.5.3@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 552);
  CAF_CHECK_EQUAL(res.enhanced_status, "4.5.3");
  CAF_CHECK_EQUAL(kind_of(res), retry);
}

CAF_TEST(a rejection at the end of DATA is reported and the client recovers) {
  smtp_client client{settings_for(sink.url())};
  CAF_CHECK(delivered(send_simple(client, "ana@example.org")));
  auto res = send_simple(client, "faildata-554-5.7.1@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 554);
  CAF_CHECK_EQUAL(res.enhanced_status, "5.7.1");
  CAF_CHECK_EQUAL(res.connection_error, false);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), perm);
  res = send_simple(client, "faildata-451@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 451);
  CAF_CHECK_EQUAL(kind_of(res), retry);
  CAF_CHECK(delivered(send_simple(client, "ana@example.org")));
  CAF_CHECK_EQUAL(sink.stat("messages"), 2);
  CAF_CHECK_EQUAL(sink.stat("rejected"), 2);
}

CAF_TEST(a dropped connection is a retryable connection error) {
  smtp_client client{settings_for(sink.url())};
  CAF_CHECK(delivered(send_simple(client, "ana@example.org")));
  auto res = send_simple(client, "drop@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 0);
  CAF_CHECK_EQUAL(res.connection_error, true);
  CAF_CHECK_EQUAL(res.timed_out, false);
  CAF_CHECK_NOT_EQUAL(res.error, "");
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), retry);
  CAF_CHECK_EQUAL(reason_of(res), "connection error");
  CAF_CHECK(delivered(send_simple(client, "ana@example.org")));
  CAF_CHECK_EQUAL(client.connections_opened(), 2u);
  CAF_CHECK_EQUAL(sink.stat("connections"), 2);
  CAF_CHECK_EQUAL(sink.stat("messages"), 2);
}

CAF_TEST(a server slower than the timeout times out) {
  auto settings = settings_for(sink.url());
  settings.timeout = 500ms;
  smtp_client client{settings};
  auto start = steady_clock::now();
  auto res = send_simple(client, "slow-5000@example.org");
  auto elapsed = steady_clock::now() - start;
  CAF_CHECK_EQUAL(res.reply_code, 0);
  CAF_CHECK_EQUAL(res.timed_out, true);
  CAF_CHECK_NOT_EQUAL(res.error, "");
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), retry);
  CAF_CHECK_EQUAL(reason_of(res), "timeout");
  CAF_MESSAGE("timed out after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed)
                   .count()
              << " ms");
  CAF_CHECK(elapsed >= 500ms);
  CAF_CHECK(elapsed < 3s);
  auto next = send_simple(client, "ana@example.org");
  CAF_CHECK(delivered(next));
  if (!delivered(next))
    CAF_MESSAGE("next: " << next.reply_code << " " << next.error);
}

CAF_TEST(invalid envelope addresses are refused before connecting) {
  smtp_client client{settings_for(sink.url())};
  auto res = send_simple(client, "ana@example.org\r\nRCPT TO:<x@evil.example>");
  CAF_CHECK_EQUAL(res.reply_code, 501);
  CAF_CHECK_EQUAL(res.enhanced_status, "5.1.3");
  CAF_CHECK_EQUAL(kind_of(res), perm);
  res = client.send("not an address", "ana@example.org", simple_mime("x@y"));
  CAF_CHECK_EQUAL(res.reply_code, 501);
  CAF_CHECK_EQUAL(res.enhanced_status, "5.1.7");
  CAF_CHECK_EQUAL(client.connections_opened(), 0u);
  CAF_CHECK_EQUAL(sink.stat("connections"), 0);
  // The null sender is allowed (bounces and auto-replies use it).
  CAF_CHECK(delivered(client.send("", "ana@example.org", simple_mime("x@y"))));
  auto msgs = sink.messages();
  CAF_REQUIRE_EQUAL(msgs.size(), 1u);
  CAF_CHECK_EQUAL(msgs[0]["mail_from"], "<>");
}

CAF_TEST(header injection adds no header at the server) {
  email_message m;
  m.from = "Herald <notify@example.com>\r\nBcc: victim1@evil.example";
  m.to = "Ana <ana@example.org>\nBcc: victim2@evil.example";
  m.subject = "Hi\r\nBcc: victim3@evil.example\r\n\r\nforged body";
  m.text = "real body\n";
  m.extra_headers = {{"X-Tag", "t\r\nBcc: victim4@evil.example"}};
  smtp_client client{settings_for(sink.url())};
  CAF_CHECK(delivered(client.send(bare_address(sender), "ana@example.org",
                                  build_mime(m, std::chrono::system_clock::now()))));
  auto msgs = sink.messages();
  CAF_REQUIRE_EQUAL(msgs.size(), 1u);
  auto& headers = msgs[0]["headers"];
  CAF_CHECK(!headers.contains("Bcc"));
  CAF_CHECK_EQUAL(headers["Subject"], "Hi Bcc: victim3@evil.example forged body");
  CAF_CHECK_EQUAL(headers["From"], "Herald <notify@example.com>");
  CAF_CHECK_EQUAL(headers["To"], "Ana <ana@example.org>");
  CAF_CHECK_EQUAL(headers["X-Tag"], "t Bcc: victim4@evil.example");
  CAF_CHECK_EQUAL(msgs[0]["text"], "real body\r\n");
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(a refused connection is retryable and the next send works) {
  auto port = unused_port();
  smtp_client client{settings_for("smtp://127.0.0.1:" + std::to_string(port))};
  auto start = steady_clock::now();
  auto res = send_simple(client, "ana@example.org");
  CAF_CHECK(steady_clock::now() - start < 2s);
  CAF_CHECK_EQUAL(res.reply_code, 0);
  CAF_CHECK_EQUAL(res.connection_error, true);
  CAF_CHECK_EQUAL(res.timed_out, false);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), retry);
  CAF_CHECK_EQUAL(reason_of(res), "connection error");
  // The server comes up on that port: the same client delivers.
  smtp_sink sink{{}, port};
  CAF_CHECK(delivered(send_simple(client, "ana@example.org")));
  CAF_CHECK_EQUAL(sink.stat("messages"), 1);
}

CAF_TEST(STARTTLS with AUTH delivers over one connection) {
  tls_files tls;
  auto options = tls.sink_options();
  options.insert(options.end(),
                 {"--auth", "herald:s3cret", "--require-starttls"});
  smtp_sink sink{options};
  auto settings = settings_for(sink.url());
  settings.starttls = true;
  settings.username = "herald";
  settings.password = "s3cret";
  settings.ca_file = tls.cert; // verify_peer stays on
  smtp_client client{settings};
  for (int i = 0; i < 3; ++i) {
    auto res = send_simple(client, "ana@example.org");
    CAF_CHECK(delivered(res));
    if (!delivered(res))
      CAF_MESSAGE("error: " << res.error);
  }
  CAF_CHECK_EQUAL(client.connections_opened(), 1u);
  CAF_CHECK_EQUAL(sink.stat("connections"), 1);
  CAF_CHECK_EQUAL(sink.stat("messages"), 3);
}

CAF_TEST(a wrong password is a permanent 535) {
  tls_files tls;
  auto options = tls.sink_options();
  options.insert(options.end(), {"--auth", "herald:s3cret"});
  smtp_sink sink{options};
  auto settings = settings_for(sink.url());
  settings.starttls = true;
  settings.username = "herald";
  settings.password = "wrong";
  settings.verify_peer = false;
  smtp_client client{settings};
  auto res = send_simple(client, "ana@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 535);
  CAF_CHECK_EQUAL(res.enhanced_status, "5.7.8");
  CAF_CHECK_EQUAL(res.connection_error, false);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), perm);
  CAF_CHECK_EQUAL(sink.stat("messages"), 0);
}

CAF_TEST(a server that requires STARTTLS refuses a plain client) {
  tls_files tls;
  auto options = tls.sink_options();
  options.push_back("--require-starttls");
  smtp_sink sink{options};
  smtp_client client{settings_for(sink.url())};
  auto res = send_simple(client, "ana@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 530);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), perm);
}

CAF_TEST(an untrusted certificate is a connection error) {
  tls_files tls;
  smtp_sink sink{tls.sink_options()};
  auto settings = settings_for(sink.url());
  settings.starttls = true; // verify_peer on, no ca_file: system CAs only
  smtp_client client{settings};
  auto res = send_simple(client, "ana@example.org");
  CAF_CHECK_EQUAL(res.reply_code, 0);
  CAF_CHECK_EQUAL(res.connection_error, true);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(kind_of(res), retry);
  CAF_CHECK_EQUAL(sink.stat("messages"), 0);
}

CAF_TEST(a client that requires STARTTLS does not send in plain text) {
  smtp_sink sink; // offers no STARTTLS
  auto settings = settings_for(sink.url());
  settings.starttls = true;
  smtp_client client{settings};
  auto res = send_simple(client, "ana@example.org");
  CAF_CHECK(!delivered(res));
  CAF_CHECK_EQUAL(res.reply_code, 0);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK_EQUAL(sink.stat("messages"), 0);
}

CAF_TEST(implicit TLS delivers) {
  tls_files tls;
  auto options = tls.sink_options();
  options.insert(options.end(), {"--implicit-tls", "--auth", "herald:s3cret"});
  smtp_sink sink{options};
  auto settings = settings_for(sink.url("smtps"));
  settings.verify_peer = false;
  settings.username = "herald";
  settings.password = "s3cret";
  smtp_client client{settings};
  for (int i = 0; i < 2; ++i) {
    auto res = send_simple(client, "ana@example.org");
    CAF_CHECK(delivered(res));
    if (!delivered(res))
      CAF_MESSAGE("error: " << res.error);
  }
  CAF_CHECK_EQUAL(client.connections_opened(), 1u);
  CAF_CHECK_EQUAL(sink.stat("messages"), 2);
  // A plain smtp:// client cannot talk to it.
  // (It waits for a TLS hello that never comes: the client times out.)
  auto plain_settings = settings_for(sink.url());
  plain_settings.timeout = 1s;
  smtp_client plain{plain_settings};
  auto res = send_simple(plain, "ana@example.org");
  CAF_CHECK(!delivered(res));
  CAF_CHECK_EQUAL(kind_of(res), retry);
  CAF_MESSAGE("plain against smtps: " << res.error);
}
