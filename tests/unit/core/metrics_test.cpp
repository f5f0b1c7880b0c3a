// herald-test-links: herald_core
#define CAF_SUITE metrics

#include <caf/test/unit_test.hpp>

#include <string>

#include "core/metric_catalog.hpp"
#include "core/metrics.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace herald;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST(counters and gauges render with HELP and TYPE and labels) {
  metric_registry r;
  r.declare("x_total", "Things.", metric_registry::kind::counter);
  r.declare("y", "Level.", metric_registry::kind::gauge);
  r.counter("x_total", {{"tenant", "acme"}, {"channel", "email"}}).inc(3);
  r.counter("x_total", {{"tenant", "acme"}, {"channel", "email"}}).inc();
  r.gauge("y").set(2.5);
  auto text = r.render(0);
  CAF_CHECK(contains(text, "# HELP x_total Things.\n# TYPE x_total counter\n"));
  CAF_CHECK(contains(text, "x_total{tenant=\"acme\",channel=\"email\"} 4\n"));
  CAF_CHECK(contains(text, "# TYPE y gauge\ny 2.5\n"));
}

CAF_TEST(a declared family without samples shows HELP and TYPE only) {
  metric_registry r;
  r.declare("z_total", "Nothing yet.", metric_registry::kind::counter);
  CAF_CHECK_EQUAL(r.render(0), "# HELP z_total Nothing yet.\n# TYPE z_total counter\n");
}

CAF_TEST(histograms are cumulative with +Inf and sum and count) {
  metric_registry r;
  r.declare("h_seconds", "Latency.", metric_registry::kind::histogram,
            {0.1, 1});
  auto& h = r.histogram("h_seconds", {{"route", "/x"}});
  h.observe(0.05);
  h.observe(0.1); // on the bound: counted in le="0.1"
  h.observe(0.5);
  h.observe(7);
  auto text = r.render(0);
  CAF_CHECK(contains(text, "h_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"));
  CAF_CHECK(contains(text, "h_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"));
  CAF_CHECK(contains(text, "h_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"));
  CAF_CHECK(contains(text, "h_seconds_sum{route=\"/x\"} 7.65\n"));
  CAF_CHECK(contains(text, "h_seconds_count{route=\"/x\"} 4\n"));
}

CAF_TEST(label values are escaped) {
  metric_registry r;
  r.counter("e_total", {{"provider", "a\"b\\c\nd"}}).inc();
  CAF_CHECK(contains(r.render(0), "e_total{provider=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

CAF_TEST(an age gauge renders seconds since its point in time) {
  metric_registry r;
  r.declare("a_seconds", "Age.", metric_registry::kind::age);
  r.age("a_seconds", {{"pool", "webhook"}}).set(10'000);
  r.age("a_seconds", {{"pool", "email"}}).set(0);
  auto text = r.render(12'500);
  CAF_CHECK(contains(text, "a_seconds{pool=\"webhook\"} 2.5\n"));
  CAF_CHECK(contains(text, "a_seconds{pool=\"email\"} 0\n"));
}

CAF_TEST(series past the cap share one _other series) {
  metric_registry r{3};
  for (int i = 0; i < 10; ++i)
    r.counter("c_total", {{"provider", "p" + std::to_string(i)}}).inc();
  auto text = r.render(0);
  CAF_CHECK(contains(text, "c_total{provider=\"p0\"} 1\n"));
  CAF_CHECK(contains(text, "c_total{provider=\"p2\"} 1\n"));
  CAF_CHECK(!contains(text, "p3"));
  CAF_CHECK(contains(text, "c_total{provider=\"_other\"} 7\n"));
  CAF_CHECK_EQUAL(r.sum("c_total"), 10.0);
}

CAF_TEST(sum adds the series of a family or those with one label value) {
  metric_registry r;
  r.counter("d_total", {{"tenant", "a"}, {"channel", "email"}}).inc(2);
  r.counter("d_total", {{"tenant", "b"}, {"channel", "email"}}).inc(3);
  r.counter("d_total", {{"tenant", "a"}, {"channel", "sms"}}).inc(4);
  CAF_CHECK_EQUAL(r.sum("d_total"), 9.0);
  CAF_CHECK_EQUAL(r.sum("d_total", "tenant", "a"), 6.0);
  CAF_CHECK_EQUAL(r.sum("missing_total"), 0.0);
}

CAF_TEST(the process registry declares every family of the catalog) {
  auto text = metrics().render(0);
  for (auto name : {metric::http_requests, metric::accepted, metric::delivered,
                    metric::dead_lettered, metric::skipped, metric::attempts,
                    metric::breaker_state, metric::pool_jobs,
                    metric::pool_oldest_age, metric::sender_restarts,
                    metric::takeovers, metric::members_up,
                    metric::commit_rows, metric::commit_duration})
    CAF_CHECK(contains(text, "# TYPE " + std::string{name} + " "));
}
