// herald-test-links: herald_core
#define CAF_SUITE crypto

#include <caf/test/unit_test.hpp>

#include <set>
#include <string>

#include "core/crypto.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald::crypto;

namespace {

// Every byte value, so the alphabets and bit shuffling are covered fully.
std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i)
    s += static_cast<char>(i);
  return s;
}

} // namespace

CAF_TEST(base64 matches the RFC 4648 test vectors) {
  CAF_CHECK_EQUAL(base64_encode(""), "");
  CAF_CHECK_EQUAL(base64_encode("f"), "Zg==");
  CAF_CHECK_EQUAL(base64_encode("fo"), "Zm8=");
  CAF_CHECK_EQUAL(base64_encode("foo"), "Zm9v");
  CAF_CHECK_EQUAL(base64_encode("foob"), "Zm9vYg==");
  CAF_CHECK_EQUAL(base64_encode("fooba"), "Zm9vYmE=");
  CAF_CHECK_EQUAL(base64_encode("foobar"), "Zm9vYmFy");
  CAF_CHECK_EQUAL(base64_decode("Zm9vYmE="), std::string{"fooba"});
  CAF_CHECK_EQUAL(base64_decode("Zm9vYg=="), std::string{"foob"});
  CAF_CHECK_EQUAL(base64_decode(""), std::string{});
}

CAF_TEST(base64 round trips arbitrary bytes) {
  auto bytes = all_bytes();
  for (size_t n = 0; n <= bytes.size(); n += 1) {
    auto part = bytes.substr(bytes.size() - n);
    auto decoded = base64_decode(base64_encode(part));
    CAF_REQUIRE(decoded.has_value());
    CAF_CHECK_EQUAL(*decoded, part);
    auto url_decoded = base64url_decode(base64url_encode(part));
    CAF_REQUIRE(url_decoded.has_value());
    CAF_CHECK_EQUAL(*url_decoded, part);
  }
  auto random = random_bytes(1000);
  CAF_CHECK_EQUAL(base64_decode(base64_encode(random)), random);
}

CAF_TEST(base64 decode rejects invalid input) {
  CAF_CHECK(!base64_decode("Zm9vYmE"));   // missing padding
  CAF_CHECK(!base64_decode("Zm9v!mFy"));  // not in the alphabet
  CAF_CHECK(!base64_decode("Zm9v YmFy")); // whitespace
  CAF_CHECK(!base64_decode("Zm=vYmFy"));  // padding in the middle
  CAF_CHECK(!base64_decode("Z==="));      // too much padding
  CAF_CHECK(!base64_decode("===="));
  CAF_CHECK(!base64_decode("Zh=="));      // non-zero unused bits
  CAF_CHECK(!base64_decode("-_8="));      // url alphabet
  CAF_CHECK(!base64_decode(std::string("Zm9v\0mFy", 8)));
}

CAF_TEST(base64url uses the url alphabet without padding) {
  std::string bytes{"\xfb\xff", 2};
  CAF_CHECK_EQUAL(base64_encode(bytes), "+/8=");
  CAF_CHECK_EQUAL(base64url_encode(bytes), "-_8");
  CAF_CHECK_EQUAL(base64url_decode("-_8"), bytes);
  CAF_CHECK_EQUAL(base64url_decode("-_8="), bytes); // padding tolerated
  CAF_CHECK(!base64url_decode("+/8"));
  CAF_CHECK(!base64url_decode("-_8=="));
  CAF_CHECK(!base64url_decode("A"));                // impossible length
  CAF_CHECK(!base64url_decode("-_8=x"));
}

CAF_TEST(hex round trips and rejects invalid input) {
  CAF_CHECK_EQUAL(hex_encode(std::string{"\x00\x7f\xff\x10", 4}), "007fff10");
  CAF_CHECK_EQUAL(hex_decode("007FFF10"), (std::string{"\x00\x7f\xff\x10", 4}));
  auto bytes = all_bytes();
  CAF_CHECK_EQUAL(hex_decode(hex_encode(bytes)), bytes);
  CAF_CHECK(!hex_decode("abc"));
  CAF_CHECK(!hex_decode("zz"));
}

CAF_TEST(sha256 matches known digests) {
  CAF_CHECK_EQUAL(sha256_hex(""),
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CAF_CHECK_EQUAL(sha256_hex("abc"),
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CAF_CHECK_EQUAL(sha256("abc").size(), 32u);
}

CAF_TEST(hmac sha256 matches RFC 4231) {
  // Test case 1.
  CAF_CHECK_EQUAL(hex_encode(hmac_sha256(std::string(20, '\x0b'), "Hi There")),
                  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the block.
  CAF_CHECK_EQUAL(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block is hashed first.
  CAF_CHECK_EQUAL(
    hex_encode(hmac_sha256(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First")),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // An empty key is legal HMAC and must not depend on earlier calls.
  CAF_CHECK_EQUAL(hex_encode(hmac_sha256("", "")),
                  "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

CAF_TEST(random bytes and tokens have the asked size and differ) {
  CAF_CHECK_EQUAL(random_bytes(0).size(), 0u);
  CAF_CHECK_EQUAL(random_bytes(33).size(), 33u);
  auto token = random_token(32);
  CAF_CHECK_EQUAL(token.size(), 43u); // ceil(32 * 4 / 3), no padding
  CAF_CHECK_EQUAL(token.find_first_of("+/="), std::string::npos);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i)
    seen.insert(random_token(16));
  CAF_CHECK_EQUAL(seen.size(), 100u);
}

CAF_TEST(constant time equal compares content and length) {
  CAF_CHECK(constant_time_equal("", ""));
  CAF_CHECK(constant_time_equal("secret", "secret"));
  CAF_CHECK(!constant_time_equal("secret", "secreT"));
  CAF_CHECK(!constant_time_equal("secret", "secret2"));
  CAF_CHECK(!constant_time_equal("", "x"));
  CAF_CHECK(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  CAF_CHECK(!constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}
