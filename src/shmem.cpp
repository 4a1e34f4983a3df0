#include "shmem.hpp"

#include "calibration.hpp"
#include "counters.hpp"
#include "hlc_clock.hpp"
#include "invalidations.hpp"
#include "latest_index.hpp"
#include "pg.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

namespace edgestate {
namespace {

// One named shared-memory segment per concern, with an LWLock tranche of the
// same name when it needs locks (GetNamedLWLockTranche(name) in its init).
struct Segment {
  const char *name;
  size_t (*size)();
  void (*init)(void *memory, bool found);
  int lwlocks;
};

const Segment kSegments[] = {
    {"edgestate counters", counters_shmem_size, counters_shmem_init, 0},
    {kClockSegmentName, clock_shmem_size, clock_shmem_init, 1},
    {kLatestSegmentName, latest_shmem_size, latest_shmem_init,
     static_cast<int>(kLatestPartitions) + 1},
    {kCalibrationSegmentName, calibration_shmem_size, calibration_shmem_init, kCalibrationLocks},
    {kInvalidationSegmentName, invalidations_shmem_size, invalidations_shmem_init, 1},
};

shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;
bool attached = false;

void request_shmem() {
  if (prev_shmem_request_hook != nullptr) prev_shmem_request_hook();
  for (const Segment &segment : kSegments) {
    RequestAddinShmemSpace(MAXALIGN(segment.size()));
    if (segment.lwlocks > 0) RequestNamedLWLockTranche(segment.name, segment.lwlocks);
  }
}

void startup_shmem() {
  if (prev_shmem_startup_hook != nullptr) prev_shmem_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  for (const Segment &segment : kSegments) {
    bool found = false;
    void *memory = ShmemInitStruct(segment.name, segment.size(), &found);
    segment.init(memory, found);
  }
  LWLockRelease(AddinShmemInitLock);
  attached = true;
}

}  // namespace

void install_shmem_hooks() {
  prev_shmem_request_hook = shmem_request_hook;
  shmem_request_hook = request_shmem;
  prev_shmem_startup_hook = shmem_startup_hook;
  shmem_startup_hook = startup_shmem;
}

bool shmem_ready() { return attached; }

void require_shmem(const char *feature) {
  if (attached) return;
  ereport(ERROR,
          (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
           errmsg("%s requires edgestate to be loaded via shared_preload_libraries", feature),
           errhint("Add 'edgestate' to shared_preload_libraries in postgresql.conf and restart "
                   "the server.")));
}

}  // namespace edgestate
