#include "persistence/delivery_store.hpp"

#include <algorithm>
#include <stdexcept>

#include <pqxx/pqxx>
#include <nlohmann/json.hpp>

#include "core/ids.hpp"
#include "persistence/detail/guarded.hpp"
#include "persistence/detail/rows.hpp"
#include "persistence/sql/delivery.hpp"

namespace herald {

namespace {

using detail::row_to_notification;
using detail::text_array;

template <class T>
std::string number_array(const std::vector<T>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(xs[i]);
  }
  out += '}';
  return out;
}

} // namespace

std::vector<delivery_job> delivery_store::claim(const lease_spec& lease,
                                                int limit, bool reclaim_own) {
  if (lease.owner.empty())
    throw std::invalid_argument("delivery_store::claim: lease owner is empty");
  if (limit <= 0)
    return {};
  return db_.guarded("claim", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("claim", lease.owner, lease.ttl_ms, reclaim_own,
                              limit, std::max<int64_t>(0, lease.horizon_ms));
    tx.commit();
    std::vector<delivery_job> jobs;
    jobs.reserve(r.size());
    constexpr auto at = sql::k_notification_column_count;
    for (const auto& row : r) {
      delivery_job job;
      job.n = row_to_notification(row);
      job.fence = row[at].as<int64_t>();
      job.signing_secret = row[at + 1].as<std::string>();
      job.budget_used = row[at + 2].as<int32_t>();
      job.email_from = row[at + 3].as<std::string>();
      job.email_reply_to = row[at + 4].as<std::string>();
      jobs.push_back(std::move(job));
    }
    return jobs;
  });
}

int64_t delivery_store::renew(const lease_spec& lease) {
  if (lease.owner.empty())
    return 0;
  return db_.guarded("renew_leases", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("renew_leases", lease.owner, lease.ttl_ms);
    tx.commit();
    return static_cast<int64_t>(r.affected_rows());
  });
}

int64_t delivery_store::release(const lease_spec& lease) {
  if (lease.owner.empty())
    return 0;
  return db_.guarded("release_leases", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("release_leases", lease.owner);
    tx.commit();
    return static_cast<int64_t>(r.affected_rows());
  });
}

int64_t delivery_store::take_over(const std::string& owner) {
  if (owner.empty())
    return 0;
  return db_.guarded("take_over_leases", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("take_over_leases", owner);
    tx.commit();
    return static_cast<int64_t>(r.affected_rows());
  });
}

namespace {

/// The endpoint of a Web Push subscription given as JSON; "" for anything
/// else (an FCM token).
std::string webpush_endpoint_of(const std::string& address) {
  if (address.empty() || address.front() != '{')
    return {};
  auto j = nlohmann::json::parse(address, nullptr, false);
  if (!j.is_object() || !j.contains("endpoint") || !j["endpoint"].is_string())
    return {};
  return j["endpoint"].get<std::string>();
}

} // namespace

int64_t
delivery_store::record_outcomes(const std::vector<delivery_decision>& xs) {
  // Ids that are not UUIDs name no notification: they cannot be recorded,
  // and must not fail the rest of the batch with a cast error.
  std::vector<std::string> ids, tenants, outcomes, errors, nodes, providers,
    statuses, reasons, attempt_keys, message_ids;
  std::vector<std::pair<std::string, std::string>> gone; // tenant, address
  std::vector<int64_t> fences, started, durations, next_attempts;
  std::vector<int32_t> http_statuses, keep_leases;
  for (const auto& x : xs) {
    if (x.outcome != attempt_result::delivered && x.outcome != attempt_result::failed
        && x.outcome != attempt_result::deferred)
      throw std::invalid_argument(
        "delivery_store::record_outcomes: bad outcome "
        + std::to_string(static_cast<int>(x.outcome)));
    if (x.status != notification_status::delivered
        && x.status != notification_status::retry_scheduled
        && x.status != notification_status::dead_lettered)
      throw std::invalid_argument(
        "delivery_store::record_outcomes: bad status '" + to_string(x.status) + "'");
    if (!is_uuid(x.id))
      continue;
    ids.push_back(x.id);
    tenants.push_back(x.tenant_id);
    fences.push_back(x.fence);
    outcomes.push_back(to_string(x.outcome));
    http_statuses.push_back(x.http_status);
    errors.push_back(x.error);
    nodes.push_back(x.node);
    providers.push_back(x.provider);
    started.push_back(x.started_at_ms);
    durations.push_back(x.duration_us);
    statuses.push_back(to_string(x.status));
    next_attempts.push_back(x.next_attempt_ms);
    keep_leases.push_back(x.keep_lease ? 1 : 0);
    reasons.push_back(x.reason);
    attempt_keys.push_back(x.attempt_key);
    message_ids.push_back(x.provider_message_id);
    if (x.address_gone && !x.address.empty())
      gone.emplace_back(x.tenant_id, x.address);
  }
  const auto total = static_cast<int64_t>(xs.size());
  if (ids.empty())
    return total;
  return db_.guarded("record_outcomes", [&] {
    pqxx::work tx{db_.conn()};
    const auto id_array = text_array(ids);
    tx.exec_prepared("lock_outcome_rows", id_array);
    auto r = tx.exec_prepared(
      "record_outcomes", id_array, text_array(tenants), number_array(fences),
      text_array(outcomes), number_array(http_statuses), text_array(errors),
      text_array(nodes), text_array(providers), number_array(started),
      number_array(durations), text_array(statuses),
      number_array(next_attempts), number_array(keep_leases),
      text_array(reasons), text_array(attempt_keys), text_array(message_ids));
    for (auto& [tenant, address] : gone)
      tx.exec_prepared("remove_dead_device", tenant, address,
                       webpush_endpoint_of(address));
    tx.commit();
    return total - r[0][0].as<int64_t>();
  });
}

} // namespace herald

namespace herald {

std::vector<std::string>
delivery_store::apply_receipt(const std::string& provider,
                              const std::vector<std::string>& message_ids,
                              const std::string& status,
                              const std::string& reason) {
  if (status != "bounced" && status != "failed")
    throw std::invalid_argument("delivery_store::apply_receipt: bad status '"
                                + status + "'");
  std::vector<std::string> ids;
  for (auto& x : message_ids)
    if (!x.empty())
      ids.push_back(x);
  if (ids.empty())
    return {};
  return db_.guarded("apply_receipt", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("apply_receipt", provider, text_array(ids),
                              status, reason);
    tx.commit();
    std::vector<std::string> out;
    for (const auto& row : r)
      out.push_back(row[0].as<std::string>());
    return out;
  });
}

} // namespace herald
