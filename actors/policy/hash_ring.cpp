#include "actors/policy/hash_ring.hpp"

#include <algorithm>

namespace herald {

namespace {

/// 2^64 as a double (exact).
constexpr double space = 18446744073709551616.0;

} // namespace

hash_ring::hash_ring(int virtual_nodes)
  : virtual_nodes_(std::max(virtual_nodes, 1)) {
  // nop
}

void hash_ring::add(const std::string& member) {
  if (member.empty())
    return;
  auto i = std::lower_bound(members_.begin(), members_.end(), member);
  if (i != members_.end() && *i == member)
    return;
  members_.insert(i, member);
  rebuild();
}

void hash_ring::remove(const std::string& member) {
  auto i = std::lower_bound(members_.begin(), members_.end(), member);
  if (i == members_.end() || *i != member)
    return;
  members_.erase(i);
  rebuild();
}

bool hash_ring::contains(const std::string& member) const {
  return std::binary_search(members_.begin(), members_.end(), member);
}

const std::string& hash_ring::owner(std::string_view key) const {
  static const std::string none;
  if (points_.empty())
    return none;
  auto h = hash(key);
  auto i = std::upper_bound(points_.begin(), points_.end(), h,
                            [](uint64_t x, const std::pair<uint64_t, size_t>& p) {
                              return x < p.first;
                            });
  if (i == points_.end())
    i = points_.begin();
  return members_[i->second];
}

double hash_ring::share(const std::string& member) const {
  auto i = std::lower_bound(members_.begin(), members_.end(), member);
  if (i == members_.end() || *i != member)
    return 0.0;
  return shares_[static_cast<size_t>(i - members_.begin())];
}

uint64_t hash_ring::hash(std::string_view text) {
  // 64-bit FNV-1a.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // splitmix64 finalizer.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

void hash_ring::rebuild() {
  points_.clear();
  shares_.assign(members_.size(), 0.0);
  if (members_.empty())
    return;
  auto vn = static_cast<size_t>(virtual_nodes_);
  points_.reserve(members_.size() * vn);
  std::string name;
  for (size_t m = 0; m < members_.size(); ++m) {
    for (size_t v = 0; v < vn; ++v) {
      name = members_[m];
      name += '#';
      name += std::to_string(v);
      points_.emplace_back(hash(name), m);
    }
  }
  std::sort(points_.begin(), points_.end());
  // A key k goes to the first point p with hash(k) < p, so point j owns the
  // keys in [p[j-1], p[j]) and the first point also owns the wrap-around arc
  // [p[last], 2^64) + [0, p[0]). The unsigned difference wraps exactly; the
  // only case it cannot express is one arc of length 2^64 (every point on
  // the same position). Of several points on one position, only the first
  // (the smallest name) gets a non-empty arc, as in owner().
  auto first = points_.front().first;
  auto last = points_.back().first;
  shares_[points_.front().second]
    += first == last ? 1.0 : static_cast<double>(first - last) / space;
  for (size_t j = 1; j < points_.size(); ++j) {
    auto arc = points_[j].first - points_[j - 1].first;
    shares_[points_[j].second] += static_cast<double>(arc) / space;
  }
}

} // namespace herald
