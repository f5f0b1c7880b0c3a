#pragma once

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <httplib.h>

#include "actors/actors.hpp"

namespace herald {

struct admin_context {
  caf::actor_system* sys = nullptr;
  std::string token;          // bearer token; required on every /admin path
  auth_actor auth;            // tenant updates and key revocations
  store_actor store;          // tenant reads, key creation
  std::vector<inspectable_actor> actors; // listed by GET /admin/actors
  dispatcher_actor dispatcher; // breakers of the sender pools
  std::string node;           // herald.node.name: the node of every actor
  cluster_actor cluster;      // cluster view, other nodes' actors (invalid: single node)
  std::vector<std::string> roles; // herald.node.roles (single-node view)
  caf::timespan timeout = std::chrono::seconds(10);
};

/// The admin API (API.md): tenants, keys and the live actors of this node.
class admin_server {
public:
  explicit admin_server(admin_context ctx);
  ~admin_server();

  int bind(const std::string& host, uint16_t port);
  void start();
  void stop();

private:
  void install_routes();
  /// GET / (the dashboard page), /admin/stats and the admin DLQ routes.
  void install_dashboard_routes();
  /// The state of this node's actors, or (cluster_wide, in a cluster)
  /// every node's.
  std::vector<actor_info> actors_of(bool cluster_wide);
  bool authorized(const httplib::Request& req, httplib::Response& res);

  admin_context ctx_;
  httplib::Server svr_;
  std::thread thread_;
};

} // namespace herald
