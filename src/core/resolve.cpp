#include "core/resolve.h"

#include <cmath>

namespace edgestate::core {
namespace {

// PostgreSQL's float8 ordering: NaN equals NaN and sorts above everything.
bool float8_gt(double a, double b) {
  if (std::isnan(a)) return !std::isnan(b);
  if (std::isnan(b)) return false;
  return a > b;
}

}  // namespace

bool parse_policy(std::string_view name, Policy *out) {
  static constexpr struct {
    std::string_view name;
    Policy policy;
  } kPolicies[] = {{"lww", Policy::kLww},
                   {"max", Policy::kMax},
                   {"min", Policy::kMin},
                   {"mean", Policy::kMean},
                   {"prefer_region", Policy::kPreferRegion}};
  for (const auto &p : kPolicies) {
    if (p.name == name) {
      *out = p.policy;
      return true;
    }
  }
  return false;
}

double resolve(const StateView &state, Policy policy, std::string_view prefer_region) {
  const Reading &winner = state.winner();
  const CandidateList candidates = conflict_candidates(state);
  auto candidate = [&](size_t k) -> const Reading & { return state.entries[candidates.index[k]]; };
  double result = winner.value;
  switch (policy) {
    case Policy::kLww:
      break;
    case Policy::kMax:
      for (size_t k = 0; k < candidates.count; ++k) {
        if (float8_gt(candidate(k).value, result)) result = candidate(k).value;
      }
      break;
    case Policy::kMin:
      for (size_t k = 0; k < candidates.count; ++k) {
        if (float8_gt(result, candidate(k).value)) result = candidate(k).value;
      }
      break;
    case Policy::kMean:
      for (size_t k = 0; k < candidates.count; ++k) result += candidate(k).value;
      result /= static_cast<double>(candidates.count + 1);
      break;
    case Policy::kPreferRegion:
      // Stored order is newest first, so the first match is the newest.
      if (winner.region == prefer_region) break;
      for (size_t k = 0; k < candidates.count; ++k) {
        if (candidate(k).region == prefer_region) return candidate(k).value;
      }
      break;
  }
  return result;
}

}  // namespace edgestate::core
