// herald-test-links: herald_config
#define CAF_SUITE node_config
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "config/node_config.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <unistd.h>

using namespace herald;
using std::chrono::milliseconds;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// CAF_CHECK(contains(...)) would not show the text that lacked the needle.
#define CHECK_CONTAINS(haystack, needle)                                       \
  do {                                                                         \
    std::string h_ = (haystack);                                               \
    std::string n_ = (needle);                                                 \
    if (contains(h_, n_))                                                      \
      CAF_CHECK(true);                                                         \
    else                                                                       \
      CAF_ERROR("expected \"" << n_ << "\" in \"" << h_ << "\"");              \
  } while (false)

struct temp_dir {
  std::string path;

  temp_dir() {
    char tmpl[] = "/tmp/herald-config-test-XXXXXX";
    auto p = mkdtemp(tmpl);
    CAF_REQUIRE(p != nullptr);
    path = p;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  std::string write(const std::string& name, const std::string& text) {
    auto file = path + "/" + name;
    std::ofstream out{file, std::ios::binary};
    out << text;
    return file;
  }
};

parse_outcome parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"herald"};
  for (auto& a : args)
    argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

const std::string db_arg = "--herald.db.url=postgresql://localhost/herald";

} // namespace

// -- value parsers ------------------------------------------------------------

CAF_TEST(integers) {
  struct good { std::string text; int64_t value; };
  for (auto& [text, value] : std::vector<good>{
         {"0", 0}, {"42", 42}, {"-7", -7}, {"+3", 3}, {" 12 ", 12},
         {"9223372036854775807", INT64_MAX},
         {"-9223372036854775808", INT64_MIN}}) {
    int64_t out = -1;
    CAF_CHECK_EQUAL(detail::parse_int(text, out), "");
    CAF_CHECK_EQUAL(out, value);
  }
  for (std::string bad : {"", "-", "abc", "1.5", "0x10", "4 2", "12ms",
                          "9223372036854775808", "-9223372036854775809"}) {
    int64_t out = 0;
    CAF_CHECK_NOT_EQUAL(detail::parse_int(bad, out), "");
  }
}

CAF_TEST(bools) {
  bool out = false;
  CAF_CHECK_EQUAL(detail::parse_bool("true", out), "");
  CAF_CHECK_EQUAL(out, true);
  CAF_CHECK_EQUAL(detail::parse_bool("false", out), "");
  CAF_CHECK_EQUAL(out, false);
  for (std::string bad : {"", "yes", "1", "True", "\"true\""})
    CAF_CHECK_NOT_EQUAL(detail::parse_bool(bad, out), "");
}

CAF_TEST(durations) {
  struct good { std::string text; int64_t ms; };
  for (auto& [text, ms] : std::vector<good>{{"500ms", 500},
                                            {"30s", 30000},
                                            {"1min", 60000},
                                            {"1h", 3600000},
                                            {"1000us", 1},
                                            {"2000000ns", 2},
                                            {"0ms", 0},
                                            {"-5s", -5000},
                                            {"+2s", 2000}}) {
    milliseconds out{-1};
    CAF_CHECK_EQUAL(detail::parse_duration(text, out), "");
    CAF_CHECK_EQUAL(out.count(), ms);
  }
  struct bad { std::string text; std::string why; };
  for (auto& [text, why] : std::vector<bad>{{"30", "no unit"},
                                            {"0", "no unit"},
                                            {"500us", "milliseconds"},
                                            {"1500us", "milliseconds"},
                                            {"1ns", "milliseconds"},
                                            {"5d", "unknown duration unit"},
                                            {"1.5s", "unit"},
                                            {"ms", "expected a duration"},
                                            {"s5", "expected a duration"},
                                            {"", "expected a duration"},
                                            {"9999999999999999h", "too large"}}) {
    milliseconds out{0};
    CHECK_CONTAINS(detail::parse_duration(text, out), why);
  }
}

CAF_TEST(strings) {
  struct good { std::string text; bool in_file; std::string value; };
  for (auto& [text, in_file, value] : std::vector<good>{
         {R"("abc")", true, "abc"},
         {R"("")", true, ""},
         {R"("a\"b\\c")", true, R"(a"b\c)"},
         {R"("x\ty\n")", true, "x\ty\n"},
         {R"("a;b#c")", true, "a;b#c"},
         {"abc", false, "abc"},
         {R"("abc")", false, "abc"},
         {"a b", false, "a b"},
         {"", false, ""},
         {"host=x user=y", false, "host=x user=y"}}) {
    std::string out = "unset";
    CAF_CHECK_EQUAL(detail::parse_string(text, in_file, out), "");
    CAF_CHECK_EQUAL(out, value);
  }
  struct bad { std::string text; std::string why; };
  for (auto& [text, why] : std::vector<bad>{{"abc", "quoted"},
                                            {R"("abc)", "not closed"},
                                            {R"("a" b)", "after the closing"},
                                            {R"("\q")", "escape"}}) {
    std::string out;
    CHECK_CONTAINS(detail::parse_string(text, true, out), why);
  }
}

CAF_TEST(string lists) {
  using list = std::vector<std::string>;
  struct good { std::string text; bool in_file; list value; };
  for (auto& [text, in_file, value] : std::vector<good>{
         {R"(["a", "b"])", true, {"a", "b"}},
         {R"(["a","b"])", true, {"a", "b"}},
         {R"([ "a" , ])", true, {"a"}},
         {"[]", true, {}},
         {"[\n  \"a\",\n  \"b\"\n]", true, {"a", "b"}},
         {R"(["a,b"])", true, {"a,b"}},
         {"a,b", false, {"a", "b"}},
         {"a, b ,c", false, {"a", "b", "c"}},
         {"single", false, {"single"}},
         {"", false, {}},
         {R"(["a", "b"])", false, {"a", "b"}},
         {"[a, b]", false, {"a", "b"}},
         {R"("a","b")", false, {"a", "b"}}}) {
    list out{"unset"};
    CAF_CHECK_EQUAL(detail::parse_string_list(text, in_file, out), "");
    CAF_CHECK_EQUAL(out, value);
  }
  struct bad { std::string text; bool in_file; };
  for (auto& [text, in_file] : std::vector<bad>{{"[a]", true},
                                                {"a,b", true},
                                                {R"(["a" "b"])", true},
                                                {R"(["a")", true},
                                                {R"(["a"] x)", true},
                                                {"a,,b", false},
                                                {"a,", false},
                                                {"[a", false}}) {
    list out;
    CAF_CHECK_NOT_EQUAL(detail::parse_string_list(text, in_file, out), "");
  }
}

// -- every option, from the file and from the command line --------------------

namespace {

// One row per option: a non-default value in file syntax and in command-line
// syntax, and a check that it arrived in the right field.
struct option_case {
  std::string name;
  std::string file_value;
  std::string cli_value;
  std::function<bool(const node_config&)> arrived;
};

std::vector<option_case> option_cases() {
  using c = const node_config&;
  using ms = milliseconds;
  return {
    {"herald.node.name", R"("n1")", "n1", [](c x) { return x.node_name == "n1"; }},
    {"herald.node.roles", R"(["worker"])", "worker",
     [](c x) { return x.roles == std::vector<std::string>{"worker"}; }},
    {"herald.api.host", R"("127.0.0.2")", "127.0.0.2",
     [](c x) { return x.api_host == "127.0.0.2"; }},
    {"herald.api.port", "8181", "8181", [](c x) { return x.api_port == 8181; }},
    {"herald.api.threads", "16", "16", [](c x) { return x.api_threads == 16; }},
    {"herald.api.ingest-actors", "8", "8",
     [](c x) { return x.api_ingest_actors == 8; }},
    {"herald.api.max-body-bytes", "4096", "4096",
     [](c x) { return x.api_max_body_bytes == 4096; }},
    {"herald.api.request-timeout", "2s", "2s",
     [](c x) { return x.api_request_timeout == ms{2000}; }},
    {"herald.admin.host", R"("0.0.0.0")", "0.0.0.0",
     [](c x) { return x.admin_host == "0.0.0.0"; }},
    {"herald.admin.port", "9191", "9191", [](c x) { return x.admin_port == 9191; }},
    {"herald.admin.token", R"("s3cr\"et")", "s3cr\"et",
     [](c x) { return x.admin_token == "s3cr\"et"; }},
    {"herald.db.url", R"("host=db user=h")", "host=db user=h",
     [](c x) { return x.db_url == "host=db user=h"; }},
    {"herald.db.workers", "8", "8", [](c x) { return x.db_workers == 8; }},
    {"herald.db.writers", "3", "3", [](c x) { return x.db_writers == 3; }},
    {"herald.db.max-batch", "500", "500", [](c x) { return x.db_max_batch == 500; }},
    {"herald.db.parallel-rows", "1", "1", [](c x) { return x.db_parallel_rows == 1; }},
    {"herald.cluster.port", "4242", "4242", [](c x) { return x.cluster_port == 4242; }},
    {"herald.cluster.seeds", R"(["a:1", "b:2"])", "a:1,b:2",
     [](c x) {
       return x.cluster_seeds == std::vector<std::string>{"a:1", "b:2"};
     }},
    {"herald.cluster.host", R"("0.0.0.0")", "0.0.0.0",
     [](c x) { return x.cluster_host == "0.0.0.0"; }},
    {"herald.cluster.advertise", R"("10.0.0.7:4242")", "10.0.0.7:4242",
     [](c x) { return x.cluster_advertise == "10.0.0.7:4242"; }},
    {"herald.cluster.name", R"("prod-eu_1.a")", "prod-eu_1.a",
     [](c x) { return x.cluster_name == "prod-eu_1.a"; }},
    {"herald.cluster.heartbeat-interval", "200ms", "200ms",
     [](c x) { return x.cluster_heartbeat_interval == ms{200}; }},
    {"herald.cluster.connection-timeout", "3s", "3s",
     [](c x) { return x.cluster_connection_timeout == ms{3000}; }},
    {"herald.cluster.reconnect-max-delay", "10s", "10s",
     [](c x) { return x.cluster_reconnect_max_delay == ms{10000}; }},
    {"herald.cluster.virtual-nodes", "64", "64",
     [](c x) { return x.cluster_virtual_nodes == 64; }},
    {"herald.delivery.lease-ttl", "2min", "2min",
     [](c x) { return x.lease_ttl == ms{120000}; }},
    {"herald.delivery.queue-capacity", "10", "10",
     [](c x) { return x.queue_capacity == 10; }},
    {"herald.delivery.sweep-interval", "250ms", "250ms",
     [](c x) { return x.sweep_interval == ms{250}; }},
    {"herald.channels.webhook.pool-size", "4", "4",
     [](c x) { return x.webhook_pool_size == 4; }},
    {"herald.channels.webhook.timeout", "3s", "3s",
     [](c x) { return x.webhook_timeout == ms{3000}; }},
    {"herald.channels.webhook.provider-idle-timeout", "2min", "2min",
     [](c x) { return x.webhook_provider_idle_timeout == ms{120000}; }},
    {"herald.channels.webhook.retry.base-delay", "50ms", "50ms",
     [](c x) { return x.webhook_retry_base_delay == ms{50}; }},
    {"herald.channels.webhook.retry.max-delay", "0", "0",
     [](c x) { return x.webhook_retry_max_delay == ms{0}; }},
    {"herald.channels.webhook.retry.max-attempts", "4", "4",
     [](c x) { return x.webhook_retry_max_attempts == 4; }},
    {"herald.retry.horizon", "5s", "5s",
     [](c x) { return x.retry_horizon == ms{5000}; }},
    {"herald.breaker.failure-rate", "70", "70",
     [](c x) { return x.breaker_failure_rate == 70; }},
    {"herald.breaker.min-calls", "7", "7",
     [](c x) { return x.breaker_min_calls == 7; }},
    {"herald.breaker.window", "10s", "10s",
     [](c x) { return x.breaker_window == ms{10000}; }},
    {"herald.breaker.max-open-timeout", "2min", "2min",
     [](c x) { return x.breaker_max_open_timeout == ms{120000}; }},
    {"herald.supervisor.max-restarts", "3", "3",
     [](c x) { return x.supervisor_max_restarts == 3; }},
    {"herald.supervisor.restart-window", "20s", "20s",
     [](c x) { return x.supervisor_restart_window == ms{20000}; }},
    {"herald.dlq.replay-rate", "500", "500",
     [](c x) { return x.dlq_replay_rate == 500; }},
    {"herald.retry.base-delay", "100ms", "100ms",
     [](c x) { return x.retry_base_delay == ms{100}; }},
    {"herald.retry.max-delay", "2h", "2h",
     [](c x) { return x.retry_max_delay == ms{7200000}; }},
    {"herald.retry.max-attempts", "3", "3",
     [](c x) { return x.retry_max_attempts == 3; }},
    {"herald.breaker.failure-threshold", "9", "9",
     [](c x) { return x.breaker_failure_threshold == 9; }},
    {"herald.breaker.open-timeout", "45s", "45s",
     [](c x) { return x.breaker_open_timeout == ms{45000}; }},
    {"herald.breaker.half-open-probes", "2", "2",
     [](c x) { return x.breaker_half_open_probes == 2; }},
    {"herald.tenants.default-rate", "50", "50",
     [](c x) { return x.tenant_default_rate == 50; }},
    {"herald.tenants.default-burst", "75", "75",
     [](c x) { return x.tenant_default_burst == 75; }},
    {"herald.api.max-batch-bytes", "2048", "2048",
     [](c x) { return x.api_max_batch_bytes == 2048; }},
    {"herald.api.max-batch-items", "10", "10",
     [](c x) { return x.api_max_batch_items == 10; }},
    {"herald.tenants.limiter-idle-timeout", "5s", "5s",
     [](c x) { return x.limiter_idle_timeout == millis{5000}; }},
    {"herald.idempotency.retention", "48h", "48h",
     [](c x) { return x.idempotency_retention == millis{48 * 3600000}; }},
    {"herald.idempotency.shards", "8", "8",
     [](c x) { return x.idempotency_shards == 8; }},
    {"herald.idempotency.purge-interval", "10s", "10s",
     [](c x) { return x.idempotency_purge_interval == millis{10000}; }},
    {"herald.log.level", R"("debug")", "debug",
     [](c x) { return x.log_level == "debug"; }},
    {"herald.log.format", R"("text")", "text",
     [](c x) { return x.log_format == "text"; }},
    {"herald.scheduler.threads", "6", "6",
     [](c x) { return x.scheduler_threads == 6; }},
  };
}

std::string section_of(const std::string& name) {
  return name.substr(0, name.rfind('.'));
}

std::string key_of(const std::string& name) {
  return name.substr(name.rfind('.') + 1);
}

} // namespace

CAF_TEST(the option table covers every option exactly once) {
  std::set<std::string> specs;
  for (auto& s : option_specs()) {
    CAF_CHECK(specs.insert(s.name).second);
    CAF_CHECK(!s.help.empty());
    static const std::set<std::string> types{"string", "int", "bool",
                                             "duration", "port",
                                             "string-list"};
    CAF_CHECK(types.count(s.type) == 1);
  }
  std::set<std::string> cases;
  for (auto& c : option_cases())
    cases.insert(c.name);
  CAF_CHECK_EQUAL(specs, cases);
}

CAF_TEST(every option parses from the file) {
  for (auto& c : option_cases()) {
    node_config cfg;
    auto ini = "[" + section_of(c.name) + "]\n" + key_of(c.name) + " = "
               + c.file_value + "\n";
    auto err = apply_ini(cfg, ini, "t.ini");
    CAF_CHECK_EQUAL(err, "");
    if (!c.arrived(cfg))
      CAF_ERROR(c.name << " did not arrive from " << ini);
  }
}

CAF_TEST(every option parses from the command line) {
  for (auto& c : option_cases()) {
    std::vector<std::string> args{"--" + c.name + "=" + c.cli_value};
    if (c.name != "herald.db.url")
      args.push_back(db_arg);
    if (c.name == "herald.cluster.seeds") // valid only with a port
      args.push_back("--herald.cluster.port=4242");
    auto r = parse(args);
    CAF_CHECK_EQUAL(r.error, "");
    if (!c.arrived(r.cfg))
      CAF_ERROR(c.name << " did not arrive from the command line");
  }
}

CAF_TEST(all options in one file) {
  std::string ini = "; every option, non-default\n";
  for (auto& c : option_cases())
    ini += "[" + section_of(c.name) + "]\n" + key_of(c.name) + " = "
           + c.file_value + "\n";
  node_config cfg;
  CAF_CHECK_EQUAL(apply_ini(cfg, ini, "t.ini"), "");
  for (auto& c : option_cases())
    if (!c.arrived(cfg))
      CAF_ERROR(c.name << " did not arrive");
  CAF_CHECK_EQUAL(validate(cfg), "");
}

// -- INI syntax -----------------------------------------------------------------

CAF_TEST(ini syntax) {
  struct row {
    std::string text;
    std::function<bool(const node_config&)> ok;
  };
  std::vector<row> rows{
    // key=value without blanks, indented lines, blank lines
    {"[herald.api]\nport=81\n\n   threads   =   3   \n",
     [](auto& x) { return x.api_port == 81 && x.api_threads == 3; }},
    // full-line and trailing comments of both kinds
    {"; a\n# b\n[herald.api] ; c\nport = 82 # d\nthreads = 4 ; e\n",
     [](auto& x) { return x.api_port == 82 && x.api_threads == 4; }},
    // comment characters inside quotes belong to the value
    {"[herald.admin]\ntoken = \"a;b#c\" ; \"quoted\" comment\n",
     [](auto& x) { return x.admin_token == "a;b#c"; }},
    // dotted key: section = everything before the last dot
    {"[herald]\ndb.url = \"u\"\napi.port = 83\n",
     [](auto& x) { return x.db_url == "u" && x.api_port == 83; }},
    // Windows line ends
    {"[herald.api]\r\nport = 84\r\nhost = \"h\"\r\n",
     [](auto& x) { return x.api_port == 84 && x.api_host == "h"; }},
    // a list over several lines with comments inside
    {"[herald.cluster]\nseeds = [\n  \"a:1\", ; first\n  \"b:2\"  # second\n]\n",
     [](auto& x) {
       return x.cluster_seeds == std::vector<std::string>{"a:1", "b:2"};
     }},
    // the same section twice
    {"[herald.api]\nport = 85\n[herald.db]\nurl = \"u\"\n[herald.api]\n"
     "threads = 5\n",
     [](auto& x) { return x.api_port == 85 && x.api_threads == 5; }},
    // no trailing newline
    {"[herald.api]\nport = 86", [](auto& x) { return x.api_port == 86; }},
    // empty text
    {"", [](auto& x) { return x.api_port == 8080; }},
  };
  for (auto& r : rows) {
    node_config cfg;
    auto err = apply_ini(cfg, r.text, "t.ini");
    CAF_CHECK_EQUAL(err, "");
    if (!r.ok(cfg))
      CAF_ERROR("wrong result for: " << r.text);
  }
}

// -- errors -----------------------------------------------------------------------

CAF_TEST(file errors name the option and the line) {
  struct row {
    std::string text;
    std::vector<std::string> expected; // substrings of the error
  };
  std::vector<row> rows{
    // unknown keys, with and without a hint
    {"[herald.api]\nprot = 1\n",
     {"t.ini:2:", "unknown option herald.api.prot",
      "did you mean herald.api.port?"}},
    {"[db]\nurl = \"x\"\n", {"t.ini:2:", "db.url", "did you mean herald.db.url?"}},
    {"[herald.api]\nfrobnicate = 1\n", {"t.ini:2:", "herald.api.frobnicate"}},
    {"[middleman]\nheartbeat-interval = 1s\n",
     {"t.ini:2:", "unknown option middleman.heartbeat-interval"}},
    // wrong types
    {"[herald.api]\nport = \"8080\"\n", {"t.ini:2:", "herald.api.port", "port"}},
    {"[herald.api]\nthreads = many\n", {"t.ini:2:", "herald.api.threads", "integer"}},
    {"[herald.db]\nurl = postgresql://x\n", {"t.ini:2:", "herald.db.url", "quoted"}},
    {"[herald.retry]\nbase-delay = 100\n",
     {"t.ini:2:", "herald.retry.base-delay", "no unit"}},
    {"[herald.retry]\nbase-delay = 500us\n",
     {"t.ini:2:", "herald.retry.base-delay", "milliseconds"}},
    {"[herald.node]\nroles = \"ingest\"\n", {"t.ini:2:", "herald.node.roles", "list"}},
    {"[herald.node]\nroles = [ingest]\n", {"t.ini:2:", "herald.node.roles", "quoted"}},
    // out of range
    {"[herald.api]\nport = 65536\n", {"t.ini:2:", "herald.api.port", "out of range"}},
    {"[herald.api]\nport = -1\n", {"t.ini:2:", "herald.api.port", "out of range"}},
    {"[herald.api]\nthreads = 0\n", {"t.ini:2:", "herald.api.threads", "out of range"}},
    {"[herald.api]\nthreads = 100000\n", {"herald.api.threads", "out of range"}},
    {"[herald.api]\nmax-body-bytes = 1000\n",
     {"t.ini:2:", "herald.api.max-body-bytes", "out of range"}},
    {"[herald.db]\nworkers = 0\n", {"t.ini:2:", "herald.db.workers"}},
    {"[herald.db]\nwriters = 0\n", {"t.ini:2:", "herald.db.writers"}},
    {"[herald.db]\nmax-batch = 0\n", {"t.ini:2:", "herald.db.max-batch"}},
    {"[herald.db]\nparallel-rows = 0\n",
     {"t.ini:2:", "herald.db.parallel-rows", "out of range"}},
    {"[herald.delivery]\nqueue-capacity = 0\n", {"herald.delivery.queue-capacity"}},
    {"[herald.channels.webhook]\npool-size = 0\n",
     {"herald.channels.webhook.pool-size"}},
    {"[herald.retry]\nmax-attempts = 0\n", {"herald.retry.max-attempts"}},
    {"[herald.scheduler]\nthreads = -1\n", {"herald.scheduler.threads"}},
    {"[herald.delivery]\nlease-ttl = 0s\n",
     {"t.ini:2:", "herald.delivery.lease-ttl", "greater than zero"}},
    {"[herald.delivery]\nsweep-interval = -1s\n",
     {"herald.delivery.sweep-interval", "greater than zero"}},
    {"[herald.breaker]\nopen-timeout = 1000h\n",
     {"herald.breaker.open-timeout", "out of range"}},
    // roles and log level
    {"[herald.node]\nroles = [\"ingest\", \"cook\"]\n",
     {"t.ini:2:", "herald.node.roles", "unknown role \"cook\""}},
    {"[herald.node]\nroles = []\n", {"herald.node.roles", "at least one"}},
    {"[herald.node]\nroles = [\"worker\", \"worker\"]\n",
     {"herald.node.roles", "twice"}},
    {"[herald.log]\nlevel = \"verbose\"\n",
     {"t.ini:2:", "herald.log.level", "\"verbose\""}},
    {"[herald.log]\nformat = \"xml\"\n",
     {"t.ini:2:", "herald.log.format", "\"xml\""}},
    {"[herald.cluster]\nseeds = [\"nohost\"]\n",
     {"herald.cluster.seeds", "host:port"}},
    {"[herald.cluster]\nseeds = [\"a:0\"]\n", {"herald.cluster.seeds", "port"}},
    {"[herald.cluster]\nadvertise = \"nohost\"\n",
     {"t.ini:2:", "herald.cluster.advertise", "host:port"}},
    {"[herald.cluster]\nadvertise = \"a:70000\"\n",
     {"t.ini:2:", "herald.cluster.advertise", "out of range"}},
    {"[herald.cluster]\nhost = \"\"\n", {"t.ini:2:", "herald.cluster.host", "empty"}},
    {"[herald.cluster]\nname = \"a b\"\n", {"t.ini:2:", "herald.cluster.name"}},
    {"[herald.cluster]\nvirtual-nodes = 0\n",
     {"t.ini:2:", "herald.cluster.virtual-nodes", "out of range"}},
    {"[herald.cluster]\nvirtual-nodes = 4097\n",
     {"t.ini:2:", "herald.cluster.virtual-nodes", "out of range"}},
    {"[herald.cluster]\nheartbeat-interval = 0ms\n",
     {"t.ini:2:", "herald.cluster.heartbeat-interval", "greater than zero"}},
    {"[herald.cluster]\nconnection-timeout = 2\n",
     {"t.ini:2:", "herald.cluster.connection-timeout", "no unit"}},
    {"[herald.node]\nname = \"\"\n", {"herald.node.name", "empty"}},
    {"[herald.db]\nurl = \"\"\n", {"t.ini:2:", "herald.db.url", "required"}},
    // duplicates, also spelled differently
    {"[herald.api]\nport = 1\nport = 2\n",
     {"t.ini:3:", "herald.api.port is set twice", "first at t.ini:2"}},
    {"[herald.api]\nport = 1\n[herald]\napi.port = 2\n",
     {"t.ini:4:", "herald.api.port is set twice"}},
    // section-less keys
    {"port = 1\n", {"t.ini:1:", "\"port\"", "outside of any section"}},
    {"herald.db.url = \"x\"\n", {"t.ini:1:", "outside of any section"}},
    // malformed lines
    {"[herald.api]\njust words\n", {"t.ini:2:", "malformed line"}},
    {"[herald.api\nport = 1\n", {"t.ini:1:", "malformed section header"}},
    {"[]\n", {"t.ini:1:", "malformed section name"}},
    {"[herald..api]\n", {"t.ini:1:", "malformed section name"}},
    {"[herald.api] x\n", {"t.ini:1:", "unexpected text"}},
    {"[herald.api]\nport =\n", {"t.ini:2:", "herald.api.port", "missing value"}},
    {"[herald.api]\nport = 1 2\n", {"t.ini:2:", "unexpected text", "herald.api.port"}},
    {"[herald.api]\n= 1\n", {"t.ini:2:", "malformed line"}},
    {"[herald.api]\nport.= 1\n", {"t.ini:2:", "malformed key"}},
    {"[herald.admin]\ntoken = \"abc\n", {"t.ini:2:", "herald.admin.token", "not closed"}},
    {"[herald.admin]\ntoken = \"a\\qb\"\n", {"t.ini:2:", "escape"}},
    {"[herald.admin]\ntoken = {}\n", {"t.ini:2:", "herald.admin.token"}},
    // line numbers stay right after a list over several lines
    {"[herald.cluster]\nseeds = [\n\"a:1\",\n\"b:2\"\n]\nport = x\n",
     {"t.ini:6:", "herald.cluster.port"}},
  };
  for (auto& r : rows) {
    node_config cfg;
    auto err = apply_ini(cfg, r.text, "t.ini");
    if (err.empty())
      CAF_ERROR("no error for: " << r.text);
    for (auto& e : r.expected)
      CHECK_CONTAINS(err, e);
  }
}

CAF_TEST(a list without its bracket keeps the next section) {
  node_config cfg;
  auto err = apply_ini(cfg,
                       "[herald.cluster]\nseeds = [\"a:1\",\n"
                       "[herald.api]\nport = 1\n",
                       "t.ini");
  CHECK_CONTAINS(err, "t.ini:2:");
  CHECK_CONTAINS(err, "herald.cluster.seeds: list not closed");
  CAF_CHECK(!contains(err, "t.ini:4"));
  CAF_CHECK_EQUAL(cfg.api_port, 1);
}

CAF_TEST(every problem in a file is reported at once) {
  node_config cfg;
  auto err = apply_ini(cfg,
                       "[herald.api]\nport = x\nthreads = 2\nhost = y\n"
                       "[herald.log]\nlevel = \"loud\"\n",
                       "t.ini");
  CHECK_CONTAINS(err, "t.ini:2: herald.api.port");
  CHECK_CONTAINS(err, "t.ini:4: herald.api.host");
  CHECK_CONTAINS(err, "t.ini:6: herald.log.level");
  CAF_CHECK(!contains(err, "t.ini:3"));
  // Valid lines still apply, so the caller sees a consistent picture.
  CAF_CHECK_EQUAL(cfg.api_threads, 2);
}

CAF_TEST(command line errors name the option) {
  struct row {
    std::vector<std::string> args;
    std::vector<std::string> expected;
  };
  std::vector<row> rows{
    {{db_arg, "--herald.api.prot=1"},
     {"unknown option --herald.api.prot", "did you mean --herald.api.port?"}},
    {{db_arg, "--db.url=x"}, {"unknown option --db.url", "--herald.db.url"}},
    {{db_arg, "--herald.api.port=x"}, {"--herald.api.port", "port"}},
    {{db_arg, "--herald.api.port=70000"}, {"herald.api.port", "out of range"}},
    {{db_arg, "--herald.api.port"}, {"--herald.api.port needs a value"}},
    {{db_arg, "--herald.node.roles=ingest,chef"},
     {"herald.node.roles", "unknown role \"chef\""}},
    {{db_arg, "--herald.node.roles="}, {"herald.node.roles", "at least one"}},
    {{db_arg, "--herald.log.level=trace"}, {"herald.log.level", "trace"}},
    {{db_arg, "--herald.retry.max-delay=10"}, {"herald.retry.max-delay", "unit"}},
    {{db_arg, "--herald.api.port=1", "--herald.api.port=2"},
     {"--herald.api.port is given twice"}},
    {{db_arg, "stray"}, {"unexpected argument \"stray\""}},
    {{db_arg, "-x"}, {"unexpected argument \"-x\""}},
    {{db_arg, "--config-file"}, {"--config-file needs a path"}},
    {{db_arg, "--config-file="}, {"--config-file needs a path"}},
    {{"--herald.db.url="}, {"herald.db.url", "required"}},
    {{db_arg, "--herald.retry.base-delay=2h"},
     {"herald.retry.base-delay", "herald.retry.max-delay"}},
    {{db_arg, "--herald.admin.port=8080"}, {"herald.api.port", "herald.admin.port"}},
  };
  for (auto& r : rows) {
    auto out = parse(r.args);
    if (out.error.empty())
      CAF_ERROR("no error for argument " << r.args.back());
    for (auto& e : r.expected)
      CHECK_CONTAINS(out.error, e);
  }
}

CAF_TEST(a missing database url is refused) {
  auto out = parse({});
  CHECK_CONTAINS(out.error, "herald.db.url");
  CHECK_CONTAINS(out.error, "required");
  temp_dir dir;
  auto file = dir.write("node.ini", "[herald.api]\nport = 1\n");
  out = parse({"--config-file=" + file});
  CHECK_CONTAINS(out.error, "herald.db.url");
  CHECK_CONTAINS(out.error, "required");
}

CAF_TEST(config file problems name the file) {
  temp_dir dir;
  auto missing = dir.path + "/nope.ini";
  auto out = parse({"--config-file=" + missing, db_arg});
  CHECK_CONTAINS(out.error, missing);
  CHECK_CONTAINS(out.error, "cannot read");
  out = parse({"--config-file=" + dir.path, db_arg});
  CHECK_CONTAINS(out.error, dir.path);
  auto bad = dir.write("bad.ini", "[herald.api]\n\nport = x\n");
  out = parse({"--config-file=" + bad, db_arg});
  CHECK_CONTAINS(out.error, bad + ":3: herald.api.port");
  out = parse({"--config-file=" + bad, "--config-file=" + bad, db_arg});
  CHECK_CONTAINS(out.error, "--config-file is given twice");
}

// -- precedence and defaults ---------------------------------------------------

CAF_TEST(the command line overrides the file) {
  temp_dir dir;
  auto file = dir.write("node.ini", "[herald.api]\nport = 1000\nthreads = 7\n"
                                    "[herald.db]\nurl = \"from-file\"\n"
                                    "[herald.node]\nroles = [\"ingest\"]\n");
  auto out = parse({"--herald.api.port=2000", "--config-file=" + file,
                    "--herald.node.roles=[\"worker\"]"});
  CAF_CHECK_EQUAL(out.error, "");
  CAF_CHECK_EQUAL(out.config_file, file);
  CAF_CHECK_EQUAL(out.cfg.api_port, 2000);
  CAF_CHECK_EQUAL(out.cfg.api_threads, 7);
  CAF_CHECK_EQUAL(out.cfg.db_url, "from-file");
  CAF_CHECK_EQUAL(out.cfg.roles, std::vector<std::string>{"worker"});
  // A bad file value is an error even when the command line overrides it:
  // the file is wrong either way.
  auto bad = dir.write("bad.ini", "[herald.api]\nport = x\n");
  out = parse({"--config-file=" + bad, db_arg, "--herald.api.port=1"});
  CHECK_CONTAINS(out.error, bad + ":2:");
}

CAF_TEST(defaults) {
  auto out = parse({db_arg});
  CAF_REQUIRE_EQUAL(out.error, "");
  CAF_CHECK_EQUAL(out.help, false);
  CAF_CHECK_EQUAL(out.config_file, "");
  auto& c = out.cfg;
  CAF_CHECK_EQUAL(c.node_name, host_name());
  CAF_CHECK_EQUAL(c.roles, (std::vector<std::string>{"ingest", "worker"}));
  CAF_CHECK_EQUAL(c.api_host, "0.0.0.0");
  CAF_CHECK_EQUAL(c.api_port, 8080);
  CAF_CHECK_EQUAL(c.api_threads, 128);
  CAF_CHECK_EQUAL(c.api_max_body_bytes, 1 << 20);
  CAF_CHECK_EQUAL(c.api_request_timeout.count(), 10000);
  CAF_CHECK_EQUAL(c.admin_host, "127.0.0.1");
  CAF_CHECK_EQUAL(c.admin_port, 9090);
  CAF_CHECK_EQUAL(c.admin_token, "");
  CAF_CHECK_EQUAL(c.db_url, "postgresql://localhost/herald");
  CAF_CHECK_EQUAL(c.db_workers, 4);
  CAF_CHECK_EQUAL(c.db_writers, 2);
  CAF_CHECK_EQUAL(c.db_max_batch, 2000);
  CAF_CHECK_EQUAL(c.cluster_port, 0);
  CAF_CHECK(c.cluster_seeds.empty());
  CAF_CHECK_EQUAL(c.cluster_host, "127.0.0.1");
  CAF_CHECK_EQUAL(c.cluster_advertise, "");
  CAF_CHECK_EQUAL(c.cluster_name, "herald");
  CAF_CHECK_EQUAL(c.cluster_heartbeat_interval.count(), 500);
  CAF_CHECK_EQUAL(c.cluster_connection_timeout.count(), 2000);
  CAF_CHECK_EQUAL(c.cluster_reconnect_max_delay.count(), 5000);
  CAF_CHECK_EQUAL(c.cluster_virtual_nodes, 128);
  CAF_CHECK_EQUAL(c.lease_ttl.count(), 60000);
  CAF_CHECK_EQUAL(c.queue_capacity, 20000);
  CAF_CHECK_EQUAL(c.sweep_interval.count(), 1000);
  CAF_CHECK_EQUAL(c.webhook_pool_size, 16);
  CAF_CHECK_EQUAL(c.webhook_retry_base_delay.count(), 0);
  CAF_CHECK_EQUAL(c.webhook_retry_max_attempts, 0);
  CAF_CHECK_EQUAL(c.retry_horizon.count(), 10000);
  CAF_CHECK_EQUAL(c.breaker_failure_rate, 50);
  CAF_CHECK_EQUAL(c.supervisor_max_restarts, 10);
  CAF_CHECK_EQUAL(c.dlq_replay_rate, 100);
  CAF_CHECK_EQUAL(c.webhook_timeout.count(), 10000);
  CAF_CHECK_EQUAL(c.retry_base_delay.count(), 1000);
  CAF_CHECK_EQUAL(c.retry_max_delay.count(), 3600000);
  CAF_CHECK_EQUAL(c.retry_max_attempts, 8);
  CAF_CHECK_EQUAL(c.breaker_failure_threshold, 5);
  CAF_CHECK_EQUAL(c.breaker_open_timeout.count(), 30000);
  CAF_CHECK_EQUAL(c.breaker_half_open_probes, 1);
  CAF_CHECK_EQUAL(c.tenant_default_rate, 1000);
  CAF_CHECK_EQUAL(c.tenant_default_burst, 2000);
  CAF_CHECK_EQUAL(c.log_level, "info");
  CAF_CHECK_EQUAL(c.scheduler_threads, 0);
}

CAF_TEST(without --config-file no file is read) {
  temp_dir dir;
  dir.write("caf-application.ini", "this is [not valid\n");
  char old[4096];
  CAF_REQUIRE(getcwd(old, sizeof(old)) != nullptr);
  CAF_REQUIRE(chdir(dir.path.c_str()) == 0);
  auto out = parse({db_arg});
  CAF_CHECK(chdir(old) == 0);
  CAF_CHECK_EQUAL(out.error, "");
  CAF_CHECK_EQUAL(out.config_file, "");
}

CAF_TEST(validate checks a hand-built config) {
  node_config cfg;
  CHECK_CONTAINS(validate(cfg), "herald.db.url");
  CHECK_CONTAINS(validate(cfg), "required");
  cfg.db_url = "u";
  cfg.node_name = "n";
  CAF_CHECK_EQUAL(validate(cfg), "");
  cfg.api_threads = 0;
  CHECK_CONTAINS(validate(cfg), "herald.api.threads");
  cfg.api_threads = 1;
  cfg.cluster_port = 9090;
  CHECK_CONTAINS(validate(cfg), "herald.admin.port and herald.cluster.port");
  cfg.cluster_port = 0;
  cfg.roles.clear();
  CHECK_CONTAINS(validate(cfg), "herald.node.roles");
}

// -- cluster options -----------------------------------------------------------

CAF_TEST(cluster options from a file and the command line) {
  node_config cfg;
  auto err = apply_ini(cfg,
                       "[herald.cluster]\n"
                       "host = \"0.0.0.0\"\n"
                       "port = 7101\n"
                       "advertise = \"node1.example:7101\"\n"
                       "name = \"demo\"\n"
                       "heartbeat-interval = 100ms\n"
                       "connection-timeout = 1s\n"
                       "reconnect-max-delay = 2s\n"
                       "virtual-nodes = 256\n"
                       "seeds = [\"127.0.0.1:7102\"]\n",
                       "t.ini");
  CAF_CHECK_EQUAL(err, "");
  CAF_CHECK_EQUAL(cfg.cluster_host, "0.0.0.0");
  CAF_CHECK_EQUAL(cfg.cluster_port, 7101);
  CAF_CHECK_EQUAL(cfg.cluster_advertise, "node1.example:7101");
  CAF_CHECK_EQUAL(cfg.cluster_name, "demo");
  CAF_CHECK_EQUAL(cfg.cluster_heartbeat_interval.count(), 100);
  CAF_CHECK_EQUAL(cfg.cluster_connection_timeout.count(), 1000);
  CAF_CHECK_EQUAL(cfg.cluster_reconnect_max_delay.count(), 2000);
  CAF_CHECK_EQUAL(cfg.cluster_virtual_nodes, 256);
  cfg.db_url = "u";
  cfg.node_name = "n";
  CAF_CHECK_EQUAL(validate(cfg), "");
  // The same from the command line.
  auto out = parse({db_arg, "--herald.cluster.host=0.0.0.0",
                    "--herald.cluster.port=7101",
                    "--herald.cluster.advertise=node1.example:7101",
                    "--herald.cluster.name=demo",
                    "--herald.cluster.heartbeat-interval=100ms",
                    "--herald.cluster.connection-timeout=1s",
                    "--herald.cluster.reconnect-max-delay=2s",
                    "--herald.cluster.virtual-nodes=256",
                    "--herald.cluster.seeds=127.0.0.1:7102"});
  CAF_CHECK_EQUAL(out.error, "");
  CAF_CHECK_EQUAL(out.cfg.cluster_host, "0.0.0.0");
  CAF_CHECK_EQUAL(out.cfg.cluster_port, 7101);
  CAF_CHECK_EQUAL(out.cfg.cluster_advertise, "node1.example:7101");
  CAF_CHECK_EQUAL(out.cfg.cluster_name, "demo");
  CAF_CHECK_EQUAL(out.cfg.cluster_heartbeat_interval.count(), 100);
  CAF_CHECK_EQUAL(out.cfg.cluster_connection_timeout.count(), 1000);
  CAF_CHECK_EQUAL(out.cfg.cluster_reconnect_max_delay.count(), 2000);
  CAF_CHECK_EQUAL(out.cfg.cluster_virtual_nodes, 256);
  CAF_CHECK_EQUAL(out.cfg.cluster_seeds,
                  std::vector<std::string>{"127.0.0.1:7102"});
}

CAF_TEST(cluster validation names the option) {
  auto base = [] {
    node_config cfg;
    cfg.db_url = "u";
    cfg.node_name = "n";
    return cfg;
  };
  auto cfg = base();
  cfg.cluster_heartbeat_interval = milliseconds{9};
  CHECK_CONTAINS(validate(cfg), "herald.cluster.heartbeat-interval (9ms) must "
                                "be at least 10ms");
  cfg.cluster_heartbeat_interval = milliseconds{10};
  CAF_CHECK_EQUAL(validate(cfg), "");
  cfg = base();
  cfg.cluster_connection_timeout = milliseconds{999};
  CHECK_CONTAINS(validate(cfg), "herald.cluster.connection-timeout must be at "
                                "least twice "
                                "herald.cluster.heartbeat-interval");
  cfg.cluster_connection_timeout = milliseconds{1000}; // exactly twice 500ms
  CAF_CHECK_EQUAL(validate(cfg), "");
  cfg = base();
  cfg.cluster_reconnect_max_delay = milliseconds{99};
  CHECK_CONTAINS(validate(cfg), "herald.cluster.reconnect-max-delay (99ms) "
                                "must be at least 100ms");
  cfg.cluster_reconnect_max_delay = milliseconds{100};
  CAF_CHECK_EQUAL(validate(cfg), "");
  cfg = base();
  cfg.cluster_seeds = {"127.0.0.1:7102"};
  CHECK_CONTAINS(validate(cfg), "herald.cluster.seeds needs "
                                "herald.cluster.port: other nodes must be "
                                "able to connect back");
  cfg.cluster_port = 7101;
  CAF_CHECK_EQUAL(validate(cfg), "");
  cfg = base();
  cfg.cluster_virtual_nodes = 0;
  CHECK_CONTAINS(validate(cfg), "herald.cluster.virtual-nodes");
  cfg = base();
  for (auto& bad : std::vector<std::string>{"", "a b", "a/b",
                                             std::string(65, 'x')}) {
    cfg.cluster_name = bad;
    CHECK_CONTAINS(validate(cfg), "herald.cluster.name");
  }
  cfg.cluster_name = std::string(64, 'x');
  CAF_CHECK_EQUAL(validate(cfg), "");
  cfg = base();
  cfg.cluster_host = "";
  CHECK_CONTAINS(validate(cfg), "herald.cluster.host");
  // The same checks after parsing, from the command line.
  struct row {
    std::vector<std::string> args;
    std::vector<std::string> expected;
  };
  std::vector<row> rows{
    {{db_arg, "--herald.cluster.heartbeat-interval=5ms"},
     {"herald.cluster.heartbeat-interval", "at least 10ms"}},
    {{db_arg, "--herald.cluster.heartbeat-interval=2s"},
     {"herald.cluster.connection-timeout must be at least twice "
      "herald.cluster.heartbeat-interval"}},
    {{db_arg, "--herald.cluster.connection-timeout=900ms"},
     {"herald.cluster.connection-timeout must be at least twice "
      "herald.cluster.heartbeat-interval"}},
    {{db_arg, "--herald.cluster.reconnect-max-delay=50ms"},
     {"herald.cluster.reconnect-max-delay", "at least 100ms"}},
    {{db_arg, "--herald.cluster.reconnect-max-delay=0s"},
     {"herald.cluster.reconnect-max-delay", "greater than zero"}},
    {{db_arg, "--herald.cluster.seeds=127.0.0.1:7102"},
     {"herald.cluster.seeds needs herald.cluster.port"}},
    {{db_arg, "--herald.cluster.virtual-nodes=5000"},
     {"herald.cluster.virtual-nodes", "out of range"}},
    {{db_arg, "--herald.cluster.name=has space"}, {"herald.cluster.name"}},
    {{db_arg, "--herald.cluster.name="}, {"herald.cluster.name"}},
    {{db_arg, "--herald.cluster.host="}, {"herald.cluster.host", "empty"}},
    {{db_arg, "--herald.cluster.port=9090"},
     {"herald.admin.port and herald.cluster.port"}},
  };
  for (auto& r : rows) {
    auto out = parse(r.args);
    if (out.error.empty())
      CAF_ERROR("no error for argument " << r.args.back());
    for (auto& e : r.expected)
      CHECK_CONTAINS(out.error, e);
  }
}

CAF_TEST(a bad cluster advertise address is refused) {
  for (std::string bad : {"nohost", ":7101", "host:", "host:0", "host:65536",
                          "host:-1", "host:+1", "host:x", "host: 1"}) {
    auto out = parse({db_arg, "--herald.cluster.advertise=" + bad});
    CHECK_CONTAINS(out.error, "herald.cluster.advertise");
    node_config cfg;
    auto err = apply_ini(cfg, "[herald.cluster]\nadvertise = \"" + bad
                                + "\"\n",
                         "t.ini");
    CHECK_CONTAINS(err, "t.ini:2: herald.cluster.advertise");
    CAF_CHECK_EQUAL(cfg.cluster_advertise, "");
    cfg.db_url = "u";
    cfg.node_name = "n";
    cfg.cluster_advertise = bad;
    CHECK_CONTAINS(validate(cfg), "herald.cluster.advertise");
  }
  for (std::string good : {"", "127.0.0.1:7101", "node1.example:1",
                           "[::1]:65535"}) {
    auto out = parse({db_arg, "--herald.cluster.advertise=" + good});
    CAF_CHECK_EQUAL(out.error, "");
    CAF_CHECK_EQUAL(out.cfg.cluster_advertise, good);
  }
}

// -- help ------------------------------------------------------------------------

CAF_TEST(help) {
  for (std::string flag : {"--help", "-h"}) {
    // Help works before anything is configured, even with other mistakes.
    auto out = parse({flag});
    CAF_CHECK(out.help);
    CAF_CHECK_EQUAL(out.error, "");
  }
  auto text = help_text();
  CHECK_CONTAINS(text, "Usage: herald --config-file=PATH");
  for (auto& s : option_specs()) {
    CHECK_CONTAINS(text, s.name);
    // Each option's row shows its type, default and meaning.
    auto row_begin = text.find("  " + s.name + " ");
    CAF_REQUIRE(row_begin != std::string::npos);
    auto row = text.substr(row_begin, text.find('\n', row_begin) - row_begin);
    CHECK_CONTAINS(row, " " + s.type + " ");
    CHECK_CONTAINS(row, s.fallback);
    CHECK_CONTAINS(row, s.help);
  }
  auto spec = [](const std::string& name) {
    for (auto& s : option_specs())
      if (s.name == name)
        return s;
    CAF_FAIL("no spec for " << name);
    return option_spec{};
  };
  CAF_CHECK_EQUAL(spec("herald.api.port").fallback, "8080");
  CAF_CHECK_EQUAL(spec("herald.api.host").fallback, "\"0.0.0.0\"");
  CAF_CHECK_EQUAL(spec("herald.node.roles").fallback, "[\"ingest\", \"worker\"]");
  CAF_CHECK_EQUAL(spec("herald.cluster.seeds").fallback, "[]");
  CAF_CHECK_EQUAL(spec("herald.cluster.host").fallback, "\"127.0.0.1\"");
  CAF_CHECK_EQUAL(spec("herald.cluster.advertise").fallback, "\"\"");
  CHECK_CONTAINS(spec("herald.cluster.advertise").help,
                 "herald.cluster.host:herald.cluster.port");
  CAF_CHECK_EQUAL(spec("herald.cluster.name").fallback, "\"herald\"");
  CAF_CHECK_EQUAL(spec("herald.cluster.heartbeat-interval").fallback, "500ms");
  CAF_CHECK_EQUAL(spec("herald.cluster.connection-timeout").fallback, "2s");
  CAF_CHECK_EQUAL(spec("herald.cluster.reconnect-max-delay").fallback, "5s");
  CAF_CHECK_EQUAL(spec("herald.cluster.virtual-nodes").fallback, "128");
  CAF_CHECK_EQUAL(spec("herald.retry.max-delay").fallback, "1h");
  CAF_CHECK_EQUAL(spec("herald.delivery.lease-ttl").fallback, "1min");
  CAF_CHECK_EQUAL(spec("herald.node.name").fallback, "host name");
  CHECK_CONTAINS(spec("herald.db.url").fallback, "required");
}

// -- the example file --------------------------------------------------------------

CAF_TEST(the example config parses) {
  auto path = std::string{HERALD_SOURCE_DIR} + "/config/example-node.ini";
  auto text = read_file(path);
  CAF_REQUIRE(!text.empty());
  auto out = parse({"--config-file=" + path});
  CAF_CHECK_EQUAL(out.error, "");
  CAF_CHECK(!out.cfg.db_url.empty());
  // With a URL from the command line too.
  out = parse({"--config-file=" + path, db_arg});
  CAF_CHECK_EQUAL(out.error, "");
  CAF_CHECK_EQUAL(out.cfg.db_url, "postgresql://localhost/herald");
}

CAF_TEST(the example lists every option with its default) {
  auto path = std::string{HERALD_SOURCE_DIR} + "/config/example-node.ini";
  auto text = read_file(path);
  for (auto& s : option_specs()) {
    if (s.name == "herald.db.url" || s.name == "herald.node.name")
      continue; // no default to show: required / the host name
    CHECK_CONTAINS(text, "[" + section_of(s.name) + "]");
    CHECK_CONTAINS(text, "\n;" + key_of(s.name) + " = " + s.fallback + "\n");
  }
  // Uncommented, the commented-out lines give a valid config equal to the
  // defaults: the example cannot drift from the code.
  std::string uncommented;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find(" = ");
    if (line.size() > 1 && line[0] == ';' && line[1] != ' '
        && eq != std::string::npos)
      line = line.substr(1);
    uncommented += line + "\n";
  }
  node_config cfg;
  CAF_CHECK_EQUAL(apply_ini(cfg, uncommented, "uncommented"), "");
  node_config defaults;
  CAF_CHECK_EQUAL(cfg.roles, defaults.roles);
  CAF_CHECK_EQUAL(cfg.api_max_body_bytes, defaults.api_max_body_bytes);
  CAF_CHECK_EQUAL(cfg.lease_ttl.count(), defaults.lease_ttl.count());
  CAF_CHECK_EQUAL(cfg.retry_max_delay.count(), defaults.retry_max_delay.count());
  CAF_CHECK_EQUAL(cfg.node_name, "node-1");
  cfg.node_name = "n";
  CAF_CHECK_EQUAL(validate(cfg), "");
}

CAF_TEST(the demo cluster configs parse) {
  struct node {
    std::string name;
    std::string role;
    uint16_t api_port;
    uint16_t admin_port;
    uint16_t cluster_port;
  };
  const std::vector<std::string> seeds{"127.0.0.1:7101", "127.0.0.1:7102",
                                       "127.0.0.1:7103"};
  for (auto& n : std::vector<node>{{"node1", "ingest", 8081, 9091, 7101},
                                   {"node2", "worker", 8082, 9092, 7102},
                                   {"node3", "worker", 8083, 9093, 7103}}) {
    auto path = std::string{HERALD_SOURCE_DIR} + "/config/cluster/" + n.name
                + ".ini";
    CAF_REQUIRE(!read_file(path).empty());
    auto out = parse({"--config-file=" + path});
    CAF_CHECK_EQUAL(out.error, "");
    auto& c = out.cfg;
    CAF_CHECK_EQUAL(c.node_name, n.name);
    CAF_CHECK_EQUAL(c.roles, std::vector<std::string>{n.role});
    CAF_CHECK_EQUAL(c.api_port, n.api_port);
    CAF_CHECK_EQUAL(c.admin_port, n.admin_port);
    CAF_CHECK_EQUAL(c.admin_token, "demo-admin-token");
    CAF_CHECK_EQUAL(c.db_url, "postgresql://postgres@127.0.0.1:55432/herald");
    CAF_CHECK_EQUAL(c.cluster_host, "127.0.0.1");
    CAF_CHECK_EQUAL(c.cluster_port, n.cluster_port);
    CAF_CHECK_EQUAL(c.cluster_seeds, seeds);
    // The demo script may point the nodes at another database.
    out = parse({"--config-file=" + path, db_arg});
    CAF_CHECK_EQUAL(out.error, "");
    CAF_CHECK_EQUAL(out.cfg.db_url, "postgresql://localhost/herald");
  }
}

// -- providers and provider channels ---------------------------------------------

namespace {

const std::string providers_ini = R"(
[herald.db]
url = "postgresql://localhost/herald"

[herald.channels.email]
providers = ["relay1", "relay2"]
retry.max-attempts = 4

[herald.channels.sms]
providers = ["twilio1"]

[herald.channels.push]
providers = ["fcm1", "wp1"]

[herald.providers.relay1]
kind = "smtp"
url = "smtps://smtp.example.net:465"
username = "u"
password = "p"
from = "Herald <noreply@example.com>"
rate-per-sec = 50
pool-size = 4
breaker.failure-threshold = 3
retry.base-delay = 2s
receipt-secret = "s3cret"

[herald.providers.relay2]
kind = "smtp"
url = "smtp://127.0.0.1:2525"
starttls = true
from = "noreply@example.com"

[herald.providers.twilio1]
kind = "twilio"
base-url = "http://127.0.0.1:9000"
account-sid = "ACtest"
auth-token = "tok"
from = "+15005550006"
status-callback = "https://herald.example.com/v1/receipts/twilio/twilio1"

[herald.providers.fcm1]
kind = "fcm"
project = "demo"
token = "ya29.x"

[herald.providers.wp1]
kind = "webpush"
vapid-private-key-file = "/etc/herald/vapid.pem"
vapid-subject = "mailto:ops@example.com"
ttl = 1h
)";

node_config parsed_providers(std::string extra = "") {
  node_config cfg;
  cfg.node_name = "n";
  auto err = apply_ini(cfg, providers_ini + extra, "p.ini");
  CAF_CHECK_EQUAL(err, "");
  return cfg;
}

} // namespace

CAF_TEST(providers and their channels parse from a file) {
  auto cfg = parsed_providers();
  CAF_CHECK_EQUAL(validate(cfg), "");
  CAF_REQUIRE_EQUAL(cfg.providers.size(), 5u);
  CAF_CHECK_EQUAL(cfg.channels["email"].providers,
                  (std::vector<std::string>{"relay1", "relay2"}));
  CAF_CHECK_EQUAL(cfg.channels["email"].retry_max_attempts, 4);
  auto& r1 = cfg.providers["relay1"];
  CAF_CHECK_EQUAL(r1.name, "relay1");
  CAF_CHECK_EQUAL(r1.kind, "smtp");
  CAF_CHECK_EQUAL(r1.url, "smtps://smtp.example.net:465");
  CAF_CHECK_EQUAL(r1.rate_per_sec, 50);
  CAF_CHECK_EQUAL(r1.pool_size, 4);
  CAF_CHECK_EQUAL(r1.breaker_failure_threshold, 3);
  CAF_CHECK_EQUAL(r1.retry_base_delay.count(), 2000);
  CAF_CHECK_EQUAL(r1.receipt_secret, "s3cret");
  CAF_CHECK(cfg.providers["relay2"].starttls);
  CAF_CHECK_EQUAL(cfg.providers["relay2"].pool_size, 0); // the kind's default
  CAF_CHECK_EQUAL(senders_of(cfg.providers["relay2"]), 16);
  CAF_CHECK_EQUAL(senders_of(cfg.providers["relay1"]), 4);
  CAF_CHECK_EQUAL(senders_of(cfg.providers["twilio1"]), 8);
  CAF_CHECK_EQUAL(cfg.providers["twilio1"].account_sid, "ACtest");
  CAF_CHECK_EQUAL(cfg.providers["fcm1"].project, "demo");
  CAF_CHECK_EQUAL(cfg.providers["wp1"].ttl.count(), 3600000);
  CAF_CHECK_EQUAL(cfg.channels.count("webhook"), 0u);
}

CAF_TEST(provider options come from the command line too) {
  auto path = std::filesystem::temp_directory_path()
              / ("herald-providers-" + std::to_string(::getpid()) + ".ini");
  {
    std::ofstream out{path};
    out << providers_ini;
  }
  auto r = parse({"--config-file=" + path.string(),
                  "--herald.providers.relay2.url=smtp://10.0.0.9:25",
                  "--herald.providers.relay2.rate-per-sec=7",
                  "--herald.channels.email.providers=relay2,relay1"});
  std::filesystem::remove(path);
  CAF_CHECK_EQUAL(r.error, "");
  CAF_CHECK_EQUAL(r.cfg.providers["relay2"].url, "smtp://10.0.0.9:25");
  CAF_CHECK_EQUAL(r.cfg.providers["relay2"].rate_per_sec, 7);
  CAF_CHECK_EQUAL(r.cfg.channels["email"].providers,
                  (std::vector<std::string>{"relay2", "relay1"}));
}

CAF_TEST(provider mistakes name the option) {
  auto problem = [](const std::string& extra) {
    node_config cfg;
    cfg.node_name = "n";
    auto err = apply_ini(cfg, providers_ini + extra, "p.ini");
    return err.empty() ? validate(cfg) : err;
  };
  CHECK_CONTAINS(problem("[herald.providers.relay1]\nurll = \"smtp://x\"\n"),
                 "unknown option herald.providers.relay1.urll (did you mean "
                 "herald.providers.relay1.url?)");
  CHECK_CONTAINS(problem("[herald.providers.relay1]\nproject = \"p\"\n"),
                 "herald.providers.relay1.project: not an option of a smtp provider");
  CHECK_CONTAINS(problem("[herald.providers.relay3]\nfrom = \"a@b\"\n"),
                 "herald.providers.relay3.kind: missing");
  CHECK_CONTAINS(problem("[herald.providers.relay3]\nkind = \"smtp\"\n"
                         "[herald.channels.email]\nproviders = [\"relay3\"]\n"),
                 "p.ini");
  CHECK_CONTAINS(problem("[herald.providers.relay3]\nkind = \"mailgun\"\n"),
                 "unknown provider kind \"mailgun\"");
  CHECK_CONTAINS(problem("[herald.providers.relay1]\nurl = \"http://x\"\n"),
                 "is set twice");
  CHECK_CONTAINS(problem("[herald.providers.relay3]\nkind = \"smtp\"\n"
                         "url = \"http://x\"\n"),
                 "herald.providers.relay3.url: \"http://x\" is not an smtp:// or "
                 "smtps:// URL");
  CHECK_CONTAINS(problem("[herald.providers.sms2]\nkind = \"twilio\"\n"
                         "account-sid = \"AC\"\nauth-token = \"t\"\n"
                         "from = \"+1\"\n"),
                 "herald.providers.sms2: no channel lists this provider");
  CHECK_CONTAINS(problem("[herald.providers.relay4]\nkind = \"smtp\"\n"
                         "from = \"a@b.example\"\n"),
                 "herald.providers.relay4.url: missing, but required for a smtp "
                 "provider");
  CHECK_CONTAINS(problem("[herald.providers.relay2]\nrate-per-sec = -1\n"),
                 "herald.providers.relay2.rate-per-sec: -1 is out of range");
  CHECK_CONTAINS(problem("[herald.providers.wp2]\nkind = \"webpush\"\n"
                         "vapid-subject = \"x\"\n"),
                 "herald.providers.wp2.vapid-subject: \"x\" is neither a mailto: "
                 "nor an https: URL");
  CHECK_CONTAINS(problem("[herald.channels.fax]\nproviders = [\"relay1\"]\n"),
                 "channels are email, sms, push and webhook");
  CHECK_CONTAINS(problem("[herald.providers.bad.name]\nkind = \"smtp\"\n"),
                 "unknown option");
}

CAF_TEST(channel lists must name fitting providers) {
  auto cfg = parsed_providers();
  cfg.channels["sms"].providers = {"relay2"};
  CHECK_CONTAINS(validate(cfg), "herald.channels.sms.providers: provider "
                                "\"relay2\" is of kind smtp, which cannot "
                                "deliver sms");
  cfg = parsed_providers();
  cfg.channels["email"].providers.push_back("nope");
  CHECK_CONTAINS(validate(cfg), "herald.channels.email.providers: unknown "
                                "provider \"nope\"");
  cfg = parsed_providers();
  cfg.channels["email"].providers.push_back("relay1");
  CHECK_CONTAINS(validate(cfg), "provider \"relay1\" is listed twice");
  cfg = parsed_providers();
  cfg.providers["relay2"].url = "smtps://x:465";
  CHECK_CONTAINS(validate(cfg), "herald.providers.relay2.starttls: an smtps:// "
                                "URL is TLS from the start");
}

CAF_TEST(help lists the provider options) {
  auto text = help_text();
  CHECK_CONTAINS(text, "herald.channels.CHANNEL.providers");
  CHECK_CONTAINS(text, "herald.providers.NAME.kind");
  CHECK_CONTAINS(text, "herald.providers.NAME.vapid-private-key-file");
  CHECK_CONTAINS(text, "herald.providers.NAME.breaker.failure-threshold");
  for (auto& s : provider_option_specs())
    CHECK_CONTAINS(text, s.name);
}

CAF_TEST(the example config holds a provider example that parses) {
  auto path = std::string{HERALD_SOURCE_DIR} + "/config/example-node.ini";
  auto text = read_file(path);
  auto at = text.find("; [herald.channels.email]");
  CAF_REQUIRE(at != std::string::npos);
  // The example block without its "; " prefixes is a valid provider setup.
  std::string block;
  std::istringstream in{text.substr(at)};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("; ", 0) == 0)
      block += line.substr(2) + "\n";
  node_config cfg;
  cfg.node_name = "n";
  cfg.db_url = "postgresql://localhost/herald";
  CAF_CHECK_EQUAL(apply_ini(cfg, block, "example block"), "");
  CAF_CHECK_EQUAL(validate(cfg), "");
  CAF_CHECK_EQUAL(cfg.providers.size(), 5u);
  CAF_CHECK_EQUAL(cfg.channels["push"].providers,
                  (std::vector<std::string>{"fcm1", "web"}));
}
