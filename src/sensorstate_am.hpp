// The sensorstate table access method (sensorstate_am.cpp).
#pragma once

#include "pg.hpp"

namespace edgestate {

// Transaction callbacks and the DROP hook; called from _PG_init.
void install_sensorstate_hooks();

// edgestate.purge() deletes old readings; nothing else may.
void set_purge_in_progress(bool in_progress);

// Drops the relation's latest-index entries when this transaction commits
// (they are reloaded from the table on the next read), with the changes this
// transaction made to it so far, which the reload covers.
void schedule_reset(Oid relid);

// The transaction ids of this database's pending prepared transactions (the
// one named gid, or all of them when gid is null), from pg_prepared_xacts, in
// palloc'd memory; *count gets how many. Runs in the caller's SPI connection.
TransactionId *pending_prepared_xids(const char *gid, int *count);

}  // namespace edgestate
