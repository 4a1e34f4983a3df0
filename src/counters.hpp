// Cluster-wide event counters in shared memory, read by edgestate.metrics.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgestate {

enum class Counter : int {
  kClockOffsetRejected,  // hlc_observe() refusals
  kClockBorrowed,        // hlc_now() ran ahead of a wall clock that went backwards
  kCandidatesDropped,    // per-origin entries dropped by edgestate.max_candidates
  kConflictsResolved,    // conflicted states turned into one value by resolve()
  kChangelogReadings,    // readings the output plugin emitted
  kChangelogBytes,       // bytes the output plugin emitted for them
  kCount
};

const char *counter_name(Counter counter);
size_t counters_shmem_size();
void counters_shmem_init(void *memory, bool found);

// Adds to a counter; without shared memory (library not preloaded) a no-op.
void counter_add(Counter counter, uint64_t amount = 1);
uint64_t counter_read(Counter counter);

}  // namespace edgestate
