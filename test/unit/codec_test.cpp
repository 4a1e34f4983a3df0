#include "core/state_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "test_support.h"

namespace edgestate::core {
namespace {

using test::Bytes;

constexpr uint64_t kT = uint64_t{1'795'674'040'123} << 16;  // 2026-11-26 06:20:40.123

Bytes two_entry_state() {
  return test::merge(test::single(Reading(21.5, kT + 5, 50, "eu-west", "gw-7")),
                     test::single(Reading(20.9, kT - (uint64_t{10} << 16), 50, "us-east", "")),
                     kDefaultCandidates);
}

DecodeStatus status_of(const Bytes &bytes) {
  StateView state;
  return decode_state(bytes.data(), bytes.size(), &state);
}

TEST(Codec, SingleReadingLayout) {
  const Bytes bytes = test::single(Reading(1.0, 0x0102030405060708, 300, "eu", "d"));
  const Bytes expected = {1,    0,    1,                                   // version, flags, count
                          0,    0,    0,    0,    0,    0,    0xF0, 0x3F,  // 1.0, little-endian
                          0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // hlc
                          0xAC, 0x02,                                      // 300 as a varint
                          2,    'e',  'u',  1,    'd'};
  EXPECT_EQ(bytes, expected);
}

TEST(Codec, RoundTripsWithAllFields) {
  const Bytes bytes = two_entry_state();
  const StateView state = test::decode(bytes);
  ASSERT_EQ(state.count, 2);
  EXPECT_FALSE(state.truncated);
  EXPECT_EQ(state.winner().region, "eu-west");
  EXPECT_EQ(state.winner().device, "gw-7");
  EXPECT_EQ(state.entries[1].region, "us-east");
  EXPECT_EQ(test::encode(state), bytes);
}

TEST(Codec, EncodeRefusesSmallBuffer) {
  const Bytes bytes = two_entry_state();
  const StateView state = test::decode(bytes);
  uint8_t buf[kMaxEncodedStateBytes];
  EXPECT_EQ(encode_state(state, buf, encoded_size(state) - 1), 0u);
  EXPECT_EQ(encode_state(state, buf, sizeof buf), encoded_size(state));
}

TEST(Codec, MaxSkewUsesFourVarintBytes) {
  const Bytes bytes = test::single(Reading(1.0, 0, kMaxSkewMs, "r", ""));
  EXPECT_EQ(bytes.size(), kStateHeaderBytes + 16 + 4 + 2 + 1);
  EXPECT_EQ(test::decode(bytes).winner().skew_ms, kMaxSkewMs);
}

// Offsets into two_entry_state()'s first entry.
constexpr size_t kValue = 3;
constexpr size_t kSkew = 19;
constexpr size_t kRegionLength = 20;

void store_bits(Bytes *b, size_t at, uint64_t bits) {
  for (size_t i = 0; i < 8; ++i) (*b)[at + i] = static_cast<uint8_t>(bits >> (8 * i));
}

TEST(CodecErrors, EachStatusFromCorruptedBytes) {
  const Bytes good = two_entry_state();
  ASSERT_EQ(status_of(good), DecodeStatus::kOk);
  auto corrupt = [&](auto &&edit) {
    Bytes b = good;
    edit(b);
    return status_of(b);
  };
  EXPECT_EQ(status_of(Bytes{}), DecodeStatus::kTruncated);
  EXPECT_EQ(status_of(Bytes{1, 0}), DecodeStatus::kTruncated);
  EXPECT_EQ(corrupt([](Bytes &b) { b.pop_back(); }), DecodeStatus::kTruncated);
  EXPECT_EQ(corrupt([](Bytes &b) { b[0] = 2; }), DecodeStatus::kBadVersion);
  EXPECT_EQ(corrupt([](Bytes &b) { b[1] = 0x02; }), DecodeStatus::kBadFlags);
  EXPECT_EQ(corrupt([](Bytes &b) { b[2] = 0; }), DecodeStatus::kBadCount);
  EXPECT_EQ(corrupt([](Bytes &b) { b[2] = 17; }), DecodeStatus::kBadCount);
  EXPECT_EQ(corrupt([](Bytes &b) { b[2] = 3; }), DecodeStatus::kTruncated);
  EXPECT_EQ(corrupt([](Bytes &b) { b[2] = 1; }), DecodeStatus::kTrailingBytes);
  EXPECT_EQ(corrupt([](Bytes &b) { b.push_back(0); }), DecodeStatus::kTrailingBytes);
  // A negative quiet NaN: sign bit set.
  EXPECT_EQ(corrupt([](Bytes &b) { store_bits(&b, kValue, 0xFFF8'0000'0000'0000); }),
            DecodeStatus::kNonCanonicalNan);
  EXPECT_EQ(corrupt([](Bytes &b) {
              store_bits(&b, kValue, 0x7FF0'0000'0000'0001);  // signalling
            }),
            DecodeStatus::kNonCanonicalNan);
  // 50 written in two bytes: 0xB2 0x00.
  EXPECT_EQ(corrupt([](Bytes &b) {
              b[kSkew] = 0xB2;
              b.insert(b.begin() + kSkew + 1, 0x00);
            }),
            DecodeStatus::kNonCanonicalVarint);
  EXPECT_EQ(corrupt([](Bytes &b) {
              b[kSkew] = 0xFF;
              b.insert(b.begin() + kSkew + 1, {0xFF, 0xFF, 0x7F});  // 2^28 - 1
            }),
            DecodeStatus::kSkewOutOfRange);
  EXPECT_EQ(corrupt([](Bytes &b) {
              b[kSkew] = 0xFF;
              b.insert(b.begin() + kSkew + 1, {0xFF, 0xFF, 0xFF, 0x01});  // 5 bytes
            }),
            DecodeStatus::kSkewOutOfRange);
  EXPECT_EQ(corrupt([](Bytes &b) {
              b.erase(b.begin() + kRegionLength + 1, b.begin() + kRegionLength + 8);
              b[kRegionLength] = 0;
            }),
            DecodeStatus::kEmptyRegion);
  EXPECT_EQ(corrupt([](Bytes &b) { b[kRegionLength] = 64; }), DecodeStatus::kNameTooLong);
  EXPECT_EQ(corrupt([](Bytes &b) { b[kRegionLength] = 200; }), DecodeStatus::kNameTooLong);
  EXPECT_EQ(corrupt([](Bytes &b) { b[kRegionLength + 8] = 64; }), DecodeStatus::kNameTooLong);
}

TEST(CodecErrors, OrderAndDuplicateOrigin) {
  const Bytes first = test::single(Reading(21.5, kT + 5, 50, "eu-west", "gw-7"));
  const Bytes second = test::single(Reading(20.9, kT - (uint64_t{10} << 16), 50, "us-east", ""));
  const Bytes same_origin_older = test::single(Reading(1.0, kT, 50, "eu-west", "gw-7"));
  auto concat = [](const Bytes &a, const Bytes &b) {
    Bytes out(a.size() + b.size() - 3);
    const auto middle = std::copy(a.begin(), a.end(), out.begin());
    std::copy(b.begin() + 3, b.end(), middle);
    out[2] = 2;
    return out;
  };
  EXPECT_EQ(status_of(concat(first, second)), DecodeStatus::kOk);
  EXPECT_EQ(status_of(concat(second, first)), DecodeStatus::kNotDescending);
  EXPECT_EQ(status_of(concat(first, first)), DecodeStatus::kNotDescending);
  EXPECT_EQ(status_of(concat(first, same_origin_older)), DecodeStatus::kDuplicateOrigin);
}

TEST(CodecErrors, DescribeCoversEveryStatus) {
  for (int s = 0; s <= static_cast<int>(DecodeStatus::kTrailingBytes); ++s) {
    EXPECT_NE(std::string(describe(static_cast<DecodeStatus>(s))), "unknown state decode status");
  }
}

}  // namespace
}  // namespace edgestate::core
