// The members table trigger: wherever usage or holds of a member grow, its
// access and credit limit are checked here, with the core's one rule. It
// refuses new usage past a limit, never an admin's change of the limit or
// of its period. The
// charge path checks first (so try_charge can answer with a status); this
// keeps any other path that records usage from bypassing the limit.
#include "core/error.hpp"
#include "core/usage.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"

namespace credits::pg {

namespace {

struct MemberRow {
	int64_t pool_id = 0;
	std::string member;
	MemberUsage usage;
	Timestamp period_start = 0;
};

MemberRow ReadRow(HeapTuple tuple, TupleDesc desc) {
	MemberRow row;
	auto get = [&](const char *column, bool *isnull) {
		return Guard([&] {
			int attnum = SPI_fnumber(desc, column);
			if (attnum <= 0)
				elog(ERROR, "credits: members has no column %s", column);
			return heap_getattr(tuple, attnum, desc, isnull);
		});
	};
	bool isnull;
	row.pool_id = DatumGetInt64(get("pool_id", &isnull));
	row.member = DatumToString(get("member", &isnull));
	Datum limit = get("credit_limit", &isnull);
	if (!isnull)
		row.usage.limit = DatumGetInt64(limit);
	row.usage.period = ParsePeriod(DatumToString(get("period", &isnull))).value_or(Period::kMonth);
	row.period_start = DatumGetTimestampTz(get("period_start", &isnull));
	row.usage.used = DatumGetInt64(get("used", &isnull));
	row.usage.held = DatumGetInt64(get("held", &isnull));
	row.usage.revoked = DatumGetBool(get("revoked", &isnull));
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

} // namespace

CREDITS_FUNCTION(credits_member_usage_guard) {
	if (!CALLED_AS_TRIGGER(fcinfo))
		throw Error("39P01", "credits._member_usage_guard() must be called as a trigger");
	TriggerData *trigger = reinterpret_cast<TriggerData *>(fcinfo->context);
	TupleDesc desc = trigger->tg_relation->rd_att;
	const bool update = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event);
	HeapTuple new_tuple = update ? trigger->tg_newtuple : trigger->tg_trigtuple;
	MemberRow after = ReadRow(new_tuple, desc);

	// The usage the row held before, in the period the new row is in.
	MemberUsage before = after.usage;
	before.used = 0;
	before.held = 0;
	if (update) {
		MemberRow old = ReadRow(trigger->tg_trigtuple, desc);
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
	return PointerGetDatum(new_tuple);
}

} // namespace credits::pg
