#pragma once

// An in-memory store actor for unit tests of single actors under CAF's
// deterministic test coordinator. It records what it was asked and can be
// told to fail or to hold back insert answers (to see that nobody is
// acknowledged before "commit").

#include <map>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/config.hpp"
#include "core/error.hpp"

namespace herald::test {

struct fake_store_state {
  static inline const char* name = "fake-store";
  // Behaviour switches.
  bool fail_inserts = false;   // insert answers ec::db_unavailable
  std::vector<std::string> taken_keys; // idempotency keys that conflict
  bool fail_outcomes = false;  // outcome answers ec::db_unavailable
  bool hold_inserts = false;   // insert answers wait in `held` until `ping`
  // What it saw.
  std::vector<std::vector<notification>> inserts;
  std::vector<bool> insert_leased;
  std::vector<std::string> insert_owners; // the lease owner of each insert
  std::vector<std::string> taken_over;    // nodes whose leases were taken
  std::vector<int64_t> insert_due_by;
  std::vector<std::vector<delivery_decision>> outcomes;
  std::vector<std::pair<int32_t, bool>> claims;
  int lookups = 0;
  int releases = 0;
  std::vector<caf::typed_response_promise<bool>> held;
  // Data it serves.
  std::vector<delivery_job> claimable;
  std::map<std::string, key_record> keys;
  std::map<std::pair<std::string, std::string>, idem_record> idem; // (tenant, key)
  int idem_lookups = 0;
};

inline store_actor::behavior_type
fake_store(store_actor::stateful_pointer<fake_store_state> self) {
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "fake-store", "", "", "{}");
    },
    [self](atom::insert, std::vector<notification>& xs,
           const std::string& lease_owner,
           int64_t due_by_ms) -> caf::result<bool> {
      auto& st = self->state;
      if (st.fail_inserts)
        return make_error(ec::db_unavailable, "fake outage");
      for (auto& n : xs)
        for (auto& k : st.taken_keys)
          if (!k.empty() && n.idempotency_key == k)
            return make_error(ec::conflict, "duplicate idempotency key");
      st.inserts.push_back(std::move(xs));
      st.insert_leased.push_back(!lease_owner.empty());
      st.insert_owners.push_back(lease_owner);
      st.insert_due_by.push_back(due_by_ms);
      if (st.hold_inserts) {
        auto rp = self->make_response_promise<bool>();
        st.held.push_back(rp);
        return rp;
      }
      return true;
    },
    [](atom::get, const std::string&,
       const std::string&) -> caf::result<notification> {
      return make_error(ec::not_found);
    },
    [](atom::list, const notification_query&) -> notification_page {
      return {};
    },
    [](atom::attempts, const std::string&,
       const std::string&) -> caf::result<std::vector<attempt>> {
      return make_error(ec::not_found);
    },
    [self](atom::claim, int32_t limit,
           bool reclaim_own) -> std::vector<delivery_job> {
      auto& st = self->state;
      st.claims.emplace_back(limit, reclaim_own);
      std::vector<delivery_job> out;
      while (!st.claimable.empty() && static_cast<int32_t>(out.size()) < limit) {
        out.push_back(st.claimable.front());
        st.claimable.erase(st.claimable.begin());
      }
      return out;
    },
    [](atom::renew) -> int64_t { return 0; },
    [self](atom::takeover, const std::string& owner) -> int64_t {
      self->state.taken_over.push_back(owner);
      return 0;
    },
    [self](atom::release) -> int64_t {
      ++self->state.releases;
      return 0;
    },
    [self](atom::outcome,
           std::vector<delivery_decision>& xs) -> caf::result<int64_t> {
      auto& st = self->state;
      if (st.fail_outcomes)
        return make_error(ec::db_unavailable, "fake outage");
      st.outcomes.push_back(std::move(xs));
      return int64_t{0};
    },
    [](atom::receipt, const std::string&, const std::vector<std::string>&,
       const std::string&, const std::string&) {
      return std::vector<std::string>{};
    },
    [](atom::put, const tenant& t) -> tenant_put_result { return {t, true}; },
    [](atom::get, atom::tenant, const std::string&) -> caf::result<tenant> {
      return make_error(ec::not_found);
    },
    [](atom::create, const std::string&, const std::string&,
       const std::string&) -> bool { return true; },
    [self](atom::revoke, const std::string& tenant_id,
           const std::string& key_id) -> bool {
      auto i = self->state.keys.find(key_id);
      if (i == self->state.keys.end() || i->second.owner.id != tenant_id)
        return false;
      i->second.revoked = true;
      return true;
    },
    [self](atom::lookup, const std::string& key_id) -> caf::result<key_record> {
      ++self->state.lookups;
      auto i = self->state.keys.find(key_id);
      if (i == self->state.keys.end())
        return make_error(ec::not_found);
      return i->second;
    },
    // Also commits every held insert: promises must be delivered from inside
    // the actor, so tests send `ping` to "commit".
    [self](atom::lookup, atom::idem, const std::string& tenant_id,
           const std::string& key) -> caf::result<idem_record> {
      ++self->state.idem_lookups;
      auto i = self->state.idem.find({tenant_id, key});
      if (i == self->state.idem.end())
        return make_error(ec::not_found);
      return i->second;
    },
    [](atom::purge) -> int64_t { return 0; },
    // Dead letters and cancel: not used by the unit tests of single actors.
    [](atom::list, const dlq_query&) -> dlq_page { return {}; },
    [](atom::get, atom::dlq, const std::string&,
       const std::string&) -> caf::result<dead_letter> {
      return make_error(ec::not_found);
    },
    [](atom::retry, const std::string&, const std::string&,
       const std::string&) -> caf::result<notification> {
      return make_error(ec::not_found);
    },
    [](atom::discard, const std::string&, const std::string&,
       const std::string&) -> caf::result<notification> {
      return make_error(ec::not_found);
    },
    [](atom::replay, const replay_request&) -> replay_result { return {}; },
    // Recipients and templates: not used by the unit tests of single actors.
    [](atom::put, const recipient&) -> caf::result<recipient> {
      return make_error(ec::not_found);
    },
    [](atom::get, atom::recip, const std::string&,
       const std::string&) -> caf::result<recipient> {
      return make_error(ec::not_found);
    },
    [](atom::remove, atom::recip, const std::string&, const std::string&) {
      return false;
    },
    [](atom::device, const std::string&, const std::string&,
       const std::string&) -> caf::result<recipient> {
      return make_error(ec::not_found);
    },
    [](atom::remove, atom::device, const std::string&, const std::string&,
       const std::string&) -> caf::result<recipient> {
      return make_error(ec::not_found);
    },
    [](atom::create, const notification_template&)
      -> caf::result<notification_template> {
      return make_error(ec::conflict);
    },
    [](atom::publish, const notification_template&)
      -> caf::result<notification_template> {
      return make_error(ec::not_found);
    },
    [](atom::get, atom::tmpl, const std::string&, const std::string&,
       int32_t) -> caf::result<notification_template> {
      return make_error(ec::not_found);
    },
    [](atom::list, atom::tmpl, const std::string&, const std::string&,
       int32_t) -> template_page { return {}; },
    [](atom::archive, const std::string&, const std::string&) { return false; },
    [](atom::cancel, const std::string&, const std::string&,
       const std::string&) -> caf::result<notification> {
      return make_error(ec::not_found);
    },
    [self](atom::ping) -> bool {
      auto held = std::move(self->state.held);
      self->state.held.clear();
      for (auto& rp : held)
        rp.deliver(true);
      return true;
    },
  };
}

/// The state of a stateful, function-based typed actor under the test
/// coordinator.
template <class State, class Handle, class Fixture>
State& state_of(Fixture&, const Handle& hdl) {
  // The fixture's deref() casts typed handles to a null abstract_actor* in
  // 0.17.6; the handle's own operator-> works.
  auto* ptr = hdl.operator->();
  CAF_REQUIRE(ptr != nullptr);
  using impl = caf::stateful_actor<State, typename Handle::base>;
  return dynamic_cast<impl&>(*ptr).state;
}

/// A job for tests.
inline delivery_job make_job(const std::string& id,
                             const std::string& channel = "webhook") {
  delivery_job j;
  j.n.id = id;
  j.n.tenant_id = "t1";
  j.n.channel = channel;
  j.n.to = "http://127.0.0.1:1/hook";
  j.n.body = "hello";
  j.n.priority = "normal";
  j.signing_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  return j;
}

} // namespace herald::test
