// A sensor reading and the deterministic total order the merge policy uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/short_bytes.h"

namespace edgestate::core {

// Region and device names are limited like PostgreSQL identifiers
// (NAMEDATALEN - 1 bytes), which also lets the binary form use 1-byte lengths.
constexpr size_t kMaxNameBytes = 63;
// Largest skew bound a region may declare (24 hours).
constexpr uint32_t kMaxSkewMs = 86'400'000;

// The one NaN bit pattern readings carry (the positive quiet NaN that
// PostgreSQL's get_float8_nan() returns), so equal readings are byte-identical.
constexpr uint64_t kCanonicalNanBits = 0x7FF8'0000'0000'0000;

inline uint64_t double_bits(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline double canonical_value(double value) {
  if (value != value) {
    std::memcpy(&value, &kCanonicalNanBits, sizeof value);
  }
  return value;
}

// Names are views: a Reading never owns memory, so states decoded from a
// buffer point into that buffer and the merge hot path never allocates.
struct Reading {
  double value;
  uint64_t hlc;
  uint32_t skew_ms;
  std::string_view region;  // never empty in a valid reading
  std::string_view device;  // empty means "no device"

  // Fixed-capacity arrays of readings need a default constructor.
  Reading() = default;
  Reading(double value_in, uint64_t hlc_in, uint32_t skew_ms_in, std::string_view region_in,
          std::string_view device_in)
      : value(canonical_value(value_in)),
        hlc(hlc_in),
        skew_ms(skew_ms_in),
        region(region_in),
        device(device_in) {}
};

enum class ReadingError {
  kOk,
  kEmptyRegion,
  kRegionTooLong,
  kDeviceTooLong,
  kSkewOutOfRange,
};

const char *describe(ReadingError error);

ReadingError validate_reading(const Reading &reading);

inline bool same_origin(const Reading &a, const Reading &b) {
  return a.region.size() == b.region.size() && a.device.size() == b.device.size() &&
         short_bytes_equal(a.region.data(), b.region.data(), a.region.size()) &&
         short_bytes_equal(a.device.data(), b.device.data(), a.device.size());
}

// Byte-wise unsigned comparison (memcmp semantics), shorter prefix first.
inline int compare_bytes(std::string_view a, std::string_view b) {
  const size_t common = a.size() < b.size() ? a.size() : b.size();
  const int c = common == 0 ? 0 : std::memcmp(a.data(), b.data(), common);
  if (c != 0) return c;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

// The total order: hlc, then origin (region bytes, then device bytes), then the
// value's bit pattern as a uint64, then skew_ms. Negative, zero or positive.
// The value bits break ties only so that the order is total; they carry no
// meaning. The greatest reading of a set is its winner.
inline int compare_readings(const Reading &a, const Reading &b) {
  if (a.hlc != b.hlc) return a.hlc < b.hlc ? -1 : 1;
  if (int c = compare_bytes(a.region, b.region); c != 0) return c;
  if (int c = compare_bytes(a.device, b.device); c != 0) return c;
  const uint64_t va = double_bits(a.value);
  const uint64_t vb = double_bits(b.value);
  if (va != vb) return va < vb ? -1 : 1;
  if (a.skew_ms != b.skew_ms) return a.skew_ms < b.skew_ms ? -1 : 1;
  return 0;
}

}  // namespace edgestate::core
