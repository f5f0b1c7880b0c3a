#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"

namespace herald {

struct writer_settings {
  int max_batch = 2000;                           // rows per transaction
  caf::timespan timeout = std::chrono::seconds(10); // per commit
  /// Rows due within this many ms (no send_at, or send_at up to now + this)
  /// are leased at insert and handed to the dispatcher; later ones are left
  /// to a sweeper. Same value as the claim horizon (herald.retry.horizon).
  int64_t lease_horizon_ms = 10000;
  /// While a transaction is in flight, another one starts on an idle
  /// connection only once this many rows wait; until then they wait for
  /// the commit in flight and go together. Small transactions side by side
  /// cost the database per transaction, and fewer rows wait for each.
  int parallel_rows = 100;
  /// This node's name: rows leased to its own dispatcher carry it.
  std::string node;
};

/// Whether the writer starts a transaction now, with `in_flight`
/// transactions running and `waiting_rows` rows waiting (an idle
/// connection assumed).
inline bool start_commit_now(size_t in_flight, size_t waiting_rows,
                             const writer_settings& s) {
  return waiting_rows > 0
         && (in_flight == 0
             || waiting_rows >= static_cast<size_t>(std::max(s.parallel_rows, 1)));
}

struct writer_state {
  static inline const char* name = "writer";

  /// One submit request waiting for its commit.
  struct pending {
    std::vector<delivery_job> jobs;
    caf::typed_response_promise<bool> rp;
    /// Commit this request in a transaction of its own: its batch was refused
    /// by a unique constraint (an idempotency key taken elsewhere), and the
    /// other requests of that batch must not fail with it.
    bool solo = false;
  };

  std::vector<pending> waiting;       // not yet handed to a connection
  size_t waiting_rows = 0;
  std::vector<store_actor> idle;      // connections with no commit in flight
  size_t connections = 0;
  dispatcher_actor dispatcher;        // gets leased jobs after their commit
  /// Without a dispatcher of its own (ingest-only node): the cluster's
  /// workers, from the cluster actor, and the credits used since.
  std::shared_ptr<const owner_table> table;
  std::map<std::string, int64_t> spent;
  writer_settings settings;
  // Counters for the admin endpoint and the benchmark notes.
  uint64_t commits = 0;
  uint64_t rows = 0;
  uint64_t failed_commits = 0;
  uint64_t conflicts = 0;             // batches split after a unique violation
  size_t largest_batch = 0;
};

/// The group-commit writer. Requests that arrive while a commit is in flight
/// wait and then share the next transaction; each is answered only after its
/// own transaction committed. `connections` are store workers reserved for
/// writing (so reads never delay acknowledgements).
writer_actor::behavior_type
writer(writer_actor::stateful_pointer<writer_state> self,
       std::vector<store_actor> connections, dispatcher_actor dispatcher,
       writer_settings settings);

} // namespace herald
