#include "core/latest_table.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "core/merge.h"

namespace edgestate::core {
namespace latest_detail {

constexpr uint64_t kMagic = 0x324C'5441'4C45'4445ull;  // "EDGELAT2" little-endian
constexpr uint32_t kNone = 0xFFFF'FFFFu;
// A slot's position in an index cell is stored plus one, in 24 bits.
constexpr uint32_t kMaxSlotsPerPartition = (1u << 24) - 2;

// Slot::flags
constexpr uint8_t kPartial = 1;
constexpr uint8_t kChunked = 2;  // payload = [u32 first chunk][first bytes of key + state]

struct Header {
  uint64_t magic;
  uint32_t partitions;
  uint32_t slots_per_partition;
  uint32_t chunks_per_partition;
  uint32_t cells_per_partition;
  uint64_t partitions_offset;
  uint64_t slots_offset;
  uint64_t chunks_offset;
  uint64_t cells_offset;
  uint64_t cells_stride;  // bytes per partition's cells, rounded up to 64
  uint64_t total_bytes;
  // The last version handed out (versions start at 1).
  alignas(64) std::atomic<uint64_t> last_version;
};

// One per partition, on its own cache line. The plain fields change only
// under the partition's exclusive lock; the atomics are also read by size().
struct alignas(64) Partition {
  std::atomic<uint32_t> count;  // slots [0, count) are in use
  std::atomic<uint32_t> chunks_used;
  uint32_t hand;        // CLOCK over the slots
  uint32_t chunk_hand;  // CLOCK over the entries owning chunks
  uint32_t free_chunk;  // head of the free list of chunks, or kNone
  uint32_t next_generation;
};

// Exactly kSlotBytes, metadata included. What a lookup compares comes first,
// then the key and state bytes, so that a probe mostly reads one cache line.
struct Slot {
  uint32_t hash_high;  // the key hash's high 32 bits: the home of its index cell
  uint32_t db;
  uint32_t rel;
  uint16_t state_size;
  uint8_t key_size;
  uint8_t flags;
  uint8_t usage;  // CLOCK bit; accessed with relaxed __atomic builtins
  uint8_t payload[kSlotPayloadBytes];
  uint32_t generation;
  uint64_t version;
  int64_t arrival_us;
};
static_assert(sizeof(Slot) == kSlotBytes, "a slot must be 112 bytes");
static_assert(offsetof(Slot, payload) + kSlotPayloadBytes + 4 == offsetof(Slot, version));
static_assert(alignof(Slot) == 8);

// Free: next links the free list.
struct Chunk {
  uint32_t next;  // the entry's next chunk (kNone after its last)
  uint8_t data[kChunkDataBytes];
};
static_assert(sizeof(Chunk) == kChunkBytes, "a chunk must be 64 bytes");
static_assert(kMaxLatestEntryBytes >= kMaxLatestKeyBytes + kSlotPayloadBytes);

static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared memory needs lock-free atomics");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared memory needs lock-free atomics");

struct PartitionRef {
  Partition *part;
  Slot *slots;
  Chunk *chunks;
  // 0 = empty, else (8 hash bits << 24) | (slot position + 1).
  uint32_t *cells;
  uint32_t slot_count;
  uint32_t chunk_count;
  uint32_t cell_count;
};

}  // namespace latest_detail


namespace {

using namespace latest_detail;

// ---- hashing ---------------------------------------------------------------

constexpr uint64_t kSecret0 = 0xa0761d6478bd642full;
constexpr uint64_t kSecret1 = 0xe7037ed1a0b428dbull;
constexpr uint64_t kSecret2 = 0x8ebc6af09c88c6e3ull;
constexpr uint64_t kSecret3 = 0x589965cc75374cc3ull;

inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t read64(const unsigned char *p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline uint64_t read32(const unsigned char *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Copies of keys and states (mostly 10..90 bytes): GCC would inline a
// bounded memcpy as `rep movsq`, whose start-up costs more than the copy.
// 16-byte chunks with an overlapping tail instead.
inline void copy_bytes(void *dst, const void *src, size_t n) {
  auto *d = static_cast<unsigned char *>(dst);
  const auto *s = static_cast<const unsigned char *>(src);
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 < n; i += 16) {
      uint64_t a, b;
      std::memcpy(&a, s + i, 8);
      std::memcpy(&b, s + i + 8, 8);
      std::memcpy(d + i, &a, 8);
      std::memcpy(d + i + 8, &b, 8);
      __asm__ volatile("" ::: "memory");  // keep this a loop, not a memcpy call
    }
    uint64_t a, b;
    std::memcpy(&a, s + n - 16, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d + n - 16, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n > 0) {
    const unsigned char a = s[0], b = s[n / 2], c = s[n - 1];
    d[0] = a;
    d[n / 2] = b;
    d[n - 1] = c;
  }
}

// ---- slot helpers ----------------------------------------------------------

inline uint8_t load_usage(const Slot &s) { return __atomic_load_n(&s.usage, __ATOMIC_RELAXED); }

inline void set_usage(const Slot &s, uint8_t value) {
  // find() holds only a shared lock: a relaxed byte store, skipped when the
  // bit already has the value, so hot entries do not bounce cache lines.
  auto *usage = const_cast<uint8_t *>(&s.usage);
  if (__atomic_load_n(usage, __ATOMIC_RELAXED) != value) {
    __atomic_store_n(usage, value, __ATOMIC_RELAXED);
  }
}

inline uint32_t home_of(uint32_t hash_high, uint32_t n) {
  return static_cast<uint32_t>((uint64_t{hash_high} * n) >> 32);
}

// Bits 16..23 of the hash: partition_of uses the low bits (at most 16),
// home_of the high 32.
inline uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>((hash >> 16) & 0xFF) << 24; }

inline uint32_t cell_of_slot(uint64_t hash, uint32_t slot) { return tag_of(hash) | (slot + 1); }

inline uint32_t slot_of_cell(uint32_t cell) { return (cell & 0x00FF'FFFFu) - 1; }

inline uint32_t next_index(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }

inline uint32_t count_of(const PartitionRef &r) {
  return r.part->count.load(std::memory_order_relaxed);
}

inline uint32_t free_chunks(const PartitionRef &r) {
  return r.chunk_count - r.part->chunks_used.load(std::memory_order_relaxed);
}

inline uint32_t first_chunk_of(const Slot &s) {
  uint32_t idx;
  std::memcpy(&idx, s.payload, 4);
  return idx;
}

inline size_t chunks_of(const Slot &s) {
  return (s.flags & kChunked) ? latest_chunks_needed(s.key_size, s.state_size) : 0;
}

// Calls fn(bytes, n) for the consecutive pieces of the entry's key + state
// bytes [from, from + len), in order, wherever they are stored. False when
// the slot or its chain is inconsistent (never, unless memory was
// corrupted): callers then treat the entry as not matching, and nothing
// outside the block is ever touched.
template <typename Fn>
bool for_range(const PartitionRef &r, const Slot &s, size_t from, size_t len, Fn &&fn) {
  if ((s.flags & kChunked) == 0) {
    if (from + len > kSlotPayloadBytes) return false;
    fn(const_cast<uint8_t *>(s.payload) + from, len);
    return true;
  }
  if (from < kSlotInlineWithChunksBytes) {
    const size_t n = std::min(len, kSlotInlineWithChunksBytes - from);
    fn(const_cast<uint8_t *>(s.payload) + 4 + from, n);
    from += n;
    len -= n;
  }
  uint32_t c = first_chunk_of(s);
  for (size_t start = kSlotInlineWithChunksBytes; len > 0; start += kChunkDataBytes) {
    if (c >= r.chunk_count || start >= kMaxLatestEntryBytes) return false;
    if (from < start + kChunkDataBytes) {
      const size_t offset = from - start;
      const size_t n = std::min(len, kChunkDataBytes - offset);
      fn(r.chunks[c].data + offset, n);
      from += n;
      len -= n;
    }
    c = r.chunks[c].next;
  }
  return true;
}

bool read_range(const PartitionRef &r, const Slot &s, size_t from, size_t len, uint8_t *out) {
  return for_range(r, s, from, len, [&out](const uint8_t *piece, size_t n) {
    copy_bytes(out, piece, n);
    out += n;
  });
}

// The slot's state bytes: in place when they are contiguous (always for an
// inline entry), else gathered into buffer (kMaxLatestEntryBytes); nullptr
// when the slot is inconsistent.
const uint8_t *state_bytes(const PartitionRef &r, const Slot &s, uint8_t *buffer) {
  const size_t end = size_t{s.key_size} + s.state_size;
  if ((s.flags & kChunked) == 0) return end <= kSlotPayloadBytes ? s.payload + s.key_size : nullptr;
  if (end <= kSlotInlineWithChunksBytes) return s.payload + 4 + s.key_size;
  if (s.state_size > kMaxLatestEntryBytes) return nullptr;
  return read_range(r, s, s.key_size, s.state_size, buffer) ? buffer : nullptr;
}

// Equality of short byte strings (keys), without a call: 8-byte words, the
// last one overlapping.
inline bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t n) {
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 < n; i += 8) {
      if (read64(a + i) != read64(b + i)) return false;
    }
    return read64(a + n - 8) == read64(b + n - 8);
  }
  if (n >= 4) return read32(a) == read32(b) && read32(a + n - 4) == read32(b + n - 4);
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool key_matches(const PartitionRef &r, const Slot &s, uint64_t hash, const LatestKey &key) {
  if (s.hash_high != static_cast<uint32_t>(hash >> 32) || s.db != key.db || s.rel != key.rel ||
      s.key_size != key.key.size()) {
    return false;
  }
  const auto *want = reinterpret_cast<const uint8_t *>(key.key.data());
  if ((s.flags & kChunked) == 0) {
    return s.key_size <= kSlotPayloadBytes && bytes_equal(s.payload, want, s.key_size);
  }
  bool same = true;
  const bool ok = for_range(r, s, 0, key.key.size(), [&](const uint8_t *piece, size_t n) {
    same = same && std::memcmp(piece, want, n) == 0;
    want += n;
  });
  return ok && same;
}

uint32_t find_slot(const PartitionRef &r, uint64_t hash, const LatestKey &key) {
  const uint32_t tag = tag_of(hash);
  const uint32_t count = count_of(r);
  uint32_t c = home_of(static_cast<uint32_t>(hash >> 32), r.cell_count);
  for (uint32_t n = 0; n < r.cell_count; ++n) {
    const uint32_t cell = r.cells[c];
    if (cell == 0) return kNone;
    if ((cell & 0xFF00'0000u) == tag) {
      const uint32_t i = slot_of_cell(cell);
      if (i < count && key_matches(r, r.slots[i], hash, key)) return i;
    }
    c = next_index(c, r.cell_count);
  }
  return kNone;
}

// The index cell that points at slot i, or kNone.
uint32_t cell_pointing_at(const PartitionRef &r, uint32_t i) {
  uint32_t c = home_of(r.slots[i].hash_high, r.cell_count);
  for (uint32_t n = 0; n < r.cell_count; ++n) {
    const uint32_t cell = r.cells[c];
    if (cell == 0) return kNone;
    if (slot_of_cell(cell) == i) return c;
    c = next_index(c, r.cell_count);
  }
  return kNone;
}

// Backward-shift deletion: every other cell stays reachable from its home.
void remove_cell(const PartitionRef &r, uint32_t c) {
  const uint32_t n = r.cell_count;
  const uint32_t count = count_of(r);
  uint32_t hole = c;
  uint32_t j = c;
  for (uint32_t steps = 1; steps < n; ++steps) {
    j = next_index(j, n);
    const uint32_t cell = r.cells[j];
    if (cell == 0) break;
    const uint32_t slot = slot_of_cell(cell);
    const uint32_t k = slot < count ? home_of(r.slots[slot].hash_high, n) : j;
    // The cell at j may fill the hole only if its home is not cyclically
    // within (hole, j].
    const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (stays) continue;
    r.cells[hole] = cell;
    hole = j;
  }
  r.cells[hole] = 0;
}

void insert_cell(const PartitionRef &r, uint64_t hash, uint32_t slot) {
  uint32_t c = home_of(static_cast<uint32_t>(hash >> 32), r.cell_count);
  for (uint32_t n = 0; n < r.cell_count; ++n) {
    if (r.cells[c] == 0) {
      r.cells[c] = cell_of_slot(hash, slot);
      return;
    }
    c = next_index(c, r.cell_count);
  }
}

// A chain of n chunks off the free list (the caller made sure there are n).
uint32_t alloc_chain(const PartitionRef &r, size_t n) {
  uint32_t head = kNone;
  uint32_t *link = &head;
  for (size_t k = 0; k < n; ++k) {
    const uint32_t c = r.part->free_chunk;
    if (c >= r.chunk_count) break;  // cannot happen: counted free
    r.part->free_chunk = r.chunks[c].next;
    *link = c;
    link = &r.chunks[c].next;
  }
  *link = kNone;
  r.part->chunks_used.fetch_add(static_cast<uint32_t>(n), std::memory_order_relaxed);
  return head;
}

void free_chain(const PartitionRef &r, Slot &s) {
  if ((s.flags & kChunked) == 0) return;
  const size_t n = chunks_of(s);
  uint32_t c = first_chunk_of(s);
  for (size_t k = 0; k < n && c < r.chunk_count; ++k) {
    const uint32_t next = r.chunks[c].next;
    r.chunks[c].next = r.part->free_chunk;
    r.part->free_chunk = c;
    c = next;
  }
  r.part->chunks_used.fetch_sub(static_cast<uint32_t>(n), std::memory_order_relaxed);
  s.flags = static_cast<uint8_t>(s.flags & ~kChunked);
}

// Stores key and state in slot s, replacing what it held (its chunks are
// freed first). The caller has made sure that enough chunks are free.
void write_entry_bytes(const PartitionRef &r, Slot &s, std::string_view key, const uint8_t *state,
                       size_t state_size) {
  free_chain(r, s);
  s.key_size = static_cast<uint8_t>(key.size());
  s.state_size = static_cast<uint16_t>(state_size);
  const size_t chunks = latest_chunks_needed(key.size(), state_size);
  if (chunks == 0) {
    copy_bytes(s.payload, key.data(), key.size());
    copy_bytes(s.payload + key.size(), state, state_size);
    return;
  }
  const uint32_t head = alloc_chain(r, chunks);
  std::memcpy(s.payload, &head, 4);
  s.flags = static_cast<uint8_t>(s.flags | kChunked);
  const auto *from = reinterpret_cast<const uint8_t *>(key.data());
  auto write = [&from](uint8_t *piece, size_t n) {
    copy_bytes(piece, from, n);
    from += n;
  };
  for_range(r, s, 0, key.size(), write);
  from = state;
  for_range(r, s, key.size(), state_size, write);
}

// Removes the entry in slot i: its cell leaves the index, its chunks go back
// to the pool, and the partition's last slot moves into i.
void erase_at(const PartitionRef &r, uint32_t i) {
  const uint32_t count = count_of(r);
  if (i >= count) return;
  const uint32_t c = cell_pointing_at(r, i);
  if (c != kNone) remove_cell(r, c);
  free_chain(r, r.slots[i]);
  const uint32_t last = count - 1;
  if (i != last) {
    const uint32_t moved = cell_pointing_at(r, last);
    std::memcpy(static_cast<void *>(&r.slots[i]), &r.slots[last], sizeof(Slot));
    if (moved != kNone) r.cells[moved] = (r.cells[moved] & 0xFF00'0000u) | (i + 1);
  }
  r.slots[last].flags = 0;
  r.slots[last].usage = 0;
  r.part->count.store(last, std::memory_order_relaxed);
}

// Counts an eviction of an entry of (db, rel) in o, unless that would make
// more than kMaxEvictedRelations relations to report.
bool note_eviction(uint32_t db, uint32_t rel, MergeOutcome *o) {
  uint32_t k = 0;
  while (k < o->evicted_relation_count &&
         (o->evicted_relations[k].db != db || o->evicted_relations[k].rel != rel)) {
    ++k;
  }
  if (k == o->evicted_relation_count) {
    if (k == kMaxEvictedRelations) return false;
    o->evicted_relations[k] = EvictedRelation{db, rel};
    ++o->evicted_relation_count;
  }
  ++o->evicted;
  return true;
}

// CLOCK: evicts one entry (with chunks_only, one that owns chunks). At most
// two passes over the slots.
bool evict_one(const PartitionRef &r, bool chunks_only, MergeOutcome *o) {
  uint32_t &hand = chunks_only ? r.part->chunk_hand : r.part->hand;
  const uint32_t count = count_of(r);
  for (uint32_t steps = 0; steps < 2 * count; ++steps) {
    const uint32_t h = hand < count ? hand : 0;
    hand = next_index(h, count);
    const Slot &s = r.slots[h];
    if (chunks_only && (s.flags & kChunked) == 0) continue;
    if (load_usage(s)) {
      set_usage(s, 0);
      continue;
    }
    if (!note_eviction(s.db, s.rel, o)) continue;
    erase_at(r, h);
    hand = h;  // the slot that moved into h is examined next
    return true;
  }
  return false;
}

// Evicts entries owning chunks until `chunks` are free.
bool free_up_chunks(const PartitionRef &r, size_t chunks, MergeOutcome *o) {
  while (free_chunks(r) < chunks) {
    if (!evict_one(r, true, o)) return false;
  }
  return true;
}

// Makes room for a new entry needing `chunks` chunks: a slot, then chunks.
bool make_room(const PartitionRef &r, size_t chunks, MergeOutcome *o) {
  if (chunks > r.chunk_count) return false;
  if (count_of(r) >= r.slot_count && !evict_one(r, false, o)) return false;
  return free_up_chunks(r, chunks, o);
}

// A generation for a slot that now holds a new entry: never 0, so that 0 can
// mean "whatever is there" to complete().
uint32_t take_generation(const PartitionRef &r) {
  uint32_t gen = r.part->next_generation++;
  if (gen == 0) gen = r.part->next_generation++;
  return gen;
}

// A new entry in the first free slot (make_room has made room); returns it.
uint32_t create_entry(const PartitionRef &r, uint64_t hash, const LatestKey &key,
                      const uint8_t *state, size_t state_size, bool partial) {
  const uint32_t i = count_of(r);
  Slot &s = r.slots[i];
  s.hash_high = static_cast<uint32_t>(hash >> 32);
  s.db = key.db;
  s.rel = key.rel;
  s.flags = partial ? kPartial : 0;
  write_entry_bytes(r, s, key.key, state, state_size);
  s.generation = take_generation(r);
  s.version = 0;
  s.arrival_us = 0;
  set_usage(s, 1);
  insert_cell(r, hash, i);
  r.part->count.store(i + 1, std::memory_order_relaxed);
  return i;
}

bool copy_entry(const PartitionRef &r, const Slot &s, LatestEntry *out) {
  if ((s.flags & kChunked) == 0) {
    if (size_t{s.key_size} + s.state_size > kSlotPayloadBytes) return false;
    copy_bytes(out->key, s.payload, s.key_size);
    copy_bytes(out->state, s.payload + s.key_size, s.state_size);
  } else if (s.state_size > sizeof out->state ||
             !read_range(r, s, 0, s.key_size, out->key) ||
             !read_range(r, s, s.key_size, s.state_size, out->state)) {
    return false;
  }
  out->db = s.db;
  out->rel = s.rel;
  out->version = s.version;
  out->arrival_us = s.arrival_us;
  out->generation = s.generation;
  out->partial = (s.flags & kPartial) != 0;
  out->key_size = s.key_size;
  out->state_size = s.state_size;
  return true;
}

void fill_outcome(const Slot &s, MergeOutcome *o) {
  o->stored = true;
  o->version = s.version;
  o->generation = s.generation;
  o->partial = (s.flags & kPartial) != 0;
}

LatestTableLayout normalize(const LatestTableLayout &in) {
  LatestTableLayout l = in;
  uint32_t p = 1;
  while (p < l.partitions && p < (1u << 16)) p <<= 1;
  l.partitions = p;
  l.slots_per_partition = std::clamp<uint32_t>(l.slots_per_partition, 2, kMaxSlotsPerPartition);
  l.chunks_per_partition = std::clamp<uint32_t>(l.chunks_per_partition, 2, 1u << 26);
  return l;
}

// Index cells for this many slots: a load of at most 4/5, one cell to spare.
uint32_t cells_of(uint32_t slots) { return slots + slots / 4 + 2; }

struct Offsets {
  size_t partitions;
  size_t slots;
  size_t chunks;
  size_t cells;
  size_t cells_stride;
  size_t total;
};

constexpr size_t align64(size_t n) { return (n + 63) & ~size_t{63}; }

Offsets offsets_of(const LatestTableLayout &l) {
  Offsets o;
  o.partitions = align64(sizeof(Header));
  o.slots = o.partitions + size_t{l.partitions} * sizeof(Partition);
  o.chunks = o.slots + size_t{l.partitions} * l.slots_per_partition * sizeof(Slot);
  o.cells = o.chunks + size_t{l.partitions} * l.chunks_per_partition * sizeof(Chunk);
  o.cells_stride = align64(size_t{cells_of(l.slots_per_partition)} * sizeof(uint32_t));
  o.total = o.cells + size_t{l.partitions} * o.cells_stride;
  return o;
}

}  // namespace

// ---- free functions --------------------------------------------------------

uint64_t latest_key_hash(const LatestKey &key) {
  const auto *p = reinterpret_cast<const unsigned char *>(key.key.data());
  const size_t len = key.key.size();
  uint64_t seed = mum(((uint64_t{key.db} << 32) | key.rel) ^ kSecret0, len ^ kSecret1);
  uint64_t a, b;
  if (len <= 16) {
    if (len >= 4) {
      const size_t d = (len >> 3) << 2;
      a = (read32(p) << 32) | read32(p + d);
      b = (read32(p + len - 4) << 32) | read32(p + len - 4 - d);
    } else if (len > 0) {
      a = (uint64_t{p[0]} << 16) | (uint64_t{p[len >> 1]} << 8) | p[len - 1];
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t i = len;
    const unsigned char *q = p;
    while (i > 16) {
      seed = mum(read64(q) ^ kSecret1, read64(q + 8) ^ seed);
      q += 16;
      i -= 16;
    }
    a = read64(q + i - 16);
    b = read64(q + i - 8);
  }
  a ^= kSecret1;
  b ^= seed;
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return mum(static_cast<uint64_t>(r) ^ kSecret2 ^ len, static_cast<uint64_t>(r >> 64) ^ kSecret3);
}

LatestTableLayout plan_latest_table(size_t max_keys, uint32_t partitions) {
  LatestTableLayout l{partitions, 0, 0};
  l = normalize(l);
  const size_t per = (max_keys + l.partitions - 1) / l.partitions;
  const uint32_t slots = static_cast<uint32_t>(std::min<size_t>(per, kMaxSlotsPerPartition));
  // One chunk per 8 slots (8 bytes per key): conflicted keys with several
  // origins and long keys are the minority. At least enough for the largest
  // entry.
  const uint32_t chunks = std::max<uint32_t>((slots + 7) / 8, kMaxChunksPerEntry);
  l.slots_per_partition = slots;
  l.chunks_per_partition = chunks;
  return normalize(l);
}

size_t latest_table_bytes(const LatestTableLayout &layout) {
  return offsets_of(normalize(layout)).total;
}

// ---- LatestTable -----------------------------------------------------------

LatestTable::LatestTable(void *memory)
    : base_(static_cast<unsigned char *>(memory)), header_(static_cast<Header *>(memory)) {
  layout_ = {header_->partitions, header_->slots_per_partition, header_->chunks_per_partition};
}

LatestTable LatestTable::create(void *memory, const LatestTableLayout &requested) {
  const LatestTableLayout l = normalize(requested);
  const Offsets off = offsets_of(l);
  auto *base = static_cast<unsigned char *>(memory);
  auto *h = new (memory) Header();
  h->magic = 0;
  h->partitions = l.partitions;
  h->slots_per_partition = l.slots_per_partition;
  h->chunks_per_partition = l.chunks_per_partition;
  h->cells_per_partition = cells_of(l.slots_per_partition);
  h->partitions_offset = off.partitions;
  h->slots_offset = off.slots;
  h->chunks_offset = off.chunks;
  h->cells_offset = off.cells;
  h->cells_stride = off.cells_stride;
  h->total_bytes = off.total;
  h->last_version.store(0, std::memory_order_relaxed);
  std::memset(base + off.slots, 0, off.chunks - off.slots);
  std::memset(base + off.cells, 0, off.total - off.cells);
  for (uint32_t p = 0; p < l.partitions; ++p) {
    auto *part = new (base + off.partitions + size_t{p} * sizeof(Partition)) Partition();
    part->count.store(0, std::memory_order_relaxed);
    part->chunks_used.store(0, std::memory_order_relaxed);
    part->hand = 0;
    part->chunk_hand = 0;
    part->next_generation = 1;
    auto *chunks = reinterpret_cast<Chunk *>(base + off.chunks +
                                             size_t{p} * l.chunks_per_partition * sizeof(Chunk));
    for (uint32_t j = 0; j < l.chunks_per_partition; ++j) {
      chunks[j].next = j + 1 < l.chunks_per_partition ? j + 1 : kNone;
    }
    part->free_chunk = 0;
  }
  h->magic = kMagic;
  return LatestTable(memory);
}

LatestTable LatestTable::attach(void *memory) {
  if (memory == nullptr) return LatestTable();
  const auto *h = static_cast<const Header *>(memory);
  if (h->magic != kMagic) return LatestTable();
  return LatestTable(memory);
}

PartitionRef LatestTable::partition_ref(uint32_t partition) const {
  const Header *h = header_;
  PartitionRef r;
  r.part = reinterpret_cast<Partition *>(base_ + h->partitions_offset +
                                         size_t{partition} * sizeof(Partition));
  r.slot_count = h->slots_per_partition;
  r.chunk_count = h->chunks_per_partition;
  r.cell_count = h->cells_per_partition;
  r.slots = reinterpret_cast<Slot *>(base_ + h->slots_offset +
                                     size_t{partition} * r.slot_count * sizeof(Slot));
  r.chunks = reinterpret_cast<Chunk *>(base_ + h->chunks_offset +
                                       size_t{partition} * r.chunk_count * sizeof(Chunk));
  r.cells = reinterpret_cast<uint32_t *>(base_ + h->cells_offset + size_t{partition} * h->cells_stride);
  return r;
}

bool LatestTable::fits(size_t key_size, size_t state_size) const {
  return latest_fits_table(key_size, state_size) &&
         latest_chunks_needed(key_size, state_size) <= layout_.chunks_per_partition;
}

bool LatestTable::find(uint64_t hash, const LatestKey &key, LatestEntry *out) const {
  if (header_ == nullptr || key.key.size() > kMaxLatestKeyBytes) return false;
  const PartitionRef r = partition_ref(partition_of(hash));
  const uint32_t i = find_slot(r, hash, key);
  if (i == kNone) return false;
  const Slot &s = r.slots[i];
  if (!copy_entry(r, s, out)) return false;
  set_usage(s, 1);
  return true;
}

MergeOutcome LatestTable::merge(uint64_t hash, const LatestKey &key, const StateView &incoming,
                                size_t max_candidates, int64_t arrival_us, bool create_partial) {
  return merge_into(hash, key, incoming, max_candidates, arrival_us, create_partial, nullptr);
}

MergeOutcome LatestTable::complete(uint64_t hash, const LatestKey &key, const StateView &loaded,
                                   size_t max_candidates, int64_t arrival_us, uint32_t generation) {
  return merge_into(hash, key, loaded, max_candidates, arrival_us, false, &generation);
}

MergeOutcome LatestTable::merge_into(uint64_t hash, const LatestKey &key, const StateView &incoming,
                                     size_t max_candidates, int64_t arrival_us, bool create_partial,
                                     const uint32_t *complete_generation) {
  MergeOutcome o{};
  if (header_ == nullptr || key.key.size() > kMaxLatestKeyBytes) return o;
  const PartitionRef r = partition_ref(partition_of(hash));
  uint8_t buf[kMaxEncodedStateBytes];
  StateView out;
  uint32_t i = find_slot(r, hash, key);
  if (i != kNone) {
    Slot *s = &r.slots[i];
    uint8_t gathered[kMaxLatestEntryBytes];
    const uint8_t *old_state = state_bytes(r, *s, gathered);
    StateView existing;
    if (old_state == nullptr ||
        decode_state(old_state, s->state_size, &existing) != DecodeStatus::kOk) {
      erase_at(r, i);  // cannot happen unless memory was corrupted: start afresh
      i = kNone;
    } else {
      o.dropped = merge_states(existing, incoming, max_candidates, &out);
      const size_t n = encode_state(out, buf, sizeof buf);
      o.winner_changed = compare_readings(existing.entries[0], out.entries[0]) != 0;
      const bool same_bytes = n == s->state_size && std::memcmp(buf, old_state, n) == 0;
      if (!same_bytes) {
        if (n == 0 || !fits(key.key.size(), n)) {
          erase_at(r, i);  // never leave a stale state behind
          o.stored = false;
          return o;
        }
        const size_t chunks = latest_chunks_needed(key.key.size(), n);
        if (chunks > chunks_of(*s) + free_chunks(r)) {
          // It grows past the free chunks: the entry leaves its slot, room is
          // made, and it comes back as it was but for its bytes.
          const Slot kept = *s;
          erase_at(r, i);
          if (!free_up_chunks(r, chunks, &o)) {
            o.stored = false;
            return o;
          }
          i = create_entry(r, hash, key, buf, n, (kept.flags & kPartial) != 0);
          s = &r.slots[i];
          s->version = kept.version;
          s->arrival_us = kept.arrival_us;
          s->generation = kept.generation;
        } else {
          write_entry_bytes(r, *s, key.key, buf, n);
        }
      }
      if (o.winner_changed) {
        s->version = header_->last_version.fetch_add(1, std::memory_order_relaxed) + 1;
        s->arrival_us = arrival_us;
      }
      if (complete_generation != nullptr && s->generation == *complete_generation) {
        s->flags = static_cast<uint8_t>(s->flags & ~kPartial);
      }
      set_usage(*s, 1);
      fill_outcome(*s, &o);
      return o;
    }
  }

  // A new entry: the incoming state cut to max_candidates.
  const StateView empty;
  o.dropped = merge_states(empty, incoming, max_candidates, &out);
  if (out.count == 0) return o;
  const size_t n = encode_state(out, buf, sizeof buf);
  if (n == 0 || !fits(key.key.size(), n)) return o;
  if (!make_room(r, latest_chunks_needed(key.key.size(), n), &o)) return o;
  i = create_entry(r, hash, key, buf, n, create_partial);
  Slot &s = r.slots[i];
  s.version = header_->last_version.fetch_add(1, std::memory_order_relaxed) + 1;
  s.arrival_us = arrival_us;
  o.created = true;
  o.winner_changed = true;
  fill_outcome(s, &o);
  return o;
}

bool LatestTable::restore(const LatestEntry &entry, MergeOutcome *outcome) {
  MergeOutcome local{};
  MergeOutcome &o = outcome != nullptr ? *outcome : local;
  o = MergeOutcome{};
  if (header_ == nullptr || entry.state_size > kMaxEncodedStateBytes) return false;
  StateView check;
  if (decode_state(entry.state, entry.state_size, &check) != DecodeStatus::kOk) return false;
  if (!fits(entry.key_size, entry.state_size)) return false;
  const LatestKey key{entry.db, entry.rel, entry.key_bytes()};
  const uint64_t hash = latest_key_hash(key);
  const PartitionRef r = partition_ref(partition_of(hash));
  // An existing entry is replaced, not merged: it goes, and the new one has a
  // new generation, so a load that read the old one cannot complete it.
  const uint32_t existing = find_slot(r, hash, key);
  if (existing != kNone) erase_at(r, existing);
  if (!make_room(r, latest_chunks_needed(entry.key_size, entry.state_size), &o)) return false;
  const uint32_t i = create_entry(r, hash, key, entry.state, entry.state_size, entry.partial);
  Slot &s = r.slots[i];
  s.version = entry.version;
  s.arrival_us = entry.arrival_us;
  uint64_t last = header_->last_version.load(std::memory_order_relaxed);
  while (last < entry.version && !header_->last_version.compare_exchange_weak(
                                     last, entry.version, std::memory_order_relaxed)) {
  }
  o.created = existing == kNone;
  o.winner_changed = true;
  fill_outcome(s, &o);
  return true;
}

void LatestTable::for_each(uint32_t partition, uint32_t db, uint32_t rel, LatestVisitFn visit,
                           void *context) const {
  if (header_ == nullptr || partition >= layout_.partitions || visit == nullptr) return;
  const PartitionRef r = partition_ref(partition);
  LatestEntry entry;
  const uint32_t count = count_of(r);
  for (uint32_t i = 0; i < count; ++i) {
    const Slot &s = r.slots[i];
    if (rel != 0 && (s.db != db || s.rel != rel)) continue;
    if (!copy_entry(r, s, &entry)) continue;
    visit(entry, context);
  }
}

size_t LatestTable::erase_relation(uint32_t partition, uint32_t db, uint32_t rel) {
  if (header_ == nullptr || partition >= layout_.partitions) return 0;
  const PartitionRef r = partition_ref(partition);
  size_t erased = 0;
  // Erasing moves the last slot into i, which is examined next.
  for (uint32_t i = 0; i < count_of(r);) {
    const Slot &s = r.slots[i];
    if (s.db == db && s.rel == rel) {
      erase_at(r, i);
      ++erased;
    } else {
      ++i;
    }
  }
  return erased;
}

size_t LatestTable::size() const {
  if (header_ == nullptr) return 0;
  size_t total = 0;
  for (uint32_t p = 0; p < layout_.partitions; ++p) {
    total += partition_ref(p).part->count.load(std::memory_order_relaxed);
  }
  return total;
}

size_t LatestTable::chunks_in_use() const {
  if (header_ == nullptr) return 0;
  size_t total = 0;
  for (uint32_t p = 0; p < layout_.partitions; ++p) {
    total += partition_ref(p).part->chunks_used.load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace edgestate::core
