// edgestate-listen: the reference client of edgestate's invalidations
// (docs/invalidations.md). It LISTENs on the channels of one or more regions,
// and for every key an invalidation names it reads the key's latest value and
// prints one line:
//
//   <seq> <region> <table> <key> <value>
//
// It never misses a key: per channel it keeps the sequence number up to which
// it has handled the channel, and a payload whose prev_seq lies beyond that
// (something on the channel did not arrive), a malformed payload and every
// reconnection make it ask edgestate.invalidations_since() for what it may
// have missed; when the ring has moved past that point it prints
// "RESYNC <seq>" and reloads every key of the tables it shows.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include "core/invalidation_payload.h"

namespace {

using edgestate::core::InvalidationPayload;
using edgestate::core::parse_invalidation_payload;
using Clock = std::chrono::steady_clock;

// Keys per latest() query when refreshing a batch.
constexpr size_t kKeysPerQuery = 500;
constexpr auto kMinBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

void usage(FILE *out) {
  std::fputs(
      "Usage: edgestate-listen [--table TABLE] --region REGION [--region REGION ...]\n"
      "                        [--count N] [--timeout SECONDS] CONNINFO\n"
      "\n"
      "Listens for edgestate invalidations of the given regions and prints, for every\n"
      "invalidated key, its latest value as one line on standard output:\n"
      "\n"
      "  <seq> <region> <table> <key> <value>\n"
      "\n"
      "<value> is the float8 text of edgestate.latest(), or '-' when the key has no\n"
      "latest row. Region, table and key are written with '\\\\' for a backslash and\n"
      "'\\n' for a newline, so every line is one key. When the server's ring has moved\n"
      "past the client (keys were lost), it prints 'RESYNC <seq>' and then every key\n"
      "of the tables shown so far. After a lost connection it reconnects with backoff,\n"
      "catches up and writes 'RECONNECTED' to standard error.\n"
      "\n"
      "  --table TABLE      only this table (default: every table)\n"
      "  --region REGION    a region to listen to; repeatable, at least one\n"
      "  --count N          exit after N key lines\n"
      "  --timeout SECONDS  exit after SECONDS\n"
      "  CONNINFO           a libpq connection string or URI\n"
      "\n"
      "Exit status: 0 on --count or --timeout, 1 on a fatal error, 2 on a usage error.\n",
      out);
}

[[noreturn]] void usage_error(const std::string &message) {
  std::fprintf(stderr, "edgestate-listen: %s\n", message.c_str());
  std::fputs("Try 'edgestate-listen --help' for more information.\n", stderr);
  std::exit(2);
}

[[noreturn]] void fatal(const std::string &message) {
  std::fprintf(stderr, "edgestate-listen: %s\n", message.c_str());
  std::exit(1);
}

void warn(const std::string &message) {
  std::fprintf(stderr, "edgestate-listen: %s\n", message.c_str());
}

std::string trim_message(const char *message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "unknown error" : text;
}

// libpq's "server closed the connection unexpectedly" comes with two lines of
// explanation; the first line says it all.
std::string first_line(const std::string &text) { return text.substr(0, text.find('\n')); }

// Server notices and asynchronous errors (e.g. "terminating connection due to
// administrator command"), one line each, with our prefix.
void notice_processor(void *, const char *message) {
  std::fprintf(stderr, "edgestate-listen: server: %s\n", first_line(trim_message(message)).c_str());
}

struct Options {
  std::optional<std::string> table;
  std::vector<std::string> regions;
  std::optional<uint64_t> count;
  std::optional<double> timeout;
  std::string conninfo;
};

bool parse_count(const std::string &text, uint64_t *out) {
  if (text.empty() || text.size() > 18) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = value;
  return true;
}

bool parse_seconds(const std::string &text, double *out) {
  if (text.empty()) return false;
  char *end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !(value >= 0) || value > 1e9) {
    return false;
  }
  *out = value;
  return true;
}

Options parse_arguments(int argc, char **argv) {
  Options options;
  std::vector<std::string> positional;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    }
    std::string name = arg;
    std::optional<std::string> value;
    const size_t equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
    }
    if (name != "--table" && name != "--region" && name != "--count" && name != "--timeout") {
      usage_error("unknown option '" + arg + "'");
    }
    if (!value) {
      if (i + 1 >= argc) usage_error("option '" + name + "' needs a value");
      value = argv[++i];
    }
    if (name == "--table") {
      if (value->empty()) usage_error("--table needs a table name");
      if (options.table) usage_error("--table given more than once");
      options.table = *value;
    } else if (name == "--region") {
      if (value->empty()) usage_error("--region needs a region name");
      if (std::find(options.regions.begin(), options.regions.end(), *value) ==
          options.regions.end()) {
        options.regions.push_back(*value);
      }
    } else if (name == "--count") {
      uint64_t count = 0;
      if (!parse_count(*value, &count)) usage_error("invalid --count '" + *value + "'");
      options.count = count;
    } else {
      double seconds = 0;
      if (!parse_seconds(*value, &seconds)) usage_error("invalid --timeout '" + *value + "'");
      options.timeout = seconds;
    }
  }
  if (options.regions.empty()) usage_error("at least one --region is required");
  if (positional.empty()) usage_error("missing CONNINFO");
  if (positional.size() > 1) usage_error("unexpected argument '" + positional[1] + "'");
  options.conninfo = positional[0];
  return options;
}

// The connection went away: reconnect and catch up.
struct ConnectionLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A statement failed on a healthy connection.
struct QueryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ResultDeleter {
  void operator()(PGresult *result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// One key to refresh, in first-seen order.
struct Pending {
  uint32_t table_oid;
  std::string table;  // its name as the server spelled it
  std::string key;
  uint64_t seq;
  std::string region;
};

class Batch {
 public:
  void add(uint32_t table_oid, const std::string &table, const std::string &key, uint64_t seq,
           const std::string &region) {
    auto [it, inserted] = index_.try_emplace({table_oid, key}, entries_.size());
    if (inserted) {
      entries_.push_back({table_oid, table, key, seq, region});
    } else if (seq >= entries_[it->second].seq) {
      entries_[it->second].seq = seq;
      entries_[it->second].region = region;
    }
  }
  const std::vector<Pending> &entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

 private:
  std::map<std::pair<uint32_t, std::string>, size_t> index_;
  std::vector<Pending> entries_;
};

// The PostgreSQL array literal of a list of texts.
std::string text_array(const std::vector<const std::string *> &items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

class Listener {
 public:
  explicit Listener(Options options) : options_(std::move(options)) {
    if (options_.timeout) {
      deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(*options_.timeout));
    }
    regions_.insert(options_.regions.begin(), options_.regions.end());
  }
  ~Listener() {
    if (conn_ != nullptr) PQfinish(conn_);
  }

  int run() {
    if (options_.count && *options_.count == 0) return 0;
    std::string error;
    if (!connect(&error)) fatal(error);
    try {
      listen_all();
      if (options_.table) {
        filter_oid_ = resolve_table(*options_.table);
        if (filter_oid_ == 0) fatal("table \"" + *options_.table + "\" does not exist");
        // Qualified once, under the search_path of the start: the table the
        // client follows is the one of that schema and name.
        filter_name_ = canonical_name(filter_oid_);
        known_tables_.try_emplace(filter_oid_, filter_name_);
      }
      // After LISTEN: everything up to the head is either already shown by the
      // dashboard's initial load or will be notified to us.
      mark_all_handled(invalidation_head());
    } catch (const std::runtime_error &e) {
      fatal(e.what());
    }

    for (;;) {
      try {
        loop();
      } catch (const ConnectionLost &e) {
        warn("connection lost: " + std::string(e.what()));
        reconnect();
      } catch (const QueryError &e) {
        fatal(e.what());
      }
    }
  }

 private:
  // --- Connection --------------------------------------------------------

  bool connect(std::string *error) {
    if (conn_ != nullptr) PQfinish(conn_);
    const char *keywords[] = {"fallback_application_name", "dbname", nullptr};
    const char *values[] = {"edgestate-listen", options_.conninfo.c_str(), nullptr};
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (conn_ == nullptr) {
      *error = "out of memory";
      return false;
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
      *error = "could not connect: " + trim_message(PQerrorMessage(conn_));
      PQfinish(conn_);
      conn_ = nullptr;
      return false;
    }
    PQsetNoticeProcessor(conn_, notice_processor, nullptr);
    return true;
  }

  [[noreturn]] void throw_failure(const PGresult *result) {
    std::string message =
        trim_message(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
    if (PQstatus(conn_) != CONNECTION_OK) throw ConnectionLost(first_line(message));
    throw QueryError(message);
  }

  Result exec(const char *sql, const std::vector<const char *> &params = {}) {
    Result result(PQexecParams(conn_, sql, static_cast<int>(params.size()), nullptr, params.data(),
                               nullptr, nullptr, 0));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) throw_failure(result.get());
    return result;
  }

  // Looks up each region's channel and LISTENs to it.
  void listen_all() {
    channel_region_.clear();
    for (const std::string &region : options_.regions) {
      Result result = exec("SELECT edgestate.channel($1)", {region.c_str()});
      if (PQntuples(result.get()) != 1 || PQgetisnull(result.get(), 0, 0)) {
        throw QueryError("edgestate.channel('" + region + "') returned no channel");
      }
      const std::string channel = PQgetvalue(result.get(), 0, 0);
      char *quoted = PQescapeIdentifier(conn_, channel.data(), channel.size());
      if (quoted == nullptr) throw_failure(nullptr);
      const std::string sql = std::string("LISTEN ") + quoted;
      PQfreemem(quoted);
      exec(sql.c_str());
      channel_region_[channel] = region;
    }
  }

  uint64_t invalidation_head() {
    Result result = exec("SELECT edgestate.invalidation_head()");
    if (PQntuples(result.get()) != 1 || PQgetisnull(result.get(), 0, 0)) return 0;
    return std::strtoull(PQgetvalue(result.get(), 0, 0), nullptr, 10);
  }

  // Reconnects with backoff until it succeeds (or --timeout passes), then
  // LISTENs again and catches up on every channel.
  void reconnect() {
    auto delay = kMinBackoff;
    for (;;) {
      sleep_until(std::min(Clock::now() + delay, deadline_or_max()));
      exit_if_deadline_passed();
      delay = std::min(delay * 2, kMaxBackoff);
      std::string error;
      if (!connect(&error)) {
        warn(first_line(error) + "; retrying");
        continue;
      }
      try {
        listen_all();
        const uint64_t head = invalidation_head();
        if (head < newest_handled()) {
          // The server's sequence went backwards (a new cluster, or one whose
          // ring did not survive a restart): nothing handled since can be
          // trusted.
          Batch none;
          resync(head, none);
          for (auto &[region, handled] : handled_) handled = head;
        } else {
          catch_up(nullptr, nullptr);
        }
      } catch (const ConnectionLost &e) {
        warn("connection lost again: " + std::string(e.what()));
        continue;
      } catch (const QueryError &e) {
        fatal(e.what());
      }
      std::fputs("RECONNECTED\n", stderr);
      std::fflush(stderr);
      return;
    }
  }

  // --- Main loop -----------------------------------------------------------

  void loop() {
    for (;;) {
      // Notifications may have been queued while a query ran: drain first.
      while (PGnotify *notify = PQnotifies(conn_)) {
        std::unique_ptr<PGnotify, decltype(&PQfreemem)> owner(notify, &PQfreemem);
        handle(notify->relname, notify->extra != nullptr ? notify->extra : "");
      }
      wait_for_input();
      if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
        throw ConnectionLost(first_line(trim_message(PQerrorMessage(conn_))));
      }
    }
  }

  void wait_for_input() {
    const int socket = PQsocket(conn_);
    if (socket < 0) throw ConnectionLost("no socket");
    for (;;) {
      int timeout_ms = -1;
      if (deadline_) {
        exit_if_deadline_passed();
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now());
        timeout_ms =
            static_cast<int>(std::clamp<int64_t>(left.count() + 1, 1, int64_t{60} * 60 * 1000));
      }
      pollfd pfd{socket, POLLIN, 0};
      const int ready = poll(&pfd, 1, timeout_ms);
      if (ready > 0) return;
      if (ready < 0 && errno != EINTR) {
        throw ConnectionLost(std::string("poll: ") + std::strerror(errno));
      }
    }
  }

  std::optional<Clock::time_point> deadline_;
  Clock::time_point deadline_or_max() const { return deadline_.value_or(Clock::time_point::max()); }
  void exit_if_deadline_passed() {
    if (deadline_ && Clock::now() >= *deadline_) finish();
  }
  void sleep_until(Clock::time_point when) {
    const auto now = Clock::now();
    if (when > now) std::this_thread::sleep_for(when - now);
  }
  [[noreturn]] void finish() {
    std::fflush(stdout);
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
    std::exit(0);
  }

  // --- Invalidations -------------------------------------------------------

  void handle(const std::string &channel, const std::string &text) {
    const auto region = channel_region_.find(channel);
    if (region == channel_region_.end()) return;
    InvalidationPayload payload;
    std::string error;
    if (!parse_invalidation_payload(text, &payload, &error)) {
      // Whatever it named, invalidations_since() names it too.
      warn("malformed payload on channel \"" + channel + "\" (" + error + "); catching up");
      catch_up(nullptr, nullptr);
      return;
    }
    uint64_t &handled = handled_[region->second];
    // v2: everything of the channel up to prev_seq came in earlier payloads.
    // v1 has no prev_seq: only a range that starts right after what was
    // handled proves that nothing came between.
    const bool gap = payload.prev_seq ? *payload.prev_seq > handled
                                      : handled < UINT64_MAX && payload.first_seq > handled + 1;
    if (gap) {
      catch_up(&payload, &region->second);
    } else {
      Batch batch;
      add_payload(payload, region->second, &batch);
      refresh(batch);
      handled = std::max(handled, payload.last_seq);
    }
  }

  void mark_all_handled(uint64_t seq) {
    for (const std::string &region : options_.regions) {
      uint64_t &handled = handled_[region];
      handled = std::max(handled, seq);
    }
  }
  uint64_t oldest_handled() const {
    uint64_t oldest = UINT64_MAX;
    for (const auto &[region, handled] : handled_) oldest = std::min(oldest, handled);
    return oldest;
  }
  uint64_t newest_handled() const {
    uint64_t newest = 0;
    for (const auto &[region, handled] : handled_) newest = std::max(newest, handled);
    return newest;
  }

  void add_payload(const InvalidationPayload &payload, const std::string &region, Batch *batch) {
    const uint32_t oid = table_oid(payload.table);
    if (oid == 0 || !follows(oid, payload.table)) return;
    known_tables_[oid] = payload.table;  // the server's spelling wins
    for (const std::string &key : payload.keys)
      batch->add(oid, payload.table, key, payload.last_seq, region);
  }

  // Refreshes every key invalidated after what was handled on its channel
  // (only on `only_region`'s channel, when given; on all of ours otherwise),
  // plus the keys of `payload` (given only with its region as only_region),
  // and marks those channels handled up to the newest sequence number seen.
  void catch_up(const InvalidationPayload *payload, const std::string *only_region) {
    const uint64_t from = only_region != nullptr ? handled_[*only_region] : oldest_handled();
    const std::string after = std::to_string(from);
    Result result = exec(
        "SELECT seq, table_name, region, key, resync "
        "FROM edgestate.invalidations_since($1::bigint)",
        {after.c_str()});
    PGresult *rows = result.get();
    // After a reset (a table dropped and created again under its name, say),
    // names are looked up afresh.
    for (int i = 0; i < PQntuples(rows); ++i)
      if (!PQgetisnull(rows, i, 4) && PQgetvalue(rows, i, 4)[0] == 't') {
        forget_table_names();
        break;
      }
    Batch batch;
    uint64_t newest = from;
    std::optional<uint64_t> resync_seq;
    for (int i = 0; i < PQntuples(rows); ++i) {
      const uint64_t seq = std::strtoull(PQgetvalue(rows, i, 0), nullptr, 10);
      newest = std::max(newest, seq);
      if (!PQgetisnull(rows, i, 4) && PQgetvalue(rows, i, 4)[0] == 't') {
        resync_seq = seq;
        continue;
      }
      if (PQgetisnull(rows, i, 1) || PQgetisnull(rows, i, 2) || PQgetisnull(rows, i, 3)) continue;
      const std::string region = PQgetvalue(rows, i, 2);
      if (regions_.count(region) == 0 || (only_region != nullptr && region != *only_region)) {
        continue;
      }
      if (seq <= handled_[region]) continue;  // that channel has it already
      const std::string table = PQgetvalue(rows, i, 1);
      const uint32_t oid = table_oid(table);
      if (oid == 0 || !follows(oid, table)) continue;
      known_tables_.try_emplace(oid, table);
      batch.add(oid, table, std::string(PQgetvalue(rows, i, 3), PQgetlength(rows, i, 3)), seq,
                region);
    }
    result.reset();
    if (payload != nullptr) add_payload(*payload, *only_region, &batch);
    if (resync_seq) {
      resync(*resync_seq, batch);
      mark_all_handled(*resync_seq);
    } else {
      refresh(batch);
      for (auto &[region, handled] : handled_) {
        if (only_region == nullptr || region == *only_region) handled = std::max(handled, newest);
      }
    }
    if (payload != nullptr) {
      uint64_t &handled = handled_[*only_region];
      handled = std::max(handled, payload->last_seq);
    }
  }

  // Prints RESYNC and every key of the known tables that belongs to our
  // regions or was shown before, then whatever of `extra` that did not cover.
  void resync(uint64_t seq, const Batch &extra) {
    std::printf("RESYNC %" PRIu64 "\n", seq);
    flush_stdout();
    std::set<std::pair<uint32_t, std::string>> printed;
    std::set<uint32_t> dropped;
    for (const auto &[oid, name] : known_tables_) {
      // With --table, a table that no longer has the name is no longer shown.
      if (options_.table && oid != filter_oid_) {
        dropped.insert(oid);
        continue;
      }
      if (!reload_table(oid, name, seq, &printed) && !table_exists(oid)) dropped.insert(oid);
    }
    // Keys shown before that have no latest row any more.
    for (const auto &[id, region] : shown_) {
      if (known_tables_.count(id.first) != 0 && printed.count(id) == 0) {
        print_line(seq, region, id.first, id.second, nullptr);
        printed.insert(id);
      }
    }
    // The keys of a dropped table, or of one no longer followed, were shown
    // as gone: forget the table, and its name, which a later payload may still
    // carry (a reset's header names the channel's last table) or a new table
    // may take.
    for (uint32_t oid : dropped) {
      known_tables_.erase(oid);
      for (auto it = table_oids_.begin(); it != table_oids_.end();)
        it = it->second == oid ? table_oids_.erase(it) : std::next(it);
      for (auto it = shown_.begin(); it != shown_.end();)
        it = it->first.first == oid ? shown_.erase(it) : std::next(it);
    }
    Batch rest;
    for (const Pending &p : extra.entries()) {
      if (printed.count({p.table_oid, p.key}) == 0)
        rest.add(p.table_oid, p.table, p.key, p.seq, p.region);
    }
    refresh(rest);
  }

  bool table_exists(uint32_t oid) {
    const std::string oid_text = std::to_string(oid);
    Result result =
        exec("SELECT 1 FROM pg_catalog.pg_class WHERE oid = $1::oid", {oid_text.c_str()});
    return PQntuples(result.get()) > 0;
  }

  // Prints every key of the table; false when the table cannot be read.
  bool reload_table(uint32_t oid, const std::string &name, uint64_t seq,
                    std::set<std::pair<uint32_t, std::string>> *printed) {
    const std::string oid_text = std::to_string(oid);
    Result result;
    try {
      result = exec("SELECT key, value, region FROM edgestate.latest($1::oid::regclass)",
                    {oid_text.c_str()});
    } catch (const QueryError &e) {
      warn("reloading " + name + ": " + e.what());
      return false;
    }
    PGresult *rows = result.get();
    for (int i = 0; i < PQntuples(rows); ++i) {
      std::pair<uint32_t, std::string> id{
          oid, std::string(PQgetvalue(rows, i, 0), PQgetlength(rows, i, 0))};
      std::string region = PQgetisnull(rows, i, 2) ? "" : PQgetvalue(rows, i, 2);
      if (regions_.count(region) == 0) {
        const auto shown = shown_.find(id);
        if (shown == shown_.end()) continue;
        region = shown->second;
      }
      print_line(seq, region, oid, id.second,
                 PQgetisnull(rows, i, 1) ? nullptr : PQgetvalue(rows, i, 1));
      printed->insert(std::move(id));
    }
    return true;
  }

  // Reads the latest value of every key of the batch and prints it.
  void refresh(const Batch &batch) {
    std::map<uint32_t, std::vector<const Pending *>> by_table;
    for (const Pending &p : batch.entries()) by_table[p.table_oid].push_back(&p);
    for (const auto &[oid, entries] : by_table) {
      const std::string name = entries.front()->table;
      const Refreshed refreshed = refresh_table(oid, &name, entries);
      if (refreshed == Refreshed::kPrinted) continue;
      // The name the server sent belongs to another table than the cached
      // OID now (that table was renamed or dropped, and another created under
      // its name), or the table cannot be read (dropped by a transaction whose
      // catalog invalidations had not reached this session when the name was
      // looked up): look the name up again, once.
      forget_table_names();
      const uint32_t now = table_oid(name);
      if (now != 0 && now != oid && follows(now, name)) {
        known_tables_.try_emplace(now, name);
        refresh_table(now, nullptr, entries);
      } else if (refreshed == Refreshed::kNameMoved) {
        refresh_table(oid, nullptr, entries);  // the name is no table's now
      }
    }
  }

  enum class Refreshed { kPrinted, kNameMoved, kUnreadable };

  // Prints the latest values of these keys of the table, unless `name` (the
  // table's name in the payload, if given) resolves to another table now.
  Refreshed refresh_table(uint32_t oid, const std::string *name,
                          const std::vector<const Pending *> &entries) {
    const std::string oid_text = std::to_string(oid);
    for (size_t start = 0; start < entries.size(); start += kKeysPerQuery) {
      const size_t end = std::min(entries.size(), start + kKeysPerQuery);
      std::vector<const std::string *> keys;
      for (size_t i = start; i < end; ++i) keys.push_back(&entries[i]->key);
      const std::string array = text_array(keys);
      Result result;
      try {
        result = exec(
            // (SELECT ...): an init plan, evaluated once per query.
            ("SELECT l.value, $3::text IS NULL OR (SELECT " + oid_of_name("$3::text") +
             ") IS NOT DISTINCT FROM $1::oid FROM unnest($2::text[]) WITH ORDINALITY AS k(key, "
             "ord) "
             "LEFT JOIN LATERAL edgestate.latest($1::oid::regclass, k.key) AS l ON true "
             "ORDER BY k.ord")
                .c_str(),
            {oid_text.c_str(), array.c_str(),
             start == 0 && name != nullptr ? name->c_str() : nullptr});
      } catch (const QueryError &e) {
        warn("reading the latest values of " + table_name(oid) + ": " + e.what());
        return Refreshed::kUnreadable;
      }
      PGresult *rows = result.get();
      if (static_cast<size_t>(PQntuples(rows)) != end - start) {
        throw QueryError("unexpected number of rows from edgestate.latest()");
      }
      if (start == 0 && PQgetvalue(rows, 0, 1)[0] != 't') return Refreshed::kNameMoved;
      for (size_t i = start; i < end; ++i) {
        const int row = static_cast<int>(i - start);
        const Pending &p = *entries[i];
        print_line(p.seq, p.region, oid, p.key,
                   PQgetisnull(rows, row, 0) ? nullptr : PQgetvalue(rows, row, 0));
      }
    }
    return Refreshed::kPrinted;
  }

  void print_line(uint64_t seq, const std::string &region, uint32_t table_oid,
                  const std::string &key, const char *value) {
    const std::string table = table_name(table_oid);
    std::string line = std::to_string(seq);
    line.push_back(' ');
    edgestate::core::append_escaped_invalidation_field(region, &line);
    line.push_back(' ');
    edgestate::core::append_escaped_invalidation_field(table, &line);
    line.push_back(' ');
    edgestate::core::append_escaped_invalidation_field(key, &line);
    line.push_back(' ');
    line += value != nullptr ? value : "-";
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
    flush_stdout();
    shown_[{table_oid, key}] = region;
    ++printed_;
    if (options_.count && printed_ >= *options_.count) finish();
  }

  void flush_stdout() {
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      fatal(std::string("writing to standard output: ") + std::strerror(errno));
    }
  }

  // --- Tables --------------------------------------------------------------

  // The OID of a table named as the server names it; 0 when it does not exist.
  // A table's name as the server spelled it, without making it known.
  std::string table_name(uint32_t oid) const {
    const auto known = known_tables_.find(oid);
    return known != known_tables_.end() ? known->second : std::to_string(oid);
  }

  // Whether the table of this OID, which the server calls `name`, is one the
  // client shows: with --table, the table that has the name now. A name the
  // server sends is the table's name when it sent it; a table of the
  // followed name with another OID was created under it, and the followed
  // OID under another name was renamed away.
  bool follows(uint32_t oid, const std::string &name) {
    if (!options_.table) return true;
    if (name == filter_name_) {
      if (oid != filter_oid_) {
        filter_oid_ = oid;
        known_tables_.try_emplace(oid, name);
      }
      return true;
    }
    if (oid == filter_oid_) {
      filter_oid_ = resolve_table(filter_name_);
      if (filter_oid_ != 0) known_tables_.try_emplace(filter_oid_, filter_name_);
    }
    return oid == filter_oid_;
  }

  // Drops the name -> OID cache; with --table, the table it names is the one
  // that now has the name (none when it was dropped).
  void forget_table_names() {
    table_oids_.clear();
    if (!options_.table) return;
    filter_oid_ = resolve_table(filter_name_);
    if (filter_oid_ != 0) known_tables_.try_emplace(filter_oid_, canonical_name(filter_oid_));
  }

  uint32_t table_oid(const std::string &name) {
    const auto cached = table_oids_.find(name);
    if (cached != table_oids_.end()) return cached->second;
    // A name that resolves to nothing is looked up again next time: the table
    // may be created meanwhile.
    const uint32_t oid = resolve_table(name);
    if (oid != 0) table_oids_[name] = oid;
    return oid;
  }

  // SQL for the OID of the table a name (the expression) names. A qualified
  // name is looked up in pg_class under the query's snapshot rather than with
  // to_regclass(), whose catalog cache may not have seen yet the transaction
  // whose commit sent us the name (it renamed or created a table): catalog
  // invalidations go out a moment after its invalidations reach the ring.
  static std::string oid_of_name(const std::string &name) {
    return "(CASE WHEN array_length(parse_ident(" + name +
           "), 1) = 2 THEN "
           "(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
           "ON n.oid = c.relnamespace WHERE n.nspname = (parse_ident(" +
           name +
           "))[1] "
           "AND c.relname = (parse_ident(" +
           name +
           "))[2]) "
           "ELSE to_regclass(" +
           name + ")::oid END)";
  }

  uint32_t resolve_table(const std::string &name) {
    Result result;
    try {
      result = exec(("SELECT " + oid_of_name("$1::text")).c_str(), {name.c_str()});
    } catch (const QueryError &e) {  // not a name at all (a garbled payload)
      warn("looking up table " + name + ": " + e.what());
      return 0;
    }
    if (PQntuples(result.get()) != 1 || PQgetisnull(result.get(), 0, 0)) return 0;
    return static_cast<uint32_t>(std::strtoul(PQgetvalue(result.get(), 0, 0), nullptr, 10));
  }

  std::string canonical_name(uint32_t oid) {
    const std::string oid_text = std::to_string(oid);
    Result result = exec(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
        {oid_text.c_str()});
    if (PQntuples(result.get()) != 1) return std::to_string(oid);
    return PQgetvalue(result.get(), 0, 0);
  }

  Options options_;
  PGconn *conn_ = nullptr;
  std::set<std::string> regions_;
  std::map<std::string, std::string> channel_region_;  // channel -> region
  // Per region (one channel each): every invalidation of the channel up to
  // this sequence number has been handled.
  std::map<std::string, uint64_t> handled_;
  uint32_t filter_oid_ = 0;  // with --table: the table of that name (0: none now)
  std::string filter_name_;  // with --table: its name, schema-qualified
  std::unordered_map<std::string, uint32_t> table_oids_;           // name -> OID
  std::map<uint32_t, std::string> known_tables_;                   // OID -> name as printed
  std::map<std::pair<uint32_t, std::string>, std::string> shown_;  // (table, key) -> region
  uint64_t printed_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  Options options = parse_arguments(argc, argv);
  Listener listener(std::move(options));
  return listener.run();
}
