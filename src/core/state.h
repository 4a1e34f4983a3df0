// The merged state of one key, as views, and its derived conflict candidates.
//
// A state S(R) of a set R of readings of one key holds, for each origin
// (region, device), its newest reading; of those it keeps the K + 1 greatest
// (K = max_candidates), sorted descending, plus a `truncated` flag telling that
// more than K + 1 origins existed. Entry 0 is the winner. See
// docs/merge-policy.md for why this makes merge a semilattice.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/hlc.h"
#include "core/reading.h"

namespace edgestate::core {

constexpr size_t kMaxCandidates = 15;
constexpr size_t kDefaultCandidates = 4;
constexpr size_t kMaxEntries = kMaxCandidates + 1;

// A state whose readings are views into buffers owned by someone else (a
// decoded varlena, shared memory, or the inputs of a merge). Fixed capacity,
// no heap. Only entries [0, count) are meaningful.
struct StateView {
  // Declaring the array inside an anonymous union leaves it uninitialised:
  // string_view's constructor would otherwise zero-fill all kMaxEntries
  // entries on every merge, which costs more than the merge itself.
  StateView() : count(0), truncated(false) {}
  union {
    Reading entries[kMaxEntries];
  };
  uint8_t count;
  bool truncated;

  const Reading &winner() const { return entries[0]; }
};

// Whether `other` lies within the conflict window of `winner`: their physical
// times differ by at most the larger of their two skew bounds (inclusive).
// Requires other <= winner in the total order.
inline bool in_conflict_window(const Reading &winner, const Reading &other) {
  const uint64_t gap = hlc_physical(winner.hlc) - hlc_physical(other.hlc);
  const uint32_t bound = winner.skew_ms > other.skew_ms ? winner.skew_ms : other.skew_ms;
  return gap <= bound;
}

// The conflict candidates of a state: the indices i >= 1, in stored order, of
// the entries within the winner's conflict window. Derived on demand, never
// stored, so that merge stays a pure top-k of per-origin maxima.
struct CandidateList {
  uint8_t count;
  uint8_t index[kMaxCandidates];
};

CandidateList conflict_candidates(const StateView &state);

// At least one conflict candidate.
bool is_conflicted(const StateView &state);

// The state of a single reading: *out holds just that reading, viewing its
// names. Validates the reading first and leaves *out untouched on error.
ReadingError state_of(const Reading &reading, StateView *out);

}  // namespace edgestate::core
