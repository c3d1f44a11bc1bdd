// Settling holds: what a pending hold still holds goes back to its grants
// (a release or a lapse), or is kept as usage (a capture), part by part,
// with direct row access (rows.hpp) under the pool's lock. Holds past their
// TTL are lapsed by the first write on their pool (pool_state.cpp) and by
// expire_holds.
#include "pg/holds_settle.hpp"

#include "core/error.hpp"
#include "core/period.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/ledger_row.hpp"

#include <algorithm>
#include <vector>

namespace credits::pg {

namespace {

struct HeldPart {
	int64_t grant_id;
	Micros held;
	ItemPointerData row;
};

// Finds the single row with these keys in `index` into Slot(table).
bool FindRow(Rows &rows, Table table, Oid index, const ScanKeyValue *keys, int nkeys, Snapshot snapshot) {
	rows.BeginScan(table, index, keys, nkeys, snapshot);
	const bool found = rows.Next();
	rows.EndScan();
	return found;
}

} // namespace

Micros Unhold(Rows &rows, int64_t pool_id, int64_t hold_id, Micros keep, std::optional<int64_t> capture_id,
              const char *status, const char *reason, Timestamp at) {
	const Layout &l = CurrentLayout();
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	rows.Advance(); // earlier writes of this call (the pool's lock, other holds) become visible
	Snapshot snapshot = rows.WriteSnapshot();

	ScanKeyValue hold_keys[] = {{Int64GetDatum(pool_id), false}, {Int64GetDatum(hold_id), false}};
	if (!FindRow(rows, Table::kHolds, l.holds_pkey, hold_keys, 2, snapshot))
		throw Error("XX000", "credits: hold " + std::to_string(hold_id) + " of pool " + std::to_string(pool_id) +
		                         " not found");
	TupleTableSlot *hold = rows.Slot(Table::kHolds);
	const ItemPointerData hold_row = hold->tts_tid;
	const std::string member = DatumToString(Get(hold, l.holds[HoldCol::kMember]).value);
	Column feature = Get(hold, l.holds[HoldCol::kFeature]);
	const Datum feature_value = feature.null ? Datum(0) : PointerGetDatum(PG_DETOAST_DATUM_COPY(feature.value));
	const Micros amount = DatumGetInt64(Get(hold, l.holds[HoldCol::kAmount]).value);

	std::vector<HeldPart> parts;
	rows.BeginScan(Table::kHoldParts, l.hold_parts_pkey, hold_keys, 2, snapshot); // in part order
	while (rows.Next()) {
		TupleTableSlot *part = rows.Slot(Table::kHoldParts);
		const Micros held = DatumGetInt64(Get(part, l.hold_parts[HoldPartCol::kHeld]).value);
		if (held > 0)
			parts.push_back({DatumGetInt64(Get(part, l.hold_parts[HoldPartCol::kGrantId]).value), held, part->tts_tid});
	}
	rows.EndScan();

	LedgerRow entry(rows, pool_id, member, "release");
	Micros left = keep, released = 0;
	for (const HeldPart &part : parts) {
		const Micros take = std::min(part.held, left);
		const Micros back = part.held - take;
		left -= take;
		ScanKeyValue grant_keys[] = {{Int64GetDatum(pool_id), false}, {Int64GetDatum(part.grant_id), false}};
		if (!FindRow(rows, Table::kGrants, l.grants_pkey, grant_keys, 2, snapshot))
			throw Error("XX000", "credits: grant " + std::to_string(part.grant_id) + " of a hold not found");
		TupleTableSlot *grant = rows.Slot(Table::kGrants);
		// judged now, not at `at`: expire_holds(as_of) with a later as_of
		// lapses holds, but a grant still live now keeps what they give back
		Column expires_at = Get(grant, l.grants[GrantCol::kExpiresAt]);
		const bool voided = !Get(grant, l.grants[GrantCol::kVoidedAt]).null;
		const bool dead = voided || !Get(grant, l.grants[GrantCol::kExpiredAt]).null ||
		                  (!expires_at.null && DatumGetTimestampTz(expires_at.value) <= now);
		// one write per part: the captured share leaves the grant, the
		// released share goes back to its remaining, or goes with a dead grant
		const Micros grant_held = DatumGetInt64(Get(grant, l.grants[GrantCol::kHeld]).value);
		const Micros remaining = DatumGetInt64(Get(grant, l.grants[GrantCol::kRemaining]).value);
		const AttrNumber columns[] = {l.grants[GrantCol::kHeld], l.grants[GrantCol::kRemaining]};
		const Datum values[] = {Int64GetDatum(grant_held - part.held), Int64GetDatum(remaining + (dead ? 0 : back))};
		const bool nulls[] = {false, false};
		rows.Update(Table::kGrants, columns, values, nulls, 2);
		if (take > 0) {
			entry.Clear();
			entry.Set(LedgerCol::kEntryType, StringToText("capture"));
			entry.Set(LedgerCol::kGrantId, Int64GetDatum(part.grant_id));
			entry.Set(LedgerCol::kHeld, Int64GetDatum(-take));
			if (capture_id)
				entry.Set(LedgerCol::kChargeId, Int64GetDatum(*capture_id));
			entry.Set(LedgerCol::kHoldId, Int64GetDatum(hold_id));
			if (!feature.null)
				entry.Set(LedgerCol::kFeature, feature_value);
			entry.Insert();
		}
		if (back > 0) {
			entry.Clear();
			entry.Set(LedgerCol::kGrantId, Int64GetDatum(part.grant_id));
			entry.Set(LedgerCol::kAmount, Int64GetDatum(back));
			entry.Set(LedgerCol::kHeld, Int64GetDatum(-back));
			entry.Set(LedgerCol::kHoldId, Int64GetDatum(hold_id));
			entry.Set(LedgerCol::kReason, StringToText(reason));
			entry.Insert();
			if (dead) {
				entry.Clear();
				entry.Set(LedgerCol::kEntryType, StringToText(voided ? "void" : "expire"));
				entry.Set(LedgerCol::kGrantId, Int64GetDatum(part.grant_id));
				entry.Set(LedgerCol::kAmount, Int64GetDatum(-back));
				entry.Set(LedgerCol::kHoldId, Int64GetDatum(hold_id));
				entry.Set(LedgerCol::kReason,
				          StringToText(voided ? "grant voided while held" : "grant expired while held"));
				entry.Insert();
			}
			released += back;
		}
		rows.Fetch(Table::kHoldParts, part.row);
		const AttrNumber held_column = l.hold_parts[HoldPartCol::kHeld];
		const Datum zero = Int64GetDatum(0);
		const bool not_null = false;
		rows.Update(Table::kHoldParts, &held_column, &zero, &not_null, 1);
	}

	rows.Fetch(Table::kHolds, hold_row);
	{
		const AttrNumber columns[] = {l.holds[HoldCol::kStatus], l.holds[HoldCol::kCaptured], l.holds[HoldCol::kSettledAt]};
		const Datum values[] = {StringToText(status), Int64GetDatum(keep), TimestampTzGetDatum(at)};
		const bool nulls[] = {false, false, false};
		rows.Update(Table::kHolds, columns, values, nulls, 3);
	}

	// One update, so the usage guard sees usage shrink (used + held), and a
	// limit lowered since the hold was made cannot refuse its capture. The
	// period is now's, not at's: expire_holds(as_of) with a later as_of must
	// not move the member's usage into a future period.
	ScanKeyValue member_keys[] = {{Int64GetDatum(pool_id), false}, {StringToText(member), true}};
	if (FindRow(rows, Table::kMembers, l.members_pkey, member_keys, 2, snapshot)) {
		TupleTableSlot *m = rows.Slot(Table::kMembers);
		const Period period = ParsePeriod(DatumToString(Get(m, l.members[MemberCol::kPeriod]).value)).value_or(Period::kMonth);
		const Timestamp period_start = PeriodStart(period, now);
		const bool current = DatumGetTimestampTz(Get(m, l.members[MemberCol::kPeriodStart]).value) == period_start;
		const Micros used = current ? DatumGetInt64(Get(m, l.members[MemberCol::kUsed]).value) : 0;
		const Micros held = DatumGetInt64(Get(m, l.members[MemberCol::kHeld]).value);
		const AttrNumber columns[] = {l.members[MemberCol::kHeld], l.members[MemberCol::kUsed],
		                              l.members[MemberCol::kPeriodStart]};
		const Datum values[] = {Int64GetDatum(held - amount), Int64GetDatum(used + keep), TimestampTzGetDatum(period_start)};
		const bool nulls[] = {false, false, false};
		rows.Update(Table::kMembers, columns, values, nulls, 3);
	}
	return released;
}

int LapseHolds(Rows &rows, int64_t pool_id, Timestamp at, std::optional<Timestamp> also_pending) {
	const Layout &l = CurrentLayout();
	rows.Advance();
	Snapshot snapshot = rows.WriteSnapshot();
	std::vector<int64_t> due;
	std::optional<Timestamp> next = also_pending;
	ScanKeyValue pool_key{Int64GetDatum(pool_id), false};
	rows.BeginScan(Table::kHolds, l.holds_pending, &pool_key, 1, snapshot);
	while (rows.Next()) {
		TupleTableSlot *hold = rows.Slot(Table::kHolds);
		if (DatumToString(Get(hold, l.holds[HoldCol::kStatus]).value) != "pending")
			continue;
		const Timestamp expires_at = DatumGetTimestampTz(Get(hold, l.holds[HoldCol::kExpiresAt]).value);
		if (expires_at <= at)
			due.push_back(DatumGetInt64(Get(hold, l.holds[HoldCol::kHoldId]).value));
		else if (!next || expires_at < *next)
			next = expires_at;
	}
	rows.EndScan();
	std::sort(due.begin(), due.end());
	for (int64_t hold_id : due)
		Unhold(rows, pool_id, hold_id, 0, std::nullopt, "lapsed", "hold lapsed", at);
	// the pool's next hold expiry: the earliest left
	rows.Advance();
	snapshot = rows.WriteSnapshot();
	if (!FindRow(rows, Table::kPools, l.pools_pkey, &pool_key, 1, snapshot))
		throw Error("XX000", "credits: pool " + std::to_string(pool_id) + " not found");
	const AttrNumber column = l.pools[PoolCol::kNextHoldExpiry];
	const Datum value = next ? TimestampTzGetDatum(*next) : Datum(0);
	const bool null = !next;
	rows.Update(Table::kPools, &column, &value, &null, 1);
	return static_cast<int>(due.size());
}

// _unhold(pool_id, hold_id, keep, capture_id, status, reason, at) -> bigint
// released (the caller has locked the pool).
CREDITS_FUNCTION(credits_unhold) {
	Rows rows(Access::kWrite);
	const Micros released =
	    Unhold(rows, PG_GETARG_INT64(0), PG_GETARG_INT64(1), PG_GETARG_INT64(2),
	           PG_ARGISNULL(3) ? std::nullopt : std::optional<int64_t>(PG_GETARG_INT64(3)), TextArg(fcinfo, 4).c_str(),
	           TextArg(fcinfo, 5).c_str(), PG_GETARG_TIMESTAMPTZ(6));
	rows.Finish();
	PG_RETURN_INT64(released);
}

// _lapse_holds(pool_id, at) -> how many lapsed (the caller has locked the pool).
CREDITS_FUNCTION(credits_lapse_holds) {
	Rows rows(Access::kWrite);
	const int lapsed = LapseHolds(rows, PG_GETARG_INT64(0), PG_GETARG_TIMESTAMPTZ(1), std::nullopt);
	rows.Finish();
	PG_RETURN_INT32(lapsed);
}

} // namespace credits::pg
