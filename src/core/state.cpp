#include "core/state.h"

namespace edgestate::core {

CandidateList conflict_candidates(const StateView &state) {
  CandidateList list;
  list.count = 0;
  for (uint8_t i = 1; i < state.count; ++i) {
    if (in_conflict_window(state.winner(), state.entries[i])) list.index[list.count++] = i;
  }
  return list;
}

bool is_conflicted(const StateView &state) {
  for (uint8_t i = 1; i < state.count; ++i) {
    if (in_conflict_window(state.winner(), state.entries[i])) return true;
  }
  return false;
}

ReadingError state_of(const Reading &reading, StateView *out) {
  const ReadingError error = validate_reading(reading);
  if (error != ReadingError::kOk) return error;
  // Rebuilt through the constructor: the fields are public, so the value may
  // hold a NaN that was never canonicalised.
  out->entries[0] =
      Reading(reading.value, reading.hlc, reading.skew_ms, reading.region, reading.device);
  out->count = 1;
  out->truncated = false;
  return ReadingError::kOk;
}

}  // namespace edgestate::core
