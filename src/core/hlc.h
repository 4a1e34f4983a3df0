// Hybrid logical clock arithmetic (Kulkarni et al., "Logical Physical Clocks").
//
// An HLC value is a uint64_t: the high 48 bits are Unix milliseconds, the low
// 16 bits a logical counter. Ordering HLC values as plain integers orders them
// by (physical, logical), which is what the comparison operators, btree and
// hash support in the glue rely on. Every 64-bit value is a valid HLC.
//
// Everything here is a pure function of its arguments: the glue owns the
// shared-memory clock, the wall clock and the persisted high-water mark.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace edgestate::core {

constexpr unsigned kLogicalBits = 16;
constexpr uint32_t kMaxLogical = 0xFFFF;
constexpr uint64_t kMaxPhysicalMs = (uint64_t{1} << 48) - 1;

inline constexpr uint64_t hlc_make(uint64_t physical_ms, uint32_t logical) {
  return (physical_ms << kLogicalBits) | logical;
}
inline constexpr uint64_t hlc_physical(uint64_t hlc) { return hlc >> kLogicalBits; }
inline constexpr uint32_t hlc_logical(uint64_t hlc) {
  return static_cast<uint32_t>(hlc & kMaxLogical);
}

// --- Send / local event rule ------------------------------------------------
//
// Preconditions for the functions below: wall_ms <= kMaxPhysicalMs and
// hlc_physical(last) < kMaxPhysicalMs (the clock cannot reach year 10889).

// True when ticking at wall_ms would need a 17th logical bit: 65536 events in
// the same millisecond while the wall clock has not moved past physical(last).
bool hlc_tick_would_overflow(uint64_t last, uint64_t wall_ms);

// How far behind physical(last) the wall clock may be for the caller to wait
// out an overflow instead of borrowing: waiting for a millisecond or two is
// harmless, waiting for a clock that was set back an hour is not.
constexpr uint64_t kMaxOverflowWaitMs = 1;

// True when the tick would overflow and the wall clock is close enough behind
// (or at) physical(last) that the caller should sleep until it passes
// physical(last) and read the wall clock again.
bool hlc_tick_should_wait(uint64_t last, uint64_t wall_ms);

// The next value after last that borrows one millisecond from the future:
// (physical(last) + 1, 0). Used when waiting is not reasonable.
uint64_t hlc_borrow(uint64_t last);

struct HlcStep {
  uint64_t value;
  bool borrowed;  // the value came from hlc_borrow (the glue counts these)
};

// The next clock value for a local event or a send: (wall_ms, 0) when the wall
// clock is ahead of physical(last), else (physical(last), logical(last) + 1),
// and hlc_borrow(last) when that counter would overflow. Always > last.
HlcStep hlc_tick(uint64_t last, uint64_t wall_ms);

// --- Receive rule -------------------------------------------------------------

enum class ObserveStatus {
  kOk,
  kTooFarAhead,    // physical(remote) > wall_ms + max_offset_ms; clock unchanged
  kWouldOverflow,  // the logical counter would exceed kMaxLogical; clock unchanged
};

struct ObserveResult {
  ObserveStatus status;
  uint64_t value;  // the new clock value, or last when status != kOk
};

// Folds a remote timestamp into the local clock: l' = max(l, l_m, pt) with the
// counter max(c, c_m) + 1 when l' equals both, c + 1 or c_m + 1 when it equals
// only one, and 0 when the wall clock alone is ahead.
ObserveResult hlc_observe(uint64_t last, uint64_t remote, uint64_t wall_ms, uint64_t max_offset_ms);

// --- Canonical text -----------------------------------------------------------

// "YYYY-MM-DD HH:MM:SS.mmm+00#L" in UTC (a 5-digit year past 9999), for example
// "2026-11-26 06:20:40.123+00#5". Equal values format identically.
std::string hlc_format(uint64_t hlc);

// Longest text hlc_format produces ("10889-08-02 05:31:50.655+00#65535").
constexpr size_t kMaxHlcTextLength = 33;

// Accepts exactly the strings hlc_format produces and nothing else (no other
// zone, no missing or extra digits, no leading zeros in the counter), so that
// parse and format are inverse bijections.
bool hlc_parse_canonical(std::string_view text, uint64_t *out);

// The common ISO 8601 forms with an explicit zone ("2026-11-26 06:20:40.12+00",
// "2026-11-26T06:20:40Z", "...+05:30"), seconds 0-59, fractions of up to six
// digits rounded down to the millisecond, and an optional "#counter". False
// for anything else, which the caller hands to a general timestamp parser;
// where it returns true it agrees with PostgreSQL's timestamptz input.
bool hlc_parse_iso(std::string_view text, uint64_t *out);

// The physical time (milliseconds since the Unix epoch) of a civil date and
// time at a zone offset, for both parsers. False when a field is out of range
// (month, day of that month, hour, minute, second) or the time falls before
// 1970 or past kMaxPhysicalMs.
bool hlc_physical_of_civil(int64_t year, int month, int day, int hour, int minute, int second,
                           int millis, int offset_minutes, uint64_t *ms);

}  // namespace edgestate::core
