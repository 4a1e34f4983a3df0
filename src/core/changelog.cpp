// The change-log codec; changelog.h has the wire format, docs/changelog-format.md
// the specification.
#include "core/changelog.h"

#include <cassert>
#include <charconv>
#include <cmath>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "core/byte_order.h"
#include "core/civil_date.h"
#include "core/crc32c.h"
#include "core/hlc.h"
#include "core/reading.h"
#include "core/varint.h"

namespace edgestate::core {
namespace {

// --- CRC-32C --------------------------------------------------------------------

struct Crc32cTables {
  uint32_t t[8][256];
};

constexpr Crc32cTables make_crc32c_tables() {
  Crc32cTables tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    tables.t[0][i] = c;
  }
  for (int i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) {
      const uint32_t prev = tables.t[s - 1][i];
      tables.t[s][i] = (prev >> 8) ^ tables.t[0][prev & 0xFF];
    }
  }
  return tables;
}

constexpr Crc32cTables kCrc32c = make_crc32c_tables();

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EDGESTATE_CRC32C_HW 1
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t *data, size_t size) {
  uint64_t crc = 0xFFFFFFFFu;
  while (size >= 8) {
    uint64_t v;
    std::memcpy(&v, data, 8);
    crc = __builtin_ia32_crc32di(crc, v);
    data += 8;
    size -= 8;
  }
  uint32_t c = static_cast<uint32_t>(crc);
  while (size-- > 0) c = __builtin_ia32_crc32qi(c, *data++);
  return ~c;
}

bool cpu_has_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

// --- Encoding helpers -----------------------------------------------------------

constexpr uint8_t kFlagStreamStart = 0x01;
// More frames of the same transaction follow.
constexpr uint8_t kFlagContinued = 0x02;
constexpr uint8_t kHeadDelta = 0x01;
constexpr uint8_t kHeadNewTable = 0x02;
constexpr uint8_t kHeadNewRegion = 0x04;
constexpr uint8_t kHeadNewDevice = 0x08;
constexpr uint8_t kHeadHasDevice = 0x10;
// Delta readings only: the field equals the key's previous one and is omitted.
constexpr uint8_t kHeadSameRegion = 0x20;
constexpr uint8_t kHeadSameDevice = 0x40;
constexpr uint8_t kHeadSameSkew = 0x80;
constexpr uint8_t kFullHeadBits =
    kHeadDelta | kHeadNewTable | kHeadNewRegion | kHeadNewDevice | kHeadHasDevice;
constexpr uint8_t kDeltaHeadBits = 0xFF & ~kHeadNewTable;
constexpr uint8_t kKeyText = 0;
constexpr uint8_t kKeyInteger = 1;
constexpr uint32_t kNoDevice = std::numeric_limits<uint32_t>::max();
// Dictionaries hold fewer names than this, so that kNoDevice is never an id.
constexpr size_t kMaxDictionaryNames = kNoDevice;
constexpr uint8_t kXorZero = 0x80;
// Decimal step: 0x90 | d, then a zigzag varint of the step in units of 10^-d.
constexpr uint8_t kDecimalStep = 0x90;
constexpr int kMaxDecimals = 9;
constexpr double kPow10[kMaxDecimals + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
// |m| below this: every m / 10^d is a distinct double and round(v * 10^d)
// finds m back (docs/changelog-format.md, "decimal step").
constexpr int64_t kDecimalLimit = int64_t{1} << 50;
constexpr size_t kMaxValueDeltaBytes = 1 + kMaxVarintBytes;
// The smallest reading: a delta with head, key id, hlc milliseconds, hlc
// counter and value, one byte each (a full reading is larger).
constexpr size_t kMinReadingBytes = 5;
constexpr uint64_t kHlcMsLimit = uint64_t{1} << 48;
// magic, version, up to 4 length bytes (16 MiB needs 4).
constexpr size_t kMaxLengthVarintBytes = 4;

void put_u64(std::vector<uint8_t> *out, uint64_t v) {
  uint8_t bytes[8];
  store_le64(bytes, v);
  out->insert(out->end(), bytes, bytes + 8);
}

void put_string(std::vector<uint8_t> *out, std::string_view s) {
  put_varint64(out, s.size());
  out->insert(out->end(), s.begin(), s.end());
}

// The integer m with |m| < 2^50 such that m / 10^d (binary64 division) has
// exactly these bits, if there is one. It is unique, and round(v * 10^d)
// finds it: v * 10^d is within 1/4 of m.
bool decimal_units(uint64_t bits, int d, int64_t *m) {
  double v;
  std::memcpy(&v, &bits, sizeof v);
  const double scaled = v * kPow10[d];
  if (!(std::fabs(scaled) < static_cast<double>(kDecimalLimit))) return false;  // also NaN
  const auto n = static_cast<int64_t>(std::nearbyint(scaled));
  if (n >= kDecimalLimit || n <= -kDecimalLimit) return false;
  if (double_bits(static_cast<double>(n) / kPow10[d]) != bits) return false;
  *m = n;
  return true;
}

// The smallest d (0..9) for which both values are decimals m / 10^d, and the
// step between them in units of 10^-d.
bool decimal_step(uint64_t previous, uint64_t current, int *d, int64_t *step) {
  for (int i = 0; i <= kMaxDecimals; ++i) {
    int64_t a, b;
    if (decimal_units(previous, i, &a) && decimal_units(current, i, &b)) {
      *d = i;
      *step = b - a;
      return true;
    }
  }
  return false;
}

// The delta value form of `current` against `previous` (at most
// kMaxValueDeltaBytes): 0x80 when equal; else the XOR form, or the decimal
// step when that is strictly shorter. Returns the number of bytes written.
size_t value_delta(uint64_t previous, uint64_t current, uint8_t *out) {
  const uint64_t x = previous ^ current;
  if (x == 0) {
    out[0] = kXorZero;
    return 1;
  }
  const unsigned leading = static_cast<unsigned>(__builtin_clzll(x)) / 8;
  const unsigned trailing = static_cast<unsigned>(__builtin_ctzll(x)) / 8;
  const size_t xor_bytes = 1 + 8 - leading - trailing;
  int d;
  int64_t step;
  // A decimal step takes at least 2 bytes.
  if (xor_bytes > 2 && decimal_step(previous, current, &d, &step)) {
    uint64_t z = zigzag_encode(step);
    if (1 + varint64_size(z) < xor_bytes) {
      out[0] = static_cast<uint8_t>(kDecimalStep | d);
      return static_cast<size_t>(put_varint64(out + 1, z) - out);
    }
  }
  out[0] = static_cast<uint8_t>(leading << 4 | trailing);
  uint64_t middle = x >> (8 * trailing);
  for (size_t i = 1; i < xor_bytes; ++i) {
    out[i] = static_cast<uint8_t>(middle);
    middle >>= 8;
  }
  return xor_bytes;
}

// --- Decoding helpers ------------------------------------------------------------

// Reads fields from a payload whose bounds are known: every shortfall is a
// malformed payload.
struct Reader {
  const uint8_t *p;
  const uint8_t *end;

  size_t left() const { return static_cast<size_t>(end - p); }
  bool u8(uint8_t *out) {
    if (p == end) return false;
    *out = *p++;
    return true;
  }
  bool u64(uint64_t *out) {
    if (left() < 8) return false;
    *out = load_le64(p);
    p += 8;
    return true;
  }
  bool varint(uint64_t *out) { return get_varint64(&p, end, out) == VarintStatus::kOk; }
  bool u32_varint(uint32_t *out) {
    uint64_t v;
    if (!varint(&v) || v > std::numeric_limits<uint32_t>::max()) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  }
  bool string(std::string *out) {
    uint64_t n;
    if (!varint(&n) || n > left()) return false;
    out->assign(reinterpret_cast<const char *>(p), static_cast<size_t>(n));
    p += n;
    return true;
  }
  // A delta value against the previous bits; false when malformed or not
  // the form value_delta() would write.
  bool value(uint64_t previous, uint64_t *out) {
    const uint8_t *start = p;
    uint8_t control;
    if (!u8(&control)) return false;
    uint64_t current;
    if (control == kXorZero) {
      current = previous;
    } else if ((control & 0xF0) == kDecimalStep) {
      const int d = control & 0x0F;
      uint64_t z;
      int64_t m;
      if (d > kMaxDecimals || !varint(&z) || !decimal_units(previous, d, &m)) return false;
      const int64_t step = zigzag_decode(z);
      if (step <= -2 * kDecimalLimit || step >= 2 * kDecimalLimit) return false;
      m += step;
      if (m <= -kDecimalLimit || m >= kDecimalLimit) return false;
      current = double_bits(static_cast<double>(m) / kPow10[d]);
    } else {
      const unsigned leading = control >> 4;
      const unsigned trailing = control & 0x0F;
      if (leading + trailing > 7) return false;
      const unsigned n = 8 - leading - trailing;
      if (left() < n) return false;
      uint64_t middle = 0;
      for (unsigned i = 0; i < n; ++i) middle |= static_cast<uint64_t>(p[i]) << (8 * i);
      p += n;
      current = previous ^ (middle << (8 * trailing));
    }
    // Canonical: exactly the bytes the encoder writes for this value (this
    // also rejects non-maximal XOR counts and zero steps).
    uint8_t expect[kMaxValueDeltaBytes];
    const size_t n = value_delta(previous, current, expect);
    if (n != static_cast<size_t>(p - start) || std::memcmp(expect, start, n) != 0) return false;
    *out = current;
    return true;
  }
};

// --- JSON -----------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b = at(i);
  const size_t left = s.size() - i;
  auto cont = [&](size_t k) { return k < left && (at(i + k) & 0xC0) == 0x80; };
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    const uint8_t b1 = at(i + 1);
    if (b == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b == 0xED && b1 > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    const uint8_t b1 = at(i + 1);
    if (b == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b == 0xF4 && b1 > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

void append_json_string(std::string *out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
      ++i;
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (const size_t n = utf8_sequence(s, i); n > 0) {
      out->append(s.data() + i, n);
      i += n;
    } else {
      out->append("\\ufffd");  // not UTF-8: keep the line valid JSON
      ++i;
    }
  }
  out->push_back('"');
}

void append_double(std::string *out, double value) {
  if (value != value) {
    out->append("\"NaN\"");
  } else if (value == std::numeric_limits<double>::infinity()) {
    out->append("\"Infinity\"");
  } else if (value == -std::numeric_limits<double>::infinity()) {
    out->append("\"-Infinity\"");
  } else {
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof buf, value);
    out->append(buf, result.ptr);
  }
}

void append_int(std::string *out, int64_t value) {
  char buf[24];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, result.ptr);
}

// "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, proleptic Gregorian).
void append_timestamp(std::string *out, int64_t us) {
  constexpr int64_t kUsPerDay = 86'400'000'000;
  int64_t days = us / kUsPerDay;
  int64_t rem = us % kUsPerDay;
  if (rem < 0) {
    rem += kUsPerDay;
    --days;
  }
  const CivilDate date = civil_from_days(days);
  const int64_t secs = rem / 1'000'000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%06dZ", date.year,
                date.month, date.day, static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60),
                static_cast<int>(rem % 1'000'000));
  out->append(buf);
}

}  // namespace

uint32_t crc32c_portable(const uint8_t *data, size_t size) {
  const auto &t = kCrc32c.t;
  uint32_t crc = 0xFFFFFFFFu;
  while (size >= 8) {
    const uint64_t v = load_le64(data) ^ crc;
    crc = t[7][v & 0xFF] ^ t[6][(v >> 8) & 0xFF] ^ t[5][(v >> 16) & 0xFF] ^ t[4][(v >> 24) & 0xFF] ^
          t[3][(v >> 32) & 0xFF] ^ t[2][(v >> 40) & 0xFF] ^ t[1][(v >> 48) & 0xFF] ^ t[0][v >> 56];
    data += 8;
    size -= 8;
  }
  while (size-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *data++) & 0xFF];
  return ~crc;
}

uint32_t crc32c(const uint8_t *data, size_t size) {
#ifdef EDGESTATE_CRC32C_HW
  static const bool hw = cpu_has_sse42();
  if (hw) return crc32c_sse42(data, size);
#endif
  return crc32c_portable(data, size);
}

const char *describe(ChangelogError error) {
  switch (error) {
    case ChangelogError::kOk:
      return "valid frame";
    case ChangelogError::kNeedMoreData:
      return "frame is truncated";
    case ChangelogError::kBadMagic:
      return "not a change-log frame (bad magic byte)";
    case ChangelogError::kBadVersion:
      return "unsupported change-log format version";
    case ChangelogError::kBadLength:
      return "invalid frame payload length";
    case ChangelogError::kBadChecksum:
      return "frame checksum mismatch";
    case ChangelogError::kBadPayload:
      return "malformed frame payload";
    case ChangelogError::kUnknownReference:
      return "frame refers to an undefined table, key, region or device";
  }
  return "unknown change-log error";
}

// --- Encoder ----------------------------------------------------------------------

uint32_t ChangelogEncoder::intern(Dictionary *dict, std::string_view name, bool *is_new) {
  lookup_.assign(name.data(), name.size());
  if (const auto it = dict->ids.find(lookup_); it != dict->ids.end()) {
    *is_new = false;
    return it->second;
  }
  const auto id = static_cast<uint32_t>(dict->ids.size());
  dict->ids.emplace(lookup_, id);
  dict->added.push_back(lookup_);
  *is_new = true;
  return id;
}

void ChangelogEncoder::reset_state() {
  for (Dictionary *d : {&tables_, &regions_, &devices_}) {
    d->ids.clear();
    d->added.clear();
  }
  key_ids_.clear();
  keys_.clear();
  added_keys_.clear();
  key_undo_.clear();
  keys_at_begin_ = 0;
  started_ = false;
}

void ChangelogEncoder::rollback() {
  for (Dictionary *d : {&tables_, &regions_, &devices_}) {
    for (const std::string &name : d->added) d->ids.erase(name);
    d->added.clear();
  }
  for (auto it = key_undo_.rbegin(); it != key_undo_.rend(); ++it) keys_[it->id] = it->old;
  key_undo_.clear();
  for (const std::string &k : added_keys_) key_ids_.erase(k);
  added_keys_.clear();
  keys_.resize(keys_at_begin_);
}

void ChangelogEncoder::commit() {
  for (Dictionary *d : {&tables_, &regions_, &devices_}) d->added.clear();
  added_keys_.clear();
  key_undo_.clear();
  keys_at_begin_ = keys_.size();
}

void ChangelogEncoder::begin(uint64_t commit_lsn, int64_t commit_time_us, uint32_t origin) {
  if (open_) rollback();
  if (continued_ &&
      (commit_lsn != commit_lsn_ || commit_time_us != commit_time_us_ || origin != origin_)) {
    // The continued transaction will never end: start a new stream, at which
    // consumers discard it.
    continued_ = false;
    restart_ = true;
  }
  if (restart_ && !continued_) {
    reset_state();
    restart_ = false;
  }
  commit_lsn_ = commit_lsn;
  commit_time_us_ = commit_time_us;
  origin_ = origin;
  count_ = 0;
  readings_.clear();
  frame_.clear();
  open_ = true;
}

void ChangelogEncoder::restart_stream() { restart_ = true; }

void ChangelogEncoder::add(std::string_view table,
                           const std::variant<std::string_view, int64_t> &key, double value,
                           uint64_t hlc, std::string_view region, std::string_view device,
                           uint32_t skew_ms) {
  assert(open_);
  const uint64_t bits = double_bits(value);

  bool new_table, new_region, new_device = false;
  const uint32_t table_id = intern(&tables_, table, &new_table);
  const uint32_t region_id = intern(&regions_, region, &new_region);
  const uint32_t device_id = device.empty() ? kNoDevice : intern(&devices_, device, &new_device);
  const KeyState current{hlc, bits, region_id, device_id, skew_ms};

  // The key's identity: table id, key type, key bytes.
  std::string &k = key_lookup_;
  k.assign(reinterpret_cast<const char *>(&table_id), sizeof table_id);
  if (const auto *text = std::get_if<std::string_view>(&key)) {
    k.push_back(static_cast<char>(kKeyText));
    k.append(text->data(), text->size());
  } else {
    const int64_t n = std::get<int64_t>(key);
    k.push_back(static_cast<char>(kKeyInteger));
    k.append(reinterpret_cast<const char *>(&n), sizeof n);
  }

  std::vector<uint8_t> *out = &readings_;
  if (const auto it = key_ids_.find(k); it != key_ids_.end()) {
    // Delta: the key id implies the table; unchanged fields are omitted.
    const uint32_t key_id = it->second;
    const KeyState previous = keys_[key_id];
    if (key_id < keys_at_begin_) key_undo_.push_back(KeyUndo{key_id, previous});
    keys_[key_id] = current;

    uint8_t head = kHeadDelta;
    if (region_id == previous.region) {
      head |= kHeadSameRegion;
    } else if (new_region) {
      head |= kHeadNewRegion;
    }
    if (device_id == previous.device) {
      head |= kHeadSameDevice;
    } else if (device_id != kNoDevice) {
      head |= kHeadHasDevice;
      if (new_device) head |= kHeadNewDevice;
    }
    if (skew_ms == previous.skew_ms) head |= kHeadSameSkew;

    out->push_back(head);
    put_varint64(out, key_id);
    const int64_t ms_step =
        static_cast<int64_t>(hlc >> 16) - static_cast<int64_t>(previous.hlc >> 16);
    put_varint64(out, zigzag_encode(ms_step));
    put_varint64(out, hlc & 0xFFFF);
    uint8_t value_bytes[kMaxValueDeltaBytes];
    const size_t n = value_delta(previous.bits, bits, value_bytes);
    out->insert(out->end(), value_bytes, value_bytes + n);
    if (!(head & kHeadSameRegion)) {
      if (head & kHeadNewRegion) put_string(out, region);
      put_varint64(out, region_id);
    }
    if (head & kHeadNewDevice) put_string(out, device);
    if (head & kHeadHasDevice) put_varint64(out, device_id);
    if (!(head & kHeadSameSkew)) put_varint64(out, skew_ms);
  } else {
    const auto key_id = static_cast<uint32_t>(keys_.size());
    key_ids_.emplace(k, key_id);
    added_keys_.push_back(k);
    keys_.push_back(current);

    uint8_t head = 0;
    if (new_table) head |= kHeadNewTable;
    if (new_region) head |= kHeadNewRegion;
    if (device_id != kNoDevice) head |= kHeadHasDevice;
    if (new_device) head |= kHeadNewDevice;

    out->push_back(head);
    if (new_table) put_string(out, table);
    put_varint64(out, table_id);
    if (const auto *text = std::get_if<std::string_view>(&key)) {
      out->push_back(kKeyText);
      put_string(out, *text);
    } else {
      out->push_back(kKeyInteger);
      put_varint64(out, zigzag_encode(std::get<int64_t>(key)));
    }
    put_varint64(out, hlc);
    put_u64(out, bits);
    if (new_region) put_string(out, region);
    put_varint64(out, region_id);
    if (new_device) put_string(out, device);
    if (device_id != kNoDevice) put_varint64(out, device_id);
    put_varint64(out, skew_ms);
  }
  ++count_;
}

size_t ChangelogEncoder::frame_payload_bytes() const {
  return 1 + 8 + varint64_size(static_cast<uint64_t>(commit_time_us_)) + varint64_size(origin_) +
         varint64_size(count_) + readings_.size();
}

size_t ChangelogEncoder::readings_in_frame() const { return count_; }

const std::vector<uint8_t> &ChangelogEncoder::finish(bool more_frames_follow) {
  frame_.clear();
  if (!open_) return frame_;
  open_ = false;
  // Without readings there is nothing to send, except the end of a continued
  // transaction (a frame with no readings and the continued flag clear).
  if (count_ == 0 && (more_frames_follow || !continued_)) {
    commit();  // nothing changed
    return frame_;
  }
  const size_t payload = frame_payload_bytes();
  frame_.reserve(2 + kMaxVarintBytes + payload + 4);
  frame_.push_back(kChangelogMagic);
  frame_.push_back(kChangelogVersion);
  put_varint64(&frame_, payload);
  frame_.push_back(static_cast<uint8_t>((started_ ? 0 : kFlagStreamStart) |
                                        (more_frames_follow ? kFlagContinued : 0)));
  put_u64(&frame_, commit_lsn_);
  put_varint64(&frame_, static_cast<uint64_t>(commit_time_us_));
  put_varint64(&frame_, origin_);
  put_varint64(&frame_, count_);
  frame_.insert(frame_.end(), readings_.begin(), readings_.end());
  const uint32_t crc = crc32c(frame_.data(), frame_.size());
  for (int i = 0; i < 4; ++i) frame_.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  readings_.clear();
  count_ = 0;
  started_ = true;
  continued_ = more_frames_follow;
  commit();
  return frame_;
}

// --- Decoder ----------------------------------------------------------------------

ChangelogError ChangelogDecoder::next(const uint8_t *data, size_t size, size_t *consumed,
                                      ChangelogFrame *frame) {
  size_t pos = 0;
  if (size > 0 && data[0] == '\n') pos = 1;
  if (pos == size) return ChangelogError::kNeedMoreData;
  if (data[pos] != kChangelogMagic) return ChangelogError::kBadMagic;
  if (pos + 1 == size) return ChangelogError::kNeedMoreData;
  if (data[pos + 1] != kChangelogVersion) return ChangelogError::kBadVersion;

  size_t at = pos + 2;
  uint64_t length = 0;
  for (size_t i = 0;; ++i) {
    if (i == kMaxLengthVarintBytes) return ChangelogError::kBadLength;
    if (at == size) return ChangelogError::kNeedMoreData;
    const uint8_t byte = data[at++];
    length |= static_cast<uint64_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return ChangelogError::kBadLength;
      break;
    }
  }
  if (length > kChangelogMaxPayloadBytes) return ChangelogError::kBadLength;
  if (size - at < length + 4) return ChangelogError::kNeedMoreData;

  const uint8_t *payload = data + at;
  const uint8_t *crc_at = payload + length;
  const uint32_t stored = static_cast<uint32_t>(crc_at[0]) | static_cast<uint32_t>(crc_at[1]) << 8 |
                          static_cast<uint32_t>(crc_at[2]) << 16 |
                          static_cast<uint32_t>(crc_at[3]) << 24;
  if (crc32c(data + pos, at - pos + length) != stored) return ChangelogError::kBadChecksum;

  const ChangelogError error = decode_payload(payload, crc_at, &scratch_);
  if (error != ChangelogError::kOk) return error;
  std::swap(*frame, scratch_);
  *consumed = at + length + 4;
  return ChangelogError::kOk;
}

ChangelogError ChangelogDecoder::decode_payload(const uint8_t *p, const uint8_t *end,
                                                ChangelogFrame *out) {
  Reader r{p, end};
  uint8_t flags;
  uint64_t lsn, time, count;
  uint32_t origin;
  if (!r.u8(&flags) || (flags & ~(kFlagStreamStart | kFlagContinued)) != 0 || !r.u64(&lsn) ||
      !r.varint(&time) || !r.u32_varint(&origin) || !r.varint(&count) ||
      count > r.left() / kMinReadingBytes) {
    return ChangelogError::kBadPayload;
  }
  out->stream_start = (flags & kFlagStreamStart) != 0;
  out->continued = (flags & kFlagContinued) != 0;
  // A continued frame carries readings (the encoder sends none without), and
  // the frame after it belongs to the same transaction unless a new stream
  // starts.
  if (out->continued && count == 0) return ChangelogError::kBadPayload;
  if (continued_ && !out->stream_start &&
      (lsn != group_lsn_ || static_cast<int64_t>(time) != group_time_us_ ||
       origin != group_origin_)) {
    return ChangelogError::kBadPayload;
  }
  out->commit_lsn = lsn;
  out->commit_time_us = static_cast<int64_t>(time);
  out->origin = origin;

  // Decode against the live state, undoing on failure.
  const size_t tables = state_.tables.size();
  const size_t regions = state_.regions.size();
  const size_t devices = state_.devices.size();
  const size_t keys = state_.keys.size();
  undo_.clear();
  if (out->stream_start) {
    std::swap(state_, saved_);
    state_.tables.clear();
    state_.regions.clear();
    state_.devices.clear();
    state_.keys.clear();
  }

  if (out->readings.size() > count) out->readings.resize(static_cast<size_t>(count));
  ChangelogError error = ChangelogError::kOk;
  for (uint64_t i = 0; i < count && error == ChangelogError::kOk; ++i) {
    if (i == out->readings.size()) out->readings.emplace_back();
    error = decode_reading(&r.p, r.end, &out->readings[static_cast<size_t>(i)]);
  }
  if (error == ChangelogError::kOk && r.p != r.end) error = ChangelogError::kBadPayload;

  if (error != ChangelogError::kOk) {
    if (out->stream_start) {
      std::swap(state_, saved_);
    } else {
      for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) state_.keys[it->id].prev = it->prev;
      state_.tables.resize(tables);
      state_.regions.resize(regions);
      state_.devices.resize(devices);
      state_.keys.resize(keys);
    }
    return error;
  }
  if (out->stream_start) {
    saved_.tables.clear();
    saved_.regions.clear();
    saved_.devices.clear();
    saved_.keys.clear();
  }
  continued_ = out->continued;
  group_lsn_ = lsn;
  group_time_us_ = out->commit_time_us;
  group_origin_ = origin;
  return ChangelogError::kOk;
}

ChangelogError ChangelogDecoder::decode_reading(const uint8_t **p, const uint8_t *end,
                                                ChangelogReading *out) {
  constexpr auto kBad = ChangelogError::kBadPayload;
  constexpr auto kUnknown = ChangelogError::kUnknownReference;
  Reader r{*p, end};
  State &s = state_;
  // Appends a name read from the payload to a dictionary.
  const auto define = [&r](std::vector<std::string> *names) {
    if (names->size() >= kMaxDictionaryNames) return false;
    names->emplace_back();
    return r.string(&names->back());
  };
  uint8_t head;
  if (!r.u8(&head)) return kBad;
  const bool delta = (head & kHeadDelta) != 0;
  if ((head & ~(delta ? kDeltaHeadBits : kFullHeadBits)) != 0) return kBad;
  if ((head & kHeadNewDevice) && !(head & kHeadHasDevice)) return kBad;
  if ((head & kHeadSameRegion) && (head & kHeadNewRegion)) return kBad;
  if ((head & kHeadSameDevice) && (head & kHeadHasDevice)) return kBad;

  Previous now;
  if (delta) {
    uint64_t id, ms_step, counter;
    if (!r.varint(&id)) return kBad;
    if (id >= s.keys.size()) return kUnknown;
    KeyState &k = s.keys[id];
    const Previous &prev = k.prev;
    if (!r.varint(&ms_step) || !r.varint(&counter) || counter > 0xFFFF) return kBad;
    // Milliseconds stay within 48 bits (a step of 2^63 or more cannot).
    const int64_t step = zigzag_decode(ms_step);
    const uint64_t prev_ms = prev.hlc >> 16;
    if (step < 0 ? static_cast<uint64_t>(-(step + 1)) >= prev_ms
                 : static_cast<uint64_t>(step) >= kHlcMsLimit - prev_ms) {
      return kBad;
    }
    now.hlc = (prev_ms + static_cast<uint64_t>(step)) << 16 | counter;
    if (!r.value(prev.bits, &now.bits)) return kBad;

    if (head & kHeadSameRegion) {
      now.region = prev.region;
    } else {
      if ((head & kHeadNewRegion) && !define(&s.regions)) return kBad;
      uint64_t region;
      if (!r.varint(&region)) return kBad;
      if (region >= s.regions.size()) return kUnknown;
      if (region == prev.region) return kBad;  // should have been "same region"
      now.region = static_cast<uint32_t>(region);
    }
    if (head & kHeadSameDevice) {
      now.device = prev.device;
    } else if (head & kHeadHasDevice) {
      if ((head & kHeadNewDevice) && !define(&s.devices)) return kBad;
      uint64_t device;
      if (!r.varint(&device)) return kBad;
      if (device >= s.devices.size()) return kUnknown;
      if (device == prev.device) return kBad;
      now.device = static_cast<uint32_t>(device);
    } else {
      if (prev.device == kNoDevice) return kBad;
      now.device = kNoDevice;
    }
    if (head & kHeadSameSkew) {
      now.skew_ms = prev.skew_ms;
    } else {
      if (!r.u32_varint(&now.skew_ms)) return kBad;
      if (now.skew_ms == prev.skew_ms) return kBad;
    }
    undo_.push_back(KeyUndo{static_cast<uint32_t>(id), prev});
    k.prev = now;
    out->table = s.tables[k.table];
    out->key = k.key;
  } else {
    if ((head & kHeadNewTable) && !define(&s.tables)) return kBad;
    uint64_t table;
    if (!r.varint(&table)) return kBad;
    if (table >= s.tables.size()) return kUnknown;
    uint8_t type;
    if (!r.u8(&type)) return kBad;
    if (type == kKeyText) {
      if (out->key.index() != 0) out->key.emplace<std::string>();
      if (!r.string(&std::get<std::string>(out->key))) return kBad;
    } else if (type == kKeyInteger) {
      uint64_t zz;
      if (!r.varint(&zz)) return kBad;
      out->key = zigzag_decode(zz);
    } else {
      return kBad;
    }
    if (!r.varint(&now.hlc) || !r.u64(&now.bits)) return kBad;
    if ((head & kHeadNewRegion) && !define(&s.regions)) return kBad;
    uint64_t region;
    if (!r.varint(&region)) return kBad;
    if (region >= s.regions.size()) return kUnknown;
    now.region = static_cast<uint32_t>(region);
    now.device = kNoDevice;
    if (head & kHeadHasDevice) {
      if ((head & kHeadNewDevice) && !define(&s.devices)) return kBad;
      uint64_t device;
      if (!r.varint(&device)) return kBad;
      if (device >= s.devices.size()) return kUnknown;
      now.device = static_cast<uint32_t>(device);
    }
    if (!r.u32_varint(&now.skew_ms)) return kBad;
    if (s.keys.size() >= std::numeric_limits<uint32_t>::max()) return kBad;
    s.keys.push_back(KeyState{static_cast<uint32_t>(table), out->key, now});
    out->table = s.tables[table];
  }
  out->hlc = now.hlc;
  std::memcpy(&out->value, &now.bits, sizeof out->value);
  out->region = s.regions[now.region];
  if (now.device == kNoDevice) {
    out->device.clear();
  } else {
    out->device = s.devices[now.device];
  }
  out->skew_ms = now.skew_ms;
  *p = r.p;
  return ChangelogError::kOk;
}

// --- JSON -------------------------------------------------------------------------

std::string changelog_reading_json(const ChangelogFrame &frame, const ChangelogReading &reading,
                                   uint64_t seq, bool include_commit_time) {
  std::string out;
  out.reserve(256);
  char lsn[24];
  std::snprintf(lsn, sizeof lsn, "%X/%X", static_cast<unsigned>(frame.commit_lsn >> 32),
                static_cast<unsigned>(frame.commit_lsn & 0xFFFFFFFFu));
  out.append("{\"lsn\":\"");
  out.append(lsn);
  out.append("\",\"seq\":");
  append_int(&out, static_cast<int64_t>(seq));
  if (include_commit_time) {
    out.append(",\"commit_time\":\"");
    append_timestamp(&out, frame.commit_time_us);
    out.push_back('"');
  }
  out.append(",\"origin\":");
  append_int(&out, frame.origin);
  out.append(",\"table\":");
  append_json_string(&out, reading.table);
  out.append(",\"key\":");
  if (const auto *text = std::get_if<std::string>(&reading.key)) {
    append_json_string(&out, *text);
  } else {
    append_int(&out, std::get<int64_t>(reading.key));
  }
  out.append(",\"value\":");
  append_double(&out, reading.value);
  out.append(",\"ts\":\"");
  out.append(hlc_format(reading.hlc));
  out.append("\",\"region\":");
  append_json_string(&out, reading.region);
  out.append(",\"device\":");
  if (reading.device.empty()) {
    out.append("null");
  } else {
    append_json_string(&out, reading.device);
  }
  out.append(",\"skew_ms\":");
  append_int(&out, reading.skew_ms);
  out.push_back('}');
  return out;
}

}  // namespace edgestate::core
