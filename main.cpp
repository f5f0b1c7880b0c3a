// herald: one node. Reads its config, applies migrations, starts the actors
// and the two HTTP endpoints, and shuts down in a fixed order on SIGTERM or
// SIGINT: stop accepting, finish or hand back in-flight work, exit 0.

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sstream>
#include <unistd.h>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <caf/io/middleman.hpp>

#include "actors/cluster.hpp"
#include "actors/config.hpp"
#include "actors/node_supervisor.hpp"
#include "channels/webpush.hpp"
#include "core/log.hpp"
#include "core/metric_catalog.hpp"
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
  // Web Push providers: the VAPID key must load now, not at the first push.
  for (auto& [name, p] : parsed.cfg.providers) {
    if (p.kind != "webpush")
      continue;
    std::string error;
    auto signer = webpush::vapid_signer::from_pem_file(p.vapid_private_key_file,
                                                       error);
    if (!signer) {
      std::cerr << "herald: herald.providers." << name
                << ".vapid-private-key-file: " << error << "\n";
      return 2;
    }
    std::ifstream in{p.vapid_private_key_file, std::ios::binary};
    std::ostringstream text;
    text << in.rdbuf();
    p.vapid_pem = text.str();
  }
  const auto& cfg = parsed.cfg;
  set_log_level(cfg.log_level);
  set_log_format(cfg.log_format);
  set_log_node(cfg.node_name);
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
  if (cfg.cluster_port != 0) {
    // The network layer: only nodes of this protocol version and cluster
    // name connect (CAF refuses others at its handshake), and a frozen
    // peer's connection is closed after the timeout (CAF's default never
    // notices one).
    sys_cfg.load<caf::io::middleman>();
    // A test hook: HERALD_CLUSTER_PROTOCOL_VERSION plays a node of another
    // version (tests/e2e/cluster_test.cpp).
    int version = cluster_protocol_version;
    if (const char* v = std::getenv("HERALD_CLUSTER_PROTOCOL_VERSION"))
      version = std::atoi(v);
    sys_cfg.set("middleman.app-identifiers",
                std::vector<std::string>{
                  cluster_app_identifier(cfg.cluster_name, version)});
    sys_cfg.set("middleman.heartbeat-interval",
                caf::timespan{cfg.cluster_heartbeat_interval});
    sys_cfg.set("middleman.connection-timeout",
                caf::timespan{cfg.cluster_connection_timeout});
  }
  caf::actor_system sys{sys_cfg};

  // The node's services, by role, under the node supervisor. A service that
  // dies makes the node stop (exit status 2): a process supervisor restarts
  // it, and other nodes take over its leases meanwhile.
  auto node = sys.spawn(node_supervisor, cfg, [] { ::kill(::getpid(), SIGTERM); });
  node_services svc;
  {
    caf::scoped_actor self{sys};
    bool ok = false;
    self->request(node, std::chrono::seconds(10), atom::get_v)
      .receive([&](node_services& x) { svc = std::move(x); ok = true; },
               [&](caf::error& err) {
                 std::cerr << "herald: the node did not start: "
                           << sys.render(err) << "\n";
               });
    if (!ok)
      return 1;
  }

  if (svc.cluster) {
    auto port = sys.middleman().publish(svc.cluster, cfg.cluster_port,
                                        cfg.cluster_host.c_str(), true);
    if (!port) {
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
      std::cerr << "herald: cannot publish on herald.cluster.host:port = "
                << cfg.cluster_host << ":" << cfg.cluster_port << ": "
                << sys.render(port.error()) << "\n";
      return 1;
    }
    std::cout << "herald: cluster listening on " << cfg.cluster_host << ":"
              << *port << std::endl;
  }

  if (!svc.cluster)
    metrics().gauge(metric::members_up).set(1);

  api_context actx;
  actx.sys = &sys;
  actx.auth = svc.auth;
  actx.ingest = svc.ingest;
  actx.store = svc.store;
  actx.dispatcher = svc.dispatcher;
  actx.cluster = svc.cluster;
  actx.replay_rate = cfg.dlq_replay_rate;
  actx.templates = svc.templates;
  actx.providers = cfg.providers;
  actx.timeout = caf::timespan(cfg.api_request_timeout);
  actx.max_body_bytes = static_cast<size_t>(cfg.api_max_body_bytes);
  actx.max_batch_bytes = static_cast<size_t>(cfg.api_max_batch_bytes);
  actx.max_batch_items = static_cast<size_t>(cfg.api_max_batch_items);
  api_server api{actx, cfg.api_threads};
  auto api_port = api.bind(cfg.api_host, cfg.api_port);
  if (api_port < 0) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    std::cerr << "herald: cannot listen on herald.api.host:port = "
              << cfg.api_host << ":" << cfg.api_port << "\n";
    return 1;
  }
  std::unique_ptr<admin_server> admin;
  if (!cfg.admin_token.empty()) {
    admin_context adm;
    adm.sys = &sys;
    adm.token = cfg.admin_token;
    adm.auth = svc.auth;
    adm.store = svc.store;
    adm.dispatcher = svc.dispatcher;
    adm.node = cfg.node_name;
    adm.actors = svc.actors;
    adm.cluster = svc.cluster;
    adm.roles = cfg.roles;
    admin = std::make_unique<admin_server>(adm);
    auto admin_port = admin->bind(cfg.admin_host, cfg.admin_port);
    if (admin_port < 0) {
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
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
  bool clean = true;
  {
    caf::scoped_actor self{sys};
    self->request(node, caf::timespan{cfg.webhook_timeout + millis{10000}},
                  atom::drain_v)
      .receive([&](bool ok) { clean = ok; },
               [&](caf::error& err) {
                 HERALD_LOG(warn, "node", "drain incomplete (leases will "
                                          "expire and be reclaimed): ",
                            sys.render(err));
               });
    if (admin)
      admin->stop();
    // 3. Stop the services in order; the system's destructor waits for all.
    self->send_exit(node, caf::exit_reason::user_shutdown);
  }
  HERALD_LOG(info, "node", "stopped");
  // Everything is handed back or recorded by now; what is left is the actor
  // system's teardown, which waits for CAF's network layer. That layer can
  // sit in a blocking DNS look-up of a peer that just went away (seen in the
  // container demo: glibc's 5 s timeout per try, a stop of up to 31 s and
  // once a SIGKILL at docker's grace period). Past 5 s the process ends
  // without it.
  int code = clean ? 0 : 2;
  std::thread{[code] {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    HERALD_LOG(warn, "node", "the actor system did not stop within 5 s "
                             "(a blocked network look-up?): exiting without it");
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(code);
  }}.detach();
  return code;
}
