// Canonical human-readable text form of a state (the type's output/input).
//
//   state  := '{' entry (',' entry)* ['truncated'] '}'
//   entry  := value '@' hlc name '/' name 'skew' digits 'ms'
//   value  := shortest round-trip decimal | 'NaN' | 'Infinity' | '-Infinity'
//   hlc    := canonical hlc text (hlc_format)
//   name   := '"' bytes '"', an embedded '"' written as '""'
//
// for example {21.5 @ 2026-11-26 06:20:40.123+00#5 "eu-west"/"gw-7" skew 50ms}.
// format_state separates tokens with single spaces; the parser also accepts
// any other whitespace between tokens (none inside a name or the hlc) and any
// decimal spelling of a value, and is otherwise exactly as strict as
// decode_state: entries must be listed in canonical order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/state.h"

namespace edgestate::core {

std::string format_state(const StateView &state);

// On success replaces *encoded with the binary form and returns true; on
// failure sets *error to a message naming what was expected at which byte
// offset (or which entry is invalid) and returns false.
bool parse_state_text(std::string_view text, std::vector<uint8_t> *encoded, std::string *error);

}  // namespace edgestate::core
