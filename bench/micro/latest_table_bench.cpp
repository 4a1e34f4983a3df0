// The latest index's hot paths, as the glue calls them (hash included, no
// locks): merging a one-origin reading into an existing key, and find. The
// table holds 100k keys over 128 partitions (the default plan), keys of 10-12
// bytes, one-origin states with short names: every entry in its slot alone.
// keys:1000 cycles over 1000 of them (cache-resident), keys:100000 over all
// (each call misses the cache).
#include <benchmark/benchmark.h>

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/hlc.h"
#include "core/latest_table.h"
#include "core/state_codec.h"

namespace edgestate::core {
namespace {

constexpr uint64_t kBaseMs = 1'795'674'040'123;
constexpr size_t kKeys = 100'000;

struct Fixture {
  struct Free {
    void operator()(unsigned char *p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  // An eighth more than kKeys: keys spread unevenly over the partitions, and
  // at exactly kKeys the fullest ones would evict (these are hit paths).
  LatestTableLayout layout = plan_latest_table(kKeys + kKeys / 8, 128);
  std::unique_ptr<unsigned char, Free> memory{static_cast<unsigned char *>(
      ::operator new (latest_table_bytes(layout), std::align_val_t{64}))};
  LatestTable table = LatestTable::create(memory.get(), layout);
  std::vector<std::string> names;

  Fixture() {
    names.reserve(kKeys);
    for (size_t i = 0; i < kKeys; ++i) names.push_back("sensor-" + std::to_string(i));
    for (size_t i = 0; i < kKeys; ++i) {
      StateView s;
      state_of(Reading(20.0, hlc_make(kBaseMs, 0), 50, "eu-west", "gw-7"), &s);
      const LatestKey k{1, 16384, names[i]};
      table.merge(latest_key_hash(k), k, s, kDefaultCandidates, 0, false);
    }
  }
};

Fixture &fixture() {
  static Fixture f;
  return f;
}

// A newer reading each time: the winner changes and the slot is rewritten.
void BM_LatestMergeHitNewer(benchmark::State &st) {
  Fixture &f = fixture();
  const size_t active = static_cast<size_t>(st.range(0));
  uint64_t tick = 1;
  size_t i = 0;
  for (auto _ : st) {
    StateView s;
    state_of(Reading(20.0 + (tick & 7), hlc_make(kBaseMs + tick, 0), 50, "eu-west", "gw-7"), &s);
    ++tick;
    const LatestKey k{1, 16384, f.names[i]};
    if (++i == active) i = 0;
    const MergeOutcome o = f.table.merge(latest_key_hash(k), k, s, kDefaultCandidates, 0, false);
    benchmark::DoNotOptimize(o.version);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_LatestMergeHitNewer)->ArgName("keys")->Arg(1000)->Arg(kKeys);

// An older reading (a replay): the state does not change, nothing is written.
void BM_LatestMergeHitOlder(benchmark::State &st) {
  Fixture &f = fixture();
  const size_t active = static_cast<size_t>(st.range(0));
  StateView s;
  state_of(Reading(19.0, hlc_make(kBaseMs - 1000, 0), 50, "eu-west", "gw-7"), &s);
  size_t i = 0;
  for (auto _ : st) {
    const LatestKey k{1, 16384, f.names[i]};
    if (++i == active) i = 0;
    const MergeOutcome o = f.table.merge(latest_key_hash(k), k, s, kDefaultCandidates, 0, false);
    benchmark::DoNotOptimize(o.version);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_LatestMergeHitOlder)->ArgName("keys")->Arg(1000)->Arg(kKeys);

void BM_LatestFind(benchmark::State &st) {
  Fixture &f = fixture();
  const size_t active = static_cast<size_t>(st.range(0));
  auto entry = std::make_unique<LatestEntry>();
  size_t i = 0;
  for (auto _ : st) {
    const LatestKey k{1, 16384, f.names[i]};
    if (++i == active) i = 0;
    benchmark::DoNotOptimize(f.table.find(latest_key_hash(k), k, entry.get()));
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_LatestFind)->ArgName("keys")->Arg(1000)->Arg(kKeys);

void BM_LatestFindMiss(benchmark::State &st) {
  Fixture &f = fixture();
  const size_t active = static_cast<size_t>(st.range(0));
  auto entry = std::make_unique<LatestEntry>();
  size_t i = 0;
  for (auto _ : st) {
    const LatestKey k{2, 16384, f.names[i]};
    if (++i == active) i = 0;
    benchmark::DoNotOptimize(f.table.find(latest_key_hash(k), k, entry.get()));
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_LatestFindMiss)->ArgName("keys")->Arg(1000)->Arg(kKeys);

void BM_LatestKeyHash(benchmark::State &st) {
  Fixture &f = fixture();
  const size_t active = static_cast<size_t>(st.range(0));
  size_t i = 0;
  for (auto _ : st) {
    const LatestKey k{1, 16384, f.names[i]};
    if (++i == active) i = 0;
    benchmark::DoNotOptimize(latest_key_hash(k));
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_LatestKeyHash)->ArgName("keys")->Arg(1000)->Arg(kKeys);

}  // namespace
}  // namespace edgestate::core
