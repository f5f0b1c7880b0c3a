// herald-test-links: herald_policy
// "At most N restarts within T" in virtual time: the limit, the sliding
// window and its boundary, zero restarts allowed, a clock going backwards.
#define CAF_SUITE restart_intensity
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <chrono>

#include "actors/policy/restart_intensity.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace {

using time_point = restart_intensity::time_point;

const time_point t0 = time_point{} + 1000h;

restart_intensity make(int max_restarts, std::chrono::milliseconds window) {
  restart_intensity_settings s;
  s.max_restarts = max_restarts;
  s.window = window;
  return restart_intensity{s};
}

} // namespace

CAF_TEST(the defaults allow ten restarts a minute) {
  restart_intensity r;
  CAF_CHECK_EQUAL(r.settings().max_restarts, 10);
  CAF_CHECK(r.settings().window == 60s);
  for (int i = 0; i < 10; ++i)
    CAF_CHECK(r.record(t0 + i * 1s));
  CAF_CHECK(!r.record(t0 + 10s));
}

CAF_TEST(the restart past the limit within the window escalates) {
  auto r = make(3, 10s);
  CAF_CHECK(r.record(t0));
  CAF_CHECK(r.record(t0 + 1s));
  CAF_CHECK(r.record(t0 + 2s));
  CAF_CHECK_EQUAL(r.count(t0 + 2s), 3u);
  CAF_CHECK(!r.record(t0 + 3s));
  CAF_CHECK_EQUAL(r.total(), 4u);
}

CAF_TEST(the window slides) {
  auto r = make(2, 10s);
  CAF_CHECK(r.record(t0));
  CAF_CHECK(r.record(t0 + 5s));
  // The first restart is exactly one window old: it no longer counts.
  CAF_CHECK(r.record(t0 + 10s));
  CAF_CHECK_EQUAL(r.count(t0 + 10s), 2u);
  // t0 + 5s is still inside (4.999 s earlier than its expiry).
  CAF_CHECK(!r.record(t0 + 14999ms));
  // Much later, everything has expired.
  CAF_CHECK_EQUAL(r.count(t0 + 1h), 0u);
  CAF_CHECK(r.record(t0 + 1h));
  CAF_CHECK(r.record(t0 + 1h + 1ms));
  CAF_CHECK(!r.record(t0 + 1h + 2ms));
}

CAF_TEST(steady failures at the allowed pace never escalate) {
  auto r = make(2, 10s);
  for (int i = 0; i < 100; ++i)
    CAF_CHECK(r.record(t0 + i * 5s));
  CAF_CHECK_EQUAL(r.total(), 100u);
  CAF_CHECK(r.count(t0 + 495s) <= 2u);
}

CAF_TEST(zero restarts allowed escalates at once) {
  auto r = make(0, 10s);
  CAF_CHECK(!r.record(t0));
  auto neg = make(-5, 10s);
  CAF_CHECK_EQUAL(neg.settings().max_restarts, 0);
  CAF_CHECK(!neg.record(t0));
}

CAF_TEST(a clock going backwards means no time passed) {
  auto r = make(1, 10s);
  CAF_CHECK(r.record(t0 + 20s));
  CAF_CHECK(!r.record(t0)); // counted at t0 + 20 s
  CAF_CHECK_EQUAL(r.count(t0), 2u);
}
