// The `hlc` SQL type: a pass-by-value 64-bit hybrid logical clock timestamp,
// its text and binary forms, comparisons, casts and the server clock functions.
#include <cstring>

#include "core/hlc.h"
#include "guard.hpp"
#include "hlc_clock.hpp"
#include "shmem.hpp"

extern "C" {
#include "datatype/timestamp.h"
#include "libpq/pqformat.h"
#include "utils/timestamp.h"
}

using edgestate::cpp_entry;
using edgestate::pg_call;
namespace core = edgestate::core;

namespace {

Datum hlc_datum(uint64_t value) { return UInt64GetDatum(value); }
uint64_t hlc_arg(FunctionCallInfo fcinfo, int n) { return DatumGetUInt64(PG_GETARG_DATUM(n)); }

[[noreturn]] void hlc_out_of_range(const char *what) {
  throw edgestate::SqlError(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE,
                            std::string("hlc out of range: ") + what,
                            "An hlc holds Unix milliseconds from 1970-01-01 to 10889-08-02 UTC "
                            "and a logical counter from 0 to 65535.");
}

// timestamptz to Unix milliseconds, rounding down to the millisecond.
uint64_t timestamptz_to_ms(TimestampTz ts) {
  if (TIMESTAMP_NOT_FINITE(ts)) hlc_out_of_range("infinite timestamp");
  int64 since_1970_us = edgestate::unix_us(ts);
  if (since_1970_us < 0) hlc_out_of_range("timestamp before 1970-01-01");
  uint64_t ms = static_cast<uint64_t>(since_1970_us) / 1000;
  if (ms > core::kMaxPhysicalMs) hlc_out_of_range("timestamp after 10889-08-02");
  return ms;
}

TimestampTz ms_to_timestamptz(uint64_t ms) {
  return edgestate::timestamptz_of_unix_us(static_cast<int64>(ms) * 1000);
}

// Parses "<any timestamptz literal>[#<logical>]". ISO 8601 texts with an
// explicit zone, the canonical output form among them, are read without
// PostgreSQL's date parser, so that a round trip does not depend on DateStyle
// or TimeZone; the canonical form's five-digit years are the one case the ISO
// fast path leaves to hlc_parse_canonical.
uint64_t parse_hlc_text(const char *input) {
  uint64_t value = 0;
  std::string_view text(input);
  if (core::hlc_parse_iso(text, &value) || core::hlc_parse_canonical(text, &value)) return value;

  const char *hash = strrchr(input, '#');
  uint32_t logical = 0;
  if (hash != nullptr) {
    const char *digits = hash + 1;
    if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 5)
      throw edgestate::SqlError(ERRCODE_INVALID_TEXT_REPRESENTATION,
                                std::string("invalid input syntax for type hlc: \"") + input + "\"",
                                "The logical counter after '#' must be a number from 0 to 65535.");
    unsigned long parsed = strtoul(digits, nullptr, 10);
    if (parsed > core::kMaxLogical) hlc_out_of_range("logical counter above 65535");
    logical = static_cast<uint32_t>(parsed);
  }
  size_t timestamp_length = hash != nullptr ? static_cast<size_t>(hash - input) : strlen(input);
  char *timestamp_text = pg_call([&] { return pnstrdup(input, timestamp_length); });
  Datum ts;
  try {
    ts = pg_call([&] {
      return DirectFunctionCall3(timestamptz_in, CStringGetDatum(timestamp_text),
                                 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    });
  } catch (const edgestate::PgError &e) {
    // Name our type, keep the timestamp parser's SQLSTATE and reason.
    throw edgestate::SqlError(e.edata()->sqlerrcode,
                              std::string("invalid input for type hlc: \"") + input + "\"",
                              e.what(),
                              "Write a timestamp with time zone, optionally followed by "
                              "#<logical counter>, as in '2026-11-26 06:20:40.123+00#5'.");
  }
  return core::hlc_make(timestamptz_to_ms(DatumGetTimestampTz(ts)), logical);
}

int compare(uint64_t a, uint64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

}  // namespace

ES_SQL_FUNCTION(es_hlc_in) {
  const char *input = PG_GETARG_CSTRING(0);
  return cpp_entry([&] { return hlc_datum(parse_hlc_text(input)); });
}

ES_SQL_FUNCTION(es_hlc_out) {
  uint64_t value = hlc_arg(fcinfo, 0);
  return cpp_entry([&] { return CStringGetDatum(edgestate::to_cstring(core::hlc_format(value))); });
}

ES_SQL_FUNCTION(es_hlc_recv) {
  auto *buffer = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
  return hlc_datum(static_cast<uint64_t>(pq_getmsgint64(buffer)));
}

ES_SQL_FUNCTION(es_hlc_send) {
  uint64_t value = hlc_arg(fcinfo, 0);
  StringInfoData buffer;
  pq_begintypsend(&buffer);
  pq_sendint64(&buffer, static_cast<int64>(value));
  PG_RETURN_BYTEA_P(pq_endtypsend(&buffer));
}

ES_SQL_FUNCTION(es_hlc_cmp) { PG_RETURN_INT32(compare(hlc_arg(fcinfo, 0), hlc_arg(fcinfo, 1))); }
ES_SQL_FUNCTION(es_hlc_eq) { PG_RETURN_BOOL(hlc_arg(fcinfo, 0) == hlc_arg(fcinfo, 1)); }
ES_SQL_FUNCTION(es_hlc_ne) { PG_RETURN_BOOL(hlc_arg(fcinfo, 0) != hlc_arg(fcinfo, 1)); }
ES_SQL_FUNCTION(es_hlc_lt) { PG_RETURN_BOOL(hlc_arg(fcinfo, 0) < hlc_arg(fcinfo, 1)); }
ES_SQL_FUNCTION(es_hlc_le) { PG_RETURN_BOOL(hlc_arg(fcinfo, 0) <= hlc_arg(fcinfo, 1)); }
ES_SQL_FUNCTION(es_hlc_gt) { PG_RETURN_BOOL(hlc_arg(fcinfo, 0) > hlc_arg(fcinfo, 1)); }
ES_SQL_FUNCTION(es_hlc_ge) { PG_RETURN_BOOL(hlc_arg(fcinfo, 0) >= hlc_arg(fcinfo, 1)); }

ES_SQL_FUNCTION(es_hlc_larger) {
  PG_RETURN_DATUM(hlc_datum(std::max(hlc_arg(fcinfo, 0), hlc_arg(fcinfo, 1))));
}
ES_SQL_FUNCTION(es_hlc_smaller) {
  PG_RETURN_DATUM(hlc_datum(std::min(hlc_arg(fcinfo, 0), hlc_arg(fcinfo, 1))));
}

ES_SQL_FUNCTION(es_hlc_to_timestamptz) {
  PG_RETURN_TIMESTAMPTZ(ms_to_timestamptz(core::hlc_physical(hlc_arg(fcinfo, 0))));
}

ES_SQL_FUNCTION(es_timestamptz_to_hlc) {
  TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
  return cpp_entry([&] { return hlc_datum(core::hlc_make(timestamptz_to_ms(ts), 0)); });
}

// hlc(timestamptz, logical): builds a value from its two parts.
ES_SQL_FUNCTION(es_hlc_from_parts) {
  TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
  int32 logical = PG_GETARG_INT32(1);
  return cpp_entry([&] {
    if (logical < 0 || static_cast<uint32_t>(logical) > core::kMaxLogical)
      hlc_out_of_range("logical counter outside 0..65535");
    return hlc_datum(core::hlc_make(timestamptz_to_ms(ts), static_cast<uint32_t>(logical)));
  });
}

ES_SQL_FUNCTION(es_hlc_physical_ms) {
  PG_RETURN_INT64(static_cast<int64>(core::hlc_physical(hlc_arg(fcinfo, 0))));
}

ES_SQL_FUNCTION(es_hlc_logical) {
  PG_RETURN_INT32(static_cast<int32>(core::hlc_logical(hlc_arg(fcinfo, 0))));
}

ES_SQL_FUNCTION(es_hlc_now) {
  return cpp_entry([&] {
    edgestate::require_shmem("hlc_now()");
    return hlc_datum(edgestate::clock_now());
  });
}

ES_SQL_FUNCTION(es_hlc_observe) {
  uint64_t remote = hlc_arg(fcinfo, 0);
  return cpp_entry([&] {
    edgestate::require_shmem("hlc_observe()");
    return hlc_datum(edgestate::clock_observe(remote));
  });
}
