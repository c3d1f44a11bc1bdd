// The maintenance procedures (maintenance.cpp).
#pragma once

namespace credits::pg {

// Defines the setting credits.maintenance_pause (_PG_init).
void DefineMaintenanceSettings();

} // namespace credits::pg
