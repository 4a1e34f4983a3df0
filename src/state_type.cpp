// The edgestate.state SQL type (a varlena holding the core's binary state),
// state_of(), merge(), resolve() and the accessors.
#include <string>
#include <vector>

#include "core/merge.h"
#include "core/resolve.h"
#include "core/state_codec.h"
#include "core/state_text.h"
#include "counters.hpp"
#include "guard.hpp"
#include "gucs.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

using edgestate::cpp_entry;
using edgestate::pg_call;
using edgestate::SqlError;
using edgestate::text_view;
namespace core = edgestate::core;

namespace {

// Decodes a stored or computed state; anything else is corruption.
void decode_or_throw(const bytea *state, core::StateView *view, int sqlstate) {
  auto status = core::decode_state(reinterpret_cast<const uint8_t *>(VARDATA_ANY(state)),
                                   VARSIZE_ANY_EXHDR(state), view);
  if (status != core::DecodeStatus::kOk)
    throw SqlError(sqlstate,
                   std::string("invalid edgestate.state value: ") + core::describe(status));
}

// A skew bound as an interval.
Interval *skew_interval(uint32_t ms) {
  return pg_call([&] { return edgestate::interval_of_us(static_cast<int64>(ms) * 1000); });
}

// Runs inside cpp_entry: detoasting may raise, so it goes through pg_call.
core::StateView state_arg(FunctionCallInfo fcinfo, int n) {
  core::StateView view;
  decode_or_throw(pg_call([&] { return PG_GETARG_BYTEA_PP(n); }), &view, ERRCODE_DATA_CORRUPTED);
  return view;
}

bytea *make_state_datum(const core::StateView &view) {
  // Encoded on the stack first: a buffer of the largest size needs no size
  // pass (merge_agg calls this for every row).
  uint8_t encoded[core::kMaxEncodedStateBytes];
  size_t size = core::encode_state(view, encoded, sizeof encoded);
  auto *result = static_cast<bytea *>(pg_call([&] { return palloc(VARHDRSZ + size); }));
  SET_VARSIZE(result, VARHDRSZ + size);
  memcpy(VARDATA(result), encoded, size);
  return result;
}

bytea *bytes_to_state_datum(const std::vector<uint8_t> &bytes) {
  auto *result = static_cast<bytea *>(pg_call([&] { return palloc(VARHDRSZ + bytes.size()); }));
  SET_VARSIZE(result, VARHDRSZ + bytes.size());
  memcpy(VARDATA(result), bytes.data(), bytes.size());
  return result;
}

// A skew bound as whole milliseconds in 0 .. 24 h.
uint32_t skew_bound_ms(const Interval *bound) {
  if (bound->month != 0)
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "skew bound must not contain months or years",
                   "", "Give the bound in milliseconds, seconds, minutes, hours or days.");
  int64 us = bound->time + static_cast<int64>(bound->day) * USECS_PER_DAY;
  if (us < 0 || us / 1000 > static_cast<int64>(core::kMaxSkewMs))
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "skew bound must be between 0 and 24 hours");
  return static_cast<uint32_t>(us / 1000);
}

int reading_error_sqlstate(core::ReadingError error) {
  switch (error) {
    case core::ReadingError::kRegionTooLong:
    case core::ReadingError::kDeviceTooLong:
      return ERRCODE_STRING_DATA_RIGHT_TRUNCATION;
    default:
      return ERRCODE_INVALID_PARAMETER_VALUE;
  }
}

Datum name_datum(std::string_view name) {
  return PointerGetDatum(pg_call(
      [&] { return cstring_to_text_with_len(name.data(), static_cast<int>(name.size())); }));
}

Datum state_datum(const core::StateView &view) { return PointerGetDatum(make_state_datum(view)); }

// The result of merging two states, with dropped candidates counted.
core::StateView merged(const core::StateView &a, const core::StateView &b) {
  core::StateView out;
  size_t dropped =
      core::merge_states(a, b, static_cast<size_t>(edgestate::guc_max_candidates), &out);
  if (dropped > 0) edgestate::counter_add(edgestate::Counter::kCandidatesDropped, dropped);
  return out;
}

}  // namespace

ES_SQL_FUNCTION(es_state_in) {
  const char *input = PG_GETARG_CSTRING(0);
  return cpp_entry([&] {
    std::vector<uint8_t> bytes;
    std::string error;
    if (!core::parse_state_text(input, &bytes, &error))
      throw SqlError(ERRCODE_INVALID_TEXT_REPRESENTATION,
                     "invalid input syntax for type edgestate.state", error,
                     "Write it as the output shows, e.g. {21.5 @ 2026-11-26 06:20:40.123+00#5 "
                     "\"eu-west\"/\"gw-7\" skew 50ms}.");
    return PointerGetDatum(bytes_to_state_datum(bytes));
  });
}

ES_SQL_FUNCTION(es_state_out) {
  const bytea *state = PG_GETARG_BYTEA_PP(0);
  return cpp_entry([&] {
    core::StateView view;
    decode_or_throw(state, &view, ERRCODE_DATA_CORRUPTED);
    return CStringGetDatum(edgestate::to_cstring(core::format_state(view)));
  });
}

ES_SQL_FUNCTION(es_state_recv) {
  auto *buffer = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
  int length = buffer->len - buffer->cursor;
  const char *bytes = pq_getmsgbytes(buffer, length);
  return cpp_entry([&] {
    core::StateView view;
    auto status = core::decode_state(reinterpret_cast<const uint8_t *>(bytes),
                                     static_cast<size_t>(length), &view);
    if (status != core::DecodeStatus::kOk)
      throw SqlError(ERRCODE_INVALID_BINARY_REPRESENTATION,
                     std::string("invalid binary edgestate.state: ") + core::describe(status));
    // Names travel as bytes: they must be valid in the database encoding.
    for (uint8_t i = 0; i < view.count; ++i) {
      for (std::string_view name : {view.entries[i].region, view.entries[i].device}) {
        bool valid = pg_call([&] {
          return pg_verify_mbstr(GetDatabaseEncoding(), name.data(), static_cast<int>(name.size()),
                                 true);
        });
        if (!valid)
          throw SqlError(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
                         "invalid binary edgestate.state: a name is not valid in the database "
                         "encoding");
      }
    }
    return state_datum(view);
  });
}

ES_SQL_FUNCTION(es_state_send) {
  const bytea *state = PG_GETARG_BYTEA_PP(0);
  return cpp_entry([&] {
    core::StateView view;
    decode_or_throw(state, &view, ERRCODE_DATA_CORRUPTED);
    StringInfoData buffer;
    pg_call([&] {
      pq_begintypsend(&buffer);
      pq_sendbytes(&buffer, VARDATA_ANY(state), static_cast<int>(VARSIZE_ANY_EXHDR(state)));
    });
    return PointerGetDatum(pg_call([&] { return pq_endtypsend(&buffer); }));
  });
}

// state_of(value, ts, region, device DEFAULT NULL, skew_bound DEFAULT NULL)
ES_SQL_FUNCTION(es_state_of) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2)) {
    const char *which = PG_ARGISNULL(0) ? "value" : PG_ARGISNULL(1) ? "ts" : "region";
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("%s of a reading must not be NULL", which)));
  }
  double value = PG_GETARG_FLOAT8(0);
  uint64_t ts = DatumGetUInt64(PG_GETARG_DATUM(1));
  const text *region = PG_GETARG_TEXT_PP(2);
  const text *device = PG_ARGISNULL(3) ? nullptr : PG_GETARG_TEXT_PP(3);
  const Interval *bound = PG_ARGISNULL(4) ? nullptr : PG_GETARG_INTERVAL_P(4);
  return cpp_entry([&] {
    uint32_t skew = bound != nullptr ? skew_bound_ms(bound)
                                     : static_cast<uint32_t>(edgestate::guc_default_skew_bound_ms);
    core::Reading reading(value, ts, skew, text_view(region),
                          device != nullptr ? text_view(device) : std::string_view());
    core::StateView view;
    core::ReadingError error = core::state_of(reading, &view);
    if (error != core::ReadingError::kOk)
      throw SqlError(reading_error_sqlstate(error),
                     std::string("invalid reading: ") + core::describe(error));
    return state_datum(view);
  });
}

// merge(a, b): NULL is the empty state, so merge(NULL, s) = s.
ES_SQL_FUNCTION(es_state_merge) {
  if (PG_ARGISNULL(0) && PG_ARGISNULL(1)) PG_RETURN_NULL();
  if (PG_ARGISNULL(0)) PG_RETURN_DATUM(PG_GETARG_DATUM(1));
  if (PG_ARGISNULL(1)) PG_RETURN_DATUM(PG_GETARG_DATUM(0));
  const bytea *a = PG_GETARG_BYTEA_PP(0);
  const bytea *b = PG_GETARG_BYTEA_PP(1);
  return cpp_entry([&] {
    core::StateView left, right;
    decode_or_throw(a, &left, ERRCODE_DATA_CORRUPTED);
    decode_or_throw(b, &right, ERRCODE_DATA_CORRUPTED);
    return state_datum(merged(left, right));
  });
}

ES_SQL_FUNCTION(es_state_eq) {
  const bytea *a = PG_GETARG_BYTEA_PP(0);
  const bytea *b = PG_GETARG_BYTEA_PP(1);
  // The binary form is canonical: equal states are byte-identical.
  PG_RETURN_BOOL(VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
                 memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0);
}

// resolve(state, policy text, region text DEFAULT NULL)
ES_SQL_FUNCTION(es_state_resolve) {
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  if (PG_ARGISNULL(1))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("policy must not be NULL")));
  const bytea *state = PG_GETARG_BYTEA_PP(0);
  const text *policy_name = PG_GETARG_TEXT_PP(1);
  const text *region = PG_ARGISNULL(2) ? nullptr : PG_GETARG_TEXT_PP(2);
  return cpp_entry([&] {
    core::Policy policy;
    if (!core::parse_policy(text_view(policy_name), &policy))
      throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                     "unknown resolver policy \"" + std::string(text_view(policy_name)) + "\"", "",
                     "Use lww, max, min, mean or prefer_region, or pass a function "
                     "(edgestate.state) RETURNS float8 as a regprocedure.");
    if (policy == core::Policy::kPreferRegion && region == nullptr)
      throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "policy prefer_region needs a region", "",
                     "Call resolve(state, 'prefer_region', 'eu-west').");
    core::StateView view;
    decode_or_throw(state, &view, ERRCODE_DATA_CORRUPTED);
    if (core::is_conflicted(view)) edgestate::counter_add(edgestate::Counter::kConflictsResolved);
    return Float8GetDatum(
        core::resolve(view, policy, region != nullptr ? text_view(region) : std::string_view()));
  });
}

// resolve(state, resolver regprocedure): a user function (edgestate.state) RETURNS float8.
ES_SQL_FUNCTION(es_state_resolve_with) {
  Oid resolver = PG_GETARG_OID(1);
  Oid state_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
  HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(resolver));
  if (!HeapTupleIsValid(proc))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                    errmsg("resolver function %u does not exist", resolver)));
  auto *form = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc));
  bool fits = form->pronargs == 1 && form->proargtypes.values[0] == state_type &&
              form->prorettype == FLOAT8OID && form->prokind == PROKIND_FUNCTION &&
              !form->proretset;
  ReleaseSysCache(proc);
  if (!fits)
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("resolver %s must take one edgestate.state and return float8",
                           format_procedure(resolver))));
  const bytea *state = PG_GETARG_BYTEA_PP(0);
  return cpp_entry([&] {
    core::StateView view;
    decode_or_throw(state, &view, ERRCODE_DATA_CORRUPTED);
    if (core::is_conflicted(view)) edgestate::counter_add(edgestate::Counter::kConflictsResolved);
    return pg_call(
        [&] { return OidFunctionCall1Coll(resolver, InvalidOid, PointerGetDatum(state)); });
  });
}

// Accessors of the winner.
ES_SQL_FUNCTION(es_state_value) {
  return cpp_entry([&] { return Float8GetDatum(state_arg(fcinfo, 0).winner().value); });
}
ES_SQL_FUNCTION(es_state_ts) {
  return cpp_entry([&] { return UInt64GetDatum(state_arg(fcinfo, 0).winner().hlc); });
}
ES_SQL_FUNCTION(es_state_region) {
  return cpp_entry([&] { return name_datum(state_arg(fcinfo, 0).winner().region); });
}
ES_SQL_FUNCTION(es_state_device) {
  bool is_null = false;
  Datum result = cpp_entry([&] {
    std::string_view device = state_arg(fcinfo, 0).winner().device;
    is_null = device.empty();
    return is_null ? Datum(0) : name_datum(device);
  });
  if (is_null) PG_RETURN_NULL();
  return result;
}
ES_SQL_FUNCTION(es_state_skew_bound) {
  return cpp_entry(
      [&] { return PointerGetDatum(skew_interval(state_arg(fcinfo, 0).winner().skew_ms)); });
}
ES_SQL_FUNCTION(es_state_conflicted) {
  return cpp_entry([&] { return BoolGetDatum(core::is_conflicted(state_arg(fcinfo, 0))); });
}
ES_SQL_FUNCTION(es_state_truncated) {
  return cpp_entry([&] { return BoolGetDatum(state_arg(fcinfo, 0).truncated); });
}

// state_entries(state): every retained reading, the winner first, with its role:
// 'winner', 'candidate' (in the winner's conflict window) or 'retained' (kept
// for later merges, outside the window).
ES_SQL_FUNCTION(es_state_entries) {
  const bytea *state = PG_GETARG_BYTEA_PP(0);
  return cpp_entry([&] {
    core::StateView view;
    decode_or_throw(state, &view, ERRCODE_DATA_CORRUPTED);
    pg_call([&] { InitMaterializedSRF(fcinfo, 0); });
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    for (uint8_t i = 0; i < view.count; ++i) {
      const core::Reading &entry = view.entries[i];
      const char *role = i == 0                                           ? "winner"
                         : core::in_conflict_window(view.winner(), entry) ? "candidate"
                                                                          : "retained";
      Datum values[7];
      bool nulls[7] = {false, false, false, false, false, false, false};
      values[0] = Float8GetDatum(entry.value);
      values[1] = UInt64GetDatum(entry.hlc);
      values[2] = name_datum(entry.region);
      if (entry.device.empty())
        nulls[3] = true;
      else
        values[3] = name_datum(entry.device);
      values[4] = PointerGetDatum(skew_interval(entry.skew_ms));
      values[5] = name_datum(role);
      values[6] = Int32GetDatum(i);
      pg_call([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls); });
    }
    return Datum(0);
  });
}
