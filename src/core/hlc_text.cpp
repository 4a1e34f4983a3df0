// Canonical text form of HLC values; see hlc.h.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/civil_date.h"
#include "core/hlc.h"

namespace edgestate::core {
namespace {

constexpr uint64_t kMsPerDay = 86'400'000;

// Writes value as exactly `width` decimal digits (zero-padded).
char *put_digits(char *out, uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

int decimal_width(uint32_t value) {
  int width = 1;
  while (value >= 10) {
    value /= 10;
    ++width;
  }
  return width;
}

// Reads exactly `width` decimal digits at text[*pos]; advances *pos.
bool take_digits(std::string_view text, size_t *pos, int width, uint64_t *value) {
  if (text.size() - *pos < static_cast<size_t>(width)) return false;
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) {
    const char ch = text[*pos + i];
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<uint64_t>(ch - '0');
  }
  *pos += width;
  *value = v;
  return true;
}

bool take_literal(std::string_view text, size_t *pos, std::string_view literal) {
  if (text.substr(*pos, literal.size()) != literal) return false;
  *pos += literal.size();
  return true;
}

size_t count_leading_digits(std::string_view text) {
  size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') ++n;
  return n;
}

}  // namespace

std::string hlc_format(uint64_t hlc) {
  const uint64_t ms = hlc_physical(hlc);
  const CivilDate date = civil_from_days(static_cast<int64_t>(ms / kMsPerDay));
  const uint64_t ms_of_day = ms % kMsPerDay;
  char buf[kMaxHlcTextLength];
  char *p = put_digits(buf, static_cast<uint64_t>(date.year), date.year > 9999 ? 5 : 4);
  *p++ = '-';
  p = put_digits(p, date.month, 2);
  *p++ = '-';
  p = put_digits(p, date.day, 2);
  *p++ = ' ';
  p = put_digits(p, ms_of_day / 3'600'000, 2);
  *p++ = ':';
  p = put_digits(p, ms_of_day / 60'000 % 60, 2);
  *p++ = ':';
  p = put_digits(p, ms_of_day / 1000 % 60, 2);
  *p++ = '.';
  p = put_digits(p, ms_of_day % 1000, 3);
  for (char ch : std::string_view("+00#")) *p++ = ch;
  const uint32_t logical = hlc_logical(hlc);
  p = put_digits(p, logical, decimal_width(logical));
  return std::string(buf, static_cast<size_t>(p - buf));
}

bool hlc_parse_canonical(std::string_view text, uint64_t *out) {
  size_t pos = 0;
  // The year has 4 digits, or 5 without a leading zero for years past 9999.
  const size_t year_width = count_leading_digits(text);
  if (year_width != 4 && !(year_width == 5 && text[0] != '0')) return false;
  uint64_t year, month, day, hour, minute, second, milli;
  if (!take_digits(text, &pos, static_cast<int>(year_width), &year)) return false;
  if (year < 1970) return false;
  if (!take_literal(text, &pos, "-") || !take_digits(text, &pos, 2, &month) ||
      !take_literal(text, &pos, "-") || !take_digits(text, &pos, 2, &day) ||
      !take_literal(text, &pos, " ") || !take_digits(text, &pos, 2, &hour) ||
      !take_literal(text, &pos, ":") || !take_digits(text, &pos, 2, &minute) ||
      !take_literal(text, &pos, ":") || !take_digits(text, &pos, 2, &second) ||
      !take_literal(text, &pos, ".") || !take_digits(text, &pos, 3, &milli) ||
      !take_literal(text, &pos, "+00#")) {
    return false;
  }

  // The counter: 1 to 5 digits, no leading zero unless it is "0".
  const std::string_view counter_text = text.substr(pos);
  const size_t counter_width = counter_text.size();
  if (counter_width < 1 || counter_width > 5 ||
      count_leading_digits(counter_text) != counter_width ||
      (counter_width > 1 && counter_text[0] == '0')) {
    return false;
  }
  uint64_t logical;
  if (!take_digits(text, &pos, static_cast<int>(counter_width), &logical) ||
      logical > kMaxLogical) {
    return false;
  }

  // Two digits each, so the casts keep every value.
  uint64_t ms;
  if (!hlc_physical_of_civil(static_cast<int64_t>(year), static_cast<int>(month),
                             static_cast<int>(day), static_cast<int>(hour),
                             static_cast<int>(minute), static_cast<int>(second),
                             static_cast<int>(milli), 0, &ms))
    return false;
  *out = hlc_make(ms, static_cast<uint32_t>(logical));
  return true;
}

bool hlc_physical_of_civil(int64_t year, int month, int day, int hour, int minute, int second,
                           int millis, int offset_minutes, uint64_t *ms) {
  if (year < 1970 || month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month)) ||
      hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59)
    return false;
  const int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t total = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60'000 +
                        static_cast<int64_t>(second) * 1000 + millis;
  if (total < 0 || static_cast<uint64_t>(total) > kMaxPhysicalMs) return false;
  *ms = static_cast<uint64_t>(total);
  return true;
}

}  // namespace edgestate::core
