#include "persistence/copy_binary.hpp"

#include "core/crypto.hpp"

namespace herald {

namespace {

// "PGCOPY\n\377\r\n\0"
constexpr char k_signature[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n',
                                '\xff', '\r', '\n', '\0'};

// 2000-01-01T00:00:00Z in Unix epoch milliseconds: PostgreSQL's epoch.
constexpr int64_t k_pg_epoch_ms = 946684800000;

} // namespace

copy_binary::copy_binary() {
  buf_.append(k_signature, sizeof(k_signature));
  be32(0); // flags: no OIDs
  be32(0); // header extension length
}

void copy_binary::row(int16_t fields) {
  be16(static_cast<uint16_t>(fields));
}

void copy_binary::null() {
  be32(0xffffffffu);
}

void copy_binary::text(std::string_view x) {
  be32(static_cast<uint32_t>(x.size()));
  buf_.append(x.data(), x.size());
}

void copy_binary::jsonb(std::string_view x) {
  be32(static_cast<uint32_t>(x.size() + 1));
  buf_.push_back('\x01');
  buf_.append(x.data(), x.size());
}

bool copy_binary::uuid(std::string_view x) {
  if (x.size() != 36 || x[8] != '-' || x[13] != '-' || x[18] != '-'
      || x[23] != '-')
    return false;
  std::string digits;
  digits.reserve(32);
  for (size_t i = 0; i < x.size(); ++i)
    if (i != 8 && i != 13 && i != 18 && i != 23)
      digits += x[i];
  auto bytes = crypto::hex_decode(digits);
  if (!bytes)
    return false;
  be32(16);
  buf_ += *bytes;
  return true;
}

void copy_binary::int4(int32_t x) {
  be32(4);
  be32(static_cast<uint32_t>(x));
}

void copy_binary::int8(int64_t x) {
  be32(8);
  be64(static_cast<uint64_t>(x));
}

void copy_binary::timestamptz_ms(int64_t ms) {
  be32(8);
  be64(static_cast<uint64_t>((ms - k_pg_epoch_ms) * 1000));
}

void copy_binary::finish() {
  be16(0xffffu);
}

std::string copy_binary::take() {
  std::string out;
  out.swap(buf_);
  return out;
}

void copy_binary::be16(uint16_t x) {
  char b[2] = {static_cast<char>(x >> 8), static_cast<char>(x)};
  buf_.append(b, 2);
}

void copy_binary::be32(uint32_t x) {
  char b[4] = {static_cast<char>(x >> 24), static_cast<char>(x >> 16),
               static_cast<char>(x >> 8), static_cast<char>(x)};
  buf_.append(b, 4);
}

void copy_binary::be64(uint64_t x) {
  be32(static_cast<uint32_t>(x >> 32));
  be32(static_cast<uint32_t>(x));
}

} // namespace herald
