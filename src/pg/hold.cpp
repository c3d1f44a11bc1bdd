// credits.reserve: a hold sets credits aside like a charge takes them (the
// same lock, decision and deduction order, pool_state.cpp), but moves them
// from the grants' remaining to their held part and adds them to the
// member's held usage. Its parts are kept in hold_parts for capture and
// release; the pool's next_hold_expiry is lowered in the locking write.
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/ledger_row.hpp"
#include "pg/datum.hpp"
#include "pg/pool_state.hpp"
#include "pg/spi.hpp"

namespace credits::pg {

namespace {

Statement find_hold_key{"SELECT hold_id, member, amount, feature FROM credits.holds"
                        " WHERE pool_id = $1 AND idempotency_key = $2",
                        {INT8OID, TEXTOID}};
enum HoldKeyColumn { kKeyHoldId = 1, kKeyMember, kKeyAmount, kKeyFeature };

// The hold an earlier reserve with the same key made, or CR005 when the key
// was used for a different hold (hold keys never match charge keys).
std::optional<int64_t> ReplayHold(SpiSession &spi, int64_t pool_id, const SpendRequest &req) {
	Datum args[] = {Int64GetDatum(pool_id), StringToText(*req.idempotency_key)};
	if (spi.Run(find_hold_key, args, nullptr) == 0)
		return std::nullopt;
	std::string first_member = spi.Text(0, kKeyMember);
	Micros first_amount = spi.Int64(0, kKeyAmount);
	std::optional<std::string> first_feature;
	if (!spi.IsNull(0, kKeyFeature))
		first_feature = spi.Text(0, kKeyFeature);
	if (first_member != req.member || first_feature != req.feature || first_amount != req.amount)
		throw IdempotencyConflict(*req.idempotency_key, "hold", first_amount, first_member, first_feature);
	return spi.Int64(0, kKeyHoldId);
}

// The row of a lot the spend read.
ItemPointerData LotRow(const LockedPool &pool, int64_t grant_id) {
	for (size_t i = 0; i < pool.lots.size(); ++i)
		if (pool.lots[i].grant_id == grant_id)
			return pool.lot_rows[i];
	throw Error(sqlstate::kInsufficientCredits, "credits changed during a hold");
}

// Records a hold: the hold and its parts, the grants' held credits, the
// member's held usage (an update the usage guard checks, or the enrolment
// of a member the pool did not know), the ledger's head entry and one entry
// per part.
void RecordHold(Rows &rows, SpiSession &spi, const LockedPool &pool, const SpendRequest &req, Timestamp expires_at,
                const Spend &spend) {
	const Layout &l = CurrentLayout();
	const int64_t hold_id = pool.entry_id;
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	Datum feature = req.feature ? StringToText(*req.feature) : Datum(0);
	Datum key = req.idempotency_key ? StringToText(*req.idempotency_key) : Datum(0);
	{
		NewRow hold(rows, Table::kHolds);
		const AttrNumber *c = l.holds;
		hold.Set(c[HoldCol::kPoolId], Int64GetDatum(pool.pool_id));
		hold.Set(c[HoldCol::kHoldId], Int64GetDatum(hold_id));
		hold.Set(c[HoldCol::kMember], StringToText(req.member));
		if (req.feature)
			hold.Set(c[HoldCol::kFeature], feature);
		hold.Set(c[HoldCol::kAmount], Int64GetDatum(req.amount));
		hold.Set(c[HoldCol::kCaptured], Int64GetDatum(0));
		hold.Set(c[HoldCol::kStatus], StringToText("pending"));
		if (req.idempotency_key)
			hold.Set(c[HoldCol::kIdempotencyKey], key);
		hold.Set(c[HoldCol::kCreatedAt], TimestampTzGetDatum(now));
		hold.Set(c[HoldCol::kExpiresAt], TimestampTzGetDatum(expires_at));
		if (req.metadata)
			hold.Set(c[HoldCol::kMetadata], req.metadata);
		hold.Insert();
	}
	NewRow part_row(rows, Table::kHoldParts);
	int32_t n = 0;
	for (const Part &part : spend.parts) {
		rows.Fetch(Table::kGrants, LotRow(pool, part.grant_id));
		TupleTableSlot *grant = rows.Slot(Table::kGrants);
		const AttrNumber columns[] = {l.grants[GrantCol::kRemaining], l.grants[GrantCol::kHeld]};
		const Datum values[] = {Int64GetDatum(DatumGetInt64(grant->tts_values[columns[0] - 1]) - part.amount),
		                        Int64GetDatum(DatumGetInt64(grant->tts_values[columns[1] - 1]) + part.amount)};
		const bool nulls[] = {false, false};
		rows.Update(Table::kGrants, columns, values, nulls, 2);
		part_row.Clear();
		const AttrNumber *c = l.hold_parts;
		part_row.Set(c[HoldPartCol::kPoolId], Int64GetDatum(pool.pool_id));
		part_row.Set(c[HoldPartCol::kHoldId], Int64GetDatum(hold_id));
		part_row.Set(c[HoldPartCol::kPart], Int32GetDatum(++n));
		part_row.Set(c[HoldPartCol::kGrantId], Int64GetDatum(part.grant_id));
		part_row.Set(c[HoldPartCol::kHeld], Int64GetDatum(part.amount));
		part_row.Insert();
	}
	const Member &member = pool.member;
	if (!member.known) {
		EnrollMember(spi, pool, req.member, 0, req.amount);
	} else {
		rows.Fetch(Table::kMembers, pool.member_row);
		const AttrNumber columns[] = {l.members[MemberCol::kHeld], l.members[MemberCol::kUsed],
		                              l.members[MemberCol::kPeriodStart]};
		const Datum values[] = {Int64GetDatum(member.usage.held + req.amount), Int64GetDatum(member.usage.used),
		                        TimestampTzGetDatum(member.period_start)};
		const bool nulls[] = {false, false, false};
		rows.Update(Table::kMembers, columns, values, nulls, 3);
	}
	LedgerRow entry(rows, pool.pool_id, req.member, "hold");
	entry.Set(LedgerCol::kEntryId, Int64GetDatum(hold_id));
	entry.Set(LedgerCol::kHoldId, Int64GetDatum(hold_id));
	entry.Set(LedgerCol::kStatus, StringToText("succeeded"));
	if (req.feature)
		entry.Set(LedgerCol::kFeature, feature);
	if (req.idempotency_key)
		entry.Set(LedgerCol::kIdempotencyKey, key);
	entry.Set(LedgerCol::kRequested, Int64GetDatum(req.amount));
	entry.Set(LedgerCol::kBalanceAfter, Int64GetDatum(spend.pool_available - req.amount));
	entry.Set(LedgerCol::kMemberUsedAfter, Int64GetDatum(member.usage.used));
	if (req.metadata)
		entry.Set(LedgerCol::kMetadata, req.metadata);
	entry.Insert();
	// a hold's parts belong to its head entry (charge_id), as a charge's do
	for (const Part &part : spend.parts) {
		entry.Clear();
		entry.Set(LedgerCol::kGrantId, Int64GetDatum(part.grant_id));
		entry.Set(LedgerCol::kAmount, Int64GetDatum(-part.amount));
		entry.Set(LedgerCol::kHeld, Int64GetDatum(part.amount));
		entry.Set(LedgerCol::kHoldId, Int64GetDatum(hold_id));
		entry.Set(LedgerCol::kChargeId, Int64GetDatum(hold_id));
		if (req.feature)
			entry.Set(LedgerCol::kFeature, feature);
		entry.Insert();
	}
}

// A hold of req.amount until expires_at; returns its id. A refusal raises.
int64_t RunHold(const SpendRequest &req, Timestamp expires_at) {
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(false);
	Rows rows(Access::kWrite);
	LockedPool pool = LockPool(rows, req, now, expires_at);
	if (req.idempotency_key) {
		if (auto replay = ReplayHold(spi, pool.pool_id, req)) {
			rows.Finish();
			spi.Finish();
			return *replay;
		}
	}
	LapseDueHolds(rows, pool, req, now, expires_at);
	const Spend spend = DecideSpend(spi, pool, req, now);
	if (!spend.Succeeded())
		throw *spend.decision.error;
	RecordHold(rows, spi, pool, req, expires_at, spend);
	rows.Finish();
	spi.Finish();
	return pool.entry_id;
}

} // namespace

// reserve(pool, member, amount, ttl, feature, idempotency_key, metadata) -> hold id
CREDITS_FUNCTION(credits_reserve) {
	RequireArg(fcinfo, 0, "pool");
	RequireArg(fcinfo, 1, "member");
	RequireArg(fcinfo, 2, "amount");
	RequireArg(fcinfo, 3, "ttl");
	SpendRequest req;
	req.pool = TextArg(fcinfo, 0);
	req.member = KeyArg(fcinfo, 1, "member");
	req.amount = NumericToMicros(PG_GETARG_DATUM(2), "amount");
	const Timestamp expires_at = AddInterval(GetCurrentTransactionStartTimestamp(), PG_GETARG_DATUM(3), "ttl");
	req.feature = OptionalKeyArg(fcinfo, 4, "feature");
	req.idempotency_key = OptionalKeyArg(fcinfo, 5, "idempotency_key");
	req.metadata = PG_ARGISNULL(6) ? Datum(0) : PG_GETARG_DATUM(6);
	PG_RETURN_INT64(RunHold(req, expires_at));
}

} // namespace credits::pg
