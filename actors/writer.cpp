#include "actors/writer.hpp"

#include <chrono>
#include <map>
#include <tuple>

#include <caf/typed_event_based_actor.hpp>

#include "core/error.hpp"
#include "core/metric_catalog.hpp"
#include "core/log.hpp"
#include "core/json_text.hpp"
#include "actors/config.hpp"
#include "actors/owner_table.hpp"

namespace herald {

namespace {

using writer_ptr = writer_actor::stateful_pointer<writer_state>;

void try_commit(writer_ptr self);
const owner_table::worker* pick_worker(writer_ptr self);

/// Answers one request of a finished transaction.
void answer(writer_state::pending& p, const caf::error& err) {
  if (err)
    p.rp.deliver(err);
  else
    p.rp.deliver(true);
}

/// How many notifications of each (tenant, channel, skipped) a batch holds.
using accepted_count_map
  = std::map<std::tuple<std::string, std::string, bool>, uint64_t>;

accepted_count_map accepted_counts(const std::vector<writer_state::pending>& batch) {
  accepted_count_map counts;
  for (auto& p : batch)
    for (auto& j : p.jobs)
      ++counts[{j.n.tenant_id, j.n.channel,
                j.n.status == notification_status::skipped}];
  return counts;
}

/// A durable commit, in the metrics.
void record_commit(const accepted_count_map& counts, size_t rows,
                   std::chrono::steady_clock::time_point started) {
  auto& m = metrics();
  for (auto& [key, n] : counts) {
    metric_labels labels{{"tenant", std::get<0>(key)}, {"channel", std::get<1>(key)}};
    m.counter(metric::accepted, labels).inc(n);
    if (std::get<2>(key))
      m.counter(metric::skipped, labels).inc(n);
  }
  m.histogram(metric::commit_rows).observe(static_cast<double>(rows));
  m.histogram(metric::commit_duration)
    .observe(std::chrono::duration<double>(std::chrono::steady_clock::now()
                                           - started)
               .count());
}

/// Hands one batch to `conn` after asking the dispatcher whether it can hold
/// the batch's rows that are due within the lease horizon: if so, those are
/// inserted leased to this node and delivered from memory; otherwise, and
/// for rows scheduled later (send_at), they are inserted unleased for a
/// sweeper to claim when they come due. Rows scheduled hours ahead thus
/// never fill the dispatcher and hold up work due now.
void commit(writer_ptr self, store_actor conn,
            std::vector<writer_state::pending> batch, size_t rows) {
  auto timeout = self->state.settings.timeout;
  auto finish = [self, conn](std::vector<writer_state::pending>& batch,
                             const caf::error& err) {
    auto& st = self->state;
    if (err)
      ++st.failed_commits;
    for (auto& p : batch)
      answer(p, err);
    st.idle.push_back(conn);
    try_commit(self);
  };
  // Rows due by this bound are the ones leased (due_by, the same test the
  // store applies to the same number).
  const int64_t due_by_ms = wall_ms(self) + self->state.settings.lease_horizon_ms;
  size_t due = 0;
  for (auto& p : batch)
    for (auto& j : p.jobs)
      due += due_by(j.n, due_by_ms) ? 1 : 0;
  // The worker that holds the leased rows: this node's dispatcher, or
  // (ingest-only node) the worker with the most credits left.
  std::string owner;
  dispatcher_actor target;
  if (self->state.dispatcher) {
    owner = self->state.settings.node;
    target = self->state.dispatcher;
  } else if (auto w = pick_worker(self)) {
    owner = w->name;
    target = w->dispatcher;
  }
  auto insert = [self, conn, rows, due, timeout, finish, due_by_ms, owner,
                 target](std::vector<writer_state::pending> batch,
                         bool leased) {
    // The rows go to the store by copy only when the jobs are needed again:
    // for the dispatcher (leased) or for a retry after a refused key.
    bool keep = leased;
    for (auto& p : batch)
      for (auto& j : p.jobs)
        keep = keep || !j.n.idempotency_key.empty();
    auto counts = accepted_counts(batch);
    auto started = std::chrono::steady_clock::now();
    std::vector<notification> ns;
    ns.reserve(rows);
    for (auto& p : batch)
      for (auto& j : p.jobs) {
        if (keep)
          ns.push_back(j.n);
        else
          ns.push_back(std::move(j.n));
      }
    auto shared = std::make_shared<std::vector<writer_state::pending>>(
      std::move(batch));
    self
      ->request(conn, timeout, atom::insert_v, std::move(ns),
                leased ? owner : std::string{}, due_by_ms)
      .then(
        [self, conn, shared, rows, leased, due_by_ms, finish, owner, target,
         timeout, counts, started](bool) {
          auto& st = self->state;
          record_commit(counts, rows, started);
          ++st.commits;
          st.rows += rows;
          st.largest_batch = std::max(st.largest_batch, rows);
          if (leased) {
            std::vector<delivery_job> jobs;
            for (auto& p : *shared)
              for (auto& j : p.jobs)
                if (due_by(j.n, due_by_ms)) {
                  j.fence = 1; // the fence of a row inserted leased
                  jobs.push_back(std::move(j));
                }
            self->send(target, atom::dispatch_v, std::move(jobs));
            if (owner != st.settings.node && st.table
                && !st.table->live(owner)) {
              // The worker left while this commit ran: its takeover may
              // have come before these rows. Free them once more.
              self->request(conn, timeout, atom::takeover_v, owner)
                .then([](int64_t) {}, [](caf::error&) {});
            }
          }
          finish(*shared, caf::error{});
        },
        [self, conn, shared, rows, due, leased, finish,
         target](caf::error& err) {
          auto& st = self->state;
          if (leased)
            self->send(target, atom::release_v, static_cast<int32_t>(due));
          if (is(err, ec::conflict) && shared->size() > 1) {
            // Nothing was written. Retry each request alone so only the one
            // holding the taken key gets the conflict.
            ++st.conflicts;
            for (auto& p : *shared)
              p.solo = true;
            st.waiting_rows += rows;
            st.waiting.insert(st.waiting.begin(),
                              std::make_move_iterator(shared->begin()),
                              std::make_move_iterator(shared->end()));
            st.idle.push_back(conn);
            try_commit(self);
            return;
          }
          if (!is(err, ec::conflict)) {
            metrics().counter(metric::commits_failed).inc();
            HERALD_LOG(warn, "writer", "commit of ", rows,
                       " rows failed: ", self->system().render(err));
          }
          finish(*shared, err);
        });
  };
  if (due == 0 || !target) {
    // Nothing to hold, or no worker to hold it: stored unleased, for a
    // sweeper to claim.
    insert(std::move(batch), false);
    return;
  }
  auto shared = std::make_shared<std::vector<writer_state::pending>>(
    std::move(batch));
  auto n = static_cast<int32_t>(due);
  if (owner != self->state.settings.node)
    self->state.spent[owner] += n;
  self->request(target, std::chrono::seconds(1), atom::reserve_v, n)
    .then(
      [self, shared, n, insert, target](int32_t granted) {
        if (granted < n && granted > 0)
          self->send(target, atom::release_v, granted);
        insert(std::move(*shared), granted == n);
      },
      [shared, insert](caf::error&) {
        // No dispatcher: the rows stay unleased and a sweeper takes them.
        insert(std::move(*shared), false);
      });
}

/// The live worker with the most credits left (granted at its last
/// heartbeat, minus what this writer reserved since), if any.
const owner_table::worker* pick_worker(writer_ptr self) {
  auto& st = self->state;
  if (!st.table)
    return nullptr;
  const owner_table::worker* best = nullptr;
  int64_t best_left = 0;
  for (auto& w : st.table->workers) {
    auto i = st.spent.find(w.name);
    int64_t left = w.credits - (i == st.spent.end() ? 0 : i->second);
    if (best == nullptr || left > best_left) {
      best = &w;
      best_left = left;
    }
  }
  return best;
}

/// Starts commits while connections are idle and requests wait.
void try_commit(writer_ptr self) {
  auto& st = self->state;
  while (!st.idle.empty() && !st.waiting.empty()
         && start_commit_now(st.connections - st.idle.size(), st.waiting_rows,
                             st.settings)) {
    auto conn = st.idle.back();
    st.idle.pop_back();
    std::vector<writer_state::pending> batch;
    size_t rows = 0;
    size_t taken = 0;
    auto max = static_cast<size_t>(st.settings.max_batch);
    // Whole requests only: a request is never split over two transactions.
    // A solo request goes alone.
    while (taken < st.waiting.size()
           && (rows == 0
               || (rows + st.waiting[taken].jobs.size() <= max
                   && !st.waiting[taken].solo && !st.waiting[0].solo))) {
      rows += st.waiting[taken].jobs.size();
      ++taken;
    }
    batch.reserve(taken);
    for (size_t i = 0; i < taken; ++i)
      batch.push_back(std::move(st.waiting[i]));
    st.waiting.erase(st.waiting.begin(), st.waiting.begin() + taken);
    st.waiting_rows -= rows;
    commit(self, conn, std::move(batch), rows);
  }
}

std::string state_json(const writer_state& st) {
  return "{\"connections\":" + std::to_string(st.connections)
         + ",\"idle\":" + std::to_string(st.idle.size())
         + ",\"waiting_requests\":" + std::to_string(st.waiting.size())
         + ",\"waiting_rows\":" + std::to_string(st.waiting_rows)
         + ",\"commits\":" + std::to_string(st.commits)
         + ",\"rows\":" + std::to_string(st.rows)
         + ",\"failed_commits\":" + std::to_string(st.failed_commits)
         + ",\"conflicts\":" + std::to_string(st.conflicts)
         + ",\"largest_batch\":" + std::to_string(st.largest_batch) + "}";
}

} // namespace

writer_actor::behavior_type
writer(writer_actor::stateful_pointer<writer_state> self,
       std::vector<store_actor> connections, dispatcher_actor dispatcher,
       writer_settings settings) {
  auto& st = self->state;
  st.connections = connections.size();
  st.idle = std::move(connections);
  st.dispatcher = std::move(dispatcher);
  st.settings = settings;
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "writer", "", "", state_json(self->state));
    },
    [self](atom::view, owner_view& v) {
      auto& st = self->state;
      st.table = std::move(v.table);
      // Fresh credits from the workers' heartbeats.
      st.spent.clear();
    },
    [self](atom::submit,
           std::vector<delivery_job>& jobs) -> caf::result<bool> {
      if (jobs.empty())
        return true;
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
      st.waiting_rows += jobs.size();
      st.waiting.push_back({std::move(jobs), rp});
      try_commit(self);
      return rp;
    },
  };
}

} // namespace herald
