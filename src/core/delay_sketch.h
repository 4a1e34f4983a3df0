// Bounded-memory quantile sketch of non-negative durations in microseconds
// (arrival delays, clock-skew magnitudes), used to pick the lateness a
// dashboard window must lag so that it is final with probability p.
//
// One sketch lives in PostgreSQL shared memory per (table, region), so it is a
// plain, trivially copyable struct with no pointers and a fixed size (< 2 KiB);
// every operation is allocation-free. The glue holds a lock around calls. A
// value-initialised (all-zero) DelaySketch is a valid empty sketch with the
// default window.
//
// Buckets (log-linear, DDSketch style, base gamma = 2^(1/15) ~ 1.0473):
//   - indexes 0..21 hold the exact integers 0..21 µs;
//   - index i in 22..500 holds the integers in (E[i-1], E[i]] with
//     E[i] = floor(2^((i + 45) / 15)), so 15 buckets per octave, from 22 µs up
//     to E[500] = 86,581,115,277 µs (~1.002 days). Larger values clamp into the
//     last bucket.
//   Every bucket's width is at most 4.73% of its lower edge. A quantile is
//   reported as the upper edge of the bucket holding the true order statistic,
//   so the estimate is never below the true quantile and at most 4.73% above it
//   (exact below 22 µs); read as a DDSketch midpoint this is ±2.3% accuracy.
//   The bucket index is O(1): one log2 plus an integer fix-up against a static
//   edge table.
//
// Negative inputs (a reading stamped ahead of its commit: a fast clock) are
// recorded as 0 µs and also counted in a separate "negative" count.
//
// Adaptation: two generations of W observations each (W = the window given to
// init, 1..65535, default 10,000). Observations go into the current generation;
// when it holds exactly W it becomes the previous generation (the old previous
// one is dropped) and a new, empty current generation starts. Quantiles and
// counts cover both generations, i.e. the most recent W..2W-1 observations once
// the first W have been seen. Hence after at most 2W observations from a new
// distribution, nothing from the old one is left. Since no generation ever holds
// more than W <= 65535 observations, uint16 counts are exact (this is what keeps
// two generations of 501 buckets under 2 KiB).
//
// Record and merge behave as if the observations were recorded one at a time:
// a batch that crosses a generation boundary is split there. Merging replays
// the source's previous generation, then its current one. When no generation
// boundary is crossed, merging is exactly equal to recording the union; when
// one is, the totals are still exact and each side of the boundary gets a
// proportional share of every bucket (not the smallest values first, which
// would skew a large batch's surviving quantiles upwards). Record is O(1) (a
// rotation — copying one 1 KiB generation — happens once per W
// observations); merge is O(number of buckets) per boundary crossed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace edgestate::core {

constexpr size_t kDelaySketchBuckets = 501;
constexpr int64_t kDelaySketchExactMax = 21;               // buckets 0..21 are exact
constexpr int64_t kDelaySketchMaxMicros = 86'581'115'277;  // upper edge of the last bucket
constexpr uint32_t kDelaySketchDefaultWindow = 10'000;
constexpr uint32_t kDelaySketchMaxWindow = 65'535;

struct DelaySketch {
  uint64_t recorded;           // lifetime observations fed in (incl. dropped generations)
  uint32_t window;             // W; 0 means kDelaySketchDefaultWindow
  uint32_t rotations;          // generation rotations so far (wraps)
  uint32_t current_total;      // observations in current[] (< W after every call)
  uint32_t previous_total;     // observations in previous[] (0 or W)
  uint32_t current_negative;   // of current_total, recorded from negative inputs
  uint32_t previous_negative;  // of previous_total, recorded from negative inputs
  uint16_t current[kDelaySketchBuckets];
  uint16_t previous[kDelaySketchBuckets];
  uint16_t reserved[2];  // explicit padding, always zero
};

static_assert(sizeof(DelaySketch) <= 2048, "DelaySketch must fit in 2 KiB of shared memory");
static_assert(std::is_trivially_copyable_v<DelaySketch>);
static_assert(std::is_standard_layout_v<DelaySketch>);
static_assert(std::has_unique_object_representations_v<DelaySketch>,
              "no implicit padding: sketches compare with memcmp");

// Empties the sketch. window_observations is W (0 = default, clamped to
// 1..kDelaySketchMaxWindow).
void delay_sketch_init(DelaySketch *sketch, uint32_t window_observations);

// Records count observations of micros (negative -> 0 and counted as negative,
// above kDelaySketchMaxMicros -> last bucket). count == 0 is a no-op.
void delay_sketch_record(DelaySketch *sketch, int64_t micros, uint32_t count = 1);

// Replays the active observations of from (e.g. a backend-local sketch built
// during a transaction) into into, under into's window. from's window does
// not matter. into and from must not be the same object.
void delay_sketch_merge(DelaySketch *into, const DelaySketch &from);

// Observations in the active generations (previous + current).
uint64_t delay_sketch_count(const DelaySketch &sketch);

// Of those, how many were recorded from negative inputs.
uint64_t delay_sketch_negative_count(const DelaySketch &sketch);

// The upper edge v of the bucket holding the ceil(q * count)-th smallest active
// observation, so at least a fraction q of them are <= v; 0 when empty.
// q in (0, 1]; q <= 0 (or NaN) is treated as the minimum, q >= 1 as the maximum.
int64_t delay_sketch_quantile(const DelaySketch &sketch, double q);

// Bucket layout, exposed for tests and diagnostics.
size_t delay_sketch_bucket_of(int64_t micros);     // index in [0, kDelaySketchBuckets)
int64_t delay_sketch_bucket_upper(size_t bucket);  // largest value mapped to bucket
                                                   // (kDelaySketchMaxMicros for the last)

}  // namespace edgestate::core
