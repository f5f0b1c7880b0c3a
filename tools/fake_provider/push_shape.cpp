// The FCM HTTP v1 shape of the fake: POST /v1/projects/{project}/messages:send
// with a bearer token and a JSON body, answered as FCM answers. The device
// token decides the outcome: "dead-…" is unregistered (404), "bad-…" not a
// valid registration token (400), "unavailable-…" meets an outage (503).

#include "fake_provider.hpp"

#include "core/crypto.hpp"
#include "core/json_text.hpp"

namespace herald::tools {

using nlohmann::json;
using std::chrono::steady_clock;

namespace {

// FCM's error body; `error_code` goes into an FcmError detail ("" = none).
json fcm_error(int code, const std::string& status, const std::string& message,
               const std::string& error_code = {}) {
  json err{{"code", code}, {"message", message}, {"status", status}};
  if (!error_code.empty())
    err["details"] = json::array(
      {{{"@type", "type.googleapis.com/google.firebase.fcm.v1.FcmError"},
        {"errorCode", error_code}}});
  return {{"error", std::move(err)}};
}

// The body of an injected failure: the google.rpc status (and FCM
// errorCode) FCM gives for that HTTP status.
json injected_error(int status) {
  switch (status) {
    case 400:
      return fcm_error(status, "INVALID_ARGUMENT", "injected failure",
                       "INVALID_ARGUMENT");
    case 401:
      return fcm_error(status, "UNAUTHENTICATED", "injected failure",
                       "THIRD_PARTY_AUTH_ERROR");
    case 403:
      return fcm_error(status, "PERMISSION_DENIED", "injected failure",
                       "SENDER_ID_MISMATCH");
    case 404:
      return fcm_error(status, "NOT_FOUND", "injected failure");
    case 429:
      return fcm_error(status, "RESOURCE_EXHAUSTED", "injected failure",
                       "QUOTA_EXCEEDED");
    case 500:
      return fcm_error(status, "INTERNAL", "injected failure", "INTERNAL");
    case 503:
      return fcm_error(status, "UNAVAILABLE", "injected failure",
                       "UNAVAILABLE");
    case 504:
      return fcm_error(status, "DEADLINE_EXCEEDED", "injected failure");
    default:
      return fcm_error(status, "UNKNOWN", "injected failure");
  }
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

} // namespace

void fake_provider::handle_fcm(const httplib::Request& req,
                               httplib::Response& res) {
  auto arrival = steady_clock::now();
  fault_config f;
  if (!shape_prologue(fcm_, res, f))
    return;
  if (!crypto::constant_time_equal(req.get_header_value("Authorization"),
                                   "Bearer " + opts_.fcm_token)) {
    fcm_.count_unauthorized();
    res.set_header("WWW-Authenticate", R"(Bearer realm="https://accounts.google.com/")");
    reply_json(res, 401,
               fcm_error(401, "UNAUTHENTICATED",
                         "Request had invalid authentication credentials. "
                         "Expected OAuth 2 access token, login cookie or "
                         "other valid authentication credential."));
    return;
  }
  if (roll_failure(f)) {
    fcm_.count_injected();
    if (!f.retry_after.empty())
      res.set_header("Retry-After", f.retry_after);
    reply_json(res, f.fail_status, injected_error(f.fail_status));
    return;
  }
  std::string project = req.matches[1];
  json record{{"request_id", req.get_header_value("X-Request-Id")},
              {"project", project},
              {"token", ""},
              {"title", ""},
              {"body", ""},
              {"data", json::object()},
              {"name", ""}};
  auto answer = [&](int status, json body) {
    reply_json(res, status, body);
    fcm_.answered(status, std::move(record), arrival);
  };
  auto invalid = [&](const std::string& message,
                     const std::string& error_code = "INVALID_ARGUMENT") {
    answer(400, fcm_error(400, "INVALID_ARGUMENT", message, error_code));
  };
  auto body = parse_json(req.body);
  if (!body.is_object()) {
    invalid("Invalid JSON payload received.", "");
    return;
  }
  auto msg = body.find("message");
  if (msg == body.end() || !msg->is_object()) {
    invalid("Invalid JSON payload received. Unknown name or missing "
            "\"message\".",
            "");
    return;
  }
  auto text = [&](const json& obj, const char* name) {
    auto i = obj.find(name);
    return i != obj.end() && i->is_string() ? i->get<std::string>()
                                            : std::string{};
  };
  auto token = text(*msg, "token");
  record["token"] = token;
  if (auto n = msg->find("notification"); n != msg->end()) {
    if (!n->is_object()) {
      invalid("Invalid value at 'message.notification'");
      return;
    }
    record["title"] = text(*n, "title");
    record["body"] = text(*n, "body");
  }
  if (auto d = msg->find("data"); d != msg->end()) {
    if (!d->is_object()) {
      invalid("Invalid value at 'message.data'");
      return;
    }
    size_t i = 0;
    for (const auto& [key, value] : d->items()) {
      if (!value.is_string()) {
        invalid("Invalid value at 'message.data[" + std::to_string(i)
                + "].value' (TYPE_STRING), " + dump_json(value));
        return;
      }
      ++i;
    }
    record["data"] = *d;
  }
  if (token.empty()) {
    invalid("Recipient of the message is not set.");
    return;
  }
  if (starts_with(token, "dead-")) {
    answer(404, fcm_error(404, "NOT_FOUND", "Requested entity was not found.",
                          "UNREGISTERED"));
    return;
  }
  if (starts_with(token, "bad-")) {
    invalid("The registration token is not a valid FCM registration token");
    return;
  }
  if (starts_with(token, "unavailable-")) {
    answer(503, fcm_error(503, "UNAVAILABLE",
                          "The service is currently unavailable.",
                          "UNAVAILABLE"));
    return;
  }
  auto name = "projects/" + project + "/messages/0:"
              + crypto::hex_encode(crypto::random_bytes(8));
  record["name"] = name;
  answer(200, {{"name", name}});
}

} // namespace herald::tools
