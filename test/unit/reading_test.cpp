#include "core/reading.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace edgestate::core {
namespace {

const std::string k63(63, 'r');
const std::string k64(64, 'r');

TEST(ReadingValidation, AcceptsLimits) {
  EXPECT_EQ(validate_reading(Reading(1.0, 0, 0, "r", "")), ReadingError::kOk);
  EXPECT_EQ(validate_reading(Reading(1.0, UINT64_MAX, kMaxSkewMs, k63, k63)), ReadingError::kOk);
}

TEST(ReadingValidation, RejectsEachError) {
  EXPECT_EQ(validate_reading(Reading(1.0, 0, 0, "", "d")), ReadingError::kEmptyRegion);
  EXPECT_EQ(validate_reading(Reading(1.0, 0, 0, k64, "")), ReadingError::kRegionTooLong);
  EXPECT_EQ(validate_reading(Reading(1.0, 0, 0, "r", k64)), ReadingError::kDeviceTooLong);
  EXPECT_EQ(validate_reading(Reading(1.0, 0, kMaxSkewMs + 1, "r", "")),
            ReadingError::kSkewOutOfRange);
  for (ReadingError e :
       {ReadingError::kOk, ReadingError::kEmptyRegion, ReadingError::kRegionTooLong,
        ReadingError::kDeviceTooLong, ReadingError::kSkewOutOfRange}) {
    EXPECT_NE(std::string(describe(e)), "unknown reading error");
  }
}

TEST(Reading, NanIsCanonicalisedOnConstruction) {
  const double negative_nan = -std::numeric_limits<double>::quiet_NaN();
  const double signalling_nan = std::numeric_limits<double>::signaling_NaN();
  ASSERT_NE(double_bits(negative_nan), kCanonicalNanBits);
  EXPECT_EQ(double_bits(Reading(negative_nan, 0, 0, "r", "").value), kCanonicalNanBits);
  EXPECT_EQ(double_bits(Reading(signalling_nan, 0, 0, "r", "").value), kCanonicalNanBits);
  EXPECT_EQ(double_bits(Reading(-0.0, 0, 0, "r", "").value), double_bits(-0.0));
}

TEST(ReadingOrder, HlcFirst) {
  EXPECT_LT(compare_readings(Reading(9, 1, 9, "z", "z"), Reading(1, 2, 0, "a", "")), 0);
}

TEST(ReadingOrder, ThenRegionThenDeviceBytesUnsigned) {
  EXPECT_LT(compare_readings(Reading(9, 1, 0, "a", "z"), Reading(1, 1, 0, "b", "")), 0);
  EXPECT_LT(compare_readings(Reading(9, 1, 0, "a", "x"), Reading(1, 1, 0, "a", "y")), 0);
  EXPECT_LT(compare_readings(Reading(9, 1, 0, "a", ""), Reading(1, 1, 0, "a", "a")), 0);
  EXPECT_LT(compare_readings(Reading(9, 1, 0, "ab", ""), Reading(1, 1, 0, "abc", "")), 0);
  // Bytes >= 0x80 (UTF-8) sort above ASCII, as with memcmp / COLLATE "C".
  EXPECT_LT(compare_readings(Reading(9, 1, 0, "z", ""), Reading(1, 1, 0, "\xc3\xa9", "")), 0);
  // (region, device) is a pair, not a concatenation.
  EXPECT_LT(compare_readings(Reading(1, 1, 0, "a", "bc"), Reading(1, 1, 0, "ab", "c")), 0);
}

TEST(ReadingOrder, ThenValueBitsThenSkew) {
  EXPECT_LT(compare_readings(Reading(1.0, 1, 9, "a", ""), Reading(2.0, 1, 0, "a", "")), 0);
  // -0 has the sign bit set, so its bits sort above +0 and every positive value.
  EXPECT_LT(compare_readings(Reading(0.0, 1, 0, "a", ""), Reading(-0.0, 1, 0, "a", "")), 0);
  EXPECT_LT(compare_readings(Reading(1.0, 1, 0, "a", ""), Reading(1.0, 1, 1, "a", "")), 0);
  EXPECT_EQ(compare_readings(Reading(NAN, 1, 1, "a", "d"), Reading(-NAN, 1, 1, "a", "d")), 0);
}

}  // namespace
}  // namespace edgestate::core
