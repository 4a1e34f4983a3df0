// Unsigned LEB128 varints and zigzag, as the change-log uses them. Decoding is
// strict: at most 10 bytes, no overlong forms (a final 0x00 after the first
// byte), no bits past 64, so every value has exactly one encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgestate::core {

constexpr size_t kMaxVarintBytes = 10;

inline void put_varint64(std::vector<uint8_t> *out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}

// Writes v at p (at most kMaxVarintBytes) and returns the end.
inline uint8_t *put_varint64(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

inline size_t varint64_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline constexpr uint64_t zigzag_encode(int64_t n) {
  return (static_cast<uint64_t>(n) << 1) ^ static_cast<uint64_t>(n >> 63);
}

inline constexpr int64_t zigzag_decode(uint64_t z) {
  return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
}

enum class VarintStatus { kOk, kTruncated, kInvalid };

// Reads a varint at *p (never past end) and advances *p on success.
inline VarintStatus get_varint64(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  const uint8_t *q = *p;
  uint64_t v = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (q == end) return VarintStatus::kTruncated;
    const uint8_t byte = *q++;
    if (i == kMaxVarintBytes - 1 && byte > 1) return VarintStatus::kInvalid;
    v |= static_cast<uint64_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return VarintStatus::kInvalid;
      *out = v;
      *p = q;
      return VarintStatus::kOk;
    }
  }
  return VarintStatus::kInvalid;  // unreachable: the 10th byte has no continuation
}

}  // namespace edgestate::core
