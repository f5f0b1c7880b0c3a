// herald-test-links: herald_channels
#define CAF_SUITE webhook_signature

#include <caf/test/unit_test.hpp>

#include <string>

#include "core/crypto.hpp"
#include "channels/webhook_signature.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;
using webhook::verify_status;

namespace {

// The Standard Webhooks reference vector (standard-webhooks repository,
// libraries/python/tests/test_webhooks.py, test_sign_function; the same
// values are in the svix libraries' tests).
const std::string ref_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string ref_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const int64_t ref_ts = 1614265330;
const std::string ref_body = R"({"test": 2432232314})";
const std::string ref_signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

verify_status check_ref(const std::string& signature_header,
                        int64_t now = ref_ts) {
  return webhook::check(ref_secret, ref_id, std::to_string(ref_ts), ref_body,
                        signature_header, now);
}

} // namespace

CAF_TEST(sign reproduces the reference vector) {
  CAF_CHECK_EQUAL(webhook::sign(ref_secret, ref_id, ref_ts, ref_body),
                  ref_signature);
  // The prefix is optional, as in the reference libraries.
  CAF_CHECK_EQUAL(webhook::sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ref_id,
                                ref_ts, ref_body),
                  ref_signature);
}

CAF_TEST(verify accepts the reference vector) {
  CAF_CHECK(webhook::verify(ref_secret, ref_id, "1614265330", ref_body,
                            ref_signature, ref_ts));
  CAF_CHECK(check_ref(ref_signature) == verify_status::ok);
}

CAF_TEST(verify accepts a list with one matching signature) {
  auto other_v1 = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
  auto v2 = std::string{"v2,"} + ref_signature.substr(3);
  CAF_CHECK(check_ref(std::string{other_v1} + " " + v2 + " " + ref_signature
                      + " " + other_v1)
            == verify_status::ok);
  // Rotation: signed with the old and the new secret.
  auto fresh = webhook::new_webhook_secret();
  auto both = webhook::sign(fresh, ref_id, ref_ts, ref_body) + " "
              + ref_signature;
  CAF_CHECK(check_ref(both) == verify_status::ok);
  CAF_CHECK(webhook::verify(fresh, ref_id, std::to_string(ref_ts), ref_body,
                            both, ref_ts));
  // Garbage entries around it do not hurt.
  CAF_CHECK(check_ref("nonsense v1,!!! " + ref_signature) == verify_status::ok);
}

CAF_TEST(verify rejects a version other than v1) {
  CAF_CHECK(check_ref("v2," + ref_signature.substr(3))
            == verify_status::no_matching_signature);
  CAF_CHECK(check_ref(ref_signature.substr(3))
            == verify_status::no_matching_signature);
}

CAF_TEST(verify rejects tampering) {
  auto ts = std::to_string(ref_ts);
  CAF_CHECK(webhook::check(ref_secret, ref_id, ts, R"({"test": 2432232315})",
                           ref_signature, ref_ts)
            == verify_status::no_matching_signature);
  CAF_CHECK(webhook::check(ref_secret, "msg_other", ts, ref_body,
                           ref_signature, ref_ts)
            == verify_status::no_matching_signature);
  CAF_CHECK(webhook::check(ref_secret, ref_id, std::to_string(ref_ts + 1),
                           ref_body, ref_signature, ref_ts)
            == verify_status::no_matching_signature);
  // One flipped bit in the signature (the reference tests' "invalid" case).
  CAF_CHECK(check_ref("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=")
            == verify_status::no_matching_signature);
  // A truncated signature is not a prefix match.
  CAF_CHECK(check_ref("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ")
            == verify_status::no_matching_signature);
  // Another secret.
  CAF_CHECK(!webhook::verify(webhook::new_webhook_secret(), ref_id, ts,
                             ref_body, ref_signature, ref_ts));
}

CAF_TEST(verify enforces the timestamp tolerance in both directions) {
  CAF_CHECK(check_ref(ref_signature, ref_ts + 300) == verify_status::ok);
  CAF_CHECK(check_ref(ref_signature, ref_ts - 300) == verify_status::ok);
  CAF_CHECK(check_ref(ref_signature, ref_ts + 301)
            == verify_status::timestamp_out_of_tolerance);
  CAF_CHECK(check_ref(ref_signature, ref_ts - 301)
            == verify_status::timestamp_out_of_tolerance);
  CAF_CHECK(webhook::check(ref_secret, ref_id, std::to_string(ref_ts),
                           ref_body, ref_signature, ref_ts + 20, 10)
            == verify_status::timestamp_out_of_tolerance);
  CAF_CHECK(webhook::check(ref_secret, ref_id, std::to_string(ref_ts),
                           ref_body, ref_signature, ref_ts + 10, 10)
            == verify_status::ok);
}

CAF_TEST(verify rejects malformed headers) {
  auto ts = std::to_string(ref_ts);
  CAF_CHECK(webhook::check(ref_secret, "", ts, ref_body, ref_signature, ref_ts)
            == verify_status::missing_header);
  CAF_CHECK(webhook::check(ref_secret, ref_id, "", ref_body, ref_signature,
                           ref_ts)
            == verify_status::missing_header);
  CAF_CHECK(webhook::check(ref_secret, ref_id, ts, ref_body, "", ref_ts)
            == verify_status::missing_header);
  for (auto bad : {"hello", "1614265330.0", "-1614265330", " 1614265330",
                   "1614265330 ", "0x60381a72", "99999999999999999999"})
    CAF_CHECK(webhook::check(ref_secret, ref_id, bad, ref_body, ref_signature,
                             ref_ts)
              == verify_status::bad_timestamp);
  CAF_CHECK(webhook::check("whsec_!!!", ref_id, ts, ref_body, ref_signature,
                           ref_ts)
            == verify_status::bad_secret);
}

CAF_TEST(new secrets have the documented format) {
  auto secret = webhook::new_webhook_secret();
  CAF_CHECK_EQUAL(secret.substr(0, 6), "whsec_");
  CAF_CHECK_EQUAL(secret.size(), 6u + 32u); // base64 of 24 bytes
  auto key = webhook::signing_key(secret);
  CAF_REQUIRE(key.has_value());
  CAF_CHECK_EQUAL(key->size(), 24u);
  CAF_CHECK(webhook::is_valid_secret(secret));
  CAF_CHECK(secret != webhook::new_webhook_secret());
  // Round trip with a fresh secret and the current time.
  auto now = int64_t{1'700'000'000};
  auto sig = webhook::sign(secret, "msg_1", now, "{}");
  CAF_CHECK_EQUAL(sig.substr(0, 3), "v1,");
  CAF_CHECK(webhook::verify(secret, "msg_1", std::to_string(now), "{}", sig,
                            now));
}

CAF_TEST(secret validation) {
  CAF_CHECK(webhook::is_valid_secret(ref_secret));
  CAF_CHECK(!webhook::is_valid_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
  CAF_CHECK(!webhook::is_valid_secret("whsec_"));
  CAF_CHECK(!webhook::is_valid_secret("whsec_c2hvcnQ=")); // 5 bytes
  CAF_CHECK(!webhook::is_valid_secret("whsec_not base64!"));
  CAF_CHECK(!webhook::is_valid_secret(
    "whsec_" + crypto::base64_encode(std::string(65, 'k'))));
  CAF_CHECK(webhook::is_valid_secret(
    "whsec_" + crypto::base64_encode(std::string(64, 'k'))));
  // Unpadded base64 is accepted, as the reference libraries do.
  auto unpadded = "whsec_" + crypto::base64_encode(std::string(25, 'k'));
  while (unpadded.back() == '=')
    unpadded.pop_back();
  CAF_CHECK(webhook::is_valid_secret(unpadded));
  // An unusable secret signs nothing rather than throwing.
  CAF_CHECK_EQUAL(webhook::sign("whsec_!!!", ref_id, ref_ts, ref_body), "");
  CAF_CHECK_EQUAL(webhook::sign("", ref_id, ref_ts, ref_body), "");
}
