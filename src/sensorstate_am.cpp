// The sensorstate table access method: PostgreSQL's heap for storage, MVCC,
// WAL, TOAST, vacuum and indexes, plus capture of every inserted reading into
// a per-transaction set that is merged into the shared latest index when the
// transaction commits (docs/sensorstate.md).
#include <algorithm>

#include "calibration.hpp"
#include "guard.hpp"
#include "gucs.hpp"
#include "invalidations.hpp"
#include "latest_index.hpp"
#include "pending_changes.hpp"
#include "pg.hpp"
#include "sensorstate_am.hpp"
#include "sensorstate_contract.hpp"
#include "shmem.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "replication/logicalworker.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
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

// kDiscarded: created and dropped by the transaction (the transient relation
// of a table rewrite, say), which no other session ever saw.
enum class MarkerKind { kCreated, kReset, kDropped, kDiscarded };
struct Marker {
  Oid relid;
  MarkerKind kind;
};

List *markers = NIL;        // of Marker *, in the order they happened
bool finishes_prepared = false;  // this transaction runs COMMIT/ROLLBACK PREPARED
// ... and commits a prepared transaction whose writes this server does not
// know (prepared before a restart, or not recorded)
bool commits_unknown_prepared = false;
List *untracked = NIL;      // relation OIDs past edgestate.max_pending_keys
bool allow_delete = false;  // set by purge only

void add_marker(Oid relid, MarkerKind kind) {
  MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
  auto *marker = static_cast<Marker *>(palloc(sizeof(Marker)));
  marker->relid = relid;
  marker->kind = kind;
  markers = lappend(markers, marker);
  MemoryContextSwitchTo(old);
}

// Drops the markers of a relation this transaction created, which it is
// dropping again: whether the drop is that of a table rewrite's transient
// relation or a user's, no one else saw the relation, so there is nothing to
// reset nor to tell dashboards. False when the relation is older.
bool forget_markers_if_created(Oid relid) {
  bool created = false;
  ListCell *cell;
  foreach (cell, markers) {
    auto *marker = static_cast<Marker *>(lfirst(cell));
    created = created || (marker->relid == relid && marker->kind == MarkerKind::kCreated);
  }
  if (!created) return false;
  foreach (cell, markers)
    if (static_cast<Marker *>(lfirst(cell))->relid == relid)
      markers = foreach_delete_current(markers, cell);
  return true;
}

void reset_transaction_state() {
  calibration_forget_local();
  pending_clear();
  markers = NIL;
  finishes_prepared = false;
  commits_unknown_prepared = false;
  untracked = NIL;
  allow_delete = false;
}

// The transaction changes more keys than it may keep (each costs backend
// memory until the commit): it stops tracking the relation that went over,
// whose latest state is then reset at commit and reloaded from the table, as
// after a TRUNCATE. A subtransaction that rolls back later leaves it so: a
// reload is always right.
void stop_tracking(Relation rel) {
  Oid relid = RelationGetRelid(rel);
  pending_forget_relation(relid);
  MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
  untracked = lappend_oid(untracked, relid);
  MemoryContextSwitchTo(old);
  add_marker(relid, MarkerKind::kReset);
  ereport(NOTICE,
          (errmsg("sensorstate table \"%s\": this transaction changes more than %d keys; the "
                  "table's latest state will be reloaded from it after the commit",
                  RelationGetRelationName(rel), guc_max_pending_keys),
           errhint("Raise edgestate.max_pending_keys to keep tracking more keys (about 200 "
                   "bytes of memory each).")));
}

// What publishing one transaction's changes carries from change to change.
struct Publication {
  int64_t arrival;
  Oid checked_relation;  // the relation `check` is about
  CompletenessCheck check;
  bool appended;  // some invalidation was queued
};

void publish_change(const PendingChange &change, void *arg) {
  auto *publication = static_cast<Publication *>(arg);
  if (change.key.relid != publication->checked_relation) {
    publication->checked_relation = change.key.relid;
    publication->check = latest_check_complete(MyDatabaseId, change.key.relid);
  }
  core::StateView state;
  if (!pending_decode(change, &state)) {  // no ERROR at commit: reload the table instead
    latest_mark_incomplete(MyDatabaseId, change.key.relid);
    return;
  }
  core::LatestKey key{MyDatabaseId, change.key.relid,
                      std::string_view(change.key.bytes, change.key.size)};
  core::MergeOutcome outcome = latest_merge(key, state, publication->arrival, publication->check);
  if (!outcome.winner_changed && outcome.stored) return;
  // The latest value changed (or is unknown to the index): tell each region
  // this transaction wrote the key for.
  for (uint8_t i = 0; i < state.count; ++i) {
    bool repeated = false;
    for (uint8_t j = 0; j < i; ++j)
      repeated = repeated || state.entries[j].region == state.entries[i].region;
    if (repeated) continue;
    invalidation_append(change.key.relid, state.entries[i].region, key.key, change.key_is_text,
                        publication->arrival);
    publication->appended = true;
  }
}

// At commit: the transaction is durable and visible; publish its changes.
// Nothing here may raise an ERROR (the transaction cannot abort any more).
void apply_committed() {
  if (!shmem_ready()) return;
  calibration_publish();
  Publication publication{now_unix_us(), InvalidOid, {}, false};
  ListCell *cell;
  foreach (cell, markers) {
    auto *marker = static_cast<Marker *>(lfirst(cell));
    if (marker->kind == MarkerKind::kCreated) {
      latest_register_new_relation(MyDatabaseId, marker->relid);
    } else if (marker->kind == MarkerKind::kDiscarded) {
      calibration_release_relation(MyDatabaseId, marker->relid);
    } else {
      latest_reset_relation(MyDatabaseId, marker->relid);
      // Dashboards showing the table reload it (docs/invalidations.md).
      invalidation_append_reset(marker->relid, publication.arrival);
      publication.appended = true;
      if (marker->kind == MarkerKind::kDropped)
        calibration_release_relation(MyDatabaseId, marker->relid);
    }
  }
  pending_visit(publish_change, &publication);
  // A prepared transaction that wrote sensorstate tables ended just now; if it
  // committed, its rows reach dashboards as a reset of each table
  // (docs/invalidations.md). A logical replication apply worker finishes the
  // prepared transactions of two-phase subscriptions without the statement.
  if ((finishes_prepared || IsLogicalWorker()) && latest_settle_prepared(MyDatabaseId))
    publication.appended = true;
  // What it wrote is unknown: every table of the database, for all clients
  // know (a reset of no particular table).
  if (commits_unknown_prepared) {
    invalidation_append_reset(InvalidOid, publication.arrival);
    publication.appended = true;
  }
  if (publication.appended) invalidation_wake();
}

void collect_relation(const PendingChange &change, void *relids) {
  auto *list = static_cast<List **>(relids);
  *list = list_append_unique_oid(*list, change.key.relid);
}

// PREPARE TRANSACTION: the commit happens elsewhere (COMMIT PREPARED, maybe in
// another backend or after a restart), so the relations it wrote are marked
// incomplete and reload from their tables. A transaction that wrote none is
// recorded too, so that loads while it is pending know it wrote none.
void forget_prepared() {
  if (!shmem_ready()) return;
  TransactionId xid = GetTopTransactionId();
  List *relids = NIL;
  ListCell *cell;
  foreach (cell, markers)
    relids = list_append_unique_oid(relids, static_cast<Marker *>(lfirst(cell))->relid);
  pending_visit(collect_relation, &relids);
  bool recorded = true;
  foreach (cell, relids)
    recorded = latest_note_prepared(MyDatabaseId, lfirst_oid(cell), xid) && recorded;
  if (relids == NIL) recorded = latest_note_prepared(MyDatabaseId, InvalidOid, xid);
  list_free(relids);
  if (!recorded) {
    // Unknown, like one prepared before a restart: every table loaded while it
    // is pending waits for it. Until PREPARE has finished, though, loads cannot
    // see it among the prepared transactions.
    latest_forget_prepared(MyDatabaseId, xid);
    ereport(WARNING, (errmsg("edgestate: too many prepared transactions are pending; "
                             "sensorstate tables read meanwhile compute from the table until "
                             "they end")));
  }
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
// leaves no trace, nor arrival delays. What the hand-over needs is allocated
// before the commit.
void on_subtransaction_event(SubXactEvent event, SubTransactionId subxid, SubTransactionId parent,
                             void *) {
  if (event == SUBXACT_EVENT_START_SUB) {
    calibration_start_subtransaction();
  } else if (event == SUBXACT_EVENT_PRE_COMMIT_SUB) {
    pending_prepare_subtransaction_commit(subxid, parent);
  } else {
    pending_end_subtransaction(subxid, parent, event == SUBXACT_EVENT_COMMIT_SUB);
    calibration_end_subtransaction(event == SUBXACT_EVENT_COMMIT_SUB);
  }
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

// One row's reading, read from its slot and checked. key views key_buffer
// for bigint keys, so a RowReading is never copied.
struct RowReading {
  RowReading() = default;
  RowReading(const RowReading &) = delete;
  RowReading &operator=(const RowReading &) = delete;

  char key_buffer[8];
  std::string_view key;
  core::Reading reading;
  uint32 hash;  // pending_hash of the key
};

void read_row(Relation rel, const SensorstateColumns *columns, TupleTableSlot *slot,
              RowReading *row) {
  slot_getallattrs(slot);

  row->key = sensorstate_key_bytes(*columns, required(rel, slot, columns->key), row->key_buffer);
  if (row->key.size() > kMaxKeyBytes)
    bad_reading(rel, ERRCODE_STRING_DATA_RIGHT_TRUNCATION, "key is longer than 255 bytes");

  double value = DatumGetFloat8(required(rel, slot, columns->value));
  uint64_t ts = DatumGetUInt64(required(rel, slot, columns->ts));
  std::string_view region = text_datum_view(required(rel, slot, columns->region));
  std::string_view device;
  if (columns->device != InvalidAttrNumber && !slot->tts_isnull[columns->device - 1])
    device = text_datum_view(slot->tts_values[columns->device - 1]);
  uint32_t skew_ms = static_cast<uint32_t>(guc_default_skew_bound_ms);
  if (columns->skew_bound != InvalidAttrNumber && !slot->tts_isnull[columns->skew_bound - 1]) {
    const Interval *bound = DatumGetIntervalP(slot->tts_values[columns->skew_bound - 1]);
    int64 us = bound->time + static_cast<int64>(bound->day) * USECS_PER_DAY;
    if (bound->month != 0 || us < 0 || us / 1000 > static_cast<int64>(core::kMaxSkewMs))
      bad_reading(rel, ERRCODE_INVALID_PARAMETER_VALUE,
                  "skew_bound must be between 0 and 24 hours");
    skew_ms = static_cast<uint32_t>(us / 1000);
  }

  row->reading = core::Reading(value, ts, skew_ms, region, device);
  core::ReadingError error = core::validate_reading(row->reading);
  if (error != core::ReadingError::kOk)
    bad_reading(
        rel,
        error == core::ReadingError::kEmptyRegion || error == core::ReadingError::kSkewOutOfRange
            ? ERRCODE_INVALID_PARAMETER_VALUE
            : ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
        core::describe(error));
  row->hash = pending_hash(RelationGetRelid(rel), row->key);
}

// Adds a read row to the transaction's pending changes and to calibration.
// arrival_us: when the row arrived (one clock reading per batch).
void record_row(Relation rel, const SensorstateColumns *columns, const RowReading &row,
                int64_t arrival_us) {
  core::StateView single;  // of the reading alone, which read_row validated
  single.entries[0] = row.reading;
  single.count = 1;
  if ((untracked == NIL || !list_member_oid(untracked, RelationGetRelid(rel))) &&
      !pending_add(RelationGetRelid(rel), GetCurrentSubTransactionId(), row.key, row.hash,
                   columns->key_is_text, single))
    stop_tracking(rel);
  ensure_invalidation_worker();
  calibration_observe(RelationGetRelid(rel), row.reading.region,
                      arrival_us - static_cast<int64_t>(core::hlc_physical(row.reading.hlc)) * 1000);
}

void capture(Relation rel, const SensorstateColumns *columns, TupleTableSlot *slot,
             int64_t arrival_us) {
  RowReading row;
  read_row(rel, columns, slot, &row);
  record_row(rel, columns, row, arrival_us);
}

// A batch of rows, in chunks read whole before any is recorded, so that the
// pending changes they touch are prefetched (see pending_hash): a row's
// change is prefetched while the rows kPrefetchLeadRows after it are read,
// once its bucket has arrived.
constexpr int kCaptureChunkRows = 64;
constexpr int kPrefetchLeadRows = 32;

void capture_batch(Relation rel, const SensorstateColumns *columns, TupleTableSlot **slots,
                   int count, int64_t arrival_us) {
  RowReading rows[kCaptureChunkRows];
  for (int start = 0; start < count; start += kCaptureChunkRows) {
    const int n = std::min(kCaptureChunkRows, count - start);
    for (int i = 0; i < n; ++i) {
      read_row(rel, columns, slots[start + i], &rows[i]);
      if (i >= kPrefetchLeadRows) pending_prefetch(rows[i - kPrefetchLeadRows].hash);
    }
    for (int i = std::max(0, n - kPrefetchLeadRows); i < n; ++i) pending_prefetch(rows[i].hash);
    for (int i = 0; i < n; ++i) record_row(rel, columns, rows[i], arrival_us);
  }
}

// ---------------------------------------------------------------------------
// The routine: heap's, with these overrides.

TableAmRoutine routine;
const TableAmRoutine *heap = nullptr;

// Set while an ALTER statement that resets its tables runs (remapped_relation):
// the rows its rewrite copies into PostgreSQL's transient "pg_temp_<oid>"
// relation are not captured, since the reset at commit reloads the table.
bool rewriting = false;

bool captures(Relation rel) {
  return shmem_ready() &&
         !(rewriting && rel->rd_createSubid != InvalidSubTransactionId &&
           strncmp(RelationGetRelationName(rel), "pg_temp_", 8) == 0);
}

void sensorstate_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid, int options,
                              BulkInsertStateData *bistate) {
  // Captured before the insert, while the slot's values are at hand: heap's
  // insert materializes the slot, which drops them. An insert that fails
  // aborts the transaction, and its capture with it.
  if (captures(rel)) capture(rel, sensorstate_columns(rel), slot, now_unix_us());
  heap->tuple_insert(rel, slot, cid, options, bistate);
}

void sensorstate_tuple_complete_speculative(Relation rel, TupleTableSlot *slot, uint32 token,
                                            bool succeeded) {
  heap->tuple_complete_speculative(rel, slot, token, succeeded);
  if (succeeded && captures(rel)) capture(rel, sensorstate_columns(rel), slot, now_unix_us());
}

void sensorstate_multi_insert(Relation rel, TupleTableSlot **slots, int count, CommandId cid,
                              int options, BulkInsertStateData *bistate) {
  // COPY has already materialized these slots, so capture deforms them again
  // whichever side of the insert it runs on; before it, as for single rows.
  // The columns are looked up once per batch: capture does no catalog access
  // that could invalidate them.
  if (captures(rel)) capture_batch(rel, sensorstate_columns(rel), slots, count, now_unix_us());
  heap->multi_insert(rel, slots, count, cid, options, bistate);
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
  // A materialized view is refreshed by replacing its rows, which an
  // append-only readings table cannot mean.
  if (rel->rd_rel->relkind == RELKIND_MATVIEW)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("sensorstate is an access method for tables, not materialized views"),
                    errhint("Create the materialized view with USING heap.")));
  heap->relation_set_new_filenode(rel, node, persistence, freeze_xid, minmulti);
  // CREATE TABLE passes the relation's own node; TRUNCATE a new one.
  if (rel->rd_createSubid != InvalidSubTransactionId && node->relNode == rel->rd_node.relNode) {
    add_marker(RelationGetRelid(rel), MarkerKind::kCreated);
  } else {
    pending_forget_relation(RelationGetRelid(rel));
    add_marker(RelationGetRelid(rel), MarkerKind::kReset);
  }
}

void sensorstate_nontransactional_truncate(Relation rel) {
  heap->relation_nontransactional_truncate(rel);
  pending_forget_relation(RelationGetRelid(rel));
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

// Whether prepared transaction gid of this database is one whose writes this
// server does not know: it was prepared before the server started, or its
// records did not fit (forget_prepared).
bool prepared_unknown(const char *gid) {
  if (!shmem_ready() || max_prepared_xacts == 0) return false;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  int count = 0;
  TransactionId *xids = pending_prepared_xids(gid, &count);
  bool unknown = count == 1 && !latest_prepared_known(MyDatabaseId, xids[0]);
  SPI_finish();
  return unknown;
}

// COMMIT PREPARED and ROLLBACK PREPARED: the prepared transaction's writes
// are settled at this transaction's commit; ALTER TABLE statements that
// change what the index holds reset the table (remapped_relation). Plain style:
// standard_ProcessUtility may raise.
ProcessUtility_hook_type prev_process_utility_hook = nullptr;

// What a statement changes that the latest state depends on: ALTER TABLE ...
// SET ACCESS METHOD (the rewrite goes through a transient relation, so the
// access method never sees the table's own OID, and a table that left
// sensorstate may have been written without capture), and changes of columns
// (type, added, dropped, renamed), which change the key bytes or what the
// column contract reads; also of a composite type's attributes, which change
// the tables created OF it. The tables concerned are reset at commit, as
// after TRUNCATE, unless the change cannot touch the contract: a column added
// or renamed whose names are none of the convention's (a label stays with
// its column, whatever its name). A reset costs a reload of the whole table,
// which an instant ADD COLUMN should not.
struct Remapped {
  RangeVar *name;       // nullptr: the statement changes nothing of the kind
  bool composite_type;  // ALTER TYPE: name is the type's
  bool resets;          // the change may touch the contract
};

Remapped remapped_relation(Node *parsed) {
  if (IsA(parsed, RenameStmt)) {
    auto *rename = castNode(RenameStmt, parsed);
    bool attribute = rename->renameType == OBJECT_ATTRIBUTE;
    if ((rename->renameType == OBJECT_COLUMN || attribute) && rename->relation != nullptr)
      return Remapped{rename->relation, attribute,
                      is_conventional_column_name(rename->subname) ||
                          is_conventional_column_name(rename->newname)};
    return Remapped{nullptr, false, false};
  }
  if (!IsA(parsed, AlterTableStmt)) return Remapped{nullptr, false, false};
  auto *alter = castNode(AlterTableStmt, parsed);
  Remapped remapped{nullptr, alter->objtype == OBJECT_TYPE, false};
  ListCell *cell;
  foreach (cell, alter->cmds) {
    auto *command = static_cast<AlterTableCmd *>(lfirst(cell));
    switch (command->subtype) {
      case AT_AddColumn:
        remapped.name = alter->relation;
        remapped.resets = remapped.resets ||
                          is_conventional_column_name(castNode(ColumnDef, command->def)->colname);
        break;
      case AT_SetAccessMethod:
      case AT_AlterColumnType:
      case AT_DropColumn:
        remapped.name = alter->relation;
        remapped.resets = true;
        break;
      default:
        break;
    }
  }
  return remapped;
}

// The tables created OF a composite type (given by its relation), with their
// partitions and children.
List *typed_tables_of(Oid composite) {
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_class_reloftype, BTEqualStrategyNumber, F_OIDEQ,
              ObjectIdGetDatum(get_rel_type_id(composite)));
  Relation classes = table_open(RelationRelationId, AccessShareLock);
  SysScanDesc scan = systable_beginscan(classes, InvalidOid, false, nullptr, 1, &key);
  List *tables = NIL;
  while (HeapTuple tuple = systable_getnext(scan)) {
    Oid table = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->oid;
    tables = list_concat(tables, find_all_inheritors(table, NoLock, nullptr));
  }
  systable_endscan(scan);
  table_close(classes, AccessShareLock);
  return tables;
}

void on_process_utility(PlannedStmt *statement, const char *query_string, bool read_only_tree,
                        ProcessUtilityContext context, ParamListInfo params,
                        QueryEnvironment *query_env, DestReceiver *dest, QueryCompletion *qc) {
  Node *parsed = statement->utilityStmt;
  if (IsA(parsed, TransactionStmt)) {
    auto *transaction = castNode(TransactionStmt, parsed);
    if (transaction->kind == TRANS_STMT_COMMIT_PREPARED) {
      finishes_prepared = true;
      commits_unknown_prepared = prepared_unknown(transaction->gid);
    } else if (transaction->kind == TRANS_STMT_ROLLBACK_PREPARED) {
      finishes_prepared = true;
    }
  }
  Remapped remapped = remapped_relation(parsed);
  // Looked up before the statement only to know whether SET ACCESS METHOD
  // takes the table out of sensorstate; what to reset is looked up after it,
  // while it holds its lock.
  Oid before = remapped.name != nullptr ? RangeVarGetRelid(remapped.name, NoLock, true) : InvalidOid;
  bool was_sensorstate = OidIsValid(before) && relation_is_sensorstate(before);
  bool was_rewriting = rewriting;
  rewriting = rewriting || remapped.name != nullptr;
  PG_TRY();
  {
    if (prev_process_utility_hook != nullptr)
      prev_process_utility_hook(statement, query_string, read_only_tree, context, params,
                                query_env, dest, qc);
    else
      standard_ProcessUtility(statement, query_string, read_only_tree, context, params, query_env,
                              dest, qc);
  }
  PG_FINALLY();
  {
    rewriting = was_rewriting;
  }
  PG_END_TRY();
  if (!remapped.resets) return;
  Oid target = RangeVarGetRelid(remapped.name, NoLock, true);
  if (!OidIsValid(target)) return;
  // ALTER TABLE recurses to partitions and inheritance children.
  List *tables = remapped.composite_type ? typed_tables_of(target)
                                         : find_all_inheritors(target, NoLock, nullptr);
  ListCell *cell;
  foreach (cell, tables) {
    Oid member = lfirst_oid(cell);
    if ((member == before && was_sensorstate) || relation_is_sensorstate(member))
      schedule_reset(member);
  }
}

// DROP TABLE: forget the relation's entries at commit.
object_access_hook_type prev_object_access_hook = nullptr;

void on_object_access(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id, void *arg) {
  if (prev_object_access_hook != nullptr)
    prev_object_access_hook(access, class_id, object_id, sub_id, arg);
  if (access != OAT_DROP || class_id != RelationRelationId || sub_id != 0) return;
  if (!relation_is_sensorstate(object_id)) return;
  pending_forget_relation(object_id);
  add_marker(object_id, forget_markers_if_created(object_id) ? MarkerKind::kDiscarded
                                                             : MarkerKind::kDropped);
}

}  // namespace

void install_sensorstate_hooks() {
  RegisterXactCallback(on_transaction_event, nullptr);
  RegisterSubXactCallback(on_subtransaction_event, nullptr);
  prev_object_access_hook = object_access_hook;
  object_access_hook = on_object_access;
  prev_process_utility_hook = ProcessUtility_hook;
  ProcessUtility_hook = on_process_utility;
}

void set_purge_in_progress(bool in_progress) { allow_delete = in_progress; }

void schedule_reset(Oid relid) {
  pending_forget_relation(relid);
  add_marker(relid, MarkerKind::kReset);
}

TransactionId *pending_prepared_xids(const char *gid, int *count) {
  Oid types[1] = {TEXTOID};
  Datum values[1] = {gid != nullptr ? CStringGetTextDatum(gid) : Datum(0)};
  int rc = SPI_execute_with_args(
      "SELECT transaction FROM pg_catalog.pg_prepared_xacts "
      "WHERE database = pg_catalog.current_database() AND ($1 IS NULL OR gid = $1)",
      1, types, values, gid != nullptr ? nullptr : "n", true, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "edgestate: listing prepared transactions failed: %d", rc);
  auto *xids = static_cast<TransactionId *>(
      palloc(sizeof(TransactionId) * Max(SPI_processed, static_cast<uint64>(1))));
  *count = 0;
  for (uint64 row = 0; row < SPI_processed; ++row) {
    bool is_null = false;
    Datum xid = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &is_null);
    if (!is_null) xids[(*count)++] = DatumGetTransactionId(xid);
  }
  return xids;
}

}  // namespace edgestate

ES_SQL_FUNCTION(es_sensorstate_handler) { PG_RETURN_POINTER(edgestate::build_routine()); }
