// Tests of the arrival-delay quantile sketch (core/delay_sketch.h): bucket
// layout, quantiles against a sorted reference for several distributions,
// adaptation after a distribution shift, merge versus recording the union,
// empty/huge/negative inputs and batch records.
#include "core/delay_sketch.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace edgestate::core {
namespace {

bool same(const DelaySketch &a, const DelaySketch &b) { return std::memcmp(&a, &b, sizeof a) == 0; }

DelaySketch make(uint32_t window) {
  DelaySketch sketch;
  delay_sketch_init(&sketch, window);
  return sketch;
}

DelaySketch sketch_of(const std::vector<int64_t> &values, uint32_t window) {
  DelaySketch sketch = make(window);
  for (int64_t v : values) delay_sketch_record(&sketch, v);
  return sketch;
}

// The ceil(q * n)-th smallest value: the definition the sketch estimates.
int64_t true_quantile(std::vector<int64_t> values, double q) {
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(q * values.size() - 1e-9));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

int64_t clamp_micros(double v) {
  if (v < 0) return 0;
  return static_cast<int64_t>(std::llround(v));
}

TEST(DelaySketchLayout, Size) {
  EXPECT_LE(sizeof(DelaySketch), 2048u);
  EXPECT_EQ(sizeof(DelaySketch), 2040u);
}

TEST(DelaySketchLayout, EdgesAreIncreasingAndNarrow) {
  EXPECT_EQ(delay_sketch_bucket_upper(0), 0);
  EXPECT_EQ(delay_sketch_bucket_upper(kDelaySketchBuckets - 1), kDelaySketchMaxMicros);
  EXPECT_GE(kDelaySketchMaxMicros, int64_t{86'400'000'000});  // at least a day
  for (size_t i = 1; i < kDelaySketchBuckets; ++i) {
    const int64_t lo = delay_sketch_bucket_upper(i - 1);
    const int64_t hi = delay_sketch_bucket_upper(i);
    ASSERT_LT(lo, hi) << i;
    // Worst overestimate: true value lo + 1 reported as hi.
    ASSERT_LE(static_cast<double>(hi - (lo + 1)) / static_cast<double>(lo + 1), 0.0473) << i;
    // Both edges map correctly.
    ASSERT_EQ(delay_sketch_bucket_of(hi), i);
    ASSERT_EQ(delay_sketch_bucket_of(lo + 1), i);
    ASSERT_EQ(delay_sketch_bucket_of(lo), i - 1);
  }
}

TEST(DelaySketchLayout, SmallValuesAreExact) {
  for (int64_t v = 0; v <= kDelaySketchExactMax; ++v) {
    EXPECT_EQ(delay_sketch_bucket_of(v), static_cast<size_t>(v));
    EXPECT_EQ(delay_sketch_bucket_upper(static_cast<size_t>(v)), v);
  }
}

RC_GTEST_PROP(DelaySketchLayout, EveryValueLiesInItsBucket, ()) {
  const int shift = *rc::gen::inRange(0, 40);
  const int64_t v = *rc::gen::inRange<int64_t>(0, int64_t{1} << shift);
  const size_t b = delay_sketch_bucket_of(v);
  RC_ASSERT(b < kDelaySketchBuckets);
  if (v <= kDelaySketchMaxMicros) RC_ASSERT(v <= delay_sketch_bucket_upper(b));
  if (b > 0) RC_ASSERT(v > delay_sketch_bucket_upper(b - 1));
}

TEST(DelaySketchLayout, BucketIndexIsMonotone) {
  size_t last = 0;
  for (int64_t v = 0; v < 2'000'000; ++v) {
    const size_t b = delay_sketch_bucket_of(v);
    ASSERT_GE(b, last) << v;
    ASSERT_LE(b, last + 1) << v;
    last = b;
  }
}

TEST(DelaySketchEmpty, ZeroCountAndQuantile) {
  const DelaySketch sketch = make(100);
  EXPECT_EQ(delay_sketch_count(sketch), 0u);
  EXPECT_EQ(delay_sketch_negative_count(sketch), 0u);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.5), 0);
  EXPECT_EQ(delay_sketch_quantile(sketch, 1.0), 0);
}

TEST(DelaySketchEmpty, ValueInitialisedSketchUsesDefaultWindow) {
  DelaySketch sketch{};
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.99), 0);
  for (uint32_t i = 0; i < kDelaySketchDefaultWindow + 5; ++i) delay_sketch_record(&sketch, 7);
  EXPECT_EQ(sketch.previous_total, kDelaySketchDefaultWindow);
  EXPECT_EQ(sketch.current_total, 5u);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.5), 7);
}

TEST(DelaySketchInit, WindowIsClamped) {
  EXPECT_EQ(make(0).window, kDelaySketchDefaultWindow);
  EXPECT_EQ(make(1).window, 1u);
  EXPECT_EQ(make(1'000'000).window, kDelaySketchMaxWindow);
}

TEST(DelaySketchRecord, SingleValues) {
  DelaySketch sketch = make(100);
  delay_sketch_record(&sketch, 5);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.5), 5);
  delay_sketch_record(&sketch, 1'000'000);
  EXPECT_EQ(delay_sketch_count(sketch), 2u);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.5), 5);
  const int64_t top = delay_sketch_quantile(sketch, 1.0);
  EXPECT_GE(top, 1'000'000);
  EXPECT_LE(top, 1'047'300);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.0), 5);  // minimum
  EXPECT_EQ(delay_sketch_quantile(sketch, std::nan("")), 5);
  EXPECT_EQ(delay_sketch_quantile(sketch, 7.0), top);
}

TEST(DelaySketchRecord, HugeValuesClampIntoLastBucket) {
  DelaySketch sketch = make(100);
  delay_sketch_record(&sketch, std::numeric_limits<int64_t>::max());
  delay_sketch_record(&sketch, kDelaySketchMaxMicros + 1);
  delay_sketch_record(&sketch, int64_t{365} * 86'400'000'000);
  EXPECT_EQ(delay_sketch_count(sketch), 3u);
  EXPECT_EQ(sketch.current[kDelaySketchBuckets - 1], 3);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.01), kDelaySketchMaxMicros);
}

TEST(DelaySketchRecord, NegativeValuesCountAsZeroAndNegative) {
  DelaySketch sketch = make(100);
  delay_sketch_record(&sketch, -1);
  delay_sketch_record(&sketch, std::numeric_limits<int64_t>::min(), 2);
  delay_sketch_record(&sketch, 0);
  delay_sketch_record(&sketch, 50'000);
  EXPECT_EQ(delay_sketch_count(sketch), 5u);
  EXPECT_EQ(delay_sketch_negative_count(sketch), 3u);
  EXPECT_EQ(sketch.current[0], 4);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.8), 0);
  EXPECT_GE(delay_sketch_quantile(sketch, 1.0), 50'000);
}

TEST(DelaySketchRecord, CountZeroIsNoOp) {
  DelaySketch sketch = make(10);
  const DelaySketch before = sketch;
  delay_sketch_record(&sketch, 12, 0);
  EXPECT_TRUE(same(sketch, before));
}

TEST(DelaySketchRecord, BatchEqualsOneAtATime) {
  for (uint32_t window : {1u, 3u, 10u, 100u}) {
    for (uint32_t count : {1u, 2u, 9u, 10u, 11u, 29u, 30u, 31u, 250u}) {
      DelaySketch batch = make(window);
      DelaySketch single = make(window);
      delay_sketch_record(&batch, 3, 7);
      delay_sketch_record(&single, 3, 7);
      delay_sketch_record(&batch, -4, count);
      delay_sketch_record(&batch, 123'456, count);
      for (uint32_t i = 0; i < count; ++i) delay_sketch_record(&single, -4);
      for (uint32_t i = 0; i < count; ++i) delay_sketch_record(&single, 123'456);
      EXPECT_TRUE(same(batch, single)) << window << " " << count;
    }
  }
}

TEST(DelaySketchRecord, HugeBatchIsBoundedAndKeepsTheTail) {
  DelaySketch sketch = make(10);
  delay_sketch_record(&sketch, 1, 4);
  delay_sketch_record(&sketch, 2'000, std::numeric_limits<uint32_t>::max());
  // 4 + (2^32 - 1) = 4294967299 observations: the last 10 + (...9 % 10) survive.
  EXPECT_EQ(sketch.previous_total, 10u);
  EXPECT_EQ(sketch.current_total, 9u);
  EXPECT_EQ(delay_sketch_quantile(sketch, 0.01),
            delay_sketch_bucket_upper(delay_sketch_bucket_of(2'000)));
  EXPECT_EQ(sketch.recorded, uint64_t{4} + std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(sketch.rotations, 429'496'729u);
}

// --- Accuracy against a sorted reference --------------------------------------

void expect_accurate(const std::vector<int64_t> &values, uint32_t window, const char *name) {
  const DelaySketch sketch = sketch_of(values, window);
  ASSERT_EQ(delay_sketch_count(sketch), values.size());
  for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
    const int64_t truth = true_quantile(values, q);
    const int64_t estimate = delay_sketch_quantile(sketch, q);
    // Never below the truth; exactly the upper edge of the truth's bucket.
    EXPECT_GE(estimate, truth) << name << " q=" << q;
    EXPECT_EQ(estimate, delay_sketch_bucket_upper(delay_sketch_bucket_of(truth)))
        << name << " q=" << q;
    const double relative =
        truth == 0 ? static_cast<double>(estimate)
                   : static_cast<double>(estimate - truth) / static_cast<double>(truth);
    EXPECT_LE(relative, 0.05) << name << " q=" << q << " truth=" << truth
                              << " estimate=" << estimate;
  }
}

TEST(DelaySketchAccuracy, KnownDistributions) {
  std::mt19937_64 rng(20251126);
  constexpr size_t kN = 50'000;
  std::vector<int64_t> uniform, exponential, lognormal, bimodal, tiny;
  std::uniform_real_distribution<double> u(0, 5e6);
  std::exponential_distribution<double> e(1.0 / 100'000);  // mean 100 ms
  std::lognormal_distribution<double> ln(std::log(50'000.0), 1.5);
  std::normal_distribution<double> fast(20'000, 5'000), slow(3e6, 5e5);
  std::bernoulli_distribution pick_slow(0.3);
  std::exponential_distribution<double> small(1.0 / 15);  // mostly exact buckets
  for (size_t i = 0; i < kN; ++i) {
    uniform.push_back(clamp_micros(u(rng)));
    exponential.push_back(clamp_micros(e(rng)));
    lognormal.push_back(clamp_micros(ln(rng)));
    bimodal.push_back(clamp_micros(pick_slow(rng) ? slow(rng) : fast(rng)));
    tiny.push_back(clamp_micros(small(rng)));
  }
  expect_accurate(uniform, kDelaySketchMaxWindow, "uniform");
  expect_accurate(exponential, kDelaySketchMaxWindow, "exponential");
  expect_accurate(lognormal, kDelaySketchMaxWindow, "lognormal");
  expect_accurate(bimodal, kDelaySketchMaxWindow, "bimodal");
  expect_accurate(tiny, kDelaySketchMaxWindow, "tiny");
  // Two generations (25,001 + 24,999).
  expect_accurate(exponential, kN / 2 + 1, "exponential, two generations");
}

RC_GTEST_PROP(DelaySketchAccuracy, NeverBelowTruthAndWithinBucket, ()) {
  const auto values = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(0, 100'000'000'000)));
  const double q = *rc::gen::inRange(1, 1001) / 1000.0;
  const DelaySketch sketch = sketch_of(values, kDelaySketchMaxWindow);
  const int64_t truth = std::min(true_quantile(values, q), kDelaySketchMaxMicros);
  const int64_t estimate = delay_sketch_quantile(sketch, q);
  RC_ASSERT(estimate >= truth);
  RC_ASSERT(estimate == delay_sketch_bucket_upper(delay_sketch_bucket_of(truth)));
}

RC_GTEST_PROP(DelaySketchAccuracy, QuantileIsMonotoneInQ, ()) {
  const auto values =
      *rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(-1000, 10'000'000));
  const DelaySketch sketch = sketch_of(values, 7);
  int64_t last = 0;
  for (int i = 1; i <= 100; ++i) {
    const int64_t v = delay_sketch_quantile(sketch, i / 100.0);
    RC_ASSERT(v >= last);
    last = v;
  }
}

// --- Adaptation ------------------------------------------------------------------

std::vector<int64_t> exponential_sample(std::mt19937_64 &rng, double mean, size_t n) {
  std::exponential_distribution<double> dist(1.0 / mean);
  std::vector<int64_t> out;
  for (size_t i = 0; i < n; ++i) out.push_back(clamp_micros(dist(rng)));
  return out;
}

void expect_follows_shift(double old_mean, double new_mean) {
  constexpr uint32_t kWindow = 10'000;
  std::mt19937_64 rng(42);
  // A number of old observations that is not a multiple of the window.
  const auto before = exponential_sample(rng, old_mean, 3 * kWindow + 1'234);
  const auto after = exponential_sample(rng, new_mean, 2 * kWindow);
  DelaySketch sketch = make(kWindow);
  for (int64_t v : before) delay_sketch_record(&sketch, v);
  const double new_p99 = new_mean * std::log(100.0);
  EXPECT_GT(std::abs(delay_sketch_quantile(sketch, 0.99) - new_p99), 0.5 * new_p99);
  for (int64_t v : after) delay_sketch_record(&sketch, v);
  // Every active observation is from the new distribution: the sketch equals
  // one that only saw the most recent of them.
  const uint64_t active = delay_sketch_count(sketch);
  ASSERT_GE(active, kWindow);
  ASSERT_LE(active, after.size());
  const std::vector<int64_t> recent(after.end() - static_cast<long>(active), after.end());
  DelaySketch fresh = make(kWindow);
  for (int64_t v : recent) delay_sketch_record(&fresh, v);
  EXPECT_EQ(std::memcmp(fresh.current, sketch.current, sizeof fresh.current) == 0 &&
                std::memcmp(fresh.previous, sketch.previous, sizeof fresh.previous) == 0,
            true);
  const int64_t estimate = delay_sketch_quantile(sketch, 0.99);
  EXPECT_NEAR(static_cast<double>(estimate), new_p99, 0.2 * new_p99);
  EXPECT_NEAR(static_cast<double>(estimate), static_cast<double>(true_quantile(recent, 0.99)),
              0.05 * static_cast<double>(true_quantile(recent, 0.99)));
}

TEST(DelaySketchAdaptation, FollowsIncreaseInDelay) { expect_follows_shift(100'000, 2'000'000); }

TEST(DelaySketchAdaptation, FollowsDecreaseInDelay) { expect_follows_shift(2'000'000, 100'000); }

TEST(DelaySketchAdaptation, GenerationsRotateAtTheWindow) {
  DelaySketch sketch = make(4);
  for (int i = 0; i < 3; ++i) delay_sketch_record(&sketch, 1'000);
  EXPECT_EQ(delay_sketch_count(sketch), 3u);
  delay_sketch_record(&sketch, 1'000);
  EXPECT_EQ(sketch.previous_total, 4u);
  EXPECT_EQ(sketch.current_total, 0u);
  EXPECT_EQ(sketch.rotations, 1u);
  for (int i = 0; i < 7; ++i) delay_sketch_record(&sketch, 5);
  // 8 fives: the old thousands are gone.
  EXPECT_EQ(delay_sketch_count(sketch), 7u);
  EXPECT_EQ(delay_sketch_quantile(sketch, 1.0), 5);
  EXPECT_EQ(sketch.recorded, 11u);
}

// --- Merge --------------------------------------------------------------------------

TEST(DelaySketchMerge, EmptyIsIdentity) {
  DelaySketch sketch = sketch_of({1, 2, 3, 400, -5}, 100);
  const DelaySketch before = sketch;
  delay_sketch_merge(&sketch, make(100));
  EXPECT_TRUE(same(sketch, before));
  delay_sketch_merge(&sketch, sketch);  // self-merge is ignored
  EXPECT_TRUE(same(sketch, before));
}

TEST(DelaySketchMerge, IntoEmptyWithSameWindowCopies) {
  std::mt19937_64 rng(7);
  const auto values = exponential_sample(rng, 1e5, 2'537);
  const DelaySketch from = sketch_of(values, 1'000);
  DelaySketch into = make(1'000);
  delay_sketch_merge(&into, from);
  EXPECT_EQ(std::memcmp(into.current, from.current, sizeof into.current), 0);
  EXPECT_EQ(std::memcmp(into.previous, from.previous, sizeof into.previous), 0);
  EXPECT_EQ(delay_sketch_count(into), delay_sketch_count(from));
  EXPECT_EQ(into.recorded, from.recorded);
}

RC_GTEST_PROP(DelaySketchMerge, EqualsRecordingTheUnion, ()) {
  const auto gen = rc::gen::container<std::vector<int64_t>>(
      rc::gen::oneOf(rc::gen::inRange<int64_t>(-100, 100),
                     rc::gen::inRange<int64_t>(0, 200'000'000'000), rc::gen::arbitrary<int64_t>()));
  const auto a = *gen;
  const auto b = *gen;
  // A window no batch reaches: no generation boundary is crossed.
  const uint32_t window = static_cast<uint32_t>(a.size() + b.size() + 1);
  DelaySketch shared = sketch_of(a, window);
  const DelaySketch local = sketch_of(b, kDelaySketchDefaultWindow);
  delay_sketch_merge(&shared, local);
  std::vector<int64_t> all = a;
  all.insert(all.end(), b.begin(), b.end());
  RC_ASSERT(same(shared, sketch_of(all, window)));
}

RC_GTEST_PROP(DelaySketchMerge, AcrossRotationsTotalsMatchRecording, ()) {
  const auto gen =
      rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(-10, 1'000'000));
  const auto a = *gen;
  const auto b = *gen;
  const uint32_t window = *rc::gen::inRange<uint32_t>(1, 20);
  const uint32_t local_window = *rc::gen::inRange<uint32_t>(1, 40);
  DelaySketch shared = sketch_of(a, window);
  delay_sketch_merge(&shared, sketch_of(b, local_window));
  // What the local sketch still held, recorded one at a time after a.
  const DelaySketch local = sketch_of(b, local_window);
  const size_t kept = static_cast<size_t>(delay_sketch_count(local));
  std::vector<int64_t> all = a;
  all.insert(all.end(), b.end() - static_cast<long>(kept), b.end());
  const DelaySketch expected = sketch_of(all, window);
  RC_ASSERT(shared.current_total == expected.current_total);
  RC_ASSERT(shared.previous_total == expected.previous_total);
  RC_ASSERT(shared.rotations == expected.rotations);
  uint32_t current_sum = 0, previous_sum = 0;
  for (size_t i = 0; i < kDelaySketchBuckets; ++i) {
    current_sum += shared.current[i];
    previous_sum += shared.previous[i];
  }
  RC_ASSERT(current_sum == shared.current_total);
  RC_ASSERT(previous_sum == shared.previous_total);
  RC_ASSERT(shared.current_negative <= shared.current[0]);
  RC_ASSERT(shared.previous_negative <= shared.previous[0]);
}

}  // namespace
}  // namespace edgestate::core
