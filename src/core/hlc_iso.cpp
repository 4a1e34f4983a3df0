// A fast path for the timestamp texts gateways and COPY files usually carry
// ("2026-11-26 06:20:40.123+00", "2026-11-26T06:20:40Z", with an optional
// "#counter"), so that loading readings does not go through PostgreSQL's
// general date parser for each row. Anything it does not recognise exactly
// is left to that parser.
#include <cstdint>
#include <string_view>

#include "core/hlc.h"

namespace edgestate::core {
namespace {

// The number the two ASCII digits at p spell, or -1 if either is not a digit.
// Unsigned subtraction folds both range checks into one comparison each.
inline int two_digits(const char *p) {
  const unsigned tens = static_cast<unsigned char>(p[0]) - unsigned{'0'};
  const unsigned ones = static_cast<unsigned char>(p[1]) - unsigned{'0'};
  return tens > 9 || ones > 9 ? -1 : static_cast<int>(tens * 10 + ones);
}

inline bool is_digit(char c) { return static_cast<unsigned char>(c) - unsigned{'0'} <= 9; }

}  // namespace

// Runs once per reading a COPY loads, so it reads fixed positions without a
// scanner: "YYYY-MM-DD?HH:MM:SS" is 19 bytes, and a zone must follow.
bool hlc_parse_iso(std::string_view text, uint64_t *out) {
  const size_t size = text.size();
  if (size < 20) return false;
  const char *s = text.data();
  const int century = two_digits(s), year_of_century = two_digits(s + 2);
  const int month = two_digits(s + 5), day = two_digits(s + 8);
  const int hour = two_digits(s + 11), minute = two_digits(s + 14), second = two_digits(s + 17);
  if ((century | year_of_century | month | day | hour | minute | second) < 0 || s[4] != '-' ||
      s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':')
    return false;
  size_t pos = 19;
  // Fraction: up to 6 digits, rounded down to the millisecond.
  uint32_t millis = 0;
  if (s[pos] == '.') {
    const size_t start = ++pos;
    while (pos < size && is_digit(s[pos])) ++pos;
    const size_t count = pos - start;
    if (count == 0 || count > 6) return false;
    for (size_t i = 0; i < 3; ++i)
      millis = millis * 10 + (i < count ? static_cast<uint32_t>(s[start + i] - '0') : 0);
  }
  // Zone: Z, or +HH, +HH:MM, +HHMM (and minus).
  if (pos >= size) return false;  // no zone: the session's TimeZone decides
  int64_t offset_minutes = 0;
  if (s[pos] == 'Z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int sign = s[pos] == '-' ? -1 : 1;
    if (pos + 3 > size) return false;
    const int zone_hours = two_digits(s + pos + 1);
    int zone_minutes = 0;
    pos += 3;
    if (pos < size && s[pos] == ':') {
      if (pos + 3 > size) return false;
      zone_minutes = two_digits(s + pos + 1);
      pos += 3;
    } else if (pos + 1 < size && is_digit(s[pos])) {
      zone_minutes = two_digits(s + pos);
      pos += 2;
    }
    if (zone_hours < 0 || zone_minutes < 0 || zone_hours > 15 || zone_minutes > 59) return false;
    offset_minutes = sign * static_cast<int64_t>(zone_hours * 60 + zone_minutes);
  } else {
    return false;
  }
  // Optional logical counter: "#" and 1 to 5 digits.
  uint32_t logical = 0;
  if (pos < size) {
    if (s[pos] != '#') return false;
    const size_t start = ++pos;
    if (start == size || size - start > 5) return false;
    for (; pos < size; ++pos) {
      if (!is_digit(s[pos])) return false;
      logical = logical * 10 + static_cast<uint32_t>(s[pos] - '0');
    }
    if (logical > kMaxLogical) return false;
  }
  uint64_t ms;
  if (!hlc_physical_of_civil(century * 100 + year_of_century, month, day, hour, minute, second,
                             static_cast<int>(millis), static_cast<int>(offset_minutes), &ms))
    return false;
  *out = hlc_make(ms, logical);
  return true;
}

}  // namespace edgestate::core
