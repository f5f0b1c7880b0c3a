#include "actors/store.hpp"

#include "actors/config.hpp"

#include <algorithm>
#include <chrono>

#include <caf/result.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "core/error.hpp"
#include "core/log.hpp"

namespace herald {

namespace {

/// Runs one blocking store call and turns exceptions into Herald errors, so a
/// database problem is an answer, never a dead actor. A call returning
/// std::optional answers ec::not_found for nullopt.
template <class T>
struct unwrap {
  using type = T;
  static caf::result<T> ok(T&& x, const char*) {
    return std::move(x);
  }
};

template <class T>
struct unwrap<std::optional<T>> {
  using type = T;
  static caf::result<T> ok(std::optional<T>&& x, const char* missing) {
    if (!x)
      return make_error(ec::not_found, missing);
    return std::move(*x);
  }
};

/// A user-requested state change (cancel, DLQ retry / discard): not_found
/// and conflict become ec errors; a conflict's context is the current status.
struct change_answer {
  change_result r = change_result::not_found;
  notification n;
};

template <>
struct unwrap<change_answer> {
  using type = notification;
  static caf::result<notification> ok(change_answer&& x, const char* missing) {
    switch (x.r) {
      case change_result::done:
        return std::move(x.n);
      case change_result::not_found:
        return make_error(ec::not_found, missing);
      default:
        return make_error(ec::conflict, to_string(x.n.status));
    }
  }
};

template <class F>
auto guarded(store_worker_state& st, F&& f, const char* missing = "not found")
  -> caf::result<typename unwrap<decltype(f())>::type> {
  ++st.calls;
  try {
    return unwrap<decltype(f())>::ok(f(), missing);
  } catch (const conflict_error& e) {
    return make_error(ec::conflict, e.what());
  } catch (const db_unavailable_error& e) {
    ++st.unavailable;
    return make_error(ec::db_unavailable, e.what());
  } catch (const std::exception& e) {
    HERALD_LOG(error, "store", "statement failed: ", e.what());
    return make_error(ec::db_error, e.what());
  }
}

std::string state_json(const store_worker_state& st) {
  return "{\"calls\":" + std::to_string(st.calls)
         + ",\"unavailable\":" + std::to_string(st.unavailable)
         + ",\"inserts\":" + std::to_string(st.inserts)
         + ",\"insert_rows\":" + std::to_string(st.insert_rows)
         + ",\"insert_us\":" + std::to_string(st.insert_us)
         + ",\"insert_max_us\":" + std::to_string(st.insert_max_us) + "}";
}

} // namespace

store_actor::behavior_type
store_worker(store_actor::stateful_pointer<store_worker_state> self,
             store_settings settings) {
  self->state.settings = std::move(settings);
  self->state.db = std::make_unique<pg_store>(self->state.settings.db_url);
  auto& st = self->state;
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "store-worker", "", self->state.settings.lease.owner,
              state_json(self->state));
    },
    [&st](atom::ping) -> caf::result<bool> {
      ++st.calls;
      return st.db->ping();
    },
    // -- notification_store_actor
    [&st](atom::insert, std::vector<notification>& xs,
          const std::string& lease_owner,
          int64_t due_by_ms) -> caf::result<bool> {
      auto start = std::chrono::steady_clock::now();
      auto result = guarded(st, [&] {
        auto lease = st.settings.lease;
        lease.owner = lease_owner;
        st.db->notifications().insert(xs, lease, due_by_ms);
        return true;
      });
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
      ++st.inserts;
      st.insert_rows += xs.size();
      st.insert_us += us;
      st.insert_max_us = std::max(st.insert_max_us, static_cast<int64_t>(us));
      return result;
    },
    [&st](atom::get, const std::string& tenant_id,
          const std::string& id) -> caf::result<notification> {
      return guarded(
        st, [&] { return st.db->notifications().get(tenant_id, id); },
        "no such notification");
    },
    [&st](atom::list, const notification_query& q) -> caf::result<notification_page> {
      return guarded(st, [&] { return st.db->notifications().list(q); });
    },
    [&st](atom::attempts, const std::string& tenant_id,
          const std::string& id) -> caf::result<std::vector<attempt>> {
      return guarded(
        st, [&] { return st.db->notifications().attempts(tenant_id, id); },
        "no such notification");
    },
    [&st](atom::cancel, const std::string& tenant_id, const std::string& id,
          const std::string& reason) -> caf::result<notification> {
      return guarded(
        st,
        [&] {
          change_answer a;
          a.r = st.db->notifications().cancel(tenant_id, id, reason, a.n);
          return a;
        },
        "no such notification");
    },
    // -- delivery_store_actor
    [&st](atom::claim, int32_t limit,
          bool reclaim_own) -> caf::result<std::vector<delivery_job>> {
      return guarded(st, [&] {
        return st.db->delivery().claim(st.settings.lease, limit, reclaim_own);
      });
    },
    [&st](atom::renew) -> caf::result<int64_t> {
      return guarded(
        st, [&] { return st.db->delivery().renew(st.settings.lease); });
    },
    [&st](atom::release) -> caf::result<int64_t> {
      return guarded(
        st, [&] { return st.db->delivery().release(st.settings.lease); });
    },
    [&st](atom::takeover, const std::string& owner) -> caf::result<int64_t> {
      return guarded(st, [&] { return st.db->delivery().take_over(owner); });
    },
    [&st](atom::outcome,
          const std::vector<delivery_decision>& xs) -> caf::result<int64_t> {
      return guarded(st, [&] { return st.db->delivery().record_outcomes(xs); });
    },
    [&st](atom::receipt, const std::string& provider,
          const std::vector<std::string>& message_ids, const std::string& status,
          const std::string& reason) -> caf::result<std::vector<std::string>> {
      return guarded(st, [&] {
        return st.db->delivery().apply_receipt(provider, message_ids, status,
                                               reason);
      });
    },
    // -- dead_letter_store_actor
    [&st](atom::list, const dlq_query& q) -> caf::result<dlq_page> {
      return guarded(st, [&] { return st.db->dead_letters().list(q); });
    },
    [&st](atom::get, atom::dlq, const std::string& tenant_id,
          const std::string& id) -> caf::result<dead_letter> {
      return guarded(
        st, [&] { return st.db->dead_letters().get(tenant_id, id); },
        "no such dead letter");
    },
    [&st](atom::retry, const std::string& tenant_id, const std::string& id,
          const std::string& reason) -> caf::result<notification> {
      return guarded(
        st,
        [&] {
          change_answer a;
          a.r = st.db->dead_letters().retry(tenant_id, id, reason, a.n);
          return a;
        },
        "no such dead letter");
    },
    [&st](atom::discard, const std::string& tenant_id, const std::string& id,
          const std::string& reason) -> caf::result<notification> {
      return guarded(
        st,
        [&] {
          change_answer a;
          a.r = st.db->dead_letters().discard(tenant_id, id, reason, a.n);
          return a;
        },
        "no such dead letter");
    },
    [&st](atom::replay, const replay_request& r) -> caf::result<replay_result> {
      return guarded(st, [&] { return st.db->dead_letters().replay(r); });
    },
    // -- tenant_store_actor
    [&st](atom::put, const tenant& x) -> caf::result<tenant_put_result> {
      return guarded(st, [&] { return st.db->tenants().put(x); });
    },
    [&st](atom::get, atom::tenant, const std::string& id) -> caf::result<tenant> {
      return guarded(
        st, [&] { return st.db->tenants().get(id); }, "no such tenant");
    },
    [&st](atom::create, const std::string& tenant_id, const std::string& key_id,
          const std::string& key_hash) -> caf::result<bool> {
      return guarded(st, [&] {
        return st.db->tenants().create_key(tenant_id, key_id, key_hash);
      });
    },
    [&st](atom::revoke, const std::string& tenant_id,
          const std::string& key_id) -> caf::result<bool> {
      return guarded(
        st, [&] { return st.db->tenants().revoke_key(tenant_id, key_id); });
    },
    [&st](atom::lookup, const std::string& key_id) -> caf::result<key_record> {
      return guarded(
        st, [&] { return st.db->tenants().lookup_key(key_id); }, "no such key");
    },
    // -- idempotency_store_actor
    [&st](atom::lookup, atom::idem, const std::string& tenant_id,
          const std::string& key) -> caf::result<idem_record> {
      return guarded(
        st, [&] { return st.db->idempotency().lookup(tenant_id, key); },
        "no such idempotency key");
    },
    // -- template_store_actor
    [&st](atom::create, const notification_template& x)
      -> caf::result<notification_template> {
      return guarded(st, [&] { return st.db->templates().create(x); });
    },
    [&st](atom::publish, const notification_template& x)
      -> caf::result<notification_template> {
      return guarded(st, [&] { return st.db->templates().publish(x); },
                     "no such template");
    },
    [&st](atom::get, atom::tmpl, const std::string& tenant_id,
          const std::string& code,
          int32_t version) -> caf::result<notification_template> {
      return guarded(
        st, [&] { return st.db->templates().get(tenant_id, code, version); },
        "no such template");
    },
    [&st](atom::list, atom::tmpl, const std::string& tenant_id,
          const std::string& cursor, int32_t limit) -> caf::result<template_page> {
      return guarded(
        st, [&] { return st.db->templates().list(tenant_id, cursor, limit); });
    },
    [&st](atom::archive, const std::string& tenant_id,
          const std::string& code) -> caf::result<bool> {
      return guarded(
        st, [&] { return st.db->templates().archive(tenant_id, code); });
    },
    // -- recipient_store_actor
    [&st](atom::put, const recipient& x) -> caf::result<recipient> {
      return guarded(st, [&] { return st.db->recipients().put(x); });
    },
    [&st](atom::get, atom::recip, const std::string& tenant_id,
          const std::string& id) -> caf::result<recipient> {
      return guarded(st, [&] { return st.db->recipients().get(tenant_id, id); },
                     "no such recipient");
    },
    [&st](atom::remove, atom::recip, const std::string& tenant_id,
          const std::string& id) -> caf::result<bool> {
      return guarded(st, [&] { return st.db->recipients().remove(tenant_id, id); });
    },
    [&st](atom::device, const std::string& tenant_id, const std::string& id,
          const std::string& device) -> caf::result<recipient> {
      return guarded(
        st, [&] { return st.db->recipients().add_device(tenant_id, id, device); },
        "no such recipient");
    },
    [&st](atom::remove, atom::device, const std::string& tenant_id,
          const std::string& id, const std::string& device_id) -> caf::result<recipient> {
      return guarded(
        st,
        [&] { return st.db->recipients().remove_device(tenant_id, id, device_id); },
        "no such device");
    },
    [&st](atom::purge) -> caf::result<int64_t> {
      // At most 50 batches per call: a backlog must not hold a worker for long;
      // the janitor comes back at its next interval.
      return guarded(st, [&] { return st.db->idempotency().purge(1000, 50); });
    },
  };
}

store_actor::behavior_type
store_router(store_actor::stateful_pointer<store_router_state> self,
             std::vector<store_actor> workers) {
  self->state.workers = std::move(workers);
  for (auto& w : self->state.workers)
    self->link_to(w);
  auto next = [self]() -> store_actor& {
    auto& st = self->state;
    return st.workers[st.next++ % st.workers.size()];
  };
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "store", "", "",
              "{\"workers\":" + std::to_string(self->state.workers.size()) + "}");
    },
    [self, next](atom::ping) { return self->delegate(next(), atom::ping_v); },
    // -- notification_store_actor
    [self, next](atom::insert, std::vector<notification>& xs,
                 std::string& lease_owner, int64_t due_by_ms) {
      return self->delegate(next(), atom::insert_v, std::move(xs),
                            std::move(lease_owner), due_by_ms);
    },
    [self, next](atom::get, std::string& tenant_id, std::string& id) {
      return self->delegate(next(), atom::get_v, std::move(tenant_id), std::move(id));
    },
    [self, next](atom::list, notification_query& q) {
      return self->delegate(next(), atom::list_v, std::move(q));
    },
    [self, next](atom::attempts, std::string& tenant_id, std::string& id) {
      return self->delegate(next(), atom::attempts_v, std::move(tenant_id),
                            std::move(id));
    },
    [self, next](atom::cancel, std::string& tenant_id, std::string& id,
                 std::string& reason) {
      return self->delegate(next(), atom::cancel_v, std::move(tenant_id),
                            std::move(id), std::move(reason));
    },
    // -- delivery_store_actor
    [self, next](atom::claim, int32_t limit, bool reclaim_own) {
      return self->delegate(next(), atom::claim_v, limit, reclaim_own);
    },
    [self, next](atom::renew) { return self->delegate(next(), atom::renew_v); },
    [self, next](atom::takeover, std::string& owner) {
      return self->delegate(next(), atom::takeover_v, std::move(owner));
    },
    [self, next](atom::release) {
      return self->delegate(next(), atom::release_v);
    },
    [self, next](atom::outcome, std::vector<delivery_decision>& xs) {
      return self->delegate(next(), atom::outcome_v, std::move(xs));
    },
    [self, next](atom::receipt, std::string& provider,
                 std::vector<std::string>& message_ids, std::string& status,
                 std::string& reason) {
      return self->delegate(next(), atom::receipt_v, std::move(provider),
                            std::move(message_ids), std::move(status),
                            std::move(reason));
    },
    // -- dead_letter_store_actor
    [self, next](atom::list, dlq_query& q) {
      return self->delegate(next(), atom::list_v, std::move(q));
    },
    [self, next](atom::get, atom::dlq, std::string& tenant_id, std::string& id) {
      return self->delegate(next(), atom::get_v, atom::dlq_v,
                            std::move(tenant_id), std::move(id));
    },
    [self, next](atom::retry, std::string& tenant_id, std::string& id,
                 std::string& reason) {
      return self->delegate(next(), atom::retry_v, std::move(tenant_id),
                            std::move(id), std::move(reason));
    },
    [self, next](atom::discard, std::string& tenant_id, std::string& id,
                 std::string& reason) {
      return self->delegate(next(), atom::discard_v, std::move(tenant_id),
                            std::move(id), std::move(reason));
    },
    [self, next](atom::replay, replay_request& r) {
      return self->delegate(next(), atom::replay_v, std::move(r));
    },
    // -- tenant_store_actor
    [self, next](atom::put, tenant& x) {
      return self->delegate(next(), atom::put_v, std::move(x));
    },
    [self, next](atom::get, atom::tenant, std::string& id) {
      return self->delegate(next(), atom::get_v, atom::tenant_v, std::move(id));
    },
    [self, next](atom::create, std::string& tenant_id, std::string& key_id,
                 std::string& key_hash) {
      return self->delegate(next(), atom::create_v, std::move(tenant_id),
                            std::move(key_id), std::move(key_hash));
    },
    [self, next](atom::revoke, std::string& tenant_id, std::string& key_id) {
      return self->delegate(next(), atom::revoke_v, std::move(tenant_id),
                            std::move(key_id));
    },
    [self, next](atom::lookup, std::string& key_id) {
      return self->delegate(next(), atom::lookup_v, std::move(key_id));
    },
    // -- idempotency_store_actor
    [self, next](atom::lookup, atom::idem, std::string& tenant_id,
                 std::string& key) {
      return self->delegate(next(), atom::lookup_v, atom::idem_v,
                            std::move(tenant_id), std::move(key));
    },
    [self, next](atom::purge) { return self->delegate(next(), atom::purge_v); },
    // -- recipient_store_actor
    [self, next](atom::put, recipient& x) {
      return self->delegate(next(), atom::put_v, std::move(x));
    },
    [self, next](atom::get, atom::recip, std::string& tenant_id, std::string& id) {
      return self->delegate(next(), atom::get_v, atom::recip_v,
                            std::move(tenant_id), std::move(id));
    },
    [self, next](atom::remove, atom::recip, std::string& tenant_id,
                 std::string& id) {
      return self->delegate(next(), atom::remove_v, atom::recip_v,
                            std::move(tenant_id), std::move(id));
    },
    [self, next](atom::device, std::string& tenant_id, std::string& id,
                 std::string& device) {
      return self->delegate(next(), atom::device_v, std::move(tenant_id),
                            std::move(id), std::move(device));
    },
    [self, next](atom::remove, atom::device, std::string& tenant_id,
                 std::string& id, std::string& device_id) {
      return self->delegate(next(), atom::remove_v, atom::device_v,
                            std::move(tenant_id), std::move(id),
                            std::move(device_id));
    },
    // -- template_store_actor
    [self, next](atom::create, notification_template& x) {
      return self->delegate(next(), atom::create_v, std::move(x));
    },
    [self, next](atom::publish, notification_template& x) {
      return self->delegate(next(), atom::publish_v, std::move(x));
    },
    [self, next](atom::get, atom::tmpl, std::string& tenant_id,
                 std::string& code, int32_t version) {
      return self->delegate(next(), atom::get_v, atom::tmpl_v,
                            std::move(tenant_id), std::move(code), version);
    },
    [self, next](atom::list, atom::tmpl, std::string& tenant_id,
                 std::string& cursor, int32_t limit) {
      return self->delegate(next(), atom::list_v, atom::tmpl_v,
                            std::move(tenant_id), std::move(cursor), limit);
    },
    [self, next](atom::archive, std::string& tenant_id, std::string& code) {
      return self->delegate(next(), atom::archive_v, std::move(tenant_id),
                            std::move(code));
    },
  };
}

} // namespace herald
