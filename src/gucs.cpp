#include "gucs.hpp"

#include <climits>

#include "core/merge.h"
#include "core/reading.h"
#include "pg.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace edgestate {

int guc_max_clock_offset_ms = 500;
int guc_default_skew_bound_ms = 50;
int guc_max_candidates = 4;
int guc_latest_max_keys = 262'144;
int guc_max_pending_keys = 1'000'000;
int guc_freshness_bound_ms = 300'000;
char *guc_freshness_bounds = nullptr;
double guc_window_confidence = 0.99;
int guc_min_lateness_ms = 100;
int guc_max_lateness_ms = 3'600'000;
int guc_calibration_window = 10'000;
bool guc_invalidations = true;
char *guc_channel_prefix = nullptr;
int guc_invalidation_ring_size = 16'384;
int guc_invalidation_max_batch = 10'000;
int guc_invalidation_batch_window_ms = 2;

// In calibration.cpp.
bool check_freshness_bounds(char **value, void **extra, GucSource source);
void assign_freshness_bounds(const char *value, void *extra);

void define_gucs() {
  DefineCustomIntVariable(
      "edgestate.max_clock_offset",
      "Largest amount a remote or device timestamp may run ahead of the local clock.",
      "hlc_observe() refuses timestamps further ahead and never advances the local clock by them.",
      &guc_max_clock_offset_ms, 500, 0, 3'600'000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr,
      nullptr);
  DefineCustomIntVariable(
      "edgestate.default_skew_bound", "Skew bound of a reading whose region states none.",
      "Readings of other origins within the larger of two skew bounds are kept as conflict "
      "candidates.",
      &guc_default_skew_bound_ms, 50, 0, static_cast<int>(core::kMaxSkewMs), PGC_USERSET,
      GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "edgestate.max_candidates",
      "How many readings of other origins a state keeps beside its winner.",
      "Must be equal on every server that exchanges states, or they converge on different "
      "truncations.",
      &guc_max_candidates, 4, 0, static_cast<int>(core::kMaxCandidates), PGC_SIGHUP, 0, nullptr,
      nullptr, nullptr);
  DefineCustomBoolVariable(
      "edgestate.invalidations",
      "Whether committing writers queue invalidations of the keys they changed.", nullptr,
      &guc_invalidations, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "edgestate.channel_prefix", "Prefix of the LISTEN/NOTIFY channels of invalidations.",
      "edgestate.channel(region) gives the full channel name.", &guc_channel_prefix, "edgestate_",
      PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("edgestate.invalidation_max_batch",
                          "Most invalidations the worker sends in one batch.", nullptr,
                          &guc_invalidation_max_batch, 10'000, 1, 1'000'000, PGC_SIGHUP, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable(
      "edgestate.invalidation_batch_window",
      "How long a busy invalidation worker lets changes accumulate before its next batch.",
      "An idle worker sends at once.", &guc_invalidation_batch_window_ms, 2, 0, 1'000, PGC_SIGHUP,
      GUC_UNIT_MS, nullptr, nullptr, nullptr);
  // Server-start settings can only be defined while preloading; without
  // preloading there is no latest index or ring to size.
  if (process_shared_preload_libraries_in_progress)
    DefineCustomIntVariable("edgestate.invalidation_ring_size",
                            "Invalidations the shared ring keeps for clients that catch up.",
                            "A client further behind is told to resync in full.",
                            &guc_invalidation_ring_size, 16'384, 64, 1 << 24, PGC_POSTMASTER, 0,
                            nullptr, nullptr, nullptr);
  if (process_shared_preload_libraries_in_progress)
    DefineCustomIntVariable(
        "edgestate.latest_max_keys",
        "How many keys the shared-memory latest index holds, across all sensorstate tables.",
        "About 128 bytes of shared memory per key; beyond it the index evicts and refills from "
        "the tables.",
        &guc_latest_max_keys, 262'144, 1'024, 1 << 28, PGC_POSTMASTER, 0, nullptr, nullptr,
        nullptr);
  DefineCustomIntVariable(
      "edgestate.max_pending_keys",
      "How many keys of sensorstate tables one transaction tracks for the latest index.",
      "About 200 bytes of backend memory each. A transaction that changes more keys stops "
      "tracking the table that went over, and that table's latest state is reloaded from it "
      "after the commit.",
      &guc_max_pending_keys, 1'000'000, 1'000, INT_MAX, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("edgestate.freshness_bound",
                          "Age beyond which edgestate.latest() reports a value as not fresh.",
                          nullptr, &guc_freshness_bound_ms, 300'000, 0, INT_MAX, PGC_USERSET,
                          GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("edgestate.freshness_bounds",
                             "Per-region freshness bounds, overriding edgestate.freshness_bound.",
                             "A list of region=duration, as in 'eu-west=10s, us-east=500ms'.",
                             &guc_freshness_bounds, "", PGC_USERSET, 0, check_freshness_bounds,
                             assign_freshness_bounds, nullptr);
  DefineCustomRealVariable(
      "edgestate.window_confidence",
      "Probability with which a window shown at the recommended lateness is final.", nullptr,
      &guc_window_confidence, 0.99, 0.5, 0.9999, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("edgestate.min_lateness", "Least lateness recommended for windows.",
                          nullptr, &guc_min_lateness_ms, 100, 0, 86'400'000, PGC_USERSET,
                          GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("edgestate.max_lateness", "Greatest lateness recommended for windows.",
                          nullptr, &guc_max_lateness_ms, 3'600'000, 0, 86'400'000, PGC_USERSET,
                          GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "edgestate.calibration_window", "Observations per generation of the arrival-delay sketches.",
      "Recommendations follow a change in arrival delays within two generations.",
      &guc_calibration_window, 10'000, 100, 65'535, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("edgestate");
}

}  // namespace edgestate
