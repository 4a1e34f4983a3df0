// Configuration parameters (GUCs); docs/configuration.md lists them all.
#pragma once

namespace edgestate {

extern int guc_max_clock_offset_ms;    // edgestate.max_clock_offset
extern int guc_default_skew_bound_ms;  // edgestate.default_skew_bound
extern int guc_max_candidates;         // edgestate.max_candidates
extern int guc_latest_max_keys;        // edgestate.latest_max_keys
extern int guc_freshness_bound_ms;     // edgestate.freshness_bound

void define_gucs();

}  // namespace edgestate
