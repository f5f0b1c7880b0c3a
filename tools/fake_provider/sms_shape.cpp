// The Twilio shape of the fake: POST /2010-04-01/Accounts/{sid}/Messages.json
// with Basic auth and a form body, answered as Twilio answers, including its
// magic test numbers; accepted messages with a StatusCallback get a signed
// delivery receipt from callback_sender.

#include "fake_provider.hpp"

#include <memory>

#include "channels/twilio.hpp"
#include "core/crypto.hpp"

namespace herald::tools {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// Twilio's test numbers (To) and what the fake answers for them.
constexpr const char* invalid_number = "+15005550001";     // 400, 21211
constexpr const char* not_sms_capable = "+15005550009";    // 400, 21614
constexpr const char* rate_limited = "+15005550003";       // 429, 20429
constexpr const char* undeliverable = "+15005550006";      // receipt 30003

json twilio_error(int code, const std::string& message, int status) {
  return {{"code", code},
          {"message", message},
          {"more_info",
           "https://www.twilio.com/docs/errors/" + std::to_string(code)},
          {"status", status}};
}

// The body of an injected failure: Twilio's code for the status where it
// has one, so the client classifies it as it would the real answer.
json injected_error(int status) {
  int code = 0;
  if (status == 429)
    code = 20429;
  else if (status == 500)
    code = 20500;
  else if (status == 503)
    code = 20503;
  if (code == 0)
    return {{"message", "injected failure"}, {"status", status}};
  return twilio_error(code, "injected failure", status);
}

const std::string* first(const twilio::form_fields& fields,
                         const std::string& name) {
  for (const auto& [k, v] : fields)
    if (k == name)
      return &v;
  return nullptr;
}

} // namespace

void fake_provider::handle_sms(const httplib::Request& req,
                               httplib::Response& res) {
  auto arrival = steady_clock::now();
  fault_config f;
  if (!shape_prologue(sms_, res, f))
    return;
  auto expected = "Basic "
                  + crypto::base64_encode(opts_.twilio_account_sid + ":"
                                          + opts_.twilio_auth_token);
  if (!crypto::constant_time_equal(req.get_header_value("Authorization"),
                                   expected)) {
    sms_.count_unauthorized();
    res.set_header("WWW-Authenticate", R"(Basic realm="Twilio API")");
    reply_json(res, 401, twilio_error(20003, "Authenticate", 401));
    return;
  }
  if (roll_failure(f)) {
    sms_.count_injected();
    if (!f.retry_after.empty())
      res.set_header("Retry-After", f.retry_after);
    reply_json(res, f.fail_status, injected_error(f.fail_status));
    return;
  }
  json record{{"request_id", req.get_header_value("X-Request-Id")}};
  auto answer = [&](int status, json body) {
    reply_json(res, status, body);
    sms_.answered(status, std::move(record), arrival);
  };
  std::string account = req.matches[1];
  if (account != opts_.twilio_account_sid) {
    answer(404, twilio_error(20404,
                             "The requested resource /2010-04-01/Accounts/"
                               + account + "/Messages.json was not found",
                             404));
    return;
  }
  auto fields = twilio::form_decode(req.body);
  if (!fields) {
    answer(400, twilio_error(20001, "Malformed form body", 400));
    return;
  }
  auto to = first(*fields, "To");
  auto from = first(*fields, "From");
  auto body = first(*fields, "Body");
  auto callback = first(*fields, "StatusCallback");
  record["to"] = to ? *to : "";
  record["from"] = from ? *from : "";
  record["body"] = body ? *body : "";
  record["status_callback"] = callback ? *callback : "";
  record["sid"] = "";
  if (!to || to->empty()) {
    answer(400, twilio_error(21604, "A 'To' phone number is required.", 400));
    return;
  }
  if (!from || from->empty()) {
    answer(400,
           twilio_error(21603, "A 'From' phone number is required.", 400));
    return;
  }
  if (!body || body->empty()) {
    answer(400, twilio_error(21602, "Message body is required.", 400));
    return;
  }
  if (*to == invalid_number) {
    answer(400, twilio_error(21211,
                             "The 'To' number " + *to
                               + " is not a valid phone number.",
                             400));
    return;
  }
  if (*to == not_sms_capable) {
    answer(400, twilio_error(21614,
                             "'To' number " + *to
                               + " is not a valid mobile number",
                             400));
    return;
  }
  if (*to == rate_limited) {
    res.set_header("Retry-After", "1");
    answer(429, twilio_error(20429, "Too Many Requests", 429));
    return;
  }
  auto sid = "SM" + crypto::hex_encode(crypto::random_bytes(16));
  record["sid"] = sid;
  json out{{"sid", sid},
           {"account_sid", account},
           {"status", "queued"},
           {"to", *to},
           {"from", *from},
           {"body", *body},
           {"num_segments", "1"},
           {"direction", "outbound-api"},
           {"api_version", "2010-04-01"},
           {"error_code", nullptr},
           {"error_message", nullptr},
           {"uri", "/2010-04-01/Accounts/" + account + "/Messages/" + sid
                     + ".json"}};
  if (callback && !callback->empty()) {
    callback_sender::job j;
    j.due = steady_clock::now() + milliseconds(opts_.twilio_callback_delay_ms);
    j.url = *callback;
    j.auth_token = opts_.twilio_auth_token;
    j.params = {{"MessageSid", sid},
                {"MessageStatus",
                 *to == undeliverable ? "undelivered" : "delivered"},
                {"To", *to},
                {"From", *from},
                {"AccountSid", account}};
    if (*to == undeliverable)
      j.params.emplace_back("ErrorCode", "30003");
    // Queued once the answer is written (httplib calls the releaser when
    // the response goes away), so the sender has its sid before the receipt
    // can arrive; whether the sender read the answer does not matter, as
    // with Twilio.
    auto text = std::make_shared<const std::string>(out.dump());
    res.status = 201;
    res.set_content_provider(
      text->size(), "application/json",
      [text](size_t offset, size_t length, httplib::DataSink& sink) {
        sink.write(text->data() + offset, length);
        return true;
      },
      [this, j](bool) { callbacks_->enqueue(j); });
    sms_.answered(201, std::move(record), arrival);
    return;
  }
  answer(201, std::move(out));
}

} // namespace herald::tools
