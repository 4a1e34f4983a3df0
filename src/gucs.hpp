// Configuration parameters (GUCs); docs/configuration.md lists them all.
#pragma once

namespace edgestate {

extern int guc_max_clock_offset_ms;           // edgestate.max_clock_offset
extern int guc_default_skew_bound_ms;         // edgestate.default_skew_bound
extern int guc_max_candidates;                // edgestate.max_candidates
extern int guc_latest_max_keys;               // edgestate.latest_max_keys
extern int guc_max_pending_keys;              // edgestate.max_pending_keys
extern int guc_freshness_bound_ms;            // edgestate.freshness_bound
extern char *guc_freshness_bounds;            // edgestate.freshness_bounds
extern double guc_window_confidence;          // edgestate.window_confidence
extern int guc_min_lateness_ms;               // edgestate.min_lateness
extern int guc_max_lateness_ms;               // edgestate.max_lateness
extern int guc_calibration_window;            // edgestate.calibration_window
extern bool guc_invalidations;                // edgestate.invalidations
extern char *guc_channel_prefix;              // edgestate.channel_prefix
extern int guc_invalidation_ring_size;        // edgestate.invalidation_ring_size
extern int guc_invalidation_max_batch;        // edgestate.invalidation_max_batch
extern int guc_invalidation_batch_window_ms;  // edgestate.invalidation_batch_window

void define_gucs();

}  // namespace edgestate
