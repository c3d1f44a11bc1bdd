// Library entry: the magic block and module initialisation.
#include "pg/maintenance.hpp"
#include "pg/pool_state.hpp"
#include "pg/postgres.hpp"

extern "C" {
#include "utils/guc.h"
}

extern "C" {
PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
void _PG_init(void) {
	credits::pg::DefineMaintenanceSettings();
	MarkGUCPrefixReserved("credits");
	credits::pg::InitSchemaCache();
}
}
