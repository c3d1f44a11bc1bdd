// credits.charge and credits.try_charge: the hot path. A charge locks its
// pool, answers an idempotent replay from the ledger, lapses overdue holds,
// decides (pool_state.cpp), and records what it took: the grants, the
// member's usage, and the ledger's head entry (with the first part) and one
// entry per further part. A refused try_charge records only the head entry.
#include "pg/charge.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"

#include <vector>

namespace credits::pg {

namespace {

Statement find_key{"SELECT entry_id, member, requested, feature, quantity, balance_after, member_used_after"
                   "  FROM credits.ledger"
                   " WHERE pool_id = $1 AND idempotency_key = $2 AND status = 'succeeded' AND entry_type = 'charge'",
                   {INT8OID, TEXTOID}};
enum KeyColumn { kKeyEntryId = 1, kKeyMember, kKeyRequested, kKeyFeature, kKeyQuantity, kKeyBalance, kKeyUsed };

Statement take_from_grant{"UPDATE credits.grants SET remaining = remaining - $3 WHERE pool_id = $1 AND grant_id = $2",
                          {INT8OID, INT8OID, INT8OID}};

Statement record_usage{"UPDATE credits.members SET used = $3, period_start = $4 WHERE pool_id = $1 AND member = $2",
                       {INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID}};

// The head entry of a charge attempt; it also carries the first part.
Statement insert_head{"INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, grant_id, amount, charge_id,"
                      "  status, reason, feature, idempotency_key, requested, quantity, balance_after,"
                      "  member_used_after, metadata)"
                      " VALUES ($1, $2, 'charge', $3, $4, $5, $1, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                      {INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID,
                       NUMERICOID, INT8OID, INT8OID, JSONBOID}};

Statement insert_part{"INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, charge_id)"
                      " VALUES ($1, 'charge', $2, $3, $4, $5)",
                      {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID}};

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

// Records what a charge took: grants, member usage, the ledger.
void RecordCharge(SpiSession &spi, int64_t pool_id, int64_t entry_id, const ChargeRequest &req, const Spend &spend,
                  Micros balance_after, Micros used_after) {
	const std::vector<Part> &parts = spend.parts;
	for (const Part &part : parts) {
		Datum args[] = {Int64GetDatum(pool_id), Int64GetDatum(part.grant_id), Int64GetDatum(part.amount)};
		spi.Run(take_from_grant, args, nullptr);
	}
	if (spend.Succeeded() && (req.amount > 0 || !spend.member.stored_period_current)) {
		Datum args[] = {Int64GetDatum(pool_id), StringToText(req.member), Int64GetDatum(used_after),
		                TimestampTzGetDatum(spend.member.period_start)};
		spi.Run(record_usage, args, nullptr);
	}
	std::string status = std::string(StatusName(spend.decision.status));
	std::string reason = spend.decision.error ? spend.decision.error->Message() : std::string();
	Datum head[14] = {
	    Int64GetDatum(entry_id),
	    Int64GetDatum(pool_id),
	    StringToText(req.member),
	    parts.empty() ? Datum(0) : Int64GetDatum(parts[0].grant_id),
	    Int64GetDatum(parts.empty() ? 0 : -parts[0].amount),
	    StringToText(status),
	    reason.empty() ? Datum(0) : StringToText(reason),
	    req.feature ? StringToText(*req.feature) : Datum(0),
	    req.idempotency_key ? StringToText(*req.idempotency_key) : Datum(0),
	    Int64GetDatum(req.amount),
	    req.quantity ? req.quantity : Datum(0),
	    Int64GetDatum(balance_after),
	    Int64GetDatum(used_after),
	    req.metadata ? req.metadata : Datum(0),
	};
	bool head_nulls[14] = {false,
	                       false,
	                       false,
	                       parts.empty(),
	                       false,
	                       false,
	                       reason.empty(),
	                       !req.feature,
	                       !req.idempotency_key,
	                       false,
	                       req.quantity == Datum(0),
	                       false,
	                       false,
	                       req.metadata == Datum(0)};
	spi.Run(insert_head, head, head_nulls);
	for (size_t i = 1; i < parts.size(); ++i) {
		Datum args[] = {Int64GetDatum(pool_id), StringToText(req.member), Int64GetDatum(parts[i].grant_id),
		                Int64GetDatum(-parts[i].amount), Int64GetDatum(entry_id)};
		spi.Run(insert_part, args, nullptr);
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
	const LockedPool pool = LockPool(spi, req.pool, std::nullopt);
	if (req.idempotency_key) {
		if (auto replay = ReplayCharge(spi, pool.pool_id, req)) {
			spi.Finish();
			return *replay;
		}
	}
	LapseDueHolds(spi, pool, now, std::nullopt);
	const Spend spend = DecideSpend(spi, pool, req, now);
	if (!spend.Succeeded() && mode == ChargeMode::kRaise)
		throw *spend.decision.error;

	const Micros taken = spend.Succeeded() ? req.amount : 0;
	ChargeOutcome out;
	out.charge_id = pool.entry_id;
	out.status = spend.decision.status;
	out.charged = taken;
	out.balance = spend.pool_available - taken;
	out.member_used = AddAmounts(spend.member.usage.used, taken);
	RecordCharge(spi, pool.pool_id, pool.entry_id, req, spend, out.balance, out.member_used);
	spi.Finish();
	return out;
}

Datum ChargeResultDatum(FunctionCallInfo fcinfo, const ChargeOutcome &out) {
	Datum values[6] = {Int64GetDatum(out.charge_id),     StringToText(std::string(StatusName(out.status))),
	                   MicrosToNumeric(out.charged),     MicrosToNumeric(out.balance),
	                   MicrosToNumeric(out.member_used), BoolGetDatum(out.replayed)};
	return Guard([&] {
		TupleDesc desc;
		if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "credits: charge_result must be a composite type");
		desc = BlessTupleDesc(desc);
		bool nulls[6] = {false, false, false, false, false, false};
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
