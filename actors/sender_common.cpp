#include "actors/sender_common.hpp"

namespace herald {

attempt_report report_for(const delivery_job& job, const std::string& node,
                          const std::string& provider) {
  attempt_report out;
  out.id = job.n.id;
  out.tenant_id = job.n.tenant_id;
  out.fence = job.fence;
  out.node = node;
  out.provider = provider;
  return out;
}

attempt_report refused_report(const delivery_job& job, const std::string& node,
                              const std::string& provider, std::string reason) {
  auto out = report_for(job, node, provider);
  out.outcome = attempt_result::failed;
  out.retryable = false;
  out.error = std::move(reason);
  return out;
}

attempt_report& apply_classified(attempt_report& out, classified c,
                                 const post_result& res,
                                 const std::string& detail) {
  out.http_status = res.http_status;
  if (c.kind == delivery_class::ok) {
    out.outcome = attempt_result::delivered;
    return out;
  }
  out.outcome = attempt_result::failed;
  out.retryable = c.kind == delivery_class::retryable;
  if (c.retry_after)
    out.retry_after_ms = c.retry_after->count();
  if (!res.error.empty())
    out.error = res.error;
  else if (!detail.empty())
    out.error = c.reason + ": " + detail;
  else
    out.error = std::move(c.reason);
  return out;
}

classified classify_http(const post_result& res) {
  auto connection_error = res.http_status == 0 && !res.timed_out
                          && !res.error.empty();
  return classify_webhook(res.http_status, res.timed_out, connection_error,
                          res.retry_after_ms);
}

} // namespace herald
