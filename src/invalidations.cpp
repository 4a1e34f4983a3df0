#include "invalidations.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/invalidation_payload.h"
#include "guard.hpp"
#include "gucs.hpp"
#include "sensorstate_contract.hpp"
#include "shmem.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procsignal.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace edgestate {
namespace {

constexpr int kMaxWorkers = 16;
constexpr int kIdleExitMs = 10'000;
constexpr long kStalledSlotMs = 1'000;
constexpr size_t kSlotKeyBytes = 255;
constexpr size_t kSlotRegionBytes = 63;

// A ring slot, published seqlock-style: seq is zeroed, the fields written,
// then seq set; a reader copies the fields between two reads of seq. A reset
// slot (TRUNCATE, purge, DROP, a load past edgestate.max_pending_keys) names
// a table whose latest state was reset as a whole, with no region or key.
struct RingSlot {
  pg_atomic_uint64 seq;
  int64 commit_us;
  Oid db;
  Oid rel;
  bool reset;
  bool key_is_text;
  uint8 region_size;
  uint8 key_size;
  char region[kSlotRegionBytes];
  char key[kSlotKeyBytes];
};

struct WorkerSlot {
  Oid db;
  bool registered;  // a worker was started (it clears this when it exits)
  int pid;          // the worker that owns the slot, once running
  Latch *latch;     // set once the worker runs
};

// The last payload a worker sent on a channel (docs/invalidations.md,
// prev_seq), kept for its successor.
constexpr int kSavedChannels = 16;
struct SavedChannel {
  char channel[NAMEDATALEN];
  char table[2 * (2 * NAMEDATALEN) + 2];  // "schema"."table", quoted where needed
  uint64 last_seq;
};

// Where a database's worker stopped, for the next one (after an idle exit or
// a crash) to continue from: the next sequence number, and what its payloads'
// prev_seq was made of, so that clients need not catch up after a restart.
struct DrainPosition {
  Oid db;
  uint64 next_seq;
  uint64 prev_seq_floor;
  int channel_count;
  SavedChannel channels[kSavedChannels];
};

struct InvalidationShared {
  LWLock *lock;  // the worker registry
  uint64 first_seq;
  pg_atomic_uint64 next_seq;
  uint32 ring_size;
  WorkerSlot workers[kMaxWorkers];
  DrainPosition positions[kMaxWorkers];
  pg_atomic_uint64 appended;
  pg_atomic_uint64 sent_messages;
  pg_atomic_uint64 sent_keys;
  pg_atomic_uint64 sent_bytes;
  pg_atomic_uint64 coalesced;
  pg_atomic_uint64 lost;
  pg_atomic_uint64 failures;
  RingSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

InvalidationShared *shared = nullptr;

RingSlot &slot_of(uint64 seq) { return shared->slots[seq % shared->ring_size]; }

uint64 head() { return pg_atomic_read_u64(&shared->next_seq) - 1; }

// Oldest sequence number still in the ring.
uint64 oldest() {
  uint64 newest = head();
  uint64 floor = shared->first_seq;
  return newest >= floor + shared->ring_size ? newest - shared->ring_size + 1 : floor;
}

// Copies slot `seq`; false when it is not published yet or was overwritten.
bool read_slot(uint64 seq, RingSlot *copy) {
  RingSlot &slot = slot_of(seq);
  uint64 before = pg_atomic_read_u64(&slot.seq);
  pg_read_barrier();
  copy->commit_us = slot.commit_us;
  copy->db = slot.db;
  copy->rel = slot.rel;
  copy->reset = slot.reset;
  copy->key_is_text = slot.key_is_text;
  copy->region_size = slot.region_size;
  copy->key_size = slot.key_size;
  memcpy(copy->region, slot.region, sizeof copy->region);
  memcpy(copy->key, slot.key, sizeof copy->key);
  pg_read_barrier();
  uint64 after = pg_atomic_read_u64(&slot.seq);
  return before == seq && after == seq;
}

// Keys travel as text: integer keys (8 big-endian bytes) in decimal.
std::string key_text(const RingSlot &slot) {
  if (slot.key_is_text) return std::string(slot.key, slot.key_size);
  return std::to_string(sensorstate_integer_key(std::string_view(slot.key, slot.key_size)));
}

int my_worker = -1;  // this process's slot when it is a worker

void forget_worker(int, Datum) {
  if (my_worker < 0 || shared == nullptr) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  // Only if the slot is still ours (after an idle exit a successor may have it).
  if (shared->workers[my_worker].pid == MyProcPid) {
    shared->workers[my_worker].registered = false;
    shared->workers[my_worker].pid = 0;
    shared->workers[my_worker].latch = nullptr;
  }
  LWLockRelease(shared->lock);
}

}  // namespace

std::string channel_name(std::string_view region) {
  // prefix + region reduced to [a-z0-9_] + '_' + 8 hex digits of a hash of the
  // exact bytes: a valid, unambiguous identifier for any region name.
  std::string name(guc_channel_prefix != nullptr ? guc_channel_prefix : "");
  std::string reduced;
  for (unsigned char c : region) {
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    reduced.push_back((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? static_cast<char>(c)
                                                                       : '_');
  }
  char hash[16];
  snprintf(hash, sizeof hash, "_%08x",
           hash_bytes(reinterpret_cast<const unsigned char *>(region.data()),
                      static_cast<int>(region.size())));
  size_t room = NAMEDATALEN - 1 - strlen(hash);
  if (name.size() > room) name.resize(room);
  name += reduced.substr(0, room - name.size());
  name += hash;
  return name;
}

size_t invalidations_shmem_size() {
  return offsetof(InvalidationShared, slots) +
         sizeof(RingSlot) * static_cast<size_t>(guc_invalidation_ring_size);
}

void invalidations_shmem_init(void *memory, bool found) {
  shared = static_cast<InvalidationShared *>(memory);
  if (found) return;
  shared->lock = &(GetNamedLWLockTranche(kInvalidationSegmentName))->lock;
  shared->ring_size = static_cast<uint32>(guc_invalidation_ring_size);
  // Sequence numbers keep increasing across restarts (the ring does not
  // survive them): they start from the wall clock's milliseconds << 16.
  uint64 ms = static_cast<uint64>(now_unix_us() / 1000);
  shared->first_seq = (ms << 16) + 1;
  pg_atomic_init_u64(&shared->next_seq, shared->first_seq);
  for (WorkerSlot &worker : shared->workers) worker = WorkerSlot{InvalidOid, false, 0, nullptr};
  for (DrainPosition &position : shared->positions) {
    position.db = InvalidOid;
    position.next_seq = 0;
    position.channel_count = 0;
  }
  for (auto *counter : {&shared->appended, &shared->sent_messages, &shared->sent_keys,
                        &shared->sent_bytes, &shared->coalesced, &shared->lost, &shared->failures})
    pg_atomic_init_u64(counter, 0);
  for (uint32 i = 0; i < shared->ring_size; ++i) pg_atomic_init_u64(&shared->slots[i].seq, 0);
}

namespace {

void append_slot(Oid relid, bool reset, std::string_view region, std::string_view key,
                 bool key_is_text, int64_t commit_us) {
  uint64 seq = pg_atomic_fetch_add_u64(&shared->next_seq, 1);
  RingSlot &slot = slot_of(seq);
  pg_atomic_write_u64(&slot.seq, 0);
  pg_write_barrier();
  slot.commit_us = commit_us;
  slot.db = MyDatabaseId;
  slot.rel = relid;
  slot.reset = reset;
  slot.key_is_text = key_is_text;
  slot.region_size = static_cast<uint8>(region.size());
  slot.key_size = static_cast<uint8>(key.size());
  memcpy(slot.region, region.data(), region.size());
  memcpy(slot.key, key.data(), key.size());
  // Counted before it is published, so that appended - sent - coalesced -
  // lost is what is in flight, never less.
  pg_atomic_fetch_add_u64(&shared->appended, 1);
  pg_write_barrier();
  pg_atomic_write_u64(&slot.seq, seq);
}

}  // namespace

void invalidation_append(Oid relid, std::string_view region, std::string_view key, bool key_is_text,
                         int64_t commit_us) {
  if (shared == nullptr || !guc_invalidations || region.size() > kSlotRegionBytes ||
      key.size() > kSlotKeyBytes)
    return;
  append_slot(relid, false, region, key, key_is_text, commit_us);
}

void invalidation_append_reset(Oid relid, int64_t commit_us) {
  if (shared == nullptr || !guc_invalidations) return;
  append_slot(relid, true, std::string_view(), std::string_view(), false, commit_us);
}

namespace {

bool worker_registered() {
  for (WorkerSlot &worker : shared->workers)
    if (worker.registered && worker.db == MyDatabaseId) return true;
  return false;
}

// Registers this database's worker unless one is registered; only LWLocks and
// the postmaster's worker slots, so it may run at commit.
void start_worker_if_missing() {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  int free_slot = -1;
  bool running = false;
  for (int i = 0; i < kMaxWorkers; ++i) {
    WorkerSlot &worker = shared->workers[i];
    if (worker.registered && worker.db == MyDatabaseId) running = true;
    if (!worker.registered && free_slot < 0) free_slot = i;
  }
  if (!running && free_slot >= 0) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 1;  // seconds: the worker comes back after a crash
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "edgestate");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "edgestate_invalidation_worker_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "edgestate invalidations for database %u", MyDatabaseId);
    snprintf(worker.bgw_type, BGW_MAXLEN, "edgestate invalidations");
    worker.bgw_main_arg = Int32GetDatum(free_slot);
    shared->workers[free_slot] = WorkerSlot{MyDatabaseId, true, 0, nullptr};
    if (!RegisterDynamicBackgroundWorker(&worker, nullptr)) {
      shared->workers[free_slot].registered = false;
      ereport(WARNING, (errmsg("edgestate: could not start the invalidation worker"),
                        errhint("Raise max_worker_processes.")));
    }
  }
  LWLockRelease(shared->lock);
}

}  // namespace

void invalidation_wake() {
  if (shared == nullptr) return;
  // The worker may have exited while idle just now: start it again.
  if (!worker_registered()) start_worker_if_missing();
  // Reading the registry without its lock: a stale answer only delays a send
  // until the worker's own timeout.
  for (WorkerSlot &worker : shared->workers) {
    Latch *latch = worker.latch;
    if (worker.db == MyDatabaseId && latch != nullptr) SetLatch(latch);
  }
}

void ensure_invalidation_worker() {
  // Checked at most once a second per backend while it inserts.
  static TimestampTz checked_at = 0;
  static Oid checked_db = InvalidOid;
  if (shared == nullptr || !guc_invalidations) return;
  TimestampTz now = GetCurrentTransactionStartTimestamp();
  if (checked_db == MyDatabaseId && now - checked_at < USECS_PER_SEC) return;
  checked_at = now;
  checked_db = MyDatabaseId;
  if (!worker_registered()) start_worker_if_missing();
}

namespace {

// One batch: per (region, table) the distinct keys, in first-seen order.
struct Group {
  uint64 first_seq = 0;
  uint64 last_seq = 0;
  std::vector<std::string> keys;
  std::set<std::string> seen;
};

// What each payload's prev_seq is made of (docs/invalidations.md): per
// channel, the last_seq of the last payload sent on it (by this worker, or as
// its predecessor saved it); for a channel with no such record, a bound below
// which everything was handled before this worker started; and a floor below
// which every invalidation of every channel was either sent or is lost, so
// that a client that has not handled a channel up to the floor catches up.
// The floor rises past whatever this worker loses.
struct ChannelSent {
  uint64 last_seq;
  std::string table;  // of that payload, for a header-only one after a reset
};
std::map<std::string, ChannelSent> last_sent_on_channel;
uint64 unrecorded_channel_seq = 0;
uint64 prev_seq_floor = 0;

void raise_prev_seq_floor(uint64 seq) { prev_seq_floor = std::max(prev_seq_floor, seq); }

// How payloads and invalidations_since() name a table: schema-qualified and
// quoted where needed, so that to_regclass() or ::regclass finds it. nullptr
// when it was dropped.
char *qualified_table_name(Oid rel) {
  char *name = get_rel_name(rel);
  if (name == nullptr) return nullptr;
  return quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)), name);
}

// What the batch being drained accounts for, every slot it passes once
// (appended = sent + coalesced + lost when the worker has caught up). NOTIFY
// delivers at commit, so the counts reach the shared counters when the
// batch's transaction has committed, together with the saved position; a
// batch that fails counts what it would have sent as lost.
struct BatchCounts {
  uint64 keys = 0;  // to send: in groups of tables that still exist
  uint64 resets = 0;  // reset slots of this database: sent as prev_seq
  uint64 messages = 0;
  uint64 bytes = 0;
  uint64 sent_keys = 0;
  uint64 coalesced = 0;  // repeats in a group, keys of a dropped table
  uint64 lost = 0;       // overrun, never published, or too long for a payload
};
BatchCounts batch;

void count_batch_committed() {
  pg_atomic_fetch_add_u64(&shared->sent_messages, batch.messages);
  pg_atomic_fetch_add_u64(&shared->sent_bytes, batch.bytes);
  pg_atomic_fetch_add_u64(&shared->sent_keys, batch.sent_keys + batch.resets);
  pg_atomic_fetch_add_u64(&shared->coalesced, batch.coalesced);
  pg_atomic_fetch_add_u64(&shared->lost, batch.lost);
  batch = BatchCounts{};
}

void count_batch_failed() {
  pg_atomic_fetch_add_u64(&shared->coalesced, batch.coalesced);
  pg_atomic_fetch_add_u64(&shared->lost, batch.lost + batch.keys + batch.resets);
  pg_atomic_fetch_add_u64(&shared->failures, 1);
  batch = BatchCounts{};
}

// Sends one group as payloads that fit NOTIFY (docs/invalidations.md). Runs
// inside a transaction; NOTIFY's own errors arrive as PgError.
void notify_group(const std::string &channel, const std::string &table, const Group &group) {
  auto [entry, created] =
      last_sent_on_channel.try_emplace(channel, ChannelSent{unrecorded_channel_seq, table});
  ChannelSent &sent = entry->second;
  const uint64 prev_seq = std::max(sent.last_seq, prev_seq_floor);
  // Counted as sent before NOTIFY runs: if the batch fails, the next payload
  // on this channel names its range as prev_seq, and clients catch up.
  sent.last_seq = std::max(sent.last_seq, group.last_seq);
  sent.table = table;
  std::vector<std::string> too_long;
  for (const std::string &payload :
       core::format_invalidation_payloads(prev_seq, group.first_seq, group.last_seq, table,
                                          group.keys, core::kMaxNotifyPayload, &too_long)) {
    pg_call([&] { Async_Notify(channel.c_str(), payload.c_str()); });
    ++batch.messages;
    batch.bytes += payload.size();
  }
  batch.sent_keys += group.keys.size() - too_long.size();
  // A key too long for any payload reaches clients through invalidations_since().
  if (!too_long.empty()) raise_prev_seq_floor(group.last_seq);
  batch.lost += too_long.size();
}

// Where this worker starts: the saved position of the database's previous
// worker, or the ring's oldest entry. *record gets a copy of the saved
// record (db InvalidOid when there is none, or when the ring moved past it:
// what it moved past is lost).
uint64 load_position(DrainPosition *record) {
  uint64 position = oldest();
  record->db = InvalidOid;
  uint64 saved_next = 0;
  LWLockAcquire(shared->lock, LW_SHARED);
  for (const DrainPosition &saved : shared->positions) {
    if (saved.db != MyDatabaseId) continue;
    if (saved.next_seq >= position)
      *record = saved;
    else
      saved_next = saved.next_seq;
  }
  LWLockRelease(shared->lock);
  if (record->db == MyDatabaseId) return record->next_seq;
  if (saved_next != 0) pg_atomic_fetch_add_u64(&shared->lost, position - saved_next);
  return position;
}

// Takes over what the previous worker recorded about prev_seq. Everything
// before `position` was handled before (or is lost): that bounds a channel
// without a record; with no record at all, clients catch up once.
void restore_channels(const DrainPosition &record, uint64 position) {
  if (position > 0) unrecorded_channel_seq = position - 1;
  if (record.db != MyDatabaseId) {
    prev_seq_floor = unrecorded_channel_seq;
    return;
  }
  prev_seq_floor = record.prev_seq_floor;
  for (int i = 0; i < record.channel_count; ++i) {
    const SavedChannel &channel = record.channels[i];
    last_sent_on_channel[channel.channel] = ChannelSent{channel.last_seq, channel.table};
  }
}

// The record save_position stores: the most recently used channels, if
// there are more than it can keep.
void record_channels(DrainPosition *record) {
  // Channel names fit NAMEDATALEN, and a qualified name of two quoted
  // identifiers (each at most 2 * 63 + 2 bytes) the table field, by
  // construction.
  std::vector<const std::pair<const std::string, ChannelSent> *> recent;
  for (const auto &entry : last_sent_on_channel) recent.push_back(&entry);
  std::sort(recent.begin(), recent.end(),
            [](const auto *a, const auto *b) { return a->second.last_seq > b->second.last_seq; });
  if (recent.size() > kSavedChannels) recent.resize(kSavedChannels);
  record->prev_seq_floor = prev_seq_floor;
  record->channel_count = static_cast<int>(recent.size());
  for (size_t i = 0; i < recent.size(); ++i) {
    SavedChannel &out = record->channels[i];
    strlcpy(out.channel, recent[i]->first.c_str(), sizeof out.channel);
    strlcpy(out.table, recent[i]->second.table.c_str(), sizeof out.table);
    out.last_seq = recent[i]->second.last_seq;
  }
}

void save_position(uint64 position) {
  DrainPosition record;
  record.db = MyDatabaseId;
  record.next_seq = position;
  cpp_entry([&] {
    record_channels(&record);
    return Datum(0);
  });
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DrainPosition *slot = nullptr;
  for (DrainPosition &saved : shared->positions) {
    if (saved.db == MyDatabaseId) slot = &saved;
    if (slot == nullptr && saved.db == InvalidOid) slot = &saved;
  }
  if (slot == nullptr) slot = &shared->positions[MyDatabaseId % kMaxWorkers];
  *slot = record;
  LWLockRelease(shared->lock);
}

// How long (ms) the drain has been waiting for slot `seq` to be published.
uint64 stalled_seq = 0;
TimestampTz stalled_since = 0;
long stalled_for(uint64 seq) {
  TimestampTz now = GetCurrentTimestamp();
  if (seq != stalled_seq) {
    stalled_seq = seq;
    stalled_since = now;
  }
  return static_cast<long>((now - stalled_since) / 1000);
}

// Reads what the ring holds for this database after *position and sends it.
// Returns whether anything was sent.
bool drain(uint64 *position) {
  uint64 newest = head();
  if (*position > newest) return false;
  uint64 from = std::max(*position, oldest());
  if (from > *position) {
    batch.lost += from - *position;
    raise_prev_seq_floor(from - 1);
  }
  uint64 until = std::min(newest, from + static_cast<uint64>(guc_invalidation_max_batch) - 1);
  std::map<std::pair<std::string, Oid>, Group> groups;
  uint64 newest_reset = 0;  // of a reset slot of this database in the batch
  uint64 seq = from;
  for (; seq <= until; ++seq) {
    RingSlot copy;
    if (!read_slot(seq, &copy)) {
      uint64 now_there = pg_atomic_read_u64(&slot_of(seq).seq);
      if (now_there == seq && read_slot(seq, &copy)) {
        // published while we read it: taken now
      } else if (now_there > seq) {
        ++batch.lost;  // overwritten while we were behind
        raise_prev_seq_floor(seq);
        continue;
      } else if (stalled_for(seq) < kStalledSlotMs) {
        break;  // not published yet (or being written): the rest next time
      } else {
        // Reserved by a writer that never published it (it died in between):
        // give up on it rather than block every later invalidation.
        ++batch.lost;
        raise_prev_seq_floor(seq);
        continue;
      }
    }
    if (copy.db != MyDatabaseId) continue;
    if (copy.reset) {
      newest_reset = seq;
      ++batch.resets;
      continue;
    }
    Group &group = groups[{std::string(copy.region, copy.region_size), copy.rel}];
    if (group.first_seq == 0) group.first_seq = seq;
    group.last_seq = seq;
    std::string key = key_text(copy);
    if (group.seen.insert(key).second)
      group.keys.push_back(std::move(key));
    else
      ++batch.coalesced;
  }
  *position = seq;
  if (groups.empty() && newest_reset == 0) {
    count_batch_committed();  // nothing to send, but slots passed (lost, others')
    return false;
  }
  // A table was reset: every channel's next payload makes clients catch up,
  // and invalidations_since() answers them with a resync.
  if (newest_reset != 0) raise_prev_seq_floor(newest_reset);
  for (const auto &entry : groups) batch.keys += entry.second.keys.size();
  pg_call([] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
  });
  std::set<std::string> notified;  // channels
  for (auto &[where, group] : groups) {
    char *table = pg_call([&] { return qualified_table_name(where.second); });
    if (table == nullptr) {
      // Dropped meanwhile: the drop's reset, later in the ring, covers these.
      batch.keys -= group.keys.size();
      batch.coalesced += group.keys.size();
      continue;
    }
    std::string channel = channel_name(where.first);
    notify_group(channel, table, group);
    notified.insert(std::move(channel));
  }
  // Channels this batch has no keys for learn of the reset at once: a
  // header-only payload, naming the last table sent on the channel.
  if (newest_reset != 0) {
    for (auto &[channel, sent] : last_sent_on_channel) {
      if (notified.count(channel) != 0) continue;
      Group header_only;
      header_only.first_seq = newest_reset;
      header_only.last_seq = newest_reset;
      std::string table = sent.table;
      notify_group(channel, table, header_only);
    }
  }
  pg_call([] {
    PopActiveSnapshot();
    CommitTransactionCommand();
  });
  count_batch_committed();
  return true;
}

}  // namespace
}  // namespace edgestate

using namespace edgestate;

extern "C" PGDLLEXPORT void edgestate_invalidation_worker_main(Datum arg);

void edgestate_invalidation_worker_main(Datum arg) {
  my_worker = DatumGetInt32(arg);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  // Claim the slot. A worker the postmaster restarts after its predecessor
  // died may find the slot emptied by a server crash (no database: exit, the
  // next writer starts one) or already taken by a worker a writer started
  // meanwhile (exit: one worker per database).
  Oid db;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  WorkerSlot &slot = shared->workers[my_worker];
  db = slot.db;
  bool taken = slot.pid != 0 && slot.pid != MyProcPid && kill(slot.pid, 0) == 0;
  if (db == InvalidOid || taken) {
    LWLockRelease(shared->lock);
    proc_exit(0);
  }
  for (const WorkerSlot &other : shared->workers)
    if (&other != &slot && other.db == db && other.registered && other.pid != 0 &&
        kill(other.pid, 0) == 0)
      taken = true;
  if (taken) {
    LWLockRelease(shared->lock);
    proc_exit(0);
  }
  slot.registered = true;
  slot.pid = MyProcPid;
  LWLockRelease(shared->lock);
  before_shmem_exit(forget_worker, 0);
  BackgroundWorkerInitializeConnectionByOid(db, InvalidOid, 0);
  pgstat_report_appname("edgestate invalidations");
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->workers[my_worker].latch = MyLatch;
  LWLockRelease(shared->lock);

  // Continue where this database's previous worker stopped (or, the first
  // time, from the oldest entry the ring holds).
  DrainPosition record;
  uint64 position = load_position(&record);
  cpp_entry([&] {
    restore_channels(record, position);
    return Datum(0);
  });
  int backoff_ms = 0;
  TimestampTz last_active = GetCurrentTimestamp();
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    bool sent = false;
    bool failed = false;
    char failure[256];
    const uint64 drained_from = position;
    cpp_entry([&] {
      try {
        sent = drain(&position);
      } catch (const PgError &error) {
        // NOTIFY refused (its queue is full, say): these keys are skipped;
        // clients notice the gap in the sequence and catch up. Logged once
        // the exception is gone.
        strlcpy(failure, error.what(), sizeof failure);
        failed = true;
      }
      return Datum(0);
    });
    if (failed) {
      ereport(LOG, (errmsg("edgestate: sending invalidations failed: %s", failure)));
      AbortCurrentTransaction();
      // The batch is skipped; position is past it.
      if (position > 0) raise_prev_seq_floor(position - 1);
      count_batch_failed();
      save_position(position);  // a successor must not count the batch again
      backoff_ms = backoff_ms == 0 ? 100 : std::min(backoff_ms * 2, 5000);
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, backoff_ms,
                      PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      continue;
    }
    backoff_ms = 0;
    if (sent) last_active = GetCurrentTimestamp();
    if (position != drained_from) save_position(position);
    // Idle for a while: exit, so that DROP DATABASE is not held up by this
    // connection; the next writer of the database starts a worker again.
    if (!sent && position > head() &&
        TimestampDifferenceExceeds(last_active, GetCurrentTimestamp(), kIdleExitMs)) {
      // Unregister first, then look once more: a writer that appends after
      // this sees no worker and starts one; one that appended before is seen.
      forget_worker(0, 0);
      pg_memory_barrier();
      if (position <= head()) start_worker_if_missing();  // a successor takes them
      proc_exit(0);
    }
    if (sent && guc_invalidation_batch_window_ms > 0 && position <= head()) {
      // Busy: let what arrives meanwhile join the next batch, briefly.
      pg_usleep(static_cast<long>(guc_invalidation_batch_window_ms) * 1000);
      continue;
    }
    // More is there; if none of it was ready (a writer is still publishing
    // its slot), wait a millisecond rather than spin.
    long timeout_ms = position <= head() ? (sent ? 0 : 1) : 1000;
    if (timeout_ms == 0) continue;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

// channel(region): the channel a dashboard LISTENs on for a region.
ES_SQL_FUNCTION(es_channel) {
  text *region = PG_GETARG_TEXT_PP(0);
  return cpp_entry([&] {
    return PointerGetDatum(to_text(channel_name(text_view(region))));
  });
}

ES_SQL_FUNCTION(es_invalidation_head) {
  require_shmem("edgestate.invalidation_head()");
  // Before any entry, head() is first_seq - 1: below every entry to come.
  PG_RETURN_INT64(static_cast<int64>(head()));
}

// invalidations_since(after_seq): what a client missed, or one resync row.
ES_SQL_FUNCTION(es_invalidations_since) {
  require_shmem("edgestate.invalidations_since()");
  int64 after = PG_GETARG_INT64(0);
  InitMaterializedSRF(fcinfo, 0);
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  uint64 newest = head();
  auto resync = [&]() {
    Datum values[6] = {Int64GetDatum(static_cast<int64>(newest)),
                       Datum(0),
                       Datum(0),
                       Datum(0),
                       BoolGetDatum(true),
                       Datum(0)};
    bool nulls[6] = {false, true, true, true, false, true};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  };
  // Nothing before the ring's oldest entry (or from before a restart, or
  // from the future) can be answered: the client must resync in full.
  if (after < 0 || static_cast<uint64>(after) > newest) {
    resync();
    return Datum(0);
  }
  uint64 first_wanted = static_cast<uint64>(after) + 1;
  if (first_wanted <= newest && first_wanted < oldest()) {
    resync();
    return Datum(0);
  }
  // The caller sees only tables it may SELECT from, as latest() requires; a
  // transaction's entries come in runs of one table, so the last answer is kept.
  Oid checked_rel = InvalidOid;
  bool checked = false, readable = false, dropped = false;
  for (uint64 seq = first_wanted; seq <= newest; ++seq) {
    RingSlot copy;
    if (!read_slot(seq, &copy)) {
      if (seq < oldest()) {  // overwritten while we read
        tuplestore_clear(rsinfo->setResult);
        resync();
        return Datum(0);
      }
      break;  // not yet published: the client will see it next time
    }
    if (copy.db != MyDatabaseId) continue;
    if (!checked || copy.rel != checked_rel) {
      checked = true;
      checked_rel = copy.rel;
      dropped = false;
      readable = pg_class_aclcheck_ext(copy.rel, GetUserId(), ACL_SELECT, &dropped) ==
                     ACLCHECK_OK &&
                 !dropped;
    }
    if (copy.reset) {  // a table was reset as a whole: reload everything
      // A dropped table's reset counts for everyone: whoever shows its keys
      // must let them go. So does a reset of no particular table (InvalidOid:
      // a prepared transaction whose writes are unknown committed).
      if (!readable && !dropped) continue;
      tuplestore_clear(rsinfo->setResult);
      resync();
      return Datum(0);
    }
    if (!readable) continue;
    char *table = qualified_table_name(copy.rel);
    if (table == nullptr) continue;
    Datum values[6];
    bool nulls[6] = {};
    values[0] = Int64GetDatum(static_cast<int64>(seq));
    values[1] = CStringGetTextDatum(table);
    values[2] = PointerGetDatum(cstring_to_text_with_len(copy.region, copy.region_size));
    if (copy.key_is_text) {
      values[3] = PointerGetDatum(cstring_to_text_with_len(copy.key, copy.key_size));
    } else {
      values[3] = CStringGetTextDatum(psprintf(
          INT64_FORMAT, sensorstate_integer_key(std::string_view(copy.key, copy.key_size))));
    }
    values[4] = BoolGetDatum(false);
    values[5] = TimestampTzGetDatum(timestamptz_of_unix_us(copy.commit_us));
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return Datum(0);
}

// invalidation_stats(): appended, sent messages, keys, bytes, coalesced, lost, failures.
ES_SQL_FUNCTION(es_invalidation_stats) {
  require_shmem("edgestate.invalidation_stats()");
  TupleDesc desc;
  if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
    elog(ERROR, "return type must be a row type");
  Datum values[7] = {Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&shared->appended))),
                     Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&shared->sent_messages))),
                     Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&shared->sent_keys))),
                     Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&shared->sent_bytes))),
                     Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&shared->coalesced))),
                     Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&shared->lost))),
                     Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&shared->failures)))};
  bool nulls[7] = {};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
