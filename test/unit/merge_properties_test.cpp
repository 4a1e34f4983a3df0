// Property tests of the merge policy over random readings biased towards
// collisions: few origins, equal and adjacent hlc values, same-origin bursts,
// exact duplicates, NaN / ±Infinity / -0, zero skew and gaps exactly at the
// bound.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <tuple>

#include "core/state_text.h"
#include "test_support.h"

namespace edgestate::core {
namespace {

using test::Bytes;
using test::OwnedReading;

constexpr uint64_t kBaseMs = 1'795'674'040'123;

rc::Gen<double> gen_value() {
  return rc::gen::weightedOneOf<double>({
      {3,
       rc::gen::element(
           0.0, -0.0, 1.0, 21.5, -3.25, std::numeric_limits<double>::quiet_NaN(),
           -std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::signaling_NaN(),
           std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
           std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max())},
      {1, rc::gen::arbitrary<double>()},
  });
}

rc::Gen<uint64_t> gen_hlc() {
  // Physical offsets that land on, just inside and just outside the skew
  // bounds below; few logical values so equal hlc values are common.
  return rc::gen::apply(
      [](uint64_t offset, uint32_t logical) { return hlc_make(kBaseMs + offset, logical); },
      rc::gen::weightedOneOf<uint64_t>({
          {4, rc::gen::element<uint64_t>(0, 1, 9, 10, 11, 49, 50, 51, 60, 100)},
          {1, rc::gen::element<uint64_t>(kMaxSkewMs, kMaxSkewMs + 1)},
          {1, rc::gen::inRange<uint64_t>(0, 200)},
      }),
      rc::gen::weightedOneOf<uint32_t>({
          {4, rc::gen::element<uint32_t>(0, 1, 2)},
          {1, rc::gen::just(uint32_t{kMaxLogical})},
      }));
}

rc::Gen<uint32_t> gen_skew() {
  return rc::gen::weightedOneOf<uint32_t>({
      {4, rc::gen::element<uint32_t>(0, 1, 10, 50)},
      {1, rc::gen::just(uint32_t{kMaxSkewMs})},
      {1, rc::gen::inRange<uint32_t>(0, 100)},
  });
}

rc::Gen<std::string> gen_region() {
  return rc::gen::weightedOneOf<std::string>({
      {8, rc::gen::element<std::string>("eu-west", "us-east", "ap")},
      // Awkward bytes: quotes, UTF-8, the longest name, prefixes of others.
      {1, rc::gen::element<std::string>("\"q\"", "caf\xc3\xa9", std::string(kMaxNameBytes, 'z'),
                                        "eu")},
  });
}

rc::Gen<std::string> gen_device() {
  return rc::gen::element<std::string>("", "", "d1", "d2", "gw\"7");
}

rc::Gen<OwnedReading> gen_reading() {
  return rc::gen::build<OwnedReading>(rc::gen::set(&OwnedReading::value, gen_value()),
                                      rc::gen::set(&OwnedReading::hlc, gen_hlc()),
                                      rc::gen::set(&OwnedReading::skew_ms, gen_skew()),
                                      rc::gen::set(&OwnedReading::region, gen_region()),
                                      rc::gen::set(&OwnedReading::device, gen_device()));
}

// Random readings plus exact duplicates and same-origin bursts of some of them.
std::vector<OwnedReading> draw_readings() {
  auto readings = *rc::gen::nonEmpty(rc::gen::container<std::vector<OwnedReading>>(gen_reading()));
  const auto echoes = *rc::gen::container<std::vector<std::pair<size_t, uint8_t>>>(
      rc::gen::pair(rc::gen::arbitrary<size_t>(), rc::gen::inRange<uint8_t>(0, 3)));
  for (const auto &[index, shift] : echoes) {
    OwnedReading copy = readings[index % readings.size()];
    copy.hlc += uint64_t{shift} << kLogicalBits;  // shift 0: an exact duplicate
    readings.push_back(copy);
  }
  return readings;
}

size_t draw_k() {
  return *rc::gen::weightedOneOf<size_t>({
      {3, rc::gen::element<size_t>(0, 1, 2, kDefaultCandidates)},
      {1, rc::gen::inRange<size_t>(0, kMaxCandidates + 1)},
  });
}

Bytes fold_linear(const std::vector<OwnedReading> &readings, size_t k) {
  Bytes state = test::single(readings[0]);
  for (size_t i = 1; i < readings.size(); ++i)
    state = test::merge(state, test::single(readings[i]), k);
  return state;
}

// Folds readings[lo, hi) with split points chosen by rng: any bracketing.
Bytes fold_tree(const std::vector<OwnedReading> &readings, size_t lo, size_t hi, size_t k,
                std::mt19937_64 *rng) {
  if (hi - lo == 1) return test::single(readings[lo]);
  const size_t mid = lo + 1 + (*rng)() % (hi - lo - 1);
  const Bytes left = fold_tree(readings, lo, mid, k, rng);
  const Bytes right = fold_tree(readings, mid, hi, k, rng);
  return (*rng)() % 2 ? test::merge(left, right, k) : test::merge(right, left, k);
}

// S(R) written directly from the definition, independently of the merge code:
// each origin's greatest reading, the K + 1 greatest of those, and whether
// more origins existed.
Bytes reference_state(const std::vector<OwnedReading> &readings, size_t k) {
  auto key = [](const Reading &r) {
    return std::make_tuple(r.hlc, std::string(r.region), std::string(r.device),
                           double_bits(r.value), r.skew_ms);
  };
  std::map<std::pair<std::string, std::string>, Reading> newest;
  for (const OwnedReading &owned : readings) {
    const Reading r = owned.view();
    auto [it, inserted] = newest.try_emplace({owned.region, owned.device}, r);
    if (!inserted && key(r) > key(it->second)) it->second = r;
  }
  std::vector<Reading> maxima;
  for (const auto &entry : newest) maxima.push_back(entry.second);
  std::sort(maxima.begin(), maxima.end(),
            [&](const Reading &a, const Reading &b) { return key(a) > key(b); });
  StateView state;
  state.truncated = maxima.size() > k + 1;
  state.count = static_cast<uint8_t>(std::min(maxima.size(), k + 1));
  std::copy_n(maxima.begin(), state.count, state.entries);
  return test::encode(state);
}

RC_GTEST_PROP(MergeProperties, AnyOrderAndBracketingGivesTheSameBytes, ()) {
  auto readings = draw_readings();
  const size_t k = draw_k();
  const Bytes expected = fold_linear(readings, k);
  std::mt19937_64 rng(*rc::gen::arbitrary<uint64_t>());
  std::shuffle(readings.begin(), readings.end(), rng);
  RC_ASSERT(fold_linear(readings, k) == expected);
  RC_ASSERT(fold_tree(readings, 0, readings.size(), k, &rng) == expected);
}

RC_GTEST_PROP(MergeProperties, SemilatticeLaws, ()) {
  const size_t k = draw_k();
  const Bytes a = fold_linear(draw_readings(), k);
  const Bytes b = fold_linear(draw_readings(), k);
  const Bytes c = fold_linear(draw_readings(), k);
  size_t dropped_ab = 0;
  size_t dropped_ba = 0;
  RC_ASSERT(test::merge(a, b, k, &dropped_ab) == test::merge(b, a, k, &dropped_ba));
  RC_ASSERT(dropped_ab == dropped_ba);
  RC_ASSERT(test::merge(test::merge(a, b, k), c, k) == test::merge(a, test::merge(b, c, k), k));
  RC_ASSERT(test::merge(a, a, k) == a);
  size_t dropped = 1;
  test::merge(a, a, k, &dropped);
  RC_ASSERT(dropped == 0u);
}

RC_GTEST_PROP(MergeProperties, FoldEqualsTheDefinition, ()) {
  const auto readings = draw_readings();
  const size_t k = draw_k();
  RC_ASSERT(fold_linear(readings, k) == reference_state(readings, k));
}

RC_GTEST_PROP(MergeProperties, CandidatesFollowTheWindowRule, ()) {
  const Bytes bytes = fold_linear(draw_readings(), draw_k());
  const StateView state = test::decode(bytes);
  const CandidateList candidates = conflict_candidates(state);
  size_t next = 0;
  for (uint8_t i = 1; i < state.count; ++i) {
    const Reading &w = state.winner();
    const Reading &e = state.entries[i];
    const bool expected =
        hlc_physical(w.hlc) - hlc_physical(e.hlc) <= std::max(w.skew_ms, e.skew_ms);
    if (!expected) continue;
    RC_ASSERT(next < candidates.count);
    RC_ASSERT(candidates.index[next] == i);
    ++next;
  }
  RC_ASSERT(next == candidates.count);
  RC_ASSERT(is_conflicted(state) == (candidates.count > 0));
}

RC_GTEST_PROP(CodecProperties, BinaryAndTextRoundTrip, ()) {
  const Bytes bytes = fold_linear(draw_readings(), draw_k());
  const StateView state = test::decode(bytes);
  RC_ASSERT(test::encode(state) == bytes);
  const std::string text = format_state(state);
  Bytes parsed;
  std::string error;
  RC_ASSERT(parse_state_text(text, &parsed, &error));
  RC_ASSERT(parsed == bytes);
}

RC_GTEST_PROP(CodecProperties, EveryProperPrefixIsRejected, ()) {
  const Bytes bytes = fold_linear(draw_readings(), draw_k());
  for (size_t n = 0; n < bytes.size(); ++n) {
    StateView state;
    RC_ASSERT(decode_state(bytes.data(), n, &state) != DecodeStatus::kOk);
  }
}

// Decoding is strict enough to be a bijection: whatever it accepts, it
// re-encodes to the same bytes. The input sits in an exactly sized heap
// buffer so that sanitizers catch any read past its end.
void assert_decode_is_exact(const Bytes &input) {
  const std::unique_ptr<uint8_t[]> exact(new uint8_t[input.size()]);
  std::copy(input.begin(), input.end(), exact.get());
  StateView state;
  if (decode_state(exact.get(), input.size(), &state) == DecodeStatus::kOk) {
    RC_ASSERT(test::encode(state) == input);
  }
}

RC_GTEST_PROP(CodecProperties, MutatedBytesFailOrReencodeIdentically, ()) {
  Bytes bytes = fold_linear(draw_readings(), draw_k());
  const auto edits = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::pair<size_t, uint8_t>>>(
      rc::gen::pair(rc::gen::arbitrary<size_t>(), rc::gen::arbitrary<uint8_t>())));
  for (const auto &[at, byte] : edits) bytes[at % bytes.size()] = byte;
  assert_decode_is_exact(bytes);
}

RC_GTEST_PROP(CodecProperties, RandomBytesFailOrReencodeIdentically, (std::vector<uint8_t> tail)) {
  // A valid header makes the decoder look past the first three bytes.
  const uint8_t count = *rc::gen::inRange<uint8_t>(0, 18);
  Bytes bytes = {kStateFormatVersion, *rc::gen::element<uint8_t>(0, 1, 2), count};
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  assert_decode_is_exact(bytes);
  assert_decode_is_exact(tail);
}

// The capture fast path: a reading the state subsumes changes nothing when
// merged, and one it does not subsume is one the state does not hold.
RC_GTEST_PROP(MergeProperties, SubsumedReadingsLeaveTheStateUnchanged, ()) {
  const size_t k = draw_k();
  const std::vector<OwnedReading> readings = draw_readings();
  const Bytes state = fold_linear(readings, k);
  // Often one of the folded readings, sometimes echoed later or earlier.
  OwnedReading probe = *rc::gen::weightedOneOf<OwnedReading>(
      {{2, rc::gen::elementOf(readings)}, {1, gen_reading()}});
  probe.hlc += *rc::gen::element<uint64_t>(0, 0, 1, uint64_t{1} << kLogicalBits);
  const Bytes probe_state = test::single(probe);
  const Bytes merged = test::merge(state, probe_state, k);
  const bool subsumed = state_subsumes_reading(state.data(), state.size(), probe.view());
  if (subsumed) RC_ASSERT(merged == state);
  // And the unvalidated walk agrees with decoding: subsumed exactly when the
  // decoded state holds a reading of the probe's origin at or above it.
  const StateView view = test::decode(state);
  bool held = false;
  for (uint8_t i = 0; i < view.count; ++i)
    held = held || (same_origin(view.entries[i], probe.view()) &&
                    compare_readings(view.entries[i], probe.view()) >= 0);
  RC_ASSERT(subsumed == held);
}

}  // namespace
}  // namespace edgestate::core
