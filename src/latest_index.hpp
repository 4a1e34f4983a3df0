// The shared-memory latest index of sensorstate tables: the core LatestTable
// in a shared segment, one LWLock per partition, and per-relation bookkeeping
// of whether the index holds every committed reading of the relation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/latest_table.h"

namespace edgestate {

inline constexpr const char *kLatestSegmentName = "edgestate latest index";
inline constexpr uint32_t kLatestPartitions = 128;

size_t latest_shmem_size();
// Attaches; the postmaster also restores the snapshot saved at the last clean
// shutdown (the file is removed once read, so neither a crash nor a base
// backup of a running server brings it back) and arranges the next save.
void latest_shmem_init(void *memory, bool found);
int latest_lwlock_count();

// Statistics for metrics and tests.
struct LatestStats {
  uint64_t hits;
  uint64_t misses;
  uint64_t evictions;
  uint64_t reloads;
  uint64_t keys;
  uint64_t capacity;
};
LatestStats latest_stats();
void latest_count_hit();
void latest_count_miss();

// Whether the index holds every committed reading of the relation (no key
// evicted and nothing reset since the last full load). Unknown relations
// (after a crash, or never seen) are not complete.
bool latest_relation_complete(uint32_t db, uint32_t rel);
// Where a relation stands: `epoch` changes on every eviction and reset (a
// full load marks the relation complete only if it did not change); `resets`
// on every reset only (TRUNCATE, purge, DROP, PREPARE): a state read from
// the table before a reset may hold readings that are gone, so it is not
// stored once `resets` changed.
struct RelationVersion {
  uint64_t epoch;
  uint64_t resets;
};
RelationVersion latest_relation_version(uint32_t db, uint32_t rel);
// Marks the relation complete if its epoch is still `epoch`.
void latest_mark_complete(uint32_t db, uint32_t rel, uint64_t epoch);
// A new, empty relation: complete from the start.
void latest_register_new_relation(uint32_t db, uint32_t rel);
// Drops the relation's entries and marks it incomplete (TRUNCATE, purge,
// DROP, a prepared transaction that wrote it).
void latest_reset_relation(uint32_t db, uint32_t rel);
void latest_mark_incomplete(uint32_t db, uint32_t rel);
// PREPARE TRANSACTION wrote the relation: its commit (COMMIT PREPARED, in any
// session) will not reach the index, so the relation is reset and stays
// incomplete, and refills keep entries partial, until that transaction ends.
// rel InvalidOid records a prepared transaction that wrote no sensorstate
// table, so that loads know it (see latest_note_unknown_prepared). False when
// the record did not fit (256 pending at once): the caller then forgets the
// transaction's records with latest_forget_prepared, so that it counts as
// unknown rather than as having written only some of its relations.
bool latest_note_prepared(uint32_t db, uint32_t rel, uint32_t xid);
void latest_forget_prepared(uint32_t db, uint32_t xid);
// Whether this server recorded what the prepared transaction wrote (it saw
// it prepare and had room for the record).
bool latest_prepared_known(uint32_t db, uint32_t xid);
// A load of relation rel found these prepared transactions pending in
// database db. Those whose writes this server did not record (they were
// prepared before a restart, or did not fit) are taken to have written rel: the load neither completes the relation nor clears partial entries,
// and their commit resets it. Call before the load marks anything complete.
void latest_note_unknown_prepared(uint32_t db, uint32_t rel, const uint32_t *xids, int count);
// Settles the prepared writes of database db whose transactions have ended:
// for each that committed, appends a reset invalidation of its relation (its
// rows never reached the index or the invalidations key by key). Called at
// the commit of a COMMIT or ROLLBACK PREPARED (or of a logical replication
// worker); a read that finds a finished write settles it too. True if a reset
// was appended (the worker needs waking). Takes only LWLocks and reads
// transaction status, so it may run at commit.
bool latest_settle_prepared(uint32_t db);

// A committer's view of one relation's completeness, taken once per commit:
// the invalidation count is read first, so that an eviction or reset after
// the check is noticed when merging.
struct CompletenessCheck {
  uint64_t invalidations;
  bool complete;
};
CompletenessCheck latest_check_complete(uint32_t db, uint32_t rel);

// Merges a committed state into a key's entry; a missing key becomes a
// partial entry unless the relation is (still) complete.
core::MergeOutcome latest_merge(const core::LatestKey &key, const core::StateView &state,
                                int64_t arrival_us, const CompletenessCheck &check);

// Copies the key's entry out; false when absent.
bool latest_find(const core::LatestKey &key, core::LatestEntry *out);

// Merges a state loaded from the table (with a snapshot taken after
// `version` was read) into the key's entry, clearing its partial flag when the
// entry is still generation `generation` (0: whatever is there now), and
// copies the resulting entry to *out. False, storing nothing, when the state
// cannot be stored or the relation was reset since `version`.
bool latest_complete(const core::LatestKey &key, const core::StateView &loaded, uint32_t generation,
                     const RelationVersion &version, int64_t arrival_us, core::LatestEntry *out);

// An entry as latest_for_each hands it out.
struct LatestEntryCopy {
  uint64_t version;
  int64_t arrival_us;
  std::string_view key;
  const uint8_t *state;
  size_t state_size;
};

// Visits every entry of a relation, partition by partition. A partition's
// entries are copied out under its shared lock and visited once the lock is
// released, so a visit (building result rows, which a tuplestore may spill to
// disk, or raising an ERROR) neither holds up that partition's committers nor
// unwinds through the index's C++ frames.
void latest_for_each(uint32_t db, uint32_t rel,
                     void (*visit)(const LatestEntryCopy &entry, void *context), void *context);

}  // namespace edgestate
