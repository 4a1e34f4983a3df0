// Merging two states: the join of the state semilattice.
#pragma once

#include <cstddef>

#include "core/state.h"

namespace edgestate::core {

// out = S(A ∪ B) for a = S(A), b = S(B), keeping max_candidates + 1 entries
// (max_candidates is clamped to kMaxCandidates). Commutative, associative and
// idempotent. a and b must be valid states built with at least max_candidates
// (a smaller one may already have dropped entries this merge would keep); out
// must not alias them and its readings view their buffers.
//
// Returns how many origins were dropped because only max_candidates + 1
// entries fit (for metrics; not part of the state).
size_t merge_states(const StateView &a, const StateView &b, size_t max_candidates, StateView *out);

}  // namespace edgestate::core
