// herald-key-insert-bench: what writing idempotency keys costs PostgreSQL
// per transaction, by the way they are sent. bench/RESULTS-guards.md
// ("2026-12-03, evening") has the figures and the command.
//
// Each transaction writes K keys into a scratch copy of idempotency_keys
// (0007_idempotency_keys_table.sql), as the writer's transaction does for K
// keyed notifications, with synchronous_commit off so that the figures are
// CPU and not the WAL flush:
//   none    BEGIN, SELECT now (db_now_ms), COMMIT: the plain transaction
//   unnest  BEGIN, the insert_keys statement (unnest of five text arrays,
//           it answers now as well), COMMIT: what notification_store::insert
//           does
//   copy    BEGIN, SELECT now, a binary COPY of the keys, COMMIT
// Index (env HERALD_KEY_INDEX): btree (the schema's created_at index), brin,
// none. Collation of the key columns (env HERALD_KEY_COLLATE): the
// database's default, or e.g. C.
//
// Prints per transaction: wall time, the server backend's CPU (from
// /proc/<pid>/stat, so the server must run on this machine) and our CPU.
//
//   herald-key-insert-bench URL K TRANSACTIONS MODE

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <libpq-fe.h>
#include <sys/resource.h>
#include <unistd.h>

#include "persistence/copy_binary.hpp"
#include "persistence/sql/idempotency.hpp"

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "herald-key-insert-bench: %s\n", what.c_str());
  std::exit(1);
}

void check(PGconn* c, PGresult* r) {
  auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    die(msg.empty() ? PQerrorMessage(c) : msg);
  }
  PQclear(r);
}

void exec(PGconn* c, const char* sql) {
  check(c, PQexec(c, sql));
}

/// utime + stime of a process on this machine, in seconds.
double process_cpu(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  if (close == std::string::npos)
    die("cannot read /proc/" + std::to_string(pid)
        + "/stat (is the server on this machine?)");
  std::istringstream fields{line.substr(close + 2)};
  std::string x;
  double utime = 0;
  double stime = 0;
  // After the name: state is field 3; utime and stime are 14 and 15.
  for (int i = 3; i <= 15 && fields >> x; ++i) {
    if (i == 14)
      utime = std::stod(x);
    if (i == 15)
      stime = std::stod(x);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
         + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i)
    out += (i > 0 ? ",\"" : "\"") + xs[i] + '"';
  return out + '}';
}

/// The scratch table; `collate` names the collation of the primary key's
/// columns ("" for the database's default).
std::string table_sql(const std::string& collate) {
  auto text = collate.empty() ? std::string{"text"}
                              : "text COLLATE \"" + collate + "\"";
  return "CREATE TABLE bench_idempotency_keys ("
         " tenant_id " + text + " NOT NULL, key " + text + " NOT NULL,"
         " request_hash text, notification_id uuid NOT NULL,"
         " created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, key))";
}

constexpr const char* k_copy =
  "COPY bench_idempotency_keys (tenant_id, key, request_hash,"
  " notification_id, created_at) FROM STDIN (FORMAT binary)";

} // namespace

int main(int argc, char** argv) {
  if (argc != 5)
    die("usage: herald-key-insert-bench URL K TRANSACTIONS none|unnest|copy");
  const int keys = std::atoi(argv[2]);
  const int transactions = std::atoi(argv[3]);
  const std::string mode = argv[4];
  if (keys < 1 || transactions < 1
      || (mode != "none" && mode != "unnest" && mode != "copy"))
    die("K and TRANSACTIONS must be positive, MODE none, unnest or copy");
  const char* index_env = std::getenv("HERALD_KEY_INDEX");
  const std::string index = index_env != nullptr ? index_env : "btree";
  PGconn* c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK)
    die(PQerrorMessage(c));
  exec(c, "SET client_min_messages = warning");
  exec(c, "SET synchronous_commit = off");
  exec(c, "DROP TABLE IF EXISTS bench_idempotency_keys");
  const char* collate_env = std::getenv("HERALD_KEY_COLLATE");
  const std::string collate = collate_env != nullptr ? collate_env : "";
  exec(c, table_sql(collate).c_str());
  if (index == "btree")
    exec(c, "CREATE INDEX ON bench_idempotency_keys (created_at)");
  else if (index == "brin")
    exec(c, "CREATE INDEX ON bench_idempotency_keys USING brin (created_at)");
  else if (index != "none")
    die("HERALD_KEY_INDEX must be btree, brin or none");
  const auto insert_keys =
    herald::sql::insert_keys_statement("bench_idempotency_keys");
  check(c, PQprepare(c, "insert_keys", insert_keys.c_str(), 5, nullptr));
  check(c, PQprepare(c, "now_ms",
                     "SELECT (extract(epoch FROM now()) * 1000)::bigint", 0,
                     nullptr));
  const std::string hash(64, 'a');
  const int64_t created_ms = 1764770000000;
  long serial = 0;
  const int backend = PQbackendPID(c);
  const double server0 = process_cpu(backend);
  const double own0 = own_cpu();
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < transactions; ++t) {
    std::vector<std::string> tenants, names, hashes, ids, created;
    for (int k = 0; k < keys; ++k) {
      ++serial;
      char id[40];
      std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llx",
                    static_cast<unsigned long long>(serial) & 0xffffffffffffull);
      tenants.emplace_back("tenant-bench");
      names.push_back("key-" + std::to_string(serial));
      hashes.push_back(hash);
      ids.emplace_back(id);
      created.push_back(std::to_string(created_ms));
    }
    exec(c, "BEGIN");
    if (mode == "unnest") {
      const std::string arrays[] = {text_array(tenants), text_array(names),
                                    text_array(hashes), text_array(ids),
                                    text_array(created)};
      const char* params[5];
      for (int i = 0; i < 5; ++i)
        params[i] = arrays[i].c_str();
      check(c, PQexecPrepared(c, "insert_keys", 5, params, nullptr, nullptr, 0));
    } else {
      check(c, PQexecPrepared(c, "now_ms", 0, nullptr, nullptr, nullptr, 0));
    }
    if (mode == "copy") {
      PGresult* r = PQexec(c, k_copy);
      if (PQresultStatus(r) != PGRES_COPY_IN)
        die(PQresultErrorMessage(r));
      PQclear(r);
      herald::copy_binary w;
      for (int k = 0; k < keys; ++k) {
        w.row(5);
        w.text(tenants[k]);
        w.text(names[k]);
        w.text(hashes[k]);
        if (!w.uuid(ids[k]))
          die("bad uuid " + ids[k]);
        w.timestamptz_ms(created_ms);
      }
      w.finish();
      const auto& bytes = w.data();
      if (PQputCopyData(c, bytes.data(), static_cast<int>(bytes.size())) != 1
          || PQputCopyEnd(c, nullptr) != 1)
        die(PQerrorMessage(c));
      while (PGresult* x = PQgetResult(c))
        check(c, x);
    }
    exec(c, "COMMIT");
  }
  const double wall
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count();
  const double server = process_cpu(backend) - server0;
  const double own = own_cpu() - own0;
  std::printf("mode=%s index=%s collate=%s keys=%d transactions=%d us_wall=%.1f "
              "us_server=%.1f us_client=%.1f\n",
              mode.c_str(), index.c_str(),
              collate.empty() ? "default" : collate.c_str(), keys, transactions,
              wall / transactions * 1e6, server / transactions * 1e6,
              own / transactions * 1e6);
  exec(c, "DROP TABLE bench_idempotency_keys");
  PQfinish(c);
}
