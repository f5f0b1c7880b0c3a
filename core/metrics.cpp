#include "core/metrics.hpp"

#include "core/metric_catalog.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace herald {

metric_histogram::metric_histogram(const std::vector<double>& bounds)
  : bounds_(bounds),
    buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void metric_histogram::observe(double x) noexcept {
  auto i = static_cast<size_t>(
    std::lower_bound(bounds_.begin(), bounds_.end(), x) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  auto cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + x, std::memory_order_relaxed))
    ;
}

uint64_t metric_histogram::cumulative(size_t i) const noexcept {
  uint64_t n = 0;
  for (size_t k = 0; k <= i && k <= bounds_.size(); ++k)
    n += buckets_[k].load(std::memory_order_relaxed);
  return n;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> xs{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,  0.1,    0.25,  0.5,
                                      1,      2.5,   5,      10};
  return xs;
}

const std::vector<double>& size_buckets() {
  static const std::vector<double> xs{1,   2,   5,    10,   20,   50,  100,
                                      200, 500, 1000, 2000, 5000, 10000};
  return xs;
}

std::string escape_label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

std::string label_text(const metric_labels& labels) {
  std::string out;
  for (auto& [k, v] : labels) {
    if (!out.empty())
      out += ',';
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  return out;
}

/// Prometheus floats: integers without a fraction, +Inf/NaN spelled out.
std::string number(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (x == std::floor(x) && std::fabs(x) < 1e15)
    std::snprintf(buf, sizeof(buf), "%.0f", x);
  else
    std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

std::string help_text(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void sample(std::string& out, const std::string& name, const std::string& labels,
            const std::string& value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

} // namespace

metric_registry::metric_registry(size_t max_series) : max_series_(max_series) {
}

void metric_registry::declare(std::string_view name, std::string_view help,
                              kind type, const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& fam = families_[std::string{name}];
  fam.help = std::string{help};
  fam.type = type;
  fam.bounds = bounds;
}

metric_registry::series& metric_registry::cell(std::string_view name, kind type,
                                               const metric_labels& labels) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto fi = families_.find(name);
  if (fi == families_.end()) {
    family f;
    f.type = type;
    f.bounds = latency_buckets();
    fi = families_.emplace(std::string{name}, std::move(f)).first;
  }
  auto& fam = fi->second;
  auto key = label_text(labels);
  auto si = fam.cells.find(key);
  if (si == fam.cells.end()) {
    auto ls = labels;
    if (fam.cells.size() >= max_series_) {
      for (auto& l : ls)
        l.second = "_other";
      key = label_text(ls);
      si = fam.cells.find(key);
    }
    if (si == fam.cells.end()) {
      series s;
      s.labels = std::move(ls);
      // Every cell has the kind the caller asked for, so a family used
      // with the wrong call still hands out a valid cell.
      s.c = std::make_unique<metric_counter>();
      s.g = std::make_unique<metric_gauge>();
      if (fam.type == kind::histogram || type == kind::histogram)
        s.h = std::make_unique<metric_histogram>(fam.bounds);
      si = fam.cells.emplace(key, std::move(s)).first;
    }
  }
  return si->second;
}

metric_counter& metric_registry::counter(std::string_view name,
                                         const metric_labels& labels) {
  return *cell(name, kind::counter, labels).c;
}

metric_gauge& metric_registry::gauge(std::string_view name,
                                     const metric_labels& labels) {
  return *cell(name, kind::gauge, labels).g;
}

metric_histogram& metric_registry::histogram(std::string_view name,
                                             const metric_labels& labels) {
  return *cell(name, kind::histogram, labels).h;
}

metric_gauge& metric_registry::age(std::string_view name,
                                   const metric_labels& labels) {
  return *cell(name, kind::age, labels).g;
}

std::string metric_registry::render(int64_t now_ms) const {
  std::string out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [name, fam] : families_) {
    const char* type = "counter";
    if (fam.type == kind::gauge || fam.type == kind::age)
      type = "gauge";
    else if (fam.type == kind::histogram)
      type = "histogram";
    out += "# HELP " + name + " " + help_text(fam.help) + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    for (auto& [labels, s] : fam.cells) {
      switch (fam.type) {
        case kind::counter:
          sample(out, name, labels, number(static_cast<double>(s.c->value())));
          break;
        case kind::gauge:
          sample(out, name, labels, number(s.g->value()));
          break;
        case kind::age: {
          auto at = s.g->value();
          auto secs = at <= 0 ? 0.0
                              : std::max(0.0, (static_cast<double>(now_ms) - at)
                                                / 1000.0);
          sample(out, name, labels, number(secs));
          break;
        }
        case kind::histogram: {
          if (!s.h)
            break;
          auto& h = *s.h;
          auto prefix = labels.empty() ? std::string{} : labels + ",";
          // One pass over the buckets: each is read once, so the cumulative
          // counts never decrease even while observations arrive.
          uint64_t acc = 0;
          for (size_t i = 0; i < h.bounds().size(); ++i) {
            acc = std::max(acc, h.cumulative(i));
            sample(out, name + "_bucket",
                   prefix + "le=\"" + number(h.bounds()[i]) + "\"",
                   number(static_cast<double>(acc)));
          }
          auto total = std::max(acc, h.cumulative(h.bounds().size()));
          sample(out, name + "_bucket", prefix + "le=\"+Inf\"",
                 number(static_cast<double>(total)));
          sample(out, name + "_sum", labels, number(h.sum()));
          sample(out, name + "_count", labels,
                 number(static_cast<double>(total)));
          break;
        }
      }
    }
  }
  return out;
}

double metric_registry::sum(std::string_view name, std::string_view label,
                            std::string_view value) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto fi = families_.find(name);
  if (fi == families_.end())
    return 0;
  double total = 0;
  for (auto& [text, s] : fi->second.cells) {
    if (!label.empty()) {
      auto match = std::any_of(s.labels.begin(), s.labels.end(),
                               [&](auto& kv) {
                                 return kv.first == label && kv.second == value;
                               });
      if (!match)
        continue;
    }
    switch (fi->second.type) {
      case kind::counter:
        total += static_cast<double>(s.c->value());
        break;
      case kind::gauge:
      case kind::age:
        total += s.g->value();
        break;
      case kind::histogram:
        total += s.h ? static_cast<double>(s.h->count()) : 0.0;
        break;
    }
  }
  return total;
}

std::vector<std::pair<metric_labels, double>>
metric_registry::values(std::string_view name) const {
  std::vector<std::pair<metric_labels, double>> out;
  std::lock_guard<std::mutex> guard{mtx_};
  auto fi = families_.find(name);
  if (fi == families_.end())
    return out;
  for (auto& [text, s] : fi->second.cells) {
    auto type = fi->second.type;
    double v = type == kind::counter   ? static_cast<double>(s.c->value())
               : type == kind::histogram ? (s.h ? static_cast<double>(s.h->count()) : 0.0)
                                         : s.g->value();
    out.emplace_back(s.labels, v);
  }
  return out;
}

metric_registry& metrics() {
  static metric_registry instance;
  static const bool declared = (metric::declare_all(instance), true);
  (void) declared;
  return instance;
}

} // namespace herald
