#include "hlc_clock.hpp"

#include <cinttypes>

#include "core/hlc.h"
#include "counters.hpp"
#include "gucs.hpp"
#include "pg.hpp"

extern "C" {
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

// This file is deliberately plain: no object with a destructor is alive when
// it ereports, so errors may leave through PostgreSQL's longjmp.

namespace edgestate {
namespace {

// The high-water mark file, in the data directory. "running <ms>": no issued
// timestamp has a physical part above <ms>. "clean <hlc>": the exact last
// timestamp, written at clean shutdown.
constexpr const char *kClockFile = "edgestate_clock";
constexpr const char *kClockTempFile = "edgestate_clock.tmp";

// How far ahead of use the mark is persisted: one fsync per this many ms of
// clock progress at most, and after a crash the clock restarts at most this
// far ahead of the wall clock.
constexpr uint64_t kPersistAheadMs = 250;

struct SharedClock {
  LWLock *persist_lock;
  pg_atomic_uint64 last;          // last issued hybrid logical timestamp
  pg_atomic_uint64 persisted_ms;  // physical bound the file guarantees
};

SharedClock *shared_clock = nullptr;

void write_clock_file(const char *state, uint64_t value, int elevel) {
  FILE *file = AllocateFile(kClockTempFile, PG_BINARY_W);
  if (file == nullptr) {
    ereport(elevel, (errcode_for_file_access(),
                     errmsg("could not create file \"%s\": %m", kClockTempFile)));
    return;
  }
  fprintf(file, "edgestate-clock 1 %s %" PRIu64 "\n", state, value);
  if (fflush(file) != 0 || pg_fsync(fileno(file)) != 0) {
    ereport(elevel,
            (errcode_for_file_access(), errmsg("could not write file \"%s\": %m", kClockTempFile)));
    FreeFile(file);
    return;
  }
  FreeFile(file);
  durable_rename(kClockTempFile, kClockFile, elevel);
}

// The timestamp to continue from at startup: strictly above every timestamp
// issued before, whatever the wall clock says now.
uint64_t read_clock_file() {
  FILE *file = AllocateFile(kClockFile, PG_BINARY_R);
  if (file == nullptr) return 0;
  char state[16] = {};
  uint64_t value = 0;
  int fields = fscanf(file, "edgestate-clock 1 %15s %" SCNu64, state, &value);
  FreeFile(file);
  if (fields != 2) {
    ereport(WARNING, (errmsg("ignoring malformed edgestate clock file \"%s\"", kClockFile)));
    return 0;
  }
  if (strcmp(state, "clean") == 0) return value;
  return core::hlc_make(value, core::kMaxLogical);
}

void save_clock_at_shutdown(int code, Datum) {
  // After a crash the persisted mark stays; it is ahead of every issued value.
  if (code != 0 || shared_clock == nullptr) return;
  write_clock_file("clean", pg_atomic_read_u64(&shared_clock->last), LOG);
}

// Makes sure the file covers a timestamp with this physical part before any
// backend hands it out.
void persist_ahead_of(uint64_t physical_ms) {
  if (physical_ms <= pg_atomic_read_u64(&shared_clock->persisted_ms)) return;
  LWLockAcquire(shared_clock->persist_lock, LW_EXCLUSIVE);
  if (physical_ms > pg_atomic_read_u64(&shared_clock->persisted_ms)) {
    uint64_t bound = physical_ms + kPersistAheadMs;
    write_clock_file("running", bound, ERROR);
    pg_atomic_write_u64(&shared_clock->persisted_ms, bound);
  }
  LWLockRelease(shared_clock->persist_lock);
}

// The logical counter is exhausted and the wall clock is at (or within a
// millisecond of) the clock's physical part: wait for the next millisecond.
void wait_for_next_millisecond() {
  pg_usleep(50);
  CHECK_FOR_INTERRUPTS();
}

// Installs `next` if the clock still holds `expected`.
bool publish(uint64_t expected, uint64_t next, bool borrowed) {
  persist_ahead_of(core::hlc_physical(next));
  if (!pg_atomic_compare_exchange_u64(&shared_clock->last, &expected, next)) return false;
  if (borrowed) counter_add(Counter::kClockBorrowed);
  return true;
}

}  // namespace

size_t clock_shmem_size() { return sizeof(SharedClock); }

void clock_shmem_init(void *memory, bool found) {
  shared_clock = static_cast<SharedClock *>(memory);
  if (found) return;
  shared_clock->persist_lock = &(GetNamedLWLockTranche(kClockSegmentName))->lock;
  pg_atomic_init_u64(&shared_clock->last, read_clock_file());
  // Zero forces the first timestamp after startup to persist a new mark.
  pg_atomic_init_u64(&shared_clock->persisted_ms, 0);
  if (!IsUnderPostmaster) on_shmem_exit(save_clock_at_shutdown, 0);
}

uint64_t wall_clock_ms() {
  int64 unix_ms = now_unix_us() / 1000;
  return unix_ms > 0 ? static_cast<uint64_t>(unix_ms) : 0;
}

uint64_t clock_now() {
  for (;;) {
    uint64_t last = pg_atomic_read_u64(&shared_clock->last);
    uint64_t wall = wall_clock_ms();
    if (core::hlc_tick_should_wait(last, wall)) {
      wait_for_next_millisecond();
      continue;
    }
    core::HlcStep step = core::hlc_tick(last, wall);
    if (publish(last, step.value, step.borrowed)) return step.value;
  }
}

uint64_t clock_observe(uint64_t remote) {
  for (;;) {
    uint64_t last = pg_atomic_read_u64(&shared_clock->last);
    uint64_t wall = wall_clock_ms();
    auto max_offset = static_cast<uint64_t>(guc_max_clock_offset_ms);
    core::ObserveResult result = core::hlc_observe(last, remote, wall, max_offset);
    switch (result.status) {
      case core::ObserveStatus::kTooFarAhead:
        counter_add(Counter::kClockOffsetRejected);
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("timestamp is %" PRIu64 " ms ahead of the local clock",
                               core::hlc_physical(remote) - wall),
                        errdetail("edgestate.max_clock_offset is %d ms.", guc_max_clock_offset_ms),
                        errhint("Check the clock of the device or server that produced it.")));
        break;
      case core::ObserveStatus::kWouldOverflow: {
        uint64_t newest = remote > last ? remote : last;
        if (core::hlc_tick_should_wait(newest, wall)) {
          wait_for_next_millisecond();
          continue;
        }
        uint64_t next = core::hlc_borrow(newest);
        if (publish(last, next, true)) return next;
        continue;
      }
      case core::ObserveStatus::kOk:
        if (publish(last, result.value, false)) return result.value;
        continue;
    }
  }
}

}  // namespace edgestate
