// Window calibration: per table and region, a sketch of arrival delays (when
// a reading reached the table minus its physical time), and per region a
// sketch of clock skew seen by hlc_observe(); they recommend the lateness
// that makes dashboard windows final with edgestate.window_confidence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pg.hpp"

namespace edgestate {

inline constexpr const char *kCalibrationSegmentName = "edgestate calibration";
inline constexpr int kCalibrationLocks = 17;

size_t calibration_shmem_size();
void calibration_shmem_init(void *memory, bool found);

// One inserted reading of a sensorstate table (kept until commit).
void calibration_observe(Oid relid, std::string_view region, int64_t delay_us);
// At commit: folds this transaction's observations into shared memory. Never
// raises an error.
void calibration_publish();
// At the end of every transaction.
void calibration_forget_local();
// A subtransaction started or ended: the observations of one that rolls back
// do not count.
void calibration_start_subtransaction();
void calibration_end_subtransaction(bool committed);
// At the commit of a DROP TABLE: frees the relation's slots for reuse (there
// are 256 per server). Never raises an error.
void calibration_release_relation(Oid db, Oid rel);

// Per-region freshness bounds (edgestate.freshness_bounds), in milliseconds;
// edgestate.freshness_bound for a region not listed.
int64_t freshness_bound_ms(std::string_view region);

}  // namespace edgestate
