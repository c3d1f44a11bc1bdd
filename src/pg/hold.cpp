// credits.reserve: a hold sets credits aside like a charge takes them (the
// same lock, decision and deduction order, pool_state.cpp), but moves them
// from the grants' remaining to their held part and adds them to the
// member's held usage. Its parts are kept in hold_parts for capture and
// release; the pool's next_hold_expiry is lowered in the locking write.
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/pool_state.hpp"
#include "pg/spi.hpp"

namespace credits::pg {

namespace {

Statement find_hold_key{"SELECT hold_id, member, amount, feature FROM credits.holds"
                        " WHERE pool_id = $1 AND idempotency_key = $2",
                        {INT8OID, TEXTOID}};
enum HoldKeyColumn { kKeyHoldId = 1, kKeyMember, kKeyAmount, kKeyFeature };

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

Statement insert_hold_head{
    "INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, hold_id, status, feature,"
    "  idempotency_key, requested, balance_after, member_used_after, metadata)"
    " VALUES ($1, $2, 'hold', $3, $1, 'succeeded', $4, $5, $6, $7, $8, $9)",
    {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, JSONBOID}};

// A hold's parts belong to its head entry (charge_id), as a charge's do.
Statement insert_hold_entry{"INSERT INTO credits.ledger (pool_id, entry_type, member, grant_id, amount, held, hold_id,"
                            "  charge_id, feature) VALUES ($1, 'hold', $2, $3, $4, $5, $6, $6, $7)",
                            {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID}};

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
// member's held usage, the ledger.
void RecordHold(SpiSession &spi, const LockedPool &pool, const SpendRequest &req, Timestamp expires_at,
                const Spend &spend) {
	const int64_t pool_id = pool.pool_id;
	const int64_t hold_id = pool.entry_id;
	Datum feature = req.feature ? StringToText(*req.feature) : Datum(0);
	Datum key = req.idempotency_key ? StringToText(*req.idempotency_key) : Datum(0);
	Datum member_key = StringToText(req.member);
	const Micros balance_after = spend.pool_available - req.amount;
	const Micros used = pool.member.usage.used;
	{
		Datum args[] = {Int64GetDatum(pool_id),
		                Int64GetDatum(hold_id),
		                member_key,
		                feature,
		                Int64GetDatum(req.amount),
		                key,
		                TimestampTzGetDatum(expires_at),
		                req.metadata};
		bool nulls[] = {false, false, false, !req.feature, false, !req.idempotency_key, false, req.metadata == 0};
		spi.Run(insert_hold, args, nulls);
	}
	int32_t n = 0;
	for (const Part &part : spend.parts) {
		Datum args[] = {Int64GetDatum(pool_id), Int64GetDatum(part.grant_id), Int64GetDatum(part.amount)};
		spi.Run(hold_from_grant, args, nullptr);
		Datum hp[] = {Int64GetDatum(pool_id), Int64GetDatum(hold_id), Int32GetDatum(++n), Int64GetDatum(part.grant_id),
		              Int64GetDatum(part.amount)};
		spi.Run(insert_hold_part, hp, nullptr);
	}
	{
		Datum args[] = {Int64GetDatum(pool_id), member_key, Int64GetDatum(req.amount), Int64GetDatum(used),
		                TimestampTzGetDatum(pool.member.period_start)};
		spi.Run(record_hold, args, nullptr);
	}
	{
		Datum args[] = {Int64GetDatum(hold_id),    Int64GetDatum(pool_id),       member_key,          feature,     key,
		                Int64GetDatum(req.amount), Int64GetDatum(balance_after), Int64GetDatum(used), req.metadata};
		bool nulls[] = {false, false, false, !req.feature,     !req.idempotency_key,
		                false, false, false, req.metadata == 0};
		spi.Run(insert_hold_head, args, nulls);
	}
	for (const Part &part : spend.parts) {
		Datum args[] = {Int64GetDatum(pool_id),
		                member_key,
		                Int64GetDatum(part.grant_id),
		                Int64GetDatum(-part.amount),
		                Int64GetDatum(part.amount),
		                Int64GetDatum(hold_id),
		                feature};
		bool nulls[] = {false, false, false, false, false, false, !req.feature};
		spi.Run(insert_hold_entry, args, nulls);
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
	LapseDueHolds(rows, spi, pool, req, now, expires_at);
	const Spend spend = DecideSpend(spi, pool, req, now);
	if (!spend.Succeeded())
		throw *spend.decision.error;
	EnrollMember(spi, pool, req.member);
	RecordHold(spi, pool, req, expires_at, spend);
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
