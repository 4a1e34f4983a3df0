#include "sensorstate_contract.hpp"

#include "sensorstate_am.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "access/relation.h"
#include "catalog/objectaddress.h"
#include "commands/seclabel.h"
}

// Plain style: no C++ object with a destructor is alive across ereport.

namespace edgestate {
namespace {

constexpr const char *kLabelProvider = "edgestate";
HTAB *column_cache = nullptr;

void forget_relation(Datum, Oid relid) {
  if (column_cache == nullptr) return;
  if (relid == InvalidOid) {
    hash_destroy(column_cache);
    column_cache = nullptr;
  } else {
    hash_search(column_cache, &relid, HASH_REMOVE, nullptr);
  }
}

HTAB *cache() {
  if (column_cache == nullptr) {
    static bool registered = false;
    if (!registered) {
      CacheRegisterRelcacheCallback(forget_relation, 0);
      registered = true;
    }
    HASHCTL ctl;
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(SensorstateColumns);
    ctl.hcxt = CacheMemoryContext;
    column_cache = hash_create("edgestate sensorstate columns", 64, &ctl,
                               HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
  }
  return column_cache;
}

// The configured column names (NULL for "use the convention").
struct Mapping {
  char *names[6];
};
constexpr const char *kRoles[6] = {"key", "value", "ts", "region", "device", "skew_bound"};

// The configured column names, from the security labels of provider
// "edgestate" on the table's columns (NULL for "use the convention"). Labels
// are part of the table's definition: pg_dump restores them before the data,
// and they disappear with the table.
Mapping read_mapping(Relation rel) {
  Mapping mapping{};
  TupleDesc desc = RelationGetDescr(rel);
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute attr = TupleDescAttr(desc, i);
    if (attr->attisdropped) continue;
    ObjectAddress column;
    ObjectAddressSubSet(column, RelationRelationId, RelationGetRelid(rel), attr->attnum);
    char *label = GetSecurityLabel(&column, kLabelProvider);
    if (label == nullptr) continue;
    for (int role = 0; role < 6; ++role) {
      if (strcmp(label, kRoles[role]) != 0) continue;
      if (mapping.names[role] != nullptr)
        ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
                        errmsg("sensorstate table \"%s\" has two %s columns: \"%s\" and \"%s\"",
                               RelationGetRelationName(rel), kRoles[role], mapping.names[role],
                               NameStr(attr->attname))));
      mapping.names[role] = NameStr(attr->attname);
    }
  }
  return mapping;
}

[[noreturn]] void refuse(Relation rel, const char *message, const char *column) {
  ereport(
      ERROR,
      (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
       errmsg("sensorstate table \"%s\" %s \"%s\"", RelationGetRelationName(rel), message, column),
       errhint("A sensorstate table has columns key (text or bigint), value (float8), ts "
               "(hlc), region (text), and optionally device (text) and skew_bound "
               "(interval); map other names with edgestate.configure('%s', key_column => "
               "'sensor_id', ...).",
               RelationGetRelationName(rel))));
  pg_unreachable();
}

AttrNumber find_column(Relation rel, const char *name, bool required) {
  TupleDesc desc = RelationGetDescr(rel);
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute attr = TupleDescAttr(desc, i);
    if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0) return attr->attnum;
  }
  if (required) refuse(rel, "has no column", name);
  return InvalidAttrNumber;
}

Oid column_type(Relation rel, AttrNumber attnum) {
  return TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
}

void require_type(Relation rel, AttrNumber attnum, const char *name, bool ok,
                  const char *expected) {
  if (ok) return;
  ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
                  errmsg("column \"%s\" of sensorstate table \"%s\" must be of type %s, not %s",
                         name, RelationGetRelationName(rel), expected,
                         format_type_be(column_type(rel, attnum)))));
}

Oid hlc_type_oid() {
  Oid schema = get_namespace_oid("edgestate", false);
  return GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("hlc"),
                         ObjectIdGetDatum(schema));
}

bool is_text_type(Oid type) { return type == TEXTOID || type == VARCHAROID; }

}  // namespace

Oid sensorstate_am_oid() { return get_am_oid("sensorstate", true); }

bool is_conventional_column_name(const char *name) {
  for (const char *role : kRoles)
    if (name != nullptr && strcmp(name, role) == 0) return true;
  return false;
}

namespace {

bool sensorstate_class(char relkind, Oid relam) {
  return relkind == RELKIND_RELATION && OidIsValid(relam) && relam == sensorstate_am_oid();
}

}  // namespace

bool is_sensorstate(Relation rel) {
  return sensorstate_class(rel->rd_rel->relkind, rel->rd_rel->relam);
}

bool relation_is_sensorstate(Oid relid) {
  HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(tuple)) return false;
  auto *form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
  bool ours = sensorstate_class(form->relkind, form->relam);
  ReleaseSysCache(tuple);
  return ours;
}

void refuse_not_sensorstate(const char *name) {
  ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                  errmsg("\"%s\" is not a sensorstate table", name),
                  errhint("Create it with CREATE TABLE ... USING sensorstate.")));
  pg_unreachable();
}

void refuse_partitioned(const char *name) {
  ereport(ERROR,
          (errcode(ERRCODE_WRONG_OBJECT_TYPE),
           errmsg("\"%s\" is a partitioned table, not a sensorstate table", name),
           errhint("Call this function on one of its sensorstate partitions; edgestate.latest() "
                   "and edgestate.freshness() also take the partitioned table.")));
  pg_unreachable();
}

void refuse_not_sensorstate(Relation rel) {
  if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
    refuse_partitioned(RelationGetRelationName(rel));
  refuse_not_sensorstate(RelationGetRelationName(rel));
}

const SensorstateColumns *sensorstate_columns(Relation rel) {
  Oid relid = RelationGetRelid(rel);
  bool found = false;
  auto *cached = static_cast<SensorstateColumns *>(hash_search(cache(), &relid, HASH_FIND, &found));
  if (found) return cached;

  Mapping mapping = read_mapping(rel);
  SensorstateColumns columns{};
  columns.relid = relid;
  const char *names[6];
  for (int i = 0; i < 6; ++i) names[i] = mapping.names[i] != nullptr ? mapping.names[i] : kRoles[i];
  columns.key = find_column(rel, names[0], true);
  columns.value = find_column(rel, names[1], true);
  columns.ts = find_column(rel, names[2], true);
  columns.region = find_column(rel, names[3], true);
  columns.device = find_column(rel, names[4], mapping.names[4] != nullptr);
  columns.skew_bound = find_column(rel, names[5], mapping.names[5] != nullptr);

  columns.partitioned = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE;
  columns.key_type = column_type(rel, columns.key);
  columns.key_is_text = is_text_type(columns.key_type);
  require_type(rel, columns.key, names[0],
               columns.key_is_text || columns.key_type == INT8OID || columns.key_type == INT4OID,
               "text, varchar, bigint or integer");
  require_type(rel, columns.value, names[1], column_type(rel, columns.value) == FLOAT8OID,
               "double precision");
  require_type(rel, columns.ts, names[2], column_type(rel, columns.ts) == hlc_type_oid(),
               "edgestate.hlc");
  require_type(rel, columns.region, names[3], is_text_type(column_type(rel, columns.region)),
               "text or varchar");
  if (columns.device != InvalidAttrNumber)
    require_type(rel, columns.device, names[4], is_text_type(column_type(rel, columns.device)),
                 "text or varchar");
  if (columns.skew_bound != InvalidAttrNumber)
    require_type(rel, columns.skew_bound, names[5],
                 column_type(rel, columns.skew_bound) == INTERVALOID, "interval");

  cached = static_cast<SensorstateColumns *>(hash_search(cache(), &relid, HASH_ENTER, &found));
  *cached = columns;
  return cached;
}

const SensorstateColumns *cached_sensorstate_columns(Oid relid) {
  if (column_cache == nullptr) return nullptr;
  return static_cast<const SensorstateColumns *>(
      hash_search(column_cache, &relid, HASH_FIND, nullptr));
}

void forget_columns(Oid relid) { forget_relation(0, relid); }

// Checks a label of provider "edgestate" as SECURITY LABEL sets it: a role on
// a column of a sensorstate table, or "ttl=<interval>" on the table.
void check_label(const ObjectAddress *object, const char *label) {
  if (object->classId != RelationRelationId ||
      get_rel_relkind(object->objectId) != RELKIND_RELATION)
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("edgestate labels apply to sensorstate tables and their columns")));
  Relation rel = relation_open(object->objectId, AccessShareLock);
  bool ours = is_sensorstate(rel);
  // A table without storage holds no readings whose latest state a new role
  // could change (pg_restore labels its tables before loading them).
  bool has_rows = ours && RelationGetNumberOfBlocks(rel) > 0;
  relation_close(rel, AccessShareLock);
  if (!ours) refuse_not_sensorstate(get_rel_name(object->objectId));
  if (label != nullptr) {
    if (object->objectSubId != 0) {
      bool known = false;
      for (const char *role : kRoles) known = known || strcmp(label, role) == 0;
      if (!known)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid edgestate column label \"%s\"", label),
                        errhint("Use key, value, ts, region, device or skew_bound.")));
    } else {
      if (strncmp(label, "ttl=", 4) != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid edgestate table label \"%s\"", label),
                        errhint("Use ttl=<interval>, as in 'ttl=30 days'.")));
      Interval *ttl =
          DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(label + 4),
                                                ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
      if (ttl->month < 0 || ttl->day < 0 || ttl->time < 0 ||
          (ttl->month == 0 && ttl->day == 0 && ttl->time == 0))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("ttl must be a positive interval")));
    }
  }
  // Every backend re-reads the table's columns after this commits; a column's
  // role changed, so the latest state (built from the old roles) is reloaded.
  CacheInvalidateRelcacheByRelid(object->objectId);
  if (object->objectSubId != 0 && has_rows) schedule_reset(object->objectId);
}

void register_column_labels() { register_label_provider(kLabelProvider, check_label); }

SensorstateColumnNames sensorstate_column_names(Relation rel, const SensorstateColumns &columns) {
  TupleDesc desc = RelationGetDescr(rel);
  auto name = [&](AttrNumber attnum) -> const char * {
    if (attnum == InvalidAttrNumber) return "NULL";
    return quote_identifier(NameStr(TupleDescAttr(desc, attnum - 1)->attname));
  };
  return SensorstateColumnNames{name(columns.key),    name(columns.value),
                                name(columns.ts),     name(columns.region),
                                name(columns.device), name(columns.skew_bound)};
}

std::string_view sensorstate_key_bytes(const SensorstateColumns &columns, Datum key, char *buffer) {
  if (columns.key_is_text) return text_datum_view(key);
  int64 number =
      columns.key_type == INT8OID ? DatumGetInt64(key) : static_cast<int64>(DatumGetInt32(key));
  uint64 bits = static_cast<uint64>(number);
  for (int i = 7; i >= 0; --i, bits >>= 8) buffer[i] = static_cast<char>(bits & 0xFF);
  return {buffer, 8};
}

int64 sensorstate_integer_key(std::string_view bytes) {
  uint64 bits = 0;
  for (char byte : bytes) bits = (bits << 8) | static_cast<uint8>(byte);
  return static_cast<int64>(bits);
}

}  // namespace edgestate
