#include "shapes.hpp"

#include <algorithm>

#include "channels/twilio.hpp"
#include "channels/webhook_client.hpp"

namespace herald::tools {

using nlohmann::json;
using std::chrono::steady_clock;

namespace {

// Beyond this many arrivals a book keeps only the last seconds: a benchmark
// must not grow the fake without bound.
constexpr std::size_t max_arrivals = 200'000;
constexpr int64_t second_us = 1'000'000;

int64_t micros(steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           t.time_since_epoch())
    .count();
}

} // namespace

// --- shape_book -------------------------------------------------------------

shape_book::shape_book(std::vector<std::string> extra)
  : extra_names_(std::move(extra)) {
  for (const auto& name : extra_names_)
    extra_[name] = 0;
}

void shape_book::count_received() {
  std::lock_guard<std::mutex> guard{mu_};
  ++received_;
}

void shape_book::count_unauthorized() {
  std::lock_guard<std::mutex> guard{mu_};
  ++unauthorized_;
}

void shape_book::count_injected() {
  std::lock_guard<std::mutex> guard{mu_};
  ++failed_injected_;
}

void shape_book::count(const std::string& name) {
  std::lock_guard<std::mutex> guard{mu_};
  ++extra_[name];
}

void shape_book::answered(int status, json record,
                          steady_clock::time_point arrival) {
  record["status"] = status;
  std::lock_guard<std::mutex> guard{mu_};
  messages_.push_back(std::move(record));
  if (messages_.size() > max_messages)
    messages_.pop_front();
  if (status < 200 || status > 299) {
    ++rejected_;
    return;
  }
  ++delivered_;
  // Arrivals come nearly in order (latency is the same for all); insert
  // sorted so that the window count stays exact.
  auto t = micros(arrival);
  arrivals_us_.insert(std::upper_bound(arrivals_us_.begin(),
                                       arrivals_us_.end(), t),
                      t);
  if (arrivals_us_.size() > max_arrivals) {
    carried_max_ = std::max(carried_max_, window_max_locked());
    auto keep_from = arrivals_us_.back() - 2 * second_us;
    arrivals_us_.erase(arrivals_us_.begin(),
                       std::lower_bound(arrivals_us_.begin(),
                                        arrivals_us_.end(), keep_from));
  }
}

std::size_t shape_book::window_max_locked() const {
  // Two pointers over the sorted arrivals: the most that lie less than one
  // second apart.
  std::size_t best = 0;
  std::size_t first = 0;
  for (std::size_t last = 0; last < arrivals_us_.size(); ++last) {
    while (arrivals_us_[last] - arrivals_us_[first] >= second_us)
      ++first;
    best = std::max(best, last - first + 1);
  }
  return best;
}

json shape_book::stats() const {
  std::lock_guard<std::mutex> guard{mu_};
  json j{{"received", received_},
         {"delivered", delivered_},
         {"rejected", rejected_},
         {"unauthorized", unauthorized_},
         {"failed_injected", failed_injected_},
         {"max_per_second", std::max(carried_max_, window_max_locked())}};
  for (const auto& [name, n] : extra_)
    j[name] = n;
  return j;
}

json shape_book::messages(std::size_t limit) const {
  std::lock_guard<std::mutex> guard{mu_};
  auto out = json::array();
  auto n = std::min(limit, messages_.size());
  for (auto i = messages_.size() - n; i < messages_.size(); ++i)
    out.push_back(messages_[i]);
  return out;
}

void shape_book::reset() {
  std::lock_guard<std::mutex> guard{mu_};
  received_ = delivered_ = rejected_ = unauthorized_ = failed_injected_ = 0;
  extra_.clear();
  for (const auto& name : extra_names_)
    extra_[name] = 0;
  messages_.clear();
  arrivals_us_.clear();
  carried_max_ = 0;
}

// --- callback_sender --------------------------------------------------------

callback_sender::callback_sender(shape_book& book) : book_(book) {
  thread_ = std::thread([this] { run(); });
}

callback_sender::~callback_sender() {
  stop();
}

void callback_sender::enqueue(job j) {
  std::lock_guard<std::mutex> guard{mu_};
  if (stopping_)
    return;
  jobs_.push_back(std::move(j));
  cv_.notify_all();
}

void callback_sender::stop() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    stopping_ = true;
    jobs_.clear();
    cv_.notify_all();
  }
  if (thread_.joinable())
    thread_.join();
}

void callback_sender::run() {
  // Short timeout: stop() waits for a callback in flight.
  webhook_client client{std::chrono::seconds(2)};
  std::unique_lock<std::mutex> lk{mu_};
  for (;;) {
    cv_.wait(lk, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_)
      return;
    auto due = jobs_.front().due;
    if (steady_clock::now() < due) {
      cv_.wait_until(lk, due, [this] { return stopping_; });
      continue;
    }
    auto j = std::move(jobs_.front());
    jobs_.pop_front();
    lk.unlock();
    auto body = twilio::form_encode(j.params);
    std::vector<std::pair<std::string, std::string>> headers{
      {std::string{twilio::signature_header},
       twilio::signature(j.auth_token, j.url, j.params)},
      {"User-Agent", "TwilioProxy/1.1"}};
    auto result = client.post(j.url, headers, body,
                              "application/x-www-form-urlencoded");
    book_.count(result.http_status >= 200 && result.http_status <= 299
                  ? "callbacks_sent"
                  : "callbacks_failed");
    lk.lock();
  }
}

} // namespace herald::tools
