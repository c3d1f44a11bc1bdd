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

// Locks the pool; a reserve ($2: its hold's expiry, NULL for a charge, which
// least() ignores) lowers the pool's next hold expiry in the same write. The
// expiry returned is the new one: a new hold expires after now, so it is due
// exactly when the old one was. (A replayed reserve lowers it too, to a time
// no pending hold has: the pool's first write after that time lapses nothing
// and sets it right.)
Statement lock_pool{"UPDATE credits.pools SET version = version + 1, next_hold_expiry = least(next_hold_expiry, $2)"
                    " WHERE pool = $1"
                    " RETURNING pool_id, nextval('credits.ledger_entry_id_seq'), next_hold_expiry, has_caps",
                    {TEXTOID, TIMESTAMPTZOID}};

// The same for a database whose extension is still at 0.1 (the library was
// upgraded, ALTER EXTENSION credits UPDATE not yet run): its pools have no
// holds and no caps.
Statement lock_pool_0_1{"UPDATE credits.pools SET version = version + 1 WHERE pool = $1"
                        " RETURNING pool_id, nextval('credits.ledger_entry_id_seq'), NULL::timestamptz, false",
                        {TEXTOID, TIMESTAMPTZOID}};

Statement lapse_holds{"SELECT credits._lapse_holds($1, $2)", {INT8OID, TIMESTAMPTZOID}};

// The cap on a feature, and the member's calls of it inside the window.
Statement find_cap{"SELECT c.max_calls, c.per::text,"
                   "       (SELECT count(*) FROM credits.ledger l"
                   "         WHERE l.pool_id = $1 AND l.member = $2 AND l.feature = $3 AND l.status = 'succeeded'"
                   "           AND l.feature IS NOT NULL AND l.entry_type IN ('charge', 'hold') AND l.at > $4 - c.per)"
                   "  FROM credits.frequency_caps c WHERE c.pool_id = $1 AND c.feature = $3",
                   {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}};

Statement find_hold_key{"SELECT hold_id, member, amount, feature FROM credits.holds"
                        " WHERE pool_id = $1 AND idempotency_key = $2",
                        {INT8OID, TEXTOID}};

Statement insert_hold{"INSERT INTO credits.holds (pool_id, hold_id, member, feature, amount, idempotency_key,"
                      "  expires_at, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      {INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TIMESTAMPTZOID, JSONBOID}};

Statement insert_hold_part{"INSERT INTO credits.hold_parts (pool_id, hold_id, part, grant_id, held)"
                           " VALUES ($1, $2, $3, $4, $5)",
                           {INT8OID, INT8OID, INT4OID, INT8OID, INT8OID}};

Statement hold_from_grant{"UPDATE credits.grants SET remaining = remaining - $3, held = held + $3"
                          " WHERE pool_id = $1 AND grant_id = $2",
                          {INT8OID, INT8OID, INT8OID}};

Statement record_hold{"UPDATE credits.members SET held = held + $3, used = $4, period_start = $5"
                      " WHERE pool_id = $1 AND member = $2",
                      {INT8OID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID}};

Statement hold_expiry{"UPDATE credits.pools SET next_hold_expiry = least(next_hold_expiry, $2) WHERE pool_id = $1",
                      {INT8OID, TIMESTAMPTZOID}};

Statement insert_hold_head{"INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, hold_id, status, feature,"
                           "  idempotency_key, requested, balance_after, member_used_after, metadata)"
                           " VALUES ($1, $2, 'hold', $3, $1, 'succeeded', $4, $5, $6, $7, $8, $9)",
                           {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, JSONBOID}};

// A hold's parts belong to its head entry (charge_id), as a charge's do.
Statement insert_hold_entry{"INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, held, hold_id,"
                            "  charge_id, feature) VALUES ($1, 'hold', $2, $3, $4, $5, $6, $6, $7)",
                            {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID}};

// Held parts of pending holds past their TTL: available again at once.
Statement overdue_held{"SELECT hp.held, h.member,"
                       "       (g.member IS NULL OR g.member = $3),"
                       "       (g.voided_at IS NULL AND g.expired_at IS NULL AND g.effective_at <= $2"
                       "        AND (g.expires_at IS NULL OR g.expires_at > $2))"
                       "  FROM credits.holds h"
                       "  JOIN credits.hold_parts hp ON hp.pool_id = h.pool_id AND hp.hold_id = h.hold_id"
                       "  JOIN credits.grants g ON g.pool_id = hp.pool_id AND g.grant_id = hp.grant_id"
                       " WHERE h.pool_id = $1 AND h.status = 'pending' AND h.expires_at <= $2 AND hp.held > 0",
                       {INT8OID, TIMESTAMPTZOID, TEXTOID}};

Statement find_pool_holds{"SELECT pool_id, next_hold_expiry FROM credits.pools WHERE pool = $1", {TEXTOID}};
Statement find_pool_0_1{"SELECT pool_id, NULL::timestamptz FROM credits.pools WHERE pool = $1", {TEXTOID}};

// Whether the schema is 0.2's (holds, caps) or still 0.1's: one syscache
// lookup per call, so a session that runs ALTER EXTENSION UPDATE switches
// at once.
bool SchemaHasHolds() {
	return Guard([] {
		Oid pools = get_relname_relid("pools", get_namespace_oid("credits", false));
		return OidIsValid(pools) && get_attnum(pools, "next_hold_expiry") != InvalidAttrNumber;
	});
}

Statement find_key{"SELECT entry_id, member, requested, feature, quantity, balance_after, member_used_after"
                   "  FROM credits.ledger"
                   " WHERE pool_id = $1 AND idempotency_key = $2 AND status = 'succeeded' AND entry_type = 'charge'",
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

} // namespace

namespace {

Error UnknownPool(const std::string &pool) {
	return Error(sqlstate::kUnknownPool, "unknown pool \"" + pool + "\"", {}, "Create it with credits.create_pool().");
}

Error IdempotencyConflict(const std::string &key, const std::string &what, Micros first_amount,
                          const std::string &first_member, const std::optional<std::string> &first_feature) {
	return Error(sqlstate::kIdempotencyConflict, "idempotency key \"" + key + "\" was used for a different " + what,
	             "the first " + what + " was " + FormatAmount(first_amount) + " credits for member \"" + first_member +
	                 "\"" + (first_feature ? " and feature \"" + *first_feature + "\"" : "") + ".",
	             "Use a new key for a new " + what + "; repeat a " + what + " only with the same arguments.");
}

std::optional<std::string> OptionalText(SpiSession &spi, uint64_t row, int column) {
	if (spi.IsNull(row, column))
		return std::nullopt;
	return spi.Text(row, column);
}

// A quantity as text without trailing fractional zeros: 10, 10.0 and 10.000
// are one quantity to an idempotent replay.
std::string TrimScale(std::string number) {
	if (number.find('.') != std::string::npos) {
		number.erase(number.find_last_not_of('0') + 1);
		if (number.back() == '.')
			number.pop_back();
	}
	return number;
}

// A replay of an earlier charge with the same key, or CR005 when the key was
// used for a different charge; nullopt when the key is new.
std::optional<ChargeOutcome> ReplayCharge(SpiSession &spi, int64_t pool_id, const ChargeRequest &req) {
	Datum args[] = {Int64GetDatum(pool_id), Text(*req.idempotency_key)};
	if (spi.Run(find_key, args, nullptr) == 0)
		return std::nullopt;
	std::string first_member = spi.Text(0, 2);
	Micros first_amount = spi.Int64(0, 3);
	std::optional<std::string> first_feature = OptionalText(spi, 0, 4);
	std::optional<std::string> first_quantity;
	if (!spi.IsNull(0, 5))
		first_quantity = TrimScale(NumericToString(spi.Value(0, 5)));
	if (first_member != req.member || first_feature != req.feature ||
	    (req.quantity_text ? first_quantity != req.quantity_text : first_amount != req.amount))
		throw IdempotencyConflict(*req.idempotency_key, "charge", first_amount, first_member, first_feature);
	ChargeOutcome out;
	out.charge_id = spi.Int64(0, 1);
	out.status = Status::kSucceeded;
	out.charged = first_amount;
	out.balance = spi.Int64(0, 6);
	out.member_used = spi.Int64(0, 7);
	out.replayed = true;
	return out;
}

// The same for a hold's key (hold keys never match charge keys).
std::optional<ChargeOutcome> ReplayHold(SpiSession &spi, int64_t pool_id, const ChargeRequest &req) {
	Datum args[] = {Int64GetDatum(pool_id), Text(*req.idempotency_key)};
	if (spi.Run(find_hold_key, args, nullptr) == 0)
		return std::nullopt;
	std::string first_member = spi.Text(0, 2);
	Micros first_amount = spi.Int64(0, 3);
	std::optional<std::string> first_feature = OptionalText(spi, 0, 4);
	if (first_member != req.member || first_feature != req.feature || first_amount != req.amount)
		throw IdempotencyConflict(*req.idempotency_key, "hold", first_amount, first_member, first_feature);
	ChargeOutcome out;
	out.charge_id = spi.Int64(0, 1);
	out.charged = first_amount;
	out.replayed = true;
	return out;
}

std::optional<FrequencyCap> LoadCap(SpiSession &spi, int64_t pool_id, const ChargeRequest &req, Timestamp now) {
	Datum args[] = {Int64GetDatum(pool_id), Text(req.member), Text(*req.feature), TimestampTzGetDatum(now)};
	if (spi.Run(find_cap, args, nullptr) == 0)
		return std::nullopt;
	FrequencyCap cap;
	cap.feature = *req.feature;
	cap.max_calls = spi.Int32(0, 1);
	cap.per = spi.Text(0, 2);
	cap.calls_in_window = spi.Int64(0, 3);
	return cap;
}

// Records what a charge took: grants, member usage, the ledger.
void RecordCharge(SpiSession &spi, int64_t pool_id, int64_t entry_id, const ChargeRequest &req, const Member &member,
                  const ChargeDecision &decision, const std::vector<Part> &parts, Micros balance_after,
                  Micros used_after) {
	const bool succeeded = decision.status == Status::kSucceeded;
	for (const Part &part : parts) {
		Datum args[] = {Int64GetDatum(pool_id), Int64GetDatum(part.grant_id), Int64GetDatum(part.amount)};
		spi.Run(take_from_grant, args, nullptr);
	}
	if (succeeded && (req.amount > 0 || !member.stored_period_current)) {
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
		Datum args[] = {Int64GetDatum(pool_id), Text(req.member), Int64GetDatum(parts[i].grant_id),
		                Int64GetDatum(-parts[i].amount), Int64GetDatum(entry_id)};
		spi.Run(insert_part, args, nullptr);
	}
}

// Records a hold: the hold and its parts, the grants' held credits, the
// member's held usage, the ledger. (lock_pool lowered the pool's next hold
// expiry.)
void RecordHold(SpiSession &spi, int64_t pool_id, int64_t hold_id, const ChargeRequest &req, const Member &member,
                const std::vector<Part> &parts, Micros balance_after) {
	Datum feature = req.feature ? Text(*req.feature) : Datum(0);
	Datum key = req.idempotency_key ? Text(*req.idempotency_key) : Datum(0);
	Datum member_key = Text(req.member);
	{
		Datum args[] = {Int64GetDatum(pool_id),     Int64GetDatum(hold_id),
		                member_key,                 feature,
		                Int64GetDatum(req.amount),  key,
		                TimestampTzGetDatum(req.hold_expires_at), req.metadata};
		bool nulls[] = {false, false, false, !req.feature, false, !req.idempotency_key, false, req.metadata == 0};
		spi.Run(insert_hold, args, nulls);
	}
	int32_t n = 0;
	for (const Part &part : parts) {
		Datum args[] = {Int64GetDatum(pool_id), Int64GetDatum(part.grant_id), Int64GetDatum(part.amount)};
		spi.Run(hold_from_grant, args, nullptr);
		Datum hp[] = {Int64GetDatum(pool_id), Int64GetDatum(hold_id), Int32GetDatum(++n), Int64GetDatum(part.grant_id),
		              Int64GetDatum(part.amount)};
		spi.Run(insert_hold_part, hp, nullptr);
	}
	{
		Datum args[] = {Int64GetDatum(pool_id), member_key, Int64GetDatum(req.amount), Int64GetDatum(member.usage.used),
		                TimestampTzGetDatum(member.period_start)};
		spi.Run(record_hold, args, nullptr);
	}
	{
		Datum args[] = {Int64GetDatum(hold_id),      Int64GetDatum(pool_id),
		                member_key,                  feature,
		                key,                         Int64GetDatum(req.amount),
		                Int64GetDatum(balance_after), Int64GetDatum(member.usage.used),
		                req.metadata};
		bool nulls[] = {false, false, false, !req.feature, !req.idempotency_key, false, false, false, req.metadata == 0};
		spi.Run(insert_hold_head, args, nulls);
	}
	for (const Part &part : parts) {
		Datum args[] = {Int64GetDatum(pool_id),       member_key,
		                Int64GetDatum(part.grant_id), Int64GetDatum(-part.amount),
		                Int64GetDatum(part.amount),   Int64GetDatum(hold_id),
		                feature};
		bool nulls[] = {false, false, false, false, false, false, !req.feature};
		spi.Run(insert_hold_entry, args, nulls);
	}
}

} // namespace

ChargeOutcome RunCharge(const ChargeRequest &req, ChargeMode mode) {
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(false);

	Datum lock_args[] = {Text(req.pool), TimestampTzGetDatum(req.hold_expires_at)};
	bool lock_nulls[] = {false, !req.hold};
	if (spi.Run(SchemaHasHolds() ? lock_pool : lock_pool_0_1, lock_args, lock_nulls) == 0)
		throw UnknownPool(req.pool);
	const int64_t pool_id = spi.Int64(0, 1);
	const int64_t entry_id = spi.Int64(0, 2);
	const bool holds_due = !spi.IsNull(0, 3) && spi.Int64(0, 3) <= now;
	const bool has_caps = spi.Bool(0, 4);

	if (req.idempotency_key) {
		auto replay = req.hold ? ReplayHold(spi, pool_id, req) : ReplayCharge(spi, pool_id, req);
		if (replay) {
			spi.Finish();
			return *replay;
		}
	}
	if (holds_due) {
		Datum args[] = {Int64GetDatum(pool_id), TimestampTzGetDatum(now)};
		spi.Run(lapse_holds, args, nullptr);
		// _lapse_holds recomputed the next expiry from the pending holds,
		// which do not include this one yet
		if (req.hold) {
			Datum expiry[] = {Int64GetDatum(pool_id), TimestampTzGetDatum(req.hold_expires_at)};
			spi.Run(hold_expiry, expiry, nullptr);
		}
	}

	Member member = LoadMember(spi, pool_id, req.member, now, true);
	std::vector<Lot> lots = LoadLots(spi, pool_id, req.member, now);
	std::optional<FrequencyCap> cap;
	if (has_caps && req.feature)
		cap = LoadCap(spi, pool_id, req, now);
	const Micros pool_available = TotalRemaining(lots, false);
	const Micros usable = TotalRemaining(lots, true);
	ChargeDecision decision = DecideCharge(req.pool, req.member, member.usage, req.amount, usable, cap);

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
	const Micros taken = succeeded ? req.amount : 0;
	ChargeOutcome out;
	out.charge_id = entry_id;
	out.status = decision.status;
	out.balance = pool_available - taken;
	out.replayed = false;
	if (req.hold) {
		RecordHold(spi, pool_id, entry_id, req, member, parts, out.balance);
		out.member_used = member.usage.used;
	} else {
		out.charged = taken;
		out.member_used = AddAmounts(member.usage.used, taken);
		RecordCharge(spi, pool_id, entry_id, req, member, decision, parts, out.balance, out.member_used);
	}
	spi.Finish();
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
	req.member = KeyArg(fcinfo, 1, "member");
	req.amount = NumericToMicros(PG_GETARG_DATUM(2), "amount");
	req.feature = OptionalKeyArg(fcinfo, 3, "feature");
	req.idempotency_key = OptionalKeyArg(fcinfo, 4, "idempotency_key");
	req.metadata = PG_ARGISNULL(5) ? Datum(0) : PG_GETARG_DATUM(5);
	return req;
}

Micros Balance(const std::string &pool, const std::optional<std::string> &member) {
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	SpiSession spi(true);
	Datum key = Text(pool);
	if (spi.Run(SchemaHasHolds() ? find_pool_holds : find_pool_0_1, &key, nullptr) == 0)
		throw UnknownPool(pool);
	const int64_t pool_id = spi.Int64(0, 1);
	const bool holds_due = !spi.IsNull(0, 2) && spi.Int64(0, 2) <= now;
	const std::string member_key = member.value_or(std::string());
	std::vector<Lot> lots = LoadLots(spi, pool_id, member_key, now);
	Micros pool_total = TotalRemaining(lots, false);
	Micros usable_total = TotalRemaining(lots, true);
	Micros member_overdue = 0;
	if (holds_due) {
		// Holds past their TTL have lapsed, even before anything records it.
		Datum args[] = {Int64GetDatum(pool_id), TimestampTzGetDatum(now), Text(member_key)};
		uint64_t n = spi.Run(overdue_held, args, nullptr);
		for (uint64_t i = 0; i < n; ++i) {
			const Micros held = spi.Int64(i, 1);
			if (member && spi.Text(i, 2) == *member)
				member_overdue += held;
			if (!spi.Bool(i, 4))
				continue; // the grant died meanwhile: this part expires
			pool_total += held;
			if (spi.Bool(i, 3))
				usable_total += held;
		}
	}
	Micros result = pool_total;
	if (member) {
		Member m = LoadMember(spi, pool_id, *member, now, false);
		m.usage.held -= member_overdue;
		result = m.usage.revoked ? 0 : usable_total;
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

namespace {

Statement rate_in_force{"SELECT trim_scale(ceil(r.credits_per_unit * $3 * 1000000) / 1000000)"
                        "  FROM credits.rates r WHERE r.feature = $1 AND r.effective_from <= $2"
                        " ORDER BY r.effective_from DESC LIMIT 1",
                        {TEXTOID, TIMESTAMPTZOID, NUMERICOID}};

// The cost of `quantity` units of a feature at the rate in force now,
// rounded up to 6 places; CR009 when the feature has no rate.
Micros PriceUsage(const std::string &feature, Datum quantity) {
	SpiSession spi(true);
	Datum args[] = {Text(feature), TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), quantity};
	if (spi.Run(rate_in_force, args, nullptr) == 0)
		throw Error(sqlstate::kUnknownFeature, "unknown feature \"" + feature + "\": it has no rate", {},
		            "Set its rate with credits.set_rate().");
	std::string cost = NumericToString(spi.Value(0, 1));
	spi.Finish();
	return ParseAmount(cost, "cost");
}

} // namespace

// charge_usage(pool, member, feature, quantity, idempotency_key, metadata)
CREDITS_FUNCTION(credits_charge_usage) {
	RequireArg(fcinfo, 0, "pool");
	RequireArg(fcinfo, 1, "member");
	RequireArg(fcinfo, 2, "feature");
	RequireArg(fcinfo, 3, "quantity");
	ChargeRequest req;
	req.pool = TextArg(fcinfo, 0);
	req.member = KeyArg(fcinfo, 1, "member");
	req.feature = KeyArg(fcinfo, 2, "feature");
	req.quantity = PG_GETARG_DATUM(3);
	req.quantity_text = TrimScale(NumericToString(req.quantity));
	CheckQuantity(req.quantity, "quantity");
	req.idempotency_key = OptionalKeyArg(fcinfo, 4, "idempotency_key");
	req.metadata = PG_ARGISNULL(5) ? Datum(0) : PG_GETARG_DATUM(5);
	req.amount = PriceUsage(*req.feature, req.quantity);
	ChargeOutcome out = RunCharge(req, ChargeMode::kRaise);
	return ChargeResultDatum(fcinfo, out);
}

// reserve(pool, member, amount, ttl, feature, idempotency_key, metadata) -> hold id
CREDITS_FUNCTION(credits_reserve) {
	RequireArg(fcinfo, 0, "pool");
	RequireArg(fcinfo, 1, "member");
	RequireArg(fcinfo, 2, "amount");
	RequireArg(fcinfo, 3, "ttl");
	ChargeRequest req;
	req.pool = TextArg(fcinfo, 0);
	req.member = KeyArg(fcinfo, 1, "member");
	req.amount = NumericToMicros(PG_GETARG_DATUM(2), "amount");
	req.hold = true;
	req.hold_expires_at = AddInterval(GetCurrentTransactionStartTimestamp(), PG_GETARG_DATUM(3), "ttl");
	req.feature = OptionalKeyArg(fcinfo, 4, "feature");
	req.idempotency_key = OptionalKeyArg(fcinfo, 5, "idempotency_key");
	req.metadata = PG_ARGISNULL(6) ? Datum(0) : PG_GETARG_DATUM(6);
	ChargeOutcome out = RunCharge(req, ChargeMode::kRaise);
	PG_RETURN_INT64(out.charge_id);
}

CREDITS_FUNCTION(credits_balance) {
	RequireArg(fcinfo, 0, "pool");
	Micros balance = Balance(TextArg(fcinfo, 0), OptionalKeyArg(fcinfo, 1, "member"));
	return MicrosToNumeric(balance);
}

} // namespace credits::pg
