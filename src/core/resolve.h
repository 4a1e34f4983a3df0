// Resolvers: turn a (possibly conflicted) state into one displayed value.
// Display only: resolving never changes the state.
#pragma once

#include <string_view>

#include "core/state.h"

namespace edgestate::core {

enum class Policy {
  kLww,           // the winner's value
  kMax,           // greatest value, PostgreSQL float8 order (NaN above +Infinity)
  kMin,           // least value, PostgreSQL float8 order
  kMean,          // IEEE arithmetic mean, summed in stored order
  kPreferRegion,  // newest value from the given region, else the winner's
};

// "lww", "max", "min", "mean", "prefer_region".
bool parse_policy(std::string_view name, Policy *out);

// Resolves over the winner and its conflict candidates (conflict_candidates);
// entries outside the winner's conflict window are ignored. Among equal
// extremes (0 and -0, or several NaN) max and min return the first in stored
// order. prefer_region is used by kPreferRegion only.
double resolve(const StateView &state, Policy policy, std::string_view prefer_region);

}  // namespace edgestate::core
