// Locking a pool and loading what a spend (a charge or a hold) decides on:
// the member's usage and the pool's live grants, in the statement that takes
// the lock; the feature's frequency cap; and the decision itself, shared by
// charge.cpp and hold.cpp.
#pragma once
#include "core/deduction.hpp"
#include "core/error.hpp"
#include "core/usage.hpp"
#include "pg/postgres.hpp"
#include "pg/rows.hpp"
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

struct Member {
	MemberUsage usage;
	Timestamp period_start = 0;        // of the current period
	bool stored_period_current = true; // the row's usage counts this period
	bool known = false;                // the pool has enrolled it
	std::optional<std::string> budget; // the budget it counts against
};

// A member's row as stored.
struct MemberColumns {
	std::optional<Micros> credit_limit;
	std::string period;
	Timestamp period_start = 0;
	Micros used = 0;
	Micros held = 0;
	bool revoked = false;
	std::optional<std::string> budget;
};
// The member as a spend at `now` sees it (nullopt: not enrolled yet).
Member MakeMember(const std::optional<MemberColumns> &row, Timestamp now);

// A pool as a spend (or balance()) sees it.
struct PoolState {
	int64_t pool_id = 0;
	std::optional<Timestamp> next_hold_expiry;
	bool has_caps = false;
	Member member;
	ItemPointerData member_row{}; // where the member's row is, when known
	std::vector<Lot> lots;        // every lot the pool can spend now; `usable` by the spend
	std::vector<ItemPointerData> lot_rows; // where each lot's grant row is
};

// The pool as a write locked it.
struct LockedPool : PoolState {
	int64_t entry_id = 0; // a fresh ledger entry id for the call's head entry
};

// Locks the pool row (the one lock order of every write: an update of its
// version, which every write to the pool's rows makes first) and reads the
// member and the live lots as they are once the lock is held; a reserve
// passes its hold's expiry, which lowers the pool's next hold expiry in the
// same write. CR004 when the pool is unknown. At REPEATABLE READ or
// SERIALIZABLE a pool changed since the transaction's snapshot raises 40001.
LockedPool LockPool(Rows &rows, const SpendRequest &request, Timestamp now, std::optional<Timestamp> hold_expiry);

// Where the grant row of one of the pool's lots is (as read).
ItemPointerData LotRow(const PoolState &pool, int64_t grant_id);

// Reads the member and the live lots of the pool state.pool_id (locked by
// this transaction) as they are now.
void ReadStateOf(Rows &rows, PoolState &state, const std::string &member, Timestamp now);

// Locks the pool with this id as every write does, and lapses its overdue
// holds (the lock of a write that names a hold or a grant by id; *lapsed:
// how many); returns the pool's key.
std::string LockPoolById(Rows &rows, int64_t pool_id, Timestamp now, int *lapsed = nullptr);

// The same state read without a lock, as the statement's snapshot sees it
// (balance()): lots usable by a spend of `member` (empty: a member without
// own grants) for `feature`.
PoolState LoadPool(Rows &rows, const std::string &pool, const std::string &member,
                   const std::optional<std::string> &feature, Timestamp now);

// Lapses the pool's holds past their TTL when one is due, and reads the
// state again. A reserve passes its hold's expiry again: lapsing recomputes
// the pool's next expiry from the pending holds, which do not include the
// new one yet.
void LapseDueHolds(Rows &rows, LockedPool &pool, const SpendRequest &request, Timestamp now,
                   std::optional<Timestamp> hold_expiry);

// Enrols the member when the pool does not know it yet, with `used` in
// the current period and `held` in pending holds.
void EnrollMember(SpiSession &spi, const LockedPool &pool, const std::string &member, Micros used = 0,
                  Micros held = 0);

// A spend decided: the pool's available credits before it, and the grants
// it takes (in deduction order) when it succeeds.
struct Spend {
	Micros pool_available = 0;
	ChargeDecision decision;
	std::vector<Part> parts;
	bool Succeeded() const {
		return decision.status == Status::kSucceeded;
	}
};
Spend DecideSpend(SpiSession &spi, const LockedPool &pool, const SpendRequest &request, Timestamp now);

// The member's columns of a state row from column `first` on (credit_limit,
// period, period_start, used, held, revoked, known), with its usage in the
// current period; and a lot's (grant_id, rank, expires_at, effective_at,
// remaining, usable).
Member ReadMember(SpiSession &spi, uint64_t row, int first, Timestamp now);
Lot ReadLot(SpiSession &spi, uint64_t row, int first);

// The frequency caps on a feature in a pool (member scope first, then by
// window), each with the calls of it in its window: the member's, or all
// members' for a cap of scope pool.
std::vector<FrequencyCap> LoadCaps(SpiSession &spi, int64_t pool_id, const std::string &member,
                                   const std::string &feature, Timestamp now);

// A budget of the pool, with its usage in its current period at `now`.
BudgetUsage LoadBudget(SpiSession &spi, int64_t pool_id, const std::string &budget, Timestamp now);

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
