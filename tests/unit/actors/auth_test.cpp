// API key authentication: cache, coalesced look-ups, revocation at once.
#define CAF_SUITE auth

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/auth.hpp"
#include "actors/config.hpp"
#include "core/api_key.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;

namespace {

struct fixture : test_coordinator_fixture<herald_actor_config> {
  store_actor store;
  auth_actor au;
  issued_key key = issue_api_key();

  fixture() {
    store = sys.spawn(fake_store);
    key_record rec;
    rec.key_id = key.key_id;
    rec.key_hash = key.hash;
    rec.owner.id = "acme";
    rec.owner.webhook_secret = "whsec_x";
    state_of<fake_store_state>(*this, store).keys[key.key_id] = rec;
    au = sys.spawn(auth, store, auth_settings{});
    drain();
  }

  ~fixture() {
    self->send_exit(au, caf::exit_reason::user_shutdown);
    self->send_exit(store, caf::exit_reason::user_shutdown);
    drain();
  }

  void drain() {
    while (sched.try_run_once())
      ; // nop
  }

  /// Authenticates from a client actor; the answer lands in `answers`.
  void authenticate(const std::string& k) {
    sys.spawn([this, k](caf::event_based_actor* client) {
      client->request(au, caf::infinite, atom::auth_v, k)
        .then([this](tenant& t) { answers.push_back("tenant " + t.id); },
              [this](caf::error& err) { answers.push_back(sys.render(err)); });
    });
  }

  fake_store_state& store_state() {
    return state_of<fake_store_state>(*this, store);
  }

  std::vector<std::string> answers;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(auth_tests, fixture)

CAF_TEST(a valid key yields its tenant and is cached) {
  authenticate(key.key);
  drain();
  authenticate(key.key);
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 2u);
  CAF_CHECK_EQUAL(answers[0], "tenant acme");
  CAF_CHECK_EQUAL(answers[1], "tenant acme");
  CAF_CHECK_EQUAL(store_state().lookups, 1);
}

CAF_TEST(concurrent requests with one key cost one look-up) {
  for (int i = 0; i < 5; ++i)
    authenticate(key.key);
  drain();
  CAF_CHECK_EQUAL(answers.size(), 5u);
  CAF_CHECK_EQUAL(store_state().lookups, 1);
}

CAF_TEST(wrong secret malformed and unknown keys are unauthorized) {
  authenticate(key.key_id + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  authenticate("not-a-key");
  authenticate("key_0000000000000000.abc");
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 3u);
  for (auto& a : answers)
    CAF_CHECK(a.find("unauthorized") != std::string::npos);
}

CAF_TEST(a revoked key stops working at once even if cached) {
  authenticate(key.key);
  drain();
  sys.spawn([this](caf::event_based_actor* client) {
    client->request(au, caf::infinite, atom::revoke_v, std::string{"acme"},
                    key.key_id)
      .then([this](bool found) { answers.push_back(found ? "revoked" : "none"); });
  });
  authenticate(key.key);
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 3u);
  CAF_CHECK_EQUAL(answers[0], "tenant acme");
  CAF_CHECK_EQUAL(answers[1], "revoked");
  CAF_CHECK(answers[2].find("unauthorized") != std::string::npos);
}

CAF_TEST(revoking under another tenant leaves the key working) {
  authenticate(key.key);
  drain();
  sys.spawn([this](caf::event_based_actor* client) {
    client->request(au, caf::infinite, atom::revoke_v, std::string{"other"},
                    key.key_id)
      .then([this](bool found) { answers.push_back(found ? "revoked" : "none"); });
  });
  drain();
  authenticate(key.key);
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 3u);
  CAF_CHECK_EQUAL(answers[1], "none");
  CAF_CHECK_EQUAL(answers[2], "tenant acme");
}

CAF_TEST(cached keys are looked up again after the ttl) {
  authenticate(key.key);
  drain();
  advance_time(std::chrono::seconds(2));
  authenticate(key.key);
  drain();
  CAF_CHECK_EQUAL(store_state().lookups, 2);
}

CAF_TEST_FIXTURE_SCOPE_END()
