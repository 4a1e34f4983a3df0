// Little-endian loads and stores through memcpy, so encoded states can sit at
// any alignment (varlena payloads, shared memory, network buffers).
#pragma once

#include <cstdint>
#include <cstring>

namespace edgestate::core {

inline uint64_t load_le64(const uint8_t *p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline void store_le64(uint8_t *p, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  std::memcpy(p, &v, sizeof v);
}

}  // namespace edgestate::core
