// credits.charge and credits.try_charge: the hot path. A charge locks its
// pool, answers an idempotent replay from the ledger, lapses overdue holds,
// decides (pool_state.cpp), and records what it took: the grants, the
// member's usage, and the ledger's head entry (with the first part) and one
// entry per further part. A refused try_charge records only the head entry.
#include "pg/charge.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/ledger_row.hpp"
#include "pg/spi.hpp"

#include <algorithm>
#include <vector>

namespace credits::pg {

namespace {

Statement find_key{"SELECT entry_id, member, requested, feature, quantity, balance_after, member_used_after"
                   "  FROM credits.ledger"
                   " WHERE pool_id = $1 AND idempotency_key = $2 AND status = 'succeeded' AND entry_type = 'charge'",
                   {INT8OID, TEXTOID}};
enum KeyColumn { kKeyEntryId = 1, kKeyMember, kKeyRequested, kKeyFeature, kKeyQuantity, kKeyBalance, kKeyUsed };

std::optional<std::string> OptionalText(SpiSession &spi, uint64_t row, int column) {
	if (spi.IsNull(row, column))
		return std::nullopt;
	return spi.Text(row, column);
}

// A replay of an earlier charge with the same key, or CR005 when the key was
// used for a different charge; nullopt when the key is new.
std::optional<ChargeOutcome> ReplayCharge(SpiSession &spi, int64_t pool_id, const ChargeRequest &req) {
	Datum args[] = {Int64GetDatum(pool_id), StringToText(*req.idempotency_key)};
	if (spi.Run(find_key, args, nullptr) == 0)
		return std::nullopt;
	std::string first_member = spi.Text(0, kKeyMember);
	Micros first_amount = spi.Int64(0, kKeyRequested);
	std::optional<std::string> first_feature = OptionalText(spi, 0, kKeyFeature);
	std::optional<std::string> first_quantity;
	if (!spi.IsNull(0, kKeyQuantity))
		first_quantity = QuantityText(spi.Value(0, kKeyQuantity));
	if (first_member != req.member || first_feature != req.feature ||
	    (req.quantity_text ? first_quantity != req.quantity_text : first_amount != req.amount))
		throw IdempotencyConflict(*req.idempotency_key, "charge", first_amount, first_member, first_feature);
	ChargeOutcome out;
	out.charge_id = spi.Int64(0, kKeyEntryId);
	out.status = Status::kSucceeded;
	out.charged = first_amount;
	out.balance = spi.Int64(0, kKeyBalance);
	out.member_used = spi.Int64(0, kKeyUsed);
	out.replayed = true;
	return out;
}

// Records what a charge attempt took: from the grants, the member's usage
// (an update, which the usage guard checks, or the enrolment of a member
// the pool did not know), and the ledger: the head entry, which carries the
// first part, then one entry per further part. A refused attempt records
// only its head entry.
void RecordCharge(Rows &rows, SpiSession &spi, const LockedPool &pool, const ChargeRequest &req,
                  const Spend &spend, Micros balance_after, Micros used_after) {
	const Layout &l = CurrentLayout();
	for (const Part &part : spend.parts) {
		rows.Fetch(Table::kGrants, LotRow(pool, part.grant_id));
		const Micros remaining = DatumGetInt64(rows.Slot(Table::kGrants)->tts_values[l.grants[GrantCol::kRemaining] - 1]);
		const AttrNumber column = l.grants[GrantCol::kRemaining];
		const Datum value = Int64GetDatum(remaining - part.amount);
		const bool null = false;
		rows.Update(Table::kGrants, &column, &value, &null, 1);
	}
	const Member &member = pool.member;
	const bool usage_changes = spend.Succeeded() && (req.amount > 0 || !member.stored_period_current);
	if (!member.known) {
		EnrollMember(spi, pool, req.member, usage_changes ? used_after : 0);
	} else if (usage_changes) {
		rows.Fetch(Table::kMembers, pool.member_row);
		const AttrNumber columns[] = {l.members[MemberCol::kUsed], l.members[MemberCol::kPeriodStart]};
		const Datum values[] = {Int64GetDatum(used_after), TimestampTzGetDatum(member.period_start)};
		const bool nulls[] = {false, false};
		rows.Update(Table::kMembers, columns, values, nulls, 2);
	}

	LedgerRow entry(rows, pool.pool_id, req.member, "charge");
	const std::string reason = spend.decision.error ? spend.decision.error->Message() : std::string();
	for (size_t i = 0; i < std::max<size_t>(spend.parts.size(), 1); ++i) {
		const bool head = i == 0;
		entry.Clear();
		entry.Set(LedgerCol::kEntryId, Int64GetDatum(head ? pool.entry_id : NextEntryId()));
		entry.Set(LedgerCol::kChargeId, Int64GetDatum(pool.entry_id));
		if (!spend.parts.empty()) {
			entry.Set(LedgerCol::kGrantId, Int64GetDatum(spend.parts[i].grant_id));
			entry.Set(LedgerCol::kAmount, Int64GetDatum(-spend.parts[i].amount));
		}
		if (head) {
			entry.Set(LedgerCol::kStatus, StringToText(std::string(StatusName(spend.decision.status))));
			if (!reason.empty())
				entry.Set(LedgerCol::kReason, StringToText(reason));
			if (req.feature)
				entry.Set(LedgerCol::kFeature, StringToText(*req.feature));
			if (req.idempotency_key)
				entry.Set(LedgerCol::kIdempotencyKey, StringToText(*req.idempotency_key));
			entry.Set(LedgerCol::kRequested, Int64GetDatum(req.amount));
			if (req.quantity)
				entry.Set(LedgerCol::kQuantity, req.quantity);
			entry.Set(LedgerCol::kBalanceAfter, Int64GetDatum(balance_after));
			entry.Set(LedgerCol::kMemberUsedAfter, Int64GetDatum(used_after));
			if (req.metadata)
				entry.Set(LedgerCol::kMetadata, req.metadata);
		}
		entry.Insert();
	}
}

ChargeRequest ChargeArgs(FunctionCallInfo fcinfo) {
	RequireArg(fcinfo, 0, "pool");
	RequireArg(fcinfo, 1, "member");
	RequireArg(fcinfo, 2, "amount");
	ChargeRequest req;
	req.pool = TextArg(fcinfo, 0);
	req.member = KeyArg(fcinfo, 1, "member");
	req.amount = NumericToMicros(PG_GETARG_DATUM(2), "amount");
	req.feature = OptionalKeyArg(fcinfo, 3, "feature");
	req.idempotency_key = OptionalKeyArg(fcinfo, 4, "idempotency_key");
	req.metadata = PG_ARGISNULL(5) ? Datum(0) : PG_GETARG_DATUM(5);
	return req;
}

} // namespace

std::string QuantityText(Datum numeric) {
	std::string number = NumericToString(numeric);
	if (number.find('.') != std::string::npos) {
		number.erase(number.find_last_not_of('0') + 1);
		if (number.back() == '.')
			number.pop_back();
	}
	return number;
}

ChargeOutcome RunCharge(const ChargeRequest &req, ChargeMode mode) {
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(false);
	Rows rows(Access::kWrite);
	LockedPool pool = LockPool(rows, req, now, std::nullopt);
	if (req.idempotency_key) {
		if (auto replay = ReplayCharge(spi, pool.pool_id, req)) {
			rows.Finish();
			spi.Finish();
			return *replay;
		}
	}
	LapseDueHolds(rows, pool, req, now, std::nullopt);
	const Spend spend = DecideSpend(spi, pool, req, now);
	if (!spend.Succeeded() && mode == ChargeMode::kRaise)
		throw *spend.decision.error;

	const Micros taken = spend.Succeeded() ? req.amount : 0;
	ChargeOutcome out;
	out.charge_id = pool.entry_id;
	out.status = spend.decision.status;
	out.charged = taken;
	out.balance = spend.pool_available - taken;
	out.member_used = AddAmounts(pool.member.usage.used, taken);
	if (spend.decision.error)
		out.reason = spend.decision.error->Message();
	RecordCharge(rows, spi, pool, req, spend, out.balance, out.member_used);
	rows.Finish();
	spi.Finish();
	return out;
}

Datum ChargeResultDatum(FunctionCallInfo fcinfo, const ChargeOutcome &out) {
	Datum values[7] = {Int64GetDatum(out.charge_id),
	                   StringToText(std::string(StatusName(out.status))),
	                   MicrosToNumeric(out.charged),
	                   MicrosToNumeric(out.balance),
	                   MicrosToNumeric(out.member_used),
	                   BoolGetDatum(out.replayed),
	                   out.reason.empty() ? Datum(0) : StringToText(out.reason)};
	bool nulls[7] = {false, false, false, false, false, false, out.reason.empty()};
	return Guard([&] {
		TupleDesc desc;
		if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "credits: charge_result must be a composite type");
		// a schema not updated yet (0.1, 0.2) has no reason attribute
		if (desc->natts < 6 || desc->natts > 7)
			elog(ERROR, "credits: charge_result has %d attributes", desc->natts);
		desc = BlessTupleDesc(desc);
		return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	});
}

CREDITS_FUNCTION(credits_charge) {
	ChargeOutcome out = RunCharge(ChargeArgs(fcinfo), ChargeMode::kRaise);
	return ChargeResultDatum(fcinfo, out);
}

CREDITS_FUNCTION(credits_try_charge) {
	ChargeOutcome out = RunCharge(ChargeArgs(fcinfo), ChargeMode::kReport);
	return ChargeResultDatum(fcinfo, out);
}

} // namespace credits::pg
