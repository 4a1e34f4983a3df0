#include <gtest/gtest.h>

#include "core/hlc.h"

namespace edgestate::core {
namespace {

uint64_t parse(const char *text) {
  uint64_t value = 0;
  EXPECT_TRUE(hlc_parse_iso(text, &value)) << text;
  return value;
}

TEST(HlcIso, AcceptsCommonForms) {
  uint64_t base = hlc_make(1'795'674'040'000ull, 0);  // 2026-11-26 06:20:40 UTC
  EXPECT_EQ(parse("2026-11-26 06:20:40+00"), base);
  EXPECT_EQ(parse("2026-11-26T06:20:40Z"), base);
  EXPECT_EQ(parse("2026-11-26 08:20:40+02"), base);
  EXPECT_EQ(parse("2026-11-26 11:50:40+05:30"), base);
  EXPECT_EQ(parse("2026-11-26 02:50:40-0330"), base);
  EXPECT_EQ(parse("2026-11-26 06:20:40.1239+00"), hlc_make(1'795'674'040'123ull, 0));
  EXPECT_EQ(parse("2026-11-26 06:20:40.5+00#42"), hlc_make(1'795'674'040'500ull, 42));
  EXPECT_EQ(parse("1970-01-01 00:00:00+00"), hlc_make(0, 0));
}

TEST(HlcIso, LeavesEverythingElseToTheGeneralParser) {
  uint64_t value = 0;
  for (const char *text :
       {"2026-11-26 06:20:40", "2026-11-26 06:20", "2026-11-26 24:00:00+00",
        "2026-11-26 23:59:60+00", "2023-02-29 00:00:00+00", "2026-13-01 00:00:00+00",
        "2026-11-26 06:20:40.1234567+00", "2026-11-26 06:20:40.+00", "2026-11-26 06:20:40+16",
        "2026-11-26 06:20:40+00#", "2026-11-26 06:20:40+00#65536", "2026-11-26 06:20:40+00#123456",
        "2026-11-26 06:20:40 UTC", "1969-12-31 23:59:59+00", "1970-01-01 00:00:00+01",
        "Nov 26 2026", "2026-11-26x06:20:40+00", "2026-11-26 06:20:40+0"})
    EXPECT_FALSE(hlc_parse_iso(text, &value)) << text;
}

}  // namespace
}  // namespace edgestate::core
