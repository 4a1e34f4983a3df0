#include "core/invalidation_payload.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace edgestate::core {
namespace {

using Keys = std::vector<std::string>;

InvalidationPayload parse_ok(std::string_view text) {
  InvalidationPayload payload;
  std::string error;
  EXPECT_TRUE(parse_invalidation_payload(text, &payload, &error)) << error;
  return payload;
}

std::string parse_error(std::string_view text) {
  InvalidationPayload payload;
  std::string error;
  if (parse_invalidation_payload(text, &payload, &error)) return "parsed";
  return error;
}

TEST(InvalidationPayload, HeaderAndKeys) {
  const auto p = parse_ok("v1 17 42 public.readings\nsensor-1\nsensor-2\nsensor-1");
  EXPECT_EQ(p.first_seq, 17u);
  EXPECT_EQ(p.last_seq, 42u);
  EXPECT_EQ(p.table, "public.readings");
  EXPECT_EQ(p.keys, (Keys{"sensor-1", "sensor-2", "sensor-1"}));
}

TEST(InvalidationPayload, HeaderOnly) {
  const auto p = parse_ok("v1 5 5 s.t");
  EXPECT_EQ(p.first_seq, 5u);
  EXPECT_EQ(p.last_seq, 5u);
  EXPECT_EQ(p.table, "s.t");
  EXPECT_TRUE(p.keys.empty());
}

TEST(InvalidationPayload, EmptyKeysAreKeys) {
  // Lines are separated, not terminated: a trailing newline is an empty key.
  EXPECT_EQ(parse_ok("v1 1 1 t\n").keys, (Keys{""}));
  EXPECT_EQ(parse_ok("v1 1 1 t\n\na").keys, (Keys{"", "a"}));
}

TEST(InvalidationPayload, TableIsTheRestOfTheLine) {
  const auto p = parse_ok("v1 1 2 public.\"my readings\"\nk");
  EXPECT_EQ(p.table, "public.\"my readings\"");
  EXPECT_EQ(p.keys, (Keys{"k"}));
}

TEST(InvalidationPayload, Escapes) {
  const auto p = parse_ok("v1 1 2 s.\"a\\\\b\"\nline\\nbreak\nback\\\\slash\n\\\\n\n\\n\\\\");
  EXPECT_EQ(p.table, "s.\"a\\b\"");
  EXPECT_EQ(p.keys, (Keys{"line\nbreak", "back\\slash", "\\n", "\n\\"}));
}

TEST(InvalidationPayload, KeysKeepSpacesTabsAndUtf8) {
  const auto p = parse_ok("v1 0 0 t\n  a b \t\nm\xc3\xbcnchen/\xe2\x82\xac");
  EXPECT_EQ(p.keys, (Keys{"  a b \t", "m\xc3\xbcnchen/\xe2\x82\xac"}));
}

TEST(InvalidationPayload, LargestSequenceNumbers) {
  const auto p = parse_ok("v1 18446744073709551614 18446744073709551615 t");
  EXPECT_EQ(p.first_seq, UINT64_MAX - 1);
  EXPECT_EQ(p.last_seq, UINT64_MAX);
  EXPECT_EQ(parse_ok("v1 007 0010 t").first_seq, 7u);
}

TEST(InvalidationPayload, VersionTwoCarriesTheChannelsPreviousSeq) {
  const auto p = parse_ok("v2 16 17 42 public.readings\nsensor-1");
  ASSERT_TRUE(p.prev_seq.has_value());
  EXPECT_EQ(*p.prev_seq, 16u);
  EXPECT_EQ(p.first_seq, 17u);
  EXPECT_EQ(p.last_seq, 42u);
  EXPECT_EQ(p.table, "public.readings");
  EXPECT_EQ(p.keys, (Keys{"sensor-1"}));
  // prev_seq may lie past first_seq (another table's payload on the channel
  // covered a later range of the same batch).
  EXPECT_EQ(*parse_ok("v2 50 17 42 t").prev_seq, 50u);
  EXPECT_FALSE(parse_ok("v1 17 42 t").prev_seq.has_value());
}

TEST(InvalidationPayload, Errors) {
  EXPECT_EQ(parse_error(""),
            "malformed header: expected \"v2 <prev_seq> <first_seq> <last_seq> <table>\"");
  EXPECT_EQ(parse_error("v1"),
            "malformed header: expected \"v2 <prev_seq> <first_seq> <last_seq> <table>\"");
  EXPECT_EQ(parse_error("v1 1 2"),
            "malformed header: expected \"v2 <prev_seq> <first_seq> <last_seq> <table>\"");
  EXPECT_EQ(parse_error("v1 1 2\nk"),
            "malformed header: expected \"v2 <prev_seq> <first_seq> <last_seq> <table>\"");
  EXPECT_EQ(parse_error("v1 1 2 "), "malformed header: empty table name");
  EXPECT_EQ(parse_error("v2 1 2 t"),
            "malformed header: expected \"v2 <prev_seq> <first_seq> <last_seq> <table>\"");
  EXPECT_EQ(parse_error("v2 1 2 3"),
            "malformed header: expected \"v2 <prev_seq> <first_seq> <last_seq> <table>\"");
  EXPECT_EQ(parse_error("v2 x 2 3 t"), "malformed header: sequence numbers must be decimal uint64");
  EXPECT_EQ(parse_error("v2 0 3 2 t"), "malformed header: first_seq 3 is greater than last_seq 2");
  EXPECT_EQ(parse_error("v3 1 2 3 t"), "unsupported payload version \"v3\"");
  EXPECT_EQ(parse_error("V1 1 2 t"), "unsupported payload version \"V1\"");
  EXPECT_EQ(parse_error("v1 -1 2 t"), "malformed header: sequence numbers must be decimal uint64");
  EXPECT_EQ(parse_error("v1 +1 2 t"), "malformed header: sequence numbers must be decimal uint64");
  EXPECT_EQ(parse_error("v1 1 x t"), "malformed header: sequence numbers must be decimal uint64");
  EXPECT_EQ(parse_error("v1  1 2 t"), "malformed header: sequence numbers must be decimal uint64");
  EXPECT_EQ(parse_error("v1 1 18446744073709551616 t"),
            "malformed header: sequence numbers must be decimal uint64");
  EXPECT_EQ(parse_error("v1 3 2 t"), "malformed header: first_seq 3 is greater than last_seq 2");
  EXPECT_EQ(parse_error("v1 1 2 t\\"), "table name: backslash at the end of a field");
  EXPECT_EQ(parse_error("v1 1 2 t\nok\nbad\\"), "line 3: backslash at the end of a field");
  EXPECT_EQ(parse_error("v1 1 2 t\nbad\\t"), "line 2: unknown escape \\t");
}

TEST(InvalidationPayload, EscapeField) {
  EXPECT_EQ(escape_invalidation_field("plain key"), "plain key");
  EXPECT_EQ(escape_invalidation_field("a\\b\nc"), "a\\\\b\\nc");
  std::string out;
  std::string error;
  EXPECT_TRUE(unescape_invalidation_field("a\\\\b\\nc", &out, &error));
  EXPECT_EQ(out, "a\\b\nc");
}

TEST(InvalidationPayload, FormatSplitsBatches) {
  Keys keys;
  for (int i = 0; i < 50; ++i) keys.push_back("key-" + std::to_string(i));
  const auto payloads = format_invalidation_payloads(9, 10, 20, "public.t", keys, 64);
  ASSERT_GT(payloads.size(), 1u);
  Keys all;
  for (const auto &text : payloads) {
    EXPECT_LE(text.size(), 64u);
    const auto p = parse_ok(text);
    EXPECT_EQ(p.prev_seq, std::optional<uint64_t>(9));
    EXPECT_EQ(p.first_seq, 10u);
    EXPECT_EQ(p.last_seq, 20u);
    EXPECT_EQ(p.table, "public.t");
    EXPECT_FALSE(p.keys.empty());
    all.insert(all.end(), p.keys.begin(), p.keys.end());
  }
  EXPECT_EQ(all, keys);
}

TEST(InvalidationPayload, FormatEdgeCases) {
  EXPECT_EQ(format_invalidation_payloads(0, 1, 1, "t", {}), (Keys{"v2 0 1 1 t"}));
  EXPECT_EQ(format_invalidation_payloads(0, 1, 2, "t", {""}), (Keys{"v2 0 1 2 t\n"}));
  Keys too_long;
  const auto payloads =
      format_invalidation_payloads(0, 1, 2, "t", {"a", std::string(100, 'x'), "b"}, 32, &too_long);
  EXPECT_EQ(payloads, (Keys{"v2 0 1 2 t\na\nb"}));
  EXPECT_EQ(too_long, (Keys{std::string(100, 'x')}));
  // Exactly at the limit fits; escaping counts.
  const std::string header = "v2 0 1 2 t";
  const std::string key(kMaxNotifyPayload - header.size() - 1, 'k');
  EXPECT_EQ(format_invalidation_payloads(0, 1, 2, "t", {key}).size(), 1u);
  too_long.clear();
  EXPECT_TRUE(format_invalidation_payloads(0, 1, 2, "t", {key + "\n"}, kMaxNotifyPayload, &too_long)
                  .empty());
  EXPECT_EQ(too_long.size(), 1u);
}

rc::Gen<std::string> gen_field() {
  return rc::gen::container<std::string>(
      rc::gen::weightedOneOf<char>({{4, rc::gen::element('a', 'b', ' ', '-', '.')},
                                    {2, rc::gen::element('\\', '\n', 'n')},
                                    {1, rc::gen::arbitrary<char>()}}));
}

RC_GTEST_PROP(InvalidationPayloadProperties, FormatThenParseRoundTrips, ()) {
  const uint64_t first = *rc::gen::arbitrary<uint64_t>();
  const uint64_t span = *rc::gen::inRange<uint64_t>(0, 1000);
  const uint64_t last = first > UINT64_MAX - span ? UINT64_MAX : first + span;
  const auto table = *rc::gen::nonEmpty(gen_field());
  const auto keys = *rc::gen::container<Keys>(gen_field());
  const size_t limit = *rc::gen::inRange<size_t>(40, 400);
  Keys too_long;
  const uint64_t prev = *rc::gen::arbitrary<uint64_t>();
  const auto payloads =
      format_invalidation_payloads(prev, first, last, table, keys, limit, &too_long);
  Keys parsed_keys;
  for (const auto &text : payloads) {
    RC_ASSERT(text.size() <= limit || keys.empty());
    InvalidationPayload p;
    std::string error;
    RC_ASSERT(parse_invalidation_payload(text, &p, &error));
    RC_ASSERT(p.prev_seq == std::optional<uint64_t>(prev));
    RC_ASSERT(p.first_seq == first);
    RC_ASSERT(p.last_seq == last);
    RC_ASSERT(p.table == table);
    parsed_keys.insert(parsed_keys.end(), p.keys.begin(), p.keys.end());
  }
  // Every key is either delivered, in order, or reported as too long.
  size_t delivered = 0, rejected = 0;
  for (const auto &key : keys) {
    if (delivered < parsed_keys.size() && parsed_keys[delivered] == key) {
      ++delivered;
    } else {
      RC_ASSERT(rejected < too_long.size());
      RC_ASSERT(too_long[rejected] == key);
      ++rejected;
    }
  }
  RC_ASSERT(delivered == parsed_keys.size());
  RC_ASSERT(rejected == too_long.size());
}

RC_GTEST_PROP(InvalidationPayloadProperties, EscapeRoundTripsAndHasNoNewline, ()) {
  const auto raw = *gen_field();
  const std::string escaped = escape_invalidation_field(raw);
  RC_ASSERT(escaped.find('\n') == std::string::npos);
  std::string back;
  std::string error;
  RC_ASSERT(unescape_invalidation_field(escaped, &back, &error));
  RC_ASSERT(back == raw);
}

RC_GTEST_PROP(InvalidationPayloadProperties, ParserNeverCrashes, (const std::string &text)) {
  InvalidationPayload p;
  std::string error;
  if (!parse_invalidation_payload(text, &p, &error)) RC_ASSERT(!error.empty());
}

}  // namespace
}  // namespace edgestate::core
