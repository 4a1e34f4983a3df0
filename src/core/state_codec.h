// Binary form of a state: the payload of the edgestate.state varlena, the
// value kept in the shared-memory latest index, and what travels between
// servers. Compact, little-endian, readable at any alignment. Layout:
//
//   byte 0     format version (kStateFormatVersion)
//   byte 1     flags: bit 0 = truncated, other bits zero
//   byte 2     entry count, 1..kMaxEntries
//   per entry, in descending total order:
//     8 bytes  value, IEEE 754 binary64 bits (NaN only as kCanonicalNanBits)
//     8 bytes  hlc
//     1-4      skew_ms, unsigned LEB128 varint, shortest form
//     1 byte   region length (1..63), then the region bytes
//     1 byte   device length (0..63), then the device bytes
//
// The decoder accepts exactly the byte strings the encoder produces, so equal
// states are byte-identical and decode -> encode is the identity.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/reading.h"
#include "core/state.h"

namespace edgestate::core {

constexpr uint8_t kStateFormatVersion = 1;
constexpr uint8_t kStateFlagTruncated = 0x01;
constexpr size_t kStateHeaderBytes = 3;
constexpr size_t kMaxSkewVarintBytes = 4;  // kMaxSkewMs < 2^28
constexpr size_t kMaxEncodedEntryBytes =
    8 + 8 + kMaxSkewVarintBytes + 1 + kMaxNameBytes + 1 + kMaxNameBytes;
// A buffer of this size holds any state, so callers can encode on the stack.
constexpr size_t kMaxEncodedStateBytes = kStateHeaderBytes + kMaxEntries * kMaxEncodedEntryBytes;

enum class DecodeStatus {
  kOk,
  kTruncated,           // the bytes end inside the header or an entry
  kBadVersion,          // unknown format version
  kBadFlags,            // a reserved flag bit is set
  kBadCount,            // entry count is 0 or more than kMaxEntries
  kNonCanonicalNan,     // a NaN other than kCanonicalNanBits
  kNonCanonicalVarint,  // skew_ms not in its shortest varint form
  kSkewOutOfRange,      // skew_ms > kMaxSkewMs
  kEmptyRegion,         // region length 0
  kNameTooLong,         // region or device longer than kMaxNameBytes
  kNotDescending,       // entries not in strictly descending total order
  kDuplicateOrigin,     // two entries share (region, device)
  kTrailingBytes,       // bytes left after the last entry
};

const char *describe(DecodeStatus status);

// Fills *out with views into data; data must outlive *out. On failure *out is
// unspecified. Never reads outside [data, data + size).
DecodeStatus decode_state(const uint8_t *data, size_t size, StateView *out);

// Whether merging the single reading `reading` into the encoded state would
// leave it unchanged because the state already holds a reading of the same
// origin at or above it in the total order (out-of-order batches are full of
// these). Reads the bytes without validating them, for states this process
// encoded itself; never reads outside [data, data + size) and answers false
// for bytes it cannot walk.
bool state_subsumes_reading(const uint8_t *data, size_t size, const Reading &reading);

// Exact number of bytes encode_state writes. Requires a valid state.
size_t encoded_size(const StateView &state);

// Writes the state to out and returns the number of bytes written, or 0 when
// capacity < encoded_size(state). Requires a valid state (from decode_state,
// state_of, merge_states or parse_state_text).
size_t encode_state(const StateView &state, uint8_t *out, size_t capacity);

// The placement rules of a canonical state for entry i, given entries [0, i):
// strictly below entry i - 1 in the total order and of an origin not seen
// before. kOk, kNotDescending or kDuplicateOrigin. Shared with the text parser
// so that text and binary input are equally strict; inline because decoding
// runs it for every entry of every merge input.
inline DecodeStatus check_entry_placement(const Reading *entries, size_t i) {
  if (i == 0) return DecodeStatus::kOk;
  if (compare_readings(entries[i - 1], entries[i]) <= 0) return DecodeStatus::kNotDescending;
  for (size_t k = 0; k < i; ++k) {
    if (same_origin(entries[k], entries[i])) return DecodeStatus::kDuplicateOrigin;
  }
  return DecodeStatus::kOk;
}

}  // namespace edgestate::core
