// Parsing the timestamp text a COPY file carries: hlc_parse_iso runs once per
// loaded reading, so its cost is part of every sensorstate COPY (and of a
// plain heap COPY into the same column types).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/hlc.h"

namespace edgestate::core {
namespace {

void BM_HlcParseIso(benchmark::State &st) {
  // Distinct texts, as in a file, so that no branch is trained on one value.
  std::vector<std::string> texts;
  for (int i = 0; i < 1024; ++i) {
    char text[40];
    std::snprintf(text, sizeof text, "2026-%02d-%02d %02d:%02d:%02d.%03d+00", 1 + i % 12,
                  1 + i % 28, i % 24, i % 60, (i * 7) % 60, i % 1000);
    texts.emplace_back(text);
  }
  size_t i = 0;
  for (auto _ : st) {
    uint64_t value;
    benchmark::DoNotOptimize(hlc_parse_iso(texts[i++ & 1023], &value));
    benchmark::DoNotOptimize(value);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_HlcParseIso);

}  // namespace
}  // namespace edgestate::core
