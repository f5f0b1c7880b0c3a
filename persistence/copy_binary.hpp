#pragma once

// PostgreSQL's binary COPY format (COPY ... FROM STDIN (FORMAT binary)),
// written into one buffer. The store streams new notifications this way:
// nothing is escaped on our side and nothing is parsed from text on the
// server's (timestamps, UUIDs and integers arrive in their stored form), which
// roughly halves the store's share of a batch (bench/RESULTS-guards.md).
//
// Layout (PostgreSQL docs, "COPY", Binary Format): an 11-byte signature, a
// 32-bit flags field and a 32-bit header-extension length; per row a 16-bit
// field count, then per field a 32-bit length (-1 = NULL) and its bytes; a
// 16-bit -1 as trailer. All integers are big-endian (network order).

#include <cstdint>
#include <string>
#include <string_view>

namespace herald {

class copy_binary {
public:
  /// Starts the buffer with the header.
  copy_binary();

  /// Starts a row of `fields` fields; exactly that many add_* calls follow.
  void row(int16_t fields);

  void null();

  /// text, varchar: the bytes as they are (the server checks the encoding).
  void text(std::string_view x);

  /// jsonb: version byte 1, then the JSON text.
  void jsonb(std::string_view x);

  /// uuid from its canonical text (8-4-4-4-12 hex digits, any case): 16
  /// bytes. Returns false (and writes nothing) if `x` is no such text.
  [[nodiscard]] bool uuid(std::string_view x);

  void int4(int32_t x);

  void int8(int64_t x);

  /// timestamptz from Unix epoch milliseconds: microseconds since
  /// 2000-01-01 00:00:00 UTC.
  void timestamptz_ms(int64_t ms);

  /// Appends the trailer. The buffer holds a complete COPY stream after this.
  void finish();

  const std::string& data() const noexcept {
    return buf_;
  }

  size_t size() const noexcept {
    return buf_.size();
  }

  /// Hands the bytes written so far out and continues with an empty buffer,
  /// so a long stream can be sent in pieces (a piece need not end at a row).
  std::string take();

private:
  void be16(uint16_t x);
  void be32(uint32_t x);
  void be64(uint64_t x);

  std::string buf_;
};

} // namespace herald
