// edgestate.latest(), the read side of the latest index, and retention
// (edgestate.purge()). Served from shared memory when the index holds every
// committed reading of the table; otherwise computed from the table with
// merge_agg (the same function the oracle uses) and put back into the index.
// On a hot standby the index is not maintained (WAL replay does not run the
// access method), so every read is computed from the table. latest() of a
// partitioned table merges its sensorstate partitions' answers by key.
#include <algorithm>

#include "calibration.hpp"
#include "core/merge.h"
#include "core/state_codec.h"
#include "guard.hpp"
#include "gucs.hpp"
#include "latest_index.hpp"
#include "sensorstate_am.hpp"
#include "sensorstate_contract.hpp"
#include "shmem.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/twophase.h"
#include "access/xlog.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

// Plain style: no object with a destructor is alive across a call that may
// ereport.

namespace edgestate {
namespace {

constexpr int kLatestColumns = 11;

struct ReadContext {
  Relation rel;
  // A copy: the backend's column cache can drop its entry whenever
  // invalidations are processed (taking a lock, planning a query).
  SensorstateColumns columns;
  ReturnSetInfo *rsinfo;
  TimestampTz now;
  // False on a standby (WAL replay does not run the access method) and when
  // row-level security filters what the caller may see: the answer is then
  // computed from the rows the caller can read, and the index is left alone.
  bool use_index;
  // Rows merged by key instead of emitted (the partitions of a partitioned
  // table), or nullptr; their keys and states live in merged_memory, which
  // outlives the SPI calls that compute partitions.
  HTAB *merged;
  MemoryContext merged_memory;
  // For a partition read through its partitioned table: whether it may be
  // queried on its own. When a read needs that and may not, it sets
  // needs_query and emits nothing.
  bool may_query;
  bool needs_query;
};

// A row of latest() of a partitioned table: the partitions' rows of one key,
// merged.
struct MergedKey {
  uint16 size;
  const char *bytes;
};

struct MergedRow {
  MergedKey key;  // bytes copied into the read's memory
  bytea *state;
  uint64_t version;     // the largest of the partitions' (versions are global)
  int64_t arrival_us;   // that of the partition whose winner won
};

uint32 merged_key_hash(const void *key, Size) {
  const auto *k = static_cast<const MergedKey *>(key);
  return hash_bytes(reinterpret_cast<const unsigned char *>(k->bytes), k->size);
}

int merged_key_match(const void *a, const void *b, Size) {
  const auto *x = static_cast<const MergedKey *>(a);
  const auto *y = static_cast<const MergedKey *>(b);
  return x->size == y->size && memcmp(x->bytes, y->bytes, x->size) == 0 ? 0 : 1;
}

HTAB *create_merged_rows(MemoryContext memory) {
  HASHCTL ctl = {};
  ctl.keysize = sizeof(MergedKey);
  ctl.entrysize = sizeof(MergedRow);
  ctl.hash = merged_key_hash;
  ctl.match = merged_key_match;
  ctl.hcxt = memory;
  return hash_create("edgestate latest() of partitions", 1024, &ctl,
                     HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

bytea *state_datum_of(const uint8_t *state_bytes, size_t state_size) {
  auto *datum = static_cast<bytea *>(palloc(VARHDRSZ + state_size));
  SET_VARSIZE(datum, VARHDRSZ + state_size);
  memcpy(VARDATA(datum), state_bytes, state_size);
  return datum;
}

void decode_or_error(const uint8_t *bytes, size_t size, core::StateView *out) {
  if (core::decode_state(bytes, size, out) != core::DecodeStatus::kOk)
    ereport(ERROR,
            (errcode(ERRCODE_DATA_CORRUPTED), errmsg("corrupted state in the latest index")));
}

// Merges one partition's row of a key into the rows merged so far.
void merge_row(const ReadContext &context, std::string_view key, const uint8_t *state_bytes,
               size_t state_size, uint64_t version, int64_t arrival_us) {
  MemoryContext old = MemoryContextSwitchTo(context.merged_memory);
  MergedKey lookup{static_cast<uint16>(key.size()), key.data()};
  bool found = false;
  auto *row = static_cast<MergedRow *>(hash_search(context.merged, &lookup, HASH_ENTER, &found));
  if (!found) {
    char *bytes = static_cast<char *>(palloc(key.size() + 1));
    memcpy(bytes, key.data(), key.size());
    row->key.bytes = bytes;
    row->state = state_datum_of(state_bytes, state_size);
    row->version = version;
    row->arrival_us = arrival_us;
    MemoryContextSwitchTo(old);
    return;
  }
  core::StateView existing, incoming, result;
  decode_or_error(reinterpret_cast<const uint8_t *>(VARDATA(row->state)),
                  VARSIZE(row->state) - VARHDRSZ, &existing);
  decode_or_error(state_bytes, state_size, &incoming);
  core::merge_states(existing, incoming, static_cast<size_t>(guc_max_candidates), &result);
  if (core::compare_readings(result.winner(), existing.winner()) != 0) row->arrival_us = arrival_us;
  row->version = std::max(row->version, version);
  uint8_t encoded[core::kMaxEncodedStateBytes];
  size_t size = core::encode_state(result, encoded, sizeof encoded);
  row->state = state_datum_of(encoded, size);
  MemoryContextSwitchTo(old);
}

// The key as text: text keys as they are, integer keys in decimal.
Datum key_text(const ReadContext &context, std::string_view key) {
  if (context.columns.key_is_text)
    return PointerGetDatum(cstring_to_text_with_len(key.data(), static_cast<int>(key.size())));
  char buffer[32];
  snprintf(buffer, sizeof buffer, INT64_FORMAT, sensorstate_integer_key(key));
  return CStringGetTextDatum(buffer);
}

void emit(const ReadContext &context, std::string_view key, const uint8_t *state_bytes,
          size_t state_size, uint64_t version, int64_t arrival_us) {
  if (context.merged != nullptr) {
    merge_row(context, key, state_bytes, state_size, version, arrival_us);
    return;
  }
  core::StateView state;
  decode_or_error(state_bytes, state_size, &state);
  const core::Reading &winner = state.winner();
  TimestampTz reading_time =
      timestamptz_of_unix_us(static_cast<int64_t>(core::hlc_physical(winner.hlc)) * 1000);
  Interval *age = interval_of_us(context.now - reading_time);
  bytea *state_datum = state_datum_of(state_bytes, state_size);

  Datum values[kLatestColumns];
  bool nulls[kLatestColumns] = {};
  values[0] = key_text(context, key);
  values[1] = Float8GetDatum(winner.value);
  values[2] = UInt64GetDatum(winner.hlc);
  values[3] = PointerGetDatum(
      cstring_to_text_with_len(winner.region.data(), static_cast<int>(winner.region.size())));
  if (winner.device.empty())
    nulls[4] = true;
  else
    values[4] = PointerGetDatum(
        cstring_to_text_with_len(winner.device.data(), static_cast<int>(winner.device.size())));
  values[5] = Int64GetDatum(static_cast<int64>(version));
  values[6] = IntervalPGetDatum(age);
  values[7] = BoolGetDatum(age->time <= freshness_bound_ms(winner.region) * 1000);
  values[8] = BoolGetDatum(core::is_conflicted(state));
  values[9] = PointerGetDatum(state_datum);
  if (arrival_us == 0)
    nulls[10] = true;
  else
    values[10] = TimestampTzGetDatum(timestamptz_of_unix_us(arrival_us));
  tuplestore_putvalues(context.rsinfo->setResult, context.rsinfo->setDesc, values, nulls);
}

void emit_entry(const LatestEntryCopy &entry, void *context) {
  emit(*static_cast<ReadContext *>(context), entry.key, entry.state, entry.state_size,
       entry.version, entry.arrival_us);
}

// SELECT key, merge_agg(state_of(...)) FROM [ONLY] t [WHERE key = $1] GROUP BY key
// (ONLY but for a partitioned table, whose rows are its partitions')
char *merge_query(const ReadContext &context, bool one_key) {
  SensorstateColumnNames names = sensorstate_column_names(context.rel, context.columns);
  StringInfoData query;
  initStringInfo(&query);
  appendStringInfo(&query,
                   "SELECT %s, edgestate.merge_agg(edgestate.state_of(%s, %s, %s, %s, %s)) "
                   "FROM %s %s.%s",
                   names.key, names.value, names.ts, names.region, names.device, names.skew_bound,
                   context.columns.partitioned ? "" : "ONLY",
                   quote_identifier(get_namespace_name(RelationGetNamespace(context.rel))),
                   quote_identifier(RelationGetRelationName(context.rel)));
  if (one_key) appendStringInfo(&query, " WHERE %s = $1", names.key);
  appendStringInfoString(&query, " GROUP BY 1");
  return query.data;
}

// Tells the index which prepared transactions of the database are pending
// (they may be ones prepared before a restart, whose writes it cannot know).
// Runs inside the caller's SPI connection.
void note_pending_prepared(Oid db, Oid relid) {
  if (max_prepared_xacts == 0) return;
  int count = 0;
  TransactionId *xids = pending_prepared_xids(nullptr, &count);
  if (count > 0) latest_note_unknown_prepared(db, relid, xids, count);
  pfree(xids);
}

// Computes the latest states from the table (all keys, or the one given),
// puts them back into the index when the context uses it, and emits them.
void compute_from_table(ReadContext &context, bool one_key, Datum key_datum, uint32_t generation) {
  bool use_index = context.use_index;
  Oid db = MyDatabaseId;
  Oid relid = RelationGetRelid(context.rel);
  RelationVersion version = use_index ? latest_relation_version(db, relid) : RelationVersion{};
  char *query = merge_query(context, one_key);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  if (use_index) note_pending_prepared(db, relid);
  Oid argtypes[1] = {context.columns.key_type};
  Datum args[1] = {key_datum};
  SPIPlanPtr plan = SPI_prepare(query, one_key ? 1 : 0, argtypes);
  if (plan == nullptr) elog(ERROR, "edgestate: could not prepare \"%s\"", query);
  // A fresh snapshot, taken after the epoch was read: what goes back into the
  // index must include every commit before it, whatever the isolation level
  // of the caller (latest() answers with the latest committed state).
  int rc = SPI_execute_snapshot(plan, args, nullptr, GetLatestSnapshot(), InvalidSnapshot, true,
                                false, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "edgestate: computing the latest state failed: %d", rc);
  int64_t arrival = now_unix_us();
  auto *entry = static_cast<core::LatestEntry *>(palloc(sizeof(core::LatestEntry)));
  for (uint64 row = 0; row < SPI_processed; ++row) {
    bool key_null = false, state_null = false;
    Datum key = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &key_null);
    Datum state = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2, &state_null);
    if (key_null || state_null) continue;
    bytea *state_bytes = DatumGetByteaPP(state);
    const auto *data = reinterpret_cast<const uint8_t *>(VARDATA_ANY(state_bytes));
    size_t size = VARSIZE_ANY_EXHDR(state_bytes);
    char buffer[8];
    std::string_view bytes = sensorstate_key_bytes(context.columns, key, buffer);
    core::StateView loaded;
    if (core::decode_state(data, size, &loaded) != core::DecodeStatus::kOk)
      ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("corrupted state from merge_agg")));
    core::LatestKey index_key{db, relid, bytes};
    if (use_index && latest_complete(index_key, loaded, generation, version, arrival, entry)) {
      emit(context, bytes, entry->state, entry->state_size, entry->version, entry->arrival_us);
    } else {
      emit(context, bytes, data, size, 0, 0);
    }
  }
  SPI_finish();
  if (use_index && !one_key) latest_mark_complete(db, relid, version.epoch);
}

}  // namespace

// Readers of a table's latest state need SELECT on the table, as for its rows.
void require_select(Oid relid) {
  AclResult result = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
  if (result != ACLCHECK_OK) aclcheck_error(result, OBJECT_TABLE, get_rel_name(relid));
}

namespace {

// Checks that the caller may read the table and starts the result set; the
// table is not opened yet.
ReadContext start_read(FunctionCallInfo fcinfo, Oid relid) {
  require_shmem("edgestate.latest()");
  // A hit takes no lock, and taking one is what processes invalidations:
  // without this, a REVOKE, a new policy or a column change committed during
  // the caller's transaction would go unseen by its later calls.
  AcceptInvalidationMessages();
  require_select(relid);
  // The executor's expected row type, when it passes one, spares a catalog
  // lookup of the function's result type on every call.
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  bool expected = rsinfo != nullptr && IsA(rsinfo, ReturnSetInfo) && rsinfo->expectedDesc != nullptr;
  InitMaterializedSRF(fcinfo, expected ? MAT_SRF_USE_EXPECTED_DESC : 0);
  // ERROR 42501 when row_security is off and policies would apply, as for a
  // query of the table.
  bool row_security = check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED;
  ReadContext context{};
  context.rsinfo = rsinfo;
  context.now = GetCurrentTransactionStartTimestamp();
  context.use_index = !RecoveryInProgress() && !row_security;
  context.may_query = true;
  return context;
}

// Opens (locks) the table and finds its columns; ERROR unless it is a
// sensorstate table or a partitioned table (whose partitions must be).
void open_table(ReadContext &context, Oid relid) {
  Relation rel = relation_open(relid, AccessShareLock);
  if (!is_sensorstate(rel) && rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
    refuse_not_sensorstate(RelationGetRelationName(rel));
  context.rel = rel;
  context.columns = *sensorstate_columns(rel);
}

void close_table(const ReadContext &context) {
  if (context.rel != nullptr) relation_close(context.rel, AccessShareLock);
}

// The key argument as a value of the table's key column; false when no key of
// that type has that value (an integer out of range).
bool parse_key(const SensorstateColumns &columns, text *arg, Datum *out) {
  if (columns.key_is_text) {
    *out = PointerGetDatum(arg);
    return true;
  }
  int64 number = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(text_to_cstring(arg))));
  if (columns.key_type == INT8OID) {
    *out = Int64GetDatum(number);
    return true;
  }
  if (number < PG_INT32_MIN || number > PG_INT32_MAX) return false;
  *out = Int32GetDatum(static_cast<int32>(number));
  return true;
}

// Whether a read may compute from the table itself; when not (a partition the
// caller may not query on its own), it asks to be answered through the
// partitioned table instead.
bool may_compute(ReadContext &context) {
  if (!context.may_query) context.needs_query = true;
  return context.may_query;
}

// Every key of a sensorstate table (context.rel open): from the index when it
// holds the whole table, else computed from the table.
void read_all_keys(ReadContext &context) {
  Oid relid = RelationGetRelid(context.rel);
  if (context.use_index && latest_relation_complete(MyDatabaseId, relid)) {
    latest_count_hit();
    latest_for_each(MyDatabaseId, relid, emit_entry, &context);
  } else {
    latest_count_miss();
    if (may_compute(context)) compute_from_table(context, false, Datum(0), 0);
  }
}

// One key of a sensorstate table. context.columns is set (the table open, or
// its columns cached): a table this backend has read before is not opened
// (locked) unless the index cannot answer, so a hit reads the backend's column
// cache and shared memory only, as statistics functions do.
void read_one_key(ReadContext &context, Oid relid, text *key_arg) {
  Datum key_datum;
  if (!parse_key(context.columns, key_arg, &key_datum)) return;
  char buffer[8];
  std::string_view bytes = sensorstate_key_bytes(context.columns, key_datum, buffer);
  core::LatestKey index_key{MyDatabaseId, relid, bytes};
  auto *entry = static_cast<core::LatestEntry *>(palloc(sizeof(core::LatestEntry)));
  bool found = context.use_index && bytes.size() <= 255 && latest_find(index_key, entry);
  if (found && !entry->partial) {
    latest_count_hit();
    emit(context, bytes, entry->state, entry->state_size, entry->version, entry->arrival_us);
  } else if (!found && context.use_index && latest_relation_complete(MyDatabaseId, relid)) {
    latest_count_hit();  // the index holds every key of the table: this one has no readings
  } else {
    latest_count_miss();
    if (!may_compute(context)) return;
    if (context.rel == nullptr) {
      // Opening the table processes pending invalidations: the columns are
      // found again, and the key parsed against them.
      open_table(context, relid);
      if (!parse_key(context.columns, key_arg, &key_datum)) return;
    }
    compute_from_table(context, true, key_datum, found ? entry->generation : 0);
  }
}

// Whether latest() may query a partition on its own for a caller who may read
// its partitioned table: computing a partition the index does not hold (or a
// partial entry of it) queries it directly, which needs SELECT on it and must
// not meet policies that a query through the partitioned table would not
// apply.
bool partition_readable(Oid partition) {
  return pg_class_aclcheck(partition, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
         check_enable_rls(partition, InvalidOid, true) != RLS_ENABLED;
}

// latest() of a partitioned table computed from its rows, through it: on a
// standby, under row-level security, or when a partition cannot be read on
// its own. The index is left alone.
void compute_partitioned(ReadContext &context, text *key_arg) {
  context.use_index = false;
  Datum key_datum = Datum(0);
  if (key_arg != nullptr && !parse_key(context.columns, key_arg, &key_datum)) return;
  compute_from_table(context, key_arg != nullptr, key_datum, 0);
}

// latest() of a partitioned table (context.rel open, the index in use): each
// leaf partition read as latest() reads a sensorstate table, the rows merged
// by key. When a partition's read would have to query it on its own and may
// not, the whole answer is computed through the partitioned table instead.
void read_partitions(ReadContext &context, text *key_arg) {
  List *leaves = find_all_inheritors(RelationGetRelid(context.rel), AccessShareLock, nullptr);
  ReadContext leaf = context;
  leaf.merged_memory = CurrentMemoryContext;
  leaf.merged = create_merged_rows(leaf.merged_memory);
  ListCell *cell;
  foreach (cell, leaves) {
    Oid partition = lfirst_oid(cell);
    if (get_rel_relkind(partition) == RELKIND_PARTITIONED_TABLE) continue;
    leaf.rel = nullptr;
    open_table(leaf, partition);
    leaf.may_query = partition_readable(partition);
    if (key_arg == nullptr)
      read_all_keys(leaf);
    else
      read_one_key(leaf, partition, key_arg);
    close_table(leaf);
    if (leaf.needs_query) {
      hash_destroy(leaf.merged);
      compute_partitioned(context, key_arg);
      return;
    }
  }
  HASH_SEQ_STATUS scan;
  hash_seq_init(&scan, leaf.merged);
  while (auto *row = static_cast<MergedRow *>(hash_seq_search(&scan)))
    emit(context, std::string_view(row->key.bytes, row->key.size),
         reinterpret_cast<const uint8_t *>(VARDATA(row->state)), VARSIZE(row->state) - VARHDRSZ,
         row->version, row->arrival_us);
}

// latest() of a partitioned table (context.rel open): every key, or the one
// given.
void read_partitioned(ReadContext &context, text *key_arg) {
  if (context.use_index)
    read_partitions(context, key_arg);
  else
    compute_partitioned(context, key_arg);
}

}  // namespace
}  // namespace edgestate

using namespace edgestate;

// latest(regclass): every key of the table.
ES_SQL_FUNCTION(es_latest_all) {
  Oid relid = PG_GETARG_OID(0);
  ReadContext context = start_read(fcinfo, relid);
  open_table(context, relid);
  if (context.columns.partitioned)
    read_partitioned(context, nullptr);
  else
    read_all_keys(context);
  close_table(context);
  return Datum(0);
}

// latest(regclass, key text): one key.
ES_SQL_FUNCTION(es_latest_key) {
  Oid relid = PG_GETARG_OID(0);
  text *key_arg = PG_GETARG_TEXT_PP(1);
  ReadContext context = start_read(fcinfo, relid);
  const SensorstateColumns *cached = cached_sensorstate_columns(relid);
  if (cached != nullptr)
    context.columns = *cached;
  else
    open_table(context, relid);
  if (context.columns.partitioned) {
    if (context.rel == nullptr) open_table(context, relid);
    read_partitioned(context, key_arg);
  } else {
    read_one_key(context, relid, key_arg);
  }
  close_table(context);
  return Datum(0);
}

// purge(regclass, older_than interval): deletes readings whose ts is older
// than now() - older_than; returns how many.
ES_SQL_FUNCTION(es_purge) {
  Oid relid = PG_GETARG_OID(0);
  Interval *older_than = PG_GETARG_INTERVAL_P(1);
  if (older_than->time < 0 || older_than->day < 0 || older_than->month < 0)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("older_than must not be negative")));
  // SHARE ROW EXCLUSIVE: writers wait for the purge, so no transaction that
  // committed rows the purge deletes is still publishing them to the index
  // when the purge resets it.
  Relation rel = relation_open(relid, ShareRowExclusiveLock);
  if (!is_sensorstate(rel)) refuse_not_sensorstate(rel);
  const SensorstateColumns *columns = sensorstate_columns(rel);
  SensorstateColumnNames names = sensorstate_column_names(rel, *columns);
  StringInfoData query;
  initStringInfo(&query);
  appendStringInfo(
      &query, "DELETE FROM ONLY %s.%s WHERE %s OPERATOR(edgestate.<) edgestate.hlc(now() - $1)",
      quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
      quote_identifier(RelationGetRelationName(rel)), names.ts);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  Oid argtypes[1] = {INTERVALOID};
  Datum args[1] = {IntervalPGetDatum(older_than)};
  uint64 deleted = 0;
  set_purge_in_progress(true);
  PG_TRY();
  {
    if (SPI_execute_with_args(query.data, 1, argtypes, args, nullptr, false, 0) != SPI_OK_DELETE)
      elog(ERROR, "edgestate: purge failed");
    deleted = SPI_processed;
  }
  PG_FINALLY();
  { set_purge_in_progress(false); }
  PG_END_TRY();
  SPI_finish();
  if (deleted > 0) schedule_reset(relid);
  relation_close(rel, NoLock);
  PG_RETURN_INT64(static_cast<int64>(deleted));
}

// Validates a table against its column contract now (edgestate.configure()).
ES_SQL_FUNCTION(es_check_sensorstate) {
  Oid relid = PG_GETARG_OID(0);
  Relation rel = relation_open(relid, AccessShareLock);
  if (!is_sensorstate(rel)) refuse_not_sensorstate(rel);
  forget_columns(relid);
  sensorstate_columns(rel);
  CacheInvalidateRelcacheByRelid(relid);
  relation_close(rel, AccessShareLock);
  PG_RETURN_VOID();
}

// latest_index_stats(): hits, misses, evictions, reloads, keys, capacity.
ES_SQL_FUNCTION(es_latest_index_stats) {
  require_shmem("edgestate.latest_index_stats()");
  LatestStats stats = latest_stats();
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "return type must be a row type");
  Datum values[6] = {Int64GetDatum(static_cast<int64>(stats.hits)),
                     Int64GetDatum(static_cast<int64>(stats.misses)),
                     Int64GetDatum(static_cast<int64>(stats.evictions)),
                     Int64GetDatum(static_cast<int64>(stats.reloads)),
                     Int64GetDatum(static_cast<int64>(stats.keys)),
                     Int64GetDatum(static_cast<int64>(stats.capacity))};
  bool nulls[6] = {};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

// _columns(table): the quoted names of the table's key, value, ts, region,
// device and skew_bound columns ("NULL" for an optional column it lacks).
ES_SQL_FUNCTION(es_sensorstate_columns) {
  require_select(PG_GETARG_OID(0));
  Relation rel = relation_open(PG_GETARG_OID(0), AccessShareLock);
  if (!is_sensorstate(rel)) refuse_not_sensorstate(rel);
  SensorstateColumnNames names = sensorstate_column_names(rel, *sensorstate_columns(rel));
  relation_close(rel, AccessShareLock);
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "return type must be a row type");
  Datum values[6] = {CStringGetTextDatum(names.key),    CStringGetTextDatum(names.value),
                     CStringGetTextDatum(names.ts),     CStringGetTextDatum(names.region),
                     CStringGetTextDatum(names.device), CStringGetTextDatum(names.skew_bound)};
  bool nulls[6] = {};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

// freshness_bound(region): the bound latest() applies to the region's values.
ES_SQL_FUNCTION(es_freshness_bound) {
  text *region = PG_GETARG_TEXT_PP(0);
  PG_RETURN_INTERVAL_P(interval_of_us(freshness_bound_ms(text_view(region)) * 1000));
}
