#include "core/state_text.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "core/hlc.h"
#include "core/state_codec.h"

namespace edgestate::core {
namespace {

// PostgreSQL's float8 spellings of the non-finite values.
constexpr std::string_view kNan = "NaN";
constexpr std::string_view kInfinity = "Infinity";
constexpr std::string_view kMinusInfinity = "-Infinity";
constexpr std::string_view kTruncated = "truncated";

void append_value(std::string *out, double value) {
  if (std::isnan(value)) {
    out->append(kNan);
  } else if (std::isinf(value)) {
    out->append(value > 0 ? kInfinity : kMinusInfinity);
  } else {
    char buf[32];  // the longest shortest form, "-2.2250738585072014e-308", is 24
    const auto result = std::to_chars(buf, buf + sizeof buf, value);
    out->append(buf, result.ptr);
  }
}

void append_name(std::string *out, std::string_view name) {
  out->push_back('"');
  for (char ch : name) {
    if (ch == '"') out->push_back('"');
    out->push_back(ch);
  }
  out->push_back('"');
}

bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

// A recursive-descent parser over one text; every take_* returns false after
// recording an error.
class Parser {
 public:
  Parser(std::string_view text, std::string *error) : text_(text), error_(error) {}

  bool parse(StateView *state) {
    if (!take_literal("{")) return false;
    size_t count = 0;
    for (;;) {
      if (count == kMaxEntries) {
        return fail("at most " + std::to_string(kMaxEntries) + " entries");
      }
      if (!take_entry(state->entries, count)) return false;
      ++count;
      skip_space();
      if (peek(",")) {
        pos_ += 1;
        continue;
      }
      state->truncated = peek(kTruncated);
      if (state->truncated) pos_ += kTruncated.size();
      if (!take_literal("}")) return false;
      break;
    }
    skip_space();
    if (pos_ != text_.size()) return fail("end of input after '}'");
    state->count = static_cast<uint8_t>(count);
    return true;
  }

 private:
  bool take_entry(Reading *entries, size_t index) {
    skip_space();
    const size_t start = pos_;
    std::string &region = names_[2 * index];
    std::string &device = names_[2 * index + 1];
    double value = 0;
    uint64_t hlc = 0;
    uint32_t skew_ms = 0;
    if (!take_value(&value) || !take_literal("@") || !take_hlc(&hlc) || !take_name(&region) ||
        !take_literal("/") || !take_name(&device) || !take_literal("skew") ||
        !take_skew(&skew_ms) || !take_literal("ms")) {
      return false;
    }
    entries[index] = Reading(value, hlc, skew_ms, region, device);
    if (ReadingError e = validate_reading(entries[index]); e != ReadingError::kOk) {
      return fail_entry(index, start, describe(e));
    }
    const DecodeStatus placement = check_entry_placement(entries, index);
    if (placement == DecodeStatus::kDuplicateOrigin) {
      return fail_entry(index, start, "its origin already appears in an earlier entry");
    }
    if (placement == DecodeStatus::kNotDescending) {
      return fail_entry(index, start,
                        "entries must be listed in strictly descending order of "
                        "(hlc, region, device, value bits, skew)");
    }
    return true;
  }

  bool take_value(double *value) {
    for (auto [word, v] : {std::pair{kNan, std::numeric_limits<double>::quiet_NaN()},
                           std::pair{kInfinity, std::numeric_limits<double>::infinity()},
                           std::pair{kMinusInfinity, -std::numeric_limits<double>::infinity()}}) {
      if (peek(word)) {
        pos_ += word.size();
        *value = v;
        return true;
      }
    }
    // from_chars alone would also take "inf", "nan(...)" and the like.
    const size_t digit = pos_ < text_.size() && text_[pos_] == '-' ? pos_ + 1 : pos_;
    if (digit >= text_.size() || !is_digit(text_[digit])) {
      return fail("a number, NaN, Infinity or -Infinity");
    }
    const auto result = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), *value);
    if (result.ec != std::errc()) return fail("a number within the range of float8");
    pos_ = static_cast<size_t>(result.ptr - text_.data());
    return true;
  }

  bool take_hlc(uint64_t *hlc) {
    skip_space();
    // The hlc ends with the digits after its '#'; it holds one space, so it
    // cannot be delimited by whitespace.
    const size_t hash = text_.substr(pos_, kMaxHlcTextLength).find('#');
    size_t end = hash == std::string_view::npos ? pos_ : pos_ + hash + 1;
    while (end < text_.size() && is_digit(text_[end])) ++end;
    if (hash == std::string_view::npos ||
        !hlc_parse_canonical(text_.substr(pos_, end - pos_), hlc)) {
      return fail("an hlc in canonical form, such as 2026-11-26 06:20:40.123+00#5");
    }
    pos_ = end;
    return true;
  }

  bool take_name(std::string *name) {
    skip_space();
    if (!peek("\"")) return fail("a double-quoted name");
    const size_t open = pos_++;
    for (;;) {
      if (pos_ == text_.size()) {
        pos_ = open;
        return fail("a name closed by '\"'");
      }
      const char ch = text_[pos_++];
      if (ch != '"') {
        name->push_back(ch);
      } else if (peek("\"")) {
        name->push_back('"');
        ++pos_;
      } else {
        return true;
      }
    }
  }

  bool take_skew(uint32_t *skew) {
    skip_space();
    const auto result = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), *skew);
    if (result.ec != std::errc()) return fail("a skew bound in whole milliseconds");
    pos_ = static_cast<size_t>(result.ptr - text_.data());
    return true;
  }

  bool take_literal(std::string_view literal) {
    skip_space();
    if (!peek(literal)) return fail("'" + std::string(literal) + "'");
    pos_ += literal.size();
    return true;
  }

  bool peek(std::string_view literal) const {
    return text_.substr(pos_, literal.size()) == literal;
  }

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  bool fail(const std::string &expected) {
    *error_ = "expected " + expected + " at offset " + std::to_string(pos_);
    return false;
  }

  bool fail_entry(size_t index, size_t offset, const char *reason) {
    *error_ = "entry " + std::to_string(index + 1) + " (at offset " + std::to_string(offset) +
              "): " + reason;
    return false;
  }

  std::string_view text_;
  std::string *error_;
  size_t pos_ = 0;
  // Unescaped region and device names; the parsed readings view them.
  std::string names_[2 * kMaxEntries];
};

}  // namespace

std::string format_state(const StateView &state) {
  std::string out = "{";
  for (size_t i = 0; i < state.count; ++i) {
    const Reading &r = state.entries[i];
    if (i > 0) out += ", ";
    append_value(&out, r.value);
    out += " @ ";
    out += hlc_format(r.hlc);
    out += ' ';
    append_name(&out, r.region);
    out += '/';
    append_name(&out, r.device);
    out += " skew ";
    out += std::to_string(r.skew_ms);
    out += "ms";
  }
  if (state.truncated) out += " truncated";
  out += '}';
  return out;
}

bool parse_state_text(std::string_view text, std::vector<uint8_t> *encoded, std::string *error) {
  Parser parser(text, error);
  StateView state;
  if (!parser.parse(&state)) return false;
  encoded->resize(encoded_size(state));
  encode_state(state, encoded->data(), encoded->size());
  return true;
}

}  // namespace edgestate::core
