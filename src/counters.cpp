#include "counters.hpp"

#include "guard.hpp"
#include "shmem.hpp"

extern "C" {
#include "funcapi.h"
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
    case Counter::kClockOffsetRejected:
      return "clock_offset_rejected";
    case Counter::kClockBorrowed:
      return "clock_borrowed";
    case Counter::kCandidatesDropped:
      return "candidates_dropped";
    case Counter::kConflictsResolved:
      return "conflicts_resolved";
    case Counter::kChangelogReadings:
      return "changelog_readings";
    case Counter::kChangelogBytes:
      return "changelog_bytes";
    case Counter::kCount:
      break;
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

// edgestate.counters(): every counter with its value.
ES_SQL_FUNCTION(es_counters) {
  edgestate::require_shmem("edgestate.counters()");
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  for (int i = 0; i < static_cast<int>(edgestate::Counter::kCount); ++i) {
    auto counter = static_cast<edgestate::Counter>(i);
    Datum values[2] = {CStringGetTextDatum(edgestate::counter_name(counter)),
                       Int64GetDatum(static_cast<int64>(edgestate::counter_read(counter)))};
    bool nulls[2] = {false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return Datum(0);
}
