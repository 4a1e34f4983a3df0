#include "core/latest_table.h"

#include <cstring>
#include <new>

#include "core/merge.h"

namespace edgestate::core {
namespace latest_detail {

constexpr uint64_t kMagic = 0x314C'5441'4C45'4445ull;  // "EDGELAT1" little-endian
constexpr uint32_t kNone = 0xFFFF'FFFFu;

// SmallSlot::flags
constexpr uint8_t kUsed = 1;
constexpr uint8_t kPartial = 2;
constexpr uint8_t kLarge = 4;  // payload = [u32 large index][key if short]

struct Header {
  uint64_t magic;
  uint32_t partitions;
  uint32_t small_per_partition;
  uint32_t large_per_partition;
  uint32_t max_entries;  // per partition, < small_per_partition
  uint64_t partitions_offset;
  uint64_t small_offset;
  uint64_t large_offset;
  uint64_t tags_offset;
  uint64_t tags_per_partition;  // small_per_partition rounded up to 64
  uint64_t total_bytes;
  // The last version handed out (versions start at 1).
  alignas(64) std::atomic<uint64_t> last_version;
};

// One per partition, on its own cache line. The plain fields change only
// under the partition's exclusive lock; the atomics are also read by size().
struct alignas(64) Partition {
  std::atomic<uint32_t> count;
  std::atomic<uint32_t> large_used;
  uint32_t small_hand;
  uint32_t large_hand;
  uint32_t free_large;  // head of the free list of large slots, or kNone
  uint32_t next_generation;
};

// Exactly kSmallSlotBytes, metadata included.
struct SmallSlot {
  uint64_t hash;
  uint64_t version;
  int64_t arrival_us;
  uint32_t db;
  uint32_t rel;
  uint32_t generation;
  uint16_t state_size;
  uint8_t key_size;
  uint8_t flags;  // 0 = empty
  uint8_t usage;  // CLOCK bit; accessed with relaxed __atomic builtins
  uint8_t payload[kSmallPayloadBytes];
};
static_assert(sizeof(SmallSlot) == kSmallSlotBytes, "small slot must be 128 bytes");
static_assert(offsetof(SmallSlot, payload) + kSmallPayloadBytes == kSmallSlotBytes);
static_assert(alignof(SmallSlot) == 8);

// Free: owner == kNone and payload[0..4) holds the next free index.
struct LargeSlot {
  uint32_t owner;  // index of the small slot that uses it, or kNone
  uint8_t payload[kLargePayloadBytes];
};
static_assert(sizeof(LargeSlot) == kLargeSlotBytes, "large slot must be 1024 bytes");

static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared memory needs lock-free atomics");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared memory needs lock-free atomics");

struct PartitionRef {
  Partition *part;
  SmallSlot *small;
  LargeSlot *large;
  // One byte per small slot: 0 = empty, else a 7-bit hash fingerprint | 0x80.
  // Probing scans these (64 slots per cache line) and reads a slot only on a
  // fingerprint match, so long probe sequences at a load of 7/8 stay cheap.
  uint8_t *tags;
  uint32_t small_count;
  uint32_t large_count;
  uint32_t max_entries;
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

inline uint8_t load_usage(const SmallSlot &s) {
  return __atomic_load_n(&s.usage, __ATOMIC_RELAXED);
}

inline void set_usage(const SmallSlot &s, uint8_t value) {
  // find() holds only a shared lock: a relaxed byte store, skipped when the
  // bit already has the value, so hot entries do not bounce cache lines.
  auto *usage = const_cast<uint8_t *>(&s.usage);
  if (__atomic_load_n(usage, __ATOMIC_RELAXED) != value) {
    __atomic_store_n(usage, value, __ATOMIC_RELAXED);
  }
}

inline uint32_t home_of(uint64_t hash, uint32_t n) {
  return static_cast<uint32_t>(((hash >> 32) * static_cast<uint64_t>(n)) >> 32);
}

// Bits 16..22 of the hash: partition_of uses the low bits (at most 16),
// home_of the high 32.
inline uint8_t tag_of(uint64_t hash) { return static_cast<uint8_t>(0x80 | ((hash >> 16) & 0x7F)); }

inline uint32_t next_index(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }

inline uint32_t large_index_of(const SmallSlot &s) {
  uint32_t idx;
  std::memcpy(&idx, s.payload, 4);
  return idx;
}

// Where a used slot's key and state bytes are. ok is false when the slot is
// inconsistent (it never is unless memory was corrupted): callers then treat
// it as not matching, and never read outside the block.
struct Resolved {
  bool ok;
  const uint8_t *key;
  const uint8_t *state;
  size_t state_size;
};

inline Resolved resolve(const PartitionRef &r, const SmallSlot &s) {
  if ((s.flags & kLarge) == 0) {
    if (s.key_size + static_cast<size_t>(s.state_size) > kSmallPayloadBytes) {
      return {false, nullptr, nullptr, 0};
    }
    return {true, s.payload, s.payload + s.key_size, s.state_size};
  }
  const uint32_t idx = large_index_of(s);
  if (idx >= r.large_count) return {false, nullptr, nullptr, 0};
  const LargeSlot &l = r.large[idx];
  if (s.key_size <= kSmallInlineKeyWithLargeBytes) {
    if (s.state_size > kLargePayloadBytes) return {false, nullptr, nullptr, 0};
    return {true, s.payload + 4, l.payload, s.state_size};
  }
  if (s.key_size + static_cast<size_t>(s.state_size) > kLargePayloadBytes) {
    return {false, nullptr, nullptr, 0};
  }
  return {true, l.payload, l.payload + s.key_size, s.state_size};
}

inline bool key_matches(const PartitionRef &r, const SmallSlot &s, uint64_t hash,
                        const LatestKey &key) {
  if (s.hash != hash || s.db != key.db || s.rel != key.rel || s.key_size != key.key.size()) {
    return false;
  }
  const Resolved res = resolve(r, s);
  return res.ok && (key.key.empty() || std::memcmp(res.key, key.key.data(), key.key.size()) == 0);
}

uint32_t find_index(const PartitionRef &r, uint64_t hash, const LatestKey &key) {
  const uint8_t tag = tag_of(hash);
  uint32_t i = home_of(hash, r.small_count);
  for (uint32_t n = 0; n < r.small_count; ++n) {
    const uint8_t t = r.tags[i];
    if (t == 0) return kNone;
    if (t == tag && key_matches(r, r.small[i], hash, key)) return i;
    i = next_index(i, r.small_count);
  }
  return kNone;
}

uint32_t alloc_large(const PartitionRef &r, uint32_t owner) {
  const uint32_t idx = r.part->free_large;
  if (idx == kNone || idx >= r.large_count) return kNone;
  LargeSlot &l = r.large[idx];
  uint32_t next;
  std::memcpy(&next, l.payload, 4);
  r.part->free_large = next;
  l.owner = owner;
  r.part->large_used.fetch_add(1, std::memory_order_relaxed);
  return idx;
}

void free_large(const PartitionRef &r, uint32_t idx) {
  if (idx >= r.large_count) return;
  LargeSlot &l = r.large[idx];
  l.owner = kNone;
  std::memcpy(l.payload, &r.part->free_large, 4);
  r.part->free_large = idx;
  r.part->large_used.fetch_sub(1, std::memory_order_relaxed);
}

// Removes the entry in slot i: frees its large slot, then backward-shift
// deletion keeps every other entry reachable from its home slot.
void erase_at(const PartitionRef &r, uint32_t i) {
  SmallSlot *small = r.small;
  if (small[i].flags & kLarge) free_large(r, large_index_of(small[i]));
  r.part->count.fetch_sub(1, std::memory_order_relaxed);
  const uint32_t n = r.small_count;
  uint32_t hole = i;
  uint32_t j = i;
  for (uint32_t steps = 1; steps < n; ++steps) {
    j = next_index(j, n);
    if (r.tags[j] == 0) break;
    SmallSlot &sj = small[j];
    const uint32_t k = home_of(sj.hash, n);
    // The entry at j may fill the hole only if its home is not cyclically
    // within (hole, j].
    const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (stays) continue;
    std::memcpy(static_cast<void *>(&small[hole]), &sj, sizeof(SmallSlot));
    r.tags[hole] = r.tags[j];
    if (sj.flags & kLarge) {
      const uint32_t idx = large_index_of(sj);
      if (idx < r.large_count) r.large[idx].owner = hole;
    }
    hole = j;
  }
  small[hole].flags = 0;
  small[hole].usage = 0;
  r.tags[hole] = 0;
}

void record_eviction(const SmallSlot &s, MergeOutcome *o) {
  o->evicted = true;
  o->evicted_db = s.db;
  o->evicted_rel = s.rel;
}

// CLOCK over the small slots: evicts one entry. At most two passes.
bool evict_small(const PartitionRef &r, MergeOutcome *o) {
  const uint32_t n = r.small_count;
  for (uint32_t steps = 0; steps < 2 * n; ++steps) {
    const uint32_t h = r.part->small_hand < n ? r.part->small_hand : 0;
    r.part->small_hand = next_index(h, n);
    SmallSlot &s = r.small[h];
    if (s.flags == 0) continue;
    if (load_usage(s)) {
      set_usage(s, 0);
      continue;
    }
    record_eviction(s, o);
    erase_at(r, h);
    return true;
  }
  return false;
}

// CLOCK over the large slots (the entries owning them): evicts one entry,
// freeing one large slot and one small slot. At most two passes.
bool evict_large(const PartitionRef &r, MergeOutcome *o) {
  const uint32_t n = r.large_count;
  for (uint32_t steps = 0; steps < 2 * n; ++steps) {
    const uint32_t h = r.part->large_hand < n ? r.part->large_hand : 0;
    r.part->large_hand = next_index(h, n);
    const uint32_t owner = r.large[h].owner;
    if (owner >= r.small_count) continue;
    SmallSlot &s = r.small[owner];
    if (load_usage(s)) {
      set_usage(s, 0);
      continue;
    }
    record_eviction(s, o);
    erase_at(r, owner);
    return true;
  }
  return false;
}

// Writes key and state into slot i (whose key_size and flags other than
// kLarge are already set), moving the payload between the small slot and a
// large slot as the size requires. The caller has made sure a large slot is
// free when the entry needs one and has none. False if none could be had.
bool write_payload(const PartitionRef &r, uint32_t i, std::string_view key, const uint8_t *state,
                   size_t state_size) {
  SmallSlot &s = r.small[i];
  const size_t key_size = key.size();
  if (latest_fits_small_slot(key_size, state_size)) {
    if (s.flags & kLarge) {
      free_large(r, large_index_of(s));
      s.flags = static_cast<uint8_t>(s.flags & ~kLarge);
    }
    copy_bytes(s.payload, key.data(), key_size);
    copy_bytes(s.payload + key_size, state, state_size);
    s.state_size = static_cast<uint16_t>(state_size);
    return true;
  }
  uint32_t idx;
  if (s.flags & kLarge) {
    idx = large_index_of(s);
    if (idx >= r.large_count) return false;
  } else {
    idx = alloc_large(r, i);
    if (idx == kNone) return false;
    std::memcpy(s.payload, &idx, 4);
    s.flags = static_cast<uint8_t>(s.flags | kLarge);
  }
  LargeSlot &l = r.large[idx];
  if (key_size <= kSmallInlineKeyWithLargeBytes) {
    copy_bytes(s.payload + 4, key.data(), key_size);
    copy_bytes(l.payload, state, state_size);
  } else {
    copy_bytes(l.payload, key.data(), key_size);
    copy_bytes(l.payload + key_size, state, state_size);
  }
  s.state_size = static_cast<uint16_t>(state_size);
  return true;
}

// Makes room for a new entry of this size (evicting at most one entry) and
// returns the empty slot to put it in, or kNone.
uint32_t make_room(const PartitionRef &r, uint64_t hash, size_t key_size, size_t state_size,
                   MergeOutcome *o) {
  const bool large = !latest_fits_small_slot(key_size, state_size);
  if (large && r.part->free_large == kNone) {
    if (!evict_large(r, o)) return kNone;  // also frees a small slot
  } else if (r.part->count.load(std::memory_order_relaxed) >= r.max_entries) {
    if (!evict_small(r, o)) return kNone;
  }
  if (r.part->count.load(std::memory_order_relaxed) >= r.max_entries) return kNone;
  uint32_t i = home_of(hash, r.small_count);
  for (uint32_t n = 0; n < r.small_count; ++n) {
    if (r.tags[i] == 0) return i;
    i = next_index(i, r.small_count);
  }
  return kNone;
}

// A generation for a slot that now holds a new entry: never 0, so that 0 can
// mean "whatever is there" to complete().
uint32_t take_generation(const PartitionRef &r) {
  uint32_t gen = r.part->next_generation++;
  if (gen == 0) gen = r.part->next_generation++;
  return gen;
}

// A new entry in empty slot i.
bool create_entry(const PartitionRef &r, uint32_t i, uint64_t hash, const LatestKey &key,
                  const uint8_t *state, size_t state_size, bool partial) {
  SmallSlot &s = r.small[i];
  s.hash = hash;
  s.db = key.db;
  s.rel = key.rel;
  s.key_size = static_cast<uint8_t>(key.key.size());
  s.flags = static_cast<uint8_t>(kUsed | (partial ? kPartial : 0));
  if (!write_payload(r, i, key.key, state, state_size)) {
    s.flags = 0;
    return false;
  }
  s.generation = take_generation(r);
  s.version = 0;
  s.arrival_us = 0;
  set_usage(s, 1);
  r.tags[i] = tag_of(hash);
  r.part->count.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void copy_entry(const PartitionRef &r, const SmallSlot &s, const Resolved &res, LatestEntry *out) {
  out->db = s.db;
  out->rel = s.rel;
  out->version = s.version;
  out->arrival_us = s.arrival_us;
  out->generation = s.generation;
  out->partial = (s.flags & kPartial) != 0;
  out->key_size = s.key_size;
  copy_bytes(out->key, res.key, s.key_size);
  out->state_size = static_cast<uint16_t>(res.state_size);
  copy_bytes(out->state, res.state, res.state_size);
  (void)r;
}

void fill_outcome(const SmallSlot &s, MergeOutcome *o) {
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
  if (l.small_slots_per_partition < 2) l.small_slots_per_partition = 2;
  if (l.small_slots_per_partition > (1u << 30)) l.small_slots_per_partition = 1u << 30;
  if (l.large_slots_per_partition < 2) l.large_slots_per_partition = 2;
  if (l.large_slots_per_partition > (1u << 27)) l.large_slots_per_partition = 1u << 27;
  return l;
}

uint32_t max_entries_of(uint32_t small) {
  uint32_t m = small - small / 8;
  if (m > small - 1) m = small - 1;
  return m;
}

struct Offsets {
  size_t partitions;
  size_t small;
  size_t large;
  size_t tags;
  size_t tags_per_partition;
  size_t total;
};

constexpr size_t align64(size_t n) { return (n + 63) & ~size_t{63}; }

Offsets offsets_of(const LatestTableLayout &l) {
  Offsets o;
  o.partitions = align64(sizeof(Header));
  o.small = o.partitions + size_t{l.partitions} * sizeof(Partition);
  o.large = o.small + size_t{l.partitions} * l.small_slots_per_partition * sizeof(SmallSlot);
  o.tags = o.large + size_t{l.partitions} * l.large_slots_per_partition * sizeof(LargeSlot);
  o.tags_per_partition = align64(l.small_slots_per_partition);
  o.total = o.tags + size_t{l.partitions} * o.tags_per_partition;
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
  size_t small = (per * 8 + 6) / 7;
  if (small < per + 1) small = per + 1;
  if (small < 2) small = 2;
  if (small > (1u << 30)) small = 1u << 30;
  // One large slot per 32 small ones: conflicted keys with several origins
  // are the minority, and the reserve stays near 36 bytes per key.
  size_t large = (small + 31) / 32;
  if (large < 2) large = 2;
  l.small_slots_per_partition = static_cast<uint32_t>(small);
  l.large_slots_per_partition = static_cast<uint32_t>(large);
  return normalize(l);
}

size_t latest_table_bytes(const LatestTableLayout &layout) {
  return offsets_of(normalize(layout)).total;
}

// ---- LatestTable -----------------------------------------------------------

LatestTable::LatestTable(void *memory)
    : base_(static_cast<unsigned char *>(memory)), header_(static_cast<Header *>(memory)) {
  layout_ = {header_->partitions, header_->small_per_partition, header_->large_per_partition};
}

LatestTable LatestTable::create(void *memory, const LatestTableLayout &requested) {
  const LatestTableLayout l = normalize(requested);
  const Offsets off = offsets_of(l);
  auto *base = static_cast<unsigned char *>(memory);
  auto *h = new (memory) Header();
  h->magic = 0;
  h->partitions = l.partitions;
  h->small_per_partition = l.small_slots_per_partition;
  h->large_per_partition = l.large_slots_per_partition;
  h->max_entries = max_entries_of(l.small_slots_per_partition);
  h->partitions_offset = off.partitions;
  h->small_offset = off.small;
  h->large_offset = off.large;
  h->tags_offset = off.tags;
  h->tags_per_partition = off.tags_per_partition;
  h->total_bytes = off.total;
  h->last_version.store(0, std::memory_order_relaxed);
  std::memset(base + off.small, 0, off.large - off.small);
  std::memset(base + off.tags, 0, off.total - off.tags);
  for (uint32_t p = 0; p < l.partitions; ++p) {
    auto *part = new (base + off.partitions + size_t{p} * sizeof(Partition)) Partition();
    part->count.store(0, std::memory_order_relaxed);
    part->large_used.store(0, std::memory_order_relaxed);
    part->small_hand = 0;
    part->large_hand = 0;
    part->next_generation = 1;
    auto *large = reinterpret_cast<LargeSlot *>(
        base + off.large + size_t{p} * l.large_slots_per_partition * sizeof(LargeSlot));
    for (uint32_t j = 0; j < l.large_slots_per_partition; ++j) {
      large[j].owner = kNone;
      const uint32_t next = j + 1 < l.large_slots_per_partition ? j + 1 : kNone;
      std::memcpy(large[j].payload, &next, 4);
    }
    part->free_large = 0;
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
  r.small_count = h->small_per_partition;
  r.large_count = h->large_per_partition;
  r.max_entries = h->max_entries;
  r.small = reinterpret_cast<SmallSlot *>(base_ + h->small_offset +
                                          size_t{partition} * r.small_count * sizeof(SmallSlot));
  r.large = reinterpret_cast<LargeSlot *>(base_ + h->large_offset +
                                          size_t{partition} * r.large_count * sizeof(LargeSlot));
  r.tags = base_ + h->tags_offset + size_t{partition} * h->tags_per_partition;
  return r;
}

bool LatestTable::find(uint64_t hash, const LatestKey &key, LatestEntry *out) const {
  if (header_ == nullptr || key.key.size() > kMaxLatestKeyBytes) return false;
  const PartitionRef r = partition_ref(partition_of(hash));
  const uint32_t i = find_index(r, hash, key);
  if (i == kNone) return false;
  const SmallSlot &s = r.small[i];
  copy_entry(r, s, resolve(r, s), out);
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
  uint32_t i = find_index(r, hash, key);
  if (i != kNone) {
    SmallSlot *s = &r.small[i];
    const Resolved res = resolve(r, *s);
    StateView existing;
    if (decode_state(res.state, res.state_size, &existing) != DecodeStatus::kOk) {
      erase_at(r, i);  // cannot happen unless memory was corrupted: start afresh
      i = kNone;
    } else {
      o.dropped = merge_states(existing, incoming, max_candidates, &out);
      const size_t n = encode_state(out, buf, sizeof buf);
      o.winner_changed = compare_readings(existing.entries[0], out.entries[0]) != 0;
      const bool same_bytes = n == res.state_size && std::memcmp(buf, res.state, n) == 0;
      if (!same_bytes) {
        if (n == 0 || !latest_fits_table(key.key.size(), n)) {
          erase_at(r, i);  // never leave a stale state behind
          o.stored = false;
          return o;
        }
        if (!latest_fits_small_slot(key.key.size(), n) && (s->flags & kLarge) == 0 &&
            r.part->free_large == kNone) {
          if (!evict_large(r, &o)) {
            erase_at(r, i);
            o.stored = false;
            return o;
          }
          i = find_index(r, hash, key);  // the deletion may have shifted it
          if (i == kNone) return o;      // cannot happen: it owned no large slot
          s = &r.small[i];
        }
        if (!write_payload(r, i, key.key, buf, n)) {
          erase_at(r, i);
          o.stored = false;
          return o;
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
  if (n == 0 || !latest_fits_table(key.key.size(), n)) return o;
  i = make_room(r, hash, key.key.size(), n, &o);
  if (i == kNone) return o;
  if (!create_entry(r, i, hash, key, buf, n, create_partial)) return o;
  SmallSlot &s = r.small[i];
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
  if (!latest_fits_table(entry.key_size, entry.state_size)) return false;
  const LatestKey key{entry.db, entry.rel, entry.key_bytes()};
  const uint64_t hash = latest_key_hash(key);
  const PartitionRef r = partition_ref(partition_of(hash));
  uint32_t i = find_index(r, hash, key);
  if (i != kNone) {
    if (!latest_fits_small_slot(entry.key_size, entry.state_size) &&
        (r.small[i].flags & kLarge) == 0 && r.part->free_large == kNone) {
      if (!evict_large(r, &o)) return false;
      i = find_index(r, hash, key);
      if (i == kNone) return false;
    }
    if (!write_payload(r, i, key.key, entry.state, entry.state_size)) {
      erase_at(r, i);
      return false;
    }
    // The entry's state was replaced, not merged: a load that read the old
    // generation must not complete it.
    r.small[i].generation = take_generation(r);
  } else {
    i = make_room(r, hash, entry.key_size, entry.state_size, &o);
    if (i == kNone) return false;
    if (!create_entry(r, i, hash, key, entry.state, entry.state_size, entry.partial)) {
      return false;
    }
    o.created = true;
  }
  SmallSlot &s = r.small[i];
  s.version = entry.version;
  s.arrival_us = entry.arrival_us;
  s.flags = static_cast<uint8_t>((s.flags & ~kPartial) | (entry.partial ? kPartial : 0));
  set_usage(s, 1);
  uint64_t last = header_->last_version.load(std::memory_order_relaxed);
  while (last < entry.version && !header_->last_version.compare_exchange_weak(
                                     last, entry.version, std::memory_order_relaxed)) {
  }
  o.winner_changed = true;
  fill_outcome(s, &o);
  return true;
}

void LatestTable::for_each(uint32_t partition, uint32_t db, uint32_t rel, LatestVisitFn visit,
                           void *context) const {
  if (header_ == nullptr || partition >= layout_.partitions || visit == nullptr) return;
  const PartitionRef r = partition_ref(partition);
  LatestEntry entry;
  for (uint32_t i = 0; i < r.small_count; ++i) {
    const SmallSlot &s = r.small[i];
    if (s.flags == 0) continue;
    if (rel != 0 && (s.db != db || s.rel != rel)) continue;
    const Resolved res = resolve(r, s);
    if (!res.ok) continue;
    copy_entry(r, s, res, &entry);
    visit(entry, context);
  }
}

size_t LatestTable::erase_relation(uint32_t partition, uint32_t db, uint32_t rel) {
  if (header_ == nullptr || partition >= layout_.partitions) return 0;
  const PartitionRef r = partition_ref(partition);
  size_t erased = 0;
  // Backward shift moves entries from later slots into i (re-examined) or,
  // after wrapping, from already-examined slots: nothing is skipped.
  for (uint32_t i = 0; i < r.small_count;) {
    const SmallSlot &s = r.small[i];
    if (s.flags != 0 && s.db == db && s.rel == rel) {
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

size_t LatestTable::large_slots_in_use() const {
  if (header_ == nullptr) return 0;
  size_t total = 0;
  for (uint32_t p = 0; p < layout_.partitions; ++p) {
    total += partition_ref(p).part->large_used.load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace edgestate::core
