// Library entry: registers the configuration parameters and, when preloaded,
// the shared-memory requests.
#include "gucs.hpp"
#include "pg.hpp"
#include "shmem.hpp"

extern "C" {
PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

void _PG_init(void) {
  edgestate::define_gucs();
  if (process_shared_preload_libraries_in_progress) edgestate::install_shmem_hooks();
}
}
