#include "actors/idempotency_guard.hpp"

#include <algorithm>

#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/json_text.hpp"
#include "actors/config.hpp"

namespace herald {

// -- guard_shard --------------------------------------------------------------

size_t guard_shard(const std::string& tenant, const std::string& key,
                   size_t shards) {
  if (shards == 0)
    return 0;
  uint64_t h = 14695981039346656037ull; // FNV-1a 64 offset basis
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull; // FNV-1a 64 prime
  };
  for (char c : tenant)
    mix(static_cast<unsigned char>(c));
  mix(0); // "ab"+"c" and "a"+"bc" are different (tenant, key) pairs
  for (char c : key)
    mix(static_cast<unsigned char>(c));
  return static_cast<size_t>(h % shards);
}

// -- idem_table ---------------------------------------------------------------

idem_table::idem_table(size_t max_entries, clock::duration claim_timeout)
  : max_entries_(std::max<size_t>(max_entries, 1)),
    claim_timeout_(claim_timeout) {
  // nop
}

std::string idem_table::id(const std::string& tenant, const std::string& key) {
  // Length-prefixed: no separator character can be forged by either part.
  auto out = std::to_string(tenant.size());
  out.reserve(out.size() + 1 + tenant.size() + key.size());
  out += ':';
  out += tenant;
  out += key;
  return out;
}

idem_verdict idem_table::check(const std::string& tenant,
                               const std::string& key, const std::string& hash,
                               time_point now) const {
  auto k = id(tenant, key);
  if (auto i = claims_.find(k);
      i != claims_.end() && now - i->second.since < claim_timeout_)
    return {idem_kind::in_flight, ""};
  if (auto i = recent_.find(k); i != recent_.end() && now < i->second->expires) {
    const auto& e = *i->second;
    if (e.hash.empty() || e.hash == hash)
      return {idem_kind::replay, e.notification_id};
    return {idem_kind::mismatch, ""};
  }
  return {};
}

void idem_table::claim(const std::string& tenant, const std::string& key,
                       const std::string& hash, time_point now) {
  claims_[id(tenant, key)] = {hash, now};
}

bool idem_table::abandon(const std::string& tenant, const std::string& key) {
  return claims_.erase(id(tenant, key)) > 0;
}

void idem_table::remember(const std::string& tenant, const std::string& key,
                          const std::string& hash,
                          const std::string& notification_id,
                          time_point expires) {
  auto k = id(tenant, key);
  claims_.erase(k);
  if (auto i = recent_.find(k); i != recent_.end()) {
    order_.erase(i->second);
    recent_.erase(i);
  }
  order_.push_back({k, hash, notification_id, expires});
  recent_.emplace(std::move(k), std::prev(order_.end()));
  while (recent_.size() > max_entries_) {
    recent_.erase(order_.front().id);
    order_.pop_front();
    ++evicted_;
  }
}

std::pair<size_t, size_t> idem_table::purge(time_point now) {
  // Insertion order is expiry order for completed keys (same retention);
  // keys learnt from the store may expire sooner and wait for their turn
  // here, but check() already ignores them once expired.
  size_t keys = 0;
  while (!order_.empty() && order_.front().expires <= now) {
    recent_.erase(order_.front().id);
    order_.pop_front();
    ++keys;
  }
  size_t stale = 0;
  for (auto i = claims_.begin(); i != claims_.end();) {
    if (now - i->second.since >= claim_timeout_) {
      i = claims_.erase(i);
      ++stale;
    } else {
      ++i;
    }
  }
  return {keys, stale};
}

// -- the actor ----------------------------------------------------------------

namespace {

using guard_ptr = idempotency_guard_actor::stateful_pointer<idempotency_guard_state>;

idem_verdict count(idempotency_guard_state& st, idem_verdict v) {
  switch (v.kind) {
    case idem_kind::fresh:
      ++st.claims;
      break;
    case idem_kind::replay:
      ++st.replays;
      break;
    case idem_kind::mismatch:
      ++st.mismatches;
      break;
    case idem_kind::in_flight:
      ++st.in_flight;
      break;
    case idem_kind::unknown:
      break;
  }
  return v;
}

/// When a key the store reported leaves memory: its stored expiry (a wall
/// clock time) mapped onto the actor clock, but never later than the
/// guard's own retention.
idem_table::time_point expiry_of(guard_ptr self, const idem_record& rec) {
  auto now = self->clock().now();
  auto left = std::chrono::milliseconds(rec.expires_at_ms - wall_ms(self));
  auto cap = std::chrono::duration_cast<std::chrono::milliseconds>(
    self->state.settings.retention);
  return now + std::clamp(left, std::chrono::milliseconds{0}, cap);
}

/// What memory says about (tenant, key, hash): the verdict it knows,
/// "in_flight" while a store look-up of the key is pending, else an empty
/// kind (the key is unknown here).
idem_verdict from_memory(guard_ptr self, const std::string& tenant,
                         const std::string& key, const std::string& hash) {
  auto& st = self->state;
  auto known = st.table.check(tenant, key, hash, self->clock().now());
  if (known.kind == idem_kind::unknown
      && st.lookups.count(idem_table::id(tenant, key)) > 0)
    known.kind = idem_kind::in_flight;
  return known;
}

/// Asks the store about a key the key's index refused and answers `rp`
/// from the stored row, which memory then keeps too. If no row holds the
/// key, it is claimed for the caller ("new").
void look_up(guard_ptr self, const std::string& tenant, const std::string& key,
             const std::string& hash,
             caf::typed_response_promise<idem_verdict> rp) {
  auto& st = self->state;
  auto k = idem_table::id(tenant, key);
  st.lookups.insert(k);
  ++st.store_lookups;
  self
    ->request(st.store, st.settings.store_timeout, atom::lookup_v,
              atom::idem_v, tenant, key)
    .then(
      [self, k, tenant, key, hash, rp](idem_record& rec) mutable {
        auto& st = self->state;
        st.lookups.erase(k);
        auto expires = expiry_of(self, rec);
        if (expires > self->clock().now())
          st.table.remember(tenant, key, rec.request_hash, rec.notification_id,
                            expires);
        // Answered from the record itself: it is the truth even if it
        // expires from memory at once.
        if (rec.request_hash.empty() || rec.request_hash == hash)
          rp.deliver(count(st, {idem_kind::replay, rec.notification_id}));
        else
          rp.deliver(count(st, {idem_kind::mismatch, ""}));
      },
      [self, k, tenant, key, hash, rp](caf::error& err) mutable {
        auto& st = self->state;
        st.lookups.erase(k);
        if (is(err, ec::not_found)) {
          // No row holds the key (its key expired and was released, or the
          // refusal came from a twin's insert that then failed). Memory may
          // know by now (a complete came in meanwhile); else the key is
          // free: claimed for the caller.
          auto now = self->clock().now();
          auto known = st.table.check(tenant, key, hash, now);
          if (known.kind != idem_kind::unknown) {
            rp.deliver(count(st, known));
            return;
          }
          st.table.claim(tenant, key, hash, now);
          rp.deliver(count(st, {idem_kind::fresh, ""}));
          return;
        }
        ++st.store_errors;
        if (err == caf::sec::request_timeout
            || err == caf::sec::request_receiver_down) {
          // The database is slow or the store is gone: to the client that
          // is "try again later" (503), like a database outage.
          err = make_error(ec::db_unavailable,
                           "idempotency look-up: "
                             + self->system().render(err));
        }
        HERALD_LOG(warn, "idempotency-guard", "look-up failed: ",
                   self->system().render(err));
        rp.deliver(err);
      });
}

/// The key's index refused a claimed key: drops the claim and answers `rp`
/// from memory, else from the stored row (look_up).
void answer_refused(guard_ptr self, const std::string& tenant,
                    const std::string& key, const std::string& hash,
                    caf::typed_response_promise<idem_verdict> rp) {
  auto& st = self->state;
  st.table.abandon(tenant, key);
  ++st.refused;
  auto known = from_memory(self, tenant, key, hash);
  if (known.kind != idem_kind::unknown)
    rp.deliver(count(st, known));
  else
    look_up(self, tenant, key, hash, std::move(rp));
}

/// Claims (tenant, key) for the caller if memory does not know the key
/// (fresh: the key's index decides at the insert), else the verdict memory
/// gives; counted either way.
caf::expected<idem_verdict> try_claim(guard_ptr self, const std::string& tenant,
                                      const std::string& key,
                                      const std::string& hash) {
  auto& st = self->state;
  if (key.empty())
    return make_error(ec::invalid_input, "empty idempotency key");
  auto known = from_memory(self, tenant, key, hash);
  if (known.kind == idem_kind::unknown) {
    st.table.claim(tenant, key, hash, self->clock().now());
    known.kind = idem_kind::fresh;
  }
  return count(st, known);
}

std::string state_json(const idempotency_guard_state& st) {
  return "{\"recent_keys\":" + std::to_string(st.table.recent_size())
         + ",\"claims\":" + std::to_string(st.table.claims_size())
         + ",\"lookups_pending\":" + std::to_string(st.lookups.size())
         + ",\"new\":" + std::to_string(st.claims)
         + ",\"replays\":" + std::to_string(st.replays)
         + ",\"mismatches\":" + std::to_string(st.mismatches)
         + ",\"in_flight\":" + std::to_string(st.in_flight)
         + ",\"refused_inserts\":" + std::to_string(st.refused)
         + ",\"commits\":" + std::to_string(st.commits)
         + ",\"abandoned\":" + std::to_string(st.abandoned)
         + ",\"store_lookups\":" + std::to_string(st.store_lookups)
         + ",\"store_errors\":" + std::to_string(st.store_errors)
         + ",\"stale_claims\":" + std::to_string(st.stale_claims)
         + ",\"evicted\":" + std::to_string(st.table.evicted()) + "}";
}

} // namespace

idempotency_guard_actor::behavior_type idempotency_guard(
  idempotency_guard_actor::stateful_pointer<idempotency_guard_state> self,
  store_actor store, idempotency_guard_settings settings, size_t shard) {
  auto& st = self->state;
  st.store = std::move(store);
  st.settings = settings;
  st.shard = shard;
  st.table = idem_table{settings.max_entries, settings.claim_timeout};
  self->delayed_send(self, settings.purge_interval, atom::purge_v);
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "idempotency-guard", std::to_string(self->state.shard), "",
              state_json(self->state));
    },
    [self](atom::claim, const std::string& tenant, const std::string& key,
           const std::string& hash) -> caf::result<idem_verdict> {
      auto v = try_claim(self, tenant, key, hash);
      if (!v)
        return v.error();
      return *v;
    },
    [self](atom::resolve, const std::string& tenant, const std::string& key,
           const std::string& hash) -> caf::result<idem_verdict> {
      auto rp = self->make_response_promise<idem_verdict>();
      answer_refused(self, tenant, key, hash, rp);
      return rp;
    },
    [self](atom::complete, const std::string& tenant, const std::string& key,
           const std::string& hash, const std::string& notification_id) {
      auto& st = self->state;
      ++st.commits;
      st.table.remember(tenant, key, hash, notification_id,
                        self->clock().now() + st.settings.retention);
    },
    [self](atom::abandon, const std::string& tenant, const std::string& key) {
      auto& st = self->state;
      if (st.table.abandon(tenant, key))
        ++st.abandoned;
    },
    [self](atom::purge) {
      auto& st = self->state;
      auto dropped = st.table.purge(self->clock().now());
      st.stale_claims += dropped.second;
      if (dropped.second > 0)
        HERALD_LOG(warn, "idempotency-guard", "dropped ", dropped.second,
                   " claims never completed nor abandoned");
      self->delayed_send(self, st.settings.purge_interval, atom::purge_v);
    },
  };
}

} // namespace herald
