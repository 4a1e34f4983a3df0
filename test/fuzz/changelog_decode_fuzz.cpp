// libFuzzer target for the change-log decoder: decodes the input as a stream,
// frame by frame with one decoder, until an error or the end; every decoded
// reading is also rendered as JSON. A second pass decodes a copy whose frame
// checksums have been recomputed, so that mutations reach the payload parser
// instead of stopping at the CRC. Seeds: test/fuzz/corpus/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/changelog.h"

namespace {

using edgestate::core::ChangelogDecoder;
using edgestate::core::ChangelogError;
using edgestate::core::ChangelogFrame;

void decode_all(const uint8_t *data, size_t size) {
  ChangelogDecoder decoder;
  ChangelogFrame frame{};
  size_t pos = 0;
  while (pos <= size) {
    size_t consumed = 0;
    const ChangelogError error = decoder.next(data + pos, size - pos, &consumed, &frame);
    if (error != ChangelogError::kOk) break;
    if (consumed == 0 || consumed > size - pos) std::abort();  // must always progress
    pos += consumed;
    for (const auto &reading : frame.readings) {
      (void)edgestate::core::changelog_reading_json(frame, reading, 0);
    }
  }
}

// Rewrites the CRC of every frame whose header parses and that fits in the
// buffer (frames follow each other, with an optional newline before each).
void fix_checksums(std::vector<uint8_t> *bytes) {
  uint8_t *data = bytes->data();
  const size_t size = bytes->size();
  size_t pos = 0;
  for (;;) {
    if (pos < size && data[pos] == '\n') ++pos;
    if (size - pos < 3) return;
    size_t at = pos + 2;
    uint64_t length = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (at == size || shift > 21) return;
      const uint8_t byte = data[at++];
      length |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) break;
    }
    if (size - at < length + 4) return;
    const uint32_t crc = edgestate::core::crc32c(data + pos, at - pos + length);
    for (int i = 0; i < 4; ++i) data[at + length + i] = static_cast<uint8_t>(crc >> (8 * i));
    pos = at + length + 4;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  decode_all(data, size);
  std::vector<uint8_t> fixed(data, data + size);
  fix_checksums(&fixed);
  decode_all(fixed.data(), fixed.size());
  return 0;
}
