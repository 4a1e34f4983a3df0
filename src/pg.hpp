// PostgreSQL's C headers, included once for the C++ glue.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include <string_view>

namespace edgestate {

// A text value's bytes, in place: the value must be detoasted (as
// PG_GETARG_TEXT_PP and DatumGetTextPP return it).
inline std::string_view text_view(const text *value) {
  return {VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)};
}

// PostgreSQL's timestamps count from 2000-01-01; readings, arrival times and
// the change-log count microseconds from 1970-01-01.
inline constexpr int64 kUnixEpochInPostgresUs =
    static_cast<int64>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
inline int64 unix_us(TimestampTz ts) { return ts + kUnixEpochInPostgresUs; }
inline TimestampTz timestamptz_of_unix_us(int64 us) { return us - kUnixEpochInPostgresUs; }
inline int64 now_unix_us() { return unix_us(GetCurrentTimestamp()); }

// An interval of so many microseconds (palloc'd).
inline Interval *interval_of_us(int64 us) {
  auto *result = static_cast<Interval *>(palloc0(sizeof(Interval)));
  result->time = us;
  return result;
}

// A text datum's bytes, detoasted if need be.
inline std::string_view text_datum_view(Datum datum) { return text_view(DatumGetTextPP(datum)); }

}  // namespace edgestate
