#include "core/invalidation_payload.h"

namespace edgestate::core {

namespace {

void set_error(std::string *error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

// A decimal uint64: one or more digits, no sign, no overflow.
bool parse_seq(std::string_view text, uint64_t *out) {
  if (text.empty()) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

// Splits off the next space-terminated token of the header.
bool next_token(std::string_view *rest, std::string_view *token) {
  const size_t space = rest->find(' ');
  if (space == std::string_view::npos) return false;
  *token = rest->substr(0, space);
  rest->remove_prefix(space + 1);
  return true;
}

}  // namespace

void append_escaped_invalidation_field(std::string_view raw, std::string *out) {
  for (char c : raw) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

std::string escape_invalidation_field(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  append_escaped_invalidation_field(raw, &out);
  return out;
}

bool unescape_invalidation_field(std::string_view escaped, std::string *out, std::string *error) {
  out->clear();
  out->reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    const char c = escaped[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (i + 1 == escaped.size()) {
      set_error(error, "backslash at the end of a field");
      return false;
    }
    const char next = escaped[++i];
    if (next == '\\') {
      out->push_back('\\');
    } else if (next == 'n') {
      out->push_back('\n');
    } else {
      set_error(error, std::string("unknown escape \\") + next);
      return false;
    }
  }
  return true;
}

bool parse_invalidation_payload(std::string_view text, InvalidationPayload *out,
                                std::string *error) {
  out->keys.clear();
  out->table.clear();
  out->prev_seq.reset();
  const size_t header_end = text.find('\n');
  std::string_view header = text.substr(0, header_end);
  constexpr const char *kExpected =
      "malformed header: expected \"v2 <prev_seq> <first_seq> <last_seq> <table>\"";
  std::string_view version, prev, first, last;
  if (!next_token(&header, &version)) {
    set_error(error, kExpected);
    return false;
  }
  if (version != "v1" && version != "v2") {
    set_error(error, "unsupported payload version \"" + std::string(version.substr(0, 16)) + "\"");
    return false;
  }
  const bool has_prev = version == "v2";
  if ((has_prev && !next_token(&header, &prev)) || !next_token(&header, &first) ||
      !next_token(&header, &last)) {
    set_error(error, kExpected);
    return false;
  }
  uint64_t prev_seq = 0;
  if ((has_prev && !parse_seq(prev, &prev_seq)) || !parse_seq(first, &out->first_seq) ||
      !parse_seq(last, &out->last_seq)) {
    set_error(error, "malformed header: sequence numbers must be decimal uint64");
    return false;
  }
  if (has_prev) out->prev_seq = prev_seq;
  if (out->first_seq > out->last_seq) {
    set_error(error, "malformed header: first_seq " + std::string(first) +
                         " is greater than last_seq " + std::string(last));
    return false;
  }
  if (header.empty()) {
    set_error(error, "malformed header: empty table name");
    return false;
  }
  std::string field_error;
  if (!unescape_invalidation_field(header, &out->table, &field_error)) {
    set_error(error, "table name: " + field_error);
    return false;
  }
  if (header_end == std::string_view::npos) return true;

  std::string_view rest = text.substr(header_end + 1);
  for (size_t line = 2;; ++line) {
    const size_t end = rest.find('\n');
    std::string key;
    if (!unescape_invalidation_field(rest.substr(0, end), &key, &field_error)) {
      set_error(error, "line " + std::to_string(line) + ": " + field_error);
      return false;
    }
    out->keys.push_back(std::move(key));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  return true;
}

std::vector<std::string> format_invalidation_payloads(uint64_t prev_seq, uint64_t first_seq,
                                                      uint64_t last_seq, std::string_view table,
                                                      const std::vector<std::string> &keys,
                                                      size_t max_bytes,
                                                      std::vector<std::string> *too_long) {
  std::string header = "v2 " + std::to_string(prev_seq) + " " + std::to_string(first_seq) + " " +
                       std::to_string(last_seq) + " ";
  append_escaped_invalidation_field(table, &header);

  std::vector<std::string> payloads;
  std::string current;
  std::string line;
  for (const std::string &key : keys) {
    line.clear();
    line.push_back('\n');
    append_escaped_invalidation_field(key, &line);
    if (header.size() + line.size() > max_bytes) {
      if (too_long != nullptr) too_long->push_back(key);
      continue;
    }
    if (!current.empty() && current.size() + line.size() > max_bytes) {
      payloads.push_back(std::move(current));
      current.clear();
    }
    if (current.empty()) current = header;
    current += line;
  }
  if (!current.empty()) payloads.push_back(std::move(current));
  if (payloads.empty() && keys.empty()) payloads.push_back(header);
  return payloads;
}

}  // namespace edgestate::core
