// The change-log wire format: what the `edgestate` logical decoding output
// plugin emits in binary mode, and its decoder (used by edgestate-decode).
// docs/changelog-format.md is the specification; this is the reference.
//
// A stream is a sequence of frames, one per committed transaction that wrote
// sensorstate rows. pg_recvlogical writes a newline after each message, so a
// decoder skips one 0x0A byte between frames.
//
// Frame:
//   u8      magic 0xE5
//   u8      format version (2)
//   varint  payload length (bytes)
//   payload
//   u32     CRC-32C (Castagnoli), little-endian, of every byte from the magic
//           through the payload
// Payload:
//   u8      flags: bit 0 = stream start (the decoder forgets every dictionary
//           and per-key state before this frame); bit 1 = continued (more
//           frames of this transaction follow; clear on its last frame);
//           other bits zero
//   u64     commit LSN, little-endian
//   varint  commit time, microseconds since the Unix epoch
//   varint  replication origin id (0: local)
//   varint  number of readings
//   readings, in the order the transaction inserted them
// Full reading (head bit 0 clear; first reading of a key in the stream):
//   u8      head: bit 1 = new table name follows, bit 2 = new region name
//           follows, bit 3 = new device name follows, bit 4 = has device;
//           bits 5-7 zero
//   [string table name, if bit 1: gets the next table id (0, 1, ...)]
//   varint  table id
//   u8      key type (0 text, 1 integer), then a string (text) or a zigzag
//           varint (integer); the key gets the next key id
//   varint  hlc
//   u64     value bits, LE
//   [string region, if bit 2: gets the next region id]
//   varint  region id
//   [string device, if bit 3: gets the next device id]
//   [varint device id, if bit 4]
//   varint  skew bound, milliseconds
// Delta reading (head bit 0 set; the key's table is implied by its key id):
//   u8      head: bit 0 = 1, bit 1 zero, bit 2 = new region name follows,
//           bit 3 = new device name follows, bit 4 = has device, bit 5 = same
//           region as the key's previous reading, bit 6 = same device (or
//           none) as the key's previous reading, bit 7 = same skew bound as
//           the key's previous reading
//   varint  key id (a key of an earlier full reading in the stream)
//   zigzag varint  hlc milliseconds - the key's previous hlc milliseconds
//   varint  hlc counter (hlc & 0xFFFF, not a difference)
//   value   against the key's previous value bits: 0x80 if equal; 0x90 | d
//           (d = 0..9) and a zigzag varint n: the value is (m + n) / 10^d
//           where m / 10^d is the previous value (decimal step); else
//           u8 (leading zero bytes << 4 | trailing zero bytes) of the XOR
//           and the 8 - leading - trailing middle bytes (the shorter form
//           wins; decimal only when strictly shorter)
//   unless bit 5: [string region, if bit 2] varint region id (differs)
//   unless bit 6: [string device, if bit 3] [varint device id, if bit 4]
//           (differs from the previous device or its absence)
//   unless bit 7: varint skew bound, milliseconds (differs)
// string := varint length, bytes. varint := unsigned LEB128. zigzag := (n << 1) ^ (n >> 63).
//
// Every frame has exactly one encoding: varints are canonical (no overlong
// form, at most 10 bytes), the value form and its counts are the ones the
// encoder picks, and a delta's "same" bit is set exactly when the field
// equals the key's previous one. A transaction too large for one frame may be
// split into consecutive frames with the same commit LSN, time and origin (see
// ChangelogEncoder::frame_payload_bytes): every frame but the last has the
// continued flag. A transaction is such a group ending with a frame whose
// continued flag is clear; a group still unfinished at a stream-start frame or
// at the end of the input is incomplete and must be discarded (the next
// session resends the whole transaction). The frame after a continued frame is
// either a stream start or has the same commit LSN, time and origin.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace edgestate::core {

constexpr uint8_t kChangelogMagic = 0xE5;
constexpr uint8_t kChangelogVersion = 2;
// Largest payload a decoder accepts.
constexpr size_t kChangelogMaxPayloadBytes = size_t{16} << 20;
// Payload size at which the plugin should finish(true) the frame and begin
// another one for the rest of the transaction (same LSN, time and origin).
constexpr size_t kChangelogSplitPayloadBytes = size_t{1} << 20;

struct ChangelogReading {
  std::string table;                       // schema-qualified, as the plugin names it
  std::variant<std::string, int64_t> key;  // text or integer key
  double value;
  uint64_t hlc;
  std::string region;
  std::string device;  // empty: no device
  uint32_t skew_ms;
};

struct ChangelogFrame {
  bool stream_start;
  uint64_t commit_lsn;
  int64_t commit_time_us;  // Unix epoch
  uint32_t origin;
  std::vector<ChangelogReading> readings;
  // More frames of this transaction (same commit LSN, time and origin)
  // follow; clear on a transaction's last frame. Last member, so that
  // aggregate initializers that leave it out still compile (false).
  bool continued = false;
};

// Stateful across the frames of one stream (per-key previous readings and the
// table, region, device and key dictionaries). Not thread-safe.
class ChangelogEncoder {
 public:
  // Starts a frame; the first frame of an encoder is a stream start. A frame
  // still open (begin without finish) is discarded: the encoder's state returns
  // to what it was after the last finish().
  void begin(uint64_t commit_lsn, int64_t commit_time_us, uint32_t origin);
  // Precondition: a frame is open. The value's bits are encoded as given.
  void add(std::string_view table, const std::variant<std::string_view, int64_t> &key, double value,
           uint64_t hlc, std::string_view region, std::string_view device, uint32_t skew_ms);
  // The finished frame (empty when no reading was added: nothing to send).
  // Valid until the next call of begin() or finish().
  // more_frames_follow: the transaction continues in the next frame (a split
  // at kChangelogSplitPayloadBytes); the frame gets the continued flag, and
  // the caller begin()s the next frame with the same commit LSN, time and
  // origin. A transaction's last frame is finished with false; when a
  // continued frame was sent, finish(false) always returns a frame, without
  // readings if none were added since, so that the transaction ends. A
  // begin() with other commit fields while a transaction is continued
  // abandons it: the next frame starts a new stream (consumers discard the
  // unfinished transaction).
  const std::vector<uint8_t> &finish(bool more_frames_follow = false);
  size_t readings_in_frame() const;
  // Payload bytes of the open frame so far; past kChangelogSplitPayloadBytes
  // the caller should finish() and begin() again with the same commit fields.
  size_t frame_payload_bytes() const;
  // The next begin() starts a new stream (forgets dictionaries and key state),
  // e.g. to bound memory; key_count() is the number of keys remembered. While
  // a transaction is continued, the restart waits until its last frame.
  void restart_stream();
  size_t key_count() const { return keys_.size(); }

 private:
  struct Dictionary {
    std::unordered_map<std::string, uint32_t> ids;
    std::vector<std::string> added;  // names added by the open frame
  };
  // The key's previous reading, for deltas. device: kNoDevice when none.
  struct KeyState {
    uint64_t hlc;
    uint64_t bits;
    uint32_t region;
    uint32_t device;
    uint32_t skew_ms;
  };
  struct KeyUndo {
    uint32_t id;
    KeyState old;
  };
  uint32_t intern(Dictionary *dict, std::string_view name, bool *is_new);
  void rollback();
  void commit();
  void reset_state();

  Dictionary tables_, regions_, devices_;
  std::unordered_map<std::string, uint32_t> key_ids_;  // table id, key type, key bytes
  std::vector<KeyState> keys_;
  std::vector<std::string> added_keys_;
  std::vector<KeyUndo> key_undo_;
  size_t keys_at_begin_ = 0;
  std::string lookup_, key_lookup_;
  std::vector<uint8_t> readings_;
  std::vector<uint8_t> frame_;
  uint64_t commit_lsn_ = 0;
  int64_t commit_time_us_ = 0;
  uint32_t origin_ = 0;
  size_t count_ = 0;
  bool open_ = false;
  bool started_ = false;  // a stream-start frame has been finished
  bool restart_ = false;
  bool continued_ = false;  // the last finished frame had the continued flag
};

enum class ChangelogError {
  kOk,
  kNeedMoreData,  // the buffer ends inside a frame (streaming input)
  kBadMagic,
  kBadVersion,
  kBadLength,  // payload length beyond the limit (16 MiB)
  kBadChecksum,
  kBadPayload,        // malformed payload: bad flags/head bits, truncated fields, trailing bytes,
                      // a non-canonical encoding
  kUnknownReference,  // a table, key, region or device id never defined, or a delta before any
                      // full reading
};
const char *describe(ChangelogError error);

class ChangelogDecoder {
 public:
  // Decodes one frame from the front of data (after skipping a newline
  // separator). On kOk sets *consumed and *frame; never reads past size;
  // never throws on malformed input.
  // A frame that fails to decode leaves the decoder's state unchanged.
  // After a frame with the continued flag, the next frame must be a stream
  // start or carry the same commit LSN, time and origin (else kBadPayload).
  ChangelogError next(const uint8_t *data, size_t size, size_t *consumed, ChangelogFrame *frame);

 private:
  // The key's identity and previous reading. device: kNoDevice when none.
  struct Previous {
    uint64_t hlc;
    uint64_t bits;
    uint32_t region;
    uint32_t device;
    uint32_t skew_ms;
  };
  struct KeyState {
    uint32_t table;
    std::variant<std::string, int64_t> key;
    Previous prev;
  };
  struct KeyUndo {
    uint32_t id;
    Previous prev;
  };
  struct State {
    std::vector<std::string> tables, regions, devices;
    std::vector<KeyState> keys;
  };
  ChangelogError decode_payload(const uint8_t *p, const uint8_t *end, ChangelogFrame *out);
  ChangelogError decode_reading(const uint8_t **p, const uint8_t *end, ChangelogReading *out);

  State state_;
  State saved_;  // the state before a stream-start frame, until it decodes
  std::vector<KeyUndo> undo_;
  ChangelogFrame scratch_{};
  // The last decoded frame had the continued flag: its commit fields.
  bool continued_ = false;
  uint64_t group_lsn_ = 0;
  int64_t group_time_us_ = 0;
  uint32_t group_origin_ = 0;
};

// One JSON object per reading (a JSON line without the newline), with the
// frame's commit LSN ("0/16B3748"), the reading's position in its transaction
// (seq, from 0), commit time (ISO 8601 UTC with microseconds) and origin, as
// edgestate-decode writes them and as the plugin's JSON mode emits them.
// (lsn, seq) identifies a reading, so a consumer can drop what a resent
// transaction repeats. include_commit_time = false omits the "commit_time"
// member (the plugin's include-timestamps option).
std::string changelog_reading_json(const ChangelogFrame &frame, const ChangelogReading &reading,
                                   uint64_t seq, bool include_commit_time = true);

// CRC-32C of a byte range.
uint32_t crc32c(const uint8_t *data, size_t size);

}  // namespace edgestate::core
