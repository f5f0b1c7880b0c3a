#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <httplib.h>

#include "actors/actors.hpp"
#include "config/node_config.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "http/raw_header_server.hpp"

namespace herald {

/// What the REST API talks to, and its limits.
struct api_context {
  caf::actor_system* sys = nullptr;
  auth_actor auth;                 // reads: the tenant of a key
  std::vector<ingest_actor> ingest; // submissions: one request each
  store_actor store;
  dispatcher_actor dispatcher;  // told about cancels (best effort)
  cluster_actor cluster;        // readiness: joined (invalid: single node)
  caf::timespan timeout = std::chrono::seconds(10); // per actor call
  size_t max_body_bytes = 1 << 20;
  size_t max_batch_bytes = 16 << 20;
  size_t max_batch_items = 1000;
  int32_t replay_rate = 100;     // herald.dlq.replay-rate: default pace of a replay
  std::shared_ptr<template_cache> templates; // parsed templates (may be null)
  /// The configured providers, whose receipt routes this server serves.
  std::map<std::string, provider_config> providers;
};

/// The REST ingestion API (API.md) on cpp-httplib, in its own thread pool.
class api_server {
public:
  api_server(api_context ctx, int threads);
  ~api_server();

  /// Binds; returns the port (useful with port 0) or -1.
  int bind(const std::string& host, uint16_t port);

  /// Serves in a background thread.
  void start();

  /// Stops accepting new requests (they get 503), then closes the listener
  /// and waits for in-flight requests to finish.
  void stop();

private:
  void install_routes();
  /// DELETE /v1/notifications/{id} and /v1/dlq/... (http/dlq_routes.cpp).
  void install_dlq_routes();
  /// /v1/templates (http/template_routes.cpp).
  void install_template_routes();
  /// /v1/recipients (http/recipient_routes.cpp).
  void install_recipient_routes();
  /// /v1/receipts (http/receipt_routes.cpp).
  void install_receipt_routes();

  /// Why a template or recipient submission cannot be taken: status 0 = it
  /// was rendered and addressed into `sub.n` (or the key is bad: the ingest
  /// actor answers that).
  struct render_refusal {
    int status = 0;
    std::string detail;
    std::vector<field_error> errors;
  };
  /// Resolves the recipient (address, locale; `skipped` when it opted out
  /// or has no address for the channel) and renders the template, on the
  /// ingesting node, before anything is stored.
  render_refusal prepare_submission(pooled_actor& self, const std::string& api_key,
                                    submission& sub);
  render_refusal render_into(pooled_actor& self, const std::string& tenant_id,
                             submission& sub);
  render_refusal resolve_recipient(pooled_actor& self, const std::string& tenant_id,
                                   submission& sub, std::string& skip_reason);
  std::optional<tenant> authenticate(pooled_actor& self,
                                     const httplib::Request& req,
                                     httplib::Response& res);
  void submit_one(const httplib::Request& req, httplib::Response& res);
  void submit_batch(const httplib::Request& req, httplib::Response& res);
  /// The one request of a submission, to the next ingest actor.
  caf::expected<ingest_result> ingest(pooled_actor& self, ingest_request rq);

  api_context ctx_;
  bridge_pool actors_; // the handlers' blocking actors
  raw_header_server svr_; // handlers see header values as sent
  std::thread thread_;
  std::atomic<bool> accepting_{true};
  std::atomic<size_t> next_ingest_{0}; // round robin over ctx_.ingest
};

} // namespace herald
