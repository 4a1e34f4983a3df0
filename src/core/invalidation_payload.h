// The text format of invalidation NOTIFY payloads (docs/invalidations.md),
// parsed by clients such as tools/edgestate-listen.cpp.
//
// A payload is one or more lines separated by '\n' (no trailing newline):
//
//   v2 <prev_seq> <first_seq> <last_seq> <table>
//   <key>
//   <key>
//   ...
//
// first_seq <= last_seq are decimal uint64: the invalidation sequence range the
// payload covers for its channel. prev_seq says what came before on the same
// channel: every invalidation of the channel up to max(prev_seq, last_seq) is
// in this payload or in earlier payloads of the channel whose last_seq is at
// most prev_seq (a worker that lost some, or just started, raises prev_seq to
// make that true). A client that has handled the channel up to prev_seq
// therefore misses nothing; sequence numbers are global, so without prev_seq
// it could not tell another channel's numbers from lost ones. The older
// "v1 <first_seq> <last_seq> <table>" header (no prev_seq) still parses.
// <table> is the rest of the header line, the schema-qualified table name.
// Table and keys are escaped: "\\" stands for a backslash and "\n" for a
// newline, so neither ever holds a raw newline; any other backslash sequence
// is an error. A payload may carry no keys at all. One batch may be split over
// several payloads with the same header, each shorter than PostgreSQL's
// NOTIFY limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgestate::core {

// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
constexpr size_t kMaxNotifyPayload = 7999;

struct InvalidationPayload {
  std::optional<uint64_t> prev_seq;  // absent in a v1 payload
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string table;              // unescaped
  std::vector<std::string> keys;  // unescaped, in payload order, may repeat
};

// Parses one payload. On failure returns false and sets *error (when not
// null) to a one-line message; *out is then unspecified.
bool parse_invalidation_payload(std::string_view text, InvalidationPayload *out,
                                std::string *error);

// "\\" for a backslash and "\n" for a newline; every other byte as is.
std::string escape_invalidation_field(std::string_view raw);
void append_escaped_invalidation_field(std::string_view raw, std::string *out);
// The inverse; false (with *error set) on a lone or unknown backslash escape.
bool unescape_invalidation_field(std::string_view escaped, std::string *out, std::string *error);

// Encodes a batch as v2 payloads of at most max_bytes each, every one
// carrying the same header and at least one key, keys in the given order. A
// key whose line cannot fit next to the header on its own is not encoded but
// appended to *too_long (when not null). No keys: one header-only payload.
std::vector<std::string> format_invalidation_payloads(uint64_t prev_seq, uint64_t first_seq,
                                                      uint64_t last_seq, std::string_view table,
                                                      const std::vector<std::string> &keys,
                                                      size_t max_bytes = kMaxNotifyPayload,
                                                      std::vector<std::string> *too_long = nullptr);

}  // namespace edgestate::core
