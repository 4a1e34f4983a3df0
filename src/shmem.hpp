// Shared memory, modelled on pg_stat_statements: requested from _PG_init
// through shmem_request_hook when the library is in shared_preload_libraries,
// attached in shmem_startup_hook. Each concern owns one named segment.
#pragma once

namespace edgestate {

// Called from _PG_init while shared_preload_libraries is being processed.
void install_shmem_hooks();

// True once this process is attached to edgestate's shared memory.
bool shmem_ready();

// Refuses a feature that needs shared memory when the library was not
// preloaded: ERROR 55000 with a hint, rather than a crash or a silent fallback.
void require_shmem(const char *feature);

}  // namespace edgestate
