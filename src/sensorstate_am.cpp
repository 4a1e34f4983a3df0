// The sensorstate table access method: PostgreSQL's heap for storage, MVCC,
// WAL, TOAST, vacuum and indexes, plus capture of every inserted reading into
// a per-transaction set that is merged into the shared latest index when the
// transaction commits (docs/sensorstate.md).
#include "calibration.hpp"
#include "core/merge.h"
#include "core/state_codec.h"
#include "guard.hpp"
#include "gucs.hpp"
#include "invalidations.hpp"
#include "latest_index.hpp"
#include "pg.hpp"
#include "sensorstate_am.hpp"
#include "sensorstate_contract.hpp"
#include "shmem.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

// Plain style throughout: these callbacks run inside PostgreSQL's executor and
// hold no object with a destructor across calls that may ereport.

namespace edgestate {
namespace {

constexpr size_t kMaxKeyBytes = 255;

// ---------------------------------------------------------------------------
// Changes of the current transaction.

// Keyed by relation, subtransaction and a 64-bit hash of the key: 16-byte
// hash keys keep the table small and cache-friendly for batches of many keys.
// Keys whose hashes collide share an entry as a chain of items.
struct PendingKey {
  Oid relid;
  SubTransactionId subxid;
  uint64 key_hash;
};

struct PendingItem {
  PendingItem *next;
  bytea *state;  // in TopTransactionContext, like the item
  bool key_is_text;
  uint16 key_size;
  char key[FLEXIBLE_ARRAY_MEMBER];
};

struct PendingEntry {
  PendingKey key;  // must be first
  PendingItem *items;
};

enum class MarkerKind { kCreated, kReset };
struct Marker {
  Oid relid;
  MarkerKind kind;
};

HTAB *pending = nullptr;
List *markers = NIL;  // of Marker *, in the order they happened
SubTransactionId newest_subxid_with_pending = InvalidSubTransactionId;
bool allow_delete = false;  // set by purge only

// The table lives across transactions (creating one per transaction costs
// more than a single-row insert); its states live in TopTransactionContext.
constexpr long kPendingKeptEntries = 1024;

HTAB *pending_table() {
  if (pending == nullptr) {
    HASHCTL ctl;
    ctl.keysize = sizeof(PendingKey);
    ctl.entrysize = sizeof(PendingEntry);
    ctl.hcxt = TopMemoryContext;
    pending =
        hash_create("edgestate pending readings", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
  }
  return pending;
}

bool has_pending() { return pending != nullptr && hash_get_num_entries(pending) > 0; }

// Empties the table at the end of a transaction; a table grown large by a
// big transaction is dropped rather than kept.
void clear_pending() {
  if (pending == nullptr) return;
  if (hash_get_num_entries(pending) > kPendingKeptEntries) {
    hash_destroy(pending);
    pending = nullptr;
    return;
  }
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, pending);
  while (auto *entry = static_cast<PendingEntry *>(hash_seq_search(&scan)))
    hash_search(pending, &entry->key, HASH_REMOVE, nullptr);
}

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

void decode_pending(const bytea *state, core::StateView *view) {
  if (core::decode_state(reinterpret_cast<const uint8_t *>(VARDATA(state)),
                         VARSIZE(state) - VARHDRSZ, view) != core::DecodeStatus::kOk)
    elog(ERROR, "edgestate: corrupted pending state");
}

// Adds a state to the pending set under (relid, subxid, key).
void add_pending(Oid relid, SubTransactionId subxid, const char *key, size_t key_size,
                 bool key_is_text, const core::StateView &state) {
  PendingKey lookup;
  lookup.relid = relid;
  lookup.subxid = subxid;
  lookup.key_hash = hash_bytes_extended(reinterpret_cast<const unsigned char *>(key),
                                        static_cast<int>(key_size), 0);
  bool found = false;
  auto *entry =
      static_cast<PendingEntry *>(hash_search(pending_table(), &lookup, HASH_ENTER, &found));
  if (!found) entry->items = nullptr;
  if (subxid > newest_subxid_with_pending) newest_subxid_with_pending = subxid;
  PendingItem *item = entry->items;
  while (item != nullptr && (item->key_size != key_size || memcmp(item->key, key, key_size) != 0))
    item = item->next;
  if (item == nullptr) {
    item = static_cast<PendingItem *>(
        MemoryContextAlloc(TopTransactionContext, offsetof(PendingItem, key) + key_size));
    item->key_size = static_cast<uint16>(key_size);
    item->key_is_text = key_is_text;
    memcpy(item->key, key, key_size);
    item->state = encode_in_transaction(state, nullptr);
    item->next = entry->items;
    entry->items = item;
    return;
  }
  core::StateView existing, merged;
  decode_pending(item->state, &existing);
  // An older reading of an origin the state already holds changes nothing
  // (out-of-order batches are full of them): skip the merge and re-encode.
  if (state.count == 1) {
    for (uint8_t i = 0; i < existing.count; ++i) {
      if (core::same_origin(existing.entries[i], state.winner()) &&
          core::compare_readings(existing.entries[i], state.winner()) >= 0)
        return;
    }
  }
  core::merge_states(existing, state, static_cast<size_t>(guc_max_candidates), &merged);
  item->state = encode_in_transaction(merged, item->state);
}

void add_marker(Oid relid, MarkerKind kind) {
  MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
  auto *marker = static_cast<Marker *>(palloc(sizeof(Marker)));
  marker->relid = relid;
  marker->kind = kind;
  markers = lappend(markers, marker);
  MemoryContextSwitchTo(old);
}

// Removes every pending change of a relation (it was truncated).
void forget_pending_of(Oid relid) {
  if (!has_pending()) return;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, pending);
  while (auto *entry = static_cast<PendingEntry *>(hash_seq_search(&scan))) {
    if (entry->key.relid == relid) hash_search(pending, &entry->key, HASH_REMOVE, nullptr);
  }
}

void reset_transaction_state() {
  calibration_forget_local();
  clear_pending();  // its states are freed with TopTransactionContext
  markers = NIL;
  newest_subxid_with_pending = InvalidSubTransactionId;
  allow_delete = false;
}

int64_t now_us() {
  return GetCurrentTimestamp() +
         static_cast<int64>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

// At commit: the transaction is durable and visible; publish its changes.
// Nothing here may raise an ERROR (the transaction cannot abort any more).
void apply_committed() {
  if (!shmem_ready()) return;
  calibration_publish();
  ListCell *cell;
  foreach (cell, markers) {
    auto *marker = static_cast<Marker *>(lfirst(cell));
    if (marker->kind == MarkerKind::kCreated)
      latest_register_new_relation(MyDatabaseId, marker->relid);
    else
      latest_reset_relation(MyDatabaseId, marker->relid);
  }
  if (!has_pending()) return;
  int64_t arrival = now_us();
  Oid checked_relation = InvalidOid;
  CompletenessCheck check{};
  bool appended = false;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, pending);
  while (auto *entry = static_cast<PendingEntry *>(hash_seq_search(&scan))) {
    if (entry->key.relid != checked_relation) {
      checked_relation = entry->key.relid;
      check = latest_check_complete(MyDatabaseId, entry->key.relid);
    }
    for (PendingItem *item = entry->items; item != nullptr; item = item->next) {
      core::StateView state;
      if (core::decode_state(reinterpret_cast<const uint8_t *>(VARDATA(item->state)),
                             VARSIZE(item->state) - VARHDRSZ, &state) != core::DecodeStatus::kOk) {
        latest_mark_incomplete(MyDatabaseId, entry->key.relid);
        continue;
      }
      core::LatestKey key{MyDatabaseId, entry->key.relid,
                          std::string_view(item->key, item->key_size)};
      core::MergeOutcome outcome = latest_merge(key, state, arrival, check);
      if (!outcome.winner_changed && outcome.stored) continue;
      // The latest value changed (or is unknown to the index): tell each
      // region this transaction wrote the key for.
      for (uint8_t i = 0; i < state.count; ++i) {
        bool repeated = false;
        for (uint8_t j = 0; j < i; ++j)
          repeated = repeated || state.entries[j].region == state.entries[i].region;
        if (repeated) continue;
        invalidation_append(entry->key.relid, state.entries[i].region, key.key, item->key_is_text,
                            arrival);
        appended = true;
      }
    }
  }
  if (appended) invalidation_wake();
}

// PREPARE TRANSACTION: the commit happens elsewhere (COMMIT PREPARED, maybe in
// another backend or after a restart), so the relations it wrote are marked
// incomplete and reload from their tables.
void forget_prepared() {
  if (!shmem_ready()) return;
  TransactionId xid = GetTopTransactionIdIfAny();
  ListCell *cell;
  foreach (cell, markers)
    latest_note_prepared(MyDatabaseId, static_cast<Marker *>(lfirst(cell))->relid, xid);
  if (!has_pending()) return;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, pending);
  while (auto *entry = static_cast<PendingEntry *>(hash_seq_search(&scan)))
    latest_note_prepared(MyDatabaseId, entry->key.relid, xid);
}

void on_transaction_event(XactEvent event, void *) {
  switch (event) {
    case XACT_EVENT_COMMIT:
      apply_committed();
      reset_transaction_state();
      break;
    case XACT_EVENT_PRE_PREPARE:
      forget_prepared();
      break;
    case XACT_EVENT_PREPARE:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PARALLEL_COMMIT:
      reset_transaction_state();
      break;
    default:
      break;
  }
}

// A committed subtransaction hands its changes to its parent; an aborted one
// leaves no trace.
void on_subtransaction_event(SubXactEvent event, SubTransactionId subxid, SubTransactionId parent,
                             void *) {
  if (!has_pending() || subxid > newest_subxid_with_pending) return;
  if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB) return;
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, pending);
  List *moved = NIL;  // of PendingItem *, with the relation in a parallel list
  List *moved_relations = NIL;
  while (auto *entry = static_cast<PendingEntry *>(hash_seq_search(&scan))) {
    if (entry->key.subxid != subxid) continue;
    if (event == SUBXACT_EVENT_COMMIT_SUB) {
      for (PendingItem *item = entry->items; item != nullptr; item = item->next) {
        moved = lappend(moved, item);
        moved_relations = lappend_oid(moved_relations, entry->key.relid);
      }
    }
    hash_search(pending, &entry->key, HASH_REMOVE, nullptr);
  }
  ListCell *item_cell;
  ListCell *relation_cell;
  forboth(item_cell, moved, relation_cell, moved_relations) {
    auto *item = static_cast<PendingItem *>(lfirst(item_cell));
    core::StateView state;
    decode_pending(item->state, &state);
    add_pending(lfirst_oid(relation_cell), parent, item->key, item->key_size, item->key_is_text,
                state);
  }
  list_free(moved);
  list_free(moved_relations);
}

// ---------------------------------------------------------------------------
// Reading a row.

[[noreturn]] void bad_reading(Relation rel, int sqlstate, const char *what) {
  ereport(ERROR, (errcode(sqlstate), errmsg("invalid reading for sensorstate table \"%s\": %s",
                                            RelationGetRelationName(rel), what)));
  pg_unreachable();
}

Datum required(Relation rel, TupleTableSlot *slot, AttrNumber attnum) {
  if (slot->tts_isnull[attnum - 1])
    ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
                    errmsg("null value in column \"%s\" of sensorstate table \"%s\"",
                           NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname),
                           RelationGetRelationName(rel))));
  return slot->tts_values[attnum - 1];
}

std::string_view text_of(Datum datum) {
  text *value = DatumGetTextPP(datum);
  return {VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)};
}

// arrival_us: when the row arrived (one clock reading per batch).
void capture(Relation rel, TupleTableSlot *slot, int64_t arrival_us) {
  if (!shmem_ready()) return;
  const SensorstateColumns *columns = sensorstate_columns(rel);
  slot_getallattrs(slot);

  char key_buffer[8];
  std::string_view key;
  Datum key_datum = required(rel, slot, columns->key);
  if (columns->key_is_text) {
    key = text_of(key_datum);
    if (key.size() > kMaxKeyBytes)
      bad_reading(rel, ERRCODE_STRING_DATA_RIGHT_TRUNCATION, "key is longer than 255 bytes");
  } else {
    int64 number = columns->key_type == INT8OID ? DatumGetInt64(key_datum)
                                                : static_cast<int64>(DatumGetInt32(key_datum));
    uint64 bits = static_cast<uint64>(number);
    for (int i = 7; i >= 0; --i, bits >>= 8) key_buffer[i] = static_cast<char>(bits & 0xFF);
    key = std::string_view(key_buffer, 8);
  }

  double value = DatumGetFloat8(required(rel, slot, columns->value));
  uint64_t ts = DatumGetUInt64(required(rel, slot, columns->ts));
  std::string_view region = text_of(required(rel, slot, columns->region));
  std::string_view device;
  if (columns->device != InvalidAttrNumber && !slot->tts_isnull[columns->device - 1])
    device = text_of(slot->tts_values[columns->device - 1]);
  uint32_t skew_ms = static_cast<uint32_t>(guc_default_skew_bound_ms);
  if (columns->skew_bound != InvalidAttrNumber && !slot->tts_isnull[columns->skew_bound - 1]) {
    const Interval *bound = DatumGetIntervalP(slot->tts_values[columns->skew_bound - 1]);
    int64 us = bound->time + static_cast<int64>(bound->day) * USECS_PER_DAY;
    if (bound->month != 0 || us < 0 || us / 1000 > static_cast<int64>(core::kMaxSkewMs))
      bad_reading(rel, ERRCODE_INVALID_PARAMETER_VALUE,
                  "skew_bound must be between 0 and 24 hours");
    skew_ms = static_cast<uint32_t>(us / 1000);
  }

  core::Reading reading(value, ts, skew_ms, region, device);
  core::StateView single;
  core::ReadingError error = core::state_of(reading, &single);
  if (error != core::ReadingError::kOk)
    bad_reading(
        rel,
        error == core::ReadingError::kEmptyRegion || error == core::ReadingError::kSkewOutOfRange
            ? ERRCODE_INVALID_PARAMETER_VALUE
            : ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
        core::describe(error));
  add_pending(RelationGetRelid(rel), GetCurrentSubTransactionId(), key.data(), key.size(),
              columns->key_is_text, single);
  ensure_invalidation_worker();
  calibration_observe(RelationGetRelid(rel), region,
                      arrival_us - static_cast<int64_t>(core::hlc_physical(ts)) * 1000);
}

// ---------------------------------------------------------------------------
// The routine: heap's, with these overrides.

TableAmRoutine routine;
const TableAmRoutine *heap = nullptr;

void sensorstate_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid, int options,
                              BulkInsertStateData *bistate) {
  heap->tuple_insert(rel, slot, cid, options, bistate);
  capture(rel, slot, now_us());
}

void sensorstate_tuple_complete_speculative(Relation rel, TupleTableSlot *slot, uint32 token,
                                            bool succeeded) {
  heap->tuple_complete_speculative(rel, slot, token, succeeded);
  if (succeeded) capture(rel, slot, now_us());
}

void sensorstate_multi_insert(Relation rel, TupleTableSlot **slots, int count, CommandId cid,
                              int options, BulkInsertStateData *bistate) {
  heap->multi_insert(rel, slots, count, cid, options, bistate);
  int64_t arrival = now_us();
  for (int i = 0; i < count; ++i) capture(rel, slots[i], arrival);
}

[[noreturn]] void refuse_change(Relation rel, const char *command) {
  ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                  errmsg("cannot %s rows of sensorstate table \"%s\"", command,
                         RelationGetRelationName(rel)),
                  errdetail("A sensorstate table is append-only: its latest state is the merge "
                            "of every reading."),
                  errhint("Insert a newer reading instead; remove old readings with "
                          "edgestate.purge().")));
  pg_unreachable();
}

TM_Result sensorstate_tuple_delete(Relation rel, ItemPointer tid, CommandId cid, Snapshot snapshot,
                                   Snapshot crosscheck, bool wait, TM_FailureData *tmfd,
                                   bool changing_part) {
  if (!allow_delete) refuse_change(rel, "delete");
  return heap->tuple_delete(rel, tid, cid, snapshot, crosscheck, wait, tmfd, changing_part);
}

TM_Result sensorstate_tuple_update(Relation rel, ItemPointer, TupleTableSlot *, CommandId, Snapshot,
                                   Snapshot, bool, TM_FailureData *, LockTupleMode *, bool *) {
  refuse_change(rel, "update");
}

// New storage: CREATE TABLE (a new, empty relation) or TRUNCATE.
void sensorstate_set_new_filenode(Relation rel, const RelFileNode *node, char persistence,
                                  TransactionId *freeze_xid, MultiXactId *minmulti) {
  heap->relation_set_new_filenode(rel, node, persistence, freeze_xid, minmulti);
  // CREATE TABLE passes the relation's own node; TRUNCATE a new one.
  if (rel->rd_createSubid != InvalidSubTransactionId && node->relNode == rel->rd_node.relNode) {
    add_marker(RelationGetRelid(rel), MarkerKind::kCreated);
  } else {
    forget_pending_of(RelationGetRelid(rel));
    add_marker(RelationGetRelid(rel), MarkerKind::kReset);
  }
}

void sensorstate_nontransactional_truncate(Relation rel) {
  heap->relation_nontransactional_truncate(rel);
  forget_pending_of(RelationGetRelid(rel));
  add_marker(RelationGetRelid(rel), MarkerKind::kReset);
}

// Heap's scan code insists on the heap routine (heap_getnext); index builds
// and CLUSTER go through it, so they run with heap's routine in place.
double sensorstate_index_build_range_scan(Relation table_rel, Relation index_rel,
                                          IndexInfo *index_info, bool allow_sync, bool anyvisible,
                                          bool progress, BlockNumber start, BlockNumber count,
                                          IndexBuildCallback callback, void *state,
                                          TableScanDesc scan) {
  const TableAmRoutine *saved = table_rel->rd_tableam;
  double tuples = 0;
  table_rel->rd_tableam = heap;
  PG_TRY();
  {
    tuples = heap->index_build_range_scan(table_rel, index_rel, index_info, allow_sync, anyvisible,
                                          progress, start, count, callback, state, scan);
  }
  PG_FINALLY();
  { table_rel->rd_tableam = saved; }
  PG_END_TRY();
  return tuples;
}

void sensorstate_index_validate_scan(Relation table_rel, Relation index_rel, IndexInfo *index_info,
                                     Snapshot snapshot, ValidateIndexState *state) {
  const TableAmRoutine *saved = table_rel->rd_tableam;
  table_rel->rd_tableam = heap;
  PG_TRY();
  { heap->index_validate_scan(table_rel, index_rel, index_info, snapshot, state); }
  PG_FINALLY();
  { table_rel->rd_tableam = saved; }
  PG_END_TRY();
}

void sensorstate_copy_for_cluster(Relation old_table, Relation new_table, Relation old_index,
                                  bool use_sort, TransactionId oldest_xmin,
                                  TransactionId *xid_cutoff, MultiXactId *multi_cutoff,
                                  double *num_tuples, double *tups_vacuumed,
                                  double *tups_recently_dead) {
  const TableAmRoutine *saved = old_table->rd_tableam;
  old_table->rd_tableam = heap;
  PG_TRY();
  {
    heap->relation_copy_for_cluster(old_table, new_table, old_index, use_sort, oldest_xmin,
                                    xid_cutoff, multi_cutoff, num_tuples, tups_vacuumed,
                                    tups_recently_dead);
  }
  PG_FINALLY();
  { old_table->rd_tableam = saved; }
  PG_END_TRY();
}

// TOAST tables of sensorstate tables are plain heap tables.
Oid sensorstate_toast_am(Relation) { return HEAP_TABLE_AM_OID; }

const TableAmRoutine *build_routine() {
  if (heap == nullptr) {
    heap = GetHeapamTableAmRoutine();
    routine = *heap;
    routine.tuple_insert = sensorstate_tuple_insert;
    routine.tuple_complete_speculative = sensorstate_tuple_complete_speculative;
    routine.multi_insert = sensorstate_multi_insert;
    routine.tuple_delete = sensorstate_tuple_delete;
    routine.tuple_update = sensorstate_tuple_update;
    routine.relation_set_new_filenode = sensorstate_set_new_filenode;
    routine.relation_nontransactional_truncate = sensorstate_nontransactional_truncate;
    routine.index_build_range_scan = sensorstate_index_build_range_scan;
    routine.index_validate_scan = sensorstate_index_validate_scan;
    routine.relation_copy_for_cluster = sensorstate_copy_for_cluster;
    routine.relation_toast_am = sensorstate_toast_am;
  }
  return &routine;
}

// DROP TABLE: forget the relation's entries at commit.
object_access_hook_type prev_object_access_hook = nullptr;

void on_object_access(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id, void *arg) {
  if (prev_object_access_hook != nullptr)
    prev_object_access_hook(access, class_id, object_id, sub_id, arg);
  if (access != OAT_DROP || class_id != RelationRelationId || sub_id != 0) return;
  HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(object_id));
  if (!HeapTupleIsValid(tuple)) return;
  auto *form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
  bool ours = form->relkind == RELKIND_RELATION && OidIsValid(form->relam) &&
              form->relam == sensorstate_am_oid();
  ReleaseSysCache(tuple);
  if (!ours) return;
  forget_pending_of(object_id);
  add_marker(object_id, MarkerKind::kReset);
}

}  // namespace

void install_sensorstate_hooks() {
  RegisterXactCallback(on_transaction_event, nullptr);
  RegisterSubXactCallback(on_subtransaction_event, nullptr);
  prev_object_access_hook = object_access_hook;
  object_access_hook = on_object_access;
}

void set_purge_in_progress(bool in_progress) { allow_delete = in_progress; }

void schedule_reset(Oid relid) { add_marker(relid, MarkerKind::kReset); }

}  // namespace edgestate

ES_SQL_FUNCTION(es_sensorstate_handler) { PG_RETURN_POINTER(edgestate::build_routine()); }
