#include "core/reading.h"

namespace edgestate::core {

const char *describe(ReadingError error) {
  switch (error) {
    case ReadingError::kOk:
      return "valid reading";
    case ReadingError::kEmptyRegion:
      return "region must not be empty";
    case ReadingError::kRegionTooLong:
      return "region name is longer than 63 bytes";
    case ReadingError::kDeviceTooLong:
      return "device name is longer than 63 bytes";
    case ReadingError::kSkewOutOfRange:
      return "skew bound must be between 0 and 24 hours";
  }
  return "unknown reading error";
}

ReadingError validate_reading(const Reading &reading) {
  if (reading.region.empty()) return ReadingError::kEmptyRegion;
  if (reading.region.size() > kMaxNameBytes) return ReadingError::kRegionTooLong;
  if (reading.device.size() > kMaxNameBytes) return ReadingError::kDeviceTooLong;
  if (reading.skew_ms > kMaxSkewMs) return ReadingError::kSkewOutOfRange;
  return ReadingError::kOk;
}

}  // namespace edgestate::core
