// Locking a pool and loading its state for a spend.
//
// Every write takes the pool row first (UPDATE ... version + 1): that one
// lock orders all operations on a pool, so they cannot deadlock, and each
// later statement of the call reads what the previous holder committed (a
// fresh snapshot per statement at READ COMMITTED; a 40001 at REPEATABLE READ
// or SERIALIZABLE when the pool changed after the caller's snapshot). The
// member, its limit, the pool's live grants and the feature's frequency cap
// are read after that lock, and DecideSpend applies the core's rules to them.
#include "pg/pool_state.hpp"

#include "pg/boundary.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "utils/inval.h"
}

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
// The same for a 0.1 schema: its pools have no holds and no caps.
Statement lock_pool_0_1{"UPDATE credits.pools SET version = version + 1 WHERE pool = $1"
                        " RETURNING pool_id, nextval('credits.ledger_entry_id_seq'), NULL::timestamptz, false",
                        {TEXTOID, TIMESTAMPTZOID}};
enum LockPoolColumn { kLockPoolId = 1, kLockEntryId, kLockNextHoldExpiry, kLockHasCaps };

Statement find_pool{"SELECT pool_id, next_hold_expiry FROM credits.pools WHERE pool = $1", {TEXTOID}};
Statement find_pool_0_1{"SELECT pool_id, NULL::timestamptz FROM credits.pools WHERE pool = $1", {TEXTOID}};
enum FindPoolColumn { kFindPoolId = 1, kFindNextHoldExpiry };

Statement lapse_holds{"SELECT credits._lapse_holds($1, $2)", {INT8OID, TIMESTAMPTZOID}};

Statement lower_hold_expiry{
    "UPDATE credits.pools SET next_hold_expiry = least(next_hold_expiry, $2) WHERE pool_id = $1",
    {INT8OID, TIMESTAMPTZOID}};

Statement find_member{"SELECT credit_limit, period, period_start, used, held, revoked"
                      "  FROM credits.members WHERE pool_id = $1 AND member = $2",
                      {INT8OID, TEXTOID}};
enum MemberColumn { kMemberLimit = 1, kMemberPeriod, kMemberPeriodStart, kMemberUsed, kMemberHeld, kMemberRevoked };

Statement enroll_member{"INSERT INTO credits.members (pool_id, member, period_start) VALUES ($1, $2, $3)",
                        {INT8OID, TEXTOID, TIMESTAMPTZOID}};

Statement live_lots{"SELECT grant_id, rank, expires_at, effective_at, remaining, (member IS NULL OR member = $3)"
                    "  FROM credits.grants"
                    " WHERE pool_id = $1 AND remaining > 0 AND voided_at IS NULL AND expired_at IS NULL"
                    "   AND effective_at <= $2 AND (expires_at IS NULL OR expires_at > $2)",
                    {INT8OID, TIMESTAMPTZOID, TEXTOID}};
enum LotColumn { kLotGrantId = 1, kLotRank, kLotExpiresAt, kLotEffectiveAt, kLotRemaining, kLotUsable };

// The cap on a feature, and the member's calls of it inside the window.
Statement find_cap{"SELECT c.max_calls, c.per::text,"
                   "       (SELECT count(*) FROM credits.ledger l"
                   "         WHERE l.pool_id = $1 AND l.member = $2 AND l.feature = $3 AND l.status = 'succeeded'"
                   "           AND l.feature IS NOT NULL AND l.entry_type IN ('charge', 'hold') AND l.at > $4 - c.per)"
                   "  FROM credits.frequency_caps c WHERE c.pool_id = $1 AND c.feature = $3",
                   {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}};
enum CapColumn { kCapMaxCalls = 1, kCapPer, kCapCalls };

std::optional<Timestamp> OptionalTimestamp(SpiSession &spi, uint64_t row, int column) {
	if (spi.IsNull(row, column))
		return std::nullopt;
	return spi.Int64(row, column);
}

std::optional<FrequencyCap> LoadCap(SpiSession &spi, int64_t pool_id, const SpendRequest &req, Timestamp now) {
	Datum args[] = {Int64GetDatum(pool_id), StringToText(req.member), StringToText(*req.feature),
	                TimestampTzGetDatum(now)};
	if (spi.Run(find_cap, args, nullptr) == 0)
		return std::nullopt;
	FrequencyCap cap;
	cap.feature = *req.feature;
	cap.max_calls = spi.Int32(0, kCapMaxCalls);
	cap.per = spi.Text(0, kCapPer);
	cap.calls_in_window = spi.Int64(0, kCapCalls);
	return cap;
}

// The schema cache: reset by any relcache invalidation. Those are rare next
// to charges (DDL, VACUUM and ANALYZE send them), and an update always sends
// one, whichever relations it touches.
bool schema_known = false;
Schema schema = Schema::k0_3;

void InvalidateSchema(Datum, Oid) {
	schema_known = false;
}

} // namespace

void InitSchemaCache() {
	CacheRegisterRelcacheCallback(InvalidateSchema, Datum(0));
}

Schema InstalledSchema() {
	if (!schema_known) {
		schema = Guard([] {
			Oid ns = get_namespace_oid("credits", false);
			if (OidIsValid(get_relname_relid("_lapsed_hold_parts", ns)))
				return Schema::k0_3;
			Oid pools = get_relname_relid("pools", ns);
			if (OidIsValid(pools) && get_attnum(pools, "next_hold_expiry") != InvalidAttrNumber)
				return Schema::k0_2;
			return Schema::k0_1;
		});
		schema_known = true;
	}
	return schema;
}

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

LockedPool LockPool(SpiSession &spi, const std::string &pool, std::optional<Timestamp> hold_expiry) {
	Datum args[] = {StringToText(pool), TimestampTzGetDatum(hold_expiry.value_or(0))};
	bool nulls[] = {false, !hold_expiry};
	if (spi.Run(InstalledSchema() == Schema::k0_1 ? lock_pool_0_1 : lock_pool, args, nulls) == 0)
		throw UnknownPool(pool);
	LockedPool locked;
	locked.pool_id = spi.Int64(0, kLockPoolId);
	locked.entry_id = spi.Int64(0, kLockEntryId);
	locked.next_hold_expiry = OptionalTimestamp(spi, 0, kLockNextHoldExpiry);
	locked.has_caps = spi.Bool(0, kLockHasCaps);
	return locked;
}

void LapseDueHolds(SpiSession &spi, const LockedPool &pool, Timestamp now, std::optional<Timestamp> hold_expiry) {
	if (!pool.next_hold_expiry || *pool.next_hold_expiry > now)
		return;
	Datum args[] = {Int64GetDatum(pool.pool_id), TimestampTzGetDatum(now)};
	spi.Run(lapse_holds, args, nullptr);
	if (hold_expiry) {
		Datum expiry[] = {Int64GetDatum(pool.pool_id), TimestampTzGetDatum(*hold_expiry)};
		spi.Run(lower_hold_expiry, expiry, nullptr);
	}
}

PoolRow FindPool(SpiSession &spi, const std::string &pool) {
	Datum key = StringToText(pool);
	if (spi.Run(InstalledSchema() == Schema::k0_1 ? find_pool_0_1 : find_pool, &key, nullptr) == 0)
		throw UnknownPool(pool);
	PoolRow row;
	row.pool_id = spi.Int64(0, kFindPoolId);
	row.next_hold_expiry = OptionalTimestamp(spi, 0, kFindNextHoldExpiry);
	return row;
}

Member LoadMember(SpiSession &spi, int64_t pool_id, const std::string &member, Timestamp now, bool enroll) {
	Member m;
	Datum key = StringToText(member);
	Datum args[] = {Int64GetDatum(pool_id), key};
	if (spi.Run(find_member, args, nullptr) == 0) {
		m.period_start = PeriodStart(Period::kMonth, now);
		if (enroll) {
			Datum ins[] = {Int64GetDatum(pool_id), key, TimestampTzGetDatum(m.period_start)};
			spi.Run(enroll_member, ins, nullptr);
		}
		return m;
	}
	m.usage.period = ParsePeriod(spi.Text(0, kMemberPeriod)).value_or(Period::kMonth);
	m.period_start = PeriodStart(m.usage.period, now);
	m.stored_period_current = spi.Int64(0, kMemberPeriodStart) == m.period_start;
	if (!spi.IsNull(0, kMemberLimit))
		m.usage.limit = spi.Int64(0, kMemberLimit);
	m.usage.used = m.stored_period_current ? spi.Int64(0, kMemberUsed) : 0;
	m.usage.held = spi.Int64(0, kMemberHeld);
	m.usage.revoked = spi.Bool(0, kMemberRevoked);
	return m;
}

std::vector<Lot> LoadLots(SpiSession &spi, int64_t pool_id, const std::string &member, Timestamp now) {
	Datum args[] = {Int64GetDatum(pool_id), TimestampTzGetDatum(now), StringToText(member)};
	uint64_t n = spi.Run(live_lots, args, nullptr);
	std::vector<Lot> lots;
	lots.reserve(n);
	for (uint64_t i = 0; i < n; ++i) {
		Lot lot;
		lot.grant_id = spi.Int64(i, kLotGrantId);
		lot.rank = spi.Int32(i, kLotRank);
		lot.expires_at = spi.IsNull(i, kLotExpiresAt) ? kEndOfTime : spi.Int64(i, kLotExpiresAt);
		lot.effective_at = spi.Int64(i, kLotEffectiveAt);
		lot.remaining = spi.Int64(i, kLotRemaining);
		lot.usable = spi.Bool(i, kLotUsable);
		lots.push_back(lot);
	}
	return lots;
}

Spend DecideSpend(SpiSession &spi, const LockedPool &pool, const SpendRequest &req, Timestamp now) {
	Spend spend;
	spend.member = LoadMember(spi, pool.pool_id, req.member, now, true);
	std::vector<Lot> lots = LoadLots(spi, pool.pool_id, req.member, now);
	std::optional<FrequencyCap> cap;
	if (pool.has_caps && req.feature)
		cap = LoadCap(spi, pool.pool_id, req, now);
	spend.pool_available = TotalRemaining(lots, false);
	spend.decision =
	    DecideCharge(req.pool, req.member, spend.member.usage, req.amount, TotalRemaining(lots, true), cap);
	if (spend.Succeeded()) {
		auto allocated = Allocate(std::move(lots), req.amount);
		if (!allocated) // DecideCharge saw enough credits; this cannot happen
			throw Error(sqlstate::kInsufficientCredits, "credits changed during a charge");
		spend.parts = std::move(*allocated);
	}
	return spend;
}

} // namespace credits::pg
