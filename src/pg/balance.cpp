// credits.balance: what a pool, or one member of it, can spend now. Read
// without a lock, from the same live lots a charge would take; the held
// credits of holds past their TTL count as available at once, before any
// write lapses them.
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/pool_state.hpp"
#include "pg/spi.hpp"

#include <algorithm>

namespace credits::pg {

namespace {

// Held parts of lapsed holds (the views count them the same way, from the
// same view): available again at once where their grant is still live.
Statement lapsed_held{"SELECT lp.held, lp.member, (g.member IS NULL OR g.member = $3)"
                      "       AND (g.features IS NULL OR coalesce($4 = ANY (g.features), false)),"
                      "       (g.voided_at IS NULL AND g.expired_at IS NULL AND g.effective_at <= $2"
                      "        AND (g.expires_at IS NULL OR g.expires_at > $2)),"
                      "       (SELECT m.budget FROM credits.members m WHERE m.pool_id = lp.pool_id AND m.member = lp.member)"
                      "  FROM credits._lapsed_hold_parts lp"
                      "  JOIN credits.grants g ON g.pool_id = lp.pool_id AND g.grant_id = lp.grant_id"
                      " WHERE lp.pool_id = $1",
                      {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID}};
// The same for a 0.2 schema, which has no _lapsed_hold_parts.
Statement lapsed_held_0_2{"SELECT hp.held, h.member, (g.member IS NULL OR g.member = $3),"
                          "       (g.voided_at IS NULL AND g.expired_at IS NULL AND g.effective_at <= $2"
                          "        AND (g.expires_at IS NULL OR g.expires_at > $2)), NULL::text"
                          "  FROM credits.holds h"
                          "  JOIN credits.hold_parts hp ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id"
                          "  JOIN credits.grants g ON g.pool_id = hp.pool_id AND g.grant_id = hp.grant_id"
                          " WHERE h.pool_id = $1 AND h.status = 'pending' AND h.expires_at <= $2 AND hp.held > 0",
                          {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID}};
enum OverdueColumn { kOverdueHeld = 1, kOverdueMember, kOverdueUsable, kOverdueLive, kOverdueBudget };

// With a member or a feature: what a charge by that member (or by one
// without limits and own grants) for that feature could take now. With
// neither: the pool's total available.
Micros Balance(const std::string &pool, const std::optional<std::string> &member,
               const std::optional<std::string> &feature) {
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(true);
	const std::string member_key = member.value_or(std::string());
	Rows rows(Access::kRead);
	PoolState state = LoadPool(rows, pool, member_key, feature, now);
	rows.Finish();
	Micros pool_total = TotalRemaining(state.lots, false);
	Micros usable_total = TotalRemaining(state.lots, true);
	Micros member_lapsed = 0, budget_lapsed = 0;
	if (state.next_hold_expiry && *state.next_hold_expiry <= now) {
		Datum args[] = {Int64GetDatum(state.pool_id), TimestampTzGetDatum(now), StringToText(member_key),
		                feature ? StringToText(*feature) : Datum(0)};
		bool nulls[] = {false, false, false, !feature};
		uint64_t n = spi.Run(InstalledSchema() == Schema::k0_3 ? lapsed_held : lapsed_held_0_2, args, nulls);
		for (uint64_t i = 0; i < n; ++i) {
			const Micros held = spi.Int64(i, kOverdueHeld);
			if (member && spi.Text(i, kOverdueMember) == *member)
				member_lapsed += held;
			if (state.member.budget && spi.Text(i, kOverdueBudget) == *state.member.budget)
				budget_lapsed += held;
			if (!spi.Bool(i, kOverdueLive))
				continue; // the grant died meanwhile: this part expires
			pool_total += held;
			if (spi.Bool(i, kOverdueUsable))
				usable_total += held;
		}
	}
	Micros result = pool_total;
	if (feature && !member)
		result = usable_total;
	if (member) {
		MemberUsage usage = state.member.usage;
		usage.held -= member_lapsed;
		result = usage.revoked ? 0 : usable_total;
		if (auto left = RemainingLimit(usage); left && *left < result)
			result = *left;
		// and by what its budget has left
		if (state.member.budget) {
			BudgetUsage budget = LoadBudget(spi, state.pool_id, *state.member.budget, now);
			budget.held = std::max<Micros>(budget.held - budget_lapsed, 0);
			if (auto left = RemainingBudget(budget); left && *left < result)
				result = *left;
		}
	}
	spi.Finish();
	return result;
}

} // namespace

CREDITS_FUNCTION(credits_balance) {
	RequireArg(fcinfo, 0, "pool");
	// a schema before 0.3 declares balance(pool, member): no third argument
	const std::optional<std::string> feature =
	    PG_NARGS() > 2 ? OptionalKeyArg(fcinfo, 2, "feature") : std::optional<std::string>();
	Micros balance = Balance(TextArg(fcinfo, 0), OptionalKeyArg(fcinfo, 1, "member"), feature);
	return MicrosToNumeric(balance);
}

} // namespace credits::pg
