// herald-test-links: herald_channels
#define CAF_SUITE webpush

#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "channels/webpush.hpp"
#include "core/crypto.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;

namespace {

std::string b64u(const std::string& text) {
  auto x = crypto::base64url_decode(text);
  if (!x)
    CAF_FAIL("bad base64url in the test data: " << text);
  return *x;
}

// RFC 8291 section 5 and appendix A (the same values appear in Mozilla's and
// the web-push libraries' tests).
namespace rfc8291 {
const std::string plaintext = "When I grow up, I want to be a watermelon";
const std::string as_private = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
const std::string as_public = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIg"
                              "Dll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
const std::string ua_private = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
const std::string ua_public = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx"
                              "aOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const std::string salt = "DGv6ra1nlYgDCS1FRnbzlw";
const std::string auth_secret = "BTBZMqHH6r4Tts7J_aSIgg";
// Appendix A gives header and ciphertext separately, section 5 the whole
// body (base64url of the concatenation, so the strings do not simply join).
const std::string header = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7"
                           "VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tlz"
                           "AC8wEqKK6PBru3jl7A8";
const std::string ciphertext = "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1"
                               "sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ";
const std::string body = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSP"
                         "QTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqK"
                         "K6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbu"
                         "wXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";
} // namespace rfc8291

// RFC 8292 section 2.4: a token signed by someone else's implementation.
namespace rfc8292 {
const std::string jwt_header = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9";
const std::string jwt_claims = "eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLC"
                               "JleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNo"
                               "QGV4YW1wbGUuY29tIn0";
const std::string jwt_signature = "i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiU"
                                  "fnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA";
const std::string k = "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic"
                      "-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
const int64_t exp = 1453523768;
const std::string authorization = "vapid t=" + jwt_header + "." + jwt_claims
                                  + "." + jwt_signature + ", k=" + k;
} // namespace rfc8292

webpush::subscription rfc_subscription() {
  return {"https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
          rfc8291::ua_public, rfc8291::auth_secret};
}

// -- keys made with OpenSSL for the VAPID tests --------------------------------

struct pkey_deleter {
  void operator()(EVP_PKEY* x) const {
    EVP_PKEY_free(x);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

pkey_ptr new_ec_key(const char* curve) {
  pkey_ptr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)};
  CAF_REQUIRE(key != nullptr);
  return key;
}

enum class pem_form { traditional, pkcs8, encrypted_pkcs8 };

std::string to_pem(EVP_PKEY* key, pem_form form) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()),
                                                &BIO_free};
  CAF_REQUIRE(bio != nullptr);
  int ok = 0;
  switch (form) {
    case pem_form::traditional: // what `openssl ecparam -genkey` writes
      ok = PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr,
                                                nullptr, 0, nullptr, nullptr);
      break;
    case pem_form::pkcs8:
      ok = PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                    nullptr, nullptr);
      break;
    case pem_form::encrypted_pkcs8: {
      char pass[] = "secret";
      ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(),
                                         pass, 6, nullptr, nullptr);
      break;
    }
  }
  CAF_REQUIRE_EQUAL(ok, 1);
  char* data = nullptr;
  auto len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// A file under the temp directory, removed at scope exit.
struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& content)
    : path(std::filesystem::temp_directory_path()
           / ("herald-webpush-test-" + crypto::random_token(9) + ".pem")) {
    std::ofstream out{path, std::ios::binary};
    out << content;
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

std::unique_ptr<webpush::vapid_signer> load(const std::string& pem) {
  std::string error;
  auto signer = webpush::vapid_signer::from_pem(pem, error);
  if (!signer)
    CAF_FAIL("from_pem: " << error);
  return signer;
}

struct parsed_authorization {
  std::string t;
  std::string k;
  std::string header;    // base64url segments
  std::string claims;
  std::string signature;
};

parsed_authorization split(const std::string& authorization) {
  parsed_authorization x;
  CAF_REQUIRE_EQUAL(authorization.substr(0, 8), "vapid t=");
  auto comma = authorization.find(", k=");
  CAF_REQUIRE(comma != std::string::npos);
  x.t = authorization.substr(8, comma - 8);
  x.k = authorization.substr(comma + 4);
  auto dot1 = x.t.find('.');
  auto dot2 = x.t.find('.', dot1 + 1);
  CAF_REQUIRE(dot2 != std::string::npos);
  x.header = x.t.substr(0, dot1);
  x.claims = x.t.substr(dot1 + 1, dot2 - dot1 - 1);
  x.signature = x.t.substr(dot2 + 1);
  return x;
}

std::string with_t(const parsed_authorization& x, const std::string& header,
                   const std::string& claims, const std::string& signature) {
  return "vapid t=" + header + "." + claims + "." + signature + ", k=" + x.k;
}

const int64_t now = 1'700'000'000;
const std::string endpoint = "https://push.example.net/wpush/v2/gAAAAABk";
const std::string audience = "https://push.example.net";

} // namespace

// -- RFC 8291 -----------------------------------------------------------------

CAF_TEST(the RFC 8291 test data is self consistent) {
  // Guards the vector itself against a copying mistake: the body of
  // section 5 is the header and ciphertext of appendix A.
  CAF_CHECK_EQUAL(b64u(rfc8291::body),
                  b64u(rfc8291::header) + b64u(rfc8291::ciphertext));
  CAF_CHECK_EQUAL(b64u(rfc8291::header).substr(21), b64u(rfc8291::as_public));
  CAF_CHECK_EQUAL(b64u(rfc8291::body).size(),
                  86u + rfc8291::plaintext.size() + 1 + 16);
}

CAF_TEST(encrypt_with reproduces the RFC 8291 example) {
  std::string error;
  auto body = webpush::encrypt_with(rfc_subscription(), rfc8291::plaintext,
                                    b64u(rfc8291::salt),
                                    b64u(rfc8291::as_private), error);
  CAF_REQUIRE_EQUAL(error, "");
  CAF_REQUIRE(body.has_value());
  CAF_CHECK_EQUAL(crypto::hex_encode(*body),
                  crypto::hex_encode(b64u(rfc8291::body)));
  CAF_CHECK_EQUAL(crypto::base64url_encode(*body), rfc8291::body);
}

CAF_TEST(decrypt opens the RFC 8291 example) {
  std::string error;
  auto plain = webpush::decrypt(b64u(rfc8291::body), b64u(rfc8291::ua_private),
                                b64u(rfc8291::auth_secret), error);
  CAF_REQUIRE_EQUAL(error, "");
  CAF_REQUIRE(plain.has_value());
  CAF_CHECK_EQUAL(*plain, rfc8291::plaintext);
}

CAF_TEST(encrypt and decrypt round trip with fresh keys) {
  auto ua = webpush::generate_ua_keys();
  CAF_CHECK_EQUAL(ua.private_raw.size(), 32u);
  auto point = b64u(ua.p256dh);
  CAF_CHECK_EQUAL(point.size(), 65u);
  CAF_CHECK_EQUAL(point[0], '\x04');
  CAF_CHECK_EQUAL(b64u(ua.auth).size(), 16u);
  CAF_CHECK_EQUAL(ua.p256dh.find('='), std::string::npos);
  auto auth = b64u(ua.auth);
  webpush::subscription sub{"https://fcm.googleapis.com/fcm/send/abc",
                            ua.p256dh, ua.auth};
  auto payload = std::string{R"({"title":"Hi","body":"caf\u00e9 \x00 bytes"})"};
  payload += std::string("\0\x01\x02\xff", 4); // any bytes, even NUL and 0x02
  for (const auto& plain : {payload, std::string{},
                            std::string(webpush::max_plaintext, 'x')}) {
    std::string error;
    auto body1 = webpush::encrypt(sub, plain, error);
    CAF_REQUIRE(body1.has_value());
    auto body2 = webpush::encrypt(sub, plain, error);
    CAF_REQUIRE(body2.has_value());
    // Fresh salt and ephemeral key per message.
    CAF_CHECK_NOT_EQUAL(body1->substr(0, 16), body2->substr(0, 16));
    CAF_CHECK_NOT_EQUAL(body1->substr(21, 65), body2->substr(21, 65));
    CAF_CHECK_EQUAL(body1->size(), 86u + plain.size() + 1 + 16);
    CAF_CHECK_EQUAL(crypto::hex_encode(body1->substr(16, 5)), "0000100041");
    CAF_CHECK_LESS_OR_EQUAL(body1->size() - 86, 4096u);
    for (const auto& body : {*body1, *body2}) {
      auto back = webpush::decrypt(body, ua.private_raw, auth, error);
      CAF_REQUIRE(back.has_value());
      CAF_CHECK(*back == plain);
    }
  }
  // One byte over RFC 8291's single-record limit.
  std::string error;
  CAF_CHECK(!webpush::encrypt(sub, std::string(webpush::max_plaintext + 1, 'x'),
                              error));
  CAF_CHECK_NOT_EQUAL(error.find("exceeds"), std::string::npos);
}

CAF_TEST(decrypt rejects tampered bodies and wrong keys) {
  auto body = b64u(rfc8291::body);
  auto ua_private = b64u(rfc8291::ua_private);
  auto auth = b64u(rfc8291::auth_secret);
  std::string error;
  // Every single flipped bit in salt, keyid, ciphertext and tag is caught.
  for (size_t i = 0; i < body.size(); ++i) {
    if (i >= 16 && i < 21)
      continue; // rs and idlen: checked below
    auto bad = body;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    error.clear();
    CAF_CHECK(!webpush::decrypt(bad, ua_private, auth, error));
    CAF_CHECK_NOT_EQUAL(error, "");
  }
  // rs smaller than the record means a second record.
  auto small_rs = body;
  small_rs[18] = 0;
  small_rs[19] = 40;
  CAF_CHECK(!webpush::decrypt(small_rs, ua_private, auth, error));
  CAF_CHECK_NOT_EQUAL(error.find("more than one record"), std::string::npos);
  auto bad_idlen = body;
  bad_idlen[20] = 64;
  CAF_CHECK(!webpush::decrypt(bad_idlen, ua_private, auth, error));
  // Truncated anywhere.
  for (size_t n : {0, 1, 20, 21, 85, 86, 90, 102, 103})
    CAF_CHECK(!webpush::decrypt(body.substr(0, n), ua_private, auth, error));
  CAF_CHECK(!webpush::decrypt(body.substr(0, body.size() - 1), ua_private,
                              auth, error));
  // Extra bytes after the tag.
  CAF_CHECK(!webpush::decrypt(body + "x", ua_private, auth, error));
  // Wrong auth secret, wrong private key, unusable key material.
  auto wrong_auth = auth;
  wrong_auth[0] = static_cast<char>(wrong_auth[0] ^ 0x80);
  CAF_CHECK(!webpush::decrypt(body, ua_private, wrong_auth, error));
  CAF_CHECK_NOT_EQUAL(error.find("decryption failed"), std::string::npos);
  auto other = webpush::generate_ua_keys();
  CAF_CHECK(!webpush::decrypt(body, other.private_raw, auth, error));
  CAF_CHECK(!webpush::decrypt(body, ua_private, auth.substr(0, 15), error));
  CAF_CHECK(!webpush::decrypt(body, ua_private.substr(0, 31), auth, error));
  CAF_CHECK(!webpush::decrypt(body, std::string(32, '\0'), auth, error));
  CAF_CHECK(!webpush::decrypt(body, std::string(32, '\xff'), auth, error));
}

CAF_TEST(encrypt refuses unusable subscription keys and sender keys) {
  auto salt = b64u(rfc8291::salt);
  auto as_private = b64u(rfc8291::as_private);
  auto check_refused = [&](webpush::subscription sub) {
    std::string error;
    CAF_CHECK(!webpush::encrypt_with(sub, "x", salt, as_private, error));
    CAF_CHECK_NOT_EQUAL(error, "");
    CAF_CHECK(!webpush::encrypt(sub, "x", error));
  };
  auto sub = rfc_subscription();
  sub.p256dh = "not base64!";
  check_refused(sub);
  sub = rfc_subscription();
  sub.p256dh = crypto::base64url_encode(b64u(rfc8291::ua_public).substr(0, 64));
  check_refused(sub);
  sub = rfc_subscription();
  auto off_curve = b64u(rfc8291::ua_public);
  off_curve[64] = static_cast<char>(off_curve[64] ^ 0x01);
  sub.p256dh = crypto::base64url_encode(off_curve);
  check_refused(sub);
  sub = rfc_subscription();
  sub.auth = crypto::base64url_encode(std::string(15, 'a'));
  check_refused(sub);
  std::string error;
  CAF_CHECK(!webpush::encrypt_with(rfc_subscription(), "x", salt.substr(1),
                                   as_private, error));
  CAF_CHECK(!webpush::encrypt_with(rfc_subscription(), "x", salt,
                                   std::string(32, '\0'), error));
  CAF_CHECK(!webpush::encrypt_with(rfc_subscription(), "x", salt,
                                   as_private.substr(1), error));
}

// -- subscriptions ------------------------------------------------------------

CAF_TEST(parse_subscription accepts a browser subscription) {
  auto json = R"({"endpoint":"https://fcm.googleapis.com/fcm/send/dpH5lCsTSSM:APA91bH",)"
              R"("expirationTime":null,"keys":{"p256dh":")"
              + rfc8291::ua_public + R"(","auth":")" + rfc8291::auth_secret
              + R"("}})";
  std::string error;
  auto sub = webpush::parse_subscription(json, error);
  CAF_REQUIRE(sub.has_value());
  CAF_CHECK_EQUAL(sub->endpoint,
                  "https://fcm.googleapis.com/fcm/send/dpH5lCsTSSM:APA91bH");
  CAF_CHECK_EQUAL(sub->p256dh, rfc8291::ua_public);
  CAF_CHECK_EQUAL(sub->auth, rfc8291::auth_secret);
  // Padded base64url, as some libraries write it, and a plain-http endpoint
  // (local push services in tests).
  auto padded = R"({"endpoint":"http://127.0.0.1:8089/push/1","keys":{"p256dh":")"
                + rfc8291::ua_public + R"(=","auth":")" + rfc8291::auth_secret
                + R"(=="}})";
  CAF_CHECK(webpush::parse_subscription(padded, error).has_value());
}

CAF_TEST(parse_subscription rejects bad subscriptions) {
  auto make = [](const std::string& endpoint, const std::string& p256dh,
                 const std::string& auth) {
    return nlohmann::json{{"endpoint", endpoint},
                          {"keys", {{"p256dh", p256dh}, {"auth", auth}}}}
      .dump();
  };
  auto good_endpoint = std::string{"https://push.example.net/x"};
  auto bad = {
    std::string{""},
    std::string{"not json"},
    std::string{"[]"},
    std::string{R"({"endpoint":"https://push.example.net/x"})"},
    std::string{R"({"endpoint":42,"keys":{}})"},
    R"({"keys":{"p256dh":")" + rfc8291::ua_public + R"(","auth":")"
      + rfc8291::auth_secret + R"("}})",
    R"({"endpoint":"https://push.example.net/x","keys":{"p256dh":")"
      + rfc8291::ua_public + R"("}})",
    R"({"endpoint":"https://push.example.net/x","keys":{"p256dh":1,"auth":")"
      + rfc8291::auth_secret + R"("}})",
    make("ftp://push.example.net/x", rfc8291::ua_public, rfc8291::auth_secret),
    make("push.example.net/x", rfc8291::ua_public, rfc8291::auth_secret),
    make("https:///x", rfc8291::ua_public, rfc8291::auth_secret),
    make("https://push.example.net/a b", rfc8291::ua_public,
         rfc8291::auth_secret),
    make("https://push.example.net:99999/x", rfc8291::ua_public,
         rfc8291::auth_secret),
    make(good_endpoint, "", rfc8291::auth_secret),
    make(good_endpoint, "!!!", rfc8291::auth_secret),
    // compressed point (33 bytes)
    make(good_endpoint,
         crypto::base64url_encode("\x02" + b64u(rfc8291::ua_public).substr(1, 32)),
         rfc8291::auth_secret),
    // 65 bytes but not on the curve
    make(good_endpoint, crypto::base64url_encode(std::string(65, '\x04')),
         rfc8291::auth_secret),
    make(good_endpoint, rfc8291::ua_public, ""),
    make(good_endpoint, rfc8291::ua_public,
         crypto::base64url_encode(std::string(32, 'a'))),
  };
  for (const auto& json : bad) {
    std::string error;
    CAF_CHECK(!webpush::parse_subscription(json, error));
    CAF_CHECK_NOT_EQUAL(error, "");
  }
  // Bytes that are not UTF-8 do not throw out of the JSON parser.
  std::string error;
  CAF_CHECK(!webpush::parse_subscription("{\"endpoint\":\"\xff\xfe\"}", error));
}

// -- origins ------------------------------------------------------------------

CAF_TEST(origin_of keeps scheme host and a non default port) {
  CAF_CHECK_EQUAL(webpush::origin_of("https://push.example.net/x/y"),
                  "https://push.example.net");
  CAF_CHECK_EQUAL(webpush::origin_of("https://push.example.net"),
                  "https://push.example.net");
  CAF_CHECK_EQUAL(webpush::origin_of("https://push.example.net:443/x"),
                  "https://push.example.net");
  CAF_CHECK_EQUAL(webpush::origin_of("https://push.example.net:8443/x?a#b"),
                  "https://push.example.net:8443");
  CAF_CHECK_EQUAL(webpush::origin_of("http://localhost:80/x"),
                  "http://localhost");
  CAF_CHECK_EQUAL(webpush::origin_of("http://127.0.0.1:8089/push/1"),
                  "http://127.0.0.1:8089");
  CAF_CHECK_EQUAL(webpush::origin_of("HTTPS://Push.Example.NET/X"),
                  "https://push.example.net");
  CAF_CHECK_EQUAL(webpush::origin_of("https://user:pw@push.example.net/x"),
                  "https://push.example.net");
  CAF_CHECK_EQUAL(webpush::origin_of("https://[::1]:8443/x"),
                  "https://[::1]:8443");
  CAF_CHECK_EQUAL(webpush::origin_of("https://push.example.net?x"),
                  "https://push.example.net");
  for (auto bad : {"", "push.example.net/x", "https://", "https:///x",
                   "://push.example.net", "https://a:b:c/", "https://h:x/",
                   "https://h:123456/", "https://[::1/x", "1http://h/"})
    CAF_CHECK_EQUAL(webpush::origin_of(bad), "");
}

// -- VAPID --------------------------------------------------------------------

CAF_TEST(the RFC 8292 example token verifies) {
  // Signed by another implementation: pins the r || s signature form, the
  // signing input and the reading of k.
  std::string subject;
  CAF_CHECK_EQUAL(webpush::verify_vapid(rfc8292::authorization,
                                        "https://push.example.net",
                                        rfc8292::exp - 3600, &subject),
                  "");
  CAF_CHECK_EQUAL(subject, "mailto:push@example.com");
  CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(rfc8292::authorization,
                                            "https://push.example.net",
                                            rfc8292::exp),
                      "");
  // Our tokens for the same claims have exactly the RFC's header and claims.
  auto signer = load(to_pem(new_ec_key("prime256v1").get(),
                            pem_form::traditional));
  auto ours = split(signer->authorization(
    "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
    "mailto:push@example.com", rfc8292::exp - 12 * 3600));
  CAF_CHECK_EQUAL(ours.header, rfc8292::jwt_header);
  CAF_CHECK_EQUAL(ours.claims, rfc8292::jwt_claims);
}

CAF_TEST(vapid sign and verify round trip with PEM files) {
  auto key = new_ec_key("prime256v1");
  // The forms `openssl ecparam -genkey [-noout]` and `openssl genpkey`
  // write.
  auto traditional = to_pem(key.get(), pem_form::traditional);
  CAF_CHECK_NOT_EQUAL(traditional.find("BEGIN EC PRIVATE KEY"),
                      std::string::npos);
  auto pkcs8 = to_pem(key.get(), pem_form::pkcs8);
  CAF_CHECK_NOT_EQUAL(pkcs8.find("BEGIN PRIVATE KEY"), std::string::npos);
  auto with_params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                     "-----END EC PARAMETERS-----\n"
                     + traditional;
  std::string first_key;
  for (const auto& pem : {traditional, pkcs8, with_params}) {
    temp_file file{pem};
    std::string error;
    auto signer = webpush::vapid_signer::from_pem_file(file.path.string(),
                                                       error);
    CAF_REQUIRE_EQUAL(error, "");
    CAF_REQUIRE(signer != nullptr);
    auto k = b64u(signer->public_key());
    CAF_CHECK_EQUAL(k.size(), 65u);
    CAF_CHECK_EQUAL(k[0], '\x04');
    if (first_key.empty())
      first_key = signer->public_key();
    CAF_CHECK_EQUAL(signer->public_key(), first_key); // same key each form
    auto authorization = signer->authorization(endpoint,
                                               "mailto:ops@example.com", now);
    auto parts = split(authorization);
    CAF_CHECK_EQUAL(parts.k, signer->public_key());
    // Header and claims as RFC 8292 wants them.
    auto header = nlohmann::json::parse(b64u(parts.header));
    CAF_CHECK(header == (nlohmann::json{{"typ", "JWT"}, {"alg", "ES256"}}));
    auto claims = nlohmann::json::parse(b64u(parts.claims));
    CAF_CHECK_EQUAL(claims.size(), 3u);
    CAF_CHECK_EQUAL(claims.at("aud").get<std::string>(), audience);
    CAF_CHECK_EQUAL(claims.at("exp").get<int64_t>(), now + 12 * 3600);
    CAF_CHECK_EQUAL(claims.at("sub").get<std::string>(),
                    "mailto:ops@example.com");
    CAF_CHECK_EQUAL(b64u(parts.signature).size(), 64u); // r || s, not DER
    std::string subject;
    CAF_CHECK_EQUAL(webpush::verify_vapid(authorization, audience, now,
                                          &subject),
                    "");
    CAF_CHECK_EQUAL(subject, "mailto:ops@example.com");
    // Still valid just before exp, and ECDSA signatures differ each time.
    CAF_CHECK_EQUAL(webpush::verify_vapid(authorization, audience,
                                          now + 12 * 3600 - 1),
                    "");
    auto again = signer->authorization(endpoint, "mailto:ops@example.com",
                                       now);
    CAF_CHECK_NOT_EQUAL(split(again).signature, parts.signature);
    CAF_CHECK_EQUAL(webpush::verify_vapid(again, audience, now), "");
  }
  // No subject: the claim is left out and verification still passes.
  auto signer = load(pkcs8);
  auto no_sub = signer->authorization(endpoint, "", now);
  auto claims = nlohmann::json::parse(b64u(split(no_sub).claims));
  CAF_CHECK(!claims.contains("sub"));
  std::string subject = "stale";
  CAF_CHECK_EQUAL(webpush::verify_vapid(no_sub, audience, now, &subject), "");
  CAF_CHECK_EQUAL(subject, "");
  // The port is part of the audience when it is not the default.
  auto local = signer->authorization("http://127.0.0.1:8089/push/1", "", now);
  CAF_CHECK_EQUAL(webpush::verify_vapid(local, "http://127.0.0.1:8089", now),
                  "");
  CAF_CHECK_EQUAL(signer->authorization("not a url", "", now), "");
}

CAF_TEST(verify_vapid refuses wrong audience and expired tokens) {
  auto signer = load(to_pem(new_ec_key("prime256v1").get(), pem_form::pkcs8));
  auto authorization = signer->authorization(endpoint, "mailto:a@b.c", now);
  auto exp = now + 12 * 3600;
  CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(authorization,
                                            "https://other.example.net", now),
                      "");
  CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(authorization,
                                            "http://push.example.net", now),
                      "");
  CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(authorization,
                                            "https://push.example.net:8443",
                                            now),
                      "");
  CAF_CHECK_EQUAL(webpush::verify_vapid(authorization, audience, exp),
                  "JWT expired");
  CAF_CHECK_EQUAL(webpush::verify_vapid(authorization, audience, exp + 1),
                  "JWT expired");
  // exp more than 24 h after the verifier's clock.
  CAF_CHECK_EQUAL(webpush::verify_vapid(authorization, audience,
                                        exp - 24 * 3600),
                  "");
  CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(authorization, audience,
                                            exp - 24 * 3600 - 1),
                      "");
  // A signer whose clock runs 13 h ahead.
  auto future = signer->authorization(endpoint, "", now + 13 * 3600);
  CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(future, audience, now), "");
}

CAF_TEST(verify_vapid refuses tampered tokens) {
  auto signer = load(to_pem(new_ec_key("prime256v1").get(), pem_form::pkcs8));
  auto authorization = signer->authorization(endpoint, "mailto:a@b.c", now);
  auto x = split(authorization);
  CAF_REQUIRE_EQUAL(webpush::verify_vapid(authorization, audience, now), "");
  // One flipped bit anywhere in the signature.
  auto sig = b64u(x.signature);
  for (size_t i = 0; i < sig.size(); ++i) {
    auto bad = sig;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    CAF_CHECK_EQUAL(webpush::verify_vapid(with_t(x, x.header, x.claims,
                                                 crypto::base64url_encode(bad)),
                                          audience, now),
                    "bad signature");
  }
  // Claims changed after signing (a later exp, another subject).
  auto claims = nlohmann::json::parse(b64u(x.claims));
  claims["exp"] = now + 20 * 3600;
  auto forged = crypto::base64url_encode(claims.dump());
  CAF_CHECK_EQUAL(webpush::verify_vapid(with_t(x, x.header, forged,
                                               x.signature),
                                        audience, now),
                  "bad signature");
  // Another key in k.
  auto other = load(to_pem(new_ec_key("prime256v1").get(), pem_form::pkcs8));
  auto swapped = "vapid t=" + x.t + ", k=" + other->public_key();
  CAF_CHECK_EQUAL(webpush::verify_vapid(swapped, audience, now),
                  "bad signature");
  // alg none with no signature, and alg HS256.
  auto none = crypto::base64url_encode(R"({"typ":"JWT","alg":"none"})");
  CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(with_t(x, none, x.claims, ""),
                                            audience, now),
                      "");
  auto hs256 = crypto::base64url_encode(R"({"typ":"JWT","alg":"HS256"})");
  CAF_CHECK_EQUAL(webpush::verify_vapid(with_t(x, hs256, x.claims,
                                               x.signature),
                                        audience, now),
                  "JWT alg is not ES256");
  // A DER signature instead of r || s.
  CAF_CHECK_EQUAL(webpush::verify_vapid(
                    with_t(x, x.header, x.claims,
                           crypto::base64url_encode(std::string(70, '\x30'))),
                    audience, now),
                  "bad signature");
}

CAF_TEST(verify_vapid parses the header leniently but safely) {
  auto signer = load(to_pem(new_ec_key("prime256v1").get(), pem_form::pkcs8));
  auto x = split(signer->authorization(endpoint, "", now));
  // Parameter order, case of the scheme, quoting and spacing do not matter.
  for (const auto& h :
       {"vapid k=" + x.k + ", t=" + x.t, "VAPID t=" + x.t + ",k=" + x.k,
        "vapid  t=\"" + x.t + "\" , k=\"" + x.k + "\"",
        "vapid t=" + x.t + ", k=" + x.k + ", ext=1"})
    CAF_CHECK_EQUAL(webpush::verify_vapid(h, audience, now), "");
  // Everything else is refused with a reason, never a throw.
  for (const auto& h :
       {std::string{}, std::string{"vapid"}, "Bearer " + x.t,
        "WebPush " + x.t, "vapid t=" + x.t, "vapid k=" + x.k,
        "vapid t=" + x.t + ", t=" + x.t + ", k=" + x.k,
        "vapid t=" + x.t + ", k=" + x.k + "A",
        "vapid t=" + x.t + ", k=!!!", "vapid t=a.b.c, k=" + x.k,
        "vapid t=" + x.t + ".x, k=" + x.k, "vapid t, k=" + x.k,
        "vapid t=" + x.header + "." + x.claims + ", k=" + x.k,
        with_t(x, crypto::base64url_encode("[1]"), x.claims, x.signature),
        with_t(x, crypto::base64url_encode("{\xff}"), x.claims, x.signature)})
    CAF_CHECK_NOT_EQUAL(webpush::verify_vapid(h, audience, now), "");
}

CAF_TEST(vapid keys that cannot be used are refused) {
  std::string error;
  CAF_CHECK(webpush::vapid_signer::from_pem("", error) == nullptr);
  CAF_CHECK_NOT_EQUAL(error, "");
  CAF_CHECK(webpush::vapid_signer::from_pem("-----BEGIN PRIVATE KEY-----\n"
                                            "AAAA\n-----END PRIVATE KEY-----\n",
                                            error)
            == nullptr);
  // Encrypted: refused without prompting for a passphrase.
  auto key = new_ec_key("prime256v1");
  CAF_CHECK(webpush::vapid_signer::from_pem(
              to_pem(key.get(), pem_form::encrypted_pkcs8), error)
            == nullptr);
  // Another curve.
  CAF_CHECK(webpush::vapid_signer::from_pem(
              to_pem(new_ec_key("secp384r1").get(), pem_form::pkcs8), error)
            == nullptr);
  CAF_CHECK_NOT_EQUAL(error.find("P-256"), std::string::npos);
  // A public key only.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()),
                                                &BIO_free};
  CAF_REQUIRE_EQUAL(PEM_write_bio_PUBKEY(bio.get(), key.get()), 1);
  char* data = nullptr;
  auto len = BIO_get_mem_data(bio.get(), &data);
  CAF_CHECK(webpush::vapid_signer::from_pem(std::string(data, len), error)
            == nullptr);
  // A missing file.
  CAF_CHECK(webpush::vapid_signer::from_pem_file(
              "/nonexistent/herald/vapid.pem", error)
            == nullptr);
  CAF_CHECK_NOT_EQUAL(error.find("/nonexistent/herald/vapid.pem"),
                      std::string::npos);
}
