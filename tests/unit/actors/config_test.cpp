// The actor system configuration every node and test shares: the one wall
// clock of the actors (wall_ms), the system clock by default, the test
// coordinator's clock when a test ties it there, so advance_time() moves
// timers and timestamps alike.
#define CAF_SUITE config

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/config.hpp"
#include "actors/retry_scheduler.hpp"
#include "core/time.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace {

/// Records the jobs a retry scheduler hands back (untyped: only `due`).
struct due_sink_state {
  static inline const char* name = "due-sink";
  std::vector<std::string> due;
};

caf::behavior due_sink(caf::stateful_actor<due_sink_state>* self) {
  return {
    [self](atom::due, std::vector<delivery_job>& jobs) {
      for (auto& j : jobs)
        self->state.due.push_back(j.n.id);
    },
  };
}

constexpr int64_t start_ms = 1'700'000'000'000;

struct fixture : test_coordinator_fixture<herald_actor_config> {
  int64_t wall_of(const caf::actor& a) {
    return wall_ms(
      dynamic_cast<caf::local_actor*>(caf::actor_cast<caf::abstract_actor*>(a)));
  }

  due_sink_state& sink_state(const caf::actor& a) {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(a);
    return dynamic_cast<caf::stateful_actor<due_sink_state>&>(*ptr).state;
  }

  /// Runs what is runnable without firing timeouts (run() would fire them).
  void drain() {
    while (sched.try_run_once())
      ; // nop
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(config_tests, fixture)

CAF_TEST(the wall clock is the system clock by default) {
  auto a = sys.spawn(due_sink);
  auto before = now_ms();
  auto t = wall_of(a);
  CAF_CHECK_GREATER_OR_EQUAL(t, before);
  CAF_CHECK_LESS_OR_EQUAL(t, now_ms());
  self->send_exit(a, caf::exit_reason::user_shutdown);
  drain();
}

CAF_TEST(tied to the test clock the wall clock moves with advance_time only) {
  cfg.follow_actor_clock(sched.clock(), start_ms);
  auto a = sys.spawn(due_sink);
  CAF_CHECK_EQUAL(wall_of(a), start_ms);
  advance_time(90s);
  CAF_CHECK_EQUAL(wall_of(a), start_ms + 90'000);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  drain();
}

CAF_TEST(a retry falls due when the test clock reaches its wall time) {
  cfg.follow_actor_clock(sched.clock(), start_ms);
  auto sink = sys.spawn(due_sink);
  auto rs = sys.spawn(retry_scheduler,
                      caf::actor_cast<dispatcher_actor>(sink), "node-1");
  drain();
  delivery_job job;
  job.n.id = "n1";
  self->send(rs, atom::schedule_v, job, start_ms + 5'000);
  drain();
  auto& st = sink_state(sink);
  advance_time(4s);
  drain();
  CAF_CHECK(st.due.empty());
  advance_time(1s);
  drain();
  CAF_CHECK_EQUAL(st.due, std::vector<std::string>({"n1"}));
  self->send_exit(rs, caf::exit_reason::user_shutdown);
  self->send_exit(sink, caf::exit_reason::user_shutdown);
  drain();
}

CAF_TEST_FIXTURE_SCOPE_END()
