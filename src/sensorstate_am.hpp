// The sensorstate table access method (sensorstate_am.cpp).
#pragma once

#include "pg.hpp"

namespace edgestate {

// Transaction callbacks and the DROP hook; called from _PG_init.
void install_sensorstate_hooks();

// edgestate.purge() deletes old readings; nothing else may.
void set_purge_in_progress(bool in_progress);

// Drops the relation's latest-index entries when this transaction commits
// (they are reloaded from the table on the next read).
void schedule_reset(Oid relid);

}  // namespace edgestate
