// Per-region durations given as one setting, e.g. edgestate.freshness_bounds =
// 'eu-west=10s, us-east=500ms, "ap south"=2min': a comma-separated list of
// region=duration, regions bare or double-quoted ("" for a quote inside),
// durations a whole number with a unit of ms, s, min, h or d.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgestate::core {

struct RegionBound {
  std::string region;
  int64_t milliseconds;
};

// Parses the setting; on error returns false and sets *error.
bool parse_region_bounds(std::string_view text, std::vector<RegionBound> *out, std::string *error);

}  // namespace edgestate::core
