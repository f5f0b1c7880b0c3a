// herald-test-links: herald_channels
#define CAF_SUITE twilio

#include <caf/test/unit_test.hpp>

#include <string>

#include "channels/classify.hpp"
#include "channels/twilio.hpp"
#include "core/crypto.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;
using twilio::form_fields;

namespace {

// The worked example of Twilio's "Validating requests" documentation
// (twilio.com/docs/usage/security), also the vector of the official
// libraries' tests (twilio-python tests/unit/test_request_validator.py).
const std::string doc_token = "12345";
const std::string doc_url = "https://mycompany.com/myapp.php?foo=1&bar=2";
const form_fields doc_params{{"CallSid", "CA1234567890ABCDE"},
                             {"Caller", "+14158675309"},
                             {"Digits", "1234"},
                             {"From", "+14158675309"},
                             {"To", "+18005551212"}};
const std::string doc_signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

std::string header(const twilio::request& req, const std::string& name) {
  for (const auto& [k, v] : req.headers)
    if (k == name)
      return v;
  return {};
}

} // namespace

CAF_TEST(the documented signature example) {
  CAF_CHECK_EQUAL(twilio::signature(doc_token, doc_url, doc_params),
                  doc_signature);
  // Parameter order does not matter: they are sorted by name.
  form_fields shuffled{doc_params.rbegin(), doc_params.rend()};
  CAF_CHECK_EQUAL(twilio::signature(doc_token, doc_url, shuffled),
                  doc_signature);
  CAF_CHECK(twilio::verify_signature(doc_token, doc_url, doc_params,
                                     doc_signature));
}

CAF_TEST(repeated names are sorted by value) {
  // twilio-python's test_compute_signature_duplicate_multi_dict.
  form_fields params{{"Sid", "CA123"},
                     {"SidAccount", "AC123"},
                     {"Digits", "5678"},
                     {"Digits", "1234"}};
  CAF_CHECK_EQUAL(twilio::signature(doc_token, doc_url, params),
                  "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
}

CAF_TEST(verify_signature refuses any change) {
  auto tampered = doc_params;
  tampered[2].second = "9999";
  CAF_CHECK(!twilio::verify_signature(doc_token, doc_url, tampered,
                                      doc_signature));
  CAF_CHECK(!twilio::verify_signature("54321", doc_url, doc_params,
                                      doc_signature));
  CAF_CHECK(!twilio::verify_signature(doc_token, doc_url + "&baz=3",
                                      doc_params, doc_signature));
  CAF_CHECK(!twilio::verify_signature(doc_token, doc_url, doc_params, ""));
  CAF_CHECK(!twilio::verify_signature(doc_token, doc_url, doc_params,
                                      doc_signature + "="));
  // An added parameter changes the signature too.
  auto more = doc_params;
  more.emplace_back("ErrorCode", "30003");
  CAF_CHECK(!twilio::verify_signature(doc_token, doc_url, more,
                                      doc_signature));
}

CAF_TEST(the default port may be added or dropped as Twilio validators allow) {
  CAF_CHECK_EQUAL(twilio::url_variants("https://h.example/x?a=1"),
                  (std::vector<std::string>{"https://h.example/x?a=1",
                                            "https://h.example:443/x?a=1"}));
  CAF_CHECK_EQUAL(twilio::url_variants("https://h.example:443/x"),
                  (std::vector<std::string>{"https://h.example:443/x",
                                            "https://h.example/x"}));
  CAF_CHECK_EQUAL(twilio::url_variants("http://h:8080/x"),
                  (std::vector<std::string>{"http://h:8080/x"}));
  CAF_CHECK_EQUAL(twilio::url_variants("http://h"),
                  (std::vector<std::string>{"http://h", "http://h:80"}));
  // Signed for the URL with the port, configured without it: accepted.
  auto with_port = twilio::url_variants(doc_url).at(1);
  auto sig = twilio::signature(doc_token, with_port, doc_params);
  CAF_CHECK(twilio::verify_signature(doc_token, doc_url, doc_params, sig));
  // Another port is another URL.
  auto other = twilio::signature(doc_token, "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
                                 doc_params);
  CAF_CHECK(!twilio::verify_signature(doc_token, doc_url, doc_params, other));
}

CAF_TEST(form_encode follows the urlencoded serializer) {
  CAF_CHECK_EQUAL(twilio::form_encode({}), "");
  CAF_CHECK_EQUAL(twilio::form_encode({{"To", "+15551234567"}}),
                  "To=%2B15551234567");
  CAF_CHECK_EQUAL(twilio::form_encode({{"Body", "Hi there & bye=1"},
                                       {"a*b", "x-y.z_~"}}),
                  "Body=Hi+there+%26+bye%3D1&a*b=x-y.z_%7E");
  // UTF-8 byte by byte, uppercase hex.
  CAF_CHECK_EQUAL(twilio::form_encode({{"Body", "caf\xc3\xa9 \xf0\x9f\x98\x80"}}),
                  "Body=caf%C3%A9+%F0%9F%98%80");
  CAF_CHECK_EQUAL(twilio::form_encode({{"e", ""}, {"", "v"}}), "e=&=v");
}

CAF_TEST(form_decode inverts form_encode) {
  form_fields fields{{"To", "+15551234567"},
                     {"Body", "Hi there & bye=1 \xc3\xa9\n%"},
                     {"Empty", ""},
                     {"To", "again"}};
  auto decoded = twilio::form_decode(twilio::form_encode(fields));
  CAF_REQUIRE(decoded);
  CAF_CHECK(*decoded == fields);
}

CAF_TEST(form_decode of what other encoders send) {
  auto d = twilio::form_decode("a=1&&b=%2b%2B+c&flag&=v&");
  CAF_REQUIRE(d);
  CAF_REQUIRE_EQUAL(d->size(), 4u);
  CAF_CHECK_EQUAL((*d)[0].first, "a");
  CAF_CHECK_EQUAL((*d)[0].second, "1");
  CAF_CHECK_EQUAL((*d)[1].second, "++ c");
  CAF_CHECK_EQUAL((*d)[2].first, "flag");
  CAF_CHECK_EQUAL((*d)[2].second, "");
  CAF_CHECK_EQUAL((*d)[3].first, "");
  CAF_CHECK_EQUAL((*d)[3].second, "v");
  CAF_CHECK(twilio::form_decode("")->empty());
  for (auto bad : {"a=%", "a=%4", "a=%zz", "%g1=2", "a=b%"})
    CAF_CHECK(!twilio::form_decode(bad));
}

CAF_TEST(build_request shapes the Messages call) {
  twilio::settings cfg;
  cfg.account_sid = "ACabc123";
  cfg.auth_token = "secret";
  cfg.from = "+15005550006";
  auto req = twilio::build_request(cfg, "+15551234567", "Hello, world!");
  CAF_CHECK_EQUAL(req.url, "https://api.twilio.com/2010-04-01/Accounts/"
                           "ACabc123/Messages.json");
  CAF_CHECK_EQUAL(req.body, "To=%2B15551234567&From=%2B15005550006"
                            "&Body=Hello%2C+world%21");
  CAF_CHECK_EQUAL(req.content_type, "application/x-www-form-urlencoded");
  CAF_CHECK_EQUAL(header(req, "Authorization"),
                  "Basic " + crypto::base64_encode("ACabc123:secret"));
  cfg.base_url = "http://127.0.0.1:8099/";
  cfg.status_callback = "http://127.0.0.1:9000/receipts/sms?t=1";
  cfg.account_sid = "AC/../x";
  req = twilio::build_request(cfg, "+1", "x");
  CAF_CHECK_EQUAL(req.url, "http://127.0.0.1:8099/2010-04-01/Accounts/"
                           "AC%2F..%2Fx/Messages.json");
  auto fields = twilio::form_decode(req.body);
  CAF_REQUIRE(fields);
  CAF_REQUIRE_EQUAL(fields->size(), 4u);
  CAF_CHECK_EQUAL(fields->back().first, "StatusCallback");
  CAF_CHECK_EQUAL(fields->back().second, cfg.status_callback);
  cfg.base_url = "";
  CAF_CHECK_EQUAL(twilio::build_request(cfg, "+1", "x").url.rfind(
                    "https://api.twilio.com/", 0),
                  0u);
}

CAF_TEST(parse_response of a queued message) {
  auto r = twilio::parse_response(
    R"({"sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "queued",
        "error_code": null, "error_message": null, "to": "+15551234567"})");
  CAF_CHECK_EQUAL(r.sid, "SM1f0e8ae6ade43cb3c0ce4525424e404f");
  CAF_CHECK_EQUAL(r.status, "queued");
  CAF_CHECK_EQUAL(r.error_code, "");
  CAF_CHECK_EQUAL(r.message, "");
}

CAF_TEST(parse_response of an error) {
  auto r = twilio::parse_response(
    R"({"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})");
  CAF_CHECK_EQUAL(r.sid, "");
  CAF_CHECK_EQUAL(r.status, "");
  CAF_CHECK_EQUAL(r.error_code, "21211");
  CAF_CHECK_EQUAL(r.message,
                  "The 'To' number +15005550001 is not a valid phone number.");
  CAF_CHECK_EQUAL(to_string(classify_sms(400, r.error_code).kind),
                  std::string{"permanent"});
  // A code sent as a string, and a message resource that failed later.
  CAF_CHECK_EQUAL(twilio::parse_response(R"({"code": "20429"})").error_code,
                  "20429");
  r = twilio::parse_response(
    R"({"sid": "SM1", "status": "failed", "error_code": 30007,
        "error_message": "Carrier violation"})");
  CAF_CHECK_EQUAL(r.status, "failed");
  CAF_CHECK_EQUAL(r.error_code, "30007");
  CAF_CHECK_EQUAL(r.message, "Carrier violation");
}

CAF_TEST(parse_response of what is not JSON leaves everything empty) {
  for (auto body : {"", "<html>Bad Gateway</html>", "[1,2]", "\"x\"",
                    R"({"code": 1.5, "status": 503, "sid": null})"}) {
    auto r = twilio::parse_response(body);
    CAF_CHECK_EQUAL(r.sid, "");
    CAF_CHECK_EQUAL(r.status, "");
    CAF_CHECK_EQUAL(r.error_code, "");
    CAF_CHECK_EQUAL(r.message, "");
  }
}
