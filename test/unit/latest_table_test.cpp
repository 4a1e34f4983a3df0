// Tests of the shared-memory latest index (core/latest_table.h): merge/find
// round trips, versions, slots and overflow chunks, CLOCK eviction, deletion
// (property test against a std::map model), partial/complete, restore, and
// isolation of databases and relations.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/hlc.h"
#include "core/latest_table.h"
#include "test_support.h"

namespace edgestate::core {
namespace {

using test::Bytes;
using test::OwnedReading;

constexpr uint64_t kBaseMs = 1'795'674'040'123;

// A table in owned, 64-byte aligned memory.
struct OwnedTable {
  explicit OwnedTable(LatestTableLayout layout)
      : bytes(latest_table_bytes(layout)),
        memory(static_cast<unsigned char *>(::operator new (bytes, std::align_val_t{64}))),
        table(LatestTable::create(memory.get(), layout)) {}
  OwnedTable(size_t max_keys, uint32_t partitions)
      : OwnedTable(plan_latest_table(max_keys, partitions)) {}

  struct Free {
    void operator()(unsigned char *p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  size_t bytes;
  std::unique_ptr<unsigned char, Free> memory;
  LatestTable table;
};

// One-origin reading helpers.
OwnedReading reading(double value, uint64_t ms, std::string region = "eu-west",
                     std::string device = "gw-7", uint32_t skew = 50) {
  return OwnedReading{value, hlc_make(kBaseMs + ms, 0), skew, std::move(region), std::move(device)};
}

MergeOutcome merge_bytes(LatestTable &t, const LatestKey &k, const Bytes &state,
                         size_t max_candidates = kDefaultCandidates, int64_t arrival = 1,
                         bool partial = false) {
  const StateView v = test::decode(state);
  return t.merge(latest_key_hash(k), k, v, max_candidates, arrival, partial);
}

MergeOutcome merge_reading(LatestTable &t, const LatestKey &k, const OwnedReading &r,
                           int64_t arrival = 1, bool partial = false) {
  return merge_bytes(t, k, test::single(r), kDefaultCandidates, arrival, partial);
}

bool find(const LatestTable &t, const LatestKey &k, LatestEntry *e) {
  return t.find(latest_key_hash(k), k, e);
}

Bytes state_of_entry(const LatestEntry &e) { return Bytes(e.state, e.state + e.state_size); }

// A state of `origins` origins within one conflict window, with names of
// the given length: outgrows a slot quickly.
Bytes wide_state(int origins, size_t name_len, size_t max_candidates = kMaxCandidates,
                 uint64_t base_ms = 0) {
  Bytes acc;
  for (int i = 0; i < origins; ++i) {
    std::string region = "r" + std::to_string(i);
    region.resize(name_len, 'x');
    std::string device = "d" + std::to_string(i);
    device.resize(name_len, 'y');
    const Bytes one = test::single(reading(i, base_ms + i, region, device, 1000));
    acc = acc.empty() ? one : test::merge(acc, one, max_candidates);
  }
  return acc;
}

// The entry's state, viewing the entry's bytes.
StateView decoded(const LatestEntry &e) {
  StateView v;
  if (decode_state(e.state, e.state_size, &v) != DecodeStatus::kOk) {
    throw std::runtime_error("entry state does not decode");
  }
  return v;
}

std::unique_ptr<LatestEntry> new_entry() { return std::make_unique<LatestEntry>(); }

TEST(LatestTable, MergeFindRoundTrip) {
  OwnedTable t(1000, 8);
  const LatestKey k{5, 16384, "sensor-1"};
  const Bytes s = test::single(reading(21.5, 0));
  const MergeOutcome o = merge_bytes(t.table, k, s, kDefaultCandidates, 777);
  EXPECT_TRUE(o.stored);
  EXPECT_TRUE(o.created);
  EXPECT_TRUE(o.winner_changed);
  EXPECT_FALSE(o.evicted);
  EXPECT_FALSE(o.partial);
  EXPECT_NE(o.generation, 0u);
  EXPECT_GT(o.version, 0u);
  auto e = new_entry();
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_EQ(e->db, 5u);
  EXPECT_EQ(e->rel, 16384u);
  EXPECT_EQ(e->key_bytes(), "sensor-1");
  EXPECT_EQ(state_of_entry(*e), s);
  EXPECT_EQ(e->version, o.version);
  EXPECT_EQ(e->arrival_us, 777);
  EXPECT_EQ(e->generation, o.generation);
  EXPECT_FALSE(e->partial);
  EXPECT_EQ(t.table.size(), 1u);
  EXPECT_FALSE(find(t.table, LatestKey{5, 16384, "sensor-2"}, e.get()));
  EXPECT_FALSE(find(t.table, LatestKey{5, 16384, ""}, e.get()));

  // The empty key and a binary key are keys like any other.
  const LatestKey empty{5, 16384, ""};
  EXPECT_TRUE(merge_bytes(t.table, empty, s).created);
  const std::string bin("\0\0\0\0\0\0\0\x2a", 8);
  const LatestKey big{5, 16384, bin};
  EXPECT_TRUE(merge_bytes(t.table, big, s).created);
  ASSERT_TRUE(find(t.table, empty, e.get()));
  EXPECT_EQ(e->key_size, 0);
  ASSERT_TRUE(find(t.table, big, e.get()));
  EXPECT_EQ(e->key_bytes(), bin);
  EXPECT_EQ(t.table.size(), 3u);
}

TEST(LatestTable, WinnerChangedAndVersion) {
  OwnedTable t(100, 4);
  const LatestKey k{1, 2, "k"};
  const OwnedReading r1 = reading(1.0, 0);
  const MergeOutcome a = merge_reading(t.table, k, r1, 100);
  ASSERT_TRUE(a.created);

  // The same reading again: nothing changes.
  const MergeOutcome b = merge_reading(t.table, k, r1, 200);
  EXPECT_TRUE(b.stored);
  EXPECT_FALSE(b.created);
  EXPECT_FALSE(b.winner_changed);
  EXPECT_EQ(b.version, a.version);
  auto e = new_entry();
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_EQ(e->arrival_us, 100);

  // An older reading of another origin, outside the window: no change.
  const MergeOutcome c = merge_reading(t.table, k, reading(9.0, -100000, "us-east"), 300);
  EXPECT_FALSE(c.winner_changed);
  EXPECT_EQ(c.version, a.version);

  // A conflict candidate (within the window) changes the state, not the winner.
  const MergeOutcome d = merge_reading(t.table, k, reading(2.0, -10, "us-east"), 400);
  EXPECT_FALSE(d.winner_changed);
  EXPECT_EQ(d.version, a.version);
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_EQ(decoded(*e).count, 2);
  EXPECT_EQ(e->arrival_us, 100);

  // A newer reading: new winner, larger version, new arrival.
  const MergeOutcome f = merge_reading(t.table, k, reading(3.0, 1000), 500);
  EXPECT_TRUE(f.winner_changed);
  EXPECT_GT(f.version, a.version);
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_EQ(e->version, f.version);
  EXPECT_EQ(e->arrival_us, 500);

  // Same hlc and origin, different value: the winner changes (value bits).
  const MergeOutcome g = merge_reading(t.table, k, reading(4.0, 1000), 600);
  EXPECT_TRUE(g.winner_changed);
  EXPECT_GT(g.version, f.version);

  // Versions are global: another key's creation gets a larger one still.
  const MergeOutcome h = merge_reading(t.table, LatestKey{1, 2, "other"}, r1);
  EXPECT_GT(h.version, g.version);
}

TEST(LatestTable, VersionGrowsAcrossEvictionAndRecreate) {
  // One partition of few slots: the key is soon evicted.
  OwnedTable t(4, 1);
  const LatestKey k{1, 1, "victim"};
  const MergeOutcome first = merge_reading(t.table, k, reading(1.0, 0));
  ASSERT_TRUE(first.created);
  auto e = new_entry();
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    merge_reading(t.table, LatestKey{1, 1, "filler-" + std::to_string(i)}, reading(i, 0));
    gone = !find(t.table, k, e.get());
  }
  ASSERT_TRUE(gone);
  // Recreated with the very same reading: still a larger version, a new generation.
  const MergeOutcome again = merge_reading(t.table, k, reading(1.0, 0));
  EXPECT_TRUE(again.created);
  EXPECT_TRUE(again.winner_changed);
  EXPECT_GT(again.version, first.version);
  EXPECT_NE(again.generation, first.generation);
}

// Chunks every entry of the table needs, from what for_each copies out: what
// chunks_in_use() must say when no chunk leaked.
size_t chunks_of_entries(const LatestTable &t) {
  size_t chunks = 0;
  for (uint32_t p = 0; p < t.layout().partitions; ++p) {
    t.for_each(p, 0, 0, [&](const LatestEntry &e) {
      chunks += latest_chunks_needed(e.key_size, e.state_size);
    });
  }
  return chunks;
}

TEST(LatestTable, CommonCaseFitsOneSlot) {
  static_assert(latest_fits_slot(24, 51));
  static_assert(!latest_fits_slot(24, 52));
  static_assert(latest_fits_slot(36, 39));  // a UUID's text
  static_assert(kSlotBytes == 112 && kChunkBytes == 64);
  static_assert(latest_chunks_needed(24, 51) == 0 && latest_chunks_needed(24, 52) == 1);
  static_assert(latest_chunks_needed(0, kSlotInlineWithChunksBytes + kChunkDataBytes) == 1);
  static_assert(latest_chunks_needed(0, kSlotInlineWithChunksBytes + kChunkDataBytes + 1) == 2);
  static_assert(latest_chunks_needed(0, kMaxLatestEntryBytes) == kMaxChunksPerEntry);
  static_assert(latest_fits_table(0, kMaxLatestEntryBytes));
  static_assert(!latest_fits_table(0, kMaxLatestEntryBytes + 1));

  // A realistic one-origin state: 24-byte key, region and device names.
  const std::string key(24, 'k');
  const Bytes s = test::single(reading(21.5, 0, "eu-central-1", "gw-0042", 1500));
  ASSERT_LE(s.size(), 51u);
  OwnedTable t(1000, 4);
  const LatestKey k{1, 1, key};
  ASSERT_TRUE(merge_bytes(t.table, k, s).stored);
  EXPECT_EQ(t.table.chunks_in_use(), 0u);

  // Memory: one slot per key of capacity, with no headroom, one chunk per 8
  // slots, and the index: at most 128 bytes per key, everything included.
  const LatestTableLayout l = plan_latest_table(1'000'000, 128);
  EXPECT_EQ(l.partitions, 128u);
  EXPECT_EQ(l.slots_per_partition, (1'000'000u + 127) / 128);
  EXPECT_EQ(l.chunks_per_partition, (l.slots_per_partition + 7) / 8);
  const size_t bytes = latest_table_bytes(l);
  EXPECT_LE(bytes, 1'000'000u * 128);
  EXPECT_GE(bytes, 1'000'000u * (kSlotBytes + kChunkBytes / 8 + 4));
  EXPECT_LE(latest_table_bytes(plan_latest_table(262'144, 128)), 262'144u * 128);

  // Fill to 75% of the planned capacity (partitions fill unevenly) with
  // common-case entries: no eviction, no chunk.
  OwnedTable full(2000, 8);
  for (int i = 0; i < 1500; ++i) {
    std::string name = "sensor-" + std::to_string(i);
    name.resize(24, '.');
    const MergeOutcome o = merge_bytes(full.table, LatestKey{1, 1, name}, s);
    ASSERT_TRUE(o.stored);
    ASSERT_FALSE(o.evicted) << i;
  }
  EXPECT_EQ(full.table.size(), 1500u);
  EXPECT_EQ(full.table.chunks_in_use(), 0u);
}

TEST(LatestTable, LongEntriesTakeChunksAndGiveThemBack) {
  OwnedTable t(64, 2);  // 32 slots and 16 chunks per partition
  const LatestKey k{1, 1, "growing"};
  auto e = new_entry();
  // Start small.
  ASSERT_TRUE(merge_bytes(t.table, k, test::single(reading(1, 0, "a", "b"))).stored);
  EXPECT_EQ(t.table.chunks_in_use(), 0u);
  // Grow: many origins with long names, all in one window.
  const Bytes wide = wide_state(4, 40);
  ASSERT_GT(wide.size(), kSlotPayloadBytes);
  const MergeOutcome grown = merge_bytes(t.table, k, wide);
  ASSERT_TRUE(grown.stored);
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_EQ(state_of_entry(*e),
            test::merge(test::single(reading(1, 0, "a", "b")), wide, kDefaultCandidates));
  EXPECT_GE(t.table.chunks_in_use(), 6u);
  EXPECT_EQ(t.table.chunks_in_use(), chunks_of_entries(t.table));
  // A much newer single reading of one origin: every other origin falls out
  // of the window.
  const OwnedReading late = reading(7, 10'000'000, "a", "b");
  const MergeOutcome shrunk = merge_reading(t.table, k, late);
  ASSERT_TRUE(shrunk.stored);
  ASSERT_TRUE(find(t.table, k, e.get()));
  const StateView v = decoded(*e);
  EXPECT_EQ(v.winner().hlc, late.view().hlc);
  // Losers outside the window are still kept (top-k of per-origin maxima),
  // so the entry keeps chunks.
  EXPECT_EQ(v.count, 5);
  EXPECT_GT(t.table.chunks_in_use(), 0u);
  EXPECT_EQ(t.table.chunks_in_use(), chunks_of_entries(t.table));
  // Cut to the winner alone (max_candidates 0): back into the slot alone.
  const MergeOutcome cut = merge_bytes(t.table, k, test::single(late), 0);
  ASSERT_TRUE(cut.stored);
  EXPECT_FALSE(cut.winner_changed);
  EXPECT_EQ(t.table.chunks_in_use(), 0u);
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_EQ(decoded(*e).count, 1);
  EXPECT_TRUE(decoded(*e).truncated);
  EXPECT_EQ(decoded(*e).winner().hlc, late.view().hlc);
  // And long again.
  ASSERT_TRUE(merge_bytes(t.table, k, wide).stored);
  EXPECT_GT(t.table.chunks_in_use(), 0u);

  // Restore of a short state over a long entry gives its chunks back.
  ASSERT_TRUE(find(t.table, k, e.get()));
  LatestEntry &small = *e;
  const Bytes one = test::single(reading(1, 0, "a", "b"));
  small.state_size = static_cast<uint16_t>(one.size());
  std::copy(one.begin(), one.end(), small.state);
  ASSERT_TRUE(t.table.restore(small));
  EXPECT_EQ(t.table.chunks_in_use(), 0u);
  auto back = new_entry();
  ASSERT_TRUE(find(t.table, k, back.get()));
  EXPECT_EQ(state_of_entry(*back), one);
  // Overwritten, so it has a new generation: a load that read the old one
  // must not complete it.
  EXPECT_NE(back->generation, small.generation);
  EXPECT_NE(back->generation, 0u);

  // A long key (> 71 bytes) spans the slot and its chunks too.
  const std::string long_key(200, 'L');
  const LatestKey lk{1, 1, long_key};
  ASSERT_TRUE(merge_bytes(t.table, lk, wide).stored);
  ASSERT_TRUE(find(t.table, lk, back.get()));
  EXPECT_EQ(back->key_bytes(), long_key);
  EXPECT_EQ(state_of_entry(*back), test::merge(wide, wide, kDefaultCandidates));
  EXPECT_EQ(t.table.chunks_in_use(), chunks_of_entries(t.table));
  // Keys that differ only in their chunked part are different keys.
  std::string other_long = long_key;
  other_long[150] = 'M';
  EXPECT_FALSE(find(t.table, LatestKey{1, 1, other_long}, back.get()));
  // A 50-byte key with a tiny state still fits its slot (<= 75 bytes).
  const std::string key50(50, 'm');
  ASSERT_TRUE(merge_reading(t.table, LatestKey{1, 1, key50}, reading(1, 0, "a", "")).stored);
  EXPECT_EQ(t.table.chunks_in_use(), chunks_of_entries(t.table));
}

TEST(LatestTable, StateTooBigIsNotStoredAndNotLeftStale) {
  OwnedTable t(64, 1);
  const LatestKey k{1, 1, "k"};
  // 16 origins with 63-byte names: ~2.3 KB encoded, more than any entry holds.
  const Bytes huge = wide_state(16, 63);
  ASSERT_GT(huge.size(), kMaxLatestEntryBytes);
  MergeOutcome o = merge_bytes(t.table, k, huge, kMaxCandidates);
  EXPECT_FALSE(o.stored);
  EXPECT_FALSE(o.created);
  EXPECT_EQ(t.table.size(), 0u);
  // An existing entry that grows too big is removed.
  ASSERT_TRUE(merge_reading(t.table, k, reading(1, 0)).stored);
  o = merge_bytes(t.table, k, huge, kMaxCandidates);
  EXPECT_FALSE(o.stored);
  auto e = new_entry();
  EXPECT_FALSE(find(t.table, k, e.get()));
  EXPECT_EQ(t.table.size(), 0u);
  EXPECT_EQ(t.table.chunks_in_use(), 0u);
  // With fewer candidates the same input fits (chunks).
  o = merge_bytes(t.table, k, huge, 4);
  EXPECT_TRUE(o.stored);
  EXPECT_EQ(o.dropped, 11u);
  EXPECT_GT(t.table.chunks_in_use(), 8u);
  // A table whose partitions have too few chunks for it says so.
  ASSERT_TRUE(find(t.table, k, e.get()));
  OwnedTable few(LatestTableLayout{1, 8, 4});
  EXPECT_TRUE(t.table.fits(e->key_size, e->state_size));
  EXPECT_FALSE(few.table.fits(e->key_size, e->state_size));
  EXPECT_FALSE(few.table.restore(*e));
  EXPECT_FALSE(merge_bytes(few.table, k, huge, 4).stored);
  EXPECT_EQ(few.table.size(), 0u);
}

TEST(LatestTable, MaxCandidatesZeroToFifteen) {
  for (size_t mc = 0; mc <= 15; ++mc) {
    OwnedTable t(16, 1);
    const LatestKey k{1, 1, "k"};
    const Bytes s = wide_state(16, 3);  // 16 origins, short names
    const MergeOutcome o = merge_bytes(t.table, k, s, mc);
    ASSERT_TRUE(o.stored) << mc;
    EXPECT_EQ(o.dropped, 15 - mc);
    auto e = new_entry();
    ASSERT_TRUE(find(t.table, k, e.get()));
    EXPECT_EQ(decoded(*e).count, mc + 1);
    // A second merge with a larger bound than the first used is fine too.
    EXPECT_TRUE(merge_bytes(t.table, k, s, 20).stored);
  }
}

TEST(LatestTable, ClockKeepsRecentlyFoundEntries) {
  const LatestTableLayout l{1, 64, 8};
  OwnedTable t(l);
  const uint32_t capacity = 64;
  auto key = [](int i) { return "k" + std::to_string(i); };
  for (uint32_t i = 0; i < capacity; ++i) {
    ASSERT_FALSE(merge_reading(t.table, LatestKey{1, 1, key(i)}, reading(i, 0)).evicted);
  }
  // One more: a full sweep clears every bit, then one entry goes.
  int next = capacity;
  ASSERT_TRUE(merge_reading(t.table, LatestKey{1, 1, key(next++)}, reading(0, 0)).evicted);
  auto e = new_entry();
  std::set<int> present;
  for (int i = 0; i < next; ++i) {
    if (t.table.find(latest_key_hash(LatestKey{1, 1, key(i)}), LatestKey{1, 1, key(i)}, e.get())) {
      present.insert(i);
    }
  }
  ASSERT_EQ(present.size(), capacity);
  // That find pass touched everything; one full sweep clears it again.
  ASSERT_TRUE(merge_reading(t.table, LatestKey{1, 1, key(next++)}, reading(0, 0)).evicted);
  // Touch the even survivors only.
  std::set<int> touched;
  for (int i = 0; i < next; ++i) {
    const std::string name = key(i);
    const LatestKey k{1, 1, name};
    if (i % 2 == 0 && find(t.table, k, e.get())) touched.insert(i);
  }
  // Evict a quarter of the capacity: only untouched entries may go.
  int evictions = 0;
  for (uint32_t n = 0; n < capacity / 4; ++n) {
    const MergeOutcome o = merge_reading(t.table, LatestKey{1, 1, key(next++)}, reading(0, 0));
    ASSERT_TRUE(o.stored);
    evictions += o.evicted;
  }
  EXPECT_EQ(evictions, static_cast<int>(capacity / 4));
  for (int i : touched) {
    EXPECT_TRUE(find(t.table, LatestKey{1, 1, key(i)}, e.get())) << "touched key " << i;
  }
  EXPECT_EQ(t.table.size(), capacity);
}

TEST(LatestTable, EvictionReportsRelation) {
  OwnedTable t(LatestTableLayout{1, 8, 2});  // 8 entries
  for (int i = 0; i < 8; ++i) {
    const MergeOutcome o =
        merge_reading(t.table, LatestKey{10, static_cast<uint32_t>(100 + i), "k"}, reading(i, 0));
    ASSERT_FALSE(o.evicted);
  }
  const MergeOutcome o = merge_reading(t.table, LatestKey{20, 999, "k"}, reading(1, 0));
  ASSERT_TRUE(o.stored);
  ASSERT_EQ(o.evicted, 1u);
  ASSERT_EQ(o.evicted_relation_count, 1u);
  EXPECT_EQ(o.evicted_relations[0].db, 10u);
  auto e = new_entry();
  EXPECT_FALSE(find(t.table, LatestKey{10, o.evicted_relations[0].rel, "k"}, e.get()));
  EXPECT_EQ(t.table.size(), 8u);
}

// Key "o" of relations 1..relations of db, each with this state; no eviction.
void add_one_key_per_relation(LatestTable &t, uint32_t db, uint32_t relations, const Bytes &state) {
  for (uint32_t rel = 1; rel <= relations; ++rel) {
    ASSERT_FALSE(merge_bytes(t, LatestKey{db, rel, "o"}, state).evicted);
  }
}

TEST(LatestTable, ChunkOwnersAreEvictedForChunks) {
  OwnedTable t(LatestTableLayout{1, 8, 2});  // 8 entries, 2 chunks
  auto e = new_entry();
  ASSERT_TRUE(merge_reading(t.table, LatestKey{20, 999, "k"}, reading(1, 0)).stored);
  // Two origins: one chunk each. A third such entry evicts a chunk owner.
  const Bytes two = wide_state(2, 10);
  ASSERT_EQ(latest_chunks_needed(2, two.size()), 1u);
  ASSERT_FALSE(merge_bytes(t.table, LatestKey{30, 1, "w1"}, two).evicted);
  ASSERT_FALSE(merge_bytes(t.table, LatestKey{30, 2, "w2"}, two).evicted);
  EXPECT_EQ(t.table.chunks_in_use(), 2u);
  const MergeOutcome w3 = merge_bytes(t.table, LatestKey{30, 3, "w3"}, two);
  ASSERT_TRUE(w3.stored);
  ASSERT_EQ(w3.evicted, 1u);
  EXPECT_EQ(w3.evicted_relations[0].db, 30u);
  EXPECT_TRUE(w3.evicted_relations[0].rel == 1 || w3.evicted_relations[0].rel == 2);
  EXPECT_EQ(t.table.chunks_in_use(), 2u);
  EXPECT_EQ(t.table.size(), 3u);
  // An existing entry growing into a chunk evicts a chunk owner too.
  const MergeOutcome grow = merge_bytes(t.table, LatestKey{20, 999, "k"}, two);
  ASSERT_TRUE(grow.stored);
  EXPECT_FALSE(grow.created);
  EXPECT_EQ(grow.evicted, 1u);
  EXPECT_EQ(grow.evicted_relations[0].db, 30u);
  ASSERT_TRUE(find(t.table, LatestKey{20, 999, "k"}, e.get()));
  EXPECT_EQ(state_of_entry(*e), test::merge(test::single(reading(1, 0)), two, kDefaultCandidates));
  EXPECT_EQ(t.table.chunks_in_use(), 2u);
  EXPECT_EQ(t.table.size(), 2u);

  // An entry needing three chunks evicts three owners and names their
  // relations.
  OwnedTable four(LatestTableLayout{1, 8, 4});
  add_one_key_per_relation(four.table, 40, 4, two);
  const Bytes three = wide_state(3, 25);
  ASSERT_EQ(latest_chunks_needed(1, three.size()), 3u);
  const MergeOutcome big = merge_bytes(four.table, LatestKey{50, 1, "b"}, three);
  ASSERT_TRUE(big.stored);
  EXPECT_EQ(big.evicted, 3u);
  ASSERT_EQ(big.evicted_relation_count, 3u);
  std::set<uint32_t> rels;
  for (uint32_t k = 0; k < 3; ++k) {
    EXPECT_EQ(big.evicted_relations[k].db, 40u);
    rels.insert(big.evicted_relations[k].rel);
  }
  EXPECT_EQ(rels.size(), 3u);
  EXPECT_EQ(four.table.size(), 2u);
  EXPECT_EQ(four.table.chunks_in_use(), 4u);

  // A call never evicts from more than kMaxEvictedRelations relations: past
  // them it stores nothing, and reports what it did evict.
  OwnedTable many(LatestTableLayout{1, 16, 16});
  add_one_key_per_relation(many.table, 60, 16, two);
  const Bytes six = wide_state(6, 20);
  ASSERT_EQ(latest_chunks_needed(1, six.size()), 5u);  // 5 evictions, of 5 relations
  const MergeOutcome refused = merge_bytes(many.table, LatestKey{70, 1, "b"}, six, kMaxCandidates);
  EXPECT_FALSE(refused.stored);
  EXPECT_EQ(refused.evicted, kMaxEvictedRelations);
  EXPECT_EQ(refused.evicted_relation_count, kMaxEvictedRelations);
  EXPECT_EQ(many.table.size(), 16 - kMaxEvictedRelations);
  EXPECT_FALSE(find(many.table, LatestKey{70, 1, "b"}, e.get()));
  EXPECT_EQ(many.table.chunks_in_use(), chunks_of_entries(many.table));
}

TEST(LatestTable, KeysOfDifferentRelationsNeverMix) {
  OwnedTable t(100, 2);
  const std::string name = "same-key";
  const uint32_t ids[][2] = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {0x10000, 1}, {1, 0x10000}};
  int v = 0;
  for (auto &id : ids) {
    ASSERT_TRUE(merge_reading(t.table, LatestKey{id[0], id[1], name}, reading(v++, 0)).created);
  }
  v = 0;
  auto e = new_entry();
  for (auto &id : ids) {
    ASSERT_TRUE(find(t.table, LatestKey{id[0], id[1], name}, e.get()));
    EXPECT_EQ(e->db, id[0]);
    EXPECT_EQ(e->rel, id[1]);
    EXPECT_EQ(decoded(*e).winner().value, v++);
  }
  // A lookup with the right hash but the wrong relation finds nothing.
  const uint64_t h = latest_key_hash(LatestKey{1, 1, name});
  EXPECT_FALSE(t.table.find(h, LatestKey{1, 3, name}, e.get()));
  EXPECT_NE(latest_key_hash(LatestKey{1, 2, name}), latest_key_hash(LatestKey{2, 1, name}));
  EXPECT_NE(latest_key_hash(LatestKey{1, 2, "ab"}), latest_key_hash(LatestKey{1, 2, "ba"}));
}

TEST(LatestTable, KeysLongerThan255BytesRefused) {
  OwnedTable t(100, 2);
  const std::string k255(255, 'x');
  const std::string k256(256, 'x');
  EXPECT_TRUE(merge_reading(t.table, LatestKey{1, 1, k255}, reading(1, 0)).stored);
  const MergeOutcome o = merge_reading(t.table, LatestKey{1, 1, k256}, reading(1, 0));
  EXPECT_FALSE(o.stored);
  EXPECT_FALSE(o.created);
  auto e = new_entry();
  EXPECT_TRUE(find(t.table, LatestKey{1, 1, k255}, e.get()));
  EXPECT_EQ(e->key_bytes(), k255);
  EXPECT_FALSE(find(t.table, LatestKey{1, 1, k256}, e.get()));
  EXPECT_EQ(t.table.size(), 1u);
}

TEST(LatestTable, PartialCompleteGeneration) {
  OwnedTable t(100, 2);
  const LatestKey k{1, 1, "p"};
  const uint64_t h = latest_key_hash(k);
  const OwnedReading fresh = reading(5, 100);
  const MergeOutcome a = merge_reading(t.table, k, fresh, 1, /*partial=*/true);
  ASSERT_TRUE(a.created);
  EXPECT_TRUE(a.partial);
  auto e = new_entry();
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_TRUE(e->partial);
  // Existing entries keep their flag whatever create_partial says.
  EXPECT_TRUE(merge_reading(t.table, k, fresh, 1, false).partial);

  // Completing with a stale generation merges but keeps the flag.
  const Bytes history = test::merge(test::single(reading(1, 0)), test::single(reading(2, 90, "us")),
                                    kDefaultCandidates);
  const StateView hv = test::decode(history);
  MergeOutcome c = t.table.complete(h, k, hv, kDefaultCandidates, 2, e->generation + 1);
  EXPECT_TRUE(c.stored);
  EXPECT_TRUE(c.partial);
  EXPECT_FALSE(c.winner_changed);  // the fresh reading stays the winner
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_TRUE(e->partial);
  const Bytes expected = test::merge(test::single(fresh), history, kDefaultCandidates);
  EXPECT_EQ(state_of_entry(*e), expected);

  // The right generation clears it; merging is idempotent.
  c = t.table.complete(h, k, hv, kDefaultCandidates, 3, e->generation);
  EXPECT_FALSE(c.partial);
  EXPECT_FALSE(c.winner_changed);
  EXPECT_EQ(c.version, a.version);
  ASSERT_TRUE(find(t.table, k, e.get()));
  EXPECT_FALSE(e->partial);
  EXPECT_EQ(state_of_entry(*e), expected);

  // A history with a newer winner changes it.
  const Bytes newer = test::single(reading(9, 500));
  c = t.table.complete(h, k, test::decode(newer), kDefaultCandidates, 4, e->generation);
  EXPECT_TRUE(c.winner_changed);
  EXPECT_GT(c.version, a.version);

  // Missing key: complete creates a complete entry.
  const LatestKey m{1, 1, "missing"};
  c = t.table.complete(latest_key_hash(m), m, hv, kDefaultCandidates, 5, 12345);
  EXPECT_TRUE(c.created);
  EXPECT_FALSE(c.partial);
  ASSERT_TRUE(find(t.table, m, e.get()));
  EXPECT_FALSE(e->partial);
  EXPECT_EQ(state_of_entry(*e), history);

  // Evicted and recreated partial: the old generation no longer completes it.
  OwnedTable small(LatestTableLayout{1, 4, 2});  // 4 entries
  const LatestKey v{1, 1, "v"};
  const MergeOutcome first = merge_reading(small.table, v, fresh, 1, true);
  for (int i = 0; i < 20 && find(small.table, v, e.get()); ++i) {
    merge_reading(small.table, LatestKey{1, 1, "f" + std::to_string(i)}, fresh);
  }
  ASSERT_FALSE(find(small.table, v, e.get()));
  const MergeOutcome second = merge_reading(small.table, v, fresh, 1, true);
  ASSERT_TRUE(second.created);
  ASSERT_NE(second.generation, first.generation);
  c = small.table.complete(latest_key_hash(v), v, hv, kDefaultCandidates, 1, first.generation);
  EXPECT_TRUE(c.partial);
  c = small.table.complete(latest_key_hash(v), v, hv, kDefaultCandidates, 1, second.generation);
  EXPECT_FALSE(c.partial);
}

TEST(LatestTable, SaveAndRestore) {
  OwnedTable a(2000, 4);
  std::vector<LatestKey> keys;
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i)
    names.push_back("key-" + std::to_string(i) + std::string(i * 3, 'z'));
  for (int i = 0; i < 40; ++i) {
    const LatestKey k{static_cast<uint32_t>(1 + i % 2), static_cast<uint32_t>(7 + i % 3), names[i]};
    keys.push_back(k);
    const Bytes s = i % 5 == 0 ? wide_state(4, 30) : test::single(reading(i, i));
    merge_bytes(a.table, k, s, kDefaultCandidates, 1000 + i, i % 4 == 0);
    merge_reading(a.table, k, reading(i, i + 1));
  }
  // Save everything, partition by partition.
  std::vector<LatestEntry> saved;
  for (uint32_t p = 0; p < a.table.layout().partitions; ++p) {
    a.table.for_each(p, 0, 0, [&](const LatestEntry &e) { saved.push_back(e); });
  }
  ASSERT_EQ(saved.size(), 40u);
  uint64_t max_version = 0;
  for (const auto &e : saved) max_version = std::max(max_version, e.version);

  OwnedTable b(2000, 4);
  for (const auto &e : saved) {
    MergeOutcome o;
    ASSERT_TRUE(b.table.restore(e, &o));
    EXPECT_FALSE(o.evicted);
    EXPECT_EQ(o.version, e.version);
  }
  EXPECT_EQ(b.table.size(), 40u);
  auto got = new_entry();
  for (const auto &e : saved) {
    ASSERT_TRUE(find(b.table, LatestKey{e.db, e.rel, e.key_bytes()}, got.get()));
    EXPECT_EQ(got->version, e.version);
    EXPECT_EQ(got->arrival_us, e.arrival_us);
    EXPECT_EQ(got->partial, e.partial);
    EXPECT_EQ(state_of_entry(*got), state_of_entry(e));
  }
  // New versions are larger than every restored one.
  const MergeOutcome o = merge_reading(b.table, keys[3], reading(99, 10'000));
  EXPECT_TRUE(o.winner_changed);
  EXPECT_GT(o.version, max_version);
  // Invalid entries are refused.
  LatestEntry bad = saved[0];
  bad.state[0] = 99;
  EXPECT_FALSE(b.table.restore(bad));
  bad = saved[0];
  bad.state_size = 2;
  EXPECT_FALSE(b.table.restore(bad));
}

TEST(LatestTable, ForEachAndEraseRelation) {
  OwnedTable t(400, 4);
  std::vector<std::string> names;
  for (int i = 0; i < 120; ++i) names.push_back("key-" + std::to_string(i));
  for (int i = 0; i < 120; ++i) {
    const LatestKey k{static_cast<uint32_t>(1 + i % 2), static_cast<uint32_t>(10 + i % 3),
                      names[i]};
    ASSERT_TRUE(merge_reading(t.table, k, reading(i, 0)).stored);
  }
  std::map<std::pair<uint32_t, uint32_t>, int> counts;
  size_t all = 0;
  for (uint32_t p = 0; p < 4; ++p) {
    t.table.for_each(p, 0, 0, [&](const LatestEntry &e) {
      ++counts[{e.db, e.rel}];
      ++all;
    });
  }
  EXPECT_EQ(all, 120u);
  EXPECT_EQ(counts.size(), 6u);
  for (auto &[id, n] : counts) EXPECT_EQ(n, 20) << id.first << "/" << id.second;

  // Function-pointer form, one relation.
  size_t one = 0;
  for (uint32_t p = 0; p < 4; ++p) {
    t.table.for_each(
        p, 1, 10,
        [](const LatestEntry &e, void *c) {
          EXPECT_EQ(e.db, 1u);
          EXPECT_EQ(e.rel, 10u);
          ++*static_cast<size_t *>(c);
        },
        &one);
  }
  EXPECT_EQ(one, 20u);

  size_t erased = 0;
  for (uint32_t p = 0; p < 4; ++p) erased += t.table.erase_relation(p, 1, 10);
  EXPECT_EQ(erased, 20u);
  EXPECT_EQ(t.table.size(), 100u);
  auto e = new_entry();
  for (int i = 0; i < 120; ++i) {
    const LatestKey k{static_cast<uint32_t>(1 + i % 2), static_cast<uint32_t>(10 + i % 3),
                      names[i]};
    EXPECT_EQ(find(t.table, k, e.get()), !(k.db == 1 && k.rel == 10)) << i;
  }
  EXPECT_EQ(t.table.erase_relation(99, 1, 11), 0u);  // out-of-range partition
}

TEST(LatestTable, AttachSeesTheSameTable) {
  OwnedTable t(100, 8);
  const LatestKey k{1, 1, "shared"};
  ASSERT_TRUE(merge_reading(t.table, k, reading(1, 0)).created);
  LatestTable other = LatestTable::attach(t.memory.get());
  ASSERT_TRUE(other.attached());
  EXPECT_EQ(other.layout().partitions, 8u);
  auto e = new_entry();
  EXPECT_TRUE(find(other, k, e.get()));
  EXPECT_FALSE(merge_reading(other, k, reading(1, 0)).created);
  EXPECT_EQ(t.table.size(), 1u);
  // Unformatted memory is not attached.
  std::vector<uint64_t> junk(64, 0);
  EXPECT_FALSE(LatestTable::attach(junk.data()).attached());
  EXPECT_FALSE(LatestTable().attached());
}

TEST(LatestTable, HashSpreadsOverPartitions) {
  OwnedTable t(100, 128);
  std::vector<int> per(128, 0);
  std::set<uint64_t> hashes;
  for (int i = 0; i < 12800; ++i) {
    const std::string key = "device-" + std::to_string(i);
    const uint64_t h = latest_key_hash(LatestKey{1, 16384, key});
    hashes.insert(h);
    ++per[t.table.partition_of(h)];
  }
  EXPECT_EQ(hashes.size(), 12800u);
  for (int n : per) {
    EXPECT_GT(n, 50);
    EXPECT_LT(n, 150);
  }
}

// ---- property test: random merges / erasures against a model ---------------

struct ModelKey {
  uint32_t db, rel;
  std::string key;
  bool operator<(const ModelKey &o) const {
    return std::tie(db, rel, key) < std::tie(o.db, o.rel, o.key);
  }
};

struct Op {
  int kind;  // 0..15 merge a reading, 16..18 merge a wide state, 19 erase_relation
  int key;
  int origin;
  int ms;
  int value;
  int max_candidates;
};

RC_GTEST_PROP(LatestTable, PropertyMatchesModelUnderEvictionAndErase, ()) {
  {
    const uint32_t partitions = *rc::gen::element(1u, 2u, 4u);
    const uint32_t slots = *rc::gen::inRange<uint32_t>(2, 40);
    const uint32_t chunks = *rc::gen::inRange<uint32_t>(2, 24);
    const int base_mc = *rc::gen::element(1, 4, 15);
    OwnedTable t(LatestTableLayout{partitions, slots, chunks});

    // Keys: 3 relations x 10 names, some long enough to need chunks.
    std::vector<ModelKey> universe;
    for (uint32_t rel = 0; rel < 3; ++rel) {
      for (int i = 0; i < 10; ++i) {
        std::string name = "k" + std::to_string(i);
        if (i >= 8) name.resize(i == 9 ? 200 : 60, '#');
        universe.push_back({1 + rel / 2, 100 + rel, name});
      }
    }
    // Origins: some with long names, so states outgrow their slots (and
    // every chunk).
    std::vector<std::pair<std::string, std::string>> origins;
    for (int i = 0; i < 16; ++i) {
      std::string region = "r" + std::to_string(i);
      std::string device = i % 3 ? "d" : "";
      if (i >= 6) {
        region.resize(63, 'r');
        device.resize(63, 'd');
      }
      origins.emplace_back(region, device);
    }

    const auto ops = *rc::gen::container<std::vector<Op>>(rc::gen::build<Op>(
        rc::gen::set(&Op::kind, rc::gen::inRange(0, 20)),
        // Half the merges go to a few keys (long ones among them), so their
        // states grow into chunks and past them.
        rc::gen::set(&Op::key, rc::gen::weightedOneOf<int>({{2, rc::gen::inRange(0, 30)},
                                                            {3, rc::gen::element(0, 9, 29)}})),
        rc::gen::set(&Op::origin, rc::gen::inRange(0, 16)),
        rc::gen::set(&Op::ms, rc::gen::inRange(0, 400)),
        rc::gen::set(&Op::value, rc::gen::inRange(0, 4)),
        rc::gen::set(&Op::max_candidates,
                     rc::gen::element(base_mc, base_mc, base_mc, base_mc, 0, 15))));

    std::map<ModelKey, Bytes> model;  // keys the table must hold, with their state
    auto e = new_entry();
    for (const Op &op : ops) {
      std::set<ModelKey> expect_missing;
      MergeOutcome o{};
      if (op.kind < 19) {
        const ModelKey &mk = universe[op.key];
        const LatestKey k{mk.db, mk.rel, mk.key};
        const auto &[region, device] = origins[op.origin];
        // Kinds 16..18: a state of 3..8 origins with 63-byte names (~450..1170
        // bytes), so entries outgrow their slots; otherwise one reading.
        const Bytes in =
            op.kind >= 16
                ? wide_state(3 + op.origin % 6, 63, kMaxCandidates, static_cast<uint64_t>(op.ms))
                : test::single(reading(op.value, op.ms * 10, region, device, 100));
        o = merge_bytes(t.table, k, in, op.max_candidates);
        auto it = model.find(mk);
        RC_ASSERT(o.created == (it == model.end() && o.stored));
        Bytes expected = it == model.end() ? test::merge(in, in, op.max_candidates)
                                           : test::merge(it->second, in, op.max_candidates);
        if (o.stored) {
          model[mk] = expected;
        } else {
          // Fewer than kMaxEvictedRelations relations: room is always made.
          RC_ASSERT(!t.table.fits(mk.key.size(), expected.size()));
          model.erase(mk);
        }
      } else {
        const ModelKey &mk = universe[op.key];
        size_t erased = 0;
        for (uint32_t p = 0; p < t.table.layout().partitions; ++p) {
          erased += t.table.erase_relation(p, mk.db, mk.rel);
        }
        size_t expected = 0;
        for (auto it = model.begin(); it != model.end();) {
          if (it->first.db == mk.db && it->first.rel == mk.rel) {
            ++expected;
            it = model.erase(it);
          } else {
            ++it;
          }
        }
        RC_ASSERT(erased == expected);
      }
      // Every key the model holds is found with exactly its state, but the
      // keys evicted (of the relations reported) are gone; nothing else is
      // found.
      int vanished = 0;
      for (const ModelKey &mk : universe) {
        const LatestKey k{mk.db, mk.rel, mk.key};
        const bool found = find(t.table, k, e.get());
        auto it = model.find(mk);
        if (it == model.end()) {
          RC_ASSERT(!found);
          continue;
        }
        if (!found) {
          bool reported = false;
          for (uint32_t r = 0; r < o.evicted_relation_count; ++r) {
            reported |= o.evicted_relations[r].db == mk.db && o.evicted_relations[r].rel == mk.rel;
          }
          RC_ASSERT(reported);
          ++vanished;
          model.erase(it);
          continue;
        }
        RC_ASSERT(state_of_entry(*e) == it->second);
        RC_ASSERT(e->db == mk.db && e->rel == mk.rel && e->key_bytes() == mk.key);
      }
      RC_ASSERT(vanished == static_cast<int>(o.evicted));
      RC_ASSERT(t.table.size() == model.size());
      RC_ASSERT(t.table.chunks_in_use() == chunks_of_entries(t.table));
    }
  }
}

}  // namespace
}  // namespace edgestate::core
