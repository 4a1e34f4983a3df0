#include "counters.hpp"

#include "pg.hpp"

extern "C" {
#include "port/atomics.h"
}

namespace edgestate {
namespace {

struct SharedCounters {
  pg_atomic_uint64 values[static_cast<int>(Counter::kCount)];
};

SharedCounters *shared_counters = nullptr;

}  // namespace

const char *counter_name(Counter counter) {
  switch (counter) {
    case Counter::kClockOffsetRejected: return "clock_offset_rejected";
    case Counter::kClockBorrowed: return "clock_borrowed";
    case Counter::kCandidatesDropped: return "candidates_dropped";
    case Counter::kConflictsResolved: return "conflicts_resolved";
    case Counter::kCount: break;
  }
  return "unknown";
}

size_t counters_shmem_size() { return sizeof(SharedCounters); }

void counters_shmem_init(void *memory, bool found) {
  shared_counters = static_cast<SharedCounters *>(memory);
  if (found) return;
  for (auto &value : shared_counters->values) pg_atomic_init_u64(&value, 0);
}

void counter_add(Counter counter, uint64_t amount) {
  if (shared_counters == nullptr) return;
  pg_atomic_fetch_add_u64(&shared_counters->values[static_cast<int>(counter)], amount);
}

uint64_t counter_read(Counter counter) {
  if (shared_counters == nullptr) return 0;
  return pg_atomic_read_u64(&shared_counters->values[static_cast<int>(counter)]);
}

}  // namespace edgestate
