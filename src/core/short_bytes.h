// Equality and copying of short byte strings (names of at most 63 bytes)
// without calling memcmp/memcpy: at these lengths the library call costs more
// than the work, and the merge hot path does several per entry. Each helper
// uses two possibly overlapping fixed-size accesses, which stay inside the
// n bytes and compile to plain loads and stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace edgestate::core {

inline bool short_bytes_equal(const char *a, const char *b, size_t n) {
  auto eq8 = [](const char *x, const char *y) {
    uint64_t u, v;
    std::memcpy(&u, x, 8);
    std::memcpy(&v, y, 8);
    return u == v;
  };
  auto eq4 = [](const char *x, const char *y) {
    uint32_t u, v;
    std::memcpy(&u, x, 4);
    std::memcpy(&v, y, 4);
    return u == v;
  };
  if (n > 16) return std::memcmp(a, b, n) == 0;
  if (n >= 8) return eq8(a, b) && eq8(a + n - 8, b + n - 8);
  if (n >= 4) return eq4(a, b) && eq4(a + n - 4, b + n - 4);
  if (n == 0) return true;
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

inline void copy_short_bytes(uint8_t *dst, const char *src, size_t n) {
  auto copy8 = [](uint8_t *d, const char *s) { std::memcpy(d, s, 8); };
  auto copy4 = [](uint8_t *d, const char *s) { std::memcpy(d, s, 4); };
  if (n > 16) {
    std::memcpy(dst, src, n);
  } else if (n >= 8) {
    copy8(dst, src);
    copy8(dst + n - 8, src + n - 8);
  } else if (n >= 4) {
    copy4(dst, src);
    copy4(dst + n - 4, src + n - 4);
  } else if (n > 0) {
    dst[0] = static_cast<uint8_t>(src[0]);
    dst[n / 2] = static_cast<uint8_t>(src[n / 2]);
    dst[n - 1] = static_cast<uint8_t>(src[n - 1]);
  }
}

}  // namespace edgestate::core
