#include "core/state_text.h"

#include <gtest/gtest.h>

#include <limits>

#include "test_support.h"

namespace edgestate::core {
namespace {

using test::Bytes;

constexpr uint64_t kT = 1'795'674'040'123;

std::string roundtrip(const std::string &text) {
  Bytes bytes;
  std::string error;
  if (!parse_state_text(text, &bytes, &error)) return "error: " + error;
  return format_state(test::decode(bytes));
}

std::string parse_error(const std::string &text) {
  Bytes bytes;
  std::string error;
  if (parse_state_text(text, &bytes, &error)) return "parsed";
  return error;
}

const std::string kEntry = "21.5 @ 2026-11-26 06:20:40.123+00#5 \"eu-west\"/\"gw-7\" skew 50ms";

TEST(StateText, FormatsValuesLikeFloat8) {
  auto text_of = [](double v) {
    const Bytes bytes = test::single(Reading(v, hlc_make(kT, 0), 0, "r", ""));
    return format_state(test::decode(bytes));
  };
  EXPECT_EQ(text_of(21.5), "{21.5 @ 2026-11-26 06:20:40.123+00#0 \"r\"/\"\" skew 0ms}");
  EXPECT_EQ(text_of(std::numeric_limits<double>::quiet_NaN()).substr(0, 5), "{NaN ");
  EXPECT_EQ(text_of(std::numeric_limits<double>::infinity()).substr(0, 10), "{Infinity ");
  EXPECT_EQ(text_of(-std::numeric_limits<double>::infinity()).substr(0, 11), "{-Infinity ");
  EXPECT_EQ(text_of(-0.0).substr(0, 4), "{-0 ");
  EXPECT_EQ(text_of(0.1).substr(0, 5), "{0.1 ");
  EXPECT_EQ(text_of(1e300).substr(0, 8), "{1e+300 ");
  EXPECT_EQ(text_of(std::numeric_limits<double>::denorm_min()).substr(0, 8), "{5e-324 ");
}

TEST(StateText, RoundTrips) {
  EXPECT_EQ(roundtrip("{" + kEntry + "}"), "{" + kEntry + "}");
  const std::string two = "{" + kEntry +
                          ", -0 @ 2026-11-26 06:20:40.113+00#0 \"us-east\"/\"\" skew 86400000ms"
                          " truncated}";
  EXPECT_EQ(roundtrip(two), two);
  const std::string names =
      "{NaN @ 1970-01-01 00:00:00.000+00#0 \"say \"\"hi\"\"\"/\"caf\xc3\xa9\" skew 1ms}";
  EXPECT_EQ(roundtrip(names), names);
}

TEST(StateText, AcceptsWhitespaceAndOtherNumberSpellings) {
  EXPECT_EQ(
      roundtrip(" {\n 2.150e1@2026-11-26 06:20:40.123+00#5\t\"eu-west\" / \"gw-7\" skew 050 ms } "),
      "{" + kEntry + "}");
}

TEST(StateText, ParseErrorsNameWhatAndWhere) {
  EXPECT_EQ(parse_error(""), "expected '{' at offset 0");
  EXPECT_EQ(parse_error("{}"), "expected a number, NaN, Infinity or -Infinity at offset 1");
  EXPECT_EQ(parse_error("{inf @"), "expected a number, NaN, Infinity or -Infinity at offset 1");
  EXPECT_EQ(parse_error("{1e999 @"), "expected a number within the range of float8 at offset 1");
  EXPECT_EQ(parse_error("{1 2026"), "expected '@' at offset 3");
  EXPECT_EQ(parse_error("{1 @ 2026-11-26T06:20:40.123+00#5 \"r\"/\"\" skew 0ms}"),
            "expected an hlc in canonical form, such as 2026-11-26 06:20:40.123+00#5 at offset 5");
  EXPECT_EQ(parse_error("{1 @ 2026-11-26 06:20:40.123+00#5 r/\"\" skew 0ms}"),
            "expected a double-quoted name at offset 34");
  EXPECT_EQ(parse_error("{1 @ 2026-11-26 06:20:40.123+00#5 \"r/\"\" skew 0ms}"),
            "expected a name closed by '\"' at offset 34");
  EXPECT_EQ(parse_error("{1 @ 2026-11-26 06:20:40.123+00#5 \"r\"/\"\" skew -1ms}"),
            "expected a skew bound in whole milliseconds at offset 46");
  EXPECT_EQ(parse_error("{1 @ 2026-11-26 06:20:40.123+00#5 \"r\"/\"\" skew 0}"),
            "expected 'ms' at offset 47");
  EXPECT_EQ(parse_error("{" + kEntry + ";"), "expected '}' at offset 63");
  EXPECT_EQ(parse_error("{" + kEntry + "} x"), "expected end of input after '}' at offset 65");
}

TEST(StateText, RejectsWhatDecodeRejects) {
  EXPECT_EQ(parse_error("{1 @ 2026-11-26 06:20:40.123+00#5 \"\"/\"\" skew 0ms}"),
            "entry 1 (at offset 1): region must not be empty");
  EXPECT_EQ(parse_error("{1 @ 2026-11-26 06:20:40.123+00#5 \"" + std::string(64, 'x') +
                        "\"/\"\" skew 0ms}"),
            "entry 1 (at offset 1): region name is longer than 63 bytes");
  EXPECT_EQ(parse_error("{1 @ 2026-11-26 06:20:40.123+00#5 \"r\"/\"\" skew 86400001ms}"),
            "entry 1 (at offset 1): skew bound must be between 0 and 24 hours");
  const std::string older = "1 @ 2026-11-26 06:20:40.000+00#0 \"us\"/\"\" skew 0ms";
  EXPECT_EQ(parse_error("{" + older + ", " + kEntry + "}"),
            "entry 2 (at offset 52): entries must be listed in strictly descending order of "
            "(hlc, region, device, value bits, skew)");
  const std::string same_origin = "1 @ 2026-11-26 06:20:40.000+00#0 \"eu-west\"/\"gw-7\" skew 0ms";
  EXPECT_EQ(parse_error("{" + kEntry + ", " + same_origin + "}"),
            "entry 2 (at offset 65): its origin already appears in an earlier entry");
  std::string seventeen = "{";
  for (int i = 0; i < 17; ++i) {
    seventeen += (i ? ", " : "") + std::string("1 @ 2026-11-26 06:20:40.000+00#0 \"r") +
                 static_cast<char>('z' - i) + "\"/\"\" skew 0ms";
  }
  EXPECT_EQ(parse_error(seventeen + "}").substr(0, 27), "expected at most 16 entries");
}

}  // namespace
}  // namespace edgestate::core
