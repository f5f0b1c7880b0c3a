#include "actors/auth.hpp"

#include "actors/config.hpp"

#include <caf/typed_event_based_actor.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/api_key.hpp"

namespace herald {

namespace {

using auth_ptr = auth_actor::stateful_pointer<auth_state>;

/// Decides on a presented key given its stored record.
caf::result<tenant> decide(auth_state& st, const std::string& key,
                           const key_record& rec) {
  if (rec.revoked || !key_matches(key, rec.key_hash)) {
    ++st.denied;
    return make_error(ec::unauthorized, "invalid API key");
  }
  return rec.owner;
}

void answer(auth_ptr self, const std::string& key_id, const key_record* rec,
            const caf::error& err) {
  auto& st = self->state;
  auto i = st.lookups.find(key_id);
  if (i == st.lookups.end())
    return;
  auto waiters = std::move(i->second);
  st.lookups.erase(i);
  for (auto& w : waiters) {
    if (rec) {
      auto res = decide(st, w.key, *rec);
      if (res.flag == caf::rt_value)
        w.rp.deliver(rec->owner);
      else
        w.rp.deliver(res.err);
    } else {
      w.rp.deliver(err);
    }
  }
}

} // namespace

auth_actor::behavior_type auth(auth_actor::stateful_pointer<auth_state> self,
                               store_actor store, auth_settings settings) {
  self->state.store = std::move(store);
  self->state.settings = settings;
  return {
    [self](atom::inspect) -> actor_info {
      auto& st = self->state;
      return describe(self, "auth", "", "",
              "{\"cached_keys\":" + std::to_string(st.cache.size())
                + ",\"hits\":" + std::to_string(st.hits)
                + ",\"misses\":" + std::to_string(st.misses)
                + ",\"denied\":" + std::to_string(st.denied) + "}");
    },
    [self](atom::auth, const std::string& key) -> caf::result<tenant> {
      auto& st = self->state;
      auto key_id = key_id_of(key);
      if (!key_id) {
        ++st.denied;
        return make_error(ec::unauthorized, "malformed API key");
      }
      auto now = self->clock().now();
      if (auto i = st.cache.find(*key_id); i != st.cache.end()) {
        if (now - i->second.fetched < st.settings.cache_ttl) {
          ++st.hits;
          return decide(st, key, i->second.record);
        }
        st.cache.erase(i);
      }
      ++st.misses;
      auto rp = self->make_response_promise<tenant>();
      auto& waiters = st.lookups[*key_id];
      waiters.push_back({key, rp});
      if (waiters.size() == 1) {
        auto id = *key_id;
        self->request(st.store, st.settings.store_timeout, atom::lookup_v, id)
          .then(
            [self, id](key_record& rec) {
              if (self->state.revoked.count(id) > 0)
                rec.revoked = true;
              self->state.cache[id] = {rec, self->clock().now()};
              answer(self, id, &rec, {});
            },
            [self, id](caf::error& err) {
              if (is(err, ec::not_found))
                err = make_error(ec::unauthorized, "unknown API key");
              answer(self, id, nullptr, err);
            });
      }
      return rp;
    },
    [self](atom::revoke, const std::string& tenant_id,
           const std::string& key_id) -> caf::result<bool> {
      auto& st = self->state;
      // Forget it before the store answers: no request of this node may use
      // the key from now on, whatever the store says.
      st.cache.erase(key_id);
      st.revoked.insert(key_id);
      auto rp = self->make_response_promise<bool>();
      self->request(st.store, st.settings.store_timeout, atom::revoke_v,
                    tenant_id, key_id)
        .then(
          [self, rp, key_id](bool found) mutable {
            self->state.cache.erase(key_id);
            // Not this tenant's key (or no such key): it stays valid.
            if (!found)
              self->state.revoked.erase(key_id);
            rp.deliver(found);
          },
          [self, rp, key_id](caf::error& err) mutable {
            // Not revoked in the database: do not keep it revoked here.
            self->state.revoked.erase(key_id);
            rp.deliver(err);
          });
      return rp;
    },
    [self](atom::put, const tenant& x) -> caf::result<tenant_put_result> {
      auto& st = self->state;
      auto rp = self->make_response_promise<tenant_put_result>();
      self->request(st.store, st.settings.store_timeout, atom::put_v, x)
        .then(
          [self, rp](tenant_put_result& res) mutable {
            for (auto& [id, entry] : self->state.cache)
              if (entry.record.owner.id == res.value.id)
                entry.record.owner = res.value;
            rp.deliver(res);
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
  };
}

} // namespace herald
