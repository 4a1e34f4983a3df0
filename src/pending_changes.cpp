#include "pending_changes.hpp"

#include "core/merge.h"
#include "core/short_bytes.h"
#include "core/state_codec.h"
#include "gucs.hpp"

extern "C" {
#include "common/hashfn.h"
#include "utils/memutils.h"
}

// Plain style: called from the executor's insert path and from transaction
// callbacks; nothing here holds an object with a destructor.

namespace edgestate {
namespace {

bool keys_equal(const PendingKey &a, const PendingKey &b) {
  return a.relid == b.relid && a.subxid == b.subxid && a.size == b.size &&
         core::short_bytes_equal(a.bytes, b.bytes, a.size);
}

// Leaves the subtransaction out, so that a change handed to the parent
// subtransaction keeps its bucket and only its subxid is rewritten
// (pending_end_subtransaction); a key has at most one change per open
// subtransaction level.
uint32 hash_of(Oid relid, std::string_view key) {
  uint32 bytes_hash =
      hash_bytes(reinterpret_cast<const unsigned char *>(key.data()), static_cast<int>(key.size()));
  return hash_combine(bytes_hash, murmurhash32(relid));
}

uint32 hash_of(const PendingKey &key) {
  return hash_of(key.relid, std::string_view(key.bytes, key.size));
}

}  // namespace
}  // namespace edgestate

using edgestate::PendingChange;
using edgestate::PendingKey;

#define SH_PREFIX pending_table
#define SH_ELEMENT_TYPE PendingChange
#define SH_KEY_TYPE PendingKey
#define SH_KEY key
#define SH_HASH_KEY(table, key) edgestate::hash_of(key)
#define SH_EQUAL(table, a, b) edgestate::keys_equal(a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(table, change) (change)->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
extern "C" {
#include "lib/simplehash.h"
}

namespace edgestate {
namespace {

pending_table_hash *table = nullptr;

// The changes each open subtransaction created, so that ending one visits
// only those: a PL/pgSQL loop with an EXCEPTION block per row ends a
// subtransaction per row, and a pass over every change of the transaction
// each time would make such a load quadratic. Innermost subtransaction last;
// in TopTransactionContext. The top level keeps none (it never ends as a
// subtransaction).
struct CreatedChange {
  Oid relid;
  uint16 size;
  const char *bytes;
  uint32 hash;
};

struct SubtransactionChanges {
  SubTransactionId subxid;
  uint32 count;
  uint32 capacity;
  CreatedChange *changes;
};

SubtransactionChanges *subtransactions = nullptr;
uint32 subtransaction_count = 0;
uint32 subtransaction_capacity = 0;

// A committing subtransaction's hand-over to its parent, made ready before it
// commits (pending_prepare_subtransaction_commit, where an error still aborts
// it cleanly) so that the commit itself allocates nothing and cannot fail
// part-way: the parent's list has room for every change, and where the parent
// has a change of the same key, the merged state is already encoded
// (merged[i] for the subtransaction's created change i, else nullptr).
struct Handover {
  SubTransactionId subxid;  // InvalidSubTransactionId: none is ready
  bytea **merged;
};
Handover handover{InvalidSubTransactionId, nullptr};

// Kept across transactions up to this many buckets: emptying it costs a pass
// over the buckets, and creating one per transaction costs more than a
// single-row insert.
constexpr uint32 kKeptBuckets = 256;
constexpr uint32 kInitialBuckets = 64;
// Buckets pending_prefetch looks at for a change: the home bucket, whose
// lines pending_hash prefetched, and the next (48-byte buckets: at most one
// more line, fetched on demand).
constexpr uint32 kPrefetchProbes = 2;

// Encodes a state into transaction memory, reusing `previous` when it is large
// enough. The state may view `previous`, so it is encoded on the stack first.
bytea *encode_in_transaction(const core::StateView &state, bytea *previous) {
  uint8_t encoded[core::kMaxEncodedStateBytes];
  size_t size = core::encode_state(state, encoded, sizeof encoded);
  bytea *result = previous;
  if (result == nullptr || VARSIZE(result) < VARHDRSZ + size) {
    result = static_cast<bytea *>(MemoryContextAlloc(TopTransactionContext, VARHDRSZ + size));
    if (previous != nullptr) pfree(previous);
  }
  SET_VARSIZE(result, VARHDRSZ + size);
  memcpy(VARDATA(result), encoded, size);
  return result;
}

// Grows an array in TopTransactionContext to hold at least `needed` items.
template <typename T>
T *grow(T *items, uint32 *capacity, uint32 needed) {
  if (needed <= *capacity) return items;
  uint32 wanted = Max(*capacity * 2, 8u);
  while (wanted < needed) wanted *= 2;
  Size bytes = sizeof(T) * wanted;
  items = static_cast<T *>(items == nullptr ? MemoryContextAlloc(TopTransactionContext, bytes)
                                            : repalloc(items, bytes));
  *capacity = wanted;
  return items;
}

// The list of the changes subxid created, if it is the innermost one kept.
SubtransactionChanges *created_by(SubTransactionId subxid) {
  if (subtransaction_count == 0 || subtransactions[subtransaction_count - 1].subxid != subxid)
    return nullptr;
  return &subtransactions[subtransaction_count - 1];
}

// Makes room to record one more change created by subxid, the innermost
// open subtransaction, so that recording it (note_created) cannot fail.
void reserve_created(SubTransactionId subxid) {
  if (subxid == TopSubTransactionId) return;
  if (created_by(subxid) == nullptr) {
    subtransactions = grow(subtransactions, &subtransaction_capacity, subtransaction_count + 1);
    subtransactions[subtransaction_count++] = SubtransactionChanges{subxid, 0, 0, nullptr};
  }
  SubtransactionChanges &sub = subtransactions[subtransaction_count - 1];
  sub.changes = grow(sub.changes, &sub.capacity, sub.count + 1);
}

// The same for `more` changes that the innermost list's subtransaction will
// hand to its parent: the parent's list goes right below it.
void reserve_handed_over(SubTransactionId parent, uint32 more) {
  if (parent == TopSubTransactionId) return;
  if (subtransaction_count < 2 || subtransactions[subtransaction_count - 2].subxid != parent) {
    subtransactions = grow(subtransactions, &subtransaction_capacity, subtransaction_count + 1);
    subtransactions[subtransaction_count] = subtransactions[subtransaction_count - 1];
    subtransactions[subtransaction_count - 1] = SubtransactionChanges{parent, 0, 0, nullptr};
    ++subtransaction_count;
  }
  SubtransactionChanges &sub = subtransactions[subtransaction_count - 2];
  sub.changes = grow(sub.changes, &sub.capacity, sub.count + more);
}

void note_created(const PendingChange &change) {
  if (change.key.subxid == TopSubTransactionId) return;
  SubtransactionChanges &sub = subtransactions[subtransaction_count - 1];
  sub.changes[sub.count++] =
      CreatedChange{change.key.relid, change.key.size, change.key.bytes, change.hash};
}

PendingChange *find(const CreatedChange &created, SubTransactionId subxid) {
  return pending_table_lookup_hash(
      table, PendingKey{created.relid, subxid, created.size, created.bytes}, created.hash);
}

// Two changes' states merged, encoded into new transaction memory.
bytea *merged_state(const PendingChange &into, const PendingChange &from) {
  core::StateView existing, incoming, merged;
  if (!pending_decode(into, &existing) || !pending_decode(from, &incoming))
    elog(ERROR, "edgestate: corrupted pending state");
  core::merge_states(existing, incoming, static_cast<size_t>(guc_max_candidates), &merged);
  return encode_in_transaction(merged, nullptr);
}

}  // namespace

uint32 pending_hash(Oid relid, std::string_view key) {
  const uint32 hash = hash_of(relid, key);
  if (table != nullptr) {
    // A 48-byte bucket may straddle two cache lines; pending_prefetch reads
    // its last fields.
    const PendingChange *home = &table->data[hash & table->sizemask];
    __builtin_prefetch(home);
    __builtin_prefetch(reinterpret_cast<const char *>(home + 1) - 1);
  }
  return hash;
}

void pending_prefetch(uint32 hash) {
  if (table == nullptr) return;
  // Robin Hood hashing leaves a change near, not always at, its home bucket.
  for (uint32 i = 0, at = hash & table->sizemask; i < kPrefetchProbes;
       ++i, at = (at + 1) & table->sizemask) {
    const PendingChange &change = table->data[at];
    if (change.status != pending_table_SH_IN_USE) return;
    if (change.hash != hash) continue;
    __builtin_prefetch(change.key.bytes);
    // A one-origin state is under 64 bytes, but may straddle two cache lines.
    __builtin_prefetch(change.state);
    __builtin_prefetch(reinterpret_cast<const char *>(change.state) + 63);
    return;
  }
}

bool pending_add(Oid relid, SubTransactionId subxid, std::string_view key, uint32 hash,
                 bool key_is_text, const core::StateView &state) {
  if (table == nullptr) table = pending_table_create(TopMemoryContext, kInitialBuckets, nullptr);
  PendingKey lookup{relid, subxid, static_cast<uint16>(key.size()), key.data()};
  PendingChange *change = pending_table_lookup_hash(table, lookup, hash);
  if (change == nullptr) {
    if (table->members >= static_cast<uint32>(guc_max_pending_keys)) return false;
    // Everything a new change needs is allocated before it enters the table:
    // running out of memory then leaves no half-made change behind.
    reserve_created(subxid);
    char *bytes = static_cast<char *>(MemoryContextAlloc(TopTransactionContext, key.size() + 1));
    memcpy(bytes, key.data(), key.size());
    bytea *encoded = encode_in_transaction(state, nullptr);
    bool found = false;
    change = pending_table_insert_hash(table, PendingKey{relid, subxid, lookup.size, bytes}, hash,
                                       &found);
    change->key_is_text = key_is_text;
    change->state = encoded;
    note_created(*change);
    return true;
  }
  const auto *encoded = reinterpret_cast<const uint8_t *>(VARDATA(change->state));
  size_t encoded_size = VARSIZE(change->state) - VARHDRSZ;
  if (state.count == 1 && core::state_subsumes_reading(encoded, encoded_size, state.winner()))
    return true;
  core::StateView existing, merged;
  if (!pending_decode(*change, &existing)) elog(ERROR, "edgestate: corrupted pending state");
  core::merge_states(existing, state, static_cast<size_t>(guc_max_candidates), &merged);
  change->state = encode_in_transaction(merged, change->state);
  return true;
}

bool pending_any() { return table != nullptr && table->members > 0; }

void pending_visit(void (*visit)(const PendingChange &change, void *arg), void *arg) {
  if (!pending_any()) return;
  pending_table_iterator iterator;
  pending_table_start_iterate(table, &iterator);
  while (PendingChange *change = pending_table_iterate(table, &iterator))
    if (change->key.subxid == TopSubTransactionId) visit(*change, arg);
}

void pending_clear() {
  // Their memory goes with the transaction's.
  subtransactions = nullptr;
  subtransaction_count = 0;
  subtransaction_capacity = 0;
  handover = Handover{InvalidSubTransactionId, nullptr};
  if (!pending_any()) return;
  if (table->size > kKeptBuckets) {
    pending_table_destroy(table);
    table = nullptr;
  } else {
    pending_table_reset(table);
  }
}

void pending_forget_relation(Oid relid) {
  if (!pending_any()) return;
  pending_table_iterator iterator;
  pending_table_start_iterate(table, &iterator);
  while (PendingChange *change = pending_table_iterate(table, &iterator))
    if (change->key.relid == relid) pending_table_delete_item(table, change);
}

void pending_prepare_subtransaction_commit(SubTransactionId subxid, SubTransactionId parent) {
  handover = Handover{InvalidSubTransactionId, nullptr};
  if (created_by(subxid) == nullptr || created_by(subxid)->count == 0) return;
  reserve_handed_over(parent, created_by(subxid)->count);
  const SubtransactionChanges &ended = *created_by(subxid);
  bytea **merged = nullptr;
  for (uint32 i = 0; i < ended.count; ++i) {
    const PendingChange *change = find(ended.changes[i], subxid);
    const PendingChange *into = change != nullptr ? find(ended.changes[i], parent) : nullptr;
    if (into == nullptr) continue;
    if (merged == nullptr)
      merged = static_cast<bytea **>(
          MemoryContextAllocZero(TopTransactionContext, sizeof(bytea *) * ended.count));
    merged[i] = merged_state(*into, *change);
  }
  handover = Handover{subxid, merged};
}

void pending_end_subtransaction(SubTransactionId subxid, SubTransactionId parent, bool committed) {
  // Subtransactions end innermost first: one that created changes is last.
  bytea **merged = handover.subxid == subxid ? handover.merged : nullptr;
  const bool prepared = handover.subxid == subxid;
  handover = Handover{InvalidSubTransactionId, nullptr};
  if (created_by(subxid) == nullptr) return;
  // Unless made ready before the commit (it always is, by the subtransaction
  // callback), the parent's list gets its room now.
  if (committed && !prepared && created_by(subxid)->count > 0)
    reserve_handed_over(parent, created_by(subxid)->count);
  const SubtransactionChanges ended = subtransactions[--subtransaction_count];
  for (uint32 i = 0; i < ended.count; ++i) {
    const CreatedChange &created = ended.changes[i];
    PendingChange *change = find(created, subxid);
    if (change == nullptr) continue;  // forgotten since (TRUNCATE, DROP)
    if (!committed) {
      pending_table_delete_item(table, change);
      continue;
    }
    PendingChange *into = find(created, parent);
    if (into == nullptr) {
      // The parent's change now: the hash leaves the subtransaction out, so
      // the change stays in its bucket.
      change->key.subxid = parent;
      note_created(*change);
      continue;
    }
    bytea *state =
        merged != nullptr && merged[i] != nullptr ? merged[i] : merged_state(*into, *change);
    pfree(into->state);
    into->state = state;
    pending_table_delete_item(table, change);
  }
  if (merged != nullptr) pfree(merged);
  if (ended.changes != nullptr) pfree(ended.changes);
}

bool pending_decode(const PendingChange &change, core::StateView *out) {
  return core::decode_state(reinterpret_cast<const uint8_t *>(VARDATA(change.state)),
                            VARSIZE(change.state) - VARHDRSZ, out) == core::DecodeStatus::kOk;
}

}  // namespace edgestate
