// herald: one node. Reads its config, applies migrations, starts the actors
// and the two HTTP endpoints, and shuts down in a fixed order on SIGTERM or
// SIGINT: stop accepting, finish or hand back in-flight work, exit 0.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <malloc.h>
#include <map>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/auth.hpp"
#include "actors/config.hpp"
#include "actors/dispatcher.hpp"
#include "actors/idempotency_guard.hpp"
#include "actors/ingest.hpp"
#include "actors/janitor.hpp"
#include "actors/rate_limiter.hpp"
#include "core/log.hpp"
#include "actors/sender_pool.hpp"
#include "actors/store.hpp"
#include "actors/webhook_sender.hpp"
#include "actors/writer.hpp"
#include "config/node_config.hpp"
#include "http/admin_server.hpp"
#include "http/api_server.hpp"
#include "persistence/pg_store.hpp"

using namespace herald;

namespace {

/// Blocks SIGTERM/SIGINT in this thread (and every thread it starts), so the
/// main thread alone receives them with sigwait.
sigset_t block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

/// Applies migrations, waiting for the database if it is not up yet.
/// Returns false if a signal asked us to stop first.
bool migrate(const node_config& cfg, const sigset_t& signals) {
  pg_store db{cfg.db_url};
  for (int attempt = 1;; ++attempt) {
    try {
      db.migrate();
      return true;
    } catch (const db_unavailable_error& e) {
      if (attempt == 1 || attempt % 10 == 0)
        HERALD_LOG(warn, "node", "waiting for the database: ", e.what());
    }
    timespec one_second{1, 0};
    if (sigtimedwait(&signals, nullptr, &one_second) > 0)
      return false;
  }
}

// glibc's defaults hand every block above its (dynamic) mmap threshold back
// to the kernel on free and trim the heap whenever 128 KiB at its top are
// free. A batch allocates and frees several such blocks per request (the
// body, the parsed items, the COPY buffer), and perf showed
// malloc_consolidate and page faults among the node's top entries.
// Keeping freed memory for reuse takes that out (its own share of the batch
// figures in bench/RESULTS-guards.md is not measured apart from the binary
// COPY); the price is that a node keeps up to the trim threshold of free
// heap after a burst. GLIBC_TUNABLES cannot override this.
void tune_malloc() {
  mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
}

} // namespace

int main(int argc, char** argv) {
  tune_malloc();
  auto parsed = parse_command_line(argc, argv);
  if (parsed.help) {
    std::cout << help_text();
    return 0;
  }
  if (!parsed.error.empty()) {
    std::cerr << "herald: " << parsed.error << "\n"
              << "herald: see 'herald --help' for every option\n";
    return 2;
  }
  const auto& cfg = parsed.cfg;
  set_log_level(cfg.log_level);
  auto signals = block_signals();

  try {
    if (!migrate(cfg, signals))
      return 0;
  } catch (const std::exception& e) {
    std::cerr << "herald: applying migrations failed: " << e.what() << "\n";
    return 1;
  }
  HERALD_LOG(info, "node", "schema up to date");

  herald_actor_config sys_cfg;
  if (cfg.scheduler_threads > 0)
    sys_cfg.set("scheduler.max-threads", static_cast<size_t>(cfg.scheduler_threads));
  // Idle workers poll less aggressively: request round trips drop from
  // ~250 µs to ~40 µs (PLATFORM.md).
  sys_cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  caf::actor_system sys{sys_cfg};

  auto timespan = [](millis x) { return caf::timespan{x}; };
  // Claims take work due within the retry horizon, to hold it on timers.
  store_settings ss{cfg.db_url, lease_spec{cfg.node_name, cfg.lease_ttl.count(),
                                           cfg.retry_horizon.count()}};
  std::vector<store_actor> workers;
  for (int i = 0; i < cfg.db_workers; ++i)
    workers.push_back(sys.spawn<caf::detached>(store_worker, ss));
  auto store = sys.spawn(store_router, workers);
  std::vector<store_actor> commit_conns;
  for (int i = 0; i < cfg.db_writers; ++i)
    commit_conns.push_back(sys.spawn<caf::detached>(store_worker, ss));

  dispatcher_settings ds;
  ds.node = cfg.node_name;
  ds.capacity = cfg.queue_capacity;
  ds.sweep_interval = timespan(cfg.sweep_interval);
  ds.renew_interval = timespan(cfg.lease_ttl / 3);
  ds.outcomes.fallback = {cfg.retry_base_delay, cfg.retry_max_delay,
                          cfg.retry_max_attempts};
  {
    // herald.channels.webhook.retry.*: 0 = inherit herald.retry.*.
    auto webhook = ds.outcomes.fallback;
    if (cfg.webhook_retry_base_delay.count() > 0)
      webhook.base_delay = cfg.webhook_retry_base_delay;
    if (cfg.webhook_retry_max_delay.count() > 0)
      webhook.max_delay = cfg.webhook_retry_max_delay;
    if (cfg.webhook_retry_max_attempts > 0)
      webhook.max_attempts = cfg.webhook_retry_max_attempts;
    ds.outcomes.per_channel["webhook"] = webhook;
  }
  ds.outcomes.horizon = cfg.retry_horizon;

  std::map<std::string, pool_factory> pools;
  pools["webhook"] = [&cfg](caf::local_actor* parent,
                            dispatcher_actor d) -> sender_pool_actor {
    sender_pool_settings ps;
    ps.channel = "webhook";
    ps.node = cfg.node_name;
    ps.senders_per_provider = cfg.webhook_pool_size;
    ps.call_timeout = caf::timespan{cfg.webhook_timeout + millis{5000}};
    ps.breaker.failure_threshold = cfg.breaker_failure_threshold;
    ps.breaker.failure_rate = cfg.breaker_failure_rate / 100.0;
    ps.breaker.min_calls = cfg.breaker_min_calls;
    ps.breaker.window = cfg.breaker_window;
    ps.breaker.open_timeout = cfg.breaker_open_timeout;
    ps.breaker.max_open_timeout = cfg.breaker_max_open_timeout;
    ps.breaker.half_open_probes = cfg.breaker_half_open_probes;
    // A probe whose sender hangs is given up with the call deadline.
    ps.breaker.probe_timeout = cfg.webhook_timeout + millis{5000};
    ps.sender_restarts = {cfg.supervisor_max_restarts,
                          cfg.supervisor_restart_window};
    ps.provider_restarts = ps.sender_restarts;
    ps.idle_timeout = caf::timespan{cfg.webhook_provider_idle_timeout};
    auto node = cfg.node_name;
    auto timeout = cfg.webhook_timeout;
    sender_factory make_sender = [node, timeout](caf::local_actor* pool) {
      return pool->spawn<caf::detached>(webhook_sender, node, timeout);
    };
    return parent->spawn(sender_pool, std::move(d), make_sender, ps);
  };
  auto disp = sys.spawn(dispatcher, store, pools, ds);
  // The top of the supervision tree: a sender pool that exceeded its restart
  // intensity takes the dispatcher down with it (linked). The node then
  // stops (exit code 2) instead of running without delivery; its leases
  // expire and are taken over, and a process supervisor restarts it.
  static std::atomic<bool> escalated{false};
  disp->attach_functor([](const caf::error& reason) {
    if (reason && reason != caf::exit_reason::user_shutdown) {
      escalated = true;
      HERALD_LOG(error, "node", "the dispatcher died (supervision gave up): ",
                 caf::to_string(reason));
      ::kill(::getpid(), SIGTERM);
    }
  });

  writer_settings ws;
  ws.max_batch = cfg.db_max_batch;
  ws.lease_horizon_ms = cfg.retry_horizon.count();
  ws.parallel_rows = cfg.db_parallel_rows;
  auto wr = sys.spawn(writer, commit_conns, disp, ws);
  auto au = sys.spawn(auth, store, auth_settings{});

  // Ingress guards: one rate limiter per tenant behind the registry (the
  // ownership lookup), idempotency guards sharded by key.
  limiter_settings ls;
  ls.idle_interval = timespan(cfg.limiter_idle_timeout);
  ls.default_rate = cfg.tenant_default_rate;
  ls.default_burst = cfg.tenant_default_burst;
  auto limiters = sys.spawn(limiter_registry, ls);
  idempotency_guard_settings gs;
  gs.retention = timespan(cfg.idempotency_retention);
  std::vector<idempotency_guard_actor> guards;
  for (int i = 0; i < cfg.idempotency_shards; ++i)
    guards.push_back(sys.spawn(idempotency_guard, store, gs,
                               static_cast<size_t>(i)));
  // The submission protocol: one request from the HTTP thread each.
  ingest_settings is;
  is.timeout = timespan(cfg.api_request_timeout);
  is.default_rate = cfg.tenant_default_rate;
  is.default_burst = cfg.tenant_default_burst;
  std::vector<ingest_actor> ingests;
  for (int i = 0; i < cfg.api_ingest_actors; ++i)
    ingests.push_back(sys.spawn(ingest, au, limiters, guards, wr, is,
                                static_cast<size_t>(i)));
  auto jan = sys.spawn(janitor, store, timespan(cfg.idempotency_purge_interval));

  api_context actx;
  actx.sys = &sys;
  actx.auth = au;
  actx.ingest = ingests;
  actx.store = store;
  actx.dispatcher = disp;
  actx.replay_rate = cfg.dlq_replay_rate;
  actx.timeout = timespan(cfg.api_request_timeout);
  actx.max_body_bytes = static_cast<size_t>(cfg.api_max_body_bytes);
  actx.max_batch_bytes = static_cast<size_t>(cfg.api_max_batch_bytes);
  actx.max_batch_items = static_cast<size_t>(cfg.api_max_batch_items);
  api_server api{actx, cfg.api_threads};
  auto api_port = api.bind(cfg.api_host, cfg.api_port);
  if (api_port < 0) {
    std::cerr << "herald: cannot listen on herald.api.host:port = "
              << cfg.api_host << ":" << cfg.api_port << "\n";
    return 1;
  }
  std::unique_ptr<admin_server> admin;
  if (!cfg.admin_token.empty()) {
    admin_context adm;
    adm.sys = &sys;
    adm.token = cfg.admin_token;
    adm.auth = au;
    adm.store = store;
    adm.dispatcher = disp;
    adm.node = cfg.node_name;
    adm.actors = {store, wr, disp, au, limiters, jan};
    for (auto& g : guards)
      adm.actors.push_back(g);
    for (auto& x : ingests)
      adm.actors.push_back(x);
    for (auto& w : workers)
      adm.actors.push_back(w);
    for (auto& w : commit_conns)
      adm.actors.push_back(w);
    admin = std::make_unique<admin_server>(adm);
    auto admin_port = admin->bind(cfg.admin_host, cfg.admin_port);
    if (admin_port < 0) {
      std::cerr << "herald: cannot listen on herald.admin.host:port = "
                << cfg.admin_host << ":" << cfg.admin_port << "\n";
      return 1;
    }
    admin->start();
    std::cout << "herald: admin listening on " << cfg.admin_host << ":"
              << admin_port << std::endl;
  } else {
    HERALD_LOG(warn, "node", "herald.admin.token is not set: admin endpoint off");
  }
  api.start();
  std::cout << "herald: api listening on " << cfg.api_host << ":" << api_port
            << std::endl;
  HERALD_LOG(info, "node", "node ", cfg.node_name, " up");

  int sig = 0;
  sigwait(&signals, &sig);
  HERALD_LOG(info, "node", "signal ", sig, ": shutting down");

  // 1. No new work: the API answers 503 and closes its listener once the
  //    requests in flight (already committed or failing) are answered.
  api.stop();
  // 2. Finish what is being sent, record it, hand back the rest.
  {
    caf::scoped_actor self{sys};
    self->request(disp, caf::timespan{cfg.webhook_timeout + millis{5000}},
                  atom::drain_v)
      .receive([](bool) {},
               [&](caf::error& err) {
                 HERALD_LOG(warn, "node", "drain incomplete (leases will "
                                          "expire and be reclaimed): ",
                            sys.render(err));
               });
    if (admin)
      admin->stop();
    // 3. Stop the actors; the system's destructor waits for all of them.
    for (auto& a : std::vector<caf::actor>{
           caf::actor_cast<caf::actor>(wr), caf::actor_cast<caf::actor>(au),
           caf::actor_cast<caf::actor>(disp), caf::actor_cast<caf::actor>(store),
           caf::actor_cast<caf::actor>(limiters), caf::actor_cast<caf::actor>(jan)})
      self->send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& g : guards)
      self->send_exit(g, caf::exit_reason::user_shutdown);
    for (auto& x : ingests)
      self->send_exit(x, caf::exit_reason::user_shutdown);
    for (auto& w : commit_conns)
      self->send_exit(w, caf::exit_reason::user_shutdown);
    for (auto& w : workers)
      self->send_exit(w, caf::exit_reason::user_shutdown);
  }
  HERALD_LOG(info, "node", "stopped");
  return escalated ? 2 : 0;
}
