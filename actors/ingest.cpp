#include "actors/ingest.hpp"

#include <algorithm>
#include <functional>
#include <type_traits>

#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/idempotency_guard.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "actors/config.hpp"

namespace herald {

namespace {

using ingest_ptr = ingest_actor::stateful_pointer<ingest_state>;

/// One submission on its way through the protocol. Shared by the
/// continuations of its requests; the actor is single-threaded, so no lock.
struct session {
  ingest_request rq;
  caf::typed_response_promise<ingest_result> rp;
  tenant t;
  ingest_result out;
  std::vector<delivery_job> jobs;  // by item (moved to the writer)
  std::vector<std::string> ids;    // by item: the new notification's id
  std::vector<bool> claimed;       // by item: we hold its key's claim
  std::vector<idempotency_guard_actor> guard_of; // by item; none if unkeyed
  std::vector<std::string> guard_member; // by item: its guard's node ("": here)
  size_t pending = 0;              // answers outstanding in a fan-out
};

using session_ptr = std::shared_ptr<session>;

int32_t rate_of(const ingest_state& st, const tenant& t) {
  return t.rate_per_sec > 0 ? t.rate_per_sec : st.settings.default_rate;
}

int32_t burst_of(const ingest_state& st, const tenant& t) {
  return t.burst > 0 ? t.burst : st.settings.default_burst;
}

bool keyed(const session& s, size_t i) {
  return !s.rq.items[i].key.empty();
}

// -- owners -------------------------------------------------------------------

/// The limiter registry of a tenant's owner node; `member` is its name, or
/// "" for this node.
limiter_registry_actor limiter_for(const ingest_state& st,
                                   const std::string& tenant_id,
                                   std::string& member) {
  member.clear();
  if (st.table) {
    auto& owner = st.table->limiter_owner(tenant_id);
    if (!owner.empty() && owner != st.table->self)
      if (auto* hdl = st.table->limiters_of(owner)) {
        member = owner;
        return *hdl;
      }
  }
  return st.limiters;
}

/// The guard of an idempotency key on its owner node; `member` as above.
idempotency_guard_actor guard_for(const ingest_state& st,
                                  const std::string& tenant_id,
                                  const std::string& key,
                                  std::string& member) {
  member.clear();
  auto shard = owner_table::shard_of(tenant_id, key);
  if (st.table) {
    auto& owner = st.table->shard_owner(shard);
    if (!owner.empty() && owner != st.table->self)
      if (auto* hdl = st.table->guard_of(owner, shard)) {
        member = owner;
        return *hdl;
      }
  }
  return st.guards[shard % st.guards.size()];
}

/// Remembers a request to another node, so that it is asked again of the
/// new owner (`retry`) if that node leaves first. 0: nothing to remember.
uint64_t track(ingest_ptr self, const std::string& member,
               std::function<void()> retry) {
  auto& st = self->state;
  if (!member.empty())
    ++st.remote_requests;
  if (member.empty() || !retry)
    return 0;
  auto id = ++st.next_call;
  st.calls.emplace(id, ingest_state::remote_call{member, std::move(retry)});
  return id;
}

/// Whether the answer of call `id` still counts (false: it was asked again
/// elsewhere after its node left).
bool settle(ingest_ptr self, uint64_t id) {
  return id == 0 || self->state.calls.erase(id) > 0;
}

/// A new cluster view: calls in flight to nodes that left go again.
void on_view(ingest_ptr self, owner_view& v) {
  auto& st = self->state;
  st.table = std::move(v.table);
  std::vector<std::function<void()>> again;
  for (auto i = st.calls.begin(); i != st.calls.end();) {
    if (!st.table->live(i->second.member)) {
      again.push_back(std::move(i->second.retry));
      i = st.calls.erase(i);
    } else {
      ++i;
    }
  }
  st.retried += again.size();
  for (auto& f : again)
    f();
}

void decide(ingest_ptr self, session& s, size_t i, submit_status status,
            std::string id = {}) {
  auto& st = self->state;
  s.out.items[i] = {status, std::move(id)};
  if (status == submit_status::accepted)
    ++st.accepted;
  else if (status == submit_status::replayed)
    ++st.replayed;
  else
    ++st.refused;
}

/// An item's verdict other than fresh, as its answer.
void decide_verdict(ingest_ptr self, session& s, size_t i,
                    const caf::expected<idem_verdict>& v) {
  if (!v) {
    decide(self, s, i, submit_status::guard_unavailable);
    return;
  }
  switch (v->kind) {
    case idem_kind::replay:
      decide(self, s, i, submit_status::replayed, v->notification_id);
      break;
    case idem_kind::mismatch:
      decide(self, s, i, submit_status::key_mismatch);
      break;
    default: // in_flight (fresh and unknown never come here)
      decide(self, s, i, submit_status::in_flight);
      break;
  }
}

void release_claim(ingest_ptr self, session& s, size_t i) {
  if (!s.claimed[i])
    return;
  s.claimed[i] = false;
  self->send(s.guard_of[i], atom::abandon_v, s.t.id, s.rq.items[i].key);
}

void finish(ingest_ptr, const session_ptr& s) {
  s->rp.deliver(std::move(s->out));
}

/// Nothing of the request is durable: every claim goes back, the request
/// fails as a whole.
void fail(ingest_ptr self, const session_ptr& s, caf::error err) {
  ++self->state.failed;
  for (size_t i = 0; i < s->claimed.size(); ++i)
    release_claim(self, *s, i);
  s->rp.deliver(std::move(err));
}

void accept(ingest_ptr self, session& s, size_t i) {
  const auto& item = s.rq.items[i];
  if (s.claimed[i]) {
    s.claimed[i] = false;
    self->send(s.guard_of[i], atom::complete_v, s.t.id, item.key, item.hash,
               s.ids[i]);
  }
  decide(self, s, i, submit_status::accepted, s.ids[i]);
}

/// Commits items `xs` in one request to the writer (one transaction);
/// `then` gets the commit's error (none: committed).
void commit(ingest_ptr self, const session_ptr& s, const std::vector<size_t>& xs,
            std::function<void(caf::error)> then) {
  // A commit may have to go again only if a key's index refuses it: without
  // keys the jobs are handed over, not copied.
  bool any_key = std::any_of(xs.begin(), xs.end(),
                             [&](size_t i) { return keyed(*s, i); });
  std::vector<delivery_job> jobs;
  jobs.reserve(xs.size());
  for (auto i : xs)
    jobs.push_back(any_key ? s->jobs[i] : std::move(s->jobs[i]));
  auto& st = self->state;
  self->request(st.writer, st.settings.timeout, atom::submit_v, std::move(jobs))
    .then([then](bool) { then(caf::error{}); },
          [then](caf::error& err) { then(std::move(err)); });
}

/// Asks the guard of item `i`'s key (`Atom`: claim or resolve) on the key's
/// owner node. If that node leaves before answering, the new owner is asked
/// (it answers from the store what the old one knew in memory); `tries` as
/// for acquire.
template <class Atom>
void ask_guard(ingest_ptr self, const session_ptr& s, size_t i, Atom what,
               std::function<void(caf::expected<idem_verdict>)> done,
               int tries) {
  auto& st = self->state;
  const auto& item = s->rq.items[i];
  std::string member;
  auto guard = guard_for(st, s->t.id, item.key, member);
  // A resolve goes to the guard holding the claim while its node lives.
  if (std::is_same<Atom, atom::resolve>::value && s->guard_of[i]
      && (s->guard_member[i].empty()
          || (st.table && st.table->live(s->guard_member[i])))) {
    guard = s->guard_of[i];
    member = s->guard_member[i];
  }
  s->guard_of[i] = guard;
  s->guard_member[i] = member;
  auto retry = [self, s, i, what, done, tries] {
    ask_guard(self, s, i, what, done, tries - 1);
  };
  auto id = track(self, member,
                  tries > 0 ? std::function<void()>{retry} : nullptr);
  self
    ->request(guard, st.settings.timeout, what, s->t.id, item.key, item.hash)
    .then(
      [self, id, done](idem_verdict& v) {
        if (settle(self, id))
          done(std::move(v));
      },
      [self, s, i, id, done, tries, member, retry](caf::error& err) {
        if (!settle(self, id))
          return;
        std::string now;
        guard_for(self->state, s->t.id, s->rq.items[i].key, now);
        if (tries > 0 && !member.empty()
            && (now != member || err == caf::sec::request_receiver_down)) {
          ++self->state.retried;
          retry();
          return;
        }
        done(std::move(err));
      });
}

/// Asks the guard of each keyed item in `xs` again after its insert was
/// refused; `then` gets the items whose keys are free (claimed again),
/// with the unkeyed items of `xs`. The others are decided.
void resolve(ingest_ptr self, const session_ptr& s, std::vector<size_t> xs,
             std::function<void(std::vector<size_t>)> then) {
  auto again = std::make_shared<std::vector<size_t>>();
  auto pending = std::make_shared<size_t>(0);
  for (auto i : xs)
    if (keyed(*s, i))
      ++*pending;
    else
      again->push_back(i);
  if (*pending == 0) {
    then(std::move(*again));
    return;
  }
  auto& st = self->state;
  for (auto i : xs) {
    if (!keyed(*s, i))
      continue;
    // The guard dropped the claim when it got the resolve.
    s->claimed[i] = false;
    const auto& item = s->rq.items[i];
    auto done = [self, s, i, again, pending, then](caf::expected<idem_verdict> v) {
      if (v && v->kind == idem_kind::fresh) {
        s->claimed[i] = true;
        again->push_back(i);
      } else {
        decide_verdict(self, *s, i, v);
      }
      if (--*pending == 0) {
        std::sort(again->begin(), again->end());
        then(std::move(*again));
      }
    };
    ask_guard(self, s, i, atom::resolve_v, std::move(done), 2);
  }
}

/// The last resort after a second refusal: item by item, so each key's
/// refusal stays its own. A key refused once more is in flight elsewhere
/// (its guard saw no row, then a twin's row came): the client tries again.
void commit_each(ingest_ptr self, const session_ptr& s,
                 std::shared_ptr<std::vector<size_t>> xs, size_t pos) {
  if (pos == xs->size()) {
    finish(self, s);
    return;
  }
  auto i = (*xs)[pos];
  commit(self, s, {i}, [self, s, xs, pos, i](caf::error err) {
    auto next = [self, s, xs, pos] { commit_each(self, s, xs, pos + 1); };
    if (!err) {
      accept(self, *s, i);
      next();
      return;
    }
    if (keyed(*s, i) && is(err, ec::conflict)) {
      ++self->state.conflicts;
      resolve(self, s, {i}, [self, s, i, next](std::vector<size_t> free) {
        if (!free.empty()) {
          release_claim(self, *s, i);
          decide(self, *s, i, submit_status::in_flight);
        }
        next();
      });
      return;
    }
    release_claim(self, *s, i);
    decide(self, *s, i, submit_status::store_failed);
    next();
  });
}

/// Commits the items `xs` (all of the request that is still going).
void commit_all(ingest_ptr self, const session_ptr& s, std::vector<size_t> xs) {
  if (xs.empty()) {
    finish(self, s);
    return;
  }
  commit(self, s, xs, [self, s, xs](caf::error err) {
    if (!err) {
      for (auto i : xs)
        accept(self, *s, i);
      finish(self, s);
      return;
    }
    if (!is(err, ec::conflict)) {
      fail(self, s, std::move(err));
      return;
    }
    // Keys taken before their guards knew them (a request sent again after
    // a restart, or through another node): nothing was written. The guards
    // answer from the store; the items still free go again together.
    ++self->state.conflicts;
    resolve(self, s, xs, [self, s](std::vector<size_t> again) {
      if (again.empty()) {
        finish(self, s);
        return;
      }
      commit(self, s, again, [self, s, again](caf::error err) {
        if (!err) {
          for (auto i : again)
            accept(self, *s, i);
          finish(self, s);
        } else if (!is(err, ec::conflict)) {
          fail(self, s, std::move(err));
        } else {
          ++self->state.conflicts;
          if (again.size() == 1 && keyed(*s, again.front())) {
            // One keyed item, refused twice: no need to commit it a third
            // time (commit_each would).
            auto i = again.front();
            resolve(self, s, again, [self, s, i](std::vector<size_t> free) {
              if (!free.empty()) {
                release_claim(self, *s, i);
                decide(self, *s, i, submit_status::in_flight);
              }
              finish(self, s);
            });
          } else {
            commit_each(self, s, std::make_shared<std::vector<size_t>>(again),
                        0);
          }
        }
      });
    });
  });
}

/// Asks the guard of every keyed item in `xs` at once; commits the fresh
/// ones with the unkeyed ones.
void claim_keys(ingest_ptr self, const session_ptr& s, std::vector<size_t> xs) {
  auto& st = self->state;
  std::vector<size_t> go;
  std::vector<size_t> ask;
  for (auto i : xs)
    (keyed(*s, i) ? ask : go).push_back(i);
  if (ask.empty()) {
    commit_all(self, s, std::move(go));
    return;
  }
  auto go_ptr = std::make_shared<std::vector<size_t>>(std::move(go));
  s->pending = ask.size();
  // In item order to the same guard: a twin inside the batch finds the
  // first one's claim (in_flight).
  for (auto i : ask) {
    auto done = [self, s, i, go_ptr](caf::expected<idem_verdict> v) {
      if (v && v->kind == idem_kind::fresh) {
        s->claimed[i] = true;
        go_ptr->push_back(i);
      } else {
        decide_verdict(self, *s, i, v);
      }
      if (--s->pending == 0) {
        std::sort(go_ptr->begin(), go_ptr->end());
        commit_all(self, s, std::move(*go_ptr));
      }
    };
    ask_guard(self, s, i, atom::claim_v, std::move(done), 2);
  }
}

/// Takes `tokens` from the tenant's limiter. A limiter may stop for
/// idleness just as a request reaches it (sec::request_receiver_down): the
/// registry then spawns a fresh, full one, so asking once more is exact.
///
/// In a cluster the limiter lives on the tenant's owner node. If that node
/// leaves before answering, the new owner is asked (its limiter starts full:
/// the soft state that moves with ownership). `tries` bounds the asks that
/// follow: a failure that comes before the new owner table (the dead
/// owner's proxy bounces the request) asks the same node once more, and
/// that ask is asked again when the table arrives without it.
void acquire(ingest_ptr self, const session_ptr& s, int32_t tokens,
             std::function<void(rate_decision&)> then, int tries = 2) {
  auto& st = self->state;
  rate_request rq{s->t.id, tokens, rate_of(st, s->t), burst_of(st, s->t)};
  std::string member;
  auto limiter = limiter_for(st, s->t.id, member);
  auto retry = [self, s, tokens, then, tries] {
    acquire(self, s, tokens, then, tries - 1);
  };
  auto id = track(self, member,
                  tries > 0 ? std::function<void()>{retry} : nullptr);
  self->request(limiter, st.settings.timeout, atom::acquire_v, rq)
    .then(
      [self, id, then](rate_decision& d) {
        if (settle(self, id))
          then(d);
      },
      [self, s, id, then, tries, member, retry](caf::error& err) {
        if (!settle(self, id))
          return;
        std::string now;
        limiter_for(self->state, s->t.id, now);
        if (tries > 0
            && (err == caf::sec::request_receiver_down || now != member)) {
          ++self->state.retried;
          retry();
        } else {
          fail(self, s, std::move(err));
        }
      });
}

bool channel_enabled(const tenant& t, const notification& n) {
  return t.channels.empty()
         || std::find(t.channels.begin(), t.channels.end(), n.channel)
              != t.channels.end();
}

/// A new notification from a validated item.
delivery_job make_job(notification n, const tenant& t, int64_t now) {
  delivery_job job;
  job.n = std::move(n);
  job.n.id = new_notification_id();
  job.n.tenant_id = t.id;
  // Skipped (its recipient opted out or has no address) is decided by the
  // HTTP layer and stored as it is; everything else starts as accepted.
  if (job.n.status != notification_status::skipped)
    job.n.status = notification_status::accepted;
  job.n.created_at_ms = now;
  job.n.updated_at_ms = now;
  job.signing_secret = t.webhook_secret;
  job.email_from = t.email_from;
  job.email_reply_to = t.email_reply_to;
  return job;
}

void single(ingest_ptr self, const session_ptr& s) {
  auto go_on = [self, s] {
    if (s->rq.items.empty()) {
      finish(self, s); // the HTTP layer answers its own 400/422
      return;
    }
    if (!channel_enabled(s->t, s->jobs[0].n)) {
      decide(self, *s, 0, submit_status::channel_disabled);
      finish(self, s);
      return;
    }
    claim_keys(self, s, {0});
  };
  if (s->rq.tokens <= 0) {
    go_on();
    return;
  }
  // While a denial is known to hold (until the next token), it is answered
  // without asking.
  auto& st = self->state;
  auto rate = rate_of(st, s->t);
  auto burst = burst_of(st, s->t);
  auto denied = [self, s] {
    if (!s->rq.items.empty())
      decide(self, *s, 0, submit_status::rate_limited);
    finish(self, s);
  };
  if (auto known = st.denials.denial(s->t.id, rate, burst, self->clock().now())) {
    ++st.memo_denials;
    s->out.rated = true;
    s->out.rate = *known;
    denied();
    return;
  }
  acquire(self, s, 1, [self, s, rate, burst, go_on, denied](rate_decision& d) {
    self->state.denials.note(s->t.id, rate, burst, d, self->clock().now());
    s->out.rated = true;
    s->out.rate = d;
    if (!d.allowed)
      denied();
    else
      go_on();
  });
}

void batch(ingest_ptr self, const session_ptr& s) {
  std::vector<size_t> valid;
  for (size_t i = 0; i < s->jobs.size(); ++i)
    if (channel_enabled(s->t, s->jobs[i].n))
      valid.push_back(i);
    else
      decide(self, *s, i, submit_status::channel_disabled);
  if (valid.empty()) {
    finish(self, s);
    return;
  }
  // One token per valid item; items past the granted number get 429.
  auto n = static_cast<int32_t>(valid.size());
  acquire(self, s, n, [self, s, valid](rate_decision& d) mutable {
    s->out.rated = true;
    s->out.rate = d;
    auto granted = static_cast<size_t>(std::max(d.granted, 0));
    for (size_t k = granted; k < valid.size(); ++k)
      decide(self, *s, valid[k], submit_status::rate_limited);
    valid.resize(std::min(granted, valid.size()));
    claim_keys(self, s, std::move(valid));
  });
}

void start(ingest_ptr self, const session_ptr& s) {
  auto& st = self->state;
  self->request(st.auth, st.settings.timeout, atom::auth_v, s->rq.api_key)
    .then(
      [self, s](tenant& t) {
        s->t = std::move(t);
        auto now = wall_ms(self);
        auto n = s->rq.items.size();
        s->out.items.resize(n);
        s->ids.reserve(n);
        s->claimed.assign(n, false);
        s->guard_of.resize(n);
        s->guard_member.resize(n);
        s->jobs.reserve(n);
        for (auto& item : s->rq.items) {
          auto job = make_job(std::move(item.n), s->t, now);
          if (!item.key.empty()) {
            job.n.idempotency_key = item.key;
            job.n.idempotency_hash = item.hash;
          }
          s->ids.push_back(job.n.id);
          s->jobs.push_back(std::move(job));
        }
        if (s->rq.batch)
          batch(self, s);
        else
          single(self, s);
      },
      [self, s](caf::error& err) {
        if (is(err, ec::unauthorized))
          ++self->state.unauthorized;
        else
          ++self->state.failed;
        s->rp.deliver(std::move(err));
      });
}

std::string state_json(const ingest_state& st) {
  return "{\"requests\":" + std::to_string(st.requests)
         + ",\"unauthorized\":" + std::to_string(st.unauthorized)
         + ",\"accepted\":" + std::to_string(st.accepted)
         + ",\"replayed\":" + std::to_string(st.replayed)
         + ",\"refused_items\":" + std::to_string(st.refused)
         + ",\"failed\":" + std::to_string(st.failed)
         + ",\"conflicts\":" + std::to_string(st.conflicts)
         + ",\"memo_denials\":" + std::to_string(st.memo_denials)
         + ",\"denials_known\":" + std::to_string(st.denials.size())
         + ",\"remote_requests\":" + std::to_string(st.remote_requests)
         + ",\"remote_in_flight\":" + std::to_string(st.calls.size())
         + ",\"retried_on_new_owner\":" + std::to_string(st.retried) + "}";
}

} // namespace

ingest_actor::behavior_type
ingest(ingest_actor::stateful_pointer<ingest_state> self, auth_actor auth,
       limiter_registry_actor limiters,
       std::vector<idempotency_guard_actor> guards, writer_actor writer,
       ingest_settings settings, size_t index) {
  auto& st = self->state;
  st.auth = std::move(auth);
  st.limiters = std::move(limiters);
  st.guards = std::move(guards);
  st.writer = std::move(writer);
  st.settings = settings;
  st.index = index;
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "ingest", std::to_string(self->state.index), "",
              state_json(self->state));
    },
    [self](atom::view, owner_view& v) { on_view(self, v); },
    [self](atom::submit, ingest_request& rq) -> caf::result<ingest_result> {
      auto& st = self->state;
      ++st.requests;
      if (st.guards.empty()
          && std::any_of(rq.items.begin(), rq.items.end(),
                         [](const ingest_item& x) { return !x.key.empty(); }))
        return make_error(ec::invalid_input, "no idempotency guards");
      auto s = std::make_shared<session>();
      s->rq = std::move(rq);
      s->rp = self->make_response_promise<ingest_result>();
      start(self, s);
      return s->rp;
    },
  };
}

} // namespace herald
