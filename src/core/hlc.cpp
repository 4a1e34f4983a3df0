#include "core/hlc.h"

#include <algorithm>

namespace edgestate::core {

bool hlc_tick_would_overflow(uint64_t last, uint64_t wall_ms) {
  return wall_ms <= hlc_physical(last) && hlc_logical(last) == kMaxLogical;
}

bool hlc_tick_should_wait(uint64_t last, uint64_t wall_ms) {
  return hlc_tick_would_overflow(last, wall_ms) &&
         hlc_physical(last) - wall_ms <= kMaxOverflowWaitMs;
}

uint64_t hlc_borrow(uint64_t last) { return hlc_make(hlc_physical(last) + 1, 0); }

HlcStep hlc_tick(uint64_t last, uint64_t wall_ms) {
  const uint64_t physical = hlc_physical(last);
  if (wall_ms > physical) return HlcStep{hlc_make(wall_ms, 0), false};
  if (hlc_logical(last) < kMaxLogical) return HlcStep{last + 1, false};
  return HlcStep{hlc_borrow(last), true};
}

ObserveResult hlc_observe(uint64_t last, uint64_t remote, uint64_t wall_ms,
                          uint64_t max_offset_ms) {
  const uint64_t l = hlc_physical(last);
  const uint64_t lm = hlc_physical(remote);
  // Written as a difference so that a huge max_offset_ms cannot overflow.
  if (lm > wall_ms && lm - wall_ms > max_offset_ms) {
    return ObserveResult{ObserveStatus::kTooFarAhead, last};
  }
  const uint64_t lp = std::max({l, lm, wall_ms});
  const uint32_t c = hlc_logical(last);
  const uint32_t cm = hlc_logical(remote);
  uint32_t counter = 0;
  if (lp == l && lp == lm) {
    counter = std::max(c, cm) + 1;
  } else if (lp == l) {
    counter = c + 1;
  } else if (lp == lm) {
    counter = cm + 1;
  }
  if (counter > kMaxLogical) return ObserveResult{ObserveStatus::kWouldOverflow, last};
  return ObserveResult{ObserveStatus::kOk, hlc_make(lp, counter)};
}

}  // namespace edgestate::core
