// Which column of a sensorstate table is which: the naming convention (key,
// value, ts, region, device, skew_bound) or the mapping given with
// edgestate.configure() (security labels of provider "edgestate"), checked
// against the column types and cached per backend until the table or its
// labels change.
#pragma once

#include <string_view>

#include "pg.hpp"

extern "C" {
#include "utils/rel.h"
}

namespace edgestate {

struct SensorstateColumns {
  Oid relid;
  AttrNumber key;
  AttrNumber value;
  AttrNumber ts;
  AttrNumber region;
  AttrNumber device;      // InvalidAttrNumber when the table has none
  AttrNumber skew_bound;  // InvalidAttrNumber: edgestate.default_skew_bound
  bool key_is_text;       // text or varchar; otherwise bigint or integer
  Oid key_type;
  bool partitioned;       // a partitioned table (of sensorstate partitions)
};

// The table's columns; ERROR 42P16 with a hint when it does not fit.
const SensorstateColumns *sensorstate_columns(Relation rel);

// The columns sensorstate_columns found for a table (sensorstate or
// partitioned) earlier in this backend, or nullptr. Entries go with any invalidation of their
// relation, processed when this backend next takes a lock or starts a
// transaction.
const SensorstateColumns *cached_sensorstate_columns(Oid relid);

// The bytes the latest index and the invalidation ring keep for a key: a
// text key's own bytes; an integer key as 8 big-endian bytes, written to
// buffer (8 bytes).
std::string_view sensorstate_key_bytes(const SensorstateColumns &columns, Datum key, char *buffer);
// The integer 8 big-endian key bytes stand for.
int64 sensorstate_integer_key(std::string_view bytes);

// Whether a column of this name takes a role by the naming convention (key,
// value, ts, region, device, skew_bound) when no label gives the role.
bool is_conventional_column_name(const char *name);

// Drops the cached columns of a relation (after edgestate.configure()).
void forget_columns(Oid relid);

// Registers the security-label provider "edgestate" that holds column
// mappings and TTLs (called from _PG_init).
void register_column_labels();

// Column names for building queries over the table (quoted identifiers).
struct SensorstateColumnNames {
  const char *key;
  const char *value;
  const char *ts;
  const char *region;
  const char *device;      // "NULL" when absent
  const char *skew_bound;  // "NULL" when absent
};
SensorstateColumnNames sensorstate_column_names(Relation rel, const SensorstateColumns &columns);

// ERROR 42501 unless the current user may SELECT from the table (readers of
// its latest state, windows and calibration).
void require_select(Oid relid);

// The OID of the sensorstate access method (InvalidOid before CREATE EXTENSION).
Oid sensorstate_am_oid();
bool is_sensorstate(Relation rel);
// The same for a relation not opened (false when it does not exist).
bool relation_is_sensorstate(Oid relid);
// ERROR 42809: the named relation is not a sensorstate table.
[[noreturn]] void refuse_not_sensorstate(const char *name);
// The same, saying so when it is a partitioned table (which only latest()
// and freshness() take).
[[noreturn]] void refuse_not_sensorstate(Relation rel);
[[noreturn]] void refuse_partitioned(const char *name);

}  // namespace edgestate
