#pragma once

// Herald's metrics: counters, gauges and histograms with labels, rendered in
// the Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// One registry per process (metrics()), like the logger: every actor and
// server of the node writes to it, the admin endpoint renders it. Writing a
// sample is an atomic add on a cell the caller got once (keep the
// reference: cells live as long as the registry). Looking a cell up takes a
// mutex and builds its label text, so hot paths look up per batch or cache.
//
// Label values are bounded: a family holds at most max_series label sets;
// past that every new set shares one series whose values are all "_other"
// (so a client that posts to ten thousand webhook hosts cannot grow the
// scrape without bound).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

class metric_counter {
public:
  void inc(uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<uint64_t> value_{0};
};

class metric_gauge {
public:
  void set(double x) noexcept {
    value_.store(x, std::memory_order_relaxed);
  }
  void add(double x) noexcept {
    auto cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + x, std::memory_order_relaxed))
      ;
  }
  double value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<double> value_{0};
};

/// Cumulative buckets with fixed upper bounds (+Inf implied).
class metric_histogram {
public:
  explicit metric_histogram(const std::vector<double>& bounds);
  void observe(double x) noexcept;
  const std::vector<double>& bounds() const noexcept {
    return bounds_;
  }
  /// Observations <= bounds()[i] (i < bounds().size()); the last is +Inf.
  uint64_t cumulative(size_t i) const noexcept;
  uint64_t count() const noexcept {
    return count_.load(std::memory_order_relaxed);
  }
  double sum() const noexcept {
    return sum_.load(std::memory_order_relaxed);
  }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_; // per bucket, not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// Bucket bounds for latencies in seconds: 0.5 ms to 10 s.
const std::vector<double>& latency_buckets();

/// Bucket bounds for sizes (rows per commit, items per request): 1 to 10k.
const std::vector<double>& size_buckets();

class metric_registry {
public:
  explicit metric_registry(size_t max_series = 500);

  enum class kind { counter, gauge, histogram, age };

  /// Declares a family: its HELP line, its type and (histograms) its bucket
  /// bounds. A family used before it is declared has no HELP text; one
  /// declared and never used shows HELP and TYPE without samples. An `age`
  /// family holds a point in time per series (Unix ms, 0 = none), rendered
  /// as the seconds since then at scrape time (e.g. the oldest queued job's
  /// age): the writer sets it only when the point changes.
  void declare(std::string_view name, std::string_view help, kind type,
               const std::vector<double>& bounds = latency_buckets());

  /// The cell of `name` with these labels (same names in the same order on
  /// every call for one family); created on first use.
  metric_counter& counter(std::string_view name, const metric_labels& labels = {});
  metric_gauge& gauge(std::string_view name, const metric_labels& labels = {});
  metric_histogram& histogram(std::string_view name,
                              const metric_labels& labels = {});
  metric_gauge& age(std::string_view name, const metric_labels& labels = {});

  /// Every family in the text format, sorted by name; ages computed
  /// against `now_ms`.
  std::string render(int64_t now_ms) const;

  /// The sum of every series of a counter or gauge family (0 if unknown),
  /// optionally only those whose label `label` equals `value`.
  double sum(std::string_view name, std::string_view label = {},
             std::string_view value = {}) const;

  /// Every series of a counter, gauge or age family with its value (an
  /// age: the point in time it holds), for summaries of this node.
  std::vector<std::pair<metric_labels, double>> values(std::string_view name) const;

private:
  struct series {
    metric_labels labels;
    std::unique_ptr<metric_counter> c;
    std::unique_ptr<metric_gauge> g;
    std::unique_ptr<metric_histogram> h;
  };
  struct family {
    std::string help;
    kind type = kind::counter;
    std::vector<double> bounds;
    std::map<std::string, series> cells; // by rendered label text
  };

  series& cell(std::string_view name, kind type, const metric_labels& labels);

  size_t max_series_;
  mutable std::mutex mtx_;
  std::map<std::string, family, std::less<>> families_;
};

/// The process's registry.
metric_registry& metrics();

/// `s` with \, " and newlines escaped for a label value.
std::string escape_label_value(std::string_view s);

} // namespace herald
