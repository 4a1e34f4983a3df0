#include "core/merge.h"

#include <algorithm>

namespace edgestate::core {
namespace {

bool has_origin(const Reading *const *readings, size_t count, const Reading &r) {
  for (size_t k = 0; k < count; ++k) {
    if (same_origin(*readings[k], r)) return true;
  }
  return false;
}

}  // namespace

size_t merge_states(const StateView &a, const StateView &b, size_t max_candidates, StateView *out) {
  const size_t limit = std::min(max_candidates, kMaxCandidates) + 1;
  // Pointers into the inputs rather than copies: comparing against readings
  // just written to *out would stall on store forwarding, and an array of
  // Readings would be zero-filled on every call.
  const Reading *kept[kMaxEntries];
  size_t kept_count = 0;
  // Origins that did not fit, each counted once, and remembered so that an
  // older reading of a dropped origin is recognised as superseded.
  const Reading *dropped[2 * kMaxEntries];
  size_t dropped_count = 0;
  size_t i = 0;
  size_t j = 0;
  // Walk both descending lists in merged descending order: the first reading
  // seen of each origin is that origin's newest, and the first `limit` such
  // readings are the top of the per-origin maxima.
  while (i < a.count || j < b.count) {
    const Reading *next;
    if (j == b.count) {
      next = &a.entries[i++];
    } else if (i == a.count) {
      next = &b.entries[j++];
    } else {
      const int c = compare_readings(a.entries[i], b.entries[j]);
      if (c >= 0) {
        next = &a.entries[i++];
        j += c == 0;  // the same reading in both inputs
      } else {
        next = &b.entries[j++];
      }
    }
    if (has_origin(kept, kept_count, *next)) continue;  // superseded by a newer one
    if (kept_count < limit) {
      kept[kept_count++] = next;
    } else if (!has_origin(dropped, dropped_count, *next)) {
      dropped[dropped_count++] = next;
    }
  }
  for (size_t k = 0; k < kept_count; ++k) out->entries[k] = *kept[k];
  out->count = static_cast<uint8_t>(kept_count);
  out->truncated = a.truncated || b.truncated || dropped_count > 0;
  return dropped_count;
}

}  // namespace edgestate::core
