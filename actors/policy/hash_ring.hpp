#pragma once

// Consistent hashing with virtual nodes, with no CAF in it: which member owns
// a key (a tenant's rate limiter, an idempotency shard). Adding or removing a
// member moves only the keys that member gains or loses, about 1/n of them,
// instead of reshuffling everything as `hash(key) % n` would.
//
// The layout depends only on the set of members, never on the order they
// were added in or on the process: every node that knows the same members
// computes the same owner for every key. The hash function is therefore part
// of the contract; changing it moves keys between members across a rolling
// upgrade, which is why the unit test pins its values.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

/// Consistent hashing with virtual nodes: which member owns a key (a tenant's
/// rate limiter, an idempotency shard).
///
/// Each member is placed at `virtual_nodes` points of the 64-bit hash space,
/// point i of member m at hash(m + "#" + std::to_string(i)); a key belongs to
/// the first point clockwise (strictly greater) from hash(key), wrapping
/// around to the lowest point. Two points on the same value (a 64-bit
/// collision, vanishingly rare) are ordered by member name, so the smaller
/// name wins that spot whatever the order of add/remove calls.
///
/// The empty name is never a member: add("") is a no-op, because owner()
/// answers "" for "no owner" and a member called "" could not be told apart.
///
/// owner() is a binary search over the sorted points and allocates nothing.
/// add() and remove() rebuild the points (members * virtual_nodes hashes and
/// a sort): membership changes are rare, lookups are not. Const member
/// functions may be called concurrently; anything else needs the caller's
/// synchronisation (in Herald the ring lives inside one actor).
class hash_ring {
public:
  /// Values below 1 count as 1. There is no upper cap: memory and rebuild
  /// time grow with members * virtual_nodes.
  explicit hash_ring(int virtual_nodes = 128);

  /// Idempotent; the empty name is ignored.
  void add(const std::string& member);

  /// No-op if `member` is absent.
  void remove(const std::string& member);

  bool contains(const std::string& member) const;

  bool empty() const noexcept {
    return members_.empty();
  }

  /// Number of members (not of points).
  size_t size() const noexcept {
    return members_.size();
  }

  /// Sorted by name.
  const std::vector<std::string>& members() const noexcept {
    return members_;
  }

  int virtual_nodes() const noexcept {
    return virtual_nodes_;
  }

  /// The member owning `key`: the first virtual node clockwise from
  /// hash(key); "" if the ring is empty (a reference to a static empty string
  /// then). The reference is into the ring: add() and remove() invalidate it.
  const std::string& owner(std::string_view key) const;

  /// Fraction of the 64-bit hash space `member` owns (0 if absent); all
  /// members' shares sum to 1 (within floating error). This is the expected
  /// fraction of uniformly hashed keys the member gets.
  double share(const std::string& member) const;

  /// Stable 64-bit hash of text, the same in every process and build: 64-bit
  /// FNV-1a followed by the splitmix64 finalizer (FNV-1a alone disperses
  /// short, similar strings such as "node1#0", "node1#1" poorly).
  static uint64_t hash(std::string_view text);

private:
  /// Recomputes points_ and shares_ from members_.
  void rebuild();

  int virtual_nodes_;

  /// Sorted and unique.
  std::vector<std::string> members_;

  /// (position, index into members_), sorted. members_ is sorted, so the
  /// index order is the name order and ties on a position go to the smaller
  /// name.
  std::vector<std::pair<uint64_t, size_t>> points_;

  /// shares_[i] is the share of members_[i].
  std::vector<double> shares_;
};

} // namespace herald
