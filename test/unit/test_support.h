// Helpers shared by the core unit and property tests: owned readings, byte
// buffers, and merge/encode wrappers that throw on failure (so they work both
// under gtest assertions and inside RapidCheck properties).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/merge.h"
#include "core/state_codec.h"

namespace edgestate::core::test {

using Bytes = std::vector<uint8_t>;

// A reading that owns its names; view() borrows them.
struct OwnedReading {
  double value;
  uint64_t hlc;
  uint32_t skew_ms;
  std::string region;
  std::string device;

  Reading view() const { return Reading(value, hlc, skew_ms, region, device); }
};

inline Bytes encode(const StateView &state) {
  Bytes out(encoded_size(state));
  if (encode_state(state, out.data(), out.size()) != out.size()) {
    throw std::runtime_error("encode_state wrote an unexpected size");
  }
  return out;
}

// The view points into bytes, which must outlive it.
inline StateView decode(const Bytes &bytes) {
  StateView state;
  const DecodeStatus status = decode_state(bytes.data(), bytes.size(), &state);
  if (status != DecodeStatus::kOk) throw std::runtime_error(describe(status));
  return state;
}

inline Bytes single(const Reading &reading) {
  StateView state;
  const ReadingError error = state_of(reading, &state);
  if (error != ReadingError::kOk) throw std::runtime_error(describe(error));
  return encode(state);
}

inline Bytes single(const OwnedReading &reading) { return single(reading.view()); }

inline Bytes merge(const Bytes &a, const Bytes &b, size_t max_candidates,
                   size_t *dropped = nullptr) {
  const StateView va = decode(a);
  const StateView vb = decode(b);
  StateView out;
  const size_t n = merge_states(va, vb, max_candidates, &out);
  if (dropped != nullptr) *dropped = n;
  return encode(out);
}

}  // namespace edgestate::core::test
