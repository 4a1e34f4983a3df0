// notify_latency: a LISTEN client for the invalidation benchmarks (bench/07-09).
//
//   notify_latency [--seconds N] edgestate REGION...   edgestate's channels of these regions
//   notify_latency [--seconds N] trigger CHANNEL...     payload "<key> <commit-ish time>"
//   notify_latency [--seconds N] count CHANNEL...       count messages and bytes only
//
// Connects with the usual PG* environment variables, LISTENs, prints "ready" on
// standard error, and receives until SIGTERM/SIGINT (or N seconds, default 600).
// Then it prints one summary line on standard output:
//
//   messages M bytes B samples S lost L p50_ms X p99_ms Y max_ms Z [last_p50_ms ...]
//
// bytes counts channel name plus payload of every notification received.
//
// Latency is receive time (CLOCK_REALTIME, taken when the notification is read
// from the socket) minus the time of the change, on the same machine's clock:
//  - edgestate: every sequence number a payload covers (first_seq..last_seq of
//    its table and region; payloads split at 8000 bytes repeat the range and
//    are counted once) is one committed change; its commit time comes from
//    edgestate.invalidations_since(). Those look-ups run on a second connection
//    in a second thread, so they never delay receiving. "last_*" figures are
//    the latency of each payload's last_seq only (the freshest key it covers).
//    A change the ring no longer held at look-up time counts as lost.
//  - trigger: the payload's last word is the trigger's clock_timestamp(), as
//    integer microseconds since the Unix epoch or as seconds with a fraction.
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/invalidation_payload.h"

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

int64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

[[noreturn]] void die(const char *what, PGconn *conn) {
  std::fprintf(stderr, "notify_latency: %s: %s", what, conn ? PQerrorMessage(conn) : "\n");
  std::exit(1);
}

PGconn *connect_or_die() {
  PGconn *conn = PQconnectdb("application_name=notify_latency");
  if (PQstatus(conn) != CONNECTION_OK) die("connection failed", conn);
  return conn;
}

std::string exec_scalar(PGconn *conn, const char *sql, const char *param) {
  const char *params[1] = {param};
  PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, nullptr, params, nullptr, nullptr, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "notify_latency: %s: %s", sql, PQerrorMessage(conn));
    std::exit(1);
  }
  std::string value = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "";
  PQclear(res);
  return value;
}

struct Received {  // one edgestate payload waiting for its commit times
  int64_t recv_us;
  uint64_t first_seq;
  uint64_t last_seq;
  std::string table;
  std::string region;
};

struct Stats {
  std::vector<double> latency_ms;       // one per change (edgestate) or message (trigger)
  std::vector<double> last_latency_ms;  // edgestate: one per payload, its last_seq
  uint64_t lost = 0;
};

// The look-up thread of the edgestate mode.
class CommitTimes {
 public:
  explicit CommitTimes(Stats *stats) : stats_(stats), conn_(connect_or_die()) {
    thread_ = std::thread([this] { run(); });
  }
  void add(Received item) {
    std::lock_guard<std::mutex> guard(mutex_);
    queue_.push_back(std::move(item));
    wake_.notify_one();
  }
  void finish() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      done_ = true;
      wake_.notify_one();
    }
    thread_.join();
    PQfinish(conn_);
  }

 private:
  void run() {
    for (;;) {
      std::vector<Received> batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return done_ || !queue_.empty(); });
        if (queue_.empty() && done_) return;
        batch.assign(queue_.begin(), queue_.end());
        queue_.clear();
      }
      look_up(batch);
    }
  }

  // One query for a batch of payloads: every ring entry after the lowest
  // first_seq not yet counted, matched to the payloads by range, table, region.
  void look_up(const std::vector<Received> &batch) {
    uint64_t low = UINT64_MAX, high = 0;
    for (const Received &item : batch) {
      uint64_t from = std::max(item.first_seq, counted_through_[key_of(item)] + 1);
      if (from <= item.last_seq) low = std::min(low, from);
      high = std::max(high, item.last_seq);
    }
    if (low == UINT64_MAX) return;  // repeats of ranges already counted
    std::string after = std::to_string(low - 1), until = std::to_string(high);
    const char *params[2] = {after.c_str(), until.c_str()};
    PGresult *res = PQexecParams(
        conn_,
        "SELECT seq, resync, (extract(epoch FROM commit_time) * 1000000)::int8, table_name, region "
        "FROM edgestate.invalidations_since($1::int8) WHERE resync OR seq <= $2::int8",
        2, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) die("invalidations_since", conn_);
    struct Row {
      uint64_t seq;
      int64_t commit_us;
      std::string table, region;
    };
    std::vector<Row> rows;
    bool resync = false;
    for (int i = 0; i < PQntuples(res); ++i) {
      if (PQgetvalue(res, i, 1)[0] == 't') {
        resync = true;
        continue;
      }
      rows.push_back(Row{std::strtoull(PQgetvalue(res, i, 0), nullptr, 10),
                         std::strtoll(PQgetvalue(res, i, 2), nullptr, 10), PQgetvalue(res, i, 3),
                         PQgetvalue(res, i, 4)});
    }
    PQclear(res);
    // Only this thread writes stats_ until finish() has joined it.
    for (const Received &item : batch) {
      uint64_t &counted = counted_through_[key_of(item)];
      if (item.last_seq <= counted) continue;
      uint64_t found = 0;
      for (const Row &row : rows) {
        if (row.seq < item.first_seq || row.seq > item.last_seq || row.seq <= counted ||
            row.table != item.table || row.region != item.region)
          continue;
        double ms = (item.recv_us - row.commit_us) / 1000.0;
        stats_->latency_ms.push_back(ms);
        if (row.seq == item.last_seq) stats_->last_latency_ms.push_back(ms);
        ++found;
      }
      if (resync || found == 0) ++stats_->lost;  // the ring moved past it meanwhile
      counted = item.last_seq;
    }
  }

  static std::string key_of(const Received &item) { return item.table + '\n' + item.region; }

  Stats *stats_;
  PGconn *conn_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Received> queue_;
  bool done_ = false;
  std::map<std::string, uint64_t> counted_through_;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(p * (values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// A payload's range and table (keys are not needed here); false if it does
// not parse.
bool parse_header(const char *payload, uint64_t *first, uint64_t *last, std::string *table) {
  edgestate::core::InvalidationPayload parsed;
  if (!edgestate::core::parse_invalidation_payload(payload, &parsed, nullptr)) return false;
  *first = parsed.first_seq;
  *last = parsed.last_seq;
  *table = std::move(parsed.table);
  return true;
}

// The trigger's timestamp: the payload's last word.
bool parse_trigger_time(const char *payload, int64_t *us) {
  const char *word = std::strrchr(payload, ' ');
  word = word ? word + 1 : payload;
  if (*word == '\0') return false;
  char *end = nullptr;
  if (std::strchr(word, '.')) {
    double seconds = std::strtod(word, &end);
    *us = static_cast<int64_t>(seconds * 1e6 + 0.5);
  } else {
    *us = std::strtoll(word, &end, 10);
  }
  return end != word && *end == '\0';
}

}  // namespace

int main(int argc, char **argv) {
  double seconds = 600;
  int arg = 1;
  if (arg + 1 < argc && std::strcmp(argv[arg], "--seconds") == 0) {
    seconds = std::atof(argv[arg + 1]);
    arg += 2;
  }
  if (argc - arg < 2) {
    std::fprintf(stderr, "usage: %s [--seconds N] edgestate|trigger|count REGION_OR_CHANNEL...\n",
                 argv[0]);
    return 2;
  }
  std::string mode = argv[arg++];
  if (mode != "edgestate" && mode != "trigger" && mode != "count") {
    std::fprintf(stderr, "notify_latency: unknown mode %s\n", mode.c_str());
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  PGconn *conn = connect_or_die();
  std::map<std::string, std::string> region_of_channel;
  for (; arg < argc; ++arg) {
    std::string channel = argv[arg];
    if (mode == "edgestate") {
      channel = exec_scalar(conn, "SELECT edgestate.channel($1)", argv[arg]);
      region_of_channel[channel] = argv[arg];
    }
    char *quoted = PQescapeIdentifier(conn, channel.c_str(), channel.size());
    exec_scalar(conn, ("LISTEN " + std::string(quoted)).c_str(), nullptr);
    PQfreemem(quoted);
  }

  Stats stats;
  std::unique_ptr<CommitTimes> commit_times;
  if (mode == "edgestate") commit_times = std::make_unique<CommitTimes>(&stats);
  uint64_t messages = 0, bytes = 0, unparsed = 0;
  std::fprintf(stderr, "ready\n");
  std::fflush(stderr);

  int64_t deadline = now_us() + static_cast<int64_t>(seconds * 1e6);
  pollfd fd{PQsocket(conn), POLLIN, 0};
  while (!stop_requested && now_us() < deadline) {
    int ready = poll(&fd, 1, 50);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll", nullptr);
    }
    if (ready == 0) continue;
    if (!PQconsumeInput(conn)) die("receiving", conn);
    int64_t recv_us = now_us();
    while (PGnotify *notify = PQnotifies(conn)) {
      ++messages;
      bytes += std::strlen(notify->relname) + std::strlen(notify->extra);
      if (mode == "edgestate") {
        Received item{recv_us, 0, 0, "", region_of_channel[notify->relname]};
        if (parse_header(notify->extra, &item.first_seq, &item.last_seq, &item.table))
          commit_times->add(std::move(item));
        else
          ++unparsed;
      } else if (mode == "trigger") {
        int64_t sent_us;
        if (parse_trigger_time(notify->extra, &sent_us))
          stats.latency_ms.push_back((recv_us - sent_us) / 1000.0);
        else
          ++unparsed;
      }
      PQfreemem(notify);
    }
  }
  if (commit_times) commit_times->finish();
  PQfinish(conn);

  // Both threads have finished: the figures are final.
  std::printf("messages %" PRIu64 " bytes %" PRIu64 " samples %zu lost %" PRIu64, messages, bytes,
              stats.latency_ms.size(), stats.lost);
  if (mode != "count")
    std::printf(" p50_ms %.3f p99_ms %.3f max_ms %.3f", percentile(stats.latency_ms, 0.50),
                percentile(stats.latency_ms, 0.99),
                stats.latency_ms.empty()
                    ? 0.0
                    : *std::max_element(stats.latency_ms.begin(), stats.latency_ms.end()));
  if (mode == "edgestate")
    std::printf(" last_p50_ms %.3f last_p99_ms %.3f", percentile(stats.last_latency_ms, 0.50),
                percentile(stats.last_latency_ms, 0.99));
  if (unparsed) std::printf(" unparsed %" PRIu64, unparsed);
  std::printf("\n");
  return 0;
}
