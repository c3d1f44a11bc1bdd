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
#include "pg/charge.hpp"
#include "pg/holds_settle.hpp"
#include "pg/spi.hpp"

#include <algorithm>

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

// The rest of a hold's lifecycle: capture, release, extend_hold. Each finds
// the hold by its id, locks its pool as every write does (lapsing overdue
// holds), and settles it with Unhold (holds_settle.cpp).
namespace credits::pg {

namespace {

struct PendingHold {
	int64_t pool_id = 0;
	std::string pool;
	std::string member;
	std::optional<std::string> feature;
	Micros amount = 0;
	Datum metadata = 0; // jsonb, 0 when NULL
	ItemPointerData row{};
};

std::string TimestampText(Timestamp at) {
	const char *text =
	    Guard([&] { return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(at))); });
	return std::string(text);
}

Datum CopyDatum(Datum value) {
	return Guard([&] { return PointerGetDatum(PG_DETOAST_DATUM_COPY(value)); });
}

// A varlena from SPI's result, copied to the caller's memory (SPI's is
// freed by SpiSession::Finish).
Datum ReturnDatum(Datum value) {
	return Guard([&] { return SPI_datumTransfer(value, false, -1); });
}

// The pool that holds `hold_id` (CR010 when none).
int64_t HoldPool(Rows &rows, int64_t hold_id) {
	const Layout &l = CurrentLayout();
	ScanKeyValue key{Int64GetDatum(hold_id), false};
	rows.BeginScan(Table::kHolds, l.holds_by_id, &key, 1, rows.WriteSnapshot());
	const bool found = rows.Next();
	const int64_t pool_id = found ? DatumGetInt64(rows.Slot(Table::kHolds)->tts_values[l.holds[HoldCol::kPoolId] - 1]) : 0;
	rows.EndScan();
	if (!found)
		throw Error(sqlstate::kNotFound, "hold " + std::to_string(hold_id) + " not found", {},
		            "Pass a hold id returned by credits.reserve().");
	return pool_id;
}

// The hold, its pool (key `pool`) locked by the caller: CR006 when it is
// no longer pending.
PendingHold ReadPendingHold(Rows &rows, int64_t pool_id, const std::string &pool, int64_t hold_id) {
	const Layout &l = CurrentLayout();
	PendingHold h;
	h.pool_id = pool_id;
	h.pool = pool;
	ScanKeyValue keys[] = {{Int64GetDatum(pool_id), false}, {Int64GetDatum(hold_id), false}};
	rows.BeginScan(Table::kHolds, l.holds_pkey, keys, 2, rows.WriteSnapshot());
	if (!rows.Next())
		throw Error(sqlstate::kNotFound, "hold " + std::to_string(hold_id) + " not found");
	TupleTableSlot *slot = rows.Slot(Table::kHolds);
	auto column = [&](int c) { return slot->tts_values[l.holds[c] - 1]; };
	auto is_null = [&](int c) { return slot->tts_isnull[l.holds[c] - 1]; };
	const std::string status = DatumToString(column(HoldCol::kStatus));
	h.member = DatumToString(column(HoldCol::kMember));
	if (!is_null(HoldCol::kFeature))
		h.feature = DatumToString(column(HoldCol::kFeature));
	h.amount = DatumGetInt64(column(HoldCol::kAmount));
	if (!is_null(HoldCol::kMetadata))
		h.metadata = CopyDatum(column(HoldCol::kMetadata));
	h.row = slot->tts_tid;
	const Micros captured = DatumGetInt64(column(HoldCol::kCaptured));
	const Timestamp expires_at = DatumGetTimestampTz(column(HoldCol::kExpiresAt));
	rows.EndScan();
	if (status != "pending")
		throw Error(sqlstate::kHoldNotPending, "hold " + std::to_string(hold_id) + " is not pending: it was " + status,
		            "amount " + FormatAmount(h.amount) + ", captured " + FormatAmount(captured) + ", expires_at " +
		                TimestampText(expires_at) + ".",
		            status == "lapsed" ? "Reserve again with a longer ttl." : "A hold is settled once.");
	return h;
}

// The hold, its pool locked (as every write locks it): CR006 when it is no
// longer pending.
PendingHold LockPendingHold(Rows &rows, int64_t pool_id, int64_t hold_id, Timestamp now) {
	return ReadPendingHold(rows, pool_id, LockPoolById(rows, pool_id, now), hold_id);
}

// What the pool can spend now, and the member's usage in its period.
void Figures(Rows &rows, int64_t pool_id, const std::string &member, Timestamp now, Micros *available, Micros *used) {
	rows.Advance();
	PoolState state;
	state.pool_id = pool_id;
	ReadStateOf(rows, state, member, now);
	*available = TotalRemaining(state.lots, false);
	*used = state.member.usage.used;
}

// A retried capture: the first result, or CR005 for other arguments.
Statement find_capture_key{
    "SELECT k.arguments = a.arguments, k.arguments::text, a.arguments::text,"
    "       r.charge_id, r.status, r.charged, r.balance, r.member_used, r.reason"
    "  FROM credits.write_keys k,"
    "       LATERAL (SELECT jsonb_build_object('hold_id', $3::bigint, 'amount', $4::numeric, 'allow_more', $5::boolean)"
    "                AS arguments) a,"
    "       LATERAL jsonb_populate_record(NULL::credits.charge_result, k.result) r"
    " WHERE k.pool_id = $1 AND k.function = 'capture' AND k.idempotency_key = $2",
    {INT8OID, TEXTOID, INT8OID, NUMERICOID, BOOLOID}};
enum KeyColumn { kSame = 1, kFirstArgs, kTheseArgs, kId, kStatus, kCharged, kBalance, kUsed, kReason };

Statement remember_capture{
    "SELECT credits._remember($1, 'capture', $2,"
    "        jsonb_build_object('hold_id', $3::bigint, 'amount', $4::numeric, 'allow_more', $5::boolean),"
    "        to_jsonb(ROW($6, 'succeeded', $7, $8, $9, false, NULL::text)::credits.charge_result))",
    {INT8OID, TEXTOID, INT8OID, NUMERICOID, BOOLOID, INT8OID, NUMERICOID, NUMERICOID, NUMERICOID}};

struct CaptureResult {
	ChargeOutcome outcome;
	Datum charged = 0, balance = 0, used = 0; // numerics of a replay, as first returned
	bool replay = false;
};

CaptureResult RunCapture(FunctionCallInfo fcinfo) {
	RequireArg(fcinfo, 0, "hold_id");
	RequireArg(fcinfo, 4, "allow_more");
	const int64_t hold_id = PG_GETARG_INT64(0);
	const std::optional<std::string> key = OptionalKeyArg(fcinfo, 3, "idempotency_key");
	// NULL: the whole hold
	const bool whole = PG_ARGISNULL(1);
	const Micros amount = whole ? 0 : NumericToMicros(PG_GETARG_DATUM(1), "amount");
	const bool allow_more = PG_GETARG_BOOL(4);
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(false);
	Rows rows(Access::kWrite);
	const int64_t pool_id = HoldPool(rows, hold_id);
	Datum key_args[] = {Int64GetDatum(pool_id), key ? StringToText(*key) : Datum(0), Int64GetDatum(hold_id),
	                    PG_ARGISNULL(1) ? Datum(0) : PG_GETARG_DATUM(1), BoolGetDatum(allow_more)};
	bool key_nulls[] = {false, !key, false, PG_ARGISNULL(1), false};
	const std::string pool = LockPoolById(rows, pool_id, now);
	// before the pending check: a retried capture settled the hold
	if (key) {
		if (spi.Run(find_capture_key, key_args, key_nulls) > 0) {
			if (!spi.Bool(0, kSame))
				throw Error(sqlstate::kIdempotencyConflict,
				            "idempotency key \"" + *key + "\" was used for a different capture",
				            "the first call had " + spi.Text(0, kFirstArgs) + "; this one has " +
				                spi.Text(0, kTheseArgs) + ".",
				            "Use a new key for a new capture; repeat one only with the same arguments.");
			CaptureResult replay;
			replay.replay = true;
			replay.outcome.charge_id = spi.Int64(0, kId);
			replay.outcome.replayed = true;
			replay.charged = ReturnDatum(spi.Value(0, kCharged));
			replay.balance = ReturnDatum(spi.Value(0, kBalance));
			replay.used = ReturnDatum(spi.Value(0, kUsed));
			rows.Finish();
			spi.Finish();
			return replay;
		}
	}
	const PendingHold h = ReadPendingHold(rows, pool_id, pool, hold_id);
	const Micros take = whole ? h.amount : amount;
	if (take > h.amount && !allow_more)
		throw Error(sqlstate::kInvalidParameter,
		            "cannot capture " + FormatAmount(take) + " credits: hold " + std::to_string(hold_id) + " holds " +
		                FormatAmount(h.amount),
		            {}, "Capture at most what was reserved, reserve more, or pass allow_more => true.");
	Datum metadata = PG_ARGISNULL(2) ? h.metadata : PG_GETARG_DATUM(2);
	if (take > h.amount) {
		// the difference is a charge of its own, at capture time
		ChargeRequest more;
		more.pool = h.pool;
		more.member = h.member;
		more.amount = take - h.amount;
		more.feature = h.feature;
		const std::string mark = "{\"capture_of_hold\": " + std::to_string(hold_id) + "}";
		more.metadata = Guard([&] {
			Datum base = metadata ? metadata : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
			return DirectFunctionCall2(jsonb_concat, base, DirectFunctionCall1(jsonb_in, CStringGetDatum(mark.c_str())));
		});
		rows.Advance();
		RunCharge(more, ChargeMode::kRaise);
	}
	const int64_t capture_id = NextEntryId();
	const Micros kept = std::min(take, h.amount);
	Unhold(rows, pool_id, hold_id, kept, capture_id, "captured", "rest of hold released", now);
	Micros available = 0, used = 0;
	Figures(rows, pool_id, h.member, now, &available, &used);
	LedgerRow entry(rows, pool_id, h.member, "capture");
	entry.Set(LedgerCol::kEntryId, Int64GetDatum(capture_id));
	entry.Set(LedgerCol::kChargeId, Int64GetDatum(capture_id));
	entry.Set(LedgerCol::kHoldId, Int64GetDatum(hold_id));
	entry.Set(LedgerCol::kStatus, StringToText("succeeded"));
	if (h.feature)
		entry.Set(LedgerCol::kFeature, StringToText(*h.feature));
	entry.Set(LedgerCol::kRequested, Int64GetDatum(kept));
	entry.Set(LedgerCol::kBalanceAfter, Int64GetDatum(available));
	entry.Set(LedgerCol::kMemberUsedAfter, Int64GetDatum(used));
	if (metadata)
		entry.Set(LedgerCol::kMetadata, metadata);
	if (key)
		entry.Set(LedgerCol::kIdempotencyKey, StringToText(*key));
	entry.Insert();
	rows.Finish();
	CaptureResult result;
	result.outcome.charge_id = capture_id;
	result.outcome.charged = take;
	result.outcome.balance = available;
	result.outcome.member_used = used;
	if (key) {
		Datum args[] = {key_args[0],
		                key_args[1],
		                key_args[2],
		                key_args[3],
		                key_args[4],
		                Int64GetDatum(capture_id),
		                MicrosToNumeric(take),
		                MicrosToNumeric(available),
		                MicrosToNumeric(used)};
		bool nulls[] = {false, false, false, key_nulls[3], false, false, false, false, false};
		spi.Run(remember_capture, args, nulls);
	}
	spi.Finish();
	return result;
}

} // namespace

// capture(hold_id, amount, metadata, idempotency_key, allow_more) -> charge_result
CREDITS_FUNCTION(credits_capture) {
	CaptureResult r = RunCapture(fcinfo);
	if (!r.replay)
		return ChargeResultDatum(fcinfo, r.outcome);
	return Guard([&] {
		TupleDesc desc;
		if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "credits: charge_result must be a composite type");
		desc = BlessTupleDesc(desc);
		Datum values[7] = {Int64GetDatum(r.outcome.charge_id), CStringGetTextDatum("succeeded"), r.charged, r.balance,
		                   r.used, BoolGetDatum(true), Datum(0)};
		bool nulls[7] = {false, false, false, false, false, false, true};
		return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	});
}

// release(hold_id) -> the amount released
CREDITS_FUNCTION(credits_release) {
	RequireArg(fcinfo, 0, "hold_id");
	const int64_t hold_id = PG_GETARG_INT64(0);
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	Rows rows(Access::kWrite);
	PendingHold h = LockPendingHold(rows, HoldPool(rows, hold_id), hold_id, now);
	Unhold(rows, h.pool_id, hold_id, 0, std::nullopt, "released", "released", now);
	rows.Finish();
	return MicrosToNumeric(h.amount);
}

// extend_hold(hold_id, ttl) -> the new expiry, now() + ttl
CREDITS_FUNCTION(credits_extend_hold) {
	RequireArg(fcinfo, 0, "hold_id");
	RequireArg(fcinfo, 1, "ttl");
	const int64_t hold_id = PG_GETARG_INT64(0);
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	const Timestamp expires_at = AddInterval(now, PG_GETARG_DATUM(1), "ttl");
	const Layout &l = CurrentLayout();
	Rows rows(Access::kWrite);
	PendingHold h = LockPendingHold(rows, HoldPool(rows, hold_id), hold_id, now);
	rows.Fetch(Table::kHolds, h.row);
	{
		const AttrNumber column = l.holds[HoldCol::kExpiresAt];
		const Datum value = TimestampTzGetDatum(expires_at);
		const bool null = false;
		rows.Update(Table::kHolds, &column, &value, &null, 1);
	}
	// the pool's next hold expiry may be early, never late
	rows.Advance();
	ScanKeyValue key{Int64GetDatum(h.pool_id), false};
	rows.BeginScan(Table::kPools, l.pools_pkey, &key, 1, rows.WriteSnapshot());
	const bool found = rows.Next();
	rows.EndScan();
	if (found) {
		TupleTableSlot *pool = rows.Slot(Table::kPools);
		const AttrNumber column = l.pools[PoolCol::kNextHoldExpiry];
		if (column != 0 &&
		    (pool->tts_isnull[column - 1] || DatumGetTimestampTz(pool->tts_values[column - 1]) > expires_at)) {
			const Datum value = TimestampTzGetDatum(expires_at);
			const bool null = false;
			rows.Update(Table::kPools, &column, &value, &null, 1);
		}
	}
	rows.Finish();
	PG_RETURN_TIMESTAMPTZ(expires_at);
}

} // namespace credits::pg
