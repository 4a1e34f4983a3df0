// The changes of the current transaction to sensorstate tables: per
// (relation, subtransaction, key) the merge of every reading inserted, kept
// until commit publishes them to the latest index (sensorstate_am.cpp).
//
// An open-addressing table (PostgreSQL's lib/simplehash.h) in
// TopMemoryContext, reused across transactions while small; each change's key
// and encoded state live in TopTransactionContext. Capture runs once per
// inserted row, so the common case of a batch repeating a key with an older
// reading of the same origin costs one hash probe and one scan of the encoded
// state, with no decode, merge or allocation.
#pragma once

#include <string_view>

#include "core/state.h"
#include "pg.hpp"

namespace edgestate {

struct PendingKey {
  Oid relid;
  SubTransactionId subxid;
  uint16 size;
  const char *bytes;  // text, or a bigint in big-endian order
};

struct PendingChange {
  PendingKey key;
  bool key_is_text;
  bytea *state;  // the encoded merged state
  uint32 hash;   // the table's: of the key
  char status;   // the table's: slot in use or empty
};

// The hash of a change's key, which pending_add takes. It also prefetches the
// key's home bucket: a COPY batch adds changes of thousands of keys spread
// over memory that the heap's page writes keep pushing out of the caches, and
// without prefetching every add waits for up to three cache misses (bucket,
// key bytes, state). A batch therefore hashes its rows first, calls
// pending_prefetch for each once its bucket has arrived, and adds them last.
uint32 pending_hash(Oid relid, std::string_view key);

// Prefetches the key bytes and state of the change of this hash, if one is in
// the first buckets from its home (a hint: a miss costs nothing but the look).
void pending_prefetch(uint32 hash);

// Merges a state into the change of (relid, subxid, key), whose pending_hash
// is `hash`. False, changing nothing, when that would be a new change while
// edgestate.max_pending_keys changes are already kept.
bool pending_add(Oid relid, SubTransactionId subxid, std::string_view key, uint32 hash,
                 bool key_is_text, const core::StateView &state);

bool pending_any();

// Calls visit for every change of the top-level transaction, in no
// particular order: at its end, the changes of every committed subtransaction
// have been handed to it, and a change of any other subtransaction is one
// whose commit failed. visit must not add changes.
void pending_visit(void (*visit)(const PendingChange &change, void *arg), void *arg);

// Forgets every change (the transaction ended).
void pending_clear();

// Forgets the changes of a relation (it was truncated or dropped).
void pending_forget_relation(Oid relid);

// A subtransaction is about to commit: everything handing its changes to its
// parent needs is allocated now, where an error still aborts it, so that the
// hand-over at its commit cannot fail part-way.
void pending_prepare_subtransaction_commit(SubTransactionId subxid, SubTransactionId parent);

// A subtransaction ended: on commit its changes merge into its parent's, on
// abort they are forgotten.
void pending_end_subtransaction(SubTransactionId subxid, SubTransactionId parent, bool committed);

// Decodes a change's state; false when it does not decode (memory was
// corrupted).
bool pending_decode(const PendingChange &change, core::StateView *out);

}  // namespace edgestate
