// credits.charge, credits.try_charge and credits.balance: the hot path.
//
// Every write takes the pool row first (UPDATE ... version + 1): that one
// lock orders all operations on a pool, so they cannot deadlock, and each
// later statement of the call reads what the previous holder committed (a
// fresh snapshot per statement at READ COMMITTED; a 40001 at REPEATABLE READ
// or SERIALIZABLE when the pool changed after the caller's snapshot).
#include "core/deduction.hpp"
#include "core/error.hpp"
#include "core/usage.hpp"
#include "pg/boundary.hpp"
#include "pg/charge.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"

#include <vector>

namespace credits::pg {

namespace {

Statement lock_pool{"UPDATE credits.pools SET version = version + 1 WHERE pool = $1"
                    " RETURNING pool_id, nextval('credits.ledger_entry_id_seq')",
                    {TEXTOID}};

Statement find_pool{"SELECT pool_id FROM credits.pools WHERE pool = $1", {TEXTOID}};

Statement find_key{"SELECT entry_id, member, requested, feature, quantity, balance_after, member_used_after"
                   "  FROM credits.ledger"
                   " WHERE pool_id = $1 AND idempotency_key = $2 AND status = 'succeeded'",
                   {INT8OID, TEXTOID}};

Statement find_member{"SELECT credit_limit, period, period_start, used, held, revoked"
                      "  FROM credits.members WHERE pool_id = $1 AND member = $2",
                      {INT8OID, TEXTOID}};

Statement enroll_member{"INSERT INTO credits.members (pool_id, member, period_start) VALUES ($1, $2, $3)",
                        {INT8OID, TEXTOID, TIMESTAMPTZOID}};

// Every lot the pool can spend now; `usable` marks those this member may use.
Statement live_lots{"SELECT grant_id, rank, expires_at, effective_at, remaining, (member IS NULL OR member = $3)"
                    "  FROM credits.grants"
                    " WHERE pool_id = $1 AND remaining > 0 AND voided_at IS NULL AND expired_at IS NULL"
                    "   AND effective_at <= $2 AND (expires_at IS NULL OR expires_at > $2)",
                    {INT8OID, TIMESTAMPTZOID, TEXTOID}};

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

Datum Text(const std::string &s) {
	return StringToText(s);
}

struct Member {
	MemberUsage usage;
	Timestamp period_start = 0; // of the current period
	bool stored_period_current = true;
};

// Reads the member (enrolling it when unknown) with its usage in the
// current period.
Member LoadMember(SpiSession &spi, int64_t pool_id, const std::string &member, Timestamp now, bool enroll) {
	Member m;
	Datum key = Text(member);
	Datum args[] = {Int64GetDatum(pool_id), key};
	if (spi.Run(find_member, args, nullptr) == 0) {
		m.period_start = PeriodStart(Period::kMonth, now);
		if (enroll) {
			Datum ins[] = {Int64GetDatum(pool_id), key, TimestampTzGetDatum(m.period_start)};
			spi.Run(enroll_member, ins, nullptr);
		}
		return m;
	}
	auto period = ParsePeriod(spi.Text(0, 2));
	m.usage.period = period.value_or(Period::kMonth);
	m.period_start = PeriodStart(m.usage.period, now);
	m.stored_period_current = spi.Int64(0, 3) == m.period_start;
	if (!spi.IsNull(0, 1))
		m.usage.limit = spi.Int64(0, 1);
	m.usage.used = m.stored_period_current ? spi.Int64(0, 4) : 0;
	m.usage.held = spi.Int64(0, 5);
	m.usage.revoked = spi.Bool(0, 6);
	return m;
}

std::vector<Lot> LoadLots(SpiSession &spi, int64_t pool_id, const std::string &member, Timestamp now) {
	Datum args[] = {Int64GetDatum(pool_id), TimestampTzGetDatum(now), Text(member)};
	uint64_t n = spi.Run(live_lots, args, nullptr);
	std::vector<Lot> lots;
	lots.reserve(n);
	for (uint64_t i = 0; i < n; ++i) {
		Lot lot;
		lot.grant_id = spi.Int64(i, 1);
		lot.rank = spi.Int32(i, 2);
		lot.expires_at = spi.IsNull(i, 3) ? kEndOfTime : spi.Int64(i, 3);
		lot.effective_at = spi.Int64(i, 4);
		lot.remaining = spi.Int64(i, 5);
		lot.usable = spi.Bool(i, 6);
		lots.push_back(lot);
	}
	return lots;
}

bool SameOptional(const std::optional<std::string> &a, const std::optional<std::string> &b) {
	return a == b;
}

} // namespace

ChargeOutcome RunCharge(const ChargeRequest &req, ChargeMode mode) {
	ChargeOutcome out;
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(false);

	Datum pool_key = Text(req.pool);
	if (spi.Run(lock_pool, &pool_key, nullptr) == 0)
		throw Error(sqlstate::kUnknownPool, "unknown pool \"" + req.pool + "\"", {},
		            "Create it with credits.create_pool().");
	const int64_t pool_id = spi.Int64(0, 1);
	const int64_t entry_id = spi.Int64(0, 2);

	if (req.idempotency_key) {
		Datum args[] = {Int64GetDatum(pool_id), Text(*req.idempotency_key)};
		if (spi.Run(find_key, args, nullptr) > 0) {
			std::string first_member = spi.Text(0, 2);
			Micros first_amount = spi.Int64(0, 3);
			std::optional<std::string> first_feature;
			if (!spi.IsNull(0, 4))
				first_feature = spi.Text(0, 4);
			std::optional<std::string> first_quantity;
			if (!spi.IsNull(0, 5))
				first_quantity = NumericToString(spi.Value(0, 5));
			if (first_member != req.member || !SameOptional(first_feature, req.feature) ||
			    (req.quantity_text ? first_quantity != req.quantity_text : first_amount != req.amount))
				throw Error(sqlstate::kIdempotencyConflict,
				            "idempotency key \"" + *req.idempotency_key + "\" was used for a different charge",
				            "the first charge was " + FormatAmount(first_amount) + " credits for member \"" +
				                first_member + "\"" + (first_feature ? " and feature \"" + *first_feature + "\"" : "") +
				                ".",
				            "Use a new key for a new charge; repeat a charge only with the same arguments.");
			out.charge_id = spi.Int64(0, 1);
			out.status = Status::kSucceeded;
			out.charged = first_amount;
			out.balance = spi.Int64(0, 6);
			out.member_used = spi.Int64(0, 7);
			out.replayed = true;
			spi.Finish();
			return out;
		}
	}

	Member member = LoadMember(spi, pool_id, req.member, now, true);
	std::vector<Lot> lots = LoadLots(spi, pool_id, req.member, now);
	const Micros pool_available = TotalRemaining(lots, false);
	const Micros usable = TotalRemaining(lots, true);
	ChargeDecision decision = DecideCharge(req.pool, req.member, member.usage, req.amount, usable);

	std::vector<Part> parts;
	if (decision.status == Status::kSucceeded) {
		auto allocated = Allocate(lots, req.amount);
		if (!allocated) // DecideCharge saw enough credits; this cannot happen
			throw Error(sqlstate::kInsufficientCredits, "credits changed during a charge");
		parts = std::move(*allocated);
	} else if (mode == ChargeMode::kRaise) {
		throw *decision.error;
	}

	const bool succeeded = decision.status == Status::kSucceeded;
	const Micros charged = succeeded ? req.amount : 0;
	for (const Part &part : parts) {
		Datum args[] = {Int64GetDatum(pool_id), Int64GetDatum(part.grant_id), Int64GetDatum(part.amount)};
		spi.Run(take_from_grant, args, nullptr);
	}
	const Micros used_after = AddAmounts(member.usage.used, charged);
	if (succeeded && (charged > 0 || !member.stored_period_current)) {
		Datum args[] = {Int64GetDatum(pool_id), Text(req.member), Int64GetDatum(used_after),
		                TimestampTzGetDatum(member.period_start)};
		spi.Run(record_usage, args, nullptr);
	}

	std::string status = std::string(StatusName(decision.status));
	std::string reason = decision.error ? decision.error->Message() : std::string();
	Datum head[14] = {
	    Int64GetDatum(entry_id),
	    Int64GetDatum(pool_id),
	    Text(req.member),
	    parts.empty() ? Datum(0) : Int64GetDatum(parts[0].grant_id),
	    Int64GetDatum(parts.empty() ? 0 : -parts[0].amount),
	    Text(status),
	    reason.empty() ? Datum(0) : Text(reason),
	    req.feature ? Text(*req.feature) : Datum(0),
	    req.idempotency_key ? Text(*req.idempotency_key) : Datum(0),
	    Int64GetDatum(req.amount),
	    req.quantity ? req.quantity : Datum(0),
	    Int64GetDatum(pool_available - charged),
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
		Datum args[] = {Int64GetDatum(pool_id), Text(req.member), Int64GetDatum(parts[i].grant_id),
		                Int64GetDatum(-parts[i].amount), Int64GetDatum(entry_id)};
		spi.Run(insert_part, args, nullptr);
	}
	spi.Finish();

	out.charge_id = entry_id;
	out.status = decision.status;
	out.charged = charged;
	out.balance = pool_available - charged;
	out.member_used = used_after;
	out.replayed = false;
	return out;
}

Datum ChargeResultDatum(FunctionCallInfo fcinfo, const ChargeOutcome &out) {
	Datum values[6] = {Int64GetDatum(out.charge_id),   Text(std::string(StatusName(out.status))),
	                   MicrosToNumeric(out.charged),    MicrosToNumeric(out.balance),
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

ChargeRequest ChargeArgs(FunctionCallInfo fcinfo) {
	RequireArg(fcinfo, 0, "pool");
	RequireArg(fcinfo, 1, "member");
	RequireArg(fcinfo, 2, "amount");
	ChargeRequest req;
	req.pool = TextArg(fcinfo, 0);
	req.member = TextArg(fcinfo, 1);
	req.amount = NumericToMicros(PG_GETARG_DATUM(2), "amount");
	req.feature = OptionalTextArg(fcinfo, 3);
	req.idempotency_key = OptionalTextArg(fcinfo, 4);
	req.metadata = PG_ARGISNULL(5) ? Datum(0) : PG_GETARG_DATUM(5);
	return req;
}

Micros Balance(const std::string &pool, const std::optional<std::string> &member) {
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(true);
	Datum key = Text(pool);
	if (spi.Run(find_pool, &key, nullptr) == 0)
		throw Error(sqlstate::kUnknownPool, "unknown pool \"" + pool + "\"", {}, "Create it with credits.create_pool().");
	const int64_t pool_id = spi.Int64(0, 1);
	std::vector<Lot> lots = LoadLots(spi, pool_id, member.value_or(std::string()), now);
	Micros result;
	if (!member) {
		result = TotalRemaining(lots, false);
	} else {
		Member m = LoadMember(spi, pool_id, *member, now, false);
		result = m.usage.revoked ? 0 : TotalRemaining(lots, true);
		if (auto left = RemainingLimit(m.usage); left && *left < result)
			result = *left;
	}
	spi.Finish();
	return result;
}

CREDITS_FUNCTION(credits_charge) {
	ChargeOutcome out = RunCharge(ChargeArgs(fcinfo), ChargeMode::kRaise);
	return ChargeResultDatum(fcinfo, out);
}

CREDITS_FUNCTION(credits_try_charge) {
	ChargeOutcome out = RunCharge(ChargeArgs(fcinfo), ChargeMode::kReport);
	return ChargeResultDatum(fcinfo, out);
}

CREDITS_FUNCTION(credits_balance) {
	RequireArg(fcinfo, 0, "pool");
	Micros balance = Balance(TextArg(fcinfo, 0), OptionalTextArg(fcinfo, 1));
	return MicrosToNumeric(balance);
}

} // namespace credits::pg
