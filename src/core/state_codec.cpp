#include "core/state_codec.h"

#include <cstring>
#include <string_view>

#include "core/byte_order.h"
#include "core/short_bytes.h"
#include "core/varint.h"

namespace edgestate::core {
namespace {

constexpr uint64_t kExponentMask = 0x7FF0'0000'0000'0000;
constexpr uint64_t kMantissaMask = 0x000F'FFFF'FFFF'FFFF;

bool is_nan_bits(uint64_t bits) {
  return (bits & kExponentMask) == kExponentMask && (bits & kMantissaMask) != 0;
}

// Reads the skew varint, rejecting overlong forms (a final zero byte after the
// first) so that every skew has exactly one encoding.
DecodeStatus take_varint(const uint8_t **p, const uint8_t *end, uint32_t *out) {
  uint32_t v = 0;
  for (size_t i = 0; i < kMaxSkewVarintBytes; ++i) {
    if (*p == end) return DecodeStatus::kTruncated;
    const uint8_t byte = *(*p)++;
    v |= static_cast<uint32_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return DecodeStatus::kNonCanonicalVarint;
      *out = v;
      return DecodeStatus::kOk;
    }
  }
  // A fifth byte would be needed: the value is at least 2^28 > kMaxSkewMs.
  return DecodeStatus::kSkewOutOfRange;
}

DecodeStatus take_name(const uint8_t **p, const uint8_t *end, std::string_view *out) {
  if (*p == end) return DecodeStatus::kTruncated;
  const size_t length = *(*p)++;
  if (length > kMaxNameBytes) return DecodeStatus::kNameTooLong;
  if (static_cast<size_t>(end - *p) < length) return DecodeStatus::kTruncated;
  *out = std::string_view(reinterpret_cast<const char *>(*p), length);
  *p += length;
  return DecodeStatus::kOk;
}

uint8_t *put_name(uint8_t *p, std::string_view name) {
  *p++ = static_cast<uint8_t>(name.size());
  copy_short_bytes(p, name.data(), name.size());
  return p + name.size();
}

}  // namespace

const char *describe(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk:
      return "valid state";
    case DecodeStatus::kTruncated:
      return "state is truncated";
    case DecodeStatus::kBadVersion:
      return "unsupported state format version";
    case DecodeStatus::kBadFlags:
      return "state has unknown flag bits set";
    case DecodeStatus::kBadCount:
      return "state entry count must be between 1 and 16";
    case DecodeStatus::kNonCanonicalNan:
      return "state holds a non-canonical NaN";
    case DecodeStatus::kNonCanonicalVarint:
      return "state holds a skew bound in non-canonical varint form";
    case DecodeStatus::kSkewOutOfRange:
      return "state holds a skew bound outside 0 to 24 hours";
    case DecodeStatus::kEmptyRegion:
      return "state holds an empty region name";
    case DecodeStatus::kNameTooLong:
      return "state holds a region or device name longer than 63 bytes";
    case DecodeStatus::kNotDescending:
      return "state entries are not in strictly descending order";
    case DecodeStatus::kDuplicateOrigin:
      return "state holds two entries of the same origin";
    case DecodeStatus::kTrailingBytes:
      return "state has trailing bytes";
  }
  return "unknown state decode status";
}

DecodeStatus decode_state(const uint8_t *data, size_t size, StateView *out) {
  if (size < kStateHeaderBytes) return DecodeStatus::kTruncated;
  if (data[0] != kStateFormatVersion) return DecodeStatus::kBadVersion;
  const uint8_t flags = data[1];
  if ((flags & ~kStateFlagTruncated) != 0) return DecodeStatus::kBadFlags;
  const size_t count = data[2];
  if (count == 0 || count > kMaxEntries) return DecodeStatus::kBadCount;

  const uint8_t *p = data + kStateHeaderBytes;
  const uint8_t *const end = data + size;
  for (size_t i = 0; i < count; ++i) {
    if (static_cast<size_t>(end - p) < 16) return DecodeStatus::kTruncated;
    // Assembled locally and stored whole, so that the merge's wide loads of
    // this entry are forwarded from equally wide stores instead of stalling.
    Reading r;
    const uint64_t value_bits = load_le64(p);
    if (is_nan_bits(value_bits) && value_bits != kCanonicalNanBits) {
      return DecodeStatus::kNonCanonicalNan;
    }
    std::memcpy(&r.value, &value_bits, sizeof r.value);
    r.hlc = load_le64(p + 8);
    p += 16;
    if (DecodeStatus s = take_varint(&p, end, &r.skew_ms); s != DecodeStatus::kOk) return s;
    if (r.skew_ms > kMaxSkewMs) return DecodeStatus::kSkewOutOfRange;
    if (DecodeStatus s = take_name(&p, end, &r.region); s != DecodeStatus::kOk) return s;
    if (r.region.empty()) return DecodeStatus::kEmptyRegion;
    if (DecodeStatus s = take_name(&p, end, &r.device); s != DecodeStatus::kOk) return s;
    out->entries[i] = r;
    if (DecodeStatus s = check_entry_placement(out->entries, i); s != DecodeStatus::kOk) return s;
  }
  if (p != end) return DecodeStatus::kTrailingBytes;
  out->count = static_cast<uint8_t>(count);
  out->truncated = (flags & kStateFlagTruncated) != 0;
  return DecodeStatus::kOk;
}

bool state_subsumes_reading(const uint8_t *data, size_t size, const Reading &reading) {
  if (size < kStateHeaderBytes) return false;
  const size_t count = data[2];
  const uint8_t *p = data + kStateHeaderBytes;
  const uint8_t *const end = data + size;
  for (size_t i = 0; i < count; ++i) {
    if (static_cast<size_t>(end - p) < 16) return false;
    Reading entry;
    const uint64_t value_bits = load_le64(p);
    std::memcpy(&entry.value, &value_bits, sizeof entry.value);
    entry.hlc = load_le64(p + 8);
    p += 16;
    if (take_varint(&p, end, &entry.skew_ms) != DecodeStatus::kOk ||
        take_name(&p, end, &entry.region) != DecodeStatus::kOk ||
        take_name(&p, end, &entry.device) != DecodeStatus::kOk)
      return false;
    // Origins are unique in a state: the first match decides.
    if (same_origin(entry, reading)) return compare_readings(entry, reading) >= 0;
  }
  return false;
}

size_t encoded_size(const StateView &state) {
  size_t size = kStateHeaderBytes;
  for (size_t i = 0; i < state.count; ++i) {
    const Reading &r = state.entries[i];
    size += 16 + varint64_size(r.skew_ms) + 2 + r.region.size() + r.device.size();
  }
  return size;
}

size_t encode_state(const StateView &state, uint8_t *out, size_t capacity) {
  // A buffer of the maximal size needs no size pass (the common stack case).
  if (capacity < kMaxEncodedStateBytes && capacity < encoded_size(state)) return 0;
  uint8_t *p = out;
  *p++ = kStateFormatVersion;
  *p++ = state.truncated ? kStateFlagTruncated : 0;
  *p++ = state.count;
  for (size_t i = 0; i < state.count; ++i) {
    const Reading &r = state.entries[i];
    store_le64(p, double_bits(r.value));
    store_le64(p + 8, r.hlc);
    p = put_varint64(p + 16, r.skew_ms);
    p = put_name(p, r.region);
    p = put_name(p, r.device);
  }
  return static_cast<size_t>(p - out);
}

}  // namespace edgestate::core
