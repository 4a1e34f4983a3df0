// Coalesced per-key invalidations (docs/invalidations.md). At commit a writer
// appends the keys whose latest value changed to a shared-memory ring, each
// with a sequence number, and sets the latch of its database's worker; it
// never calls NOTIFY and never waits. The worker drains the ring, coalesces
// repeated keys per table and region, and sends compact NOTIFY payloads on
// per-region channels. invalidations_since() lets a client catch up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pg.hpp"

namespace edgestate {

inline constexpr const char *kInvalidationSegmentName = "edgestate invalidations";

size_t invalidations_shmem_size();
void invalidations_shmem_init(void *memory, bool found);

// A key whose latest value changed, from a committed transaction. Never
// raises an error.
void invalidation_append(Oid relid, std::string_view region, std::string_view key, bool key_is_text,
                         int64_t commit_us);
// A table whose latest state was reset as a whole (TRUNCATE, purge, DROP, a
// load past edgestate.max_pending_keys), from a committed transaction: clients
// resync. Never raises an error.
void invalidation_append_reset(Oid relid, int64_t commit_us);
// Wakes this database's worker once a commit appended something.
void invalidation_wake();
// Makes sure this database has a worker (called while a writer inserts).
void ensure_invalidation_worker();

}  // namespace edgestate
