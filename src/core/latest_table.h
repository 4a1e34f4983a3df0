// The latest index: key -> merged state, in one fixed block of memory (the
// glue puts it in shared memory). PostgreSQL-free; locking is the caller's:
// the table is split into partitions, and every call that takes a partition
// (or a hash, which names one) requires the caller to hold that partition's
// lock, shared for find/for_each, exclusive for everything else.
//
// The block holds no pointers (offsets and indices only), so every process
// can attach it at its own address. The only atomics in it are the global
// version counter, per-partition counters read by size(), and the per-slot
// usage bit, which find() sets under a shared lock with a relaxed atomic
// byte store (__atomic builtins on a plain byte, so slots stay trivially
// copyable and can be moved by deletion under the exclusive lock).
//
// Memory per key: each partition keeps its entries packed in an array of
// kSlotBytes slots (metadata included), as many as the partition may hold
// and no more, plus an index of 4-byte cells at a load of at most 4/5 and a
// pool of kChunkBytes overflow chunks (one per 8 slots). An entry stores its
// key and encoded state as one byte string: inline in the slot when it has
// at most kSlotPayloadBytes (a 24-byte key with a one-origin state of 51
// bytes, or a 36-byte UUID key with one of 39: the common case), otherwise
// its first kSlotInlineWithChunksBytes in the slot and the rest in a chain of
// chunks (at most kMaxChunksPerEntry). A planned table thus spends about 125
// bytes per key of capacity: 112 of slot, 5 of index and 8 of chunk reserve.
// A key + state that needs more chunks than that is not stored.
//
// Lookup: linear probing over the partition's index cells, starting at a home
// cell taken from the hash's high 32 bits (partition_of uses the low bits).
// A cell holds 8 more hash bits and the slot's position, so a probe reads a
// slot only on a tag match (16 cells per cache line); there the hash's high
// bits are compared first, then db, rel and key bytes. Deletion (eviction,
// erase_relation, an entry that outgrows every slot) is backward-shift
// deletion in the index, so there are no tombstones, and moves the last slot
// into the freed one, so the slots stay packed.
//
// Eviction: CLOCK per partition. The usage bit is set by find, merge,
// complete and restore. A new entry beyond the partition's capacity sweeps the
// slots; an entry that needs more chunks than are free sweeps the entries
// owning chunks until enough are. Entries with the bit set get it cleared and
// are skipped; the first with it clear is evicted. At most two passes per
// eviction; the entries a call evicts belong to at most kMaxEvictedRelations
// relations (reported in MergeOutcome), so a call that would have to evict
// from more stores nothing instead.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "core/state.h"
#include "core/state_codec.h"

namespace edgestate::core {

constexpr size_t kSlotBytes = 112;
// Bytes of a slot left for key + state once its metadata is stored.
constexpr size_t kSlotPayloadBytes = 75;
// An entry with chunks keeps this many bytes of key + state in its slot (the
// rest of the payload holds the first chunk's index).
constexpr size_t kSlotInlineWithChunksBytes = kSlotPayloadBytes - 4;
constexpr size_t kChunkBytes = 64;
constexpr size_t kChunkDataBytes = kChunkBytes - 4;
constexpr size_t kMaxChunksPerEntry = 16;
// Key + state bytes of the largest entry stored (1,031).
constexpr size_t kMaxLatestEntryBytes =
    kSlotInlineWithChunksBytes + kMaxChunksPerEntry * kChunkDataBytes;
constexpr size_t kMaxLatestKeyBytes = 255;
constexpr size_t kMaxEvictedRelations = 4;

// Chunks an entry of this key and encoded state size needs (0: inline).
constexpr size_t latest_chunks_needed(size_t key_size, size_t state_size) {
  const size_t bytes = key_size + state_size;
  return bytes <= kSlotPayloadBytes
             ? 0
             : (bytes - kSlotInlineWithChunksBytes + kChunkDataBytes - 1) / kChunkDataBytes;
}

// Whether an entry of this key and encoded state size lives in its slot alone.
constexpr bool latest_fits_slot(size_t key_size, size_t state_size) {
  return key_size + state_size <= kSlotPayloadBytes;
}

// Whether an entry of this key and encoded state size can be stored at all
// (in a table with at least kMaxChunksPerEntry chunks per partition, as
// plan_latest_table makes them; LatestTable::fits answers for any table).
constexpr bool latest_fits_table(size_t key_size, size_t state_size) {
  return key_size <= kMaxLatestKeyBytes &&
         latest_chunks_needed(key_size, state_size) <= kMaxChunksPerEntry;
}

// A key of one relation of one database. `key` is the key's bytes as the glue
// encodes them (text bytes, or a bigint in 8 big-endian bytes).
struct LatestKey {
  uint32_t db;
  uint32_t rel;
  std::string_view key;
};

// Deterministic (same in every process and across restarts).
uint64_t latest_key_hash(const LatestKey &key);

struct LatestTableLayout {
  uint32_t partitions;  // a power of two
  uint32_t slots_per_partition;   // the most entries a partition holds
  uint32_t chunks_per_partition;  // overflow chunks of a partition
};

// A layout for about max_keys keys: each partition holds ceil(max_keys /
// partitions) entries, with one chunk per 8 slots (at least
// kMaxChunksPerEntry). partitions is rounded up to a power of two
// (1 .. 65536).
LatestTableLayout plan_latest_table(size_t max_keys, uint32_t partitions);

// Bytes of memory a table of this layout needs (header included). Layouts
// not made by plan_latest_table are normalised first (partitions rounded up
// to a power of two, 2 .. 2^24 - 2 slots and at least 2 chunks per
// partition), the same way create does.
size_t latest_table_bytes(const LatestTableLayout &layout);

// One entry, copied out of the table.
struct LatestEntry {
  uint32_t db;
  uint32_t rel;
  uint64_t version;     // increases whenever the entry's winner changes
  int64_t arrival_us;   // when the current winner was merged in (caller's clock)
  uint32_t generation;  // changes when the key's slot is (re)created or restored over; never 0
  bool partial;         // created without the key's earlier readings (see complete)
  uint8_t key_size;
  uint8_t key[255];
  uint16_t state_size;
  uint8_t state[kMaxEncodedStateBytes];

  std::string_view key_bytes() const { return {reinterpret_cast<const char *>(key), key_size}; }
};

// A relation some of whose entries a call evicted.
struct EvictedRelation {
  uint32_t db;
  uint32_t rel;
};

struct MergeOutcome {
  bool stored;          // false when the key (> 255 bytes) or the merged state
                        // does not fit (see fits), or no room could be made;
                        // the key then has NO entry (an existing one is
                        // removed, never left stale)
  bool created;         // the key had no entry
  bool winner_changed;  // the winner differs from before (always when created)
  uint64_t version;     // the entry's version after the call (0 when !stored)
  size_t dropped;       // candidates dropped by max_candidates
  uint32_t evicted;     // entries of other keys evicted to make room
  uint32_t evicted_relation_count;  // ... of these relations
  EvictedRelation evicted_relations[kMaxEvictedRelations];
  uint32_t generation;  // the entry's generation after the call (0 when !stored)
  bool partial;         // the entry's partial flag after the call
};

// Callback of for_each.
using LatestVisitFn = void (*)(const LatestEntry &entry, void *context);

namespace latest_detail {
struct Header;
struct PartitionRef;
}  // namespace latest_detail

class LatestTable {
 public:
  // A table attached to nothing (attached() is false); only assignment and
  // attached() may be used.
  LatestTable() = default;

  // Formats memory of latest_table_bytes(layout) bytes (aligned to at least
  // 8 bytes; 64 or more is better).
  static LatestTable create(void *memory, const LatestTableLayout &layout);
  // A view of memory formatted by create (in another process, say). Returns
  // an unattached table when the memory does not hold a formatted table.
  static LatestTable attach(void *memory);

  bool attached() const { return header_ != nullptr; }
  const LatestTableLayout &layout() const { return layout_; }
  uint32_t partition_of(uint64_t hash) const {
    return static_cast<uint32_t>(hash) & (layout_.partitions - 1);
  }

  // Copies the key's entry to *out; sets its usage bit. Shared lock.
  bool find(uint64_t hash, const LatestKey &key, LatestEntry *out) const;

  // Merges a state into the key's entry, creating it (partial when
  // create_partial) and evicting another entry of the partition if needed.
  // Keys longer than 255 bytes are refused (stored = false).
  MergeOutcome merge(uint64_t hash, const LatestKey &key, const StateView &incoming,
                     size_t max_candidates, int64_t arrival_us, bool create_partial);

  // Merges a state loaded from the table into a partial entry and clears its
  // partial flag, but only if the entry still has this generation (it was not
  // evicted and recreated meanwhile); otherwise merges and keeps the flag.
  // Creates the entry (complete) when it is missing.
  MergeOutcome complete(uint64_t hash, const LatestKey &key, const StateView &loaded,
                        size_t max_candidates, int64_t arrival_us, uint32_t generation);

  // Puts back an entry saved at shutdown (version, arrival, partial flag and
  // state kept as they are; overwrites an existing entry of the key; the
  // generation is new). Raises the version counter to at least entry.version,
  // so later versions are larger. False when the entry is invalid (state
  // that does not decode, or too big) or no room could be made for it (an
  // existing entry of the key is then gone). An eviction it caused is reported in
  // *outcome when given (its other fields are filled like merge's).
  bool restore(const LatestEntry &entry, MergeOutcome *outcome = nullptr);

  // Calls visit(entry, context) for each entry of the partition, of one
  // relation of one database or (rel == 0) of every relation of every
  // database. Shared lock. visit must not call into this partition.
  void for_each(uint32_t partition, uint32_t db, uint32_t rel, LatestVisitFn visit,
                void *context) const;

  // The same with any callable visit(const LatestEntry&).
  template <typename Visit>
  void for_each(uint32_t partition, uint32_t db, uint32_t rel, Visit &&visit) const {
    using V = std::remove_reference_t<Visit>;
    for_each(
        partition, db, rel,
        [](const LatestEntry &entry, void *context) { (*static_cast<V *>(context))(entry); },
        const_cast<void *>(static_cast<const void *>(&visit)));
  }

  // Removes every entry of a relation from the partition; returns how many.
  size_t erase_relation(uint32_t partition, uint32_t db, uint32_t rel);

  // Whether an entry of this key and encoded state size can be stored in
  // this table (latest_fits_table, and its chunks fit one partition's pool).
  bool fits(size_t key_size, size_t state_size) const;

  // Entries in use, across all partitions (approximate without locks).
  size_t size() const;
  // Overflow chunks in use, across all partitions (approximate without locks).
  size_t chunks_in_use() const;

 private:
  explicit LatestTable(void *memory);
  latest_detail::PartitionRef partition_ref(uint32_t partition) const;
  MergeOutcome merge_into(uint64_t hash, const LatestKey &key, const StateView &incoming,
                          size_t max_candidates, int64_t arrival_us, bool create_partial,
                          const uint32_t *complete_generation);

  unsigned char *base_ = nullptr;
  latest_detail::Header *header_ = nullptr;
  LatestTableLayout layout_{1, 0, 0};
};

}  // namespace edgestate::core
