#include "core/delay_sketch.h"

#include <array>
#include <cmath>
#include <cstring>

namespace edgestate::core {
namespace {

constexpr int kPerOctave = 15;
// Bucket i >= kFirstLogBucket has upper edge floor(2^((i + kExponentOffset) / 15)).
constexpr size_t kFirstLogBucket = static_cast<size_t>(kDelaySketchExactMax) + 1;
constexpr int kExponentOffset = 45;

// 2^(k/15) for k = 0..14, rounded to double.
constexpr double kOctaveSteps[kPerOctave] = {
    1.0,
    1.0472941228206267,
    1.096824979694626,
    1.148698354997035,
    1.2030250360821166,
    1.2599210498948732,
    1.3195079107728942,
    1.381912879967776,
    1.4472692374403782,
    1.515716566510398,
    1.5874010519681996,
    1.6624757922855755,
    1.7411011265922482,
    1.8234449771164336,
    1.909683207820833,
};

constexpr std::array<int64_t, kDelaySketchBuckets> make_edges() {
  std::array<int64_t, kDelaySketchBuckets> edges{};
  for (size_t i = 0; i < kDelaySketchBuckets; ++i) {
    if (i < kFirstLogBucket) {
      edges[i] = static_cast<int64_t>(i);
    } else {
      const int exponent = static_cast<int>(i) + kExponentOffset;
      const double power = static_cast<double>(uint64_t{1} << (exponent / kPerOctave));
      // Multiplying by a power of two is exact; truncation is floor (positive).
      edges[i] = static_cast<int64_t>(power * kOctaveSteps[exponent % kPerOctave]);
    }
  }
  return edges;
}

constexpr std::array<int64_t, kDelaySketchBuckets> kEdges = make_edges();

constexpr bool edges_increase() {
  for (size_t i = 1; i < kDelaySketchBuckets; ++i) {
    if (kEdges[i] <= kEdges[i - 1]) return false;
  }
  return true;
}
static_assert(edges_increase());
static_assert(kEdges[kFirstLogBucket] == kDelaySketchExactMax + 1);
static_assert(kEdges[kDelaySketchBuckets - 1] == kDelaySketchMaxMicros);

uint32_t clamp_window(uint32_t window) {
  if (window == 0) return kDelaySketchDefaultWindow;
  return window < kDelaySketchMaxWindow ? window : kDelaySketchMaxWindow;
}

uint32_t effective_window(const DelaySketch &sketch) { return clamp_window(sketch.window); }

void rotate(DelaySketch *sketch) {
  std::memcpy(sketch->previous, sketch->current, sizeof sketch->current);
  std::memset(sketch->current, 0, sizeof sketch->current);
  sketch->previous_total = sketch->current_total;
  sketch->previous_negative = sketch->current_negative;
  sketch->current_total = 0;
  sketch->current_negative = 0;
  ++sketch->rotations;
}

// Adds count observations to bucket as if recorded one at a time, rotating
// whenever the current generation reaches the window.
void add(DelaySketch *sketch, size_t bucket, uint64_t count, bool negative) {
  const uint32_t window = effective_window(*sketch);
  if (sketch->current_total >= window) rotate(sketch);  // window lowered by hand
  // Only the last < 2W observations can survive: fill the current generation,
  // then at most one full generation, then the remainder.
  const uint64_t room = window - sketch->current_total;
  if (count > room + window) {
    const uint64_t rest = count - room;
    count = room + window + rest % window;
    sketch->rotations += static_cast<uint32_t>(rest / window - 1);  // the skipped ones
  }
  while (count > 0) {
    const uint32_t take = static_cast<uint32_t>(
        count < window - sketch->current_total ? count : window - sketch->current_total);
    sketch->current[bucket] = static_cast<uint16_t>(sketch->current[bucket] + take);
    sketch->current_total += take;
    if (negative) sketch->current_negative += take;
    count -= take;
    if (sketch->current_total >= window) rotate(sketch);
  }
}

// Adds a generation's counts to a sketch. When they cross a generation
// boundary of the target, each part on either side is a proportional sample
// of all of them (systematic rounding of the cumulative counts), so a large
// batch does not leave its smallest values in the generation dropped first.
void replay(DelaySketch *into, const uint16_t *counts, uint32_t negative) {
  // Slot kDelaySketchBuckets stands for the negative observations of bucket 0.
  uint32_t rest[kDelaySketchBuckets + 1];
  uint64_t total = 0;
  for (size_t i = 0; i < kDelaySketchBuckets; ++i) {
    rest[i] = i == 0 ? counts[0] - negative : counts[i];
    total += rest[i];
  }
  rest[kDelaySketchBuckets] = negative;
  total += negative;
  while (total > 0) {
    const uint32_t window = effective_window(*into);
    if (into->current_total >= window) rotate(into);
    const uint64_t room = window - into->current_total;
    if (total <= room) {
      for (size_t i = 0; i <= kDelaySketchBuckets; ++i)
        if (rest[i] > 0)
          add(into, i == kDelaySketchBuckets ? 0 : i, rest[i], i == kDelaySketchBuckets);
      return;
    }
    // Exactly `room` observations, spread over the buckets in proportion.
    uint64_t cumulative = 0;
    uint64_t taken_before = 0;
    for (size_t i = 0; i <= kDelaySketchBuckets; ++i) {
      cumulative += rest[i];
      const uint64_t taken_through = cumulative * room / total;
      const uint64_t take = taken_through - taken_before;
      taken_before = taken_through;
      if (take == 0) continue;
      add(into, i == kDelaySketchBuckets ? 0 : i, take, i == kDelaySketchBuckets);
      rest[i] -= static_cast<uint32_t>(take);
    }
    total -= room;
  }
}

}  // namespace

size_t delay_sketch_bucket_of(int64_t micros) {
  if (micros <= kDelaySketchExactMax) return micros < 0 ? 0 : static_cast<size_t>(micros);
  constexpr size_t kLast = kDelaySketchBuckets - 1;
  if (micros > kEdges[kLast - 1]) return kLast;
  // Bucket with exponent j holds the integers v with j - 1 < 15 * log2(v) <= j.
  const double exponent = std::ceil(kPerOctave * std::log2(static_cast<double>(micros)));
  long guess = static_cast<long>(exponent) - kExponentOffset;
  if (guess < static_cast<long>(kFirstLogBucket)) guess = static_cast<long>(kFirstLogBucket);
  if (guess > static_cast<long>(kLast)) guess = static_cast<long>(kLast);
  size_t bucket = static_cast<size_t>(guess);
  // Rounding in log2 can be off by one next to an edge; the table decides.
  while (micros > kEdges[bucket]) ++bucket;
  while (micros <= kEdges[bucket - 1]) --bucket;
  return bucket;
}

int64_t delay_sketch_bucket_upper(size_t bucket) {
  return kEdges[bucket < kDelaySketchBuckets ? bucket : kDelaySketchBuckets - 1];
}

void delay_sketch_init(DelaySketch *sketch, uint32_t window_observations) {
  std::memset(sketch, 0, sizeof *sketch);
  sketch->window = clamp_window(window_observations);
}

void delay_sketch_record(DelaySketch *sketch, int64_t micros, uint32_t count) {
  if (count == 0) return;
  sketch->recorded += count;
  const size_t bucket = delay_sketch_bucket_of(micros);
  // Fast path: the batch fits without reaching the window.
  const uint32_t window = effective_window(*sketch);
  if (sketch->current_total < window && count < window - sketch->current_total) {
    sketch->current[bucket] = static_cast<uint16_t>(sketch->current[bucket] + count);
    sketch->current_total += count;
    if (micros < 0) sketch->current_negative += count;
    return;
  }
  add(sketch, bucket, count, micros < 0);
}

void delay_sketch_merge(DelaySketch *into, const DelaySketch &from) {
  if (into == &from) return;
  into->recorded += from.recorded;
  replay(into, from.previous, from.previous_negative);
  replay(into, from.current, from.current_negative);
}

uint64_t delay_sketch_count(const DelaySketch &sketch) {
  return uint64_t{sketch.current_total} + sketch.previous_total;
}

uint64_t delay_sketch_negative_count(const DelaySketch &sketch) {
  return uint64_t{sketch.current_negative} + sketch.previous_negative;
}

int64_t delay_sketch_quantile(const DelaySketch &sketch, double q) {
  const uint64_t total = delay_sketch_count(sketch);
  if (total == 0) return 0;
  uint64_t rank = 1;
  if (q >= 1.0) {
    rank = total;
  } else if (q > 0.0) {
    // ceil(q * total), ignoring floating-point noise just above an integer
    // (0.99 * 100 must be rank 99, not 100).
    const double exact = q * static_cast<double>(total);
    rank = static_cast<uint64_t>(std::ceil(exact - exact * 1e-12));
    if (rank < 1) rank = 1;
    if (rank > total) rank = total;
  }
  uint64_t seen = 0;
  for (size_t i = 0; i < kDelaySketchBuckets; ++i) {
    seen += uint64_t{sketch.current[i]} + sketch.previous[i];
    if (seen >= rank) return kEdges[i];
  }
  return kEdges[kDelaySketchBuckets - 1];  // unreachable for a consistent sketch
}

}  // namespace edgestate::core
