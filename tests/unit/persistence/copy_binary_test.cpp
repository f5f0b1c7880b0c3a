// herald-test-links: herald_persistence
#define CAF_SUITE copy_binary
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <string>

#include "persistence/copy_binary.hpp"

using namespace herald;

namespace {

// The bytes as space-separated hex pairs, to compare against the format's
// description byte by byte.
std::string hex(std::string_view xs) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : xs) {
    if (!out.empty())
      out += ' ';
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

// The buffer after the 19-byte header.
std::string body(const copy_binary& w) {
  return hex(std::string_view{w.data()}.substr(19));
}

} // namespace

CAF_TEST(header and trailer frame an empty stream) {
  copy_binary w;
  CAF_CHECK_EQUAL(hex(w.data()), "50 47 43 4f 50 59 0a ff 0d 0a 00 "
                                 "00 00 00 00 00 00 00 00");
  w.finish();
  CAF_CHECK_EQUAL(body(w), "ff ff");
}

CAF_TEST(fields carry big-endian lengths and values) {
  copy_binary w;
  w.row(5);
  w.null();
  w.text("ab");
  w.text("");
  w.int4(-2);
  w.int8(0x0102030405060708);
  CAF_CHECK_EQUAL(body(w), "00 05 "
                           "ff ff ff ff "
                           "00 00 00 02 61 62 "
                           "00 00 00 00 "
                           "00 00 00 04 ff ff ff fe "
                           "00 00 00 08 01 02 03 04 05 06 07 08");
}

CAF_TEST(text keeps every byte as it is) {
  copy_binary w;
  w.text("\t\n\\N\xc3\xa9");
  CAF_CHECK_EQUAL(body(w), "00 00 00 06 09 0a 5c 4e c3 a9");
}

CAF_TEST(jsonb is version 1 followed by the text) {
  copy_binary w;
  w.jsonb("{}");
  CAF_CHECK_EQUAL(body(w), "00 00 00 03 01 7b 7d");
}

CAF_TEST(timestamps count microseconds from 2000-01-01 UTC) {
  copy_binary w;
  w.timestamptz_ms(946684800000); // 2000-01-01T00:00:00Z
  w.timestamptz_ms(946684800001);
  w.timestamptz_ms(946684799999); // before the epoch: negative
  CAF_CHECK_EQUAL(body(w), "00 00 00 08 00 00 00 00 00 00 00 00 "
                           "00 00 00 08 00 00 00 00 00 00 03 e8 "
                           "00 00 00 08 ff ff ff ff ff ff fc 18");
}

CAF_TEST(uuids are 16 bytes and malformed ones write nothing) {
  copy_binary w;
  CAF_CHECK(w.uuid("0190A3B4-c5d6-7e8f-9012-3456789abcde"));
  CAF_CHECK_EQUAL(body(w), "00 00 00 10 01 90 a3 b4 c5 d6 7e 8f "
                           "90 12 34 56 78 9a bc de");
  copy_binary v;
  CAF_CHECK(!v.uuid(""));
  CAF_CHECK(!v.uuid("0190a3b4-c5d6-7e8f-9012-3456789abcd"));   // short
  CAF_CHECK(!v.uuid("0190a3b4-c5d6-7e8f-9012-3456789abcdef")); // long
  CAF_CHECK(!v.uuid("0190a3b4xc5d6-7e8f-9012-3456789abcde"));  // separator
  CAF_CHECK(!v.uuid("0190a3b4-c5d6-7e8f-9012-3456789abcdg"));  // digit
  CAF_CHECK_EQUAL(v.size(), 19u);
}

CAF_TEST(take hands out the bytes so far and starts empty) {
  copy_binary w;
  w.row(1);
  auto first = w.take();
  CAF_CHECK_EQUAL(first.size(), 21u);
  CAF_CHECK_EQUAL(w.size(), 0u);
  w.int4(1);
  w.finish();
  CAF_CHECK_EQUAL(hex(w.data()), "00 00 00 04 00 00 00 01 ff ff");
}
