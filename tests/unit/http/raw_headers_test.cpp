// herald-test-links: herald_http
#define CAF_SUITE raw_headers
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <string>
#include <utility>
#include <vector>

#include "http/raw_headers.hpp"

using namespace herald;

namespace {

using fields = std::vector<std::pair<std::string, std::string>>;

std::string head(std::initializer_list<const char*> lines) {
  std::string result = "POST /v1/notifications HTTP/1.1\r\n";
  for (auto line : lines) {
    result += line;
    result += "\r\n";
  }
  result += "\r\n";
  return result;
}

} // namespace

CAF_TEST(values are kept as sent) {
  auto got = parse_raw_headers(head({"Idempotency-Key: order-%41%0A",
                                     "Authorization: Bearer a%2Bb",
                                     "Content-Length: 12"}));
  CAF_CHECK(got == (fields{{"Idempotency-Key", "order-%41%0A"},
                           {"Authorization", "Bearer a%2Bb"},
                           {"Content-Length", "12"}}));
}

CAF_TEST(empty values and blank-only values are kept as empty) {
  auto got = parse_raw_headers(head({"Idempotency-Key:", "X-Blank:    ",
                                     "X-Tab:\t"}));
  CAF_CHECK(got == (fields{{"Idempotency-Key", ""}, {"X-Blank", ""},
                           {"X-Tab", ""}}));
}

CAF_TEST(leading blanks of a value and trailing blanks of a line go) {
  auto got = parse_raw_headers(head({"X-A: \t inner  blanks stay \t ",
                                     "X-B:no-blank"}));
  CAF_CHECK(got == (fields{{"X-A", "inner  blanks stay"}, {"X-B", "no-blank"}}));
}

CAF_TEST(control characters inside a value are kept for the validator) {
  auto got = parse_raw_headers(head({"Idempotency-Key: ab\x01" "cd",
                                     "Idempotency-Key: ab\tcd"}));
  CAF_CHECK(got == (fields{{"Idempotency-Key", "ab\x01" "cd"},
                           {"Idempotency-Key", "ab\tcd"}}));
}

CAF_TEST(the head ends at the first empty line and the body is not read) {
  auto text = head({"X-A: 1"}) + "X-Not-A-Header: 2\r\n\r\n";
  CAF_CHECK(parse_raw_headers(text) == (fields{{"X-A", "1"}}));
}

CAF_TEST(lines without CRLF or without a colon are skipped like httplib does) {
  std::string text = "GET / HTTP/1.1\r\n"
                     "X-Bare-LF: 1\n"
                     "no colon here\r\n"
                     "X-Ok: 2\r\n"
                     "\r\n";
  CAF_CHECK(parse_raw_headers(text) == (fields{{"X-Ok", "2"}}));
  // An unterminated last line is not a field.
  CAF_CHECK(parse_raw_headers("GET / HTTP/1.1\r\nX-Cut: 3").empty());
  CAF_CHECK(parse_raw_headers("").empty());
}

CAF_TEST(restoring replaces decoded values and keeps httplib own fields) {
  httplib::Headers decoded{{"Idempotency-Key", "order-A"},
                           {"Content-Length", "12"},
                           {"REMOTE_ADDR", "127.0.0.1"},
                           {"LOCAL_PORT", "8080"}};
  fields raw{{"idempotency-key", "order-%41"},
             {"Content-Length", "12"},
             {"X-Empty", ""},
             {"REMOTE_ADDR", "6.6.6.6"}};
  restore_raw_headers(raw, decoded);
  CAF_CHECK_EQUAL(decoded.count("Idempotency-Key"), 1u);
  CAF_CHECK_EQUAL(decoded.find("Idempotency-Key")->second, "order-%41");
  CAF_CHECK_EQUAL(decoded.count("X-Empty"), 1u);
  CAF_CHECK_EQUAL(decoded.find("X-Empty")->second, "");
  CAF_CHECK_EQUAL(decoded.count("REMOTE_ADDR"), 1u);
  CAF_CHECK_EQUAL(decoded.find("REMOTE_ADDR")->second, "127.0.0.1");
  CAF_CHECK_EQUAL(decoded.find("LOCAL_PORT")->second, "8080");
  CAF_CHECK_EQUAL(decoded.size(), 5u);
}

CAF_TEST(repeated fields keep all their values in order) {
  httplib::Headers decoded{{"X-Multi", "a"}, {"X-Multi", "b"}};
  restore_raw_headers({{"X-Multi", "%61"}, {"x-multi", "%62"}}, decoded);
  auto [first, last] = decoded.equal_range("X-Multi");
  std::vector<std::string> values;
  for (auto i = first; i != last; ++i)
    values.push_back(i->second);
  CAF_CHECK(values == (std::vector<std::string>{"%61", "%62"}));
}
