// Test hooks for the C++/PostgreSQL boundary (sql/boundary.sql). They are not
// part of the extension's SQL surface: a superuser test creates them with
// CREATE FUNCTION ... AS 'edgestate', 'es_selftest_...'.
#include <new>
#include <string>

#include "guard.hpp"

namespace {

// How many Tracked objects were destroyed in this backend: proves that an
// error raised under pg_call() unwound C++ frames instead of jumping over them.
int64 destroyed_objects = 0;

struct Tracked {
  std::string label{"a live C++ object with a destructor"};
  ~Tracked() { ++destroyed_objects; }
};

}  // namespace

// A PostgreSQL error (22P02 from int4in) raised under pg_call() while a C++
// object is alive.
ES_SQL_FUNCTION(es_selftest_pg_error) {
  return edgestate::cpp_entry([&] {
    Tracked alive;
    Datum parsed = edgestate::pg_call(
        [] { return DirectFunctionCall1(int4in, CStringGetDatum("not a number")); });
    return parsed;
  });
}

// A C++ exception thrown inside an entry point: 'runtime_error' (reaches the
// client as XX000) or 'sql_error' (with its own SQLSTATE, detail and hint).
ES_SQL_FUNCTION(es_selftest_cpp_exception) {
  text *kind_text = PG_GETARG_TEXT_PP(0);
  return edgestate::cpp_entry([&]() -> Datum {
    Tracked alive;
    std::string kind(VARDATA_ANY(kind_text), VARSIZE_ANY_EXHDR(kind_text));
    if (kind == "sql_error")
      throw edgestate::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "selftest: SqlError thrown",
                                "thrown from C++", "this is the hint");
    throw std::runtime_error("selftest: std::runtime_error thrown");
  });
}

// std::bad_alloc from an allocation no machine can satisfy.
ES_SQL_FUNCTION(es_selftest_bad_alloc) {
  return edgestate::cpp_entry([&] {
    Tracked alive;
    void *huge = ::operator new (std::size_t{1} << 62);
    ::operator delete(huge);
    return Int64GetDatum(0);
  });
}

ES_SQL_FUNCTION(es_selftest_destroyed_objects) { PG_RETURN_INT64(destroyed_objects); }
