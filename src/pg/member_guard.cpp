// The members table trigger: wherever usage or holds of a member grow, its
// access and credit limit are checked here, with the core's one rule. It
// refuses new usage past a limit, never an admin's change of the limit or
// of its period. It also carries every change of a member's usage and holds
// to its budget, and refuses growth past the budget (CR011). The
// charge path checks first (so try_charge can answer with a status); this
// keeps any other path that records usage from bypassing the limit.
#include "core/error.hpp"
#include "core/usage.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/rows.hpp"
#include "pg/spi.hpp"

namespace credits::pg {

namespace {

struct MemberRow {
	int64_t pool_id = 0;
	std::string member;
	MemberUsage usage;
	Timestamp period_start = 0;
	std::optional<std::string> budget;
};

// The row's columns, at the positions the per-backend layout found (0: a
// column the installed release lacks).
MemberRow ReadRow(HeapTuple tuple, TupleDesc desc) {
	const AttrNumber *col = CurrentLayout().members;
	MemberRow row;
	// heap_getattr only reads the tuple: it cannot raise
	auto get = [&](int which, bool *isnull) -> Datum {
		if (col[which] == 0) {
			*isnull = true;
			return Datum(0);
		}
		return heap_getattr(tuple, col[which], desc, isnull);
	};
	bool isnull;
	row.pool_id = DatumGetInt64(get(MemberCol::kPoolId, &isnull));
	row.member = DatumToString(get(MemberCol::kMember, &isnull));
	Datum limit = get(MemberCol::kCreditLimit, &isnull);
	if (!isnull)
		row.usage.limit = DatumGetInt64(limit);
	row.usage.period = ParsePeriod(DatumToString(get(MemberCol::kPeriod, &isnull))).value_or(Period::kMonth);
	row.period_start = DatumGetTimestampTz(get(MemberCol::kPeriodStart, &isnull));
	row.usage.used = DatumGetInt64(get(MemberCol::kUsed, &isnull));
	row.usage.held = DatumGetInt64(get(MemberCol::kHeld, &isnull));
	row.usage.revoked = DatumGetBool(get(MemberCol::kRevoked, &isnull));
	// a schema before 0.3 has no budgets
	if (Datum budget = get(MemberCol::kBudget, &isnull); !isnull)
		row.budget = DatumToString(budget);
	return row;
}

Statement pool_key{"SELECT pool FROM credits.pools WHERE pool_id = $1", {INT8OID}};

std::string PoolKey(int64_t pool_id) {
	SpiSession spi(true);
	Datum arg = Int64GetDatum(pool_id);
	std::string key = spi.Run(pool_key, &arg, nullptr) ? spi.Text(0, 1) : std::to_string(pool_id);
	spi.Finish();
	return key;
}

// Adds a member's change of usage ($3) and holds ($4) to its budget, in the
// budget's current period; returns the budget after it.
Statement add_to_budget{"UPDATE credits.budgets"
                        "   SET used = greatest(CASE WHEN period_start = credits._period_start(period, now())"
                        "                            THEN used ELSE 0 END + $3, 0),"
                        "       held = greatest(held + $4, 0),"
                        "       period_start = credits._period_start(period, now())"
                        " WHERE pool_id = $1 AND budget = $2"
                        " RETURNING used, held, credit_limit, period::text",
                        {INT8OID, TEXTOID, INT8OID, INT8OID}};
enum BudgetColumn { kBudgetUsed = 1, kBudgetHeld, kBudgetLimit, kBudgetPeriod };

// Carries the change to the budget; CR011 when it grows past its limit.
void AddToBudget(const MemberRow &row, Micros used, Micros held) {
	SpiSession spi(false);
	Datum args[] = {Int64GetDatum(row.pool_id), StringToText(*row.budget), Int64GetDatum(used), Int64GetDatum(held)};
	if (spi.Run(add_to_budget, args, nullptr) == 0) {
		spi.Finish();
		return;
	}
	BudgetUsage after;
	after.name = *row.budget;
	after.used = spi.Int64(0, kBudgetUsed);
	after.held = spi.Int64(0, kBudgetHeld);
	if (!spi.IsNull(0, kBudgetLimit))
		after.limit = spi.Int64(0, kBudgetLimit);
	after.period = ParsePeriod(spi.Text(0, kBudgetPeriod)).value_or(Period::kMonth);
	spi.Finish();
	const Micros grown = used + held;
	if (grown <= 0 || !after.limit || after.used + after.held <= *after.limit)
		return;
	BudgetUsage before = after;
	before.used -= used;
	before.held -= held;
	throw BudgetError(PoolKey(row.pool_id), row.member, before, grown);
}

} // namespace

CREDITS_FUNCTION(credits_member_usage_guard) {
	if (!CALLED_AS_TRIGGER(fcinfo))
		throw Error("39P01", "credits._member_usage_guard() must be called as a trigger");
	TriggerData *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
	if (RelationGetRelid(trigger->tg_relation) != CurrentLayout().tables[static_cast<int>(Table::kMembers)])
		throw Error("39P01", "credits._member_usage_guard() must be a trigger on credits.members");
	TupleDesc desc = trigger->tg_relation->rd_att;
	const bool update = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event);
	HeapTuple new_tuple = update ? trigger->tg_newtuple : trigger->tg_trigtuple;
	MemberRow after = ReadRow(new_tuple, desc);

	// The usage the row held before, in the period the new row is in.
	MemberUsage before = after.usage;
	before.used = 0;
	before.held = 0;
	std::optional<std::string> old_budget;
	if (update) {
		MemberRow old = ReadRow(trigger->tg_trigtuple, desc);
		old_budget = old.budget;
		// A change of the period (set_member_limit) recounts the usage the
		// ledger shows for the new one: nothing is spent by it. An admin may
		// set any limit and period; the member then cannot spend until the
		// period turns, and every later spend is checked here.
		if (old.usage.period != after.usage.period)
			return PointerGetDatum(new_tuple);
		before.used = old.period_start == after.period_start ? old.usage.used : 0;
		before.held = old.usage.held;
	}
	const Micros grown = (after.usage.used + after.usage.held) - (before.used + before.held);
	Status status = CheckUsage(before, grown);
	if (status != Status::kSucceeded)
		throw UsageError(status, PoolKey(after.pool_id), after.member, before, grown);
	// the budget follows the member's usage; a move between budgets
	// (assign_budget) carries its holds itself
	if (update && after.budget && after.budget == old_budget) {
		const Micros used = after.usage.used - before.used, held = after.usage.held - before.held;
		if (used != 0 || held != 0)
			AddToBudget(after, used, held);
	}
	return PointerGetDatum(new_tuple);
}

} // namespace credits::pg
