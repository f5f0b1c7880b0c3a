#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/messages.hpp"
#include "persistence/store_types.hpp"

namespace herald {

/// Leases on notifications (claim, renew, release) and the outcomes of
/// their delivery. Part of a pg_store (db.delivery()), on its connection;
/// its statements are in persistence/sql/delivery.hpp.
class delivery_store {
public:
  explicit delivery_store(pg_store& db) : db_(db) {
  }

  /// Claims up to `limit` non-terminal notifications due within
  /// lease.horizon_ms (send_at and next_attempt_at both NULL or <= now +
  /// horizon) whose lease is free or expired (or, with `reclaim_own`, held
  /// by `lease.owner`: a node restarting takes back what its previous
  /// incarnation held). Sets lease_owner, lease_until = now + ttl, fence =
  /// fence + 1 and status 'queued' (a 'retry_scheduled' row not due yet
  /// keeps its status), using FOR UPDATE SKIP LOCKED so concurrent claimers
  /// never share a row. Returns the jobs with the tenant's signing secret
  /// and budget_used = attempts - attempts_base, oldest first.
  std::vector<delivery_job> claim(const lease_spec& lease, int limit,
                                  bool reclaim_own);

  /// Extends the lease of every non-terminal row held by `lease.owner`.
  /// Returns the number of rows renewed.
  int64_t renew(const lease_spec& lease);

  /// Hands back this owner's leased rows that are not being sent: 'queued'
  /// ones become 'accepted', 'retry_scheduled' ones keep their status and
  /// next_attempt_at; the lease is cleared, so another node or the next
  /// start takes them (graceful shutdown). Returns how many.
  int64_t release(const lease_spec& lease);

  /// Takes over the leases of `owner`, a node that is down: its open rows
  /// ('sending' too) are freed with fence + 1 ('queued' and 'sending'
  /// become 'accepted'; 'retry_scheduled' keeps its time), so the node can
  /// no longer record outcomes for them and any sweeper claims them.
  /// Returns how many.
  int64_t take_over(const std::string& owner);

  /// Records outcomes in one transaction. Per outcome: a delivery_attempts
  /// row unless outcome == "deferred" (no call was made) or its non-empty
  /// attempt_key was recorded before (then the outcome changes nothing: a
  /// batch sent again after a timeout is not counted twice). For outcomes
  /// whose fence still matches a row in 'queued', 'sending' or
  /// 'retry_scheduled': status = o.status (delivered | retry_scheduled |
  /// dead_lettered), attempts + the number of non-deferred outcomes for the
  /// row in this batch, last_error, next_attempt_at (retry_scheduled:
  /// o.next_attempt_ms, else NULL), delivered_at, status_reason = o.reason;
  /// the lease is kept if o.keep_lease (retry_scheduled only), else cleared.
  /// dead_lettered also writes the dead_letters row (parked again if it
  /// was retried before). Every status change lands in notification_events.
  /// Returns how many outcomes were fenced out (a newer holder owns the row).
  int64_t record_outcomes(const std::vector<delivery_decision>& xs);

  /// A delivery receipt: the delivered notification whose provider message
  /// id is one of `message_ids` and whose delivering attempt went through
  /// `provider` becomes `status` (bounced | failed) with `reason` (the
  /// transition is logged in notification_events). Returns the ids moved;
  /// empty if none matched (unknown id, another provider's message, or not
  /// delivered any more: a second receipt changes nothing).
  std::vector<std::string> apply_receipt(const std::string& provider,
                                         const std::vector<std::string>& message_ids,
                                         const std::string& status,
                                         const std::string& reason);

private:
  pg_store& db_;
};

} // namespace herald
