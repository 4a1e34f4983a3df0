// Configuration parameters (GUCs); docs/configuration.md lists them all.
#pragma once

namespace edgestate {

extern int guc_max_clock_offset_ms;    // edgestate.max_clock_offset
extern int guc_default_skew_bound_ms;  // edgestate.default_skew_bound
extern int guc_max_candidates;         // edgestate.max_candidates

void define_gucs();

}  // namespace edgestate
