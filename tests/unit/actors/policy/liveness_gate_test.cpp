// herald-test-links: herald_policy
// The liveness gate: open before the first heartbeat, open until the time
// it was opened to and closed from then on, closed by close() until opened
// again; readable from another thread.
#define CAF_SUITE liveness_gate
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <thread>

#include "actors/policy/liveness_gate.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace {

const auto t0 = liveness_gate::clock::time_point{} + 1000s;

} // namespace

CAF_TEST(a new gate is open) {
  liveness_gate g;
  CAF_CHECK(g.is_open(t0));
  CAF_CHECK(g.is_open(t0 + 100000h));
}

CAF_TEST(open until the time given and closed after it) {
  liveness_gate g;
  g.open_until(t0 + 2s);
  CAF_CHECK(g.is_open(t0));
  CAF_CHECK(g.is_open(t0 + 1999ms));
  CAF_CHECK(!g.is_open(t0 + 2s));
  CAF_CHECK(!g.is_open(t0 + 1h));
  // A later heartbeat moves it on.
  g.open_until(t0 + 5s);
  CAF_CHECK(g.is_open(t0 + 4s));
}

CAF_TEST(close shuts it until it is opened again) {
  liveness_gate g;
  g.open_until(t0 + 2s);
  g.close();
  CAF_CHECK(!g.is_open(t0));
  CAF_CHECK(!g.is_open(liveness_gate::clock::time_point{}));
  g.open_until(t0 + 2s);
  CAF_CHECK(g.is_open(t0));
}

CAF_TEST(another thread sees the change) {
  liveness_gate g;
  g.close();
  std::thread t{[&] { g.open_until(t0 + 2s); }};
  t.join();
  CAF_CHECK(g.is_open(t0));
}
