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

// Records a charge attempt in one statement, of parameters
//   $1 pool id, $2 member, $3 grant ids and $4 amounts taken from them (in
//   deduction order; a refused attempt passes {NULL} and {0}), $5 whether
//   the member's usage changes, $6 its usage, $7 the period it counts,
//   $8 the head entry's id, $9 .. $17 the head's status, reason, feature,
//   idempotency key, requested amount, quantity, balance and member usage
//   after, metadata.
// It takes from the grants, records the member's usage (an update, which the
// usage guard checks, or the enrolment of a member the pool did not know),
// and writes the ledger: the head entry, which carries the first part, then
// one entry per further part. Each combination of what it writes is its own
// prepared statement, as simple as that case allows: most charges take from
// one grant.
enum class GrantsWrite { kNone, kOne, kMany };
enum class MemberWrite { kNone, kUpdate, kEnroll };

std::string RecordSql(GrantsWrite grants, MemberWrite member) {
	std::vector<std::string> ctes;
	if (grants == GrantsWrite::kOne)
		ctes.push_back("taken AS (UPDATE credits.grants SET remaining = remaining - $4[1]"
		               " WHERE pool_id = $1 AND grant_id = $3[1])");
	else if (grants == GrantsWrite::kMany)
		ctes.push_back("taken AS (UPDATE credits.grants g SET remaining = g.remaining - t.amount"
		               " FROM unnest($3::int8[], $4::int8[]) AS t(grant_id, amount)"
		               " WHERE g.pool_id = $1 AND g.grant_id = t.grant_id)");
	if (member == MemberWrite::kUpdate)
		ctes.push_back("usage AS (UPDATE credits.members SET used = $6, period_start = $7"
		               " WHERE pool_id = $1 AND member = $2)");
	else if (member == MemberWrite::kEnroll)
		ctes.push_back("enrolled AS (INSERT INTO credits.members (pool_id, member, period_start, used)"
		               " VALUES ($1, $2, $7, CASE WHEN $5 THEN $6 ELSE 0 END))");
	std::string sql;
	for (size_t i = 0; i < ctes.size(); ++i)
		sql += (i == 0 ? "WITH " : ", ") + ctes[i];
	sql += " INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, grant_id, amount, charge_id, status,"
	       "  reason, feature, idempotency_key, requested, quantity, balance_after, member_used_after, metadata)";
	if (grants != GrantsWrite::kMany)
		return sql + " VALUES ($8, $1, 'charge', $2, $3[1], -$4[1], $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";
	return sql + " SELECT CASE WHEN t.n = 1 THEN $8 ELSE nextval('credits.ledger_entry_id_seq') END, $1, 'charge',"
	             "  $2, t.grant_id, -t.amount, $8, CASE WHEN t.n = 1 THEN $9 END, CASE WHEN t.n = 1 THEN $10 END,"
	             "  CASE WHEN t.n = 1 THEN $11 END, CASE WHEN t.n = 1 THEN $12 END, CASE WHEN t.n = 1 THEN $13 END,"
	             "  CASE WHEN t.n = 1 THEN $14 END, CASE WHEN t.n = 1 THEN $15 END, CASE WHEN t.n = 1 THEN $16 END,"
	             "  CASE WHEN t.n = 1 THEN $17 END"
	             " FROM unnest($3::int8[], $4::int8[]) WITH ORDINALITY AS t(grant_id, amount, n)";
}

Statement &RecordStatement(GrantsWrite grants, MemberWrite member) {
	static std::string sql[3][3];
	static Statement statements[3][3] = {};
	const int g = static_cast<int>(grants), m = static_cast<int>(member);
	Statement &statement = statements[g][m];
	if (statement.sql == nullptr) {
		sql[g][m] = RecordSql(grants, member);
		statement.sql = sql[g][m].c_str();
		statement.types = {INT8OID,        TEXTOID,    INT8ARRAYOID, INT8ARRAYOID, BOOLOID, INT8OID,
		                   TIMESTAMPTZOID, INT8OID,    TEXTOID,      TEXTOID,      TEXTOID, TEXTOID,
		                   INT8OID,        NUMERICOID, INT8OID,      INT8OID,      JSONBOID};
	}
	return statement;
}

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

// Records what a charge attempt took: grants, member usage, the ledger.
void RecordCharge(SpiSession &spi, const LockedPool &pool, const ChargeRequest &req, const Spend &spend,
                  Micros balance_after, Micros used_after) {
	std::vector<std::optional<int64_t>> grant_ids, amounts;
	for (const Part &part : spend.parts) {
		grant_ids.emplace_back(part.grant_id);
		amounts.emplace_back(part.amount);
	}
	if (spend.parts.empty()) {
		grant_ids.emplace_back(std::nullopt);
		amounts.emplace_back(0);
	}
	const Member &member = pool.member;
	const bool usage_changes = spend.Succeeded() && (req.amount > 0 || !member.stored_period_current);
	const std::string status(StatusName(spend.decision.status));
	const std::string reason = spend.decision.error ? spend.decision.error->Message() : std::string();
	Datum args[17] = {
	    Int64GetDatum(pool.pool_id),
	    StringToText(req.member),
	    Int64ArrayDatum(grant_ids),
	    Int64ArrayDatum(amounts),
	    BoolGetDatum(usage_changes),
	    Int64GetDatum(used_after),
	    TimestampTzGetDatum(member.period_start),
	    Int64GetDatum(pool.entry_id),
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
	bool nulls[17] = {false,
	                  false,
	                  false,
	                  false,
	                  false,
	                  false,
	                  false,
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
	const GrantsWrite grants = spend.parts.empty()       ? GrantsWrite::kNone
	                           : spend.parts.size() == 1 ? GrantsWrite::kOne
	                                                     : GrantsWrite::kMany;
	const MemberWrite member_write = !member.known   ? MemberWrite::kEnroll
	                                 : usage_changes ? MemberWrite::kUpdate
	                                                 : MemberWrite::kNone;
	spi.Run(RecordStatement(grants, member_write), args, nulls);
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
	LockedPool pool = LockPool(spi, req.pool, req.member, now, std::nullopt);
	if (req.idempotency_key) {
		if (auto replay = ReplayCharge(spi, pool.pool_id, req)) {
			spi.Finish();
			return *replay;
		}
	}
	LapseDueHolds(spi, pool, req, now, std::nullopt);
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
	RecordCharge(spi, pool, req, spend, out.balance, out.member_used);
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
