#include "core/ids.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <random>

#include "core/text.hpp"
#include "core/time.hpp"

namespace herald {

namespace {


// xoshiro256**: fast, good enough for the random tail of an id (ids are not
// secrets; API keys use OpenSSL elsewhere).
class xoshiro256 {
public:
  xoshiro256() {
    std::random_device rd;
    for (auto& word : s_) {
      word = (uint64_t{rd()} << 32) ^ rd();
    }
    if (s_[0] == 0 && s_[1] == 0 && s_[2] == 0 && s_[3] == 0)
      s_[0] = 0x9E3779B97F4A7C15u; // the all-zero state is a fixed point
  }

  uint64_t operator()() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

private:
  static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
  }

  std::array<uint64_t, 4> s_;
};

// RFC 9562 section 6.2, method 1: a 42-bit counter in rand_a (12 bits) and
// the top of rand_b (30 bits). It starts at a random value with its top bit
// clear each new millisecond, so there is room for 2^41 ids per ms before it
// borrows the next millisecond; a clock that steps back is ignored the same
// way. (timestamp, counter) only grows, hence ids only grow.
class uuid_v7_generator {
public:
  static constexpr uint64_t counter_bits = 42;
  static constexpr uint64_t counter_max = (uint64_t{1} << counter_bits) - 1;
  static constexpr uint64_t seed_mask = (uint64_t{1} << (counter_bits - 1)) - 1;

  std::string next(int64_t now) {
    auto ms = static_cast<uint64_t>(std::max<int64_t>(now, 0))
              & 0xFFFFFFFFFFFFu;
    uint64_t stamp;
    uint64_t counter;
    uint64_t tail;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ms > last_ms_) {
        last_ms_ = ms;
        counter_ = rng_() & seed_mask;
      } else if (++counter_ > counter_max) {
        ++last_ms_;
        counter_ = rng_() & seed_mask;
      }
      stamp = last_ms_;
      counter = counter_;
      tail = rng_() & 0xFFFFFFFFu;
    }
    const uint64_t hi = (stamp << 16) | 0x7000u | (counter >> 30);
    const uint64_t lo = (uint64_t{0b10} << 62)
                        | ((counter & ((uint64_t{1} << 30) - 1)) << 32) | tail;
    return format(hi, lo);
  }

private:
  static std::string format(uint64_t hi, uint64_t lo) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(36, '-');
    size_t pos = 0;
    auto put = [&](uint64_t word) {
      for (int shift = 60; shift >= 0; shift -= 4) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23)
          ++pos;
        out[pos++] = digits[(word >> shift) & 0xF];
      }
    };
    put(hi);
    put(lo);
    return out;
  }

  std::mutex mtx_;
  uint64_t last_ms_ = 0;
  uint64_t counter_ = 0;
  xoshiro256 rng_;
};


} // namespace

std::string new_notification_id() {
  static uuid_v7_generator generator;
  return generator.next(now_ms());
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36)
    return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !text::is_hex(text[i]))
      return false;
  }
  return true;
}

} // namespace herald
