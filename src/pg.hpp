// PostgreSQL's C headers, included once for the C++ glue.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
}

#include <string_view>

namespace edgestate {

// A text value's bytes, in place: the value must be detoasted (as
// PG_GETARG_TEXT_PP and DatumGetTextPP return it).
inline std::string_view text_view(const text *value) {
  return {VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)};
}

// A text datum's bytes, detoasted if need be.
inline std::string_view text_datum_view(Datum datum) { return text_view(DatumGetTextPP(datum)); }

}  // namespace edgestate
