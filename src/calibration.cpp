#include "calibration.hpp"

#include <algorithm>

#include <string>
#include <vector>

#include "core/delay_sketch.h"
#include "core/hlc.h"
#include "core/reading.h"
#include "core/region_bounds.h"
#include "core/short_bytes.h"
#include "guard.hpp"
#include "gucs.hpp"
#include "hlc_clock.hpp"
#include "sensorstate_contract.hpp"
#include "shmem.hpp"

extern "C" {
#include "access/xact.h"
#include "funcapi.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace edgestate {
namespace {

constexpr int kSlots = 256;

// rel == InvalidOid: the clock skew of a region as hlc_observe() saw it.
struct CalibrationSlot {
  Oid db;
  Oid rel;
  uint8_t region_size;
  char region[core::kMaxNameBytes];
  core::DelaySketch sketch;
};

struct CalibrationShared {
  LWLockPadded *locks;  // [0]: creating slots; [1 + i % 16]: slot i
  pg_atomic_uint32 count;
  CalibrationSlot slots[kSlots];
};

CalibrationShared *shared = nullptr;

LWLock *slot_lock(int slot) { return &shared->locks[1 + slot % (kCalibrationLocks - 1)].lock; }

// Every slot in use has a region, so a slot with none is free (never used,
// or released when its table was dropped) and may be reused.
bool slot_is_free(const CalibrationSlot &slot) { return slot.region_size == 0; }

bool slot_matches(const CalibrationSlot &slot, Oid db, Oid rel, std::string_view region) {
  return !slot_is_free(slot) && slot.db == db && slot.rel == rel &&
         slot.region_size == region.size() &&
         memcmp(slot.region, region.data(), region.size()) == 0;
}

// The index of the slot of (db, rel, region), created when asked; -1 when
// absent or every slot is taken. The lock-free scan only finds a candidate:
// a slot can be released and reused at any time, so users lock it with
// lock_slot, which checks it again under its lock. Identities change only
// under locks[0] and the slot's own lock.
int find_slot(Oid db, Oid rel, std::string_view region, bool create) {
  uint32 count = pg_atomic_read_u32(&shared->count);
  pg_read_barrier();
  for (uint32 i = 0; i < count; ++i)
    if (slot_matches(shared->slots[i], db, rel, region)) return static_cast<int>(i);
  if (!create || region.empty() || region.size() > core::kMaxNameBytes) return -1;
  LWLockAcquire(&shared->locks[0].lock, LW_EXCLUSIVE);
  int found = -1;
  int free_slot = -1;
  count = pg_atomic_read_u32(&shared->count);
  for (uint32 i = 0; i < count && found < 0; ++i) {
    if (slot_matches(shared->slots[i], db, rel, region)) found = static_cast<int>(i);
    if (free_slot < 0 && slot_is_free(shared->slots[i])) free_slot = static_cast<int>(i);
  }
  if (found < 0 && (free_slot >= 0 || count < kSlots)) {
    found = free_slot >= 0 ? free_slot : static_cast<int>(count);
    CalibrationSlot &slot = shared->slots[found];
    LWLockAcquire(slot_lock(found), LW_EXCLUSIVE);
    slot.db = db;
    slot.rel = rel;
    memcpy(slot.region, region.data(), region.size());
    slot.region_size = static_cast<uint8_t>(region.size());
    core::delay_sketch_init(&slot.sketch, static_cast<uint32_t>(guc_calibration_window));
    LWLockRelease(slot_lock(found));
    if (free_slot < 0) {
      pg_write_barrier();
      pg_atomic_write_u32(&shared->count, count + 1);
    }
  }
  LWLockRelease(&shared->locks[0].lock);
  return found;
}

// The slot of (db, rel, region) with its lock held in `mode`, created when
// asked; -1 (no lock held) when absent or every slot is taken.
int lock_slot(Oid db, Oid rel, std::string_view region, bool create, LWLockMode mode) {
  // A second try covers a slot released and reused between scan and lock.
  for (int attempt = 0; attempt < 2; ++attempt) {
    int slot = find_slot(db, rel, region, create);
    if (slot < 0) return -1;
    LWLockAcquire(slot_lock(slot), mode);
    if (slot_matches(shared->slots[slot], db, rel, region)) return slot;
    LWLockRelease(slot_lock(slot));
  }
  return -1;
}

// This transaction's observations, per (relation, region).
struct LocalKey {
  Oid rel;
  uint8_t region_size;
  char region[core::kMaxNameBytes];
};
struct LocalSketch {
  LocalKey key;
  core::DelaySketch sketch;
};
HTAB *local = nullptr;

// Small transactions keep their few observations as they are and record them
// one by one at commit; a local sketch per (relation, region) takes over once
// there are more (a sketch costs a 2 KiB merge at commit).
constexpr int kDirectObservations = 16;
struct Observation {
  LocalKey key;
  int64_t delay_us;
};
Observation direct[kDirectObservations];
int direct_count = 0;

// Observations of rows a rolled-back subtransaction inserted must not count.
// Each open subtransaction notes where the transaction's observations stood
// when it started (the innermost last). If it rolls back having added only
// direct observations, they are dropped; if some went into a sketch, which
// cannot give them back, the whole transaction's observations are dropped.
struct SubtransactionMark {
  int direct_count;
  uint64 observed;
};
constexpr int kMarkedLevels = 64;  // deeper subtransactions use the 64th's mark
SubtransactionMark marks[kMarkedLevels];
int open_subtransactions = 0;
uint64 observed = 0;        // this transaction's observations
bool observations_dropped = false;

// Parsed edgestate.freshness_bounds, as GUC's "extra": one malloc'd block,
// because GUC releases it with free(). The region bytes follow the array.
struct FreshnessBound {
  int64_t milliseconds;
  uint32_t region_offset;  // from the start of the block
  uint32_t region_size;
};
struct FreshnessBounds {
  int count;
  FreshnessBound bounds[FLEXIBLE_ARRAY_MEMBER];
};
const FreshnessBounds *freshness_bounds = nullptr;  // kept by the assign hook

// nullptr when out of memory.
FreshnessBounds *flatten(const std::vector<core::RegionBound> &parsed) {
  size_t size = offsetof(FreshnessBounds, bounds) + sizeof(FreshnessBound) * parsed.size();
  const size_t regions_at = size;
  for (const core::RegionBound &bound : parsed) size += bound.region.size();
  auto *flat = static_cast<FreshnessBounds *>(malloc(size));
  if (flat == nullptr) return nullptr;
  flat->count = static_cast<int>(parsed.size());
  size_t offset = regions_at;
  for (size_t i = 0; i < parsed.size(); ++i) {
    const core::RegionBound &bound = parsed[i];
    flat->bounds[i] = FreshnessBound{bound.milliseconds, static_cast<uint32_t>(offset),
                                     static_cast<uint32_t>(bound.region.size())};
    memcpy(reinterpret_cast<char *>(flat) + offset, bound.region.data(), bound.region.size());
    offset += bound.region.size();
  }
  return flat;
}

// A consistent copy of a slot, identity and sketch; check its identity.
CalibrationSlot copy_of_slot(int slot) {
  CalibrationSlot copy;
  LWLockAcquire(slot_lock(slot), LW_SHARED);
  copy = shared->slots[slot];
  LWLockRelease(slot_lock(slot));
  return copy;
}

// The lateness recommended by a delay sketch: its window_confidence quantile
// clamped to [min_lateness, max_lateness].
int64_t recommended_us(const core::DelaySketch &sketch) {
  int64_t quantile = core::delay_sketch_quantile(sketch, guc_window_confidence);
  int64_t low = static_cast<int64_t>(guc_min_lateness_ms) * 1000;
  int64_t high = static_cast<int64_t>(guc_max_lateness_ms) * 1000;
  return quantile < low ? low : (quantile > high ? high : quantile);
}

// The sketches of the most recently observed (relation, region) pairs: a
// batch cycles through a few regions, and finding a sketch by hash for every
// reading would cost more than recording into it.
constexpr int kRecentLocals = 8;
LocalSketch *recent_locals[kRecentLocals];
int recent_locals_next = 0;

bool local_matches(const LocalSketch &entry, Oid relid, std::string_view region) {
  return entry.key.rel == relid && entry.key.region_size == region.size() &&
         core::short_bytes_equal(entry.key.region, region.data(), region.size());
}

LocalSketch *local_sketch_of(Oid relid, std::string_view region) {
  for (LocalSketch *entry : recent_locals)
    if (entry != nullptr && local_matches(*entry, relid, region)) return entry;
  if (local == nullptr) {
    HASHCTL ctl;
    ctl.keysize = sizeof(LocalKey);
    ctl.entrysize = sizeof(LocalSketch);
    ctl.hcxt = TopTransactionContext;
    local = hash_create("edgestate arrival delays", 8, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
  }
  LocalKey key;
  memset(&key, 0, sizeof key);
  key.rel = relid;
  key.region_size = static_cast<uint8_t>(region.size());
  memcpy(key.region, region.data(), region.size());
  bool found = false;
  auto *entry = static_cast<LocalSketch *>(hash_search(local, &key, HASH_ENTER, &found));
  if (!found)
    core::delay_sketch_init(&entry->sketch, static_cast<uint32_t>(guc_calibration_window));
  recent_locals[recent_locals_next] = entry;
  recent_locals_next = (recent_locals_next + 1) % kRecentLocals;
  return entry;
}

}  // namespace

size_t calibration_shmem_size() { return sizeof(CalibrationShared); }

void calibration_shmem_init(void *memory, bool found) {
  shared = static_cast<CalibrationShared *>(memory);
  if (found) return;
  shared->locks = GetNamedLWLockTranche(kCalibrationSegmentName);
  pg_atomic_init_u32(&shared->count, 0);
}

void calibration_observe(Oid relid, std::string_view region, int64_t delay_us) {
  if (shared == nullptr || region.size() > core::kMaxNameBytes) return;
  ++observed;
  if (direct_count < kDirectObservations) {
    Observation &observation = direct[direct_count++];
    memset(&observation.key, 0, sizeof observation.key);
    observation.key.rel = relid;
    observation.key.region_size = static_cast<uint8_t>(region.size());
    memcpy(observation.key.region, region.data(), region.size());
    observation.delay_us = delay_us;
    return;
  }
  core::delay_sketch_record(&local_sketch_of(relid, region)->sketch, delay_us);
}

void calibration_start_subtransaction() {
  if (open_subtransactions < kMarkedLevels)
    marks[open_subtransactions] = SubtransactionMark{direct_count, observed};
  ++open_subtransactions;
}

void calibration_end_subtransaction(bool committed) {
  if (open_subtransactions == 0) return;
  const int level = --open_subtransactions;
  if (committed) return;  // its observations are its parent's now
  const SubtransactionMark &mark = marks[std::min(level, kMarkedLevels - 1)];
  if (observed == mark.observed) return;
  if (level < kMarkedLevels &&
      observed - mark.observed == static_cast<uint64>(direct_count - mark.direct_count)) {
    direct_count = mark.direct_count;
    observed = mark.observed;
    return;
  }
  observations_dropped = true;
}

void calibration_publish() {
  if (shared == nullptr || observations_dropped) return;
  for (int i = 0; i < direct_count; ++i) {
    const Observation &observation = direct[i];
    int slot = lock_slot(MyDatabaseId, observation.key.rel,
                         std::string_view(observation.key.region, observation.key.region_size),
                         true, LW_EXCLUSIVE);
    if (slot < 0) continue;
    core::delay_sketch_record(&shared->slots[slot].sketch, observation.delay_us);
    LWLockRelease(slot_lock(slot));
  }
  if (local == nullptr) return;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, local);
  while (auto *entry = static_cast<LocalSketch *>(hash_seq_search(&scan))) {
    int slot =
        lock_slot(MyDatabaseId, entry->key.rel,
                  std::string_view(entry->key.region, entry->key.region_size), true, LW_EXCLUSIVE);
    if (slot < 0) continue;  // every slot taken: this pair goes uncalibrated
    core::delay_sketch_merge(&shared->slots[slot].sketch, entry->sketch);
    LWLockRelease(slot_lock(slot));
  }
}

void calibration_release_relation(Oid db, Oid rel) {
  if (shared == nullptr) return;
  uint32 count = pg_atomic_read_u32(&shared->count);
  pg_read_barrier();
  for (uint32 i = 0; i < count; ++i) {
    CalibrationSlot &slot = shared->slots[i];
    if (slot.db != db || slot.rel != rel) continue;  // checked again under the lock
    LWLockAcquire(&shared->locks[0].lock, LW_EXCLUSIVE);
    LWLockAcquire(slot_lock(static_cast<int>(i)), LW_EXCLUSIVE);
    if (slot.db == db && slot.rel == rel && !slot_is_free(slot)) {
      slot.region_size = 0;
      slot.db = InvalidOid;
      slot.rel = InvalidOid;
    }
    LWLockRelease(slot_lock(static_cast<int>(i)));
    LWLockRelease(&shared->locks[0].lock);
  }
}

void calibration_forget_local() {
  direct_count = 0;
  open_subtransactions = 0;
  observed = 0;
  observations_dropped = false;
  memset(recent_locals, 0, sizeof recent_locals);
  local = nullptr;  // freed with TopTransactionContext
}

int64_t freshness_bound_ms(std::string_view region) {
  if (freshness_bounds == nullptr) return guc_freshness_bound_ms;
  const char *block = reinterpret_cast<const char *>(freshness_bounds);
  for (int i = 0; i < freshness_bounds->count; ++i) {
    const FreshnessBound &bound = freshness_bounds->bounds[i];
    if (std::string_view(block + bound.region_offset, bound.region_size) == region)
      return bound.milliseconds;
  }
  return guc_freshness_bound_ms;
}

// GUC hooks of edgestate.freshness_bounds. A check hook must return false
// rather than raise, so the C++ part catches everything itself.
bool check_freshness_bounds(char **value, void **extra, GucSource) {
  char error[256] = "out of memory";
  FreshnessBounds *flat = nullptr;
  try {
    std::vector<core::RegionBound> parsed;
    std::string message;
    if (!core::parse_region_bounds(*value != nullptr ? *value : "", &parsed, &message)) {
      snprintf(error, sizeof error, "%s", message.c_str());
    } else {
      // At most 100 years, so that freshness() can turn a bound into
      // microseconds and subtract it from a timestamp without overflowing.
      constexpr int64_t kMaxBoundMs = int64_t{36'500} * 86'400'000;
      auto too_large = std::find_if(parsed.begin(), parsed.end(), [](const core::RegionBound &b) {
        return b.milliseconds > kMaxBoundMs;
      });
      if (too_large == parsed.end())
        flat = flatten(parsed);
      else
        snprintf(error, sizeof error,
                 "the bound of region \"%s\" is longer than 100 years (36500 days)",
                 too_large->region.c_str());
    }
  } catch (...) {
    flat = nullptr;  // the message stays "out of memory"
  }
  if (flat == nullptr) {
    GUC_check_errdetail("%s", error);
    GUC_check_errhint("Write region=duration pairs, as in 'eu-west=10s, us-east=500ms'.");
    return false;
  }
  *extra = flat;
  return true;
}

void assign_freshness_bounds(const char *, void *extra) {
  freshness_bounds = static_cast<const FreshnessBounds *>(extra);
}

}  // namespace edgestate

using namespace edgestate;

// Arrival delays are kept per partition: a partitioned table has none.
void refuse_if_partitioned(Oid relid) {
  if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE) refuse_partitioned(get_rel_name(relid));
}

// recommended_lateness(table, region): the lateness that makes windows of the
// region final with edgestate.window_confidence.
ES_SQL_FUNCTION(es_recommended_lateness) {
  require_shmem("edgestate.recommended_lateness()");
  Oid relid = PG_GETARG_OID(0);
  require_select(relid);
  refuse_if_partitioned(relid);
  std::string_view region = text_view(PG_GETARG_TEXT_PP(1));
  core::DelaySketch sketch{};
  int slot = lock_slot(MyDatabaseId, relid, region, false, LW_SHARED);
  if (slot >= 0) {
    sketch = shared->slots[slot].sketch;
    LWLockRelease(slot_lock(slot));
  }
  if (slot < 0 || core::delay_sketch_count(sketch) == 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("no arrival delays observed for region \"%.*s\" of table \"%s\"",
                           static_cast<int>(region.size()), region.data(), get_rel_name(relid)),
                    errhint("The region is unknown, or nothing was inserted for it since the "
                            "server started; pass an explicit lateness.")));
  PG_RETURN_INTERVAL_P(interval_of_us(recommended_us(sketch)));
}

// arrival_delays(table): per region, the observed delays and the recommendation.
ES_SQL_FUNCTION(es_arrival_delays) {
  require_shmem("edgestate.arrival_delays()");
  Oid relid = PG_GETARG_OID(0);
  require_select(relid);
  refuse_if_partitioned(relid);
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  uint32 count = pg_atomic_read_u32(&shared->count);
  pg_read_barrier();
  for (uint32 i = 0; i < count; ++i) {
    if (shared->slots[i].db != MyDatabaseId || shared->slots[i].rel != relid) continue;
    const CalibrationSlot slot = copy_of_slot(static_cast<int>(i));
    if (slot.db != MyDatabaseId || slot.rel != relid || slot_is_free(slot)) continue;
    const core::DelaySketch &sketch = slot.sketch;
    Datum values[6];
    bool nulls[6] = {};
    values[0] = PointerGetDatum(cstring_to_text_with_len(slot.region, slot.region_size));
    values[1] = Int64GetDatum(static_cast<int64>(core::delay_sketch_count(sketch)));
    values[2] = IntervalPGetDatum(interval_of_us(core::delay_sketch_quantile(sketch, 0.5)));
    values[3] = IntervalPGetDatum(interval_of_us(core::delay_sketch_quantile(sketch, 0.99)));
    values[4] = IntervalPGetDatum(interval_of_us(core::delay_sketch_quantile(sketch, 1.0)));
    values[5] = IntervalPGetDatum(interval_of_us(recommended_us(sketch)));
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return Datum(0);
}

// clock_skews(): per region, how far (either way) the clocks that
// hlc_observe(remote, region) saw were from the local clock.
ES_SQL_FUNCTION(es_clock_skews) {
  require_shmem("edgestate.clock_skews()");
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  uint32 count = pg_atomic_read_u32(&shared->count);
  pg_read_barrier();
  for (uint32 i = 0; i < count; ++i) {
    if (shared->slots[i].rel != InvalidOid) continue;
    const CalibrationSlot slot = copy_of_slot(static_cast<int>(i));
    if (slot.rel != InvalidOid || slot_is_free(slot)) continue;
    const core::DelaySketch &sketch = slot.sketch;
    Datum values[4];
    bool nulls[4] = {};
    values[0] = PointerGetDatum(cstring_to_text_with_len(slot.region, slot.region_size));
    values[1] = Int64GetDatum(static_cast<int64>(core::delay_sketch_count(sketch)));
    values[2] = IntervalPGetDatum(interval_of_us(core::delay_sketch_quantile(sketch, 0.5)));
    values[3] = IntervalPGetDatum(interval_of_us(core::delay_sketch_quantile(sketch, 0.99)));
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return Datum(0);
}

// hlc_observe(remote, region): the receive rule, recording the region's skew
// (remote physical time minus local wall time) first, refused or not.
ES_SQL_FUNCTION(es_hlc_observe_region) {
  require_shmem("hlc_observe()");
  uint64_t remote = DatumGetUInt64(PG_GETARG_DATUM(0));
  std::string_view region = text_view(PG_GETARG_TEXT_PP(1));
  int64_t skew_us =
      (static_cast<int64_t>(core::hlc_physical(remote)) - static_cast<int64_t>(wall_clock_ms())) *
      1000;
  int slot = lock_slot(0, InvalidOid, region, true, LW_EXCLUSIVE);
  if (slot >= 0) {
    core::delay_sketch_record(&shared->slots[slot].sketch, skew_us < 0 ? -skew_us : skew_us);
    LWLockRelease(slot_lock(slot));
  }
  return cpp_entry([&] { return UInt64GetDatum(clock_observe(remote)); });
}
