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

} // namespace herald
