#include "latest_index.hpp"

#include <algorithm>
#include <new>

#include "gucs.hpp"
#include "invalidations.hpp"
#include "pg.hpp"

extern "C" {
#include "access/transam.h"
#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/procarray.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

// Plain style: nothing here holds an object with a destructor across a call
// that may ereport.

namespace edgestate {
namespace {

constexpr int kMaxRelations = 1024;
constexpr int kMaxPreparedWrites = 256;
constexpr const char *kSnapshotFile = "edgestate_latest.snapshot";
constexpr uint32_t kSnapshotMagic = 0x45534C32;  // "ESL2"

struct RelationMeta {
  Oid db;
  Oid rel;
  bool complete;
  uint64_t epoch;
  uint64_t resets;
};

// A relation written by a prepared transaction. rel is InvalidOid for a
// transaction this server saw prepare that wrote no sensorstate table; assumed
// marks a transaction prepared before a restart, whose writes are unknown:
// it is taken to have written each relation loaded while it is pending.
struct PreparedWrite {
  TransactionId xid;
  Oid db;
  Oid rel;
  bool assumed;
};

struct LatestShared {
  LWLock *meta_lock;
  LWLockPadded *partition_locks;
  pg_atomic_uint64 hits;
  pg_atomic_uint64 misses;
  pg_atomic_uint64 evictions;
  pg_atomic_uint64 reloads;
  // Bumped by every eviction and reset, before the relation is marked
  // incomplete; committers compare it under the partition lock.
  pg_atomic_uint64 invalidations;
  int relation_count;
  RelationMeta relations[kMaxRelations];
  int prepared_count;
  PreparedWrite prepared[kMaxPreparedWrites];
  // prepared_count, readable without meta_lock (latest_settle_prepared).
  pg_atomic_uint32 prepared_pending;
};

LatestShared *shared = nullptr;
alignas(core::LatestTable) unsigned char table_storage[sizeof(core::LatestTable)];
core::LatestTable *table = nullptr;

core::LatestTableLayout layout() {
  return core::plan_latest_table(static_cast<size_t>(guc_latest_max_keys), kLatestPartitions);
}

size_t header_size() { return MAXALIGN(sizeof(LatestShared)); }

LWLock *partition_lock(uint64_t hash) {
  return &shared->partition_locks[table->partition_of(hash)].lock;
}

// Caller holds meta_lock; creates the entry (incomplete) when asked.
RelationMeta *find_meta(Oid db, Oid rel, bool create) {
  for (int i = 0; i < shared->relation_count; ++i) {
    RelationMeta &meta = shared->relations[i];
    if (meta.db == db && meta.rel == rel) return &meta;
  }
  if (!create) return nullptr;
  if (shared->relation_count < kMaxRelations) {
    RelationMeta &meta = shared->relations[shared->relation_count++];
    meta = RelationMeta{db, rel, false, 0, 0};
    return &meta;
  }
  // Full: reuse an incomplete slot (it remembers nothing worth keeping).
  for (int i = 0; i < shared->relation_count; ++i) {
    RelationMeta &meta = shared->relations[i];
    if (!meta.complete) {
      meta = RelationMeta{db, rel, false, meta.epoch + 1, meta.resets + 1};
      return &meta;
    }
  }
  return nullptr;
}

// Caller holds meta_lock exclusively. Removes prepared write i (the last one
// takes its place); prepared_pending follows prepared_count.
void remove_prepared_write(int i) {
  shared->prepared[i] = shared->prepared[--shared->prepared_count];
  pg_atomic_write_u32(&shared->prepared_pending, static_cast<uint32>(shared->prepared_count));
}

// Caller holds meta_lock exclusively. Loads of the relation in progress may
// not mark it complete (a new epoch) and, with new_reset, may not store what
// they read either (a new reset count).
void fail_loads(RelationMeta *meta, bool new_reset) {
  if (meta == nullptr) return;
  meta->epoch++;
  meta->complete = false;
  if (new_reset) meta->resets++;
}

// Whether a finished transaction committed. A record may wait long enough
// for VACUUM to truncate the commit log past its transaction; such a one is
// taken to have committed, which costs no more than a needless reset (and
// reading a truncated page would raise an ERROR, possibly at commit).
bool finished_transaction_committed(TransactionId xid) {
  LWLockAcquire(XactTruncationLock, LW_SHARED);
  bool committed = TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid) ||
                   TransactionIdDidCommit(xid);
  LWLockRelease(XactTruncationLock);
  return committed;
}

// Caller holds meta_lock exclusively. Forgets prepared write i, whose
// transaction has ended. Loads that overlapped it must not mark its relation
// complete (a new epoch) and, if it committed, must not store what they read
// before its rows became visible (a new reset count); dashboards are then
// told to reload the relation, because its rows were never published key by
// key. Whoever finds a finished write first settles it, so the reset is
// appended exactly once, tagged with this backend's database: callers settle
// only writes of MyDatabaseId. True if a reset was appended.
bool settle_prepared_write(int i) {
  const PreparedWrite write = shared->prepared[i];
  remove_prepared_write(i);
  if (!OidIsValid(write.rel)) return false;
  const bool committed = finished_transaction_committed(write.xid);
  fail_loads(find_meta(write.db, write.rel, committed), committed);
  if (!committed) return false;
  invalidation_append_reset(write.rel, now_unix_us());
  return true;
}

// Caller holds meta_lock exclusively. True while a prepared transaction that
// wrote the relation is pending; a finished one is settled, and *reset_appended
// set if that appended a reset (the caller wakes the worker once the lock is
// released).
bool blocked_by_prepared(Oid db, Oid rel, bool *reset_appended) {
  bool blocked = false;
  for (int i = 0; i < shared->prepared_count;) {
    const PreparedWrite &write = shared->prepared[i];
    if (write.db != db || write.rel != rel) {
      ++i;
    } else if (TransactionIdIsInProgress(write.xid)) {
      blocked = true;
      ++i;
    } else {
      if (settle_prepared_write(i)) *reset_appended = true;
      blocked = true;  // this load may have missed the prepared rows
    }
  }
  return blocked;
}

// Called with the partition lock still held, so that no committer can take
// the evicted key's place as if its relation were complete.
void note_eviction(const core::MergeOutcome &outcome) {
  if (outcome.evicted == 0) return;
  pg_atomic_fetch_add_u64(&shared->evictions, outcome.evicted);
  pg_atomic_fetch_add_u64(&shared->invalidations, 1);
  for (uint32_t i = 0; i < outcome.evicted_relation_count; ++i)
    latest_mark_incomplete(outcome.evicted_relations[i].db, outcome.evicted_relations[i].rel);
}

// The checkpoint of a clean shutdown, or InvalidXLogRecPtr when the last
// shutdown was not clean (immediate stop, crash): a snapshot is only valid for
// the exact shutdown checkpoint it was written after, since after an unclean
// stop the index may hold commits whose WAL was lost.
XLogRecPtr clean_shutdown_checkpoint() {
  bool crc_ok = false;
  ControlFileData *control = get_controlfile(DataDir, &crc_ok);
  XLogRecPtr checkpoint =
      (crc_ok && control->state == DB_SHUTDOWNED) ? control->checkPoint : InvalidXLogRecPtr;
  pfree(control);
  return checkpoint;
}

void restore_snapshot() {
  FILE *file = AllocateFile(kSnapshotFile, PG_BINARY_R);
  if (file == nullptr) return;
  uint32_t magic = 0;
  XLogRecPtr checkpoint = InvalidXLogRecPtr;
  int relations = 0;
  XLogRecPtr current = clean_shutdown_checkpoint();
  bool ok = fread(&magic, sizeof magic, 1, file) == 1 && magic == kSnapshotMagic &&
            fread(&checkpoint, sizeof checkpoint, 1, file) == 1 && current != InvalidXLogRecPtr &&
            checkpoint == current && fread(&relations, sizeof relations, 1, file) == 1 &&
            relations >= 0 && relations <= kMaxRelations;
  for (int i = 0; ok && i < relations; ++i) {
    RelationMeta meta;
    ok = fread(&meta, sizeof meta, 1, file) == 1;
    if (ok) shared->relations[shared->relation_count++] = meta;
  }
  auto *entry = static_cast<core::LatestEntry *>(palloc(sizeof(core::LatestEntry)));
  while (ok) {
    uint8_t present = 0;
    if (fread(&present, 1, 1, file) != 1) {
      ok = false;
      break;
    }
    if (present == 0) break;  // end marker
    ok = fread(entry, offsetof(core::LatestEntry, key), 1, file) == 1 &&
         fread(entry->key, entry->key_size, 1, file) == (entry->key_size > 0 ? 1u : 0u) &&
         fread(&entry->state_size, sizeof entry->state_size, 1, file) == 1 &&
         entry->state_size <= sizeof entry->state &&
         fread(entry->state, entry->state_size, 1, file) == 1;
    core::MergeOutcome outcome{};
    if (ok && !table->restore(*entry, &outcome)) {
      RelationMeta *meta = find_meta(entry->db, entry->rel, true);
      if (meta != nullptr) meta->complete = false;
    }
    for (uint32_t i = 0; i < outcome.evicted_relation_count; ++i) {
      RelationMeta *meta =
          find_meta(outcome.evicted_relations[i].db, outcome.evicted_relations[i].rel, true);
      if (meta != nullptr) meta->complete = false;
    }
  }
  pfree(entry);
  FreeFile(file);
  if (!ok) {
    // Damaged, or not from the last clean shutdown: trust nothing; every
    // relation reloads from its table.
    ereport(LOG, (errmsg("edgestate: ignoring latest-index snapshot \"%s\" (damaged, or not "
                         "from the last clean shutdown)",
                         kSnapshotFile)));
    for (int i = 0; i < shared->relation_count; ++i) shared->relations[i].complete = false;
  }
  // Never restore the same snapshot twice (a crash later must not bring it back).
  unlink(kSnapshotFile);
}

struct SaveContext {
  FILE *file;
  bool ok;
};

void save_entry(const core::LatestEntry &entry, void *context) {
  auto *save = static_cast<SaveContext *>(context);
  uint8_t present = 1;
  save->ok = save->ok && fwrite(&present, 1, 1, save->file) == 1 &&
             fwrite(&entry, offsetof(core::LatestEntry, key), 1, save->file) == 1 &&
             (entry.key_size == 0 || fwrite(entry.key, entry.key_size, 1, save->file) == 1) &&
             fwrite(&entry.state_size, sizeof entry.state_size, 1, save->file) == 1 &&
             fwrite(entry.state, entry.state_size, 1, save->file) == 1;
}

void save_snapshot(int code, Datum);

}  // namespace

size_t latest_shmem_size() { return header_size() + core::latest_table_bytes(layout()); }

int latest_lwlock_count() { return static_cast<int>(kLatestPartitions) + 1; }

void latest_shmem_init(void *memory, bool found) {
  shared = static_cast<LatestShared *>(memory);
  void *table_memory = static_cast<char *>(memory) + header_size();
  if (found) {
    table = new (table_storage) core::LatestTable(core::LatestTable::attach(table_memory));
    return;
  }
  LWLockPadded *locks = GetNamedLWLockTranche(kLatestSegmentName);
  shared->partition_locks = locks;
  shared->meta_lock = &locks[kLatestPartitions].lock;
  pg_atomic_init_u64(&shared->hits, 0);
  pg_atomic_init_u64(&shared->misses, 0);
  pg_atomic_init_u64(&shared->evictions, 0);
  pg_atomic_init_u64(&shared->reloads, 0);
  pg_atomic_init_u64(&shared->invalidations, 0);
  shared->relation_count = 0;
  shared->prepared_count = 0;
  pg_atomic_init_u32(&shared->prepared_pending, 0);
  table = new (table_storage) core::LatestTable(core::LatestTable::create(table_memory, layout()));
  if (!IsUnderPostmaster) {
    restore_snapshot();
    on_shmem_exit(save_snapshot, 0);
  }
}

namespace {
void save_snapshot(int code, Datum) {
  if (code != 0 || shared == nullptr) return;  // never after a crash
  // An immediate stop also exits with 0; only a shutdown checkpoint makes the
  // index match the durable table contents.
  XLogRecPtr checkpoint = clean_shutdown_checkpoint();
  if (checkpoint == InvalidXLogRecPtr) return;
  const char *temp_file = "edgestate_latest.snapshot.tmp";
  FILE *file = AllocateFile(temp_file, PG_BINARY_W);
  if (file == nullptr) {
    ereport(LOG, (errcode_for_file_access(), errmsg("could not create \"%s\": %m", temp_file)));
    return;
  }
  SaveContext save{file, true};
  save.ok = fwrite(&kSnapshotMagic, sizeof kSnapshotMagic, 1, file) == 1 &&
            fwrite(&checkpoint, sizeof checkpoint, 1, file) == 1 &&
            fwrite(&shared->relation_count, sizeof shared->relation_count, 1, file) == 1 &&
            (shared->relation_count == 0 ||
             fwrite(shared->relations, sizeof(RelationMeta), shared->relation_count, file) ==
                 static_cast<size_t>(shared->relation_count));
  for (uint32_t p = 0; save.ok && p < kLatestPartitions; ++p)
    table->for_each(p, 0, 0, save_entry, &save);
  uint8_t end = 0;
  save.ok = save.ok && fwrite(&end, 1, 1, file) == 1;
  if (FreeFile(file) != 0) save.ok = false;
  if (!save.ok) {
    ereport(LOG, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", temp_file)));
    unlink(temp_file);
    return;
  }
  durable_rename(temp_file, kSnapshotFile, LOG);
}
}  // namespace

LatestStats latest_stats() {
  LatestStats stats{};
  if (shared == nullptr) return stats;
  stats.hits = pg_atomic_read_u64(&shared->hits);
  stats.misses = pg_atomic_read_u64(&shared->misses);
  stats.evictions = pg_atomic_read_u64(&shared->evictions);
  stats.reloads = pg_atomic_read_u64(&shared->reloads);
  stats.keys = table->size();
  core::LatestTableLayout l = table->layout();
  stats.capacity = static_cast<uint64_t>(l.partitions) * l.slots_per_partition;
  return stats;
}

void latest_count_hit() { pg_atomic_fetch_add_u64(&shared->hits, 1); }
void latest_count_miss() { pg_atomic_fetch_add_u64(&shared->misses, 1); }

bool latest_relation_complete(uint32_t db, uint32_t rel) {
  LWLockAcquire(shared->meta_lock, LW_SHARED);
  RelationMeta *meta = find_meta(db, rel, false);
  bool complete = meta != nullptr && meta->complete;
  LWLockRelease(shared->meta_lock);
  return complete;
}

RelationVersion latest_relation_version(uint32_t db, uint32_t rel) {
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  RelationMeta *meta = find_meta(db, rel, true);
  RelationVersion version =
      meta != nullptr ? RelationVersion{meta->epoch, meta->resets} : RelationVersion{0, 0};
  LWLockRelease(shared->meta_lock);
  return version;
}

namespace {
// Caller holds a partition lock; meta_lock nests inside it.
uint64_t current_resets(uint32_t db, uint32_t rel) {
  LWLockAcquire(shared->meta_lock, LW_SHARED);
  RelationMeta *meta = find_meta(db, rel, false);
  uint64_t resets = meta != nullptr ? meta->resets : UINT64_MAX;
  LWLockRelease(shared->meta_lock);
  return resets;
}
}  // namespace

void latest_mark_complete(uint32_t db, uint32_t rel, uint64_t epoch) {
  pg_atomic_fetch_add_u64(&shared->reloads, 1);
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  bool reset_appended = false;
  bool blocked = blocked_by_prepared(db, rel, &reset_appended);
  RelationMeta *meta = find_meta(db, rel, true);
  if (!blocked && meta != nullptr && meta->epoch == epoch) meta->complete = true;
  LWLockRelease(shared->meta_lock);
  if (reset_appended) invalidation_wake();
}

namespace {

// Caller holds meta_lock exclusively.
const PreparedWrite *find_prepared_write(TransactionId xid, Oid db, Oid rel) {
  for (int i = 0; i < shared->prepared_count; ++i) {
    const PreparedWrite &write = shared->prepared[i];
    if (write.xid == xid && write.db == db && write.rel == rel) return &write;
  }
  return nullptr;
}

// Caller holds meta_lock. Whether this server recorded the transaction's
// writes when it prepared (any record of it that is not assumed).
bool prepared_known(TransactionId xid, Oid db) {
  for (int i = 0; i < shared->prepared_count; ++i) {
    const PreparedWrite &write = shared->prepared[i];
    if (write.xid == xid && write.db == db && !write.assumed) return true;
  }
  return false;
}

// Caller holds meta_lock exclusively. Makes room by forgetting writes whose
// transactions have ended: this database's are settled (*reset_appended is set
// if that appended a reset); other databases' are dropped unless they
// committed, which only a backend of their database may announce.
void make_room_for_prepared_write(bool *reset_appended) {
  for (int i = 0; i < shared->prepared_count;) {
    const PreparedWrite &write = shared->prepared[i];
    if (TransactionIdIsInProgress(write.xid)) {
      ++i;
    } else if (write.db == MyDatabaseId) {
      if (settle_prepared_write(i)) *reset_appended = true;
    } else if (!OidIsValid(write.rel) || !finished_transaction_committed(write.xid)) {
      remove_prepared_write(i);
    } else {
      ++i;
    }
  }
}

// Caller holds meta_lock exclusively. False when the list is full even after
// making room.
bool add_prepared_write(const PreparedWrite &write, bool *reset_appended) {
  if (shared->prepared_count == kMaxPreparedWrites) make_room_for_prepared_write(reset_appended);
  if (shared->prepared_count == kMaxPreparedWrites) return false;
  shared->prepared[shared->prepared_count++] = write;
  pg_atomic_write_u32(&shared->prepared_pending, static_cast<uint32>(shared->prepared_count));
  return true;
}

}  // namespace

bool latest_note_prepared(uint32_t db, uint32_t rel, uint32_t xid) {
  bool reset_appended = false;
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  bool recorded = find_prepared_write(xid, db, rel) != nullptr ||
                  add_prepared_write(PreparedWrite{xid, db, rel, false}, &reset_appended);
  LWLockRelease(shared->meta_lock);
  if (reset_appended) invalidation_wake();
  if (OidIsValid(rel)) latest_reset_relation(db, rel);
  return recorded;
}

bool latest_prepared_known(uint32_t db, uint32_t xid) {
  LWLockAcquire(shared->meta_lock, LW_SHARED);
  bool known = prepared_known(xid, db);
  LWLockRelease(shared->meta_lock);
  return known;
}

void latest_forget_prepared(uint32_t db, uint32_t xid) {
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  for (int i = 0; i < shared->prepared_count;) {
    const PreparedWrite &write = shared->prepared[i];
    if (write.xid == xid && write.db == db)
      remove_prepared_write(i);
    else
      ++i;
  }
  LWLockRelease(shared->meta_lock);
}

void latest_note_unknown_prepared(uint32_t db, uint32_t rel, const uint32_t *xids, int count) {
  bool reset_appended = false;
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  for (int i = 0; i < count; ++i) {
    if (prepared_known(xids[i], db) || find_prepared_write(xids[i], db, rel) != nullptr) continue;
    // No room to remember it: fail the load in progress instead.
    if (!add_prepared_write(PreparedWrite{xids[i], db, rel, true}, &reset_appended))
      fail_loads(find_meta(db, rel, true), true);
  }
  LWLockRelease(shared->meta_lock);
  if (reset_appended) invalidation_wake();
}

bool latest_settle_prepared(uint32_t db) {
  if (pg_atomic_read_u32(&shared->prepared_pending) == 0) return false;
  bool appended = false;
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  for (int i = 0; i < shared->prepared_count;) {
    const PreparedWrite &write = shared->prepared[i];
    if (write.db != db || TransactionIdIsInProgress(write.xid)) {
      ++i;
    } else {
      appended = settle_prepared_write(i) || appended;
    }
  }
  LWLockRelease(shared->meta_lock);
  return appended;
}

void latest_register_new_relation(uint32_t db, uint32_t rel) {
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  RelationMeta *meta = find_meta(db, rel, true);
  if (meta != nullptr) {
    meta->epoch++;
    meta->complete = true;
  }
  LWLockRelease(shared->meta_lock);
}

void latest_mark_incomplete(uint32_t db, uint32_t rel) {
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  fail_loads(find_meta(db, rel, false), false);
  LWLockRelease(shared->meta_lock);
}

void latest_reset_relation(uint32_t db, uint32_t rel) {
  pg_atomic_fetch_add_u64(&shared->invalidations, 1);
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  RelationMeta *meta = find_meta(db, rel, true);
  if (meta != nullptr) meta->resets++;
  LWLockRelease(shared->meta_lock);
  latest_mark_incomplete(db, rel);
  for (uint32_t p = 0; p < kLatestPartitions; ++p) {
    LWLockAcquire(&shared->partition_locks[p].lock, LW_EXCLUSIVE);
    table->erase_relation(p, db, rel);
    LWLockRelease(&shared->partition_locks[p].lock);
  }
  // Entries merged between the two steps above may be partial; the relation
  // stays incomplete, so readers reload it.
  latest_mark_incomplete(db, rel);
}

CompletenessCheck latest_check_complete(uint32_t db, uint32_t rel) {
  CompletenessCheck check;
  check.invalidations = pg_atomic_read_u64(&shared->invalidations);
  pg_memory_barrier();
  check.complete = latest_relation_complete(db, rel);
  return check;
}

core::MergeOutcome latest_merge(const core::LatestKey &key, const core::StateView &state,
                                int64_t arrival_us, const CompletenessCheck &check) {
  uint64_t hash = core::latest_key_hash(key);
  LWLock *lock = partition_lock(hash);
  LWLockAcquire(lock, LW_EXCLUSIVE);
  // Resets that delete readings (purge, TRUNCATE) lock out writers, so what a
  // committer merges is never gone from the table; evictions are noticed here.
  bool complete = check.complete;
  if (complete && pg_atomic_read_u64(&shared->invalidations) != check.invalidations)
    complete = latest_relation_complete(key.db, key.rel);
  core::MergeOutcome outcome = table->merge(
      hash, key, state, static_cast<size_t>(guc_max_candidates), arrival_us, !complete);
  note_eviction(outcome);
  LWLockRelease(lock);
  if (!outcome.stored) latest_mark_incomplete(key.db, key.rel);
  return outcome;
}

bool latest_find(const core::LatestKey &key, core::LatestEntry *out) {
  uint64_t hash = core::latest_key_hash(key);
  LWLock *lock = partition_lock(hash);
  LWLockAcquire(lock, LW_SHARED);
  bool found = table->find(hash, key, out);
  LWLockRelease(lock);
  return found;
}

bool latest_complete(const core::LatestKey &key, const core::StateView &loaded, uint32_t generation,
                     const RelationVersion &version, int64_t arrival_us, core::LatestEntry *out) {
  uint64_t hash = core::latest_key_hash(key);
  LWLock *lock = partition_lock(hash);
  LWLockAcquire(shared->meta_lock, LW_EXCLUSIVE);
  bool reset_appended = false;
  bool blocked = blocked_by_prepared(key.db, key.rel, &reset_appended);
  LWLockRelease(shared->meta_lock);
  if (reset_appended) invalidation_wake();
  LWLockAcquire(lock, LW_EXCLUSIVE);
  if (current_resets(key.db, key.rel) != version.resets) {
    LWLockRelease(lock);
    return false;
  }
  if (generation == 0 && table->find(hash, key, out)) generation = out->generation;
  // While a prepared transaction that wrote the relation is pending, what was
  // loaded may lack its rows: merge, but leave the entry partial.
  core::MergeOutcome outcome =
      blocked ? table->merge(hash, key, loaded, static_cast<size_t>(guc_max_candidates), arrival_us,
                             true)
              : table->complete(hash, key, loaded, static_cast<size_t>(guc_max_candidates),
                                arrival_us, generation);
  bool found = outcome.stored && table->find(hash, key, out);
  note_eviction(outcome);
  LWLockRelease(lock);
  return found;
}

namespace {

// latest_for_each's copies, packed one after the other: a header, the key
// bytes, the state bytes, each record MAXALIGNed.
struct PackedEntry {
  uint64_t version;
  int64_t arrival_us;
  uint16_t state_size;
  uint8_t key_size;
};

struct PackBuffer {
  uint8_t *data;
  size_t capacity;
  size_t used;
  bool overflowed;
};

size_t packed_size(size_t key_size, size_t state_size) {
  return MAXALIGN(sizeof(PackedEntry) + key_size + state_size);
}

// The most one partition's entries can take packed: each slot holds a key and
// state of up to a slot's payload, plus what its chunks hold.
size_t partition_pack_bound() {
  const core::LatestTableLayout &layout = table->layout();
  return layout.slots_per_partition * packed_size(0, core::kSlotPayloadBytes) +
         layout.chunks_per_partition * core::kChunkBytes;
}

// Runs inside LatestTable::for_each, under the partition's lock: copies only.
void pack_entry(const core::LatestEntry &entry, void *context) {
  auto *buffer = static_cast<PackBuffer *>(context);
  const size_t size = packed_size(entry.key_size, entry.state_size);
  if (buffer->used + size > buffer->capacity) {
    buffer->overflowed = true;
    return;
  }
  uint8_t *at = buffer->data + buffer->used;
  const PackedEntry header{entry.version, entry.arrival_us, entry.state_size, entry.key_size};
  memcpy(at, &header, sizeof header);
  memcpy(at + sizeof header, entry.key, entry.key_size);
  memcpy(at + sizeof header + entry.key_size, entry.state, entry.state_size);
  buffer->used += size;
}

}  // namespace

void latest_for_each(uint32_t db, uint32_t rel,
                     void (*visit)(const LatestEntryCopy &entry, void *context), void *context) {
  // Sized for a typical table's share of a partition and doubled on demand,
  // up to the most a partition can hold (which at the largest
  // latest_max_keys would be hundreds of megabytes per call).
  const size_t bound = partition_pack_bound();
  PackBuffer buffer{nullptr, std::min<size_t>(bound, 16 * 1024), 0, false};
  buffer.data = static_cast<uint8_t *>(MemoryContextAllocHuge(CurrentMemoryContext, buffer.capacity));
  for (uint32_t p = 0; p < kLatestPartitions;) {
    buffer.used = 0;
    buffer.overflowed = false;
    LWLockAcquire(&shared->partition_locks[p].lock, LW_SHARED);
    table->for_each(p, db, rel, pack_entry, &buffer);
    LWLockRelease(&shared->partition_locks[p].lock);
    if (buffer.overflowed) {
      if (buffer.capacity == bound)
        elog(ERROR, "edgestate: latest index partition %u exceeds its size", p);
      buffer.capacity = std::min(bound, buffer.capacity * 2);
      pfree(buffer.data);
      buffer.data =
          static_cast<uint8_t *>(MemoryContextAllocHuge(CurrentMemoryContext, buffer.capacity));
      continue;  // the same partition again
    }
    for (size_t at = 0; at < buffer.used;) {
      PackedEntry header;
      memcpy(&header, buffer.data + at, sizeof header);
      const uint8_t *key = buffer.data + at + sizeof header;
      visit(LatestEntryCopy{header.version, header.arrival_us,
                            std::string_view(reinterpret_cast<const char *>(key), header.key_size),
                            key + header.key_size, header.state_size},
            context);
      at += packed_size(header.key_size, header.state_size);
    }
    ++p;
  }
  pfree(buffer.data);
}

}  // namespace edgestate
