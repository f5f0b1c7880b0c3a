#pragma once

// Every type that crosses an actor boundary. Each has an `inspect` overload
// (CAF 0.17 form) and a type ID in actors/type_ids.hpp, and a serialization
// round trip in tests/unit/actors/messages_test.cpp: any actor may live on another
// node. Times are Unix epoch milliseconds; JSON travels as text.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

namespace herald {

/// A notification's status (API.md "Statuses"), stored and shown as its
/// text: accepted → queued → sending → delivered; on failure
/// retry_scheduled → … → dead_lettered; cancelled, discarded.
enum class notification_status : uint8_t {
  accepted,        // durable, held by no node
  queued,          // leased to a node
  sending,
  delivered,       // terminal
  retry_scheduled, // waits for its next attempt (next_attempt_at_ms)
  failed,          // terminal: delivered, then a receipt said it failed
  dead_lettered,   // terminal until a DLQ retry
  cancelled,       // terminal
  discarded,       // terminal
  skipped,         // terminal: its recipient opted out or has no address
  bounced,         // terminal: delivered, then a receipt said it bounced
};

/// The status's text ("accepted", "retry_scheduled", ...).
std::string to_string(notification_status x);

/// The status of a text; false if there is none of that name.
bool from_string(std::string_view text, notification_status& x);

/// A notification as stored. Optional text fields are empty when absent.
struct notification {
  std::string id;              // time-ordered UUID (v7), assigned by the node
  std::string tenant_id;
  std::string channel;         // email | sms | push | webhook
  std::string to;
  std::string subject;
  std::string body;
  std::string data;            // JSON object text, "" when absent
  std::string priority;        // high | normal | low
  int64_t send_at_ms = 0;      // 0 = as soon as possible
  std::string provider;        // pinned provider, "" = any
  notification_status status = notification_status::accepted;
  int32_t attempts = 0;
  std::string last_error;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string idempotency_key; // "" when none
  std::string idempotency_hash; // SHA-256 hex of the canonical request body
  int64_t next_attempt_at_ms = 0; // retry_scheduled: the next attempt, 0 = none
  std::string request_id;      // correlation id of the submitting request
  std::string template_code;   // rendered from this template ("" = none)
  int32_t template_version = 0; // ... pinned at this version
  std::string rendered;        // JSON object text of the rendered parts, "" = none
  std::string recipient_id;    // addressed to this recipient ("" = by `to`)
  std::string provider_message_id; // delivered: the provider's message id
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification& x) {
  return f(caf::meta::type_name("notification"), x.id, x.tenant_id, x.channel,
           x.to, x.subject, x.body, x.data, x.priority, x.send_at_ms,
           x.provider, x.status, x.attempts, x.last_error, x.created_at_ms,
           x.updated_at_ms, x.idempotency_key, x.idempotency_hash,
           x.next_attempt_at_ms, x.request_id, x.template_code,
           x.template_version, x.rendered, x.recipient_id,
           x.provider_message_id);
}

/// Whether a new notification is due by `ms` (epoch ms): it has no send_at
/// or one not later. A node leases (holds in its dispatcher) only new rows
/// due within its retry horizon: the writer decides with this test, and
/// notification_store::insert applies the same test to the same bound.
inline bool due_by(const notification& n, int64_t ms) {
  return n.status != notification_status::skipped
         && (n.send_at_ms == 0 || n.send_at_ms <= ms);
}

/// A tenant and its settings (admin API).
struct tenant {
  std::string id;
  std::string name;
  int32_t rate_per_sec = 0;          // 0 = node default
  int32_t burst = 0;                 // 0 = node default
  std::vector<std::string> channels; // allowed channels, empty = all
  std::string webhook_secret;        // whsec_<base64>
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int32_t idempotency_retention_hours = 0; // 0 = node default (24)
  std::string email_from;            // "" = the email provider's From
  std::string email_reply_to;        // "" = the email provider's Reply-To
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant& x) {
  return f(caf::meta::type_name("tenant"), x.id, x.name, x.rate_per_sec,
           x.burst, x.channels, x.webhook_secret, x.created_at_ms,
           x.updated_at_ms, x.idempotency_retention_hours, x.email_from,
           x.email_reply_to);
}

/// Answer of an upsert: the tenant and whether it was created just now.
struct tenant_put_result {
  tenant value;
  bool created = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_put_result& x) {
  return f(caf::meta::type_name("tenant_put_result"), x.value, x.created);
}

/// What the store knows about an API key: enough to authenticate a request.
struct key_record {
  std::string key_id;
  std::string key_hash; // hex SHA-256 of the whole key
  bool revoked = false;
  tenant owner;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_record& x) {
  return f(caf::meta::type_name("key_record"), x.key_id, x.key_hash,
           x.revoked, x.owner);
}

/// A notification handed to a sender, with what it needs to deliver it.
struct delivery_job {
  notification n;
  int64_t fence = 0;          // lease fencing token; outcomes must match it
  std::string signing_secret; // the tenant's whsec_ secret
  /// Attempts made within the current budget: n.attempts minus the attempts
  /// made before a DLQ retry gave the notification a fresh budget.
  int32_t budget_used = 0;
  /// The tenant's email From and Reply-To ("" = the provider's).
  std::string email_from;
  std::string email_reply_to;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_job& x) {
  return f(caf::meta::type_name("delivery_job"), x.n, x.fence,
           x.signing_secret, x.budget_used, x.email_from, x.email_reply_to);
}

/// `job` alone in a vector, moved in. `std::vector<delivery_job>{std::move(
/// job)}` copies it: the elements of an initializer list are const.
inline std::vector<delivery_job> single_job(delivery_job job) {
  std::vector<delivery_job> xs;
  xs.reserve(1);
  xs.push_back(std::move(job));
  return xs;
}

/// What came of one delivery attempt.
enum class attempt_result : uint8_t {
  delivered, // a call was made and the provider took the notification
  failed,    // a call was made (an attempt row, attempts + 1) and failed
  deferred,  // no call was made (the provider's breaker is open): nothing is
             // counted (DESIGN.md invariant 6)
};

/// "delivered", "failed", "deferred" (as stored in delivery_attempts).
std::string to_string(attempt_result x);

/// A sender's (or a provider supervisor's) report of one attempt.
struct attempt_report {
  std::string id;           // notification id
  std::string tenant_id;
  int64_t fence = 0;
  attempt_result outcome = attempt_result::failed;
  int32_t http_status = 0;  // 0 when there was no HTTP answer
  std::string error;        // "" on success
  std::string node;
  std::string provider;     // e.g. the webhook endpoint scheme://host:port
  int64_t started_at_ms = 0;
  int64_t duration_us = 0;
  /// failed: retrying may help (channels/classify.hpp); false = permanent.
  bool retryable = false;
  /// failed: the provider's Retry-After in ms, -1 = none. deferred: how long
  /// until the provider may be called again (the breaker's cool-down).
  int64_t retry_after_ms = -1;
  /// delivered: the provider's id of the message (Twilio's SID, FCM's
  /// message name, the SMTP Message-ID), which delivery receipts refer to.
  std::string provider_message_id;
  /// failed: the address no longer exists (FCM UNREGISTERED, Web Push 404 or
  /// 410): the device is removed from the recipient's profile.
  bool address_gone = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_report& x) {
  return f(caf::meta::type_name("attempt_report"), x.id, x.tenant_id, x.fence,
           x.outcome, x.http_status, x.error, x.node, x.provider,
           x.started_at_ms, x.duration_us, x.retryable, x.retry_after_ms,
           x.provider_message_id, x.address_gone);
}

/// The dispatcher's decision on a report, which the store records: the
/// report and what follows from it.
struct delivery_decision : attempt_report {
  /// Unique per real call (set by the dispatcher; "" for deferred): the
  /// store records a call once even if its batch is sent again.
  std::string attempt_key;
  /// The notification's new status: delivered | retry_scheduled |
  /// dead_lettered.
  notification_status status = notification_status::delivered;
  /// retry_scheduled: when the next attempt is due (epoch ms).
  int64_t next_attempt_ms = 0;
  /// retry_scheduled: this node keeps the lease (the retry waits in its
  /// retry scheduler); false = the lease is released and any node's sweeper
  /// claims the row when it is due.
  bool keep_lease = false;
  /// Why the status changed, for the transition log and the dead letter:
  /// e.g. "permanent: HTTP 400", "exhausted: 8 attempts", "breaker open".
  std::string reason;
  /// address_gone: the address that is gone (the notification's `to`).
  std::string address;

  delivery_decision() = default;

  explicit delivery_decision(attempt_report report)
    : attempt_report(std::move(report)) {
    // nop
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_decision& x) {
  return f(caf::meta::type_name("delivery_decision"),
           static_cast<attempt_report&>(x), x.attempt_key, x.status,
           x.next_attempt_ms, x.keep_lease, x.reason, x.address);
}

/// One row of delivery_attempts.
struct attempt {
  std::string notification_id;
  int32_t number = 0;       // 1-based
  int64_t at_ms = 0;
  std::string node;
  std::string provider;
  std::string outcome;      // delivered | failed
  int32_t http_status = 0;
  std::string error;
  int64_t duration_us = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt& x) {
  return f(caf::meta::type_name("attempt"), x.notification_id, x.number,
           x.at_ms, x.node, x.provider, x.outcome, x.http_status, x.error,
           x.duration_us);
}

/// Filters of GET /v1/notifications.
struct notification_query {
  std::string tenant_id;
  std::string status;  // "" = any
  std::string channel; // "" = any
  std::string cursor;  // id of the last item of the previous page, "" = start
  int32_t limit = 50;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_query& x) {
  return f(caf::meta::type_name("notification_query"), x.tenant_id, x.status,
           x.channel, x.cursor, x.limit);
}

/// One page of a listing, newest first.
struct notification_page {
  std::vector<notification> items;
  std::string next_cursor; // "" = no more
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_page& x) {
  return f(caf::meta::type_name("notification_page"), x.items, x.next_cursor);
}

/// A request for tokens from a tenant's rate limiter. The tenant's current
/// settings travel with every request, so changes apply without a restart.
struct rate_request {
  std::string tenant_id;
  int32_t tokens = 1;        // 1 per notification (a batch asks for its size)
  int32_t rate_per_sec = 0;  // refill rate
  int32_t burst = 0;         // bucket capacity
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rate_request& x) {
  return f(caf::meta::type_name("rate_request"), x.tenant_id, x.tokens,
           x.rate_per_sec, x.burst);
}

/// A rate limiter's answer: the values of the RateLimit-* headers.
struct rate_decision {
  bool allowed = false;
  int32_t granted = 0;        // tokens taken (a batch may get fewer than asked)
  int32_t limit = 0;          // RateLimit-Limit: the bucket capacity (burst)
  int32_t remaining = 0;      // RateLimit-Remaining: whole tokens left
  int64_t reset_ms = 0;       // RateLimit-Reset: until the bucket is full
  int64_t retry_after_ms = 0; // when denied: until one token is available
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rate_decision& x) {
  return f(caf::meta::type_name("rate_decision"), x.allowed, x.granted,
           x.limit, x.remaining, x.reset_ms, x.retry_after_ms);
}

/// What the store knows about an idempotency key.
struct idem_record {
  std::string request_hash;
  std::string notification_id;
  int64_t expires_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, idem_record& x) {
  return f(caf::meta::type_name("idem_record"), x.request_hash,
           x.notification_id, x.expires_at_ms);
}

/// The kinds of an idempotency guard's verdict.
enum class idem_kind : uint8_t {
  unknown,   // (inside the guard only) memory does not know the key
  fresh,     // "new": the key is claimed for the caller, who must end the
             // claim: complete, abandon, or resolve after a refused insert
  replay,    // answer the original notification_id
  mismatch,  // the key was used with another body (422)
  in_flight, // a twin is being processed (409)
};

/// "unknown", "new", "replay", "mismatch", "in_flight".
std::string to_string(idem_kind x);

/// The idempotency guard's verdict on (tenant, key, request hash).
struct idem_verdict {
  idem_kind kind = idem_kind::unknown;
  std::string notification_id; // replay: the original notification
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, idem_verdict& x) {
  return f(caf::meta::type_name("idem_verdict"), x.kind, x.notification_id);
}

/// One notification of a submission, validated by the REST codec; the
/// ingest actor gives it its id, tenant and times.
struct ingest_item {
  notification n;   // channel, to, subject, body, data, priority, send_at, provider
  std::string key;  // Idempotency-Key (or the item's idempotency_key), "" = none
  std::string hash; // request hash of the submission, when keyed
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_item& x) {
  return f(caf::meta::type_name("ingest_item"), x.n, x.key, x.hash);
}

/// One HTTP submission, as the HTTP thread hands it to an ingest actor in
/// its one request.
struct ingest_request {
  std::string api_key;
  /// A batch takes one token per item that passes the tenant's channel
  /// check, and items past the tokens granted are rate limited one by one.
  /// A single submission takes `tokens` (0 or 1) before anything else: 0
  /// when the HTTP layer refuses it before the limiter (413, 415, a bad
  /// Idempotency-Key), so only the key is checked; 1 otherwise, also when
  /// its body then turns out invalid (no items).
  bool batch = false;
  int32_t tokens = 1;
  std::vector<ingest_item> items;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_request& x) {
  return f(caf::meta::type_name("ingest_request"), x.api_key, x.batch,
           x.tokens, x.items);
}

/// How one item of a submission ended.
enum class submit_status : uint8_t {
  accepted,          // committed now (id): 202
  replayed,          // its key's original notification (id): 202 / 200, replayed
  key_mismatch,      // its key was used with another body: 422
  in_flight,         // its key's twin is still being processed: 409
  rate_limited,      // no token was left for it: 429
  channel_disabled,  // the tenant has not enabled its channel: 422
  guard_unavailable, // its key's guard did not answer: 503
  store_failed,      // its own commit failed (a batch's other items went): 503
};

/// "accepted", "replayed", "key_mismatch", "in_flight", "rate_limited",
/// "channel_disabled", "guard_unavailable", "store_failed".
std::string to_string(submit_status x);

struct item_result {
  submit_status status = submit_status::accepted;
  std::string id; // accepted, replayed: the notification
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_result& x) {
  return f(caf::meta::type_name("item_result"), x.status, x.id);
}

/// An ingest actor's answer: the rate decision (when tokens were asked) and
/// one result per item, in order. Errors of the whole request (a bad key:
/// ec::unauthorized; the commit failed: ec::db_unavailable) are the
/// request's error instead.
struct ingest_result {
  bool rated = false;  // tokens were asked: `rate` holds the decision
  rate_decision rate;
  std::vector<item_result> items;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_result& x) {
  return f(caf::meta::type_name("ingest_result"), x.rated, x.rate, x.items);
}

/// One status change of a notification (notification_events).
struct status_event {
  int64_t at_ms = 0;
  std::string from; // "" for the first status
  std::string to;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_event& x) {
  return f(caf::meta::type_name("status_event"), x.at_ms, x.from, x.to,
           x.reason);
}

/// A dead letter: a notification parked after a permanent error or an
/// exhausted attempt budget (GET /v1/dlq).
struct dead_letter {
  notification n;           // the notification as it is now
  std::string provider;     // the provider of the last attempt, "" if none
  std::string reason;       // why it was parked, e.g. "permanent: HTTP 400"
  std::string last_error;
  int32_t attempts = 0;     // attempts made when it was parked
  int64_t dead_at_ms = 0;
  std::string state;        // parked | retried | discarded
  int64_t updated_at_ms = 0;
  std::vector<status_event> events; // its transitions (GET /v1/dlq/{id} only)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_letter& x) {
  return f(caf::meta::type_name("dead_letter"), x.n, x.provider, x.reason,
           x.last_error, x.attempts, x.dead_at_ms, x.state, x.updated_at_ms,
           x.events);
}

/// Filters of GET /v1/dlq.
struct dlq_query {
  std::string tenant_id;      // "" = every tenant (the admin endpoint only)
  std::string channel;        // "" = any
  std::string provider;       // "" = any
  std::string state = "parked"; // parked | retried | discarded | "" (any)
  std::string cursor;         // notification id of the last item seen
  int32_t limit = 50;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dlq_query& x) {
  return f(caf::meta::type_name("dlq_query"), x.tenant_id, x.channel,
           x.provider, x.state, x.cursor, x.limit);
}

/// One version of a tenant's template (API.md "Templates and recipients").
struct notification_template {
  std::string tenant_id;
  std::string code;
  int32_t version = 0;      // this version
  int32_t latest = 0;       // the code's latest version
  std::string default_locale;
  std::string locales;      // JSON object text: locale → channel → part → text
  int64_t created_at_ms = 0;
  bool archived = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_template& x) {
  return f(caf::meta::type_name("notification_template"), x.tenant_id, x.code,
           x.version, x.latest, x.default_locale, x.locales, x.created_at_ms,
           x.archived);
}

/// A tenant's recipient (API.md "Templates and recipients").
struct recipient {
  std::string tenant_id;
  std::string id;
  std::string email;    // "" = none
  std::string phone;    // E.164, "" = none
  std::string locale;   // "" = none
  std::string timezone; // IANA name, "" = none
  std::vector<std::string> opt_out; // channels the recipient opted out of
  std::string devices;  // JSON array text: [{"id", "kind", "token" | "subscription", "added_at"}]
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  bool created = false; // the answer of a put: created just now
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recipient& x) {
  return f(caf::meta::type_name("recipient"), x.tenant_id, x.id, x.email,
           x.phone, x.locale, x.timezone, x.opt_out, x.devices,
           x.created_at_ms, x.updated_at_ms, x.created);
}

/// One page of a tenant's templates (their latest versions), by code.
struct template_page {
  std::vector<notification_template> items;
  std::string next_cursor; // "" = no more
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, template_page& x) {
  return f(caf::meta::type_name("template_page"), x.items, x.next_cursor);
}

/// One page of dead letters, newest first.
struct dlq_page {
  std::vector<dead_letter> items;
  std::string next_cursor; // "" = no more
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dlq_page& x) {
  return f(caf::meta::type_name("dlq_page"), x.items, x.next_cursor);
}

/// POST /v1/dlq/replay: re-enqueues a tenant's parked dead letters that
/// match, each with a fresh attempt budget, paced: the n-th one (oldest
/// first) becomes due at start + n / rate_per_sec.
struct replay_request {
  std::string tenant_id;
  std::string channel;   // "" = any
  std::string provider;  // "" = any
  int64_t from_ms = 0;   // dead_at >= from, 0 = open
  int64_t to_ms = 0;     // dead_at < to, 0 = open
  int32_t limit = 100000;
  int32_t rate_per_sec = 100;
  std::string reason;    // recorded with every transition
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replay_request& x) {
  return f(caf::meta::type_name("replay_request"), x.tenant_id, x.channel,
           x.provider, x.from_ms, x.to_ms, x.limit, x.rate_per_sec, x.reason);
}

/// What a replay re-enqueued.
struct replay_result {
  int64_t count = 0;
  int64_t first_due_ms = 0; // 0 when count is 0
  int64_t last_due_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replay_result& x) {
  return f(caf::meta::type_name("replay_result"), x.count, x.first_due_ms,
           x.last_due_ms);
}

/// A provider's circuit breaker, for GET /admin/breakers.
struct breaker_info {
  std::string provider;   // e.g. "http://127.0.0.1:8081"
  std::string channel;
  std::string state;      // closed | open | half_open
  std::string last_trip;  // none | consecutive_failures | failure_rate | probe_failed
  int64_t open_for_ms = 0; // remaining cool-down while open, else 0
  int64_t open_timeout_ms = 0;
  int64_t trips = 0;
  int32_t consecutive_failures = 0;
  int64_t window_calls = 0;
  int64_t window_failures = 0;
  int64_t rejected = 0;   // calls refused while open
  int64_t deferred = 0;   // notifications handed back while open
  int64_t queued = 0;
  int64_t busy = 0;
  int64_t restarts = 0;   // senders restarted
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, breaker_info& x) {
  return f(caf::meta::type_name("breaker_info"), x.provider, x.channel,
           x.state, x.last_trip, x.open_for_ms, x.open_timeout_ms, x.trips,
           x.consecutive_failures, x.window_calls, x.window_failures,
           x.rejected, x.deferred, x.queued, x.busy, x.restarts);
}

/// A common answer to the admin endpoint's `inspect` request.
struct actor_info {
  std::string kind;  // e.g. "store", "sender-pool"
  std::string key;   // e.g. the channel, the provider, "" for singletons
  std::string node;
  std::string state; // a JSON object as text
  int64_t id = 0;        // the actor's id on its node
  int64_t mailbox = -1;  // messages waiting when it answered; -1: unknown
  int64_t restarts = 0;  // children restarted by it (supervisors)
  std::string error;     // set instead of the rest if it did not answer
  int64_t parent = 0;    // a child reported by its parent: the parent's id
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_info& x) {
  return f(caf::meta::type_name("actor_info"), x.kind, x.key, x.node, x.state,
           x.id, x.mailbox, x.restarts, x.error, x.parent);
}

// -- cluster ------------------------------------------------------------------

/// A node as the other nodes see it: sent in the join handshake and with
/// every heartbeat. The handles are its services that other nodes call
/// (invalid where its roles have none); they are untyped on the wire and
/// cast to their interfaces (actors/actors.hpp) on arrival.
struct member_card {
  std::string name;                // herald.node.name, unique in the cluster
  std::string address;             // "host:port" other nodes connect to
  std::vector<std::string> roles;  // herald.node.roles
  int64_t incarnation = 0;         // start time (epoch ms): tells a restart
  int32_t credits = 0;             // free delivery capacity (worker role)
  std::vector<std::string> peers;  // addresses of the members it sees up
  caf::actor cluster;              // its cluster actor
  caf::actor limiters;             // its limiter registry (ingest role)
  std::vector<caf::actor> guards;  // its idempotency guards (ingest role)
  caf::actor dispatcher;           // its dispatcher (worker role)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_card& x) {
  return f(caf::meta::type_name("member_card"), x.name, x.address, x.roles,
           x.incarnation, x.credits, x.peers, x.cluster, x.limiters, x.guards,
           x.dispatcher);
}

/// One member in a node's view of the cluster (GET /admin/cluster).
struct member_status {
  std::string name;
  std::string address;
  std::vector<std::string> roles;
  std::string state;            // "up" | "down" | "joining"
  int64_t since_ms = 0;         // when it entered that state (epoch ms)
  int64_t heartbeat_age_ms = -1; // since its last heartbeat; -1: none yet
  double ring_share = 0;        // of the ownership ring (ingest members)
  int32_t credits = 0;
  int64_t incarnation = 0;
  bool self = false;            // the node answering
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_status& x) {
  return f(caf::meta::type_name("member_status"), x.name, x.address, x.roles,
           x.state, x.since_ms, x.heartbeat_age_ms, x.ring_share, x.credits,
           x.incarnation, x.self);
}

/// A node's view of the cluster.
struct cluster_view {
  std::string node;  // the node answering
  bool ready = false; // joined (or alone by config)
  int64_t epoch = 0;  // bumped on every membership change
  std::vector<member_status> members; // itself included
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("cluster_view"), x.node, x.ready, x.epoch,
           x.members);
}

} // namespace herald
