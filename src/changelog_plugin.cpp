// The `edgestate` logical decoding output plugin: committed inserts into
// sensorstate tables as the compact binary change-log (docs/changelog-format.md)
// or as JSON lines. Options: format, tables, origin, include-timestamps,
// max-stream-keys.
#include <cerrno>
#include <cstdlib>
#include <new>
#include <string>
#include <variant>
#include <vector>

#include "core/changelog.h"
#include "core/hlc.h"
#include "core/reading.h"
#include "counters.hpp"
#include "guard.hpp"
#include "gucs.hpp"
#include "sensorstate_contract.hpp"

extern "C" {
#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/varlena.h"
#include "utils/timestamp.h"
}

using edgestate::cpp_entry;
namespace core = edgestate::core;

namespace {

enum class OriginMode { kAny, kLocal, kSkip };

// About 110 MB of encoder state at most (keys and their previous readings).
constexpr int64 kDefaultMaxStreamKeys = 1'000'000;

// Session state, in the decoding context's memory; the encoder is destroyed
// by a reset callback of that context, however the session ends.
struct PluginState {
  bool json;
  bool include_timestamps;
  OriginMode origin_mode;
  List *skipped_origins;  // RepOriginId as ints
  List *tables;           // qualified names (char *), NIL: every sensorstate table
  Oid sensorstate_am;
  // The relation of the previous change in this transaction, whether it is
  // wanted and its qualified name (in the decoding context): a transaction's
  // changes mostly come from one table, and change callbacks get no memory
  // context that is reset per change.
  Oid last_relid;
  NameData last_relname;  // and where it was: a rename within the
  Oid last_namespace;     // transaction changes the name from then on
  bool last_wanted;
  char *last_table;
  core::ChangelogEncoder *encoder;
  MemoryContextCallback destroy_encoder;
  // Binary mode: past this many keys remembered, the next transaction starts
  // a new stream, so that a long session's memory follows the keys in use,
  // not every key it ever saw.
  int64 max_stream_keys;
  // JSON mode: the lines of the current transaction not yet written, the
  // number of readings among them, and the seq of the next reading.
  StringInfoData json_lines;
  uint64 json_line_count;
  uint64 json_seq;
};

void emit_frame(LogicalDecodingContext *ctx, PluginState *state, bool more_frames_follow);
void emit_json_lines(LogicalDecodingContext *ctx, PluginState *state);

void destroy_encoder(void *arg) {
  auto *state = static_cast<PluginState *>(arg);
  if (state->encoder != nullptr) state->encoder->~ChangelogEncoder();
  state->encoder = nullptr;
}

[[noreturn]] void bad_option(const char *name, const char *value, const char *expected) {
  ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                  errmsg("invalid value \"%s\" for option \"%s\" of output plugin edgestate",
                         value != nullptr ? value : "", name),
                  errhint("%s", expected)));
  pg_unreachable();
}

const char *option_value(DefElem *option) {
  return option->arg != nullptr ? strVal(option->arg) : nullptr;
}

bool parse_bool_option(DefElem *option) {
  const char *value = option_value(option);
  bool result = true;
  if (value != nullptr && !parse_bool(value, &result))
    bad_option(option->defname, value, "Use true or false.");
  return result;
}

// Appends the double-quoted part starting at p ("" for a quote) to out,
// unquoted; returns what follows its closing quote.
const char *take_quoted(const char *p, const char *option, const char *value, StringInfo out) {
  for (++p;; ++p) {
    if (*p == '\0') bad_option(option, value, "Close every double quote.");
    if (*p == '"' && p[1] != '"') break;
    if (*p == '"') ++p;
    appendStringInfoChar(out, *p);
  }
  return p + 1;
}

// The `tables` option: comma-separated schema.table names (case kept, any
// length), each part optionally double-quoted as in SQL ("" for a quote).
// Returns each name as the change-log prints it (quote_qualified_identifier),
// so that a dot inside a quoted part cannot match another table.
List *parse_table_list(const char *value) {
  const char *hint = "List schema-qualified tables, as in public.readings,eu.readings.";
  if (value == nullptr) bad_option("tables", value, hint);
  List *tables = NIL;
  const char *p = value;
  for (;;) {
    while (*p == ' ' || *p == '\t') ++p;
    StringInfoData name;
    initStringInfo(&name);
    char *schema = nullptr;
    int parts = 0;
    for (;;) {
      if (*p == '"') {
        p = take_quoted(p, "tables", value, &name);
      } else {
        const char *start = p;
        while (*p != '\0' && *p != '.' && *p != ',' && *p != ' ' && *p != '\t') ++p;
        if (p == start) bad_option("tables", value, hint);
        appendBinaryStringInfo(&name, start, static_cast<int>(p - start));
      }
      ++parts;
      if (*p != '.') break;
      if (parts == 1) {
        schema = pstrdup(name.data);
        resetStringInfo(&name);
      }
      ++p;
    }
    if (parts != 2)
      bad_option("tables", value, "Qualify each table with its schema, as in public.readings.");
    tables = lappend(tables, quote_qualified_identifier(schema, name.data));
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == '\0') return tables;
    if (*p != ',') bad_option("tables", value, hint);
    ++p;
  }
}

// The names of `origin=skip:<origin>[,<origin>...]`, taken as they are (an
// origin's name is any text: no case folding, no length limit), trimmed; a
// part in double quotes may hold commas ("" for a quote).
List *parse_origin_list(const char *value) {
  const char *hint = "Use any, local, or skip:<origin>[,<origin>...].";
  List *names = NIL;
  const char *p = value + 5;
  for (;;) {
    while (*p == ' ' || *p == '\t') ++p;
    StringInfoData name;
    initStringInfo(&name);
    if (*p == '"') {
      p = take_quoted(p, "origin", value, &name);
    } else {
      const char *start = p;
      while (*p != '\0' && *p != ',') ++p;
      const char *end = p;
      while (end > start && (end[-1] == ' ' || end[-1] == '\t')) --end;
      appendBinaryStringInfo(&name, start, static_cast<int>(end - start));
    }
    if (name.len == 0) bad_option("origin", value, hint);
    names = lappend(names, name.data);
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == '\0') return names;
    if (*p != ',') bad_option("origin", value, hint);
    ++p;
  }
}

void parse_options(PluginState *state, List *options) {
  ListCell *cell;
  foreach (cell, options) {
    auto *option = static_cast<DefElem *>(lfirst(cell));
    const char *value = option_value(option);
    if (strcmp(option->defname, "format") == 0) {
      if (value != nullptr && strcmp(value, "binary") == 0)
        state->json = false;
      else if (value != nullptr && strcmp(value, "json") == 0)
        state->json = true;
      else
        bad_option("format", value, "Use binary or json.");
    } else if (strcmp(option->defname, "max-stream-keys") == 0) {
      char *end = nullptr;
      errno = 0;
      long long keys = value != nullptr ? strtoll(value, &end, 10) : 0;
      if (value == nullptr || *value == '\0' || *end != '\0' || errno != 0 || keys < 1)
        bad_option("max-stream-keys", value, "Use a positive integer.");
      state->max_stream_keys = keys;
    } else if (strcmp(option->defname, "include-timestamps") == 0) {
      state->include_timestamps = parse_bool_option(option);
    } else if (strcmp(option->defname, "tables") == 0) {
      state->tables = parse_table_list(value);
    } else if (strcmp(option->defname, "origin") == 0) {
      if (value != nullptr && strcmp(value, "any") == 0) {
        state->origin_mode = OriginMode::kAny;
      } else if (value != nullptr && strcmp(value, "local") == 0) {
        state->origin_mode = OriginMode::kLocal;
      } else if (value != nullptr && strncmp(value, "skip:", 5) == 0 && value[5] != '\0') {
        state->origin_mode = OriginMode::kSkip;
        ListCell *name;
        foreach (name, parse_origin_list(value)) {
          const char *origin = static_cast<const char *>(lfirst(name));
          RepOriginId id = replorigin_by_name(origin, true);
          if (id == InvalidRepOriginId)
            bad_option("origin", value,
                       psprintf("Replication origin \"%s\" does not exist; list them with "
                                "SELECT roname FROM pg_replication_origin.",
                                origin));
          state->skipped_origins = lappend_int(state->skipped_origins, id);
        }
      } else {
        bad_option("origin", value, "Use any, local, or skip:<origin>[,<origin>...].");
      }
    } else {
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("unknown option \"%s\" for output plugin edgestate", option->defname),
                      errhint("The options are format, tables, origin, include-timestamps "
                              "and max-stream-keys.")));
    }
  }
}

void plugin_startup(LogicalDecodingContext *ctx, OutputPluginOptions *options, bool) {
  MemoryContext old = MemoryContextSwitchTo(ctx->context);
  auto *state = static_cast<PluginState *>(palloc0(sizeof(PluginState)));
  state->include_timestamps = true;
  state->origin_mode = OriginMode::kAny;
  state->max_stream_keys = kDefaultMaxStreamKeys;
  parse_options(state, ctx->output_plugin_options);
  state->sensorstate_am = InvalidOid;
  initStringInfo(&state->json_lines);
  void *memory = palloc(sizeof(core::ChangelogEncoder));
  MemoryContextSwitchTo(old);
  state->encoder = new (memory) core::ChangelogEncoder();
  state->destroy_encoder.func = destroy_encoder;
  state->destroy_encoder.arg = state;
  MemoryContextRegisterResetCallback(ctx->context, &state->destroy_encoder);
  ctx->output_plugin_private = state;
  options->output_type = state->json ? OUTPUT_PLUGIN_TEXTUAL_OUTPUT : OUTPUT_PLUGIN_BINARY_OUTPUT;
  options->receive_rewrites = false;
}

void plugin_shutdown(LogicalDecodingContext *) {}

void plugin_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
  auto *state = static_cast<PluginState *>(ctx->output_plugin_private);
  state->last_relid = InvalidOid;  // a name may differ in another transaction
  if (state->json) {
    resetStringInfo(&state->json_lines);
    state->json_line_count = 0;
    state->json_seq = 0;
    return;
  }
  cpp_entry([&] {
    if (state->encoder->key_count() >= static_cast<size_t>(state->max_stream_keys))
      state->encoder->restart_stream();
    state->encoder->begin(txn->final_lsn, edgestate::unix_us(txn->xact_time.commit_time),
                          txn->origin_id);
    return Datum(0);
  });
}

bool is_wanted(PluginState *state, Relation relation, const char *qualified) {
  if (!OidIsValid(state->sensorstate_am)) state->sensorstate_am = edgestate::sensorstate_am_oid();
  if (relation->rd_rel->relkind != RELKIND_RELATION ||
      relation->rd_rel->relam != state->sensorstate_am)
    return false;
  if (state->tables == NIL) return true;
  ListCell *cell;
  foreach (cell, state->tables)
    if (strcmp(static_cast<const char *>(lfirst(cell)), qualified) == 0) return true;
  return false;
}

// Whether the relation's changes go into the change-log, and its qualified
// name; looked up once per relation and name while its changes follow each
// other.
bool wanted_table(LogicalDecodingContext *ctx, PluginState *state, Relation relation,
                  const char **qualified) {
  if (RelationGetRelid(relation) != state->last_relid ||
      RelationGetNamespace(relation) != state->last_namespace ||
      strcmp(RelationGetRelationName(relation), NameStr(state->last_relname)) != 0) {
    MemoryContext old = MemoryContextSwitchTo(ctx->context);
    if (state->last_table != nullptr) pfree(state->last_table);
    // Quoted where needed, so that "a.b".c and a."b.c" stay apart.
    state->last_table = quote_qualified_identifier(
        get_namespace_name(RelationGetNamespace(relation)), RelationGetRelationName(relation));
    MemoryContextSwitchTo(old);
    state->last_relid = RelationGetRelid(relation);
    state->last_namespace = RelationGetNamespace(relation);
    namestrcpy(&state->last_relname, RelationGetRelationName(relation));
    state->last_wanted = is_wanted(state, relation, state->last_table);
  }
  *qualified = state->last_table;
  return state->last_wanted;
}

void plugin_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation relation,
                   ReorderBufferChange *change) {
  auto *state = static_cast<PluginState *>(ctx->output_plugin_private);
  const char *table = nullptr;
  if (change->action != REORDER_BUFFER_CHANGE_INSERT || change->data.tp.newtuple == nullptr ||
      !wanted_table(ctx, state, relation, &table))
    return;
  const edgestate::SensorstateColumns *columns = edgestate::sensorstate_columns(relation);
  TupleDesc desc = RelationGetDescr(relation);
  HeapTuple tuple = &change->data.tp.newtuple->tuple;
  Datum values[6];
  bool nulls[6];
  AttrNumber attnums[6] = {columns->key,    columns->value,  columns->ts,
                           columns->region, columns->device, columns->skew_bound};
  for (int i = 0; i < 6; ++i) {
    nulls[i] = attnums[i] == InvalidAttrNumber;
    values[i] = nulls[i] ? Datum(0) : heap_getattr(tuple, attnums[i], desc, &nulls[i]);
  }
  if (nulls[0] || nulls[1] || nulls[2] || nulls[3]) return;  // refused at insert; never here
  uint32_t skew_ms = static_cast<uint32_t>(edgestate::guc_default_skew_bound_ms);
  if (!nulls[5]) {
    const Interval *bound = DatumGetIntervalP(values[5]);
    skew_ms = static_cast<uint32_t>((bound->time + static_cast<int64>(bound->day) * USECS_PER_DAY) /
                                    1000);
  }
  std::string_view region = edgestate::text_datum_view(values[3]);
  std::string_view device = nulls[4] ? std::string_view() : edgestate::text_datum_view(values[4]);
  std::string_view key_text =
      columns->key_is_text ? edgestate::text_datum_view(values[0]) : std::string_view();
  int64 key_number = columns->key_is_text           ? 0
                     : columns->key_type == INT8OID ? DatumGetInt64(values[0])
                                                    : DatumGetInt32(values[0]);
  double value = core::canonical_value(DatumGetFloat8(values[1]));
  uint64_t ts = DatumGetUInt64(values[2]);
  size_t payload = 0;  // binary: the open frame's payload so far
  cpp_entry([&] {
    std::variant<std::string_view, int64_t> key;
    if (columns->key_is_text)
      key = key_text;
    else
      key = key_number;
    if (!state->json) {
      state->encoder->add(table, key, value, ts, region, device, skew_ms);
      payload = state->encoder->frame_payload_bytes();
      return Datum(0);
    }
    core::ChangelogFrame frame{
        false, txn->final_lsn, edgestate::unix_us(txn->xact_time.commit_time), txn->origin_id, {}};
    core::ChangelogReading reading;
    reading.table = table;
    if (columns->key_is_text)
      reading.key = std::string(key_text);
    else
      reading.key = key_number;
    reading.value = value;
    reading.hlc = ts;
    reading.region = std::string(region);
    reading.device = std::string(device);
    reading.skew_ms = skew_ms;
    const std::string line =
        core::changelog_reading_json(frame, reading, state->json_seq, state->include_timestamps);
    // A transaction's lines go out together at its commit, as one message
    // (split like binary frames past the split size), so that a session
    // ending mid-transaction cuts it only when it is that large; (lsn, seq)
    // lets a consumer drop what the resent transaction repeats.
    edgestate::pg_call([&] {
      if (state->json_lines.len > 0) appendStringInfoChar(&state->json_lines, '\n');
      appendBinaryStringInfo(&state->json_lines, line.data(), static_cast<int>(line.size()));
    });
    return Datum(0);
  });
  if (state->json) {
    ++state->json_line_count;
    ++state->json_seq;
    if (static_cast<size_t>(state->json_lines.len) >= core::kChangelogSplitPayloadBytes)
      emit_json_lines(ctx, state);
  } else if (payload >= core::kChangelogSplitPayloadBytes) {
    // A huge transaction becomes several frames of the same commit (the
    // payload limit is 16 MiB); consumers group frames by commit LSN.
    emit_frame(ctx, state, true);
    cpp_entry([&] {
      state->encoder->begin(txn->final_lsn, edgestate::unix_us(txn->xact_time.commit_time),
                            txn->origin_id);
      return Datum(0);
    });
  }
}

void plugin_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *, XLogRecPtr) {
  auto *state = static_cast<PluginState *>(ctx->output_plugin_private);
  if (state->json)
    emit_json_lines(ctx, state);
  else
    emit_frame(ctx, state, false);
}

// Writes the buffered JSON lines as one message (pg_recvlogical ends it with
// a newline, like each line within it).
void emit_json_lines(LogicalDecodingContext *ctx, PluginState *state) {
  if (state->json_lines.len == 0) return;
  OutputPluginPrepareWrite(ctx, true);
  appendBinaryStringInfo(ctx->out, state->json_lines.data, state->json_lines.len);
  OutputPluginWrite(ctx, true);
  edgestate::counter_add(edgestate::Counter::kChangelogReadings, state->json_line_count);
  edgestate::counter_add(edgestate::Counter::kChangelogBytes,
                         static_cast<uint64_t>(state->json_lines.len));
  resetStringInfo(&state->json_lines);
  state->json_line_count = 0;
}

// Finishes the open frame and writes it (nothing for a transaction without
// sensorstate rows). A frame followed by more of the same transaction carries
// the continued flag, so that consumers drop a transaction cut short when a
// session ends inside it (docs/changelog-format.md).
void emit_frame(LogicalDecodingContext *ctx, PluginState *state, bool more_frames_follow) {
  const std::vector<uint8_t> *frame = nullptr;
  size_t readings = 0;
  cpp_entry([&] {
    readings = state->encoder->readings_in_frame();
    frame = &state->encoder->finish(more_frames_follow);
    return Datum(0);
  });
  if (frame->empty()) return;
  OutputPluginPrepareWrite(ctx, true);
  appendBinaryStringInfo(ctx->out, reinterpret_cast<const char *>(frame->data()),
                         static_cast<int>(frame->size()));
  OutputPluginWrite(ctx, true);
  edgestate::counter_add(edgestate::Counter::kChangelogReadings, readings);
  edgestate::counter_add(edgestate::Counter::kChangelogBytes, frame->size());
}

// Changes applied under a replication origin (reconciliation) are skipped
// when the client asked for local changes only, or for certain origins.
bool plugin_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin) {
  auto *state = static_cast<PluginState *>(ctx->output_plugin_private);
  switch (state->origin_mode) {
    case OriginMode::kAny:
      return false;
    case OriginMode::kLocal:
      return origin != InvalidRepOriginId;
    case OriginMode::kSkip:
      return list_member_int(state->skipped_origins, origin);
  }
  return false;
}

}  // namespace

extern "C" {
PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *callbacks);

void _PG_output_plugin_init(OutputPluginCallbacks *callbacks) {
  callbacks->startup_cb = plugin_startup;
  callbacks->begin_cb = plugin_begin;
  callbacks->change_cb = plugin_change;
  callbacks->commit_cb = plugin_commit;
  callbacks->filter_by_origin_cb = plugin_filter_by_origin;
  callbacks->shutdown_cb = plugin_shutdown;
}
}
