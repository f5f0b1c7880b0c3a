// herald-test-links: herald_channels
#define CAF_SUITE fcm

#include <caf/test/unit_test.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "channels/classify.hpp"
#include "channels/fcm.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;
using nlohmann::json;

namespace {

fcm::settings test_settings() {
  fcm::settings cfg;
  cfg.project = "herald-demo";
  cfg.token = "ya29.token";
  return cfg;
}

// FCM's error body with an FcmError detail.
std::string error_body(int code, const std::string& status,
                       const std::string& message,
                       const std::string& error_code) {
  json err{{"code", code}, {"message", message}, {"status", status}};
  if (!error_code.empty())
    err["details"] = json::array(
      {{{"@type", "type.googleapis.com/google.firebase.fcm.v1.FcmError"},
        {"errorCode", error_code}}});
  return json{{"error", err}}.dump();
}

const char* kind(const classified& c) {
  return to_string(c.kind);
}

} // namespace

CAF_TEST(build_request shapes messages send) {
  auto req = fcm::build_request(test_settings(), "tok-1", "Hi", "There",
                                R"({"order": "42"})");
  CAF_CHECK_EQUAL(req.error, "");
  CAF_CHECK_EQUAL(req.url, "https://fcm.googleapis.com/v1/projects/"
                           "herald-demo/messages:send");
  CAF_CHECK_EQUAL(req.content_type, "application/json");
  CAF_REQUIRE_EQUAL(req.headers.size(), 1u);
  CAF_CHECK_EQUAL(req.headers[0].first, "Authorization");
  CAF_CHECK_EQUAL(req.headers[0].second, "Bearer ya29.token");
  auto body = json::parse(req.body);
  CAF_CHECK(body
            == json::parse(R"({"message": {"token": "tok-1",
                 "notification": {"title": "Hi", "body": "There"},
                 "data": {"order": "42"}}})"));
}

CAF_TEST(data values that are not strings are sent as JSON text) {
  auto req = fcm::build_request(
    test_settings(), "t", "T", "B",
    R"({"n": 1, "f": 1.5, "b": true, "z": null, "o": {"a": [1, "x"]}, "s": "é"})");
  CAF_REQUIRE_EQUAL(req.error, "");
  auto data = json::parse(req.body)["message"]["data"];
  CAF_CHECK_EQUAL(data["n"].get<std::string>(), "1");
  CAF_CHECK_EQUAL(data["f"].get<std::string>(), "1.5");
  CAF_CHECK_EQUAL(data["b"].get<std::string>(), "true");
  CAF_CHECK_EQUAL(data["z"].get<std::string>(), "null");
  CAF_CHECK_EQUAL(data["o"].get<std::string>(), R"({"a":[1,"x"]})");
  CAF_CHECK_EQUAL(data["s"].get<std::string>(), "é");
  for (const auto& [k, v] : data.items())
    CAF_CHECK(v.is_string());
}

CAF_TEST(empty parts are left out) {
  auto cfg = test_settings();
  cfg.base_url = "http://127.0.0.1:8099/";
  cfg.project = "a b/c";
  auto req = fcm::build_request(cfg, "t", "", "", "");
  CAF_CHECK_EQUAL(req.url,
                  "http://127.0.0.1:8099/v1/projects/a%20b%2Fc/messages:send");
  CAF_CHECK(json::parse(req.body)
            == json::parse(R"({"message": {"token": "t"}})"));
  req = fcm::build_request(cfg, "t", "", "only body", "{}");
  CAF_CHECK(json::parse(req.body)
            == json::parse(R"({"message": {"token": "t",
                 "notification": {"body": "only body"}}})"));
  cfg.base_url = "";
  CAF_CHECK_EQUAL(fcm::build_request(cfg, "t", "x", "", "").url.rfind(
                    "https://fcm.googleapis.com/v1/", 0),
                  0u);
}

CAF_TEST(data that is not a JSON object is an error) {
  for (auto bad : {"[1]", "\"x\"", "{", "nope", "1"}) {
    auto req = fcm::build_request(test_settings(), "t", "a", "b", bad);
    CAF_CHECK_NOT_EQUAL(req.error, "");
    CAF_CHECK_EQUAL(req.body, "");
  }
}

CAF_TEST(parse_response of a success) {
  auto r = fcm::parse_response(
    R"({"name": "projects/herald-demo/messages/0:1500415314455276%31bd1c96"})");
  CAF_CHECK_EQUAL(r.name, "projects/herald-demo/messages/0:1500415314455276%31bd1c96");
  CAF_CHECK_EQUAL(r.status, "");
  CAF_CHECK_EQUAL(r.error_code, "");
  CAF_CHECK_EQUAL(fcm::classify_reason(r), "");
  CAF_CHECK(!fcm::token_dead(200, r));
}

CAF_TEST(parse_response of errors) {
  auto r = fcm::parse_response(error_body(404, "NOT_FOUND",
                                          "Requested entity was not found.",
                                          "UNREGISTERED"));
  CAF_CHECK_EQUAL(r.name, "");
  CAF_CHECK_EQUAL(r.status, "NOT_FOUND");
  CAF_CHECK_EQUAL(r.error_code, "UNREGISTERED");
  CAF_CHECK_EQUAL(r.message, "Requested entity was not found.");
  CAF_CHECK_EQUAL(fcm::classify_reason(r), "UNREGISTERED");
  // Details of other types are skipped; without an FcmError the status is
  // the reason.
  r = fcm::parse_response(R"({"error": {"code": 503, "status": "UNAVAILABLE",
    "message": "x", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
    "retryDelay": "1s"}, 7]}})");
  CAF_CHECK_EQUAL(r.error_code, "");
  CAF_CHECK_EQUAL(fcm::classify_reason(r), "UNAVAILABLE");
  for (auto body : {"", "<html/>", "[]", R"({"error": "x"})",
                    R"({"error": {"status": 3}})"}) {
    auto e = fcm::parse_response(body);
    CAF_CHECK_EQUAL(e.status, "");
    CAF_CHECK_EQUAL(e.error_code, "");
  }
}

CAF_TEST(token_dead for unregistered and invalid tokens only) {
  auto unregistered = fcm::parse_response(
    error_body(404, "NOT_FOUND", "Requested entity was not found.",
               "UNREGISTERED"));
  CAF_CHECK(fcm::token_dead(404, unregistered));
  CAF_CHECK_EQUAL(kind(classify_push(404, fcm::classify_reason(unregistered))),
                  std::string{"permanent"});
  auto bad_token = fcm::parse_response(
    error_body(400, "INVALID_ARGUMENT",
               "The registration token is not a valid FCM registration token",
               "INVALID_ARGUMENT"));
  CAF_CHECK(fcm::token_dead(400, bad_token));
  // The same without the FcmError detail: the status says it.
  auto bad_token_plain = fcm::parse_response(
    error_body(400, "INVALID_ARGUMENT",
               "The registration token is not a valid FCM registration token",
               ""));
  CAF_CHECK(fcm::token_dead(400, bad_token_plain));
  // A bad payload is permanent but says nothing about the token.
  auto bad_payload = fcm::parse_response(
    error_body(400, "INVALID_ARGUMENT",
               "Invalid value at 'message.data[0].value' (TYPE_STRING), 1",
               "INVALID_ARGUMENT"));
  CAF_CHECK(!fcm::token_dead(400, bad_payload));
  CAF_CHECK_EQUAL(kind(classify_push(400, fcm::classify_reason(bad_payload))),
                  std::string{"permanent"});
  // A foreign sender or an outage never kill tokens.
  auto mismatch = fcm::parse_response(error_body(
    403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"));
  CAF_CHECK(!fcm::token_dead(403, mismatch));
  auto unavailable = fcm::parse_response(
    error_body(503, "UNAVAILABLE", "The service is currently unavailable.",
               "UNAVAILABLE"));
  CAF_CHECK(!fcm::token_dead(503, unavailable));
  CAF_CHECK_EQUAL(kind(classify_push(503, fcm::classify_reason(unavailable))),
                  std::string{"retryable"});
  // A 2xx is never dead, whatever the body says.
  CAF_CHECK(!fcm::token_dead(200, unregistered));
}
