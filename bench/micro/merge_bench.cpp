// Merge throughput as the SQL merge() sees it: decode both inputs, merge,
// encode the result. Inputs are chosen so that the merged state has 2 or 4
// conflict candidates.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/hlc.h"
#include "core/merge.h"
#include "core/state_codec.h"

namespace edgestate::core {
namespace {

constexpr uint64_t kBaseMs = 1'795'674'040'123;
const char *const kRegions[] = {"eu-west", "us-east",  "ap-south",
                                "sa-east", "af-south", "me-central"};

using Bytes = std::vector<uint8_t>;

Bytes encode(const StateView &state) {
  Bytes out(encoded_size(state));
  encode_state(state, out.data(), out.size());
  return out;
}

// Two states over `origins` regions, alternating readings between them, all
// within one 50 ms window, so the merge has origins - 1 candidates.
std::pair<Bytes, Bytes> make_inputs(int origins) {
  StateView a_view, b_view;
  Bytes a, b;
  for (int i = 0; i < origins; ++i) {
    const Reading r(20.0 + i, hlc_make(kBaseMs + 5 * static_cast<uint64_t>(i), 0), 50, kRegions[i],
                    "gw-7");
    StateView single, merged;
    state_of(r, &single);
    Bytes &target = i % 2 ? b : a;
    if (target.empty()) {
      target = encode(single);
      continue;
    }
    StateView prior;
    decode_state(target.data(), target.size(), &prior);
    merge_states(prior, single, kDefaultCandidates, &merged);
    target = encode(merged);
  }
  return {a, b};
}

void BM_Merge(benchmark::State &st) {
  const auto [a, b] = make_inputs(static_cast<int>(st.range(0)) + 1);
  uint8_t out[kMaxEncodedStateBytes];
  for (auto _ : st) {
    StateView va, vb, merged;
    decode_state(a.data(), a.size(), &va);
    decode_state(b.data(), b.size(), &vb);
    merge_states(va, vb, kDefaultCandidates, &merged);
    benchmark::DoNotOptimize(encode_state(merged, out, sizeof out));
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Merge)->ArgName("candidates")->Arg(2)->Arg(4);

// The three steps of BM_Merge on their own, to see where the time goes.
void BM_DecodeBoth(benchmark::State &st) {
  const auto [a, b] = make_inputs(static_cast<int>(st.range(0)) + 1);
  for (auto _ : st) {
    StateView va, vb;
    benchmark::DoNotOptimize(decode_state(a.data(), a.size(), &va));
    benchmark::DoNotOptimize(decode_state(b.data(), b.size(), &vb));
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_DecodeBoth)->ArgName("candidates")->Arg(2)->Arg(4);

void BM_MergeDecoded(benchmark::State &st) {
  const auto [a, b] = make_inputs(static_cast<int>(st.range(0)) + 1);
  StateView va, vb;
  decode_state(a.data(), a.size(), &va);
  decode_state(b.data(), b.size(), &vb);
  for (auto _ : st) {
    StateView merged;
    benchmark::DoNotOptimize(merge_states(va, vb, kDefaultCandidates, &merged));
    benchmark::DoNotOptimize(merged);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_MergeDecoded)->ArgName("candidates")->Arg(2)->Arg(4);

void BM_Encode(benchmark::State &st) {
  const auto [a, b] = make_inputs(static_cast<int>(st.range(0)) + 1);
  StateView va, vb, merged;
  decode_state(a.data(), a.size(), &va);
  decode_state(b.data(), b.size(), &vb);
  merge_states(va, vb, kDefaultCandidates, &merged);
  uint8_t out[kMaxEncodedStateBytes];
  for (auto _ : st) {
    benchmark::DoNotOptimize(encode_state(merged, out, sizeof out));
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Encode)->ArgName("candidates")->Arg(2)->Arg(4);

void BM_HlcTick(benchmark::State &st) {
  uint64_t clock = hlc_make(kBaseMs, 0);
  uint64_t wall = kBaseMs;
  for (auto _ : st) {
    // Advance the wall clock every 8 ticks: both branches of the rule run.
    wall += (clock & 7) == 0;
    clock = hlc_tick(clock, wall).value;
    benchmark::DoNotOptimize(clock);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_HlcTick);

}  // namespace
}  // namespace edgestate::core
