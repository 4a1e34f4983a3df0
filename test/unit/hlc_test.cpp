#include "core/hlc.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <ctime>

#include "core/civil_date.h"

namespace edgestate::core {
namespace {

constexpr uint64_t kNow = 1'764'138'040'123;  // 2025-11-26 06:20:40.123 UTC

TEST(HlcTick, WallClockAheadResetsCounter) {
  const HlcStep step = hlc_tick(hlc_make(kNow, 7), kNow + 1);
  EXPECT_EQ(step.value, hlc_make(kNow + 1, 0));
  EXPECT_FALSE(step.borrowed);
}

TEST(HlcTick, SameMillisecondIncrementsCounter) {
  EXPECT_EQ(hlc_tick(hlc_make(kNow, 7), kNow).value, hlc_make(kNow, 8));
}

TEST(HlcTick, WallClockBehindKeepsPhysical) {
  const HlcStep step = hlc_tick(hlc_make(kNow, 7), kNow - 3'600'000);
  EXPECT_EQ(step.value, hlc_make(kNow, 8));
  EXPECT_FALSE(step.borrowed);
}

TEST(HlcTick, OverflowBorrowsNextMillisecond) {
  const uint64_t last = hlc_make(kNow, kMaxLogical);
  EXPECT_TRUE(hlc_tick_would_overflow(last, kNow));
  EXPECT_TRUE(hlc_tick_would_overflow(last, kNow - 10));
  EXPECT_FALSE(hlc_tick_would_overflow(last, kNow + 1));
  EXPECT_FALSE(hlc_tick_would_overflow(hlc_make(kNow, kMaxLogical - 1), kNow));
  const HlcStep step = hlc_tick(last, kNow);
  EXPECT_EQ(step.value, hlc_make(kNow + 1, 0));
  EXPECT_TRUE(step.borrowed);
  EXPECT_EQ(hlc_borrow(last), hlc_make(kNow + 1, 0));
}

TEST(HlcTick, WaitOnlyWhenWallClockIsClose) {
  const uint64_t last = hlc_make(kNow, kMaxLogical);
  EXPECT_TRUE(hlc_tick_should_wait(last, kNow));
  EXPECT_TRUE(hlc_tick_should_wait(last, kNow - kMaxOverflowWaitMs));
  EXPECT_FALSE(hlc_tick_should_wait(last, kNow - kMaxOverflowWaitMs - 1));
  EXPECT_FALSE(hlc_tick_should_wait(last, kNow - 3'600'000));
  EXPECT_FALSE(hlc_tick_should_wait(last, kNow + 1));
  EXPECT_FALSE(hlc_tick_should_wait(hlc_make(kNow, 3), kNow));
}

TEST(HlcObserve, RemoteAheadWithinOffsetIsAdopted) {
  const ObserveResult r = hlc_observe(hlc_make(kNow, 3), hlc_make(kNow + 40, 9), kNow, 50);
  EXPECT_EQ(r.status, ObserveStatus::kOk);
  EXPECT_EQ(r.value, hlc_make(kNow + 40, 10));
}

TEST(HlcObserve, ExactlyAtMaxOffsetIsAccepted) {
  EXPECT_EQ(hlc_observe(0, hlc_make(kNow + 50, 0), kNow, 50).status, ObserveStatus::kOk);
}

TEST(HlcObserve, TooFarAheadLeavesClockUnchanged) {
  const uint64_t last = hlc_make(kNow, 3);
  const ObserveResult r = hlc_observe(last, hlc_make(kNow + 51, 0), kNow, 50);
  EXPECT_EQ(r.status, ObserveStatus::kTooFarAhead);
  EXPECT_EQ(r.value, last);
}

TEST(HlcObserve, HugeOffsetDoesNotOverflow) {
  EXPECT_EQ(hlc_observe(0, hlc_make(kMaxPhysicalMs, 0), kNow, UINT64_MAX).status,
            ObserveStatus::kOk);
}

TEST(HlcObserve, CounterRules) {
  // Both equal: max of the counters + 1.
  EXPECT_EQ(hlc_observe(hlc_make(kNow, 3), hlc_make(kNow, 9), kNow - 5, 50).value,
            hlc_make(kNow, 10));
  EXPECT_EQ(hlc_observe(hlc_make(kNow, 9), hlc_make(kNow, 3), kNow, 50).value, hlc_make(kNow, 10));
  // Only the local clock is the maximum.
  EXPECT_EQ(hlc_observe(hlc_make(kNow, 3), hlc_make(kNow - 1, 9), kNow - 5, 50).value,
            hlc_make(kNow, 4));
  // Only the remote is the maximum.
  EXPECT_EQ(hlc_observe(hlc_make(kNow - 1, 3), hlc_make(kNow, 9), kNow - 5, 50).value,
            hlc_make(kNow, 10));
  // The wall clock alone is ahead.
  EXPECT_EQ(hlc_observe(hlc_make(kNow, 3), hlc_make(kNow, 9), kNow + 1, 50).value,
            hlc_make(kNow + 1, 0));
}

TEST(HlcObserve, CounterOverflowIsReported) {
  const uint64_t last = hlc_make(kNow, 5);
  const ObserveResult r = hlc_observe(last, hlc_make(kNow, kMaxLogical), kNow, 50);
  EXPECT_EQ(r.status, ObserveStatus::kWouldOverflow);
  EXPECT_EQ(r.value, last);
}

RC_GTEST_PROP(HlcProperties, TickIsStrictlyMonotonic, (uint32_t logical, uint16_t back)) {
  const uint64_t last = hlc_make(kNow, logical & kMaxLogical);
  RC_ASSERT(hlc_tick(last, kNow - back).value > last);
  RC_ASSERT(hlc_tick(last, kNow + back).value > last);
}

RC_GTEST_PROP(HlcProperties, ObserveDominatesBothClocks,
              (uint16_t lc, uint16_t rc_counter, uint8_t dl, uint8_t dr, uint8_t dw)) {
  const uint64_t last = hlc_make(kNow + dl, lc);
  const uint64_t remote = hlc_make(kNow + dr, rc_counter);
  const ObserveResult r = hlc_observe(last, remote, kNow + dw, 1000);
  if (r.status == ObserveStatus::kOk) {
    RC_ASSERT(r.value > last);
    RC_ASSERT(r.value > remote);
    RC_ASSERT(hlc_physical(r.value) >= kNow + dw);
  } else {
    RC_ASSERT(r.status == ObserveStatus::kWouldOverflow);
    RC_ASSERT(r.value == last);
    RC_ASSERT(std::max(lc, rc_counter) == kMaxLogical);
  }
}

struct FormatCase {
  uint64_t hlc;
  const char *text;
};

TEST(HlcText, KnownValues) {
  const FormatCase cases[] = {
      {0, "1970-01-01 00:00:00.000+00#0"},
      {hlc_make(kNow, 5), "2025-11-26 06:20:40.123+00#5"},
      {hlc_make(951'782'400'000, 65535), "2000-02-29 00:00:00.000+00#65535"},  // leap day
      {hlc_make(4'107'542'399'999, 10), "2100-02-28 23:59:59.999+00#10"},      // not a leap year
      {hlc_make(253'402'300'799'999, 0), "9999-12-31 23:59:59.999+00#0"},
      {hlc_make(253'402'300'800'000, 0), "10000-01-01 00:00:00.000+00#0"},
      {hlc_make(kMaxPhysicalMs, kMaxLogical), "10889-08-02 05:31:50.655+00#65535"},
  };
  for (const FormatCase &c : cases) {
    EXPECT_EQ(hlc_format(c.hlc), c.text);
    uint64_t parsed = 1;
    EXPECT_TRUE(hlc_parse_canonical(c.text, &parsed)) << c.text;
    EXPECT_EQ(parsed, c.hlc) << c.text;
  }
  EXPECT_EQ(hlc_format(hlc_make(kMaxPhysicalMs, kMaxLogical)).size(), kMaxHlcTextLength);
}

TEST(HlcText, RejectsNonCanonicalText) {
  const char *bad[] = {
      "",
      "2025-11-26 06:20:40.123+00",        // no counter
      "2025-11-26 06:20:40.123+00#",       // empty counter
      "2025-11-26 06:20:40.123+00#05",     // leading zero
      "2025-11-26 06:20:40.123+00#65536",  // counter too large
      "2025-11-26 06:20:40.123+00#100000",
      "2025-11-26 06:20:40.12+00#0",   // two ms digits
      "2025-11-26 06:20:40+00#0",      // no ms
      "2025-11-26T06:20:40.123+00#0",  // ISO 'T'
      "2025-11-26 06:20:40.123Z#0",    // other zone spellings
      "2025-11-26 06:20:40.123+01#0",
      "2025-11-26 06:20:40.123+00#0 ",  // trailing space
      " 2025-11-26 06:20:40.123+00#0",
      "2025-1-26 06:20:40.123+00#0",
      "2025-13-26 06:20:40.123+00#0",
      "2025-00-26 06:20:40.123+00#0",
      "2025-11-00 06:20:40.123+00#0",
      "2025-02-29 06:20:40.123+00#0",  // not a leap year
      "1900-02-29 00:00:00.000+00#0",
      "2025-04-31 00:00:00.000+00#0",
      "2025-11-26 24:00:00.000+00#0",
      "2025-11-26 23:60:00.000+00#0",
      "2025-11-26 23:59:60.000+00#0",   // no leap seconds
      "1969-12-31 23:59:59.999+00#0",   // before the epoch
      "02025-11-26 06:20:40.123+00#0",  // padded year
      "10889-08-02 05:31:50.656+00#0",  // one ms past the 48-bit range
      "99999-12-31 23:59:59.999+00#0",
      "2025-11-26 06:20:40.123+00#-1",
      "2025-11-26 06:20:40.123+00#+1",
  };
  for (const char *text : bad) {
    uint64_t out = 42;
    EXPECT_FALSE(hlc_parse_canonical(text, &out)) << text;
    EXPECT_EQ(out, 42u) << text;
  }
}

// Every day of the 48-bit range, at a varying time of day, round-trips, and
// days_from_civil inverts civil_from_days.
TEST(HlcText, EveryDayRoundTrips) {
  constexpr uint64_t kMsPerDay = 86'400'000;
  for (uint64_t day = 0; day <= kMaxPhysicalMs / kMsPerDay; ++day) {
    const CivilDate d = civil_from_days(static_cast<int64_t>(day));
    ASSERT_EQ(days_from_civil(d.year, d.month, d.day), static_cast<int64_t>(day));
    ASSERT_LE(d.day, days_in_month(d.year, d.month));
    const uint64_t ms = std::min(day * kMsPerDay + (day * 7919) % kMsPerDay, kMaxPhysicalMs);
    const uint64_t hlc = hlc_make(ms, static_cast<uint32_t>(day % 65536));
    uint64_t parsed = 0;
    ASSERT_TRUE(hlc_parse_canonical(hlc_format(hlc), &parsed)) << hlc_format(hlc);
    ASSERT_EQ(parsed, hlc);
  }
}

// An independent check of the calendar arithmetic against the C library.
TEST(HlcText, AgreesWithGmtime) {
  for (uint64_t ms = 0; ms < 4'102'444'800'000; ms += uint64_t{86'400'000} * 37 + 3'723'456) {
    const time_t seconds = static_cast<time_t>(ms / 1000);
    struct tm tm;
    ASSERT_NE(gmtime_r(&seconds, &tm), nullptr);
    char expected[64];
    strftime(expected, sizeof expected, "%Y-%m-%d %H:%M:%S", &tm);
    ASSERT_EQ(hlc_format(hlc_make(ms, 0)).substr(0, 19), expected);
  }
}

RC_GTEST_PROP(HlcProperties, FormatParseRoundTrips, (uint64_t hlc)) {
  uint64_t parsed = 0;
  RC_ASSERT(hlc_parse_canonical(hlc_format(hlc), &parsed));
  RC_ASSERT(parsed == hlc);
}

// Strictness: any accepted string is exactly the format of what it parses to.
RC_GTEST_PROP(HlcProperties, ParseAcceptsOnlyCanonicalText,
              (uint64_t hlc, size_t at, char replacement)) {
  std::string text = hlc_format(hlc);
  text[at % text.size()] = replacement;
  uint64_t parsed = 0;
  if (hlc_parse_canonical(text, &parsed)) RC_ASSERT(hlc_format(parsed) == text);
}

}  // namespace
}  // namespace edgestate::core
