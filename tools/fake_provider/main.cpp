// fake-provider: a webhook receiver with fault injection that also speaks
// the SMS and push providers' HTTP shapes and (optionally) SMTP, for tests,
// the demo and benchmarks. See usage_text and fake_provider.hpp.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <pthread.h>
#include <string>

#include "channels/webhook_signature.hpp"
#include "core/crypto.hpp"
#include "fake_provider.hpp"

namespace {

const char* usage_text =
  "usage: fake-provider [--port=N] [--control-port=M] [--secret=whsec_...]...\n"
  "                     [--host=127.0.0.1] [--threads=128] [--smtp-port=S]\n"
  "                     [--twilio-account-sid=ACtest] [--twilio-auth-token=...]\n"
  "                     [--twilio-callback-delay-ms=0] [--fcm-token=fcm-token]\n"
  "                     [--vapid-public-key=BASE64URL]\n"
  "\n"
  "  --port          webhook port, accepts POST on any path (0 = any free);\n"
  "                  provider shapes on the same port:\n"
  "                    POST /2010-04-01/Accounts/{sid}/Messages.json  Twilio\n"
  "                    POST /v1/projects/{project}/messages:send      FCM v1\n"
  "                    POST /webpush/{subscription id}                Web Push\n"
  "  --control-port  GET /stats[?ids=1], GET|POST /control, POST /reset,\n"
  "                  GET /health, GET /messages?shape=sms|fcm|webpush|smtp\n"
  "                  [&limit=n], POST /webpush/subscriptions,\n"
  "                  POST /webpush/subscriptions/{id}/expire (0 = any free)\n"
  "  --smtp-port     also an SMTP sink on this port (0 = any free; absent =\n"
  "                  none): ESMTP without TLS or AUTH, a thread per\n"
  "                  connection; counts messages, duplicates by\n"
  "                  X-Herald-Notification-Id and connections under\n"
  "                  /stats \"shapes\".\"smtp\"; fail_rate answers the end of\n"
  "                  DATA with 451 4.3.0, latency_ms delays that answer,\n"
  "                  refuse_ms resets new connections and closes open ones\n"
  "                  with 421; GET /messages?shape=smtp\n"
  "  --secret        verify Standard Webhooks signatures with this secret\n"
  "                  (repeatable: any of them may sign); none = no checks\n"
  "  --host          address both ports bind to\n"
  "  --threads       webhook worker threads; httplib holds one per open\n"
  "                  keep-alive connection, so at least the client's\n"
  "                  connection count\n"
  "  --twilio-account-sid, --twilio-auth-token\n"
  "                  Basic credentials the Twilio shape accepts (defaults\n"
  "                  ACtest / twilio-token); the token signs status callbacks\n"
  "  --twilio-callback-delay-ms\n"
  "                  wait before POSTing a status callback (default 0)\n"
  "  --fcm-token     bearer token the FCM shape accepts (default fcm-token)\n"
  "  --vapid-public-key\n"
  "                  the only VAPID key (k) Web Push accepts; default any\n"
  "\n"
  "Twilio test numbers (To): +15005550001 400/21211, +15005550009 400/21614,\n"
  "+15005550003 429/20429; +15005550006 is accepted, its receipt undelivered\n"
  "(30003). FCM tokens: dead-* 404 UNREGISTERED, bad-* 400 INVALID_ARGUMENT,\n"
  "unavailable-* 503 UNAVAILABLE. Web Push: 404 unknown subscription, 410\n"
  "expired, 403 bad VAPID, 400 no TTL or undecryptable, 415 not aes128gcm.\n"
  "\n"
  "POST /control {\"fail_rate\":0.3,\"fail_status\":503,\"retry_after\":\"2\",\n"
  "               \"latency_ms\":20,\"refuse_ms\":30000} (fields optional,\n"
  "               the others keep their values; webhooks and every shape)\n";

int fail(const std::string& msg) {
  std::cerr << "fake-provider: " << msg << "\n\n" << usage_text;
  return 2;
}

bool parse_number(const std::string& text, long lo, long hi, long& out) {
  if (text.empty() || text.size() > 9)
    return false;
  for (char c : text)
    if (c < '0' || c > '9')
      return false;
  out = std::stol(text);
  return out >= lo && out <= hi;
}

} // namespace

int main(int argc, char** argv) {
  herald::tools::fake_provider_options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      return 0;
    }
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos)
      return fail("unexpected argument '" + arg + "' (options are --name=value)");
    auto name = arg.substr(2, eq - 2);
    auto value = arg.substr(eq + 1);
    long n = 0;
    if (name == "port" || name == "control-port") {
      if (!parse_number(value, 0, 65535, n))
        return fail("--" + name + " must be a port number in [0, 65535]");
      (name == "port" ? opts.port : opts.control_port) = static_cast<int>(n);
    } else if (name == "smtp-port") {
      if (!parse_number(value, 0, 65535, n))
        return fail("--smtp-port must be a port number in [0, 65535]");
      opts.smtp_port = static_cast<int>(n);
    } else if (name == "threads") {
      if (!parse_number(value, 1, 4096, n))
        return fail("--threads must be in [1, 4096]");
      opts.threads = static_cast<size_t>(n);
    } else if (name == "host") {
      if (value.empty())
        return fail("--host must not be empty");
      opts.host = value;
    } else if (name == "twilio-account-sid" || name == "twilio-auth-token"
               || name == "fcm-token") {
      if (value.empty())
        return fail("--" + name + " must not be empty");
      (name == "twilio-account-sid"  ? opts.twilio_account_sid
       : name == "twilio-auth-token" ? opts.twilio_auth_token
                                     : opts.fcm_token)
        = value;
    } else if (name == "twilio-callback-delay-ms") {
      if (!parse_number(value, 0, 600000, n))
        return fail("--twilio-callback-delay-ms must be in [0, 600000]");
      opts.twilio_callback_delay_ms = n;
    } else if (name == "vapid-public-key") {
      auto raw = herald::crypto::base64url_decode(value);
      if (!raw || raw->size() != 65 || (*raw)[0] != '\x04')
        return fail("--vapid-public-key must be base64url of an uncompressed "
                    "P-256 point (65 bytes)");
      opts.vapid_public_key = value;
    } else if (name == "secret") {
      if (!herald::webhook::signing_key(value))
        return fail("--secret must be whsec_ followed by base64");
      opts.secrets.push_back(value);
    } else {
      return fail("unknown option --" + name);
    }
  }
  // Block the stop signals in every thread (they inherit the mask) and take
  // them synchronously below, so no handler runs in the middle of httplib.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  herald::tools::fake_provider provider{opts};
  std::string error;
  if (!provider.start(error)) {
    std::cerr << "fake-provider: " << error << std::endl;
    provider.stop();
    return 1;
  }
  std::cout << "fake-provider: webhooks on " << opts.host << ":"
            << provider.webhook_port() << "\n";
  // Before the control line: readers that stop at it have seen this one.
  if (provider.smtp_port() > 0)
    std::cout << "fake-provider: smtp on " << opts.host << ":"
              << provider.smtp_port() << "\n";
  std::cout << "fake-provider: control on " << opts.host << ":"
            << provider.control_port() << std::endl;
  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  provider.stop();
  return 0;
}
