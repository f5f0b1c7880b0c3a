// herald-test-links: herald_core
#define CAF_SUITE log

#include <caf/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "core/log.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;

CAF_TEST(a log line is one JSON object with the fields of the contract) {
  auto line = format_log_json("2026-12-06T10:00:00.123Z", log_level::warn,
                              "node1", "writer", "commit of 3 rows failed",
                              "req_42");
  auto j = nlohmann::json::parse(line);
  CAF_CHECK_EQUAL(j["ts"].get<std::string>(), "2026-12-06T10:00:00.123Z");
  CAF_CHECK_EQUAL(j["level"].get<std::string>(), "warn");
  CAF_CHECK_EQUAL(j["node"].get<std::string>(), "node1");
  CAF_CHECK_EQUAL(j["actor"].get<std::string>(), "writer");
  CAF_CHECK_EQUAL(j["msg"].get<std::string>(), "commit of 3 rows failed");
  CAF_CHECK_EQUAL(j["request_id"].get<std::string>(), "req_42");
  CAF_CHECK_EQUAL(line.find('\n'), std::string::npos);
}

CAF_TEST(quotes control characters and newlines in a message stay inside it) {
  auto line = format_log_json("t", log_level::info, "n", "a",
                              "say \"hi\"\n\tback\\slash \x01", "");
  auto j = nlohmann::json::parse(line);
  CAF_CHECK_EQUAL(j["msg"].get<std::string>(), "say \"hi\"\n\tback\\slash \x01");
  CAF_CHECK_EQUAL(line.find('\n'), std::string::npos);
  CAF_CHECK(!j.contains("request_id"));
}

CAF_TEST(the request id is per thread) {
  set_log_request_id("req_a");
  CAF_CHECK_EQUAL(log_request_id(), "req_a");
  std::string other = "unset";
  std::thread t{[&] { other = log_request_id(); }};
  t.join();
  CAF_CHECK_EQUAL(other, "");
  set_log_request_id({});
  CAF_CHECK_EQUAL(log_request_id(), "");
}
