#include "core/region_bounds.h"

#include <cctype>
#include <cstdlib>

namespace edgestate::core {
namespace {

void skip_spaces(std::string_view text, size_t *pos) {
  while (*pos < text.size() && std::isspace(static_cast<unsigned char>(text[*pos]))) ++*pos;
}

bool parse_region(std::string_view text, size_t *pos, std::string *region, std::string *error) {
  if (*pos < text.size() && text[*pos] == '"') {
    ++*pos;
    while (*pos < text.size()) {
      char c = text[(*pos)++];
      if (c != '"') {
        region->push_back(c);
      } else if (*pos < text.size() && text[*pos] == '"') {
        region->push_back('"');
        ++*pos;
      } else {
        return true;
      }
    }
    *error = "unterminated quoted region";
    return false;
  }
  while (*pos < text.size() && text[*pos] != '=' && text[*pos] != ',' &&
         !std::isspace(static_cast<unsigned char>(text[*pos])))
    region->push_back(text[(*pos)++]);
  if (region->empty()) *error = "expected a region at offset " + std::to_string(*pos);
  return !region->empty();
}

bool parse_duration(std::string_view text, size_t *pos, int64_t *ms, std::string *error) {
  size_t start = *pos;
  int64_t number = 0;
  while (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos]))) {
    if (number > (INT64_MAX - 9) / 10) {
      *error = "duration too large";
      return false;
    }
    number = number * 10 + (text[(*pos)++] - '0');
  }
  if (*pos == start) {
    *error = "expected a whole number at offset " + std::to_string(start);
    return false;
  }
  size_t unit_start = *pos;
  while (*pos < text.size() && std::isalpha(static_cast<unsigned char>(text[*pos]))) ++*pos;
  std::string_view unit = text.substr(unit_start, *pos - unit_start);
  int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "min")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  if (scale == 0) {
    *error = "expected a unit (ms, s, min, h, d) at offset " + std::to_string(unit_start);
    return false;
  }
  if (number > INT64_MAX / scale) {
    *error = "duration too large";
    return false;
  }
  *ms = number * scale;
  return true;
}

}  // namespace

bool parse_region_bounds(std::string_view text, std::vector<RegionBound> *out, std::string *error) {
  out->clear();
  size_t pos = 0;
  skip_spaces(text, &pos);
  if (pos == text.size()) return true;
  for (;;) {
    RegionBound bound{{}, 0};
    if (!parse_region(text, &pos, &bound.region, error)) return false;
    skip_spaces(text, &pos);
    if (pos >= text.size() || text[pos] != '=') {
      *error = "expected '=' at offset " + std::to_string(pos);
      return false;
    }
    ++pos;
    skip_spaces(text, &pos);
    if (!parse_duration(text, &pos, &bound.milliseconds, error)) return false;
    for (const RegionBound &seen : *out) {
      if (seen.region == bound.region) {
        *error = "region \"" + bound.region + "\" appears twice";
        return false;
      }
    }
    out->push_back(std::move(bound));
    skip_spaces(text, &pos);
    if (pos == text.size()) return true;
    if (text[pos] != ',') {
      *error = "expected ',' at offset " + std::to_string(pos);
      return false;
    }
    ++pos;
    skip_spaces(text, &pos);
  }
}

}  // namespace edgestate::core
