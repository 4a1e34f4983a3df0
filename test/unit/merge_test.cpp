#include "core/merge.h"

#include <gtest/gtest.h>

#include "core/resolve.h"
#include "core/state_text.h"
#include "test_support.h"

namespace edgestate::core {
namespace {

using test::Bytes;

constexpr uint64_t kT = 1'795'674'040'123;  // 2026-11-26 06:20:40.123 UTC, in ms

uint64_t at(uint64_t ms, uint32_t logical = 0) { return hlc_make(ms, logical); }

// The example in docs/merge-policy.md: two regions write the same sensor 10 ms
// apart under a 50 ms skew bound.
TEST(Merge, WorkedExample) {
  const Bytes eu = test::single(Reading(21.5, at(kT + 10), 50, "eu-west", "gw-7"));
  const Bytes us = test::single(Reading(20.9, at(kT), 50, "us-east", "gw-2"));
  const Bytes merged = test::merge(eu, us, kDefaultCandidates);
  EXPECT_EQ(merged, test::merge(us, eu, kDefaultCandidates));
  const StateView state = test::decode(merged);
  EXPECT_EQ(state.winner().region, "eu-west");
  EXPECT_EQ(state.winner().value, 21.5);
  EXPECT_TRUE(is_conflicted(state));
  const CandidateList candidates = conflict_candidates(state);
  ASSERT_EQ(candidates.count, 1);
  EXPECT_EQ(state.entries[candidates.index[0]].region, "us-east");
  EXPECT_EQ(format_state(state),
            "{21.5 @ 2026-11-26 06:20:40.133+00#0 \"eu-west\"/\"gw-7\" skew 50ms, "
            "20.9 @ 2026-11-26 06:20:40.123+00#0 \"us-east\"/\"gw-2\" skew 50ms}");
  EXPECT_EQ(resolve(state, Policy::kLww, ""), 21.5);
  EXPECT_EQ(resolve(state, Policy::kMax, ""), 21.5);
  EXPECT_EQ(resolve(state, Policy::kMin, ""), 20.9);
  EXPECT_EQ(resolve(state, Policy::kMean, ""), 21.2);
  EXPECT_EQ(resolve(state, Policy::kPreferRegion, "us-east"), 20.9);
}

TEST(Merge, SameOriginNewerSupersedes) {
  const Bytes older = test::single(Reading(1.0, at(kT), 50, "eu", "d"));
  const Bytes newer = test::single(Reading(2.0, at(kT + 1), 50, "eu", "d"));
  const Bytes merged = test::merge(older, newer, kDefaultCandidates);
  const StateView state = test::decode(merged);
  ASSERT_EQ(state.count, 1);
  EXPECT_EQ(state.winner().value, 2.0);
  EXPECT_FALSE(is_conflicted(state));
}

TEST(Merge, EqualHlcSameOriginBreaksTieByValueBits) {
  const Bytes a = test::single(Reading(1.0, at(kT), 50, "eu", "d"));
  const Bytes b = test::single(Reading(2.0, at(kT), 50, "eu", "d"));
  const Bytes merged = test::merge(a, b, kDefaultCandidates);
  const StateView state = test::decode(merged);
  ASSERT_EQ(state.count, 1);
  EXPECT_EQ(state.winner().value, 2.0);  // 2.0's bits are greater
}

TEST(Merge, IdenticalReadingsCollapse) {
  const Bytes a = test::single(Reading(1.0, at(kT), 50, "eu", "d"));
  EXPECT_EQ(test::merge(a, a, kDefaultCandidates), a);
}

TEST(Merge, DevicesAreSeparateOrigins) {
  const Bytes a = test::single(Reading(1.0, at(kT), 50, "eu", "d1"));
  const Bytes b = test::single(Reading(2.0, at(kT), 50, "eu", "d2"));
  const Bytes none = test::single(Reading(3.0, at(kT), 50, "eu", ""));
  const Bytes merged = test::merge(test::merge(a, b, kDefaultCandidates), none, kDefaultCandidates);
  const StateView state = test::decode(merged);
  ASSERT_EQ(state.count, 3);
  EXPECT_EQ(state.winner().device, "d2");
  EXPECT_EQ(conflict_candidates(state).count, 2);
}

TEST(Merge, KeepsOnlyKPlusOneOriginsAndCountsDropped) {
  Bytes state = test::single(Reading(0.0, at(kT), 50, "r0", ""));
  size_t total_dropped = 0;
  for (int i = 1; i < 6; ++i) {
    size_t dropped = 0;
    state = test::merge(state,
                        test::single(Reading(i, at(kT + static_cast<uint64_t>(i)), 50,
                                             "r" + std::to_string(i), "")),
                        2, &dropped);
    total_dropped += dropped;
  }
  const StateView view = test::decode(state);
  ASSERT_EQ(view.count, 3);
  EXPECT_TRUE(view.truncated);
  EXPECT_EQ(view.winner().region, "r5");
  EXPECT_EQ(view.entries[2].region, "r3");
  EXPECT_EQ(total_dropped, 3u);
}

TEST(Merge, ZeroCandidatesKeepsTheWinnerOnly) {
  size_t dropped = 0;
  const Bytes merged = test::merge(test::single(Reading(1.0, at(kT), 50, "a", "")),
                                   test::single(Reading(2.0, at(kT), 50, "b", "")), 0, &dropped);
  const StateView state = test::decode(merged);
  ASSERT_EQ(state.count, 1);
  EXPECT_TRUE(state.truncated);
  EXPECT_EQ(state.winner().region, "b");
  EXPECT_EQ(dropped, 1u);
}

// Both inputs hold the origin that no longer fits: it is dropped once.
TEST(Merge, DroppedOriginIsCountedOnce) {
  const Bytes a = test::merge(test::single(Reading(1.0, at(kT + 9), 0, "x", "")),
                              test::single(Reading(2.0, at(kT + 5), 0, "z", "")), 1);
  const Bytes b = test::merge(test::single(Reading(3.0, at(kT + 8), 0, "y", "")),
                              test::single(Reading(4.0, at(kT + 3), 0, "z", "")), 1);
  size_t dropped = 0;
  const Bytes merged = test::merge(a, b, 1, &dropped);
  const StateView state = test::decode(merged);
  ASSERT_EQ(state.count, 2);
  EXPECT_EQ(state.entries[1].region, "y");
  EXPECT_TRUE(state.truncated);
  EXPECT_EQ(dropped, 1u);
}

TEST(Merge, StatesBuiltWithLargerKAreCutDown) {
  const Bytes wide = test::merge(test::single(Reading(1.0, at(kT + 2), 0, "a", "")),
                                 test::single(Reading(2.0, at(kT + 1), 0, "b", "")), 4);
  size_t dropped = 0;
  const Bytes merged = test::merge(wide, wide, 0, &dropped);
  const StateView state = test::decode(merged);
  EXPECT_EQ(state.count, 1);
  EXPECT_TRUE(state.truncated);
  EXPECT_EQ(dropped, 1u);
}

StateView pair_state(uint64_t gap_ms, uint32_t winner_skew, uint32_t other_skew, Bytes *storage) {
  *storage =
      test::merge(test::single(Reading(1.0, at(kT + gap_ms), winner_skew, "w", "")),
                  test::single(Reading(2.0, at(kT, 7), other_skew, "o", "")), kDefaultCandidates);
  return test::decode(*storage);
}

TEST(Candidates, WindowIsInclusiveAtTheBound) {
  Bytes storage;
  EXPECT_TRUE(is_conflicted(pair_state(50, 50, 50, &storage)));
  EXPECT_FALSE(is_conflicted(pair_state(51, 50, 50, &storage)));
}

TEST(Candidates, LargerOfTheTwoBoundsApplies) {
  Bytes storage;
  EXPECT_TRUE(is_conflicted(pair_state(80, 10, 80, &storage)));
  EXPECT_TRUE(is_conflicted(pair_state(80, 80, 10, &storage)));
  EXPECT_FALSE(is_conflicted(pair_state(81, 80, 10, &storage)));
}

TEST(Candidates, ZeroBoundsConflictOnlyWithinOneMillisecond) {
  Bytes storage;
  // Same millisecond, different logical counters: physical gap 0 <= 0.
  EXPECT_TRUE(is_conflicted(pair_state(0, 0, 0, &storage)));
  EXPECT_FALSE(is_conflicted(pair_state(1, 0, 0, &storage)));
}

TEST(Candidates, OutOfWindowEntriesAreRetainedButNotCandidates) {
  Bytes ab = test::merge(test::single(Reading(1.0, at(kT + 100), 10, "a", "")),
                         test::single(Reading(2.0, at(kT + 95), 10, "b", "")), 4);
  ab = test::merge(ab, test::single(Reading(3.0, at(kT), 10, "c", "")), 4);
  const StateView state = test::decode(ab);
  ASSERT_EQ(state.count, 3);
  const CandidateList c = conflict_candidates(state);
  ASSERT_EQ(c.count, 1);
  EXPECT_EQ(c.index[0], 1);
  // A later winner with a 24 h bound brings c back into the window.
  const Bytes later =
      test::merge(ab, test::single(Reading(4.0, at(kT + 101), kMaxSkewMs, "d", "")), 4);
  EXPECT_EQ(conflict_candidates(test::decode(later)).count, 3);
}

TEST(StateOf, RejectsInvalidReadings) {
  StateView state;
  EXPECT_EQ(state_of(Reading(1.0, 0, 0, "", ""), &state), ReadingError::kEmptyRegion);
  EXPECT_EQ(state.count, 0);
  EXPECT_EQ(state_of(Reading(1.0, 0, kMaxSkewMs + 1, "r", ""), &state),
            ReadingError::kSkewOutOfRange);
}

}  // namespace
}  // namespace edgestate::core
