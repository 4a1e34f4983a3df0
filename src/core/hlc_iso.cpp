// A fast path for the timestamp texts gateways and COPY files usually carry
// ("2026-11-26 06:20:40.123+00", "2026-11-26T06:20:40Z", with an optional
// "#counter"), so that loading readings does not go through PostgreSQL's
// general date parser for each row. Anything it does not recognise exactly
// is left to that parser.
#include <cstdint>
#include <string_view>

#include "core/civil_date.h"
#include "core/hlc.h"

namespace edgestate::core {
namespace {

bool digits(std::string_view text, size_t pos, size_t count, uint32_t *out) {
  if (pos + count > text.size()) return false;
  uint32_t value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  *out = value;
  return true;
}

}  // namespace

bool hlc_parse_iso(std::string_view text, uint64_t *out) {
  // YYYY-MM-DD
  uint32_t year, month, day, hour, minute, second;
  if (text.size() < 19 || !digits(text, 0, 4, &year) || text[4] != '-' ||
      !digits(text, 5, 2, &month) || text[7] != '-' || !digits(text, 8, 2, &day) ||
      (text[10] != ' ' && text[10] != 'T') || !digits(text, 11, 2, &hour) || text[13] != ':' ||
      !digits(text, 14, 2, &minute) || text[16] != ':' || !digits(text, 17, 2, &second))
    return false;
  if (year < 1970 || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(static_cast<int64_t>(year), month) || hour > 23 || minute > 59 ||
      second > 59)
    return false;
  size_t pos = 19;
  // Fraction: up to 6 digits, rounded down to the millisecond.
  uint32_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    size_t start = ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    size_t count = pos - start;
    if (count == 0 || count > 6) return false;
    for (size_t i = 0; i < 3; ++i)
      millis = millis * 10 + (i < count ? static_cast<uint32_t>(text[start + i] - '0') : 0);
  }
  // Zone: Z, or +HH, +HH:MM, +HHMM (and minus).
  if (pos >= text.size()) return false;  // no zone: the session's TimeZone decides
  int64_t offset_minutes = 0;
  if (text[pos] == 'Z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    int sign = text[pos] == '-' ? -1 : 1;
    uint32_t zone_hours, zone_minutes = 0;
    if (!digits(text, pos + 1, 2, &zone_hours)) return false;
    pos += 3;
    if (pos < text.size() && text[pos] == ':') {
      if (!digits(text, pos + 1, 2, &zone_minutes)) return false;
      pos += 3;
    } else if (pos + 1 < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (!digits(text, pos, 2, &zone_minutes)) return false;
      pos += 2;
    }
    if (zone_hours > 15 || zone_minutes > 59) return false;
    offset_minutes = sign * static_cast<int64_t>(zone_hours * 60 + zone_minutes);
  } else {
    return false;
  }
  // Optional logical counter.
  uint32_t logical = 0;
  if (pos < text.size()) {
    if (text[pos] != '#') return false;
    size_t start = ++pos;
    if (start == text.size() || text.size() - start > 5) return false;
    uint32_t counter = 0;
    if (!digits(text, start, text.size() - start, &counter) || counter > kMaxLogical) return false;
    logical = counter;
  }
  int64_t days = days_from_civil(static_cast<int64_t>(year), month, day);
  int64_t ms = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60'000 +
               static_cast<int64_t>(second) * 1000 + millis;
  if (ms < 0 || static_cast<uint64_t>(ms) > kMaxPhysicalMs) return false;
  *out = hlc_make(static_cast<uint64_t>(ms), logical);
  return true;
}

}  // namespace edgestate::core
