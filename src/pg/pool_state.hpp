// Locking a pool and loading what a spend (a charge or a hold) decides on:
// the member's usage, the pool's live grants, the feature's frequency cap;
// and the decision itself, shared by charge.cpp and hold.cpp.
#pragma once
#include "core/deduction.hpp"
#include "core/error.hpp"
#include "core/usage.hpp"
#include "pg/postgres.hpp"
#include "pg/spi.hpp"

#include <optional>
#include <string>
#include <vector>

namespace credits::pg {

// What every spend names: charge, try_charge, charge_usage and reserve.
struct SpendRequest {
	std::string pool;
	std::string member;
	Micros amount = 0;
	std::optional<std::string> feature;
	std::optional<std::string> idempotency_key;
	Datum metadata = 0; // jsonb, 0 when NULL
};

// The pool row as a write locked it.
struct LockedPool {
	int64_t pool_id = 0;
	int64_t entry_id = 0; // a fresh ledger entry id for the call's head entry
	std::optional<Timestamp> next_hold_expiry;
	bool has_caps = false;
};

// Locks the pool row (the one lock order of every write); a reserve passes
// its hold's expiry, which lowers the pool's next hold expiry in the same
// write. CR004 when the pool is unknown.
LockedPool LockPool(SpiSession &spi, const std::string &pool, std::optional<Timestamp> hold_expiry);

// Lapses the pool's holds past their TTL when one is due. A reserve passes
// its hold's expiry again: lapsing recomputes the pool's next expiry from
// the pending holds, which do not include the new one yet.
void LapseDueHolds(SpiSession &spi, const LockedPool &pool, Timestamp now, std::optional<Timestamp> hold_expiry);

// The pool read without a lock (balance()): its id and next hold expiry.
struct PoolRow {
	int64_t pool_id = 0;
	std::optional<Timestamp> next_hold_expiry;
};
PoolRow FindPool(SpiSession &spi, const std::string &pool);

struct Member {
	MemberUsage usage;
	Timestamp period_start = 0; // of the current period
	bool stored_period_current = true;
};

// The member with its usage in the current period; an unknown member is
// enrolled when `enroll` (a spend), or read as a new one (balance()).
Member LoadMember(SpiSession &spi, int64_t pool_id, const std::string &member, Timestamp now, bool enroll);

// Every lot the pool can spend now; `usable` marks those the member may use.
std::vector<Lot> LoadLots(SpiSession &spi, int64_t pool_id, const std::string &member, Timestamp now);

// A spend decided: the member, the pool's available credits before it, and
// the grants it takes (in deduction order) when it succeeds.
struct Spend {
	Member member;
	Micros pool_available = 0;
	ChargeDecision decision;
	std::vector<Part> parts;
	bool Succeeded() const {
		return decision.status == Status::kSucceeded;
	}
};
Spend DecideSpend(SpiSession &spi, const LockedPool &pool, const SpendRequest &request, Timestamp now);

Error UnknownPool(const std::string &pool);
Error IdempotencyConflict(const std::string &key, const std::string &what, Micros first_amount,
                          const std::string &first_member, const std::optional<std::string> &first_feature);

// The release of the credits schema in this database: the library may be
// newer (updated, ALTER EXTENSION credits UPDATE not yet run), and then uses
// that release's tables. 0.1 has no holds and no caps; 0.2 no
// _lapsed_hold_parts. Looked up once and kept until the next relcache
// invalidation (DDL such as an update sends one).
enum class Schema { k0_1, k0_2, k0_3 };
Schema InstalledSchema();
void InitSchemaCache();

} // namespace credits::pg
