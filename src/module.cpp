// Library entry: registers the configuration parameters, the sensorstate
// transaction callbacks and, when preloaded, the shared-memory requests.
#include "gucs.hpp"
#include "pg.hpp"
#include "sensorstate_am.hpp"
#include "sensorstate_contract.hpp"
#include "shmem.hpp"

extern "C" {
PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

void _PG_init(void) {
  edgestate::define_gucs();
  edgestate::install_sensorstate_hooks();
  edgestate::register_column_labels();
  if (process_shared_preload_libraries_in_progress) edgestate::install_shmem_hooks();
}
}
