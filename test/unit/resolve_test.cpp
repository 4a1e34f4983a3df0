#include "core/resolve.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "test_support.h"

namespace edgestate::core {
namespace {

using test::Bytes;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr uint64_t kT = 1'795'674'040'123;

// A state whose entries all lie within one another's window, newest first:
// values[0] is the winner, from region "r0", values[1] from "r1", ...
struct Conflict {
  explicit Conflict(const std::vector<double> &values) {
    names.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) names.push_back("r" + std::to_string(i));
    bytes = test::single(Reading(values[0], hlc_make(kT + 100, 0), 50, names[0], ""));
    for (size_t i = 1; i < values.size(); ++i) {
      bytes = test::merge(
          bytes, test::single(Reading(values[i], hlc_make(kT + 100 - i, 0), 50, names[i], "")),
          kMaxCandidates);
    }
    state = test::decode(bytes);
  }
  double operator()(Policy policy, std::string_view region = "") const {
    return resolve(state, policy, region);
  }
  std::vector<std::string> names;
  Bytes bytes;
  StateView state;
};

TEST(Policy, ParsesNames) {
  Policy p;
  ASSERT_TRUE(parse_policy("lww", &p));
  EXPECT_EQ(p, Policy::kLww);
  ASSERT_TRUE(parse_policy("max", &p));
  EXPECT_EQ(p, Policy::kMax);
  ASSERT_TRUE(parse_policy("min", &p));
  EXPECT_EQ(p, Policy::kMin);
  ASSERT_TRUE(parse_policy("mean", &p));
  EXPECT_EQ(p, Policy::kMean);
  ASSERT_TRUE(parse_policy("prefer_region", &p));
  EXPECT_EQ(p, Policy::kPreferRegion);
  EXPECT_FALSE(parse_policy("LWW", &p));
  EXPECT_FALSE(parse_policy("", &p));
  EXPECT_FALSE(parse_policy("median", &p));
}

TEST(Resolve, PlainValues) {
  const Conflict c({2.0, 6.0, 1.0});
  EXPECT_EQ(c(Policy::kLww), 2.0);
  EXPECT_EQ(c(Policy::kMax), 6.0);
  EXPECT_EQ(c(Policy::kMin), 1.0);
  EXPECT_EQ(c(Policy::kMean), 3.0);
}

TEST(Resolve, NanSortsAboveInfinityLikeFloat8) {
  const Conflict c({1.0, NAN, kInf});
  EXPECT_TRUE(std::isnan(c(Policy::kMax)));
  EXPECT_EQ(c(Policy::kMin), 1.0);
  EXPECT_TRUE(std::isnan(c(Policy::kMean)));
  const Conflict all_nan({NAN, NAN});
  EXPECT_TRUE(std::isnan(all_nan(Policy::kMin)));
}

TEST(Resolve, Infinities) {
  const Conflict c({kInf, -kInf, 0.0});
  EXPECT_EQ(c(Policy::kMax), kInf);
  EXPECT_EQ(c(Policy::kMin), -kInf);
  EXPECT_TRUE(std::isnan(c(Policy::kMean)));  // +Inf + -Inf
  EXPECT_EQ(Conflict({kInf, 1.0})(Policy::kMean), kInf);
}

TEST(Resolve, SignedZeroTiesKeepTheFirstInStoredOrder) {
  EXPECT_TRUE(std::signbit(Conflict({-0.0, 0.0})(Policy::kMax)));
  EXPECT_FALSE(std::signbit(Conflict({0.0, -0.0})(Policy::kMin)));
}

TEST(Resolve, PreferRegion) {
  const Conflict c({1.0, 2.0, 3.0});
  EXPECT_EQ(c(Policy::kPreferRegion, "r2"), 3.0);
  EXPECT_EQ(c(Policy::kPreferRegion, "r0"), 1.0);
  EXPECT_EQ(c(Policy::kPreferRegion, "elsewhere"), 1.0);  // falls back to the winner
}

TEST(Resolve, PreferRegionTakesItsNewestReading) {
  Bytes s = test::single(Reading(1.0, hlc_make(kT + 10, 0), 50, "w", ""));
  s = test::merge(s, test::single(Reading(2.0, hlc_make(kT + 9, 0), 50, "p", "d1")), 4);
  s = test::merge(s, test::single(Reading(3.0, hlc_make(kT + 8, 0), 50, "p", "d2")), 4);
  const StateView state = test::decode(s);
  EXPECT_EQ(resolve(state, Policy::kPreferRegion, "p"), 2.0);
}

TEST(Resolve, IgnoresEntriesOutsideTheWindow) {
  Bytes s = test::single(Reading(1.0, hlc_make(kT + 100, 0), 10, "w", ""));
  s = test::merge(s, test::single(Reading(50.0, hlc_make(kT + 90, 0), 10, "near", "")), 4);
  s = test::merge(s, test::single(Reading(99.0, hlc_make(kT, 0), 10, "far", "")), 4);
  const StateView state = test::decode(s);
  EXPECT_EQ(resolve(state, Policy::kMax, ""), 50.0);
  EXPECT_EQ(resolve(state, Policy::kMean, ""), 25.5);
  EXPECT_EQ(resolve(state, Policy::kPreferRegion, "far"), 1.0);
}

}  // namespace
}  // namespace edgestate::core
