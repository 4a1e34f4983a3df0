// The server's hybrid logical clock: one 64-bit value in shared memory that
// every backend advances with compare-and-swap, and a high-water mark persisted
// ahead of use so that the clock never goes backwards across restarts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgestate {

inline constexpr const char *kClockSegmentName = "edgestate clock";

size_t clock_shmem_size();
void clock_shmem_init(void *memory, bool found);

// Unix milliseconds of the wall clock.
uint64_t wall_clock_ms();

// A new timestamp, greater than every one this server issued before.
uint64_t clock_now();

// Folds a remote timestamp into the clock (HLC receive rule) and returns the
// new local timestamp; ERROR when it runs ahead of local time by more than
// edgestate.max_clock_offset (the clock is left unchanged and the refusal counted).
uint64_t clock_observe(uint64_t remote);

}  // namespace edgestate
