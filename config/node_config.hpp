#pragma once

// A node's configuration: the option schema (names as in API.md), parsing of
// the INI file and of --name=value arguments, and strict validation. CAF's own
// INI reader ignores wrong types and unknown keys silently, so Herald reads
// its options itself and fails loudly, naming the option.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace herald {

using millis = std::chrono::milliseconds;

/// One named provider: herald.providers.NAME.* (API.md, "Providers"). Zero
/// in an override means "the channel's or the herald.* default".
struct provider_config {
  std::string name;
  std::string kind;                // smtp | twilio | fcm | webpush (required)
  // smtp
  std::string url;                 // smtp://host:port, smtps:// = implicit TLS
  bool starttls = false;           // require STARTTLS
  std::string username;            // AUTH when set
  std::string password;
  std::string from;                // smtp, twilio: the sender
  std::string reply_to;            // smtp
  bool tls_verify = true;          // smtp: check the server certificate
  std::string ca_file;             // smtp: extra CA bundle ("" = system)
  // twilio, fcm
  std::string base_url;            // "" = the real service
  std::string account_sid;         // twilio
  std::string auth_token;          // twilio
  std::string status_callback;     // twilio: public URL of the receipt route
  std::string project;             // fcm
  std::string token;               // fcm: OAuth bearer token
  // webpush
  std::string vapid_private_key_file;
  std::string vapid_subject;       // mailto: or https: contact
  millis ttl{86400000};            // webpush: TTL header
  // every kind
  int rate_per_sec = 0;            // outbound quota, 0 = none
  int burst = 0;                   // quota bucket size, 0 = rate-per-sec
  int pool_size = 0;               // concurrent senders, 0 = the kind's default
  millis timeout{10000};           // one call
  std::string receipt_secret;      // shared secret of the receipt route
  // overrides of herald.breaker.*
  int breaker_failure_threshold = 0;
  millis breaker_open_timeout{0};
  int breaker_half_open_probes = 0;
  int breaker_failure_rate = 0;
  int breaker_min_calls = 0;
  // overrides of the channel's retry policy
  millis retry_base_delay{0};
  millis retry_max_delay{0};
  int retry_max_attempts = 0;
  /// The keys given for it (file or command line), for kind checks.
  std::vector<std::string> keys_set;
  /// webpush: the key file's PEM text, read by main.cpp at startup (not an
  /// option).
  std::string vapid_pem;
};

/// herald.channels.NAME.* of email, sms and push.
struct channel_config {
  std::vector<std::string> providers; // fail-over order
  millis retry_base_delay{0};         // 0 = herald.retry.*
  millis retry_max_delay{0};
  int retry_max_attempts = 0;
};

/// Senders of a provider: its pool-size, or its kind's default (16 for
/// smtp, 8 for the others; bench/RESULTS.md "Channels").
int senders_of(const provider_config& p);

/// The channels that deliver through named providers, and the provider kinds
/// each accepts.
const std::vector<std::string>& provider_channels();
bool kind_serves(const std::string& kind, const std::string& channel);

struct node_config {
  // herald.node.*
  std::string node_name;                 // herald.node.name (default: host name)
  std::vector<std::string> roles{"ingest", "worker"}; // herald.node.roles
  // herald.api.*
  std::string api_host = "0.0.0.0";      // herald.api.host
  uint16_t api_port = 8080;              // herald.api.port (0 = pick a free port)
  int api_threads = 128;                 // herald.api.threads (one per open connection)
  int api_ingest_actors = 4;             // herald.api.ingest-actors (submission protocol)
  int64_t api_max_body_bytes = 1 << 20;  // herald.api.max-body-bytes
  millis api_request_timeout{10000};     // herald.api.request-timeout
  int64_t api_max_batch_bytes = 16 << 20; // herald.api.max-batch-bytes
  int api_max_batch_items = 1000;        // herald.api.max-batch-items
  // herald.admin.*
  std::string admin_host = "127.0.0.1";  // herald.admin.host
  uint16_t admin_port = 9090;            // herald.admin.port (0 = pick a free port)
  std::string admin_token;               // herald.admin.token ("" = admin endpoint off)
  // herald.db.*
  std::string db_url;                    // herald.db.url (required)
  int db_workers = 4;                    // herald.db.workers (connections for reads/updates)
  int db_writers = 2;                    // herald.db.writers (group-commit connections)
  int db_max_batch = 2000;               // herald.db.max-batch (rows per group commit)
  int db_parallel_rows = 100;            // herald.db.parallel-rows (before a second commit runs)
  // herald.cluster.*
  uint16_t cluster_port = 0;             // herald.cluster.port
  std::vector<std::string> cluster_seeds;// herald.cluster.seeds
  std::string cluster_host = "127.0.0.1"; // herald.cluster.host (the cluster port binds here)
  std::string cluster_advertise;         // herald.cluster.advertise ("" = host:port)
  std::string cluster_name = "herald";   // herald.cluster.name (only equal names join)
  millis cluster_heartbeat_interval{500}; // herald.cluster.heartbeat-interval
  millis cluster_connection_timeout{2000}; // herald.cluster.connection-timeout (peer down)
  millis cluster_reconnect_max_delay{5000}; // herald.cluster.reconnect-max-delay
  int cluster_virtual_nodes = 128;       // herald.cluster.virtual-nodes (ring points per node)
  // herald.delivery.*
  millis lease_ttl{60000};               // herald.delivery.lease-ttl
  int queue_capacity = 20000;            // herald.delivery.queue-capacity (per node, in memory)
  millis sweep_interval{1000};           // herald.delivery.sweep-interval
  // herald.channels.webhook.*
  int webhook_pool_size = 16;            // herald.channels.webhook.pool-size (senders per endpoint)
  millis webhook_timeout{10000};         // herald.channels.webhook.timeout
  millis webhook_provider_idle_timeout{300000}; // herald.channels.webhook.provider-idle-timeout
  // herald.channels.webhook.retry.* (0 = the herald.retry.* value)
  millis webhook_retry_base_delay{0};    // herald.channels.webhook.retry.base-delay
  millis webhook_retry_max_delay{0};     // herald.channels.webhook.retry.max-delay
  int webhook_retry_max_attempts = 0;    // herald.channels.webhook.retry.max-attempts
  // herald.retry.* (used by the retry scheduler)
  millis retry_base_delay{1000};         // herald.retry.base-delay
  millis retry_max_delay{3600000};       // herald.retry.max-delay
  int retry_max_attempts = 8;            // herald.retry.max-attempts
  millis retry_horizon{10000};           // herald.retry.horizon (held on timers)
  // herald.breaker.*
  int breaker_failure_threshold = 5;     // herald.breaker.failure-threshold
  millis breaker_open_timeout{30000};    // herald.breaker.open-timeout
  int breaker_half_open_probes = 1;      // herald.breaker.half-open-probes
  int breaker_failure_rate = 50;         // herald.breaker.failure-rate (percent)
  int breaker_min_calls = 20;            // herald.breaker.min-calls
  millis breaker_window{30000};          // herald.breaker.window
  millis breaker_max_open_timeout{600000}; // herald.breaker.max-open-timeout
  // herald.supervisor.* (sender pools and provider supervisors)
  int supervisor_max_restarts = 10;      // herald.supervisor.max-restarts
  millis supervisor_restart_window{60000}; // herald.supervisor.restart-window
  // herald.dlq.*
  int dlq_replay_rate = 100;             // herald.dlq.replay-rate (per second)
  // herald.tenants.* (defaults for tenants without their own values)
  int tenant_default_rate = 1000;        // herald.tenants.default-rate (per second)
  int tenant_default_burst = 2000;       // herald.tenants.default-burst
  millis limiter_idle_timeout{60000};    // herald.tenants.limiter-idle-timeout
  // herald.idempotency.*
  millis idempotency_retention{86400000}; // herald.idempotency.retention (>= 24h)
  int idempotency_shards = 4;            // herald.idempotency.shards (guard actors)
  millis idempotency_purge_interval{60000}; // herald.idempotency.purge-interval
  // herald.log.*
  std::string log_level = "info";        // herald.log.level: debug|info|warn|error
  std::string log_format = "json";       // herald.log.format: json|text
  // herald.scheduler.*
  int scheduler_threads = 0;             // herald.scheduler.threads (0 = CAF default: cores, >= 4)
  // herald.providers.NAME.* and herald.channels.{email,sms,push}.*
  std::map<std::string, provider_config> providers;
  std::map<std::string, channel_config> channels;
};

/// One documented option.
struct option_spec {
  std::string name;     // canonical dotted name, e.g. "herald.db.url"
  std::string type;     // string | int | bool | duration | port | string-list
  std::string fallback; // the default as text ("" = none)
  std::string help;
};

/// Every option, in the order `herald --help` prints them.
const std::vector<option_spec>& option_specs();

/// The options of every named provider and of the provider channels, with
/// NAME (provider) and CHANNEL (email, sms, push) as placeholders:
/// "herald.providers.NAME.url", "herald.channels.CHANNEL.providers".
const std::vector<option_spec>& provider_option_specs();

/// What parsing the command line produced.
struct parse_outcome {
  node_config cfg;
  bool help = false;          // --help / -h was given: print help_text(), exit 0
  std::string error;          // non-empty: print it, exit non-zero
  std::string config_file;    // the file that was read ("" = none)
};

/// Parses `herald [--config-file=PATH] [--name=value ...] [--help]`.
/// Command-line values override file values. Any unknown option or key, a
/// value of the wrong type or range, a missing file or a missing
/// herald.db.url gives an error that names the option (and the file:line for
/// file entries).
parse_outcome parse_command_line(int argc, const char* const* argv);

/// Parses INI text as a file would be read (for tests); `origin` names it in
/// errors. Values already in `cfg` are overridden.
std::string apply_ini(node_config& cfg, const std::string& text,
                      const std::string& origin);

/// The --help text: usage plus every option with type, default and meaning.
std::string help_text();

/// Checks a complete configuration: every value in range, herald.db.url set,
/// options that must agree with each other. "" or one line per problem, each
/// naming the option. parse_command_line calls it; code that builds a
/// node_config by hand (tests, tools) may too.
std::string validate(const node_config& cfg);

namespace detail {

// The value parsers behind every option, exposed so tests can reach types no
// option uses yet (bool). Each returns "" or what is wrong with `text`.
// `in_file` selects the file syntax: strings quoted, lists only as ["a", "b"].
std::string parse_int(const std::string& text, int64_t& out);
std::string parse_bool(const std::string& text, bool& out);
std::string parse_duration(const std::string& text, millis& out);
std::string parse_string(const std::string& text, bool in_file,
                         std::string& out);
std::string parse_string_list(const std::string& text, bool in_file,
                              std::vector<std::string>& out);

} // namespace detail

} // namespace herald
