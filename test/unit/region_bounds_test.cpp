#include "core/region_bounds.h"

#include <gtest/gtest.h>

namespace edgestate::core {
namespace {

TEST(RegionBounds, ParsesRegionsUnitsAndQuotes) {
  std::vector<RegionBound> bounds;
  std::string error;
  ASSERT_TRUE(parse_region_bounds(R"( eu-west=10s, us-east = 500ms,"ap ""south"""=2min,x=1h,y=3d )",
                                  &bounds, &error))
      << error;
  ASSERT_EQ(bounds.size(), 5u);
  EXPECT_EQ(bounds[0].region, "eu-west");
  EXPECT_EQ(bounds[0].milliseconds, 10'000);
  EXPECT_EQ(bounds[1].region, "us-east");
  EXPECT_EQ(bounds[1].milliseconds, 500);
  EXPECT_EQ(bounds[2].region, "ap \"south\"");
  EXPECT_EQ(bounds[2].milliseconds, 120'000);
  EXPECT_EQ(bounds[3].milliseconds, 3'600'000);
  EXPECT_EQ(bounds[4].milliseconds, 259'200'000);
}

TEST(RegionBounds, EmptyIsNoBounds) {
  std::vector<RegionBound> bounds{{"stale", 1}};
  std::string error;
  EXPECT_TRUE(parse_region_bounds("  ", &bounds, &error));
  EXPECT_TRUE(bounds.empty());
}

TEST(RegionBounds, RefusesMalformedInput) {
  std::vector<RegionBound> bounds;
  std::string error;
  for (const char *bad :
       {"eu", "eu=", "eu=10", "eu=10 parsecs", "eu=-1s", "=1s", "eu=1s,", "eu=1s;us=2s", "\"eu=1s",
        "eu=1s,eu=2s", "eu=99999999999999999999s", "eu=9999999999999999d"}) {
    error.clear();
    EXPECT_FALSE(parse_region_bounds(bad, &bounds, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

}  // namespace
}  // namespace edgestate::core
