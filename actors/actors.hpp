#pragma once

// The map of Herald: every typed actor interface. Actors talk only through
// these messages (all serializable, see type_ids.hpp), so any of them can
// later live on another node. Every request between actors has a finite
// timeout. Handlers only an actor sends to itself are marked INTERNAL.
// "Done" answers are `bool` (always true): CAF 0.17 delivers a unit_t answer
// as an empty message that a typed `then(unit_t)` handler never matches.
//
//   http (api) ─submit (one request per HTTP request)─▶ ingest
//   ingest ─auth─▶ auth ─lookup─▶ store
//          ─acquire─▶ limiter registry ─▶ the tenant's rate limiter
//          ─claim / complete / abandon / resolve─▶ the key's idempotency guard
//          ─submit─▶ writer (group commit) ─insert─▶ store worker ─▶ PostgreSQL
//                       └─dispatch (after commit)─▶ dispatcher
//   dispatcher ─deliver─▶ sender pool (per channel)
//                ─deliver─▶ provider supervisor (per provider: breaker, senders)
//                   ─deliver─▶ sender ─▶ provider
//   provider supervisor ─outcome─▶ sender pool ─outcome─▶ dispatcher
//   dispatcher (decides: delivered / retry / dead letter) ─outcome (batched)─▶ store
//   dispatcher ─schedule─▶ retry scheduler ─dispatch (when due)─▶ dispatcher
//   dispatcher ─claim / renew / release─▶ store  (leases: crash recovery)
//   http (api) ─dlq list/get/retry/discard/replay, cancel─▶ store

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "core/messages.hpp"
#include "actors/type_ids.hpp"

namespace herald {

class template_cache; // actors/template_cache.hpp


struct owner_table; // actors/owner_table.hpp

/// Who owns which limiter and idempotency shard, and which workers take
/// work, as the cluster actor last saw it. Local only: the table is shared
/// read-only between the actors of one node.
struct owner_view {
  std::shared_ptr<const owner_table> table;
};

/// Mixed into every actor: answers the admin endpoint's state request.
using inspectable_actor = caf::typed_actor<
  // Kind, key, node and a JSON summary of the actor's state.
  caf::replies_to<atom::inspect>::with<actor_info>>;

/// The store's notifications (persistence/notification_store.hpp).
using notification_store_actor = caf::typed_actor<
  // Commits all rows in one transaction (COPY). The rows due by the bound
  // (epoch ms, see due_by) are leased to the named node (this one, or the
  // worker the writer handed them to); the others, and all rows if the
  // name is "", are stored unleased for a sweeper to claim.
  caf::replies_to<atom::insert, std::vector<notification>, std::string,
                  int64_t>::with<bool>,
  // One notification of a tenant (tenant id, notification id).
  caf::replies_to<atom::get, std::string, std::string>::with<notification>,
  // A page of a tenant's notifications, newest first.
  caf::replies_to<atom::list, notification_query>::with<notification_page>,
  // The attempts of one notification (tenant id, notification id).
  caf::replies_to<atom::attempts, std::string, std::string>::with<std::vector<attempt>>,
  // Cancels a notification that is not delivered yet (tenant id,
  // notification id, reason). ec::not_found; ec::conflict if its status is
  // terminal already (the status is the error's context).
  caf::replies_to<atom::cancel, std::string, std::string, std::string>::with<notification>>;

/// The store's leases and delivery outcomes (persistence/delivery_store.hpp).
using delivery_store_actor = caf::typed_actor<
  // Leases up to N due notifications to this node (N, reclaim own leases).
  caf::replies_to<atom::claim, int32_t, bool>::with<std::vector<delivery_job>>,
  // Extends the leases this node holds; answers how many.
  caf::replies_to<atom::renew>::with<int64_t>,
  // Hands back this node's unsent leased rows (shutdown); answers how many.
  caf::replies_to<atom::release>::with<int64_t>,
  // Takes over the leases of a node that is down (its name): every open row
  // it held is freed with its fence bumped, so the node can no longer
  // record an outcome for it and any worker's sweeper claims it. Answers
  // how many.
  caf::replies_to<atom::takeover, std::string>::with<int64_t>,
  // Records the dispatcher's decisions and their attempts; answers how many
  // were fenced out.
  caf::replies_to<atom::outcome, std::vector<delivery_decision>>::with<int64_t>,
  // A delivery receipt (provider, the provider's message ids it names, new
  // status bounced|failed, reason): moves the delivered notification that
  // this provider delivered under one of the ids; answers the ids of the
  // notifications it moved (none: unknown, or not delivered).
  caf::replies_to<atom::receipt, std::string, std::vector<std::string>,
                  std::string, std::string>::with<std::vector<std::string>>>;

/// The store's dead letters (persistence/dead_letter_store.hpp).
using dead_letter_store_actor = caf::typed_actor<
  // A page of a tenant's dead letters, newest first.
  caf::replies_to<atom::list, dlq_query>::with<dlq_page>,
  // One dead letter with its transitions (tenant id, notification id).
  caf::replies_to<atom::get, atom::dlq, std::string, std::string>::with<dead_letter>,
  // Re-enqueues a parked dead letter with a fresh attempt budget (tenant id,
  // notification id, reason); answers the notification as it is now.
  // ec::not_found; ec::conflict if it is not parked.
  caf::replies_to<atom::retry, std::string, std::string, std::string>::with<notification>,
  // Gives a parked dead letter up for good: status discarded (tenant id,
  // notification id, reason). ec::not_found; ec::conflict if not parked.
  caf::replies_to<atom::discard, std::string, std::string, std::string>::with<notification>,
  // Re-enqueues many parked dead letters, paced (see replay_request).
  caf::replies_to<atom::replay, replay_request>::with<replay_result>>;

/// The store's tenants and API keys (persistence/tenant_store.hpp).
using tenant_store_actor = caf::typed_actor<
  // Creates or updates a tenant.
  caf::replies_to<atom::put, tenant>::with<tenant_put_result>,
  // One tenant by id.
  caf::replies_to<atom::get, atom::tenant, std::string>::with<tenant>,
  // Stores a new API key hash (tenant id, key id, hash); false: no tenant.
  caf::replies_to<atom::create, std::string, std::string, std::string>::with<bool>,
  // Revokes a key (tenant id, key id); false: no such key.
  caf::replies_to<atom::revoke, std::string, std::string>::with<bool>,
  // An API key with its tenant, by key id.
  caf::replies_to<atom::lookup, std::string>::with<key_record>>;

/// The store's idempotency keys (persistence/idempotency_store.hpp).
using idempotency_store_actor = caf::typed_actor<
  // The notification holding an idempotency key (tenant id, key), if the
  // key has not expired; ec::not_found otherwise.
  caf::replies_to<atom::lookup, atom::idem, std::string, std::string>::with<idem_record>,
  // Forgets expired idempotency keys in small batches; answers how many.
  caf::replies_to<atom::purge>::with<int64_t>>;

/// The store's templates (persistence/template_store.hpp).
using template_store_actor = caf::typed_actor<
  // Version 1 of a new code (an archived code comes back with its next
  // version); ec::conflict if the code is live.
  caf::replies_to<atom::create, notification_template>::with<notification_template>,
  // The next version of a live code; ec::not_found if there is none.
  caf::replies_to<atom::publish, notification_template>::with<notification_template>,
  // One version (0 = latest) of a live code (tenant, code, version).
  caf::replies_to<atom::get, atom::tmpl, std::string, std::string,
                  int32_t>::with<notification_template>,
  // The latest versions of a tenant's live codes (tenant, cursor, limit).
  caf::replies_to<atom::list, atom::tmpl, std::string, std::string,
                  int32_t>::with<template_page>,
  // Archives a live code (tenant, code); false if there is none.
  caf::replies_to<atom::archive, std::string, std::string>::with<bool>>;

/// The store's recipients (persistence/recipient_store.hpp).
using recipient_store_actor = caf::typed_actor<
  // Creates or replaces a profile; answers it (created: new).
  caf::replies_to<atom::put, recipient>::with<recipient>,
  // One recipient (tenant, id).
  caf::replies_to<atom::get, atom::recip, std::string, std::string>::with<recipient>,
  // Deletes a recipient (tenant, id); false if there was none.
  caf::replies_to<atom::remove, atom::recip, std::string, std::string>::with<bool>,
  // Adds or replaces a device (tenant, id, device JSON object text).
  caf::replies_to<atom::device, std::string, std::string, std::string>::with<recipient>,
  // Removes a device (tenant, id, device id); ec::not_found without it.
  caf::replies_to<atom::remove, atom::device, std::string, std::string,
                  std::string>::with<recipient>>;

/// PostgreSQL access. Implemented by a store worker (a detached actor owning
/// one connection) and by the store router in front of a pool of workers.
/// Connectivity problems answer ec::db_unavailable, missing rows ec::not_found.
/// Made of the interfaces above, one per aggregate of pg_store, so a user of
/// one aggregate can hold just that part (a store_actor converts to each).
using store_actor = inspectable_actor::extend_with<
  notification_store_actor, delivery_store_actor, dead_letter_store_actor,
  tenant_store_actor, idempotency_store_actor, template_store_actor,
  recipient_store_actor>::extend<
  // True if the database answers.
  caf::replies_to<atom::ping>::with<bool>>;

/// The group-commit writer: concurrent submissions share one transaction and
/// each is answered only after its commit (invariant 1).
using writer_actor = inspectable_actor::extend<
  // Makes the notifications durable; answers once committed. ec::conflict:
  // an idempotency key's unique index refused one of them (nothing of this
  // request was written; other requests of the transaction are retried
  // without it).
  caf::replies_to<atom::submit, std::vector<delivery_job>>::with<bool>,
  // The cluster's workers changed (from the cluster actor): leased rows go
  // to the worker with the most credits when this node has no dispatcher.
  caf::reacts_to<atom::view, owner_view>>;

/// The submission protocol of this node (a small pool of them): the HTTP
/// thread parses and validates, then makes one request and gets one answer.
/// Auth → the tenant's rate limiter → each key's idempotency guard (a
/// verdict) → the group-commit writer (on this node, always) → the guards
/// are told the outcome → the answer.
using ingest_actor = inspectable_actor::extend<
  // One HTTP submission (single or batch); ec::unauthorized for a bad key,
  // the commit's error when nothing of it could be stored.
  caf::replies_to<atom::submit, ingest_request>::with<ingest_result>,
  // The cluster's owners changed (from the cluster actor): limiters and
  // idempotency shards are asked on their owner nodes from now on; a
  // request in flight to a node that left is asked again, once, of the
  // new owner.
  caf::reacts_to<atom::view, owner_view>>;

/// API keys → tenants, with a small cache; revocations go through it so that
/// a revoked key stops working at once.
using auth_actor = inspectable_actor::extend<
  // The tenant of a full API key, or ec::unauthorized.
  caf::replies_to<atom::auth, std::string>::with<tenant>,
  // Revokes a key (tenant id, key id) and forgets it; false: no such key.
  caf::replies_to<atom::revoke, std::string, std::string>::with<bool>,
  // Creates or updates a tenant and refreshes cached copies.
  caf::replies_to<atom::put, tenant>::with<tenant_put_result>>;

/// Routes accepted and due notifications to channel pools, records outcomes
/// in batches and keeps this node's leases alive.
using dispatcher_actor = inspectable_actor::extend<
  // Reserves room for N leased jobs before a commit; answers how many fit.
  caf::replies_to<atom::reserve, int32_t>::with<int32_t>,
  // The room left for jobs (credits the cluster offers to ingest nodes).
  caf::replies_to<atom::reserve>::with<int32_t>,
  // Claim due work now (another node's leases were just freed).
  caf::reacts_to<atom::claim>,
  // This node was frozen past the connection timeout: other nodes may hold
  // its leases now. Forgets every job it holds (one in a pool is marked
  // cancelled: its outcome is recorded, never retried) and hands back the
  // leases still held; answers when done.
  caf::replies_to<atom::takeover>::with<bool>,
  // Gives back N reserved places (their commit failed).
  caf::reacts_to<atom::release, int32_t>,
  // Committed jobs leased to this node, to deliver.
  caf::reacts_to<atom::dispatch, std::vector<delivery_job>>,
  // Jobs the retry scheduler held are due now.
  caf::reacts_to<atom::due, std::vector<delivery_job>>,
  // The result of one attempt, from a sender pool.
  caf::reacts_to<atom::outcome, attempt_report>,
  // A notification was cancelled: forget it if it waits here (best effort;
  // the fence keeps a late outcome out of the database anyway).
  caf::reacts_to<atom::cancel, std::string>,
  // Every provider breaker of this node's pools.
  caf::replies_to<atom::breakers>::with<std::vector<breaker_info>>,
  // Closes a provider's breaker by hand; false: no such provider here.
  caf::replies_to<atom::reset, std::string>::with<bool>,
  // Shutdown: stop claiming, finish in-flight work, hand back the rest.
  caf::replies_to<atom::drain>::with<bool>,
  // INTERNAL: claim due work from the store when there is room.
  caf::reacts_to<atom::sweep>,
  // INTERNAL: write buffered outcomes.
  caf::reacts_to<atom::flush>,
  // INTERNAL: extend leases.
  caf::reacts_to<atom::renew>>;

/// A tenant's rate limiter: a token bucket (actors/policy/token_bucket.hpp). One
/// per tenant, spawned on first use by the registry, stops when idle.
using rate_limiter_actor = inspectable_actor::extend<
  // Takes tokens if the bucket has them; answers the decision either way.
  caf::replies_to<atom::acquire, rate_request>::with<rate_decision>,
  // INTERNAL: stop if nothing was asked since the last check.
  caf::reacts_to<atom::idle>>;

/// Ownership lookup for rate limiters: routes each request to the limiter
/// of its tenant (local today; the owner node's in a cluster).
using limiter_registry_actor = inspectable_actor::extend<
  // Forwards to the tenant's limiter, spawning it on first use.
  caf::replies_to<atom::acquire, rate_request>::with<rate_decision>>;

/// The idempotency guard of a key shard: recent keys in memory, in-flight
/// claims, the store behind it for keys it has not seen (after a restart).
/// It only gives verdicts and is told outcomes: the commit happens on the
/// node that ingests, so a guard can live on any node.
using idempotency_guard_actor = inspectable_actor::extend<
  // Claims (tenant id, key, request hash); answers the verdict. On
  // idem_kind::fresh the caller holds the claim and ends it: complete,
  // abandon, or (its insert refused by the key's index) resolve.
  caf::replies_to<atom::claim, std::string, std::string, std::string>::with<idem_verdict>,
  // The claim's notification committed (tenant, key, hash, notification id).
  caf::reacts_to<atom::complete, std::string, std::string, std::string, std::string>,
  // The claim's request failed before any commit: release it (tenant, key).
  caf::reacts_to<atom::abandon, std::string, std::string>,
  // The claim's insert was refused by the unique (tenant, key) index (or
  // a batch holding it was): drops the claim and answers from the stored
  // row (tenant, key, hash): replay, mismatch; fresh (claimed again) if no
  // row holds the key; in_flight if a twin claimed it meanwhile.
  caf::replies_to<atom::resolve, std::string, std::string, std::string>::with<idem_verdict>,
  // INTERNAL: drop expired entries from memory.
  caf::reacts_to<atom::purge>>;

/// Periodic housekeeping of a node's database: forgets expired idempotency
/// keys in small transactions.
using janitor_actor = inspectable_actor::extend<
  // INTERNAL: purge now, then again after the interval.
  caf::reacts_to<atom::purge>>;

/// A channel's sender pool: routes each job to the supervisor of its provider
/// (spawned on first use), supervises them one-for-one with a restart
/// intensity limit and knows what each holds, so the jobs of a supervisor
/// that died are handed to its replacement. Past the limit it escalates
/// (exits with an error; its parent, the dispatcher, is linked).
using sender_pool_actor = inspectable_actor::extend<
  // A job to deliver; the outcome goes to the dispatcher.
  caf::reacts_to<atom::deliver, delivery_job>,
  // A provider supervisor's result for a job it was given.
  caf::reacts_to<atom::outcome, attempt_report>,
  // The breakers of this channel's providers.
  caf::replies_to<atom::breakers>::with<std::vector<breaker_info>>,
  // Closes a provider's breaker by hand; false: no such provider.
  caf::replies_to<atom::reset, std::string>::with<bool>,
  // Shutdown: answers with the jobs not yet started, once in-flight ones finished.
  caf::replies_to<atom::drain>::with<std::vector<delivery_job>>>;

/// The supervisor of one provider (for webhooks: one endpoint): its circuit
/// breaker (actors/policy/circuit_breaker.hpp) and its senders, which it restarts
/// one-for-one (a crashed or hung sender's job is re-queued) up to a restart
/// intensity limit, then escalates by exiting with an error. While the
/// breaker is open no call is made: queued and new jobs are answered
/// `deferred` (nothing counted) with the remaining cool-down.
using provider_actor = inspectable_actor::extend<
  // A job to deliver; the outcome (or `deferred`) goes to the pool.
  caf::reacts_to<atom::deliver, delivery_job>,
  // The breaker's state.
  caf::replies_to<atom::breakers>::with<breaker_info>,
  // Closes the breaker by hand.
  caf::replies_to<atom::reset>::with<bool>,
  // Shutdown: answers with the jobs not yet started, once in-flight ones finished.
  caf::replies_to<atom::drain>::with<std::vector<delivery_job>>,
  // INTERNAL: the cool-down has passed: let a probe through.
  caf::reacts_to<atom::probe>,
  // INTERNAL: stop if nothing happened since the last check.
  caf::reacts_to<atom::idle>>;

/// One sender: a detached actor that performs blocking provider calls.
using sender_actor = caf::typed_actor<
  // Performs one attempt and answers its outcome (classified: see
  // attempt_report::retryable).
  caf::replies_to<atom::deliver, delivery_job>::with<attempt_report>>;

/// Holds jobs whose next attempt (or send_at) lies ahead, each on a CAF
/// timer, and hands them back to the dispatcher (`due`) when due. The database holds the
/// durable copy (next_attempt_at, lease): after a crash, the next claim
/// reloads them.
using retry_scheduler_actor = inspectable_actor::extend<
  // Holds the job until the time (epoch ms), then dispatches it.
  caf::reacts_to<atom::schedule, delivery_job, int64_t>,
  // Forgets a job by notification id (cancelled).
  caf::reacts_to<atom::cancel, std::string>,
  // Shutdown: hands back every job held.
  caf::replies_to<atom::drain>::with<std::vector<delivery_job>>,
  // INTERNAL: the timer of (notification id, generation) fired.
  caf::reacts_to<atom::due, std::string, int64_t>>;

/// A node's membership in the cluster (actors/cluster.hpp), published on
/// herald.cluster.port: the join handshake, heartbeats, this node's view
/// of the cluster and its actors for the cluster-wide admin view.
using cluster_actor = inspectable_actor::extend<
  // A node introduces itself; answers this node's card. ec::conflict: the
  // name belongs to a live member (or to this node).
  caf::replies_to<atom::join, member_card>::with<member_card>,
  // Every heartbeat interval, to every member: alive, credits, peers.
  caf::reacts_to<atom::heartbeat, member_card>,
  // This node's view of the cluster.
  caf::replies_to<atom::get>::with<cluster_view>,
  // The state of every actor of this node (GET /admin/actors?scope=cluster).
  caf::replies_to<atom::actors>::with<std::vector<actor_info>>,
  // The actors of every node up: each member is asked (atom::actors) with
  // a timeout; one that does not answer is one entry of kind "node" with
  // the error.
  caf::replies_to<atom::list, atom::actors>::with<std::vector<actor_info>>,
  // This node's figures (actors/node_stats.hpp) as JSON text.
  caf::replies_to<atom::stats>::with<std::string>,
  // Every node's figures; a node that does not answer in time is
  // {"node", "error"}.
  caf::replies_to<atom::list, atom::stats>::with<std::vector<std::string>>,
  // A template's version was published or its code archived (tenant,
  // code): forget it here and (forward = true: from this node's API) tell
  // every member up.
  caf::reacts_to<atom::invalidate, std::string, std::string, bool>,
  // INTERNAL: heartbeats out, silent members down, reconnections due.
  caf::reacts_to<atom::tick>,
  // INTERNAL: an address to connect to.
  caf::reacts_to<atom::connect, std::string>>;

/// The handles of this node's services, for the HTTP servers of this
/// process. Never leaves the node (local handles, no serialization).
struct node_services {
  auth_actor auth;
  store_actor store;
  dispatcher_actor dispatcher;     // invalid without the worker role
  std::vector<ingest_actor> ingest; // empty without the ingest role
  std::vector<inspectable_actor> actors; // listed by GET /admin/actors
  cluster_actor cluster;           // invalid without herald.cluster.port
  /// Parsed templates for the API server's rendering (shared, thread-safe).
  std::shared_ptr<template_cache> templates;
};

/// The node supervisor: starts this node's services by role (config
/// herald.node.roles), monitors them, and owns the shutdown order. A
/// service that dies is not restarted on its own: the node escalates (its
/// process exits with status 2, its leases expire and are taken over, a
/// process supervisor restarts it). The network layer and the cluster
/// actor plug in here.
using node_supervisor_actor = inspectable_actor::extend<
  // The services' handles.
  caf::replies_to<atom::get>::with<node_services>,
  // Shutdown, first step (after the HTTP API stopped taking work): the
  // dispatcher finishes in-flight work and hands back the rest. Answers
  // false if a service died before (the node escalated). Exiting the
  // supervisor then stops every service in order.
  caf::replies_to<atom::drain>::with<bool>>;

} // namespace herald

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::node_services)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(herald::owner_view)
