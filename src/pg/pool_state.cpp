// Locking a pool and loading its state for a spend.
//
// Every write takes the pool row first (UPDATE ... version + 1): that one
// lock orders all operations on a pool, so they cannot deadlock. The same
// statement reads the member and the pool's live grants. That read uses the
// statement's snapshot, taken before the lock was granted: it is exact when
// no other transaction changed the pool between the two, which the statement
// checks by comparing the version its snapshot sees with the one it locked
// (every write to a pool's rows bumps the version first). When they differ
// (the lock waited for a writer that then committed), a second statement,
// with a fresh snapshot, reads the state again. At REPEATABLE READ or
// SERIALIZABLE a pool changed after the caller's snapshot raises 40001
// instead. DecideSpend applies the core's rules to the state.
#include "pg/pool_state.hpp"

#include "pg/boundary.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "utils/inval.h"
}

#include <string>

namespace credits::pg {

namespace {

// The state columns, after five pool columns: $2 is the member, $3 now.
const std::string kStateColumns =
    " m.credit_limit, m.period, m.period_start, m.used, m.held, m.revoked, m.member IS NOT NULL,"
    " g.grant_id, g.rank, g.expires_at, g.effective_at, g.remaining, (g.member IS NULL OR g.member = $2)";
std::string StateJoins(const char *pool) {
	return std::string(" LEFT JOIN credits.members m ON m.pool_id = ") + pool + ".pool_id AND m.member = $2" +
	       " LEFT JOIN credits.grants g ON g.pool_id = " + pool + ".pool_id AND g.remaining > 0" +
	       " AND g.voided_at IS NULL AND g.expired_at IS NULL AND g.effective_at <= $3" +
	       " AND (g.expires_at IS NULL OR g.expires_at > $3)";
}
enum StateColumn {
	kPoolId = 1,
	kEntryId,
	kNextHoldExpiry,
	kHasCaps,
	kFresh,
	kMemberLimit,
	kMemberPeriod,
	kMemberPeriodStart,
	kMemberUsed,
	kMemberHeld,
	kMemberRevoked,
	kMemberKnown,
	kLotGrantId,
	kLotRank,
	kLotExpiresAt,
	kLotEffectiveAt,
	kLotRemaining,
	kLotUsable
};

// Locks the pool ($1) and reads its state. A reserve ($4: its hold's expiry,
// NULL for a charge, which least() ignores) lowers the pool's next hold
// expiry in the same write. The expiry returned is the new one: a new hold
// expires after now, so it is due exactly when the old one was. (A replayed
// reserve lowers it too, to a time no pending hold has: the pool's first
// write after that time lapses nothing and sets it right.) `fresh`: the
// snapshot saw the version this write replaced.
std::string LockSql(bool v01) {
	return std::string("WITH l AS (UPDATE credits.pools p SET version = p.version + 1") +
	       (v01 ? "" : ", next_hold_expiry = least(p.next_hold_expiry, $4)") +
	       " WHERE p.pool = $1 RETURNING p.pool_id, nextval('credits.ledger_entry_id_seq') AS entry_id," +
	       (v01 ? " NULL::timestamptz AS next_hold_expiry, false AS has_caps," : " p.next_hold_expiry, p.has_caps,") +
	       " (SELECT s.version FROM credits.pools s WHERE s.pool_id = p.pool_id) = p.version - 1 AS fresh)"
	       " SELECT l.pool_id, l.entry_id, l.next_hold_expiry, l.has_caps, l.fresh," +
	       kStateColumns + " FROM l" + StateJoins("l");
}
// The state read by the pool's key, without a lock.
std::string LoadSql(bool v01) {
	return std::string("SELECT p.pool_id, NULL::int8, ") +
	       (v01 ? "NULL::timestamptz, false," : "p.next_hold_expiry, p.has_caps,") + " true," + kStateColumns +
	       " FROM credits.pools p" + StateJoins("p") + " WHERE p.pool = $1";
}
const std::string kLock = LockSql(false), kLock01 = LockSql(true), kLoad = LoadSql(false), kLoad01 = LoadSql(true);
Statement lock_pool{kLock.c_str(), {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}};
Statement lock_pool_0_1{kLock01.c_str(), {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}};
Statement load_pool{kLoad.c_str(), {TEXTOID, TEXTOID, TIMESTAMPTZOID}};
Statement load_pool_0_1{kLoad01.c_str(), {TEXTOID, TEXTOID, TIMESTAMPTZOID}};

Statement lapse_holds{"SELECT credits._lapse_holds($1, $2)", {INT8OID, TIMESTAMPTZOID}};

Statement lower_hold_expiry{
    "UPDATE credits.pools SET next_hold_expiry = least(next_hold_expiry, $2) WHERE pool_id = $1",
    {INT8OID, TIMESTAMPTZOID}};

Statement enroll_member{"INSERT INTO credits.members (pool_id, member, period_start) VALUES ($1, $2, $3)",
                        {INT8OID, TEXTOID, TIMESTAMPTZOID}};

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

// Decodes the rows of a lock or load statement (one per live lot, at least
// one) into `state`; returns whether the read was fresh.
bool ReadState(SpiSession &spi, uint64_t rows, PoolState &state, Timestamp now) {
	state.pool_id = spi.Int64(0, kPoolId);
	state.next_hold_expiry = OptionalTimestamp(spi, 0, kNextHoldExpiry);
	state.has_caps = spi.Bool(0, kHasCaps);
	state.member = ReadMember(spi, 0, kMemberLimit, now);
	state.lots.clear();
	state.lots.reserve(rows);
	for (uint64_t i = 0; i < rows; ++i)
		if (!spi.IsNull(i, kLotGrantId))
			state.lots.push_back(ReadLot(spi, i, kLotGrantId));
	return spi.Bool(0, kFresh);
}

// Reads the pool's state by its key, with a fresh snapshot.
uint64_t RunLoad(SpiSession &spi, const std::string &pool, const std::string &member, Timestamp now) {
	Datum args[] = {StringToText(pool), StringToText(member), TimestampTzGetDatum(now)};
	uint64_t rows = spi.Run(InstalledSchema() == Schema::k0_1 ? load_pool_0_1 : load_pool, args, nullptr);
	if (rows == 0)
		throw UnknownPool(pool);
	return rows;
}

} // namespace

Member ReadMember(SpiSession &spi, uint64_t row, int first, Timestamp now) {
	enum { kLimit, kPeriod, kPeriodStart, kUsed, kHeld, kRevoked, kKnown };
	Member m;
	m.known = spi.Bool(row, first + kKnown);
	if (!m.known) {
		m.period_start = PeriodStart(Period::kMonth, now);
		return m;
	}
	m.usage.period = ParsePeriod(spi.Text(row, first + kPeriod)).value_or(Period::kMonth);
	m.period_start = PeriodStart(m.usage.period, now);
	m.stored_period_current = spi.Int64(row, first + kPeriodStart) == m.period_start;
	if (!spi.IsNull(row, first + kLimit))
		m.usage.limit = spi.Int64(row, first + kLimit);
	m.usage.used = m.stored_period_current ? spi.Int64(row, first + kUsed) : 0;
	m.usage.held = spi.Int64(row, first + kHeld);
	m.usage.revoked = spi.Bool(row, first + kRevoked);
	return m;
}

Lot ReadLot(SpiSession &spi, uint64_t row, int first) {
	enum { kGrantId, kRank, kExpiresAt, kEffectiveAt, kRemaining, kUsable };
	Lot lot;
	lot.grant_id = spi.Int64(row, first + kGrantId);
	lot.rank = spi.Int32(row, first + kRank);
	lot.expires_at = spi.IsNull(row, first + kExpiresAt) ? kEndOfTime : spi.Int64(row, first + kExpiresAt);
	lot.effective_at = spi.Int64(row, first + kEffectiveAt);
	lot.remaining = spi.Int64(row, first + kRemaining);
	lot.usable = spi.Bool(row, first + kUsable);
	return lot;
}

std::optional<FrequencyCap> LoadCap(SpiSession &spi, int64_t pool_id, const std::string &member,
                                    const std::string &feature, Timestamp now) {
	Datum args[] = {Int64GetDatum(pool_id), StringToText(member), StringToText(feature), TimestampTzGetDatum(now)};
	if (spi.Run(find_cap, args, nullptr) == 0)
		return std::nullopt;
	FrequencyCap cap;
	cap.feature = feature;
	cap.max_calls = spi.Int32(0, kCapMaxCalls);
	cap.per = spi.Text(0, kCapPer);
	cap.calls_in_window = spi.Int64(0, kCapCalls);
	return cap;
}

namespace {

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

LockedPool LockPool(SpiSession &spi, const std::string &pool, const std::string &member, Timestamp now,
                    std::optional<Timestamp> hold_expiry) {
	Datum args[] = {StringToText(pool), StringToText(member), TimestampTzGetDatum(now),
	                TimestampTzGetDatum(hold_expiry.value_or(0))};
	bool nulls[] = {false, false, false, !hold_expiry};
	uint64_t rows = spi.Run(InstalledSchema() == Schema::k0_1 ? lock_pool_0_1 : lock_pool, args, nulls);
	if (rows == 0)
		throw UnknownPool(pool);
	LockedPool locked;
	locked.entry_id = spi.Int64(0, kEntryId);
	if (!ReadState(spi, rows, locked, now)) // the lock waited for another writer: read what it committed
		ReadState(spi, RunLoad(spi, pool, member, now), locked, now);
	return locked;
}

PoolState LoadPool(SpiSession &spi, const std::string &pool, const std::string &member, Timestamp now) {
	PoolState state;
	ReadState(spi, RunLoad(spi, pool, member, now), state, now);
	return state;
}

void LapseDueHolds(SpiSession &spi, LockedPool &pool, const SpendRequest &req, Timestamp now,
                   std::optional<Timestamp> hold_expiry) {
	if (!pool.next_hold_expiry || *pool.next_hold_expiry > now)
		return;
	Datum args[] = {Int64GetDatum(pool.pool_id), TimestampTzGetDatum(now)};
	spi.Run(lapse_holds, args, nullptr);
	if (hold_expiry) {
		Datum expiry[] = {Int64GetDatum(pool.pool_id), TimestampTzGetDatum(*hold_expiry)};
		spi.Run(lower_hold_expiry, expiry, nullptr);
	}
	// the lapse gave credits back to grants and took held usage off members
	const int64_t entry_id = pool.entry_id;
	ReadState(spi, RunLoad(spi, req.pool, req.member, now), pool, now);
	pool.entry_id = entry_id;
}

void EnrollMember(SpiSession &spi, const LockedPool &pool, const std::string &member) {
	if (pool.member.known)
		return;
	Datum args[] = {Int64GetDatum(pool.pool_id), StringToText(member), TimestampTzGetDatum(pool.member.period_start)};
	spi.Run(enroll_member, args, nullptr);
}

Spend DecideSpend(SpiSession &spi, const LockedPool &pool, const SpendRequest &req, Timestamp now) {
	Spend spend;
	std::optional<FrequencyCap> cap;
	if (pool.has_caps && req.feature)
		cap = LoadCap(spi, pool.pool_id, req.member, *req.feature, now);
	spend.pool_available = TotalRemaining(pool.lots, false);
	spend.decision =
	    DecideCharge(req.pool, req.member, pool.member.usage, req.amount, TotalRemaining(pool.lots, true), cap);
	if (spend.Succeeded()) {
		auto allocated = Allocate(pool.lots, req.amount);
		if (!allocated) // DecideCharge saw enough credits; this cannot happen
			throw Error(sqlstate::kInsufficientCredits, "credits changed during a charge");
		spend.parts = std::move(*allocated);
	}
	return spend;
}

} // namespace credits::pg
