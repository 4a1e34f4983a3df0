// The C++/PostgreSQL boundary (see docs/development.md, "C++ inside PostgreSQL").
//
// PostgreSQL reports errors with longjmp, which skips C++ destructors, and a C++
// exception must never unwind through PostgreSQL's C frames. So:
//  * every function PostgreSQL calls is `extern "C"` and runs its body through
//    cpp_entry(), which lets no exception escape: it turns each one into an
//    ERROR with an SQLSTATE once every C++ object of the body is destroyed;
//  * a backend call that may ereport while C++ objects are alive runs through
//    pg_call(), which catches the PostgreSQL error and rethrows it as PgError,
//    so the stack unwinds normally and cpp_entry() re-raises the original error
//    (SQLSTATE, detail and hint intact).
#pragma once

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "pg.hpp"

namespace edgestate {

// A PostgreSQL error caught by pg_call(), on its way to the boundary.
class PgError final : public std::exception {
 public:
  explicit PgError(ErrorData *edata) noexcept : edata_(edata) {}
  const char *what() const noexcept override {
    return edata_->message != nullptr ? edata_->message : "PostgreSQL error";
  }
  ErrorData *edata() const noexcept { return edata_; }

 private:
  ErrorData *edata_;  // copied into the caller's memory context
};

// An error raised by our own C++ code, with the SQLSTATE the client sees.
class SqlError final : public std::runtime_error {
 public:
  SqlError(int sqlstate, const std::string &message, std::string detail = {}, std::string hint = {})
      : std::runtime_error(message),
        sqlstate_(sqlstate),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}
  int sqlstate() const noexcept { return sqlstate_; }
  const std::string &detail() const noexcept { return detail_; }
  const std::string &hint() const noexcept { return hint_; }

 private:
  int sqlstate_;
  std::string detail_;
  std::string hint_;
};

namespace boundary_detail {

// Fixed buffers: copying an exception's text must not allocate or ereport while
// the exception object is alive.
// Left uninitialised: cpp_entry() runs on every call, and only a catch fills it.
struct PendingError {
  int sqlstate;
  ErrorData *pg_error;
  char message[1024];
  char detail[1024];
  char hint[512];
};

inline void copy_text(char *dst, size_t size, const char *src) noexcept {
  std::strncpy(dst, src, size - 1);
  dst[size - 1] = '\0';
}

[[noreturn]] void raise(const PendingError &pending);

}  // namespace boundary_detail

// Runs the body of an SQL-callable function; no C++ exception escapes.
template <typename Body>
Datum cpp_entry(Body &&body) noexcept {
  boundary_detail::PendingError pending;
  pending.pg_error = nullptr;
  pending.detail[0] = pending.hint[0] = '\0';
  try {
    return body();
  } catch (const PgError &e) {
    pending.pg_error = e.edata();
  } catch (const SqlError &e) {
    pending.sqlstate = e.sqlstate();
    boundary_detail::copy_text(pending.message, sizeof pending.message, e.what());
    boundary_detail::copy_text(pending.detail, sizeof pending.detail, e.detail().c_str());
    boundary_detail::copy_text(pending.hint, sizeof pending.hint, e.hint().c_str());
  } catch (const std::bad_alloc &) {
    pending.sqlstate = ERRCODE_OUT_OF_MEMORY;
    boundary_detail::copy_text(pending.message, sizeof pending.message, "out of memory");
  } catch (const std::exception &e) {
    pending.sqlstate = ERRCODE_INTERNAL_ERROR;
    boundary_detail::copy_text(pending.message, sizeof pending.message, e.what());
  } catch (...) {
    pending.sqlstate = ERRCODE_INTERNAL_ERROR;
    boundary_detail::copy_text(pending.message, sizeof pending.message, "unknown C++ exception");
  }
  // Every C++ object of the body is destroyed here; raising is safe.
  boundary_detail::raise(pending);
}

// Calls a backend function that may ereport(ERROR) while C++ objects are alive.
// The callable itself must hold no object with a non-trivial destructor.
template <typename Fn>
auto pg_call(Fn &&fn) -> decltype(fn()) {
  using Result = decltype(fn());
  MemoryContext caller_context = CurrentMemoryContext;
  ErrorData *volatile error = nullptr;
  if constexpr (std::is_void_v<Result>) {
    PG_TRY();
    { fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_context);
      error = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (error != nullptr) throw PgError(error);
  } else {
    static_assert(std::is_scalar_v<Result>, "pg_call returns Datums, pointers or numbers");
    volatile Result result{};
    PG_TRY();
    { result = fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(caller_context);
      error = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (error != nullptr) throw PgError(error);
    return result;
  }
}

// Converts C++ text to palloc'd memory of the current context.
inline char *to_cstring(const std::string &value) {
  return pg_call([&] { return pnstrdup(value.data(), value.size()); });
}
inline text *to_text(const std::string &value) {
  return pg_call(
      [&] { return cstring_to_text_with_len(value.data(), static_cast<int>(value.size())); });
}

}  // namespace edgestate

// Defines an SQL-callable function with C linkage.
#define ES_SQL_FUNCTION(name) \
  extern "C" {                \
  PG_FUNCTION_INFO_V1(name);  \
  }                           \
  extern "C" Datum name(PG_FUNCTION_ARGS)
