// herald-test-links: herald_http
#define CAF_SUITE observe

#include <caf/test/unit_test.hpp>

#include "http/observe.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;

CAF_TEST(route labels are the route patterns with ids replaced) {
  CAF_CHECK_EQUAL(route_label("/v1/notifications"), "/v1/notifications");
  CAF_CHECK_EQUAL(route_label("/v1/notifications/batch"), "/v1/notifications/batch");
  CAF_CHECK_EQUAL(route_label("/v1/notifications/01HZX"), "/v1/notifications/{id}");
  CAF_CHECK_EQUAL(route_label("/v1/notifications/01HZX/attempts"),
                  "/v1/notifications/{id}/attempts");
  CAF_CHECK_EQUAL(route_label("/v1/dlq/replay"), "/v1/dlq/replay");
  CAF_CHECK_EQUAL(route_label("/v1/dlq/abc/retry"), "/v1/dlq/{id}/retry");
  CAF_CHECK_EQUAL(route_label("/admin/actors/node1/rate-limiter/acme"),
                  "/admin/actors/{*}");
  CAF_CHECK_EQUAL(route_label("/admin/tenants/acme/keys/k1"),
                  "/admin/tenants/{id}/keys/{id}");
  CAF_CHECK_EQUAL(route_label("/metrics"), "/metrics");
  CAF_CHECK_EQUAL(route_label("/"), "/");
  CAF_CHECK_EQUAL(route_label("/v1/notifications?limit=5"), "/v1/notifications");
}

CAF_TEST(unknown paths share one label) {
  CAF_CHECK_EQUAL(route_label("/wp-login.php"), "other");
  CAF_CHECK_EQUAL(route_label("/v1/notifications/a/b/c"), "other");
  CAF_CHECK_EQUAL(route_label("/v2/anything"), "other");
  CAF_CHECK_EQUAL(route_label(""), "other");
}

CAF_TEST(the correlation id is the client one or a new one) {
  httplib::Request req;
  httplib::Response res;
  req.set_header("X-Request-Id", "abc-123");
  begin_request(req, res);
  CAF_CHECK_EQUAL(res.get_header_value("X-Request-Id"), "abc-123");
  httplib::Request bad;
  httplib::Response res2;
  bad.set_header("X-Request-Id", "has space\"");
  begin_request(bad, res2);
  auto id = res2.get_header_value("X-Request-Id");
  CAF_CHECK_EQUAL(id.rfind("req_", 0), 0u);
  CAF_CHECK_EQUAL(id.size(), 36u);
  httplib::Response res3;
  begin_request(httplib::Request{}, res3);
  CAF_CHECK_NOT_EQUAL(res3.get_header_value("X-Request-Id"), id);
}
