// herald-test-links: herald_persistence

// pg_store against a real PostgreSQL (HERALD_TEST_DB_URL, e.g. from
// `scripts/pg.sh start`). The database is shared with other suites, so every
// test works on its own random tenants and deletes them afterwards.
//
// claim() is global (no tenant filter). To keep claims on this test's rows,
// their ids start with 00000000 and then a value that DEcreases with the
// start time of the run: they sort before every real (UUIDv7) id and before
// leftovers of earlier runs. Where a test must show that a row is NOT
// claimable it puts an unleased "sentinel" row right after it and claims one
// row: the sentinel must come back. Leases that a test's owners take on
// foreign rows anyway are released again when the test ends.

#define CAF_SUITE pg_store
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "persistence/migrations.hpp"
#include "persistence/pg_store.hpp"

using namespace herald;

namespace {

std::mt19937_64& rng() {
  static std::mt19937_64 g{std::random_device{}()};
  return g;
}

std::string random_hex(size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += digits[rng()() % 16];
  return s;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

// See the top of the file.
std::string test_id() {
  static const uint32_t run = static_cast<uint32_t>(
    0xffffffffu - static_cast<uint32_t>(now_ms() / 1000 - 1600000000));
  static std::atomic<uint32_t> counter{0};
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-%04x-%04x-%04x-%04x%s",
                run >> 16, run & 0xffff, (++counter) & 0xffff,
                static_cast<unsigned>(rng()() & 0xffff),
                random_hex(8).c_str());
  return buf;
}

template <class E, class F>
bool throws(F&& f) {
  try {
    f();
  } catch (const E&) {
    return true;
  } catch (...) {
    std::cerr << "unexpected kind of exception\n";
  }
  return false;
}

std::string sql_list(pqxx::transaction_base& tx,
                     const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ",") + tx.quote(x);
  return out.empty() ? "NULL" : out;
}

// Replaces the database name of a postgresql:// URL.
std::string with_database(const std::string& url, const std::string& db) {
  auto query = url.find('?');
  auto base = url.substr(0, query);
  auto slash = base.rfind('/');
  return base.substr(0, slash + 1) + db
         + (query == std::string::npos ? "" : url.substr(query));
}

std::string with_param(const std::string& url, const std::string& kv) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + kv;
}

struct fixture {
  std::string url;
  std::unique_ptr<pg_store> store;
  std::unique_ptr<pqxx::connection> admin;
  std::vector<std::string> tenants;
  std::vector<std::string> owners;

  fixture() {
    const char* env = std::getenv("HERALD_TEST_DB_URL");
    if (env == nullptr || *env == '\0') {
      std::cerr << "\n*** HERALD_TEST_DB_URL is not set: this suite needs a "
                   "PostgreSQL, e.g.\n***   export HERALD_TEST_DB_URL=$("
                   "scripts/pg.sh start /tmp/herald-pg 55433)\n\n";
      CAF_FAIL("HERALD_TEST_DB_URL is not set");
    }
    url = env;
    store = std::make_unique<pg_store>(url);
    store->migrate();
    admin = std::make_unique<pqxx::connection>(url);
  }

  ~fixture() {
    try {
      pqxx::work tx{*admin};
      if (!owners.empty())
        tx.exec("UPDATE notifications SET lease_owner = NULL,"
                " lease_until = NULL WHERE lease_owner IN ("
                + sql_list(tx, owners) + ")");
      if (!tenants.empty()) {
        for (auto table : {"notification_events", "dead_letters", "idempotency_keys",
                           "notifications"})
          tx.exec(std::string{"DELETE FROM "} + table + " WHERE tenant_id IN ("
                  + sql_list(tx, tenants) + ")");
        tx.exec("DELETE FROM tenants WHERE id IN (" + sql_list(tx, tenants)
                + ")");
      }
      tx.commit();
    } catch (const std::exception& e) {
      std::cerr << "cleanup failed: " << e.what() << '\n';
    }
  }

  tenant new_tenant(std::vector<std::string> channels = {}) {
    tenant t;
    t.id = "test-" + random_hex(12);
    t.name = "Test " + t.id;
    t.rate_per_sec = 100;
    t.burst = 200;
    t.channels = std::move(channels);
    t.webhook_secret = "whsec_" + random_hex(32);
    tenants.push_back(t.id);
    return store->tenants().put(t).value;
  }

  lease_spec new_owner(int64_t ttl_ms = 60000) {
    lease_spec l;
    l.owner = "test-node-" + random_hex(8);
    l.ttl_ms = ttl_ms;
    owners.push_back(l.owner);
    return l;
  }

  static notification make(const std::string& tenant_id,
                           const std::string& channel = "email") {
    notification n;
    n.id = test_id();
    n.tenant_id = tenant_id;
    n.channel = channel;
    n.to = "user@example.com";
    n.body = "hello";
    n.priority = "normal";
    n.created_at_ms = now_ms();
    return n;
  }

  std::vector<notification> make_many(const std::string& tenant_id, size_t k,
                                      const std::string& channel = "email") {
    std::vector<notification> xs;
    for (size_t i = 0; i < k; ++i)
      xs.push_back(make(tenant_id, channel));
    return xs;
  }

  // By value: CAF_CHECK_EQUAL on a member of a temporary optional dangles.
  std::string key_of(const std::string& tenant_id, const std::string& id) {
    auto n = store->notifications().get(tenant_id, id);
    return n ? n->idempotency_key : "<no such notification>";
  }

  std::string hash_of(const std::string& tenant_id, const std::string& id) {
    auto n = store->notifications().get(tenant_id, id);
    return n ? n->idempotency_hash : "<no such notification>";
  }

  /// Rows of idempotency_keys for (tenant, key), expired or not: 0 or 1.
  int64_t stored_key_count(const std::string& tenant_id,
                           const std::string& key) {
    pqxx::read_transaction tx{*admin};
    return tx
      .exec("SELECT count(*) FROM idempotency_keys WHERE tenant_id = "
            + tx.quote(tenant_id) + " AND key = " + tx.quote(key))[0][0]
      .as<int64_t>();
  }

  int32_t retention_of(const std::string& tenant_id) {
    auto t = store->tenants().get(tenant_id);
    return t ? t->idempotency_retention_hours : -1;
  }

  /// The notification id holding a live key, or "".
  std::string holder_of(const std::string& tenant_id, const std::string& key) {
    auto rec = store->idempotency().lookup(tenant_id, key);
    return rec ? rec->notification_id : "";
  }

  /// Moves a row's created_at, and its key's, `hours` into the past
  /// (idempotency expiry).
  void age(const std::string& id, double hours) {
    pqxx::work tx{*admin};
    auto at = "now() - " + std::to_string(hours) + " * interval '1 hour'";
    tx.exec("UPDATE notifications SET created_at = " + at
            + " WHERE id = " + tx.quote(id));
    tx.exec("UPDATE idempotency_keys SET created_at = " + at
            + " WHERE notification_id = " + tx.quote(id));
    tx.commit();
  }

  pqxx::row row_of(const std::string& id) {
    pqxx::work tx{*admin};
    return tx.exec1("SELECT status, fence, coalesce(lease_owner, ''),"
                    " lease_until IS NOT NULL,"
                    " coalesce(extract(epoch from lease_until - now()), 0),"
                    " delivered_at IS NOT NULL, attempts"
                    " FROM notifications WHERE id = "
                    + tx.quote(id));
  }

  delivery_decision outcome(const delivery_job& j, const std::string& node,
                           const std::string& result) {
    delivery_decision o;
    o.id = j.n.id;
    o.tenant_id = j.n.tenant_id;
    o.fence = j.fence;
    o.outcome = result == "delivered"  ? attempt_result::delivered
                : result == "deferred" ? attempt_result::deferred
                                       : attempt_result::failed;
    o.node = node;
    o.provider = "https://hooks.example.com:443";
    o.started_at_ms = now_ms();
    o.duration_us = 1234;
    if (result == "failed") {
      o.http_status = 503;
      o.error = "HTTP 503";
      o.status = notification_status::retry_scheduled;
      o.next_attempt_ms = now_ms() + 3600 * 1000;
      o.reason = "retry: HTTP 503";
    } else {
      o.http_status = 200;
      o.status = notification_status::delivered;
    }
    return o;
  }

  /// A failed outcome for `j` that parks it in the DLQ.
  delivery_decision dead(const delivery_job& j, const std::string& node,
                        const std::string& reason,
                        const std::string& provider = "") {
    auto o = outcome(j, node, "failed");
    o.status = notification_status::dead_lettered;
    o.next_attempt_ms = 0;
    o.reason = reason;
    if (!provider.empty())
      o.provider = provider;
    return o;
  }

  void exec(const std::string& sql) {
    pqxx::work tx{*admin};
    tx.exec(sql);
    tx.commit();
  }

  /// Sets columns of one row, e.g. "status = 'sending'".
  void set_row(const std::string& id, const std::string& assignments) {
    exec("UPDATE notifications SET " + assignments + " WHERE id = '" + id + "'");
  }

  /// The row's transitions as "from>to:reason", oldest first.
  std::vector<std::string> events_of(const std::string& id) {
    pqxx::work tx{*admin};
    std::vector<std::string> out;
    for (const auto& r :
         tx.exec("SELECT coalesce(from_status, '') || '>' || to_status || ':'"
                 " || coalesce(reason, '') FROM notification_events"
                 " WHERE notification_id = " + tx.quote(id) + " ORDER BY id"))
      out.push_back(r[0].as<std::string>());
    return out;
  }

  /// The last transition, by value (see key_of).
  std::string last_event(const std::string& id) {
    auto xs = events_of(id);
    return xs.empty() ? "<no events>" : xs.back();
  }

  /// One column (as text, "" for NULL) of one row of `table` keyed by `key`.
  std::string value_of(const std::string& table, const std::string& key,
                       const std::string& id, const std::string& column) {
    pqxx::work tx{*admin};
    auto r = tx.exec("SELECT coalesce((" + column + ")::text, '') FROM " + table
                     + " WHERE " + key + " = " + tx.quote(id));
    return r.empty() ? "<no row>" : r[0][0].as<std::string>();
  }

  std::string column_of(const std::string& id, const std::string& column) {
    return value_of("notifications", "id", id, column);
  }

  std::string dlq_column(const std::string& id, const std::string& column) {
    return value_of("dead_letters", "notification_id", id, column);
  }

  /// Inserts `k` rows leased by `owner` (fence 1) and parks each through
  /// record_outcomes with `reason`; returns them.
  std::vector<notification> park(const std::string& tenant_id, size_t k,
                                 const lease_spec& owner,
                                 const std::string& reason,
                                 const std::string& channel = "email",
                                 const std::string& provider = "") {
    auto xs = make_many(tenant_id, k, channel);
    store->notifications().insert(xs, owner);
    std::vector<delivery_decision> outs;
    for (auto& x : xs) {
      delivery_job j;
      j.n = x;
      j.fence = 1;
      outs.push_back(dead(j, owner.owner, reason, provider));
    }
    CAF_CHECK_EQUAL(store->delivery().record_outcomes(outs), 0);
    return xs;
  }
};

std::vector<std::string> ids_of(const std::vector<delivery_job>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs)
    out.push_back(j.n.id);
  return out;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(pg_store_tests, fixture)

CAF_TEST(migrate is idempotent and safe to run concurrently) {
  // Again on the shared database: nothing to do, nothing breaks.
  store->migrate();
  store->migrate();
  {
    pqxx::work tx{*admin};
    auto r = tx.exec1("SELECT count(*), count(DISTINCT version)"
                      " FROM schema_migrations");
    CAF_CHECK_EQUAL(r[0].as<size_t>(), migrations().size());
    CAF_CHECK_EQUAL(r[1].as<size_t>(), migrations().size());
  }
  // Two nodes starting at once against an empty database.
  auto db = "herald_migrate_" + random_hex(8);
  {
    pqxx::nontransaction tx{*admin};
    tx.exec("CREATE DATABASE " + db);
  }
  auto fresh = with_database(url, db);
  std::vector<std::string> errors(2);
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < 2; ++i)
      threads.emplace_back([&, i] {
        try {
          pg_store s{fresh};
          s.migrate();
          // Prepared statements were registered before the tables existed.
          if (!s.notifications().count_by_status().empty())
            errors[i] = "fresh database has notifications";
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    for (auto& t : threads)
      t.join();
  }
  CAF_CHECK_EQUAL(errors[0], "");
  CAF_CHECK_EQUAL(errors[1], "");
  {
    pqxx::connection c{fresh};
    pqxx::work tx{c};
    auto r = tx.exec1("SELECT count(*), min(version) FROM schema_migrations");
    CAF_CHECK_EQUAL(r[0].as<size_t>(), migrations().size());
    CAF_CHECK_EQUAL(r[1].as<int>(), 1);
    // 0004 replaced the claim index.
    CAF_CHECK_EQUAL(tx.exec1("SELECT count(*) FROM pg_indexes WHERE indexname"
                             " = 'notifications_claim_idx'")[0]
                      .as<int>(),
                    1);
    CAF_CHECK_EQUAL(tx.exec1("SELECT count(*) FROM pg_indexes WHERE indexname"
                             " = 'notifications_claimable_idx'")[0]
                      .as<int>(),
                    0);
  }
  {
    pqxx::nontransaction tx{*admin};
    tx.exec("DROP DATABASE " + db + " WITH (FORCE)");
  }
}

CAF_TEST(insert and get round trip every field) {
  auto t = new_tenant();
  auto full = make(t.id, "webhook");
  full.to = "https://hooks.example.com/in?x=1&y=2";
  full.subject = "Subject with\ttab";
  full.body = "line1\nline2\ttabbed \\ backslash \\N not null 'quote' \"dq\" "
              "unicode é 😀";
  full.data = R"({"a": [1, 2, {"b": null}], "k": "tab\tq\" bs\\ é\n"})";
  full.priority = "high";
  full.send_at_ms = 1893456000123; // 2030-01-01T00:00:00.123Z
  full.provider = "hooks-primary";
  full.created_at_ms = 1700000000456;
  full.idempotency_key = "idem-" + random_hex(10);
  auto bare = make(t.id, "sms");
  bare.to = "+4915112345678";
  bare.priority = "low";
  store->notifications().insert({full, bare}, lease_spec{});

  auto got = store->notifications().get(t.id, full.id);
  CAF_REQUIRE(got.has_value());
  CAF_CHECK_EQUAL(got->id, full.id);
  CAF_CHECK_EQUAL(got->tenant_id, t.id);
  CAF_CHECK_EQUAL(got->channel, "webhook");
  CAF_CHECK_EQUAL(got->to, full.to);
  CAF_CHECK_EQUAL(got->subject, full.subject);
  CAF_CHECK_EQUAL(got->body, full.body);
  CAF_CHECK_EQUAL(got->data, full.data);
  CAF_CHECK_EQUAL(got->priority, "high");
  CAF_CHECK_EQUAL(got->send_at_ms, full.send_at_ms);
  CAF_CHECK_EQUAL(got->provider, full.provider);
  CAF_CHECK_EQUAL(to_string(got->status), "accepted");
  CAF_CHECK_EQUAL(got->attempts, 0);
  CAF_CHECK_EQUAL(got->last_error, "");
  CAF_CHECK_EQUAL(got->created_at_ms, full.created_at_ms);
  CAF_CHECK(got->updated_at_ms > now_ms() - 60000);
  CAF_CHECK_EQUAL(got->idempotency_key, full.idempotency_key);
  auto r = row_of(full.id);
  CAF_CHECK_EQUAL(r[1].as<int64_t>(), 0);   // fence
  CAF_CHECK_EQUAL(r[2].as<std::string>(), ""); // no lease
  CAF_CHECK(!r[3].as<bool>());

  auto got_bare = store->notifications().get(t.id, bare.id);
  CAF_REQUIRE(got_bare.has_value());
  CAF_CHECK_EQUAL(got_bare->channel, "sms");
  CAF_CHECK_EQUAL(got_bare->subject, "");
  CAF_CHECK_EQUAL(got_bare->data, "");
  CAF_CHECK_EQUAL(got_bare->send_at_ms, 0);
  CAF_CHECK_EQUAL(got_bare->provider, "");
  CAF_CHECK_EQUAL(got_bare->idempotency_key, "");
  CAF_CHECK_EQUAL(got_bare->priority, "low");
  {
    // "" really is NULL in the table, not an empty string.
    pqxx::work tx{*admin};
    auto n = tx.exec1("SELECT subject IS NULL AND data IS NULL AND send_at IS"
                      " NULL AND provider IS NULL AND idempotency_key IS NULL"
                      " FROM notifications WHERE id = "
                      + tx.quote(bare.id));
    CAF_CHECK(n[0].as<bool>());
  }

  // With a lease owner: queued, leased, fence 1.
  auto owner = new_owner(30000);
  auto leased = make(t.id);
  store->notifications().insert({leased}, owner);
  auto l = store->notifications().get(t.id, leased.id);
  CAF_REQUIRE(l.has_value());
  CAF_CHECK_EQUAL(to_string(l->status), "queued");
  auto lr = row_of(leased.id);
  CAF_CHECK_EQUAL(lr[1].as<int64_t>(), 1);
  CAF_CHECK_EQUAL(lr[2].as<std::string>(), owner.owner);
  CAF_CHECK(lr[4].as<double>() > 25 && lr[4].as<double>() <= 30);

  // Ids that do not exist or are no UUIDs: nullopt, no exception.
  CAF_CHECK(!store->notifications().get(t.id, test_id()).has_value());
  CAF_CHECK(!store->notifications().get(t.id, "not-a-uuid").has_value());
  CAF_CHECK(!store->notifications().get(t.id, "").has_value());
  CAF_CHECK(
    !store->notifications().get(t.id, "'; DROP TABLE x; --").has_value());
  CAF_CHECK(!store->notifications()
               .attempts(t.id, "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz")
               .has_value());
  // Empty batch: nothing to do.
  store->notifications().insert({}, lease_spec{});
}

CAF_TEST(a failing batch leaves nothing behind) {
  auto t = new_tenant();
  auto xs = make_many(t.id, 10);
  auto dup = xs;
  dup.push_back(xs[3]); // duplicate primary key inside the batch
  CAF_CHECK(throws<std::exception>(
    [&] { store->notifications().insert(dup, lease_spec{}); }));
  for (const auto& x : xs)
    CAF_CHECK(!store->notifications().get(t.id, x.id).has_value());
  // An id that is no UUID ends the COPY early; nothing of the batch stays.
  auto bad = xs;
  bad[5].id = "not-a-uuid";
  CAF_CHECK(throws<std::exception>(
    [&] { store->notifications().insert(bad, lease_spec{}); }));
  CAF_CHECK(!store->notifications().get(t.id, xs[0].id).has_value());
  // The same instance goes on working.
  store->notifications().insert(xs, lease_spec{});
  CAF_CHECK(store->notifications().get(t.id, xs[3].id).has_value());
  // Idempotency keys are unique per tenant.
  auto a = make(t.id);
  a.idempotency_key = "same-key";
  auto b = make(t.id);
  b.idempotency_key = "same-key";
  store->notifications().insert({a}, lease_spec{});
  CAF_CHECK(throws<std::exception>(
    [&] { store->notifications().insert({b}, lease_spec{}); }));
  CAF_CHECK(!store->notifications().get(t.id, b.id).has_value());
  auto other = new_tenant();
  b.tenant_id = other.id;
  store->notifications().insert({b}, lease_spec{});
  CAF_CHECK(store->notifications().get(other.id, b.id).has_value());
}

CAF_TEST(only rows due by the bound are inserted leased) {
  auto t = new_tenant();
  auto owner = new_owner();
  auto now = now_ms();
  auto due = make(t.id);
  auto soon = make(t.id);
  soon.send_at_ms = now + 5000;
  auto later = make(t.id);
  later.send_at_ms = now + 3600 * 1000;
  store->notifications().insert({due, soon, later}, owner, now + 10000);
  for (const auto* x : {&due, &soon}) {
    auto r = row_of(x->id);
    CAF_CHECK_EQUAL(r[0].as<std::string>(), "queued");
    CAF_CHECK_EQUAL(r[1].as<int64_t>(), 1);
    CAF_CHECK_EQUAL(r[2].as<std::string>(), owner.owner);
    CAF_CHECK(r[3].as<bool>());
  }
  auto r = row_of(later.id);
  CAF_CHECK_EQUAL(r[0].as<std::string>(), "accepted");
  CAF_CHECK_EQUAL(r[1].as<int64_t>(), 0);
  CAF_CHECK_EQUAL(r[2].as<std::string>(), "");
  CAF_CHECK(!r[3].as<bool>());
  // Without an owner the bound leases nothing.
  auto bare = make(t.id);
  store->notifications().insert({bare}, lease_spec{}, now + 10000);
  CAF_CHECK_EQUAL(row_of(bare.id)[0].as<std::string>(), "accepted");
}

CAF_TEST(tenants see only their own notifications) {
  auto a = new_tenant();
  auto b = new_tenant();
  auto owner = new_owner();
  auto x = make(a.id);
  store->notifications().insert({x}, owner);
  CAF_CHECK(store->notifications().get(a.id, x.id).has_value());
  CAF_CHECK(!store->notifications().get(b.id, x.id).has_value());
  CAF_CHECK(store->notifications().attempts(a.id, x.id).has_value());
  CAF_CHECK(!store->notifications().attempts(b.id, x.id).has_value());
  notification_query q;
  q.tenant_id = b.id;
  CAF_CHECK(store->notifications().list(q).items.empty());
  q.tenant_id = a.id;
  CAF_CHECK_EQUAL(store->notifications().list(q).items.size(), 1u);
  // An outcome naming the wrong tenant changes nothing and records nothing.
  delivery_job j;
  j.n = x;
  j.n.tenant_id = b.id;
  j.fence = 1;
  CAF_CHECK_EQUAL(store->delivery().record_outcomes(
                    {outcome(j, owner.owner, "delivered")}),
                  1);
  auto unchanged = store->notifications().get(a.id, x.id);
  CAF_CHECK_EQUAL(to_string(unchanged->status), "queued");
  CAF_CHECK(store->notifications().attempts(a.id, x.id)->empty());
}

CAF_TEST(list filters and paginates without gaps or duplicates) {
  auto t = new_tenant();
  auto owner = new_owner();
  std::vector<notification> accepted, queued;
  for (int i = 0; i < 23; ++i)
    accepted.push_back(make(t.id, i % 3 == 0 ? "sms" : "email"));
  for (int i = 0; i < 7; ++i)
    queued.push_back(make(t.id, i % 2 == 0 ? "sms" : "push"));
  store->notifications().insert(accepted, lease_spec{});
  store->notifications().insert(queued, owner);
  std::vector<std::string> all;
  for (auto& x : accepted)
    all.push_back(x.id);
  for (auto& x : queued)
    all.push_back(x.id);
  std::sort(all.rbegin(), all.rend()); // newest (largest) first

  auto walk = [&](notification_query q, size_t& pages) {
    std::vector<notification> seen;
    pages = 0;
    for (;;) {
      auto page = store->notifications().list(q);
      ++pages;
      for (auto& n : page.items)
        seen.push_back(n);
      if (page.next_cursor.empty() || pages > 100)
        break;
      CAF_CHECK_EQUAL(page.next_cursor, page.items.back().id);
      q.cursor = page.next_cursor;
    }
    return seen;
  };
  notification_query q;
  q.tenant_id = t.id;
  for (int32_t limit : {1, 7, 10, 30, 50}) {
    q.limit = limit;
    size_t pages = 0;
    auto seen = walk(q, pages);
    std::vector<std::string> ids;
    for (auto& n : seen)
      ids.push_back(n.id);
    CAF_CHECK_EQUAL(ids, all);
    // limit+1 fetch: no empty trailing page when 30 divides evenly.
    CAF_CHECK_EQUAL(pages, (all.size() + limit - 1) / limit);
  }
  // Filters.
  q.limit = 4;
  q.channel = "sms";
  size_t pages = 0;
  auto sms = walk(q, pages);
  size_t expected_sms = 0;
  for (auto& x : accepted)
    expected_sms += x.channel == "sms";
  for (auto& x : queued)
    expected_sms += x.channel == "sms";
  CAF_CHECK_EQUAL(sms.size(), expected_sms);
  CAF_CHECK(std::all_of(sms.begin(), sms.end(),
                        [](auto& n) { return n.channel == "sms"; }));
  q.channel = "";
  q.status = "queued";
  auto qd = walk(q, pages);
  CAF_CHECK_EQUAL(qd.size(), queued.size());
  CAF_CHECK(std::all_of(qd.begin(), qd.end(),
                        [](auto& n) { return n.status == notification_status::queued; }));
  q.channel = "push";
  auto qp = walk(q, pages);
  CAF_CHECK_EQUAL(qp.size(), 3u);
  q.status = "delivered";
  q.channel = "";
  CAF_CHECK(store->notifications().list(q).items.empty());
  // Limits are clamped; a cursor that is no id gives an empty page.
  q.status = "";
  q.limit = 0;
  CAF_CHECK_EQUAL(store->notifications().list(q).items.size(), 1u);
  q.limit = -5;
  CAF_CHECK_EQUAL(store->notifications().list(q).items.size(), 1u);
  q.limit = 50;
  q.cursor = "garbage";
  auto bad = store->notifications().list(q);
  CAF_CHECK(bad.items.empty());
  CAF_CHECK(bad.next_cursor.empty());
  // At most 200 per page.
  store->notifications().insert(make_many(t.id, 200), lease_spec{});
  q.cursor = "";
  q.limit = 100000;
  auto big = store->notifications().list(q);
  CAF_CHECK_EQUAL(big.items.size(), 200u);
  CAF_CHECK(!big.next_cursor.empty());
}

CAF_TEST(concurrent claims never return the same row twice) {
  auto t = new_tenant();
  const size_t total = 300;
  auto xs = make_many(t.id, total, "webhook");
  store->notifications().insert(xs, lease_spec{});
  std::atomic<size_t> mine{0};
  struct result {
    lease_spec lease;
    std::vector<delivery_job> jobs;
    std::string error;
    bool ordered = true;
  };
  std::vector<result> results(2);
  for (auto& r : results)
    r.lease = new_owner();
  std::vector<std::thread> threads;
  for (auto& r : results)
    threads.emplace_back([&] {
      try {
        pg_store s{url};
        for (int round = 0; round < 200 && mine < total; ++round) {
          auto jobs = s.delivery().claim(r.lease, 16, false);
          if (jobs.empty())
            break;
          for (size_t i = 1; i < jobs.size(); ++i)
            r.ordered &= jobs[i - 1].n.id < jobs[i].n.id;
          for (auto& j : jobs)
            if (j.n.tenant_id == t.id) {
              ++mine;
              r.jobs.push_back(std::move(j));
            }
        }
      } catch (const std::exception& e) {
        r.error = e.what();
      }
    });
  for (auto& th : threads)
    th.join();
  std::set<std::string> seen;
  size_t claimed = 0;
  for (auto& r : results) {
    CAF_CHECK_EQUAL(r.error, "");
    CAF_CHECK(r.ordered);
    claimed += r.jobs.size();
    for (auto& j : r.jobs) {
      seen.insert(j.n.id);
      CAF_CHECK_EQUAL(j.fence, 1);
      CAF_CHECK_EQUAL(to_string(j.n.status), "queued");
      CAF_CHECK_EQUAL(j.signing_secret, t.webhook_secret);
    }
  }
  CAF_MESSAGE("claimed " << results[0].jobs.size() << " + "
                         << results[1].jobs.size());
  CAF_CHECK_EQUAL(claimed, total);     // no row twice...
  CAF_CHECK_EQUAL(seen.size(), total); // ...and none missing
  // Every row is leased to the thread that got it.
  for (auto& r : results)
    for (auto& j : r.jobs) {
      CAF_CHECK_EQUAL(row_of(j.n.id)[2].as<std::string>(), r.lease.owner);
    }
  // Claimed rows are not claimable again while leased.
  auto sentinel = make(t.id);
  store->notifications().insert({sentinel}, lease_spec{});
  auto again = store->delivery().claim(new_owner(), 1, false);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0].n.id, sentinel.id);
}

CAF_TEST(claim skips rows not yet due) {
  auto t = new_tenant();
  auto later = make(t.id);
  later.send_at_ms = now_ms() + 3600 * 1000;
  auto due = make(t.id);
  due.send_at_ms = now_ms() - 1000;
  auto sentinel = make(t.id);
  store->notifications().insert({later, due, sentinel}, lease_spec{});
  auto jobs = store->delivery().claim(new_owner(), 2, false);
  CAF_CHECK_EQUAL(ids_of(jobs),
                  (std::vector<std::string>{due.id, sentinel.id}));
}

CAF_TEST(reclaim_own takes back what the owner holds) {
  auto t = new_tenant();
  auto a = new_owner(60000);
  auto held = make_many(t.id, 2);
  store->notifications().insert(held, a);
  auto sentinel = make(t.id);
  store->notifications().insert({sentinel}, lease_spec{});
  // Without reclaim_own, held rows are skipped even by their owner.
  auto first = store->delivery().claim(a, 1, false);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(first[0].n.id, sentinel.id);
  // A restarted incarnation of `a` takes them back, with a new fence.
  auto again = store->delivery().claim(a, 2, true);
  CAF_CHECK_EQUAL(ids_of(again),
                  (std::vector<std::string>{held[0].id, held[1].id}));
  for (auto& j : again)
    CAF_CHECK_EQUAL(j.fence, 2);
  // Another owner cannot, even asking for reclaim_own.
  auto sentinel2 = make(t.id);
  store->notifications().insert({sentinel2}, lease_spec{});
  auto other = store->delivery().claim(new_owner(), 1, true);
  CAF_REQUIRE_EQUAL(other.size(), 1u);
  CAF_CHECK_EQUAL(other[0].n.id, sentinel2.id);
}

CAF_TEST(expired leases are taken over and unexpired ones are not) {
  auto t = new_tenant();
  auto a = new_owner(400);
  auto b = new_owner(60000);
  auto x = make(t.id);
  store->notifications().insert({x}, a);
  auto s1 = make(t.id);
  auto s2 = make(t.id);
  store->notifications().insert({s1, s2}, lease_spec{});
  auto before = store->delivery().claim(b, 1, false);
  CAF_REQUIRE_EQUAL(before.size(), 1u);
  CAF_CHECK_EQUAL(before[0].n.id, s1.id);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto after = store->delivery().claim(b, 1, false);
  CAF_REQUIRE_EQUAL(after.size(), 1u);
  CAF_CHECK_EQUAL(after[0].n.id, x.id);
  CAF_CHECK_EQUAL(after[0].fence, 2);
  CAF_CHECK_EQUAL(after[0].signing_secret, t.webhook_secret);
  auto row = row_of(x.id);
  CAF_CHECK_EQUAL(row[2].as<std::string>(), b.owner);
  CAF_CHECK(row[4].as<double>() > 50);
}

CAF_TEST(stale outcomes are fenced out but their attempts are recorded) {
  auto t = new_tenant();
  auto a = new_owner(1);
  auto b = new_owner(60000);
  auto x = make(t.id, "webhook");
  store->notifications().insert({x}, a);
  delivery_job stale;
  stale.n = x;
  stale.fence = 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto taken = store->delivery().claim(b, 1, false);
  CAF_REQUIRE_EQUAL(taken.size(), 1u);
  CAF_REQUIRE_EQUAL(taken[0].n.id, x.id);
  CAF_CHECK_EQUAL(taken[0].fence, 2);
  // `a` reports late: the attempt happened, but the row belongs to `b`.
  auto late = outcome(stale, a.owner, "delivered");
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({late}), 1);
  auto n = store->notifications().get(t.id, x.id);
  CAF_CHECK_EQUAL(to_string(n->status), "queued");
  CAF_CHECK_EQUAL(n->attempts, 0);
  CAF_CHECK_EQUAL(row_of(x.id)[2].as<std::string>(), b.owner);
  // `b`'s outcome applies.
  auto current = dead(taken[0], b.owner, "permanent: HTTP 503");
  current.started_at_ms = 1700000000789;
  current.duration_us = 98765;
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({current}), 0);
  n = store->notifications().get(t.id, x.id);
  CAF_CHECK_EQUAL(to_string(n->status), "dead_lettered");
  CAF_CHECK_EQUAL(n->attempts, 1);
  CAF_CHECK_EQUAL(n->last_error, "HTTP 503");
  auto row = row_of(x.id);
  CAF_CHECK_EQUAL(row[2].as<std::string>(), ""); // lease cleared
  CAF_CHECK(!row[3].as<bool>());
  CAF_CHECK(!row[5].as<bool>()); // not delivered
  // A duplicate report of an already applied outcome only adds an attempt.
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({current}), 1);
  n = store->notifications().get(t.id, x.id);
  CAF_CHECK_EQUAL(n->attempts, 1);
  auto attempts = store->notifications().attempts(t.id, x.id);
  CAF_REQUIRE(attempts.has_value());
  CAF_REQUIRE_EQUAL(attempts->size(), 3u);
  CAF_CHECK_EQUAL((*attempts)[0].number, 1);
  CAF_CHECK_EQUAL((*attempts)[0].node, a.owner);
  CAF_CHECK_EQUAL((*attempts)[0].outcome, "delivered");
  CAF_CHECK_EQUAL((*attempts)[0].http_status, 200);
  CAF_CHECK_EQUAL((*attempts)[0].error, "");
  auto& second = (*attempts)[1];
  CAF_CHECK_EQUAL(second.notification_id, x.id);
  CAF_CHECK_EQUAL(second.number, 2);
  CAF_CHECK_EQUAL(second.at_ms, 1700000000789);
  CAF_CHECK_EQUAL(second.node, b.owner);
  CAF_CHECK_EQUAL(second.provider, "https://hooks.example.com:443");
  CAF_CHECK_EQUAL(second.outcome, "failed");
  CAF_CHECK_EQUAL(second.http_status, 503);
  CAF_CHECK_EQUAL(second.error, "HTTP 503");
  CAF_CHECK_EQUAL(second.duration_us, 98765);
  CAF_CHECK_EQUAL((*attempts)[2].number, 3);
}

CAF_TEST(record_outcomes handles a large mixed batch) {
  auto t = new_tenant();
  auto owner = new_owner();
  auto xs = make_many(t.id, 120);
  store->notifications().insert(xs, owner);
  std::vector<delivery_decision> outs;
  for (size_t i = 0; i < xs.size(); ++i) {
    delivery_job j;
    j.n = xs[i];
    j.fence = i % 10 == 0 ? 7 : 1; // every tenth is stale
    outs.push_back(outcome(j, owner.owner, i % 2 ? "failed" : "delivered"));
  }
  auto junk = outs[1];
  junk.id = "no-uuid";
  outs.push_back(junk);
  CAF_CHECK_EQUAL(store->delivery().record_outcomes(outs), 12 + 1);
  size_t delivered = 0, failed = 0, queued = 0;
  for (auto& x : xs) {
    auto n = store->notifications().get(t.id, x.id);
    delivered += n->status == notification_status::delivered;
    failed += n->status == notification_status::retry_scheduled;
    queued += n->status == notification_status::queued;
    CAF_CHECK_EQUAL(store->notifications().attempts(t.id, x.id)->size(), 1u);
  }
  CAF_CHECK_EQUAL(queued, 12u);
  CAF_CHECK_EQUAL(delivered, 48u); // even i, minus the stale ones
  CAF_CHECK_EQUAL(failed, 60u);
  auto row = row_of(xs[2].id);
  CAF_CHECK_EQUAL(row[0].as<std::string>(), "delivered");
  CAF_CHECK(row[5].as<bool>()); // delivered_at
  auto ok = store->notifications().get(t.id, xs[2].id);
  CAF_CHECK_EQUAL(ok->last_error, "");
  // Outcomes must be delivered, failed or deferred; statuses delivered,
  // retry_scheduled or dead_lettered. Nothing of such a batch is written.
  auto bad = outs[3];
  bad.outcome = static_cast<attempt_result>(9);
  CAF_CHECK(throws<std::invalid_argument>(
    [&] { store->delivery().record_outcomes({outs[5], bad}); }));
  bad = outs[3];
  bad.status = notification_status::failed;
  CAF_CHECK(throws<std::invalid_argument>(
    [&] { store->delivery().record_outcomes({outs[5], bad}); }));
  CAF_CHECK_EQUAL(store->notifications().attempts(t.id, xs[5].id)->size(), 1u);
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({}), 0);
  // count_by_status sees them (the database is shared: at least ours).
  int64_t delivered_total = 0;
  for (auto& [status, count] : store->notifications().count_by_status()) {
    CAF_CHECK(count > 0);
    if (status == "delivered")
      delivered_total = count;
  }
  CAF_CHECK(delivered_total >= 48);
}

CAF_TEST(renew_leases and release_leases touch only open rows of the owner) {
  auto t = new_tenant();
  auto a = new_owner(2000);
  auto xs = make_many(t.id, 4);
  store->notifications().insert(xs, a);
  // One of them is finished: its lease is gone and stays gone.
  delivery_job done;
  done.n = xs[3];
  done.fence = 1;
  CAF_CHECK_EQUAL(store->delivery().record_outcomes(
                    {outcome(done, a.owner, "delivered")}),
                  0);
  auto longer = a;
  longer.ttl_ms = 600000;
  CAF_CHECK_EQUAL(store->delivery().renew(longer), 3);
  for (size_t i = 0; i < 3; ++i) {
    auto row = row_of(xs[i].id);
    CAF_CHECK(row[4].as<double>() > 590);
  }
  CAF_CHECK(!row_of(xs[3].id)[3].as<bool>());
  CAF_CHECK_EQUAL(store->delivery().renew(new_owner()), 0);
  // Release: 'queued' rows go back to 'accepted'; a row being sent stays.
  {
    pqxx::work tx{*admin};
    tx.exec("UPDATE notifications SET status = 'sending' WHERE id = "
            + tx.quote(xs[0].id));
    tx.commit();
  }
  CAF_CHECK_EQUAL(store->delivery().release(a), 2);
  CAF_CHECK_EQUAL(row_of(xs[0].id)[0].as<std::string>(), "sending");
  CAF_CHECK_EQUAL(row_of(xs[0].id)[2].as<std::string>(), a.owner);
  for (size_t i = 1; i < 3; ++i) {
    auto row = row_of(xs[i].id);
    CAF_CHECK_EQUAL(row[0].as<std::string>(), "accepted");
    CAF_CHECK_EQUAL(row[2].as<std::string>(), "");
  }
}

// -- retries, dead letters and cancel (issue 4) --------------------------------

CAF_TEST(claim takes retries and scheduled rows due within the horizon) {
  auto t = new_tenant();
  auto a = new_owner();
  // In id order: a retry due now, a retry due in 30 s, one due in an hour, a
  // row scheduled in 20 s and an unscheduled sentinel.
  auto xs = make_many(t.id, 5);
  xs[3].send_at_ms = now_ms() + 20000;
  const auto& due_retry = xs[0];
  const auto& soon = xs[1];
  const auto& late = xs[2];
  const auto& scheduled = xs[3];
  const auto& sentinel = xs[4];
  store->notifications().insert(xs, lease_spec{});
  set_row(due_retry.id, "status = 'retry_scheduled', attempts = 2,"
                        " next_attempt_at = now() - interval '1 second',"
                        " status_reason = 'retry: HTTP 503'");
  set_row(soon.id, "status = 'retry_scheduled', attempts = 5,"
                   " attempts_base = 2,"
                   " next_attempt_at = now() + interval '30 seconds'");
  set_row(late.id, "status = 'retry_scheduled',"
                   " next_attempt_at = now() + interval '1 hour'");
  // Without a horizon: only what is due now; a due retry becomes 'queued'.
  auto now_jobs = store->delivery().claim(a, 2, false);
  CAF_REQUIRE_EQUAL(ids_of(now_jobs),
                    (std::vector<std::string>{due_retry.id, sentinel.id}));
  CAF_CHECK_EQUAL(to_string(now_jobs[0].n.status), "queued");
  CAF_CHECK_EQUAL(now_jobs[0].budget_used, 2);
  CAF_CHECK_EQUAL(now_jobs[1].budget_used, 0);
  CAF_CHECK_EQUAL(events_of(due_retry.id),
                  (std::vector<std::string>{
                    "accepted>retry_scheduled:retry: HTTP 503",
                    "retry_scheduled>queued:claimed by " + a.owner}));
  // Within 60 s: the retry in 30 s keeps its status (the claimer holds it on
  // a timer), the scheduled row becomes 'queued'; the one in an hour stays.
  auto sentinel2 = make(t.id);
  store->notifications().insert({sentinel2}, lease_spec{});
  auto ahead = a;
  ahead.horizon_ms = 60000;
  auto jobs = store->delivery().claim(ahead, 3, false);
  CAF_REQUIRE_EQUAL(ids_of(jobs), (std::vector<std::string>{
                                    soon.id, scheduled.id, sentinel2.id}));
  CAF_CHECK_EQUAL(to_string(jobs[0].n.status), "retry_scheduled");
  CAF_CHECK(jobs[0].n.next_attempt_at_ms > now_ms() + 20000);
  CAF_CHECK(jobs[0].n.next_attempt_at_ms <= now_ms() + 30000);
  CAF_CHECK_EQUAL(jobs[0].n.attempts, 5);
  CAF_CHECK_EQUAL(jobs[0].budget_used, 3);
  CAF_CHECK_EQUAL(jobs[0].fence, 1);
  CAF_CHECK_EQUAL(to_string(jobs[1].n.status), "queued");
  CAF_CHECK_EQUAL(jobs[1].n.send_at_ms, scheduled.send_at_ms);
  CAF_CHECK_EQUAL(jobs[1].n.next_attempt_at_ms, 0);
  CAF_CHECK_EQUAL(row_of(soon.id)[2].as<std::string>(), a.owner);
  // Creation is no transition; a claim that keeps the status logs nothing.
  CAF_CHECK_EQUAL(events_of(soon.id),
                  std::vector<std::string>{"accepted>retry_scheduled:"});
  CAF_CHECK_EQUAL(events_of(sentinel2.id),
                  std::vector<std::string>{"accepted>queued:claimed by "
                                           + a.owner});
  CAF_CHECK_EQUAL(column_of(late.id, "lease_owner"), "");
  // Held rows are not claimable by others, whatever their horizon.
  auto sentinel3 = make(t.id);
  store->notifications().insert({sentinel3}, lease_spec{});
  auto b = new_owner();
  b.horizon_ms = 3600 * 1000 * 2;
  auto other = store->delivery().claim(b, 2, false);
  CAF_CHECK_EQUAL(ids_of(other),
                  (std::vector<std::string>{late.id, sentinel3.id}));
  CAF_CHECK_EQUAL(to_string(other[0].n.status), "retry_scheduled");
  // Release: queued rows go back to 'accepted', the waiting retry keeps its
  // status and due time; both lose the lease.
  const auto next_before = column_of(soon.id, "next_attempt_at");
  CAF_CHECK_EQUAL(store->delivery().release(a), 5);
  CAF_CHECK_EQUAL(column_of(soon.id, "status"), "retry_scheduled");
  CAF_CHECK_EQUAL(column_of(soon.id, "next_attempt_at"), next_before);
  CAF_CHECK_EQUAL(column_of(soon.id, "lease_owner"), "");
  CAF_CHECK_EQUAL(column_of(soon.id, "lease_until"), "");
  for (const auto& id : {due_retry.id, scheduled.id, sentinel.id, sentinel2.id}) {
    CAF_CHECK_EQUAL(column_of(id, "status"), "accepted");
    CAF_CHECK_EQUAL(column_of(id, "lease_owner"), "");
  }
  CAF_CHECK_EQUAL(last_event(scheduled.id),
                  "queued>accepted:released by " + a.owner);
}

CAF_TEST(record_outcomes applies the dispatcher decisions) {
  auto t = new_tenant();
  auto a = new_owner();
  auto xs = make_many(t.id, 7, "webhook");
  store->notifications().insert(xs, a);
  auto job = [&](size_t i, int64_t fence = 1) {
    delivery_job j;
    j.n = xs[i];
    j.fence = fence;
    return j;
  };
  const int64_t next = now_ms() + 120000;
  auto delivered = outcome(job(0), a.owner, "delivered");
  auto released = outcome(job(1), a.owner, "failed");
  released.next_attempt_ms = next;
  auto kept = outcome(job(2), a.owner, "failed");
  kept.keep_lease = true;
  kept.next_attempt_ms = next;
  auto parked = dead(job(3), a.owner, "permanent: HTTP 400");
  parked.http_status = 400;
  parked.error = "HTTP 400";
  auto deferred = outcome(job(4), a.owner, "failed");
  deferred.outcome = attempt_result::deferred;
  deferred.http_status = 0;
  deferred.error = "";
  deferred.reason = "breaker open";
  deferred.next_attempt_ms = next;
  // Two outcomes for one row in one batch: both count, the last decides;
  // keep_lease means nothing for a status other than retry_scheduled.
  auto first = outcome(job(5), a.owner, "failed");
  first.keep_lease = true;
  auto second = outcome(job(5), a.owner, "delivered");
  second.keep_lease = true;
  auto stale = outcome(job(6, 9), a.owner, "delivered");
  const auto lease_before = column_of(xs[2].id, "lease_until");
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({delivered, released, kept,
                                                     parked, deferred, first,
                                                     second, stale}),
                  1);
  // delivered
  auto n = store->notifications().get(t.id, xs[0].id);
  CAF_CHECK_EQUAL(to_string(n->status), "delivered");
  CAF_CHECK_EQUAL(n->attempts, 1);
  CAF_CHECK_EQUAL(n->next_attempt_at_ms, 0);
  CAF_CHECK(row_of(xs[0].id)[5].as<bool>());
  CAF_CHECK_EQUAL(column_of(xs[0].id, "lease_owner"), "");
  // Rows inserted leased start as 'queued': the delivery is their first
  // transition; an empty reason is logged as none.
  CAF_CHECK_EQUAL(events_of(xs[0].id),
                  std::vector<std::string>{"queued>delivered:"});
  // retry_scheduled, lease released: any node's sweeper takes it when due
  n = store->notifications().get(t.id, xs[1].id);
  CAF_CHECK_EQUAL(to_string(n->status), "retry_scheduled");
  CAF_CHECK_EQUAL(n->next_attempt_at_ms, next);
  CAF_CHECK_EQUAL(n->attempts, 1);
  CAF_CHECK_EQUAL(n->last_error, "HTTP 503");
  CAF_CHECK_EQUAL(column_of(xs[1].id, "lease_owner"), "");
  CAF_CHECK_EQUAL(column_of(xs[1].id, "lease_until"), "");
  CAF_CHECK_EQUAL(events_of(xs[1].id),
                  std::vector<std::string>{
                    "queued>retry_scheduled:retry: HTTP 503"});
  // retry_scheduled, lease kept untouched (the node's retry scheduler)
  n = store->notifications().get(t.id, xs[2].id);
  CAF_CHECK_EQUAL(to_string(n->status), "retry_scheduled");
  CAF_CHECK_EQUAL(n->next_attempt_at_ms, next);
  CAF_CHECK_EQUAL(column_of(xs[2].id, "lease_owner"), a.owner);
  CAF_CHECK_EQUAL(column_of(xs[2].id, "lease_until"), lease_before);
  CAF_CHECK_EQUAL(column_of(xs[2].id, "fence"), "1");
  // dead_lettered, with its dead letter
  n = store->notifications().get(t.id, xs[3].id);
  CAF_CHECK_EQUAL(to_string(n->status), "dead_lettered");
  CAF_CHECK_EQUAL(n->next_attempt_at_ms, 0);
  CAF_CHECK_EQUAL(column_of(xs[3].id, "lease_owner"), "");
  auto dl = store->dead_letters().get(t.id, xs[3].id);
  CAF_REQUIRE(dl.has_value());
  CAF_CHECK_EQUAL(dl->n.id, xs[3].id);
  CAF_CHECK_EQUAL(dl->n.channel, "webhook");
  CAF_CHECK_EQUAL(dl->provider, "https://hooks.example.com:443");
  CAF_CHECK_EQUAL(dl->reason, "permanent: HTTP 400");
  CAF_CHECK_EQUAL(dl->last_error, "HTTP 400");
  CAF_CHECK_EQUAL(dl->attempts, 1);
  CAF_CHECK_EQUAL(dl->state, "parked");
  CAF_CHECK(dl->dead_at_ms > now_ms() - 60000);
  CAF_CHECK_EQUAL(dlq_column(xs[3].id, "channel"), "webhook");
  CAF_REQUIRE_EQUAL(dl->events.size(), 1u);
  CAF_CHECK_EQUAL(dl->events[0].from, "queued");
  CAF_CHECK_EQUAL(dl->events[0].to, "dead_lettered");
  CAF_CHECK_EQUAL(dl->events[0].reason, "permanent: HTTP 400");
  CAF_CHECK(dl->events[0].at_ms > now_ms() - 60000);
  // deferred: no call, so no attempt row and no attempt counted
  n = store->notifications().get(t.id, xs[4].id);
  CAF_CHECK_EQUAL(to_string(n->status), "retry_scheduled");
  CAF_CHECK_EQUAL(n->attempts, 0);
  CAF_CHECK_EQUAL(n->next_attempt_at_ms, next);
  CAF_CHECK_EQUAL(n->last_error, "");
  CAF_CHECK(store->notifications().attempts(t.id, xs[4].id)->empty());
  CAF_CHECK_EQUAL(events_of(xs[4].id),
                  std::vector<std::string>{
                    "queued>retry_scheduled:breaker open"});
  // two outcomes in one batch
  n = store->notifications().get(t.id, xs[5].id);
  CAF_CHECK_EQUAL(to_string(n->status), "delivered");
  CAF_CHECK_EQUAL(n->attempts, 2);
  CAF_CHECK_EQUAL(n->last_error, "HTTP 503");
  CAF_CHECK_EQUAL(column_of(xs[5].id, "lease_owner"), "");
  auto twice = store->notifications().attempts(t.id, xs[5].id);
  CAF_REQUIRE_EQUAL(twice->size(), 2u);
  CAF_CHECK_EQUAL((*twice)[0].outcome, "failed");
  CAF_CHECK_EQUAL((*twice)[1].outcome, "delivered");
  CAF_CHECK_EQUAL(events_of(xs[5].id),
                  std::vector<std::string>{"queued>delivered:"});
  // fenced out: the attempt is recorded, the row is not touched
  n = store->notifications().get(t.id, xs[6].id);
  CAF_CHECK_EQUAL(to_string(n->status), "queued");
  CAF_CHECK_EQUAL(n->attempts, 0);
  CAF_CHECK_EQUAL(store->notifications().attempts(t.id, xs[6].id)->size(), 1u);
  CAF_CHECK_EQUAL(column_of(xs[6].id, "lease_owner"), a.owner);
  CAF_CHECK(events_of(xs[6].id).empty());
  // A waiting retry still accepts its holder's outcome (same fence).
  auto retried = outcome(job(2), a.owner, "delivered");
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({retried}), 0);
  n = store->notifications().get(t.id, xs[2].id);
  CAF_CHECK_EQUAL(to_string(n->status), "delivered");
  CAF_CHECK_EQUAL(n->attempts, 2);
  CAF_CHECK_EQUAL(n->next_attempt_at_ms, 0);
  CAF_CHECK_EQUAL(column_of(xs[2].id, "lease_owner"), "");
  CAF_CHECK_EQUAL(events_of(xs[2].id),
                  (std::vector<std::string>{
                    "queued>retry_scheduled:retry: HTTP 503",
                    "retry_scheduled>delivered:"}));
}

CAF_TEST(a batch recorded twice counts its calls once) {
  // The dispatcher sends a batch again when its first try timed out on its
  // side; that first try may have committed all the same.
  auto t = new_tenant();
  auto a = new_owner();
  auto xs = make_many(t.id, 2, "webhook");
  store->notifications().insert(xs, a);
  delivery_job j0;
  j0.n = xs[0];
  j0.fence = 1;
  delivery_job j1 = j0;
  j1.n = xs[1];
  auto retry = outcome(j0, a.owner, "failed");
  retry.keep_lease = true;
  retry.attempt_key = "n1/1/1";
  auto done = outcome(j1, a.owner, "delivered");
  done.attempt_key = "n1/1/2";
  std::vector<delivery_decision> batch{retry, done};
  CAF_CHECK_EQUAL(store->delivery().record_outcomes(batch), 0);
  // Again: nothing applies, nothing is inserted.
  CAF_CHECK_EQUAL(store->delivery().record_outcomes(batch), 2);
  auto n0 = store->notifications().get(t.id, xs[0].id);
  CAF_CHECK_EQUAL(to_string(n0->status), "retry_scheduled");
  CAF_CHECK_EQUAL(n0->attempts, 1);
  CAF_CHECK_EQUAL(store->notifications().attempts(t.id, xs[0].id)->size(), 1u);
  auto n1 = store->notifications().get(t.id, xs[1].id);
  CAF_CHECK_EQUAL(n1->attempts, 1);
  CAF_CHECK_EQUAL(store->notifications().attempts(t.id, xs[1].id)->size(), 1u);
  // The next call of the same row has a new key and counts.
  auto next = outcome(j0, a.owner, "delivered");
  next.attempt_key = "n1/1/3";
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({next}), 0);
  n0 = store->notifications().get(t.id, xs[0].id);
  CAF_CHECK_EQUAL(n0->attempts, 2);
  CAF_CHECK_EQUAL(store->notifications().attempts(t.id, xs[0].id)->size(), 2u);
}

CAF_TEST(a retried dead letter gets a fresh budget and is parked again) {
  auto t = new_tenant();
  auto a = new_owner();
  auto x = park(t.id, 1, a, "exhausted: 1 attempts")[0];
  const auto dead_at_before = dlq_column(x.id, "dead_at");
  notification out;
  CAF_CHECK(store->dead_letters().retry(t.id, x.id, "operator retry", out)
            == change_result::done);
  CAF_CHECK_EQUAL(out.id, x.id);
  CAF_CHECK_EQUAL(to_string(out.status), "accepted");
  CAF_CHECK_EQUAL(out.attempts, 1);
  CAF_CHECK_EQUAL(out.last_error, "HTTP 503"); // kept
  CAF_CHECK_EQUAL(out.next_attempt_at_ms, 0);
  CAF_CHECK_EQUAL(column_of(x.id, "attempts_base"), "1");
  CAF_CHECK_EQUAL(column_of(x.id, "fence"), "2");
  CAF_CHECK_EQUAL(column_of(x.id, "lease_owner"), "");
  CAF_CHECK_EQUAL(dlq_column(x.id, "state"), "retried");
  // Not parked any more: a second retry is a conflict and changes nothing.
  notification again;
  CAF_CHECK(store->dead_letters().retry(t.id, x.id, "twice", again)
            == change_result::conflict);
  CAF_CHECK_EQUAL(again.id, x.id);
  CAF_CHECK_EQUAL(to_string(again.status), "accepted");
  CAF_CHECK_EQUAL(column_of(x.id, "fence"), "2");
  // The next claim sees a fresh budget.
  auto jobs = store->delivery().claim(a, 1, false);
  CAF_REQUIRE_EQUAL(ids_of(jobs), std::vector<std::string>{x.id});
  CAF_CHECK_EQUAL(jobs[0].budget_used, 0);
  CAF_CHECK_EQUAL(jobs[0].n.attempts, 1);
  CAF_CHECK_EQUAL(jobs[0].fence, 3);
  // Failing for good again parks it again, with the new count and reason.
  auto o = dead(jobs[0], a.owner, "permanent: HTTP 410");
  o.error = "HTTP 410";
  CAF_CHECK_EQUAL(store->delivery().record_outcomes({o}), 0);
  auto dl = store->dead_letters().get(t.id, x.id);
  CAF_REQUIRE(dl.has_value());
  CAF_CHECK_EQUAL(dl->state, "parked");
  CAF_CHECK_EQUAL(dl->reason, "permanent: HTTP 410");
  CAF_CHECK_EQUAL(dl->last_error, "HTTP 410");
  CAF_CHECK_EQUAL(dl->attempts, 2);
  CAF_CHECK_EQUAL(to_string(dl->n.status), "dead_lettered");
  CAF_CHECK(dlq_column(x.id, "dead_at") >= dead_at_before);
  std::vector<std::string> events;
  for (const auto& e : dl->events)
    events.push_back(e.from + ">" + e.to + ":" + e.reason);
  CAF_CHECK_EQUAL(events, (std::vector<std::string>{
                            "queued>dead_lettered:exhausted: 1 attempts",
                            "dead_lettered>accepted:operator retry",
                            "accepted>queued:claimed by " + a.owner,
                            "queued>dead_lettered:permanent: HTTP 410"}));
  for (size_t i = 1; i < dl->events.size(); ++i)
    CAF_CHECK(dl->events[i - 1].at_ms <= dl->events[i].at_ms);
}

CAF_TEST(the DLQ lists dead letters of a tenant newest first with filters) {
  auto t = new_tenant();
  auto other = new_tenant();
  auto a = new_owner();
  auto mail = park(t.id, 5, a, "permanent: 550", "email", "smtp://mx:25");
  auto hooks = park(t.id, 4, a, "permanent: HTTP 400", "webhook",
                    "https://h.example:443");
  auto theirs = park(other.id, 2, a, "permanent: 550", "email", "smtp://mx:25");
  std::vector<std::string> all;
  for (const auto* xs : {&mail, &hooks})
    for (const auto& x : *xs)
      all.push_back(x.id);
  std::sort(all.rbegin(), all.rend());
  auto ids = [](const dlq_page& p) {
    std::vector<std::string> out;
    for (const auto& d : p.items)
      out.push_back(d.n.id);
    return out;
  };
  dlq_query q;
  q.tenant_id = t.id;
  auto page = store->dead_letters().list(q);
  CAF_CHECK_EQUAL(ids(page), all);
  CAF_CHECK_EQUAL(page.next_cursor, "");
  CAF_REQUIRE(!page.items.empty());
  const auto& first = page.items.front(); // the newest: hooks[3]
  CAF_CHECK_EQUAL(first.n.id, hooks[3].id);
  CAF_CHECK_EQUAL(to_string(first.n.status), "dead_lettered");
  CAF_CHECK_EQUAL(first.provider, "https://h.example:443");
  CAF_CHECK_EQUAL(first.reason, "permanent: HTTP 400");
  CAF_CHECK_EQUAL(first.attempts, 1);
  CAF_CHECK_EQUAL(first.state, "parked");
  CAF_CHECK(first.events.empty()); // only dead_letters().get carries them
  CAF_CHECK(first.updated_at_ms >= first.dead_at_ms);
  // Cursor walk: 3 + 3 + 3, no gaps, no duplicates, no empty last page.
  q.limit = 3;
  std::vector<std::string> walked;
  size_t pages = 0;
  for (;;) {
    auto p = store->dead_letters().list(q);
    ++pages;
    for (const auto& id : ids(p))
      walked.push_back(id);
    if (p.next_cursor.empty() || pages > 10)
      break;
    CAF_CHECK_EQUAL(p.next_cursor, p.items.back().n.id);
    q.cursor = p.next_cursor;
  }
  CAF_CHECK_EQUAL(walked, all);
  CAF_CHECK_EQUAL(pages, 3u);
  // Filters.
  q = dlq_query{};
  q.tenant_id = t.id;
  q.channel = "webhook";
  CAF_CHECK_EQUAL(store->dead_letters().list(q).items.size(), 4u);
  q.channel = "";
  q.provider = "smtp://mx:25";
  CAF_CHECK_EQUAL(store->dead_letters().list(q).items.size(), 5u);
  q.channel = "webhook";
  CAF_CHECK(store->dead_letters().list(q).items.empty());
  q.channel = "";
  q.provider = "";
  notification out;
  CAF_REQUIRE(store->dead_letters().retry(t.id, mail[0].id, "", out)
              == change_result::done);
  CAF_CHECK_EQUAL(store->dead_letters().list(q).items.size(), 8u); // parked
  q.state = "retried";
  CAF_CHECK_EQUAL(ids(store->dead_letters().list(q)),
                  std::vector<std::string>{mail[0].id});
  q.state = "";
  CAF_CHECK_EQUAL(store->dead_letters().list(q).items.size(), 9u);
  // Limits are clamped; a cursor that is no id gives an empty page.
  q.limit = 0;
  CAF_CHECK_EQUAL(store->dead_letters().list(q).items.size(), 1u);
  q.limit = 50;
  q.cursor = "garbage";
  CAF_CHECK(store->dead_letters().list(q).items.empty());
  // Tenants see only their own.
  q = dlq_query{};
  q.tenant_id = other.id;
  std::vector<std::string> their_ids{theirs[1].id, theirs[0].id};
  CAF_CHECK_EQUAL(ids(store->dead_letters().list(q)), their_ids);
  CAF_CHECK(!store->dead_letters().get(other.id, mail[1].id).has_value());
  CAF_CHECK(!store->dead_letters().get(t.id, theirs[0].id).has_value());
  CAF_CHECK(!store->dead_letters().get(t.id, "not-a-uuid").has_value());
  CAF_CHECK(!store->dead_letters().get(t.id, test_id()).has_value());
  CAF_CHECK(store->dead_letters().get(t.id, mail[1].id).has_value());
}

CAF_TEST(retry and discard need a parked dead letter of the tenant) {
  auto t = new_tenant();
  auto other = new_tenant();
  auto a = new_owner();
  auto xs = park(t.id, 2, a, "permanent: HTTP 400");
  auto alive = make(t.id);
  store->notifications().insert({alive}, lease_spec{});
  notification out;
  auto& dlq = store->dead_letters();
  for (auto f : {&dead_letter_store::retry, &dead_letter_store::discard}) {
    CAF_CHECK((dlq.*f)(other.id, xs[0].id, "r", out)
              == change_result::not_found);
    CAF_CHECK((dlq.*f)(t.id, "not-a-uuid", "r", out)
              == change_result::not_found);
    CAF_CHECK((dlq.*f)(t.id, test_id(), "r", out)
              == change_result::not_found);
    // A notification that never was a dead letter has none to act on.
    CAF_CHECK((dlq.*f)(t.id, alive.id, "r", out)
              == change_result::not_found);
  }
  CAF_CHECK_EQUAL(column_of(xs[0].id, "status"), "dead_lettered");
  CAF_CHECK(store->dead_letters().discard(t.id, xs[0].id, "spam", out)
            == change_result::done);
  CAF_CHECK_EQUAL(out.id, xs[0].id);
  CAF_CHECK_EQUAL(to_string(out.status), "discarded");
  CAF_CHECK_EQUAL(dlq_column(xs[0].id, "state"), "discarded");
  CAF_CHECK_EQUAL(last_event(xs[0].id), "dead_lettered>discarded:spam");
  notification seen;
  CAF_CHECK(store->dead_letters().discard(t.id, xs[0].id, "again", seen)
            == change_result::conflict);
  CAF_CHECK_EQUAL(to_string(seen.status), "discarded");
  CAF_CHECK(store->dead_letters().retry(t.id, xs[0].id, "late", seen)
            == change_result::conflict);
  CAF_CHECK_EQUAL(dlq_column(xs[0].id, "state"), "discarded");
  // A retried one cannot be discarded (it is back at work).
  CAF_CHECK(store->dead_letters().retry(t.id, xs[1].id, "fixed", out)
            == change_result::done);
  CAF_CHECK(store->dead_letters().discard(t.id, xs[1].id, "too late", seen)
            == change_result::conflict);
  CAF_CHECK_EQUAL(to_string(seen.status), "accepted");
  CAF_CHECK_EQUAL(dlq_column(xs[1].id, "state"), "retried");
}

CAF_TEST(replay requeues matching parked dead letters paced by rate) {
  auto t = new_tenant();
  auto other = new_tenant();
  auto a = new_owner();
  auto hooks = park(t.id, 5, a, "exhausted: 8 attempts", "webhook",
                    "https://h.example:443");
  auto mail = park(t.id, 2, a, "exhausted: 8 attempts", "email",
                   "smtp://mx:25");
  auto theirs = park(other.id, 1, a, "exhausted: 8 attempts", "webhook",
                     "https://h.example:443");
  // hooks[i] died i + 1 minutes ago: dead_at, not the id, orders a replay.
  for (size_t i = 0; i < hooks.size(); ++i)
    exec("UPDATE dead_letters SET dead_at = now() - interval '"
         + std::to_string(i + 1) + " minutes' WHERE notification_id = '"
         + hooks[i].id + "'");
  exec("UPDATE dead_letters SET dead_at = now() - interval '30 minutes'"
       " WHERE tenant_id = '" + t.id + "' AND channel = 'email'");
  // [4.5, 1.5) minutes ago: hooks[3], hooks[2], hooks[1], in that order.
  replay_request r;
  r.tenant_id = t.id;
  r.channel = "webhook";
  r.from_ms = now_ms() - 270000;
  r.to_ms = now_ms() - 90000;
  r.rate_per_sec = 4;
  r.reason = "replay after outage";
  auto res = store->dead_letters().replay(r);
  CAF_CHECK_EQUAL(res.count, 3);
  CAF_CHECK(res.first_due_ms > now_ms() - 60000);
  CAF_CHECK(res.first_due_ms <= now_ms());
  CAF_CHECK(res.last_due_ms - res.first_due_ms >= 499);
  CAF_CHECK(res.last_due_ms - res.first_due_ms <= 501);
  std::vector<int64_t> due;
  for (size_t i : {3, 2, 1}) {
    auto n = store->notifications().get(t.id, hooks[i].id);
    CAF_CHECK_EQUAL(to_string(n->status), "accepted");
    due.push_back(n->next_attempt_at_ms);
    CAF_CHECK_EQUAL(column_of(hooks[i].id, "attempts_base"),
                    column_of(hooks[i].id, "attempts"));
    CAF_CHECK_EQUAL(dlq_column(hooks[i].id, "state"), "retried");
    CAF_CHECK_EQUAL(last_event(hooks[i].id),
                    "dead_lettered>accepted:replay after outage");
  }
  CAF_CHECK_EQUAL(due.front(), res.first_due_ms);
  CAF_CHECK_EQUAL(due.back(), res.last_due_ms);
  for (size_t k = 1; k < due.size(); ++k) {
    CAF_CHECK(due[k] - due[k - 1] >= 249);
    CAF_CHECK(due[k] - due[k - 1] <= 251);
  }
  for (const auto* x : {&hooks[0], &hooks[4], &mail[0], &mail[1], &theirs[0]})
    CAF_CHECK_EQUAL(dlq_column(x->id, "state"), "parked");
  // Provider filter, any channel and time.
  replay_request by_provider;
  by_provider.tenant_id = t.id;
  by_provider.provider = "smtp://mx:25";
  CAF_CHECK_EQUAL(store->dead_letters().replay(by_provider).count, 2);
  CAF_CHECK_EQUAL(dlq_column(mail[1].id, "state"), "retried");
  // Limit: the oldest parked one left is hooks[4]; a limit of 0 means 1 and
  // a rate of 0 means 1/s.
  replay_request one;
  one.tenant_id = t.id;
  one.limit = 0;
  one.rate_per_sec = 0;
  auto single = store->dead_letters().replay(one);
  CAF_CHECK_EQUAL(single.count, 1);
  CAF_CHECK_EQUAL(single.first_due_ms, single.last_due_ms);
  CAF_CHECK_EQUAL(dlq_column(hooks[4].id, "state"), "retried");
  CAF_CHECK_EQUAL(dlq_column(hooks[0].id, "state"), "parked");
  // Nothing matching: zeros.
  replay_request none;
  none.tenant_id = t.id;
  none.channel = "sms";
  auto empty = store->dead_letters().replay(none);
  CAF_CHECK_EQUAL(empty.count, 0);
  CAF_CHECK_EQUAL(empty.first_due_ms, 0);
  CAF_CHECK_EQUAL(empty.last_due_ms, 0);
  // The other tenant's dead letter was never touched.
  CAF_CHECK_EQUAL(dlq_column(theirs[0].id, "state"), "parked");
  CAF_CHECK_EQUAL(column_of(theirs[0].id, "status"), "dead_lettered");
}

CAF_TEST(cancel stops open notifications and fences out late outcomes) {
  auto t = new_tenant();
  auto other = new_tenant();
  auto a = new_owner();
  auto xs = make_many(t.id, 5);
  store->notifications().insert({xs[0]}, lease_spec{});
  store->notifications().insert({xs[1], xs[2], xs[3], xs[4]}, a);
  set_row(xs[2].id, "status = 'sending'");
  set_row(xs[3].id, "status = 'retry_scheduled',"
                    " next_attempt_at = now() + interval '1 minute'");
  delivery_job done;
  done.n = xs[4];
  done.fence = 1;
  CAF_CHECK_EQUAL(store->delivery().record_outcomes(
                    {outcome(done, a.owner, "delivered")}),
                  0);
  const std::vector<std::string> from{"accepted", "queued", "sending",
                                      "retry_scheduled"};
  for (size_t i = 0; i < from.size(); ++i) {
    const auto fence = std::stoll(column_of(xs[i].id, "fence"));
    notification out;
    CAF_CHECK(
      store->notifications().cancel(t.id, xs[i].id, "user cancelled", out)
      == change_result::done);
    CAF_CHECK_EQUAL(out.id, xs[i].id);
    CAF_CHECK_EQUAL(to_string(out.status), "cancelled");
    CAF_CHECK_EQUAL(out.next_attempt_at_ms, 0);
    CAF_CHECK_EQUAL(column_of(xs[i].id, "lease_owner"), "");
    CAF_CHECK_EQUAL(column_of(xs[i].id, "lease_until"), "");
    CAF_CHECK_EQUAL(column_of(xs[i].id, "next_attempt_at"), "");
    CAF_CHECK_EQUAL(std::stoll(column_of(xs[i].id, "fence")), fence + 1);
    CAF_CHECK_EQUAL(last_event(xs[i].id),
                    from[i] + ">cancelled:user cancelled");
  }
  // Terminal: conflict, and the caller learns the status.
  notification seen;
  CAF_CHECK(store->notifications().cancel(t.id, xs[4].id, "too late", seen)
            == change_result::conflict);
  CAF_CHECK_EQUAL(seen.id, xs[4].id);
  CAF_CHECK_EQUAL(to_string(seen.status), "delivered");
  CAF_CHECK(store->notifications().cancel(t.id, xs[0].id, "twice", seen)
            == change_result::conflict);
  CAF_CHECK_EQUAL(to_string(seen.status), "cancelled");
  // Someone else's, unknown or malformed ids: not found.
  CAF_CHECK(store->notifications().cancel(other.id, xs[1].id, "r", seen)
            == change_result::not_found);
  CAF_CHECK(store->notifications().cancel(t.id, test_id(), "r", seen)
            == change_result::not_found);
  CAF_CHECK(store->notifications().cancel(t.id, "not-a-uuid", "r", seen)
            == change_result::not_found);
  // The sender that had xs[2] on the wire reports late: fenced out, the
  // attempt is recorded, the row stays cancelled.
  delivery_job wire;
  wire.n = xs[2];
  wire.fence = 1;
  CAF_CHECK_EQUAL(store->delivery().record_outcomes(
                    {outcome(wire, a.owner, "delivered")}),
                  1);
  auto n = store->notifications().get(t.id, xs[2].id);
  CAF_CHECK_EQUAL(to_string(n->status), "cancelled");
  CAF_CHECK_EQUAL(n->attempts, 0);
  CAF_CHECK_EQUAL(store->notifications().attempts(t.id, xs[2].id)->size(), 1u);
}

CAF_TEST(put_tenant creates then updates and keeps the secret) {
  tenant x;
  x.id = "test-" + random_hex(12);
  tenants.push_back(x.id);
  x.name = "Acme";
  x.rate_per_sec = 10;
  x.burst = 20;
  x.channels = {"email", "webhook"};
  x.webhook_secret = "whsec_first";
  auto created = store->tenants().put(x);
  CAF_CHECK(created.created);
  CAF_CHECK_EQUAL(created.value.id, x.id);
  CAF_CHECK_EQUAL(created.value.name, "Acme");
  CAF_CHECK_EQUAL(created.value.rate_per_sec, 10);
  CAF_CHECK_EQUAL(created.value.burst, 20);
  CAF_CHECK_EQUAL(created.value.channels, x.channels);
  CAF_CHECK_EQUAL(created.value.webhook_secret, "whsec_first");
  CAF_CHECK(created.value.created_at_ms > now_ms() - 60000);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  x.name = "Acme Corp";
  x.rate_per_sec = 50;
  x.burst = 0;
  x.channels = {};
  x.webhook_secret = "whsec_second";
  auto updated = store->tenants().put(x);
  CAF_CHECK(!updated.created);
  CAF_CHECK_EQUAL(updated.value.name, "Acme Corp");
  CAF_CHECK_EQUAL(updated.value.rate_per_sec, 50);
  CAF_CHECK_EQUAL(updated.value.burst, 0);
  CAF_CHECK(updated.value.channels.empty());
  CAF_CHECK_EQUAL(updated.value.webhook_secret, "whsec_first");
  CAF_CHECK_EQUAL(updated.value.created_at_ms, created.value.created_at_ms);
  CAF_CHECK(updated.value.updated_at_ms > created.value.updated_at_ms);
  auto got = store->tenants().get(x.id);
  CAF_REQUIRE(got.has_value());
  CAF_CHECK_EQUAL(got->name, "Acme Corp");
  CAF_CHECK_EQUAL(got->webhook_secret, "whsec_first");
  CAF_CHECK_EQUAL(got->updated_at_ms, updated.value.updated_at_ms);
  CAF_CHECK(!store->tenants().get("test-" + random_hex(12)).has_value());
  // A channel that does not exist is refused by the schema.
  x.channels = {"pigeon"};
  CAF_CHECK(throws<std::exception>([&] { store->tenants().put(x); }));
  CAF_CHECK(store->tenants().get(x.id)->channels.empty());
}

CAF_TEST(keys are created looked up and revoked) {
  auto t = new_tenant({"sms"});
  auto key_id = "key_" + random_hex(16);
  CAF_CHECK(
    !store->tenants().create_key("test-" + random_hex(12), key_id, "h"));
  CAF_CHECK(!store->tenants().lookup_key(key_id).has_value());
  CAF_CHECK(store->tenants().create_key(t.id, key_id, "abc123hash"));
  auto k = store->tenants().lookup_key(key_id);
  CAF_REQUIRE(k.has_value());
  CAF_CHECK_EQUAL(k->key_id, key_id);
  CAF_CHECK_EQUAL(k->key_hash, "abc123hash");
  CAF_CHECK(!k->revoked);
  CAF_CHECK_EQUAL(k->owner.id, t.id);
  CAF_CHECK_EQUAL(k->owner.webhook_secret, t.webhook_secret);
  CAF_CHECK_EQUAL(k->owner.channels, std::vector<std::string>{"sms"});
  auto other = new_tenant();
  CAF_CHECK(!store->tenants().revoke_key(other.id, key_id));
  CAF_CHECK(!store->tenants().lookup_key(key_id)->revoked);
  CAF_CHECK(store->tenants().revoke_key(t.id, key_id));
  CAF_CHECK(store->tenants().lookup_key(key_id)->revoked);
  CAF_CHECK(!store->tenants().revoke_key(t.id, "key_" + random_hex(16)));
}

// -- idempotency keys ---------------------------------------------------------

CAF_TEST(idempotency key and hash round trip) {
  auto t = new_tenant();
  auto x = make(t.id);
  x.idempotency_key = "order-" + random_hex(8) + " with space/and:colons";
  x.idempotency_hash = std::string(64, 'a');
  auto keyless = make(t.id);
  keyless.idempotency_hash = std::string(64, 'b'); // no key: hash dropped
  auto hashless = make(t.id);
  hashless.idempotency_key = "k-" + random_hex(8);
  store->notifications().insert({x, keyless, hashless}, lease_spec{});
  auto got = store->notifications().get(t.id, x.id);
  CAF_REQUIRE(got.has_value());
  CAF_CHECK_EQUAL(got->idempotency_key, x.idempotency_key);
  CAF_CHECK_EQUAL(got->idempotency_hash, x.idempotency_hash);
  CAF_CHECK_EQUAL(hash_of(t.id, keyless.id), "");
  CAF_CHECK_EQUAL(key_of(t.id, hashless.id), hashless.idempotency_key);
  notification_query q;
  q.tenant_id = t.id;
  auto page = store->notifications().list(q);
  CAF_REQUIRE_EQUAL(page.items.size(), 3u);
  CAF_CHECK_EQUAL(page.items[2].idempotency_key, x.idempotency_key);
  CAF_CHECK_EQUAL(page.items[2].idempotency_hash, x.idempotency_hash);
  auto rec = store->idempotency().lookup(t.id, x.idempotency_key);
  CAF_REQUIRE(rec.has_value());
  CAF_CHECK_EQUAL(rec->notification_id, x.id);
  CAF_CHECK_EQUAL(rec->request_hash, x.idempotency_hash);
  // Default retention: 24 h after created_at.
  CAF_CHECK_EQUAL(rec->expires_at_ms, x.created_at_ms + 24 * 3600 * 1000);
  auto bare = store->idempotency().lookup(t.id, hashless.idempotency_key);
  CAF_REQUIRE(bare.has_value());
  CAF_CHECK_EQUAL(bare->request_hash, "");
  // Claims carry the key too.
  auto owner = new_owner();
  auto leased = make(t.id);
  leased.idempotency_key = "leased-" + random_hex(8);
  leased.idempotency_hash = std::string(64, 'c');
  store->notifications().insert({leased}, owner);
  // The four rows of this test sort first (see the top of the file).
  auto claimed = store->delivery().claim(owner, 4, true);
  CAF_REQUIRE_EQUAL(claimed.size(), 4u);
  CAF_CHECK_EQUAL(claimed[0].n.id, x.id);
  CAF_CHECK_EQUAL(claimed[0].n.idempotency_key, x.idempotency_key);
  CAF_CHECK_EQUAL(claimed[0].n.idempotency_hash, x.idempotency_hash);
  CAF_CHECK_EQUAL(claimed[0].fence, 1);
  CAF_CHECK_EQUAL(claimed[3].n.id, leased.id);
  CAF_CHECK_EQUAL(claimed[3].n.idempotency_key, leased.idempotency_key);
  CAF_CHECK_EQUAL(claimed[3].fence, 2);
  CAF_CHECK_EQUAL(claimed[3].signing_secret, t.webhook_secret);
}

CAF_TEST(a taken idempotency key refuses the whole batch as a conflict) {
  auto t = new_tenant();
  auto a = make(t.id);
  a.idempotency_key = "dup-" + random_hex(8);
  a.idempotency_hash = std::string(64, '1');
  // Twice in one batch: nothing of the batch is written.
  auto twin = make(t.id);
  twin.idempotency_key = a.idempotency_key;
  auto bystander = make(t.id);
  CAF_CHECK(throws<conflict_error>([&] {
    store->notifications().insert({bystander, a, twin}, lease_spec{});
  }));
  for (const auto& x : {a, twin, bystander})
    CAF_CHECK(!store->notifications().get(t.id, x.id).has_value());
  CAF_CHECK(!store->idempotency().lookup(t.id, a.idempotency_key).has_value());
  // Across batches: the later batch is refused entirely, leased or not.
  store->notifications().insert({a}, lease_spec{});
  auto late = make(t.id);
  late.idempotency_key = a.idempotency_key;
  late.idempotency_hash = std::string(64, '2');
  auto other = make(t.id);
  other.idempotency_key = "fresh-" + random_hex(8);
  CAF_CHECK(throws<conflict_error>([&] {
    store->notifications().insert({other, late, bystander}, lease_spec{});
  }));
  CAF_CHECK(throws<conflict_error>(
    [&] { store->notifications().insert({late}, new_owner()); }));
  for (const auto& x : {late, other, bystander})
    CAF_CHECK(!store->notifications().get(t.id, x.id).has_value());
  CAF_CHECK(!store->idempotency().lookup(t.id, other.idempotency_key)
               .has_value());
  auto rec = store->idempotency().lookup(t.id, a.idempotency_key);
  CAF_REQUIRE(rec.has_value());
  CAF_CHECK_EQUAL(rec->notification_id, a.id);
  CAF_CHECK_EQUAL(rec->request_hash, a.idempotency_hash);
  // Retried alone, the innocent rows go through (what the writer does).
  store->notifications().insert({other}, lease_spec{});
  store->notifications().insert({bystander}, lease_spec{});
  CAF_CHECK(store->notifications().get(t.id, other.id).has_value());
  // The same key for another tenant is another key.
  auto u = new_tenant();
  auto theirs = make(u.id);
  theirs.idempotency_key = a.idempotency_key;
  store->notifications().insert({theirs}, lease_spec{});
  CAF_CHECK_EQUAL(holder_of(u.id, a.idempotency_key), theirs.id);
  CAF_CHECK_EQUAL(holder_of(t.id, a.idempotency_key), a.id);
  // A duplicate id is a unique violation too, but no key conflict.
  auto dup_id = make(t.id);
  dup_id.id = a.id;
  bool conflict = false, other_error = false;
  try {
    store->notifications().insert({dup_id}, lease_spec{});
  } catch (const conflict_error&) {
    conflict = true;
  } catch (const std::exception&) {
    other_error = true;
  }
  CAF_CHECK(!conflict);
  CAF_CHECK(other_error);
}

CAF_TEST(lookup_idempotency sees only live keys of the tenant) {
  auto t = new_tenant();
  auto x = make(t.id);
  x.idempotency_key = "live-" + random_hex(8);
  x.idempotency_hash = std::string(64, 'd');
  store->notifications().insert({x}, lease_spec{});
  CAF_CHECK(store->idempotency().lookup(t.id, x.idempotency_key).has_value());
  CAF_CHECK(!store->idempotency().lookup(t.id, "unknown-" + random_hex(8))
               .has_value());
  CAF_CHECK(!store->idempotency().lookup(new_tenant().id, x.idempotency_key)
               .has_value());
  CAF_CHECK(!store->idempotency().lookup(t.id, "").has_value());
  age(x.id, 23.9);
  CAF_CHECK(store->idempotency().lookup(t.id, x.idempotency_key).has_value());
  age(x.id, 24.1);
  CAF_CHECK(!store->idempotency().lookup(t.id, x.idempotency_key).has_value());
  // The row itself is still there, with the record of its key.
  CAF_CHECK_EQUAL(key_of(t.id, x.id), x.idempotency_key);
}

CAF_TEST(an expired key may be reused before the purge reached it) {
  auto t = new_tenant();
  auto old = make(t.id);
  old.idempotency_key = "reuse-" + random_hex(8);
  old.idempotency_hash = std::string(64, 'e');
  store->notifications().insert({old}, lease_spec{});
  age(old.id, 25);
  auto fresh = make(t.id);
  fresh.idempotency_key = old.idempotency_key;
  fresh.idempotency_hash = std::string(64, 'f');
  store->notifications().insert({fresh}, lease_spec{});
  auto rec = store->idempotency().lookup(t.id, fresh.idempotency_key);
  CAF_REQUIRE(rec.has_value());
  CAF_CHECK_EQUAL(rec->notification_id, fresh.id);
  CAF_CHECK_EQUAL(rec->request_hash, fresh.idempotency_hash);
  // The old notification keeps the record of the key it was created with.
  auto forgotten = store->notifications().get(t.id, old.id);
  CAF_REQUIRE(forgotten.has_value());
  CAF_CHECK_EQUAL(forgotten->idempotency_key, old.idempotency_key);
  CAF_CHECK_EQUAL(forgotten->idempotency_hash, old.idempotency_hash);
  // A live key is not taken over.
  auto third = make(t.id);
  third.idempotency_key = old.idempotency_key;
  CAF_CHECK(throws<conflict_error>(
    [&] { store->notifications().insert({third}, lease_spec{}); }));
}

CAF_TEST(retention is per tenant and never below 24 hours) {
  auto t = new_tenant();
  auto stored = store->tenants().get(t.id);
  CAF_REQUIRE(stored.has_value());
  CAF_CHECK_EQUAL(stored->idempotency_retention_hours, 0);
  // tenants().put writes it, get and lookup_key read it.
  tenant changed = *stored;
  changed.idempotency_retention_hours = 72;
  auto put = store->tenants().put(changed);
  CAF_CHECK(!put.created);
  CAF_CHECK_EQUAL(put.value.idempotency_retention_hours, 72);
  CAF_CHECK_EQUAL(retention_of(t.id), 72);
  auto key_id = "key_" + random_hex(16);
  CAF_REQUIRE(store->tenants().create_key(t.id, key_id, "h"));
  auto owner_key = store->tenants().lookup_key(key_id);
  CAF_REQUIRE(owner_key.has_value());
  CAF_CHECK_EQUAL(owner_key->owner.idempotency_retention_hours, 72);
  tenant created;
  created.id = "test-" + random_hex(12);
  tenants.push_back(created.id);
  created.name = "Short";
  created.webhook_secret = "whsec_" + random_hex(32);
  created.idempotency_retention_hours = 1; // less than the contract
  auto short_put = store->tenants().put(created);
  CAF_CHECK(short_put.created);
  CAF_CHECK_EQUAL(short_put.value.idempotency_retention_hours, 1);
  // Out of range: refused by the schema, the stored value stays.
  changed.idempotency_retention_hours = -1;
  CAF_CHECK(throws<std::exception>([&] { store->tenants().put(changed); }));
  changed.idempotency_retention_hours = 87601;
  CAF_CHECK(throws<std::exception>([&] { store->tenants().put(changed); }));
  CAF_CHECK_EQUAL(retention_of(t.id), 72);
  // 72 h: alive at 71 h, gone at 73 h.
  auto x = make(t.id);
  x.idempotency_key = "ret-" + random_hex(8);
  store->notifications().insert({x}, lease_spec{});
  age(x.id, 71);
  auto rec = store->idempotency().lookup(t.id, x.idempotency_key);
  CAF_REQUIRE(rec.has_value());
  CAF_CHECK(rec->expires_at_ms > now_ms() + 3600 * 1000 - 60000);
  CAF_CHECK(rec->expires_at_ms < now_ms() + 3600 * 1000 + 60000);
  age(x.id, 73);
  CAF_CHECK(!store->idempotency().lookup(t.id, x.idempotency_key).has_value());
  // 1 h means 24 h: alive at 23 h.
  auto y = make(created.id);
  y.idempotency_key = "short-" + random_hex(8);
  store->notifications().insert({y}, lease_spec{});
  age(y.id, 23);
  CAF_CHECK(store->idempotency().lookup(created.id, y.idempotency_key)
              .has_value());
  age(y.id, 25);
  CAF_CHECK(!store->idempotency().lookup(created.id, y.idempotency_key)
               .has_value());
  // Lowering the retention applies to keys already stored.
  changed.idempotency_retention_hours = 0;
  store->tenants().put(changed);
  auto z = make(t.id);
  z.idempotency_key = "lowered-" + random_hex(8);
  store->notifications().insert({z}, lease_spec{});
  age(z.id, 30);
  CAF_CHECK(!store->idempotency().lookup(t.id, z.idempotency_key).has_value());
}

CAF_TEST(migration 7 moves keys stored on notifications to their table) {
  // The migrations up to 6 in a schema of their own, inside a transaction
  // that is rolled back: a database as it was before keys had a table.
  pqxx::work tx{*admin};
  auto schema = "m7_" + random_hex(8);
  tx.exec("CREATE SCHEMA " + schema);
  tx.exec("SET LOCAL search_path = " + schema);
  const migration* seventh = nullptr;
  for (const auto& m : migrations()) {
    if (m.version <= 6)
      tx.exec(m.sql);
    else if (m.version == 7)
      seventh = &m;
  }
  CAF_REQUIRE(seventh != nullptr);
  tx.exec("INSERT INTO tenants (id, name, webhook_secret)"
          " VALUES ('t1', 'T', 's')");
  auto id = test_id();
  auto bare_id = test_id();
  tx.exec("INSERT INTO notifications (id, tenant_id, channel, to_addr, body,"
          " status, idempotency_key, idempotency_hash, created_at) VALUES ("
          + tx.quote(id) + ", 't1', 'sms', '+1', 'b', 'delivered', 'k1',"
          " 'h1', '2026-01-02 03:04:05+00'), ("
          + tx.quote(bare_id) + ", 't1', 'sms', '+1', 'b', 'accepted', NULL,"
          " NULL, now())");
  tx.exec(seventh->sql);
  auto r = tx.exec("SELECT tenant_id, key, request_hash, notification_id::text,"
                   " created_at = '2026-01-02 03:04:05+00' FROM idempotency_keys");
  CAF_REQUIRE_EQUAL(r.size(), 1u);
  CAF_CHECK_EQUAL(r[0][0].as<std::string>(), "t1");
  CAF_CHECK_EQUAL(r[0][1].as<std::string>(), "k1");
  CAF_CHECK_EQUAL(r[0][2].as<std::string>(), "h1");
  CAF_CHECK_EQUAL(r[0][3].as<std::string>(), id);
  CAF_CHECK(r[0][4].as<bool>());
  // The old indexes are gone; the key stays on its notification as a record.
  CAF_CHECK_EQUAL(tx.exec("SELECT count(*) FROM pg_indexes WHERE schemaname = "
                          + tx.quote(schema)
                          + " AND indexname LIKE 'notifications_idempotency%'")[0][0]
                    .as<int>(),
                  0);
  CAF_CHECK_EQUAL(tx.exec("SELECT idempotency_key FROM notifications WHERE id = "
                          + tx.quote(id))[0][0]
                    .as<std::string>(),
                  "k1");
  tx.abort();
}

CAF_TEST(purge forgets only expired keys in small batches) {
  auto t = new_tenant();
  auto longer = new_tenant();
  {
    tenant l = *store->tenants().get(longer.id);
    l.idempotency_retention_hours = 48;
    store->tenants().put(l);
  }
  auto expired = make_many(t.id, 7);
  auto live = make_many(t.id, 3);
  auto kept_longer = make(longer.id);
  auto keyless_old = make(t.id);
  for (auto* xs : {&expired, &live})
    for (auto& x : *xs) {
      x.idempotency_key = "purge-" + random_hex(10);
      x.idempotency_hash = std::string(64, '9');
    }
  kept_longer.idempotency_key = "purge-" + random_hex(10);
  auto all = expired;
  all.insert(all.end(), live.begin(), live.end());
  all.push_back(keyless_old);
  store->notifications().insert(all, lease_spec{});
  store->notifications().insert({kept_longer}, lease_spec{});
  for (auto& x : expired)
    age(x.id, 30);
  age(keyless_old.id, 30);
  age(kept_longer.id, 30);
  for (size_t i = 0; i < live.size(); ++i)
    age(live[i].id, 20 + static_cast<double>(i));
  // One key is locked by a concurrent transaction: skipped, not waited for.
  pqxx::connection locker{url};
  pqxx::work lock_tx{locker};
  lock_tx.exec("SELECT 1 FROM idempotency_keys WHERE notification_id = "
               + lock_tx.quote(expired[6].id) + " FOR UPDATE");
  // max_batches bounds one call; 7 expired rows (at least: the database is
  // shared) take several batches of 3.
  CAF_CHECK_EQUAL(store->idempotency().purge(3, 1), 3);
  auto purged = store->idempotency().purge(3);
  CAF_CHECK(purged >= 3);
  for (size_t i = 0; i < 6; ++i) {
    CAF_CHECK_EQUAL(stored_key_count(t.id, expired[i].idempotency_key), 0);
    auto n = store->notifications().get(t.id, expired[i].id);
    CAF_REQUIRE(n.has_value());
    // The notification is untouched and keeps the record of its key.
    CAF_CHECK_EQUAL(n->idempotency_key, expired[i].idempotency_key);
    CAF_CHECK_EQUAL(n->idempotency_hash, expired[i].idempotency_hash);
    CAF_CHECK_EQUAL(to_string(n->status), "accepted");
  }
  CAF_CHECK_EQUAL(stored_key_count(t.id, expired[6].idempotency_key), 1);
  lock_tx.commit();
  CAF_CHECK(store->idempotency().purge(1000) >= 1);
  CAF_CHECK_EQUAL(stored_key_count(t.id, expired[6].idempotency_key), 0);
  for (auto& x : live) {
    auto rec = store->idempotency().lookup(t.id, x.idempotency_key);
    CAF_REQUIRE(rec.has_value());
    CAF_CHECK_EQUAL(rec->notification_id, x.id);
  }
  CAF_CHECK_EQUAL(holder_of(longer.id, kept_longer.idempotency_key), kept_longer.id);
  CAF_CHECK(store->notifications().get(t.id, keyless_old.id).has_value());
  // Nothing left to do; bad batch sizes do nothing.
  CAF_CHECK_EQUAL(store->idempotency().purge(1000), 0);
  CAF_CHECK_EQUAL(store->idempotency().purge(0), 0);
  // A purged key can be used again.
  auto reuse = make(t.id);
  reuse.idempotency_key = expired[0].idempotency_key;
  reuse.idempotency_hash = std::string(64, '8');
  store->notifications().insert({reuse}, lease_spec{});
  auto rec = store->idempotency().lookup(t.id, reuse.idempotency_key);
  CAF_REQUIRE(rec.has_value());
  CAF_CHECK_EQUAL(rec->notification_id, reuse.id);
}

CAF_TEST(an unreachable database is reported as db_unavailable_error) {
  pg_store down{"postgresql://postgres@127.0.0.1:1/herald"};
  CAF_CHECK(!down.ping());
  CAF_CHECK(throws<db_unavailable_error>([&] { down.migrate(); }));
  CAF_CHECK(throws<db_unavailable_error>(
    [&] { down.notifications().get("t", test_id()); }));
  CAF_CHECK(throws<db_unavailable_error>(
    [&] { down.notifications().insert({make("t")}, lease_spec{}); }));
  CAF_CHECK(throws<db_unavailable_error>(
    [&] { down.delivery().claim(lease_spec{"n", 1000}, 10, false); }));
  CAF_CHECK(throws<db_unavailable_error>([&] { down.tenants().get("t"); }));
}

CAF_TEST(a lost connection is reported and the same instance recovers) {
  auto app = "herald-test-" + random_hex(8);
  pg_store s{with_param(url, "application_name=" + app)};
  auto t = new_tenant();
  auto x = make(t.id);
  s.notifications().insert({x}, lease_spec{});
  CAF_CHECK(s.ping());
  auto kill = [&] {
    pqxx::nontransaction tx{*admin};
    auto r = tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE application_name = "
                     + tx.quote(app));
    return r.size();
  };
  CAF_REQUIRE_EQUAL(kill(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The first call sees the broken connection, the next one reconnects.
  CAF_CHECK(throws<db_unavailable_error>(
    [&] { s.notifications().get(t.id, x.id); }));
  auto again = s.notifications().get(t.id, x.id);
  CAF_CHECK(again.has_value());
  // Same for a write: nothing half-written, then it works again.
  CAF_REQUIRE_EQUAL(kill(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto y = make(t.id);
  CAF_CHECK(throws<db_unavailable_error>(
    [&] { s.notifications().insert({y}, lease_spec{}); }));
  CAF_CHECK(!s.notifications().get(t.id, y.id).has_value());
  s.notifications().insert({y}, lease_spec{});
  CAF_CHECK(s.notifications().get(t.id, y.id).has_value());
  // ping() reconnects by itself and never throws.
  CAF_REQUIRE_EQUAL(kill(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  s.ping();
  CAF_CHECK(s.ping());
}

CAF_TEST_FIXTURE_SCOPE_END()

#include <caf/test/unit_test_impl.hpp>
