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

#include "pg/holds_settle.hpp"
#include "pg/ledger_row.hpp"

extern "C" {
#include "utils/inval.h"
}

#include <string>

namespace credits::pg {

namespace {

Statement enroll_member{"INSERT INTO credits.members (pool_id, member, period_start, used, held)"
                        " VALUES ($1, $2, $3, $4, $5)",
                        {INT8OID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID}};

// The caps on a feature, each with the calls inside its window: the
// member's, or (scope pool) all members'. A 0.2 schema has member caps only.
std::string CapsSql(bool scoped) {
	const std::string calls = "(SELECT count(*) FROM credits.ledger l WHERE l.pool_id = $1 AND l.feature = $3"
	                          "   AND l.status = 'succeeded' AND l.feature IS NOT NULL AND l.entry_type IN ('charge', 'hold')"
	                          "   AND l.at > $4 - c.per";
	if (!scoped)
		return "SELECT c.max_calls, c.per::text, 'member', " + calls + " AND l.member = $2)" +
		       " FROM credits.frequency_caps c WHERE c.pool_id = $1 AND c.feature = $3";
	return "SELECT c.max_calls, c.per::text, c.scope, CASE WHEN c.scope = 'pool' THEN " + calls + ") ELSE " + calls +
	       " AND l.member = $2) END FROM credits.frequency_caps c WHERE c.pool_id = $1 AND c.feature = $3"
	       " ORDER BY c.scope = 'pool', c.per";
}
const std::string kCaps = CapsSql(true), kCaps02 = CapsSql(false);
Statement find_caps{kCaps.c_str(), {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}};
Statement find_caps_0_2{kCaps02.c_str(), {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}};
enum CapColumn { kCapMaxCalls = 1, kCapPer, kCapScope, kCapCalls };

Statement find_budget{"SELECT used, held, credit_limit, period, period_start FROM credits.budgets"
                      " WHERE pool_id = $1 AND budget = $2",
                      {INT8OID, TEXTOID}};
enum BudgetColumn { kBudgetUsed = 1, kBudgetHeld, kBudgetLimit, kBudgetPeriod, kBudgetPeriodStart };

// Finds the pool's row by its key into Slot(kPools); CR004 when none.
void FindPool(Rows &rows, const std::string &pool, Snapshot snapshot) {
	ScanKeyValue key{StringToText(pool), true};
	rows.BeginScan(Table::kPools, CurrentLayout().pools_by_key, &key, 1, snapshot);
	const bool found = rows.Next();
	rows.EndScan();
	if (!found)
		throw UnknownPool(pool);
}

// The pool's columns from Slot(kPools).
void ReadPool(Rows &rows, PoolState &state) {
	const AttrNumber *col = CurrentLayout().pools;
	TupleTableSlot *slot = rows.Slot(Table::kPools);
	state.pool_id = DatumGetInt64(Get(slot, col[PoolCol::kPoolId]).value);
	Column next = Get(slot, col[PoolCol::kNextHoldExpiry]);
	state.next_hold_expiry = next.null ? std::nullopt : std::optional<Timestamp>(DatumGetTimestampTz(next.value));
	Column caps = Get(slot, col[PoolCol::kHasCaps]);
	state.has_caps = !caps.null && DatumGetBool(caps.value);
}

// Reads the member and the pool's live lots, as `snapshot` sees them; a
// lot is usable by a spend of `member` for `feature`.
void ReadState(Rows &rows, PoolState &state, const std::string &member, const std::optional<std::string> &feature,
               Timestamp now, Snapshot snapshot) {
	const Layout &l = CurrentLayout();
	{
		const AttrNumber *col = l.members;
		ScanKeyValue keys[] = {{Int64GetDatum(state.pool_id), false}, {StringToText(member), true}};
		rows.BeginScan(Table::kMembers, l.members_pkey, keys, 2, snapshot);
		std::optional<MemberColumns> found;
		if (rows.Next()) {
			TupleTableSlot *slot = rows.Slot(Table::kMembers);
			MemberColumns m;
			Column limit = Get(slot, col[MemberCol::kCreditLimit]);
			if (!limit.null)
				m.credit_limit = DatumGetInt64(limit.value);
			m.period = DatumToString(Get(slot, col[MemberCol::kPeriod]).value);
			m.period_start = DatumGetTimestampTz(Get(slot, col[MemberCol::kPeriodStart]).value);
			m.used = DatumGetInt64(Get(slot, col[MemberCol::kUsed]).value);
			m.held = DatumGetInt64(Get(slot, col[MemberCol::kHeld]).value);
			m.revoked = DatumGetBool(Get(slot, col[MemberCol::kRevoked]).value);
			if (Column budget = Get(slot, col[MemberCol::kBudget]); !budget.null)
				m.budget = DatumToString(budget.value);
			found = m;
			state.member_row = slot->tts_tid;
		}
		rows.EndScan();
		state.member = MakeMember(found, now);
	}
	state.lots.clear();
	state.lot_rows.clear();
	const AttrNumber *col = l.grants;
	ScanKeyValue key{Int64GetDatum(state.pool_id), false};
	rows.BeginScan(Table::kGrants, l.grants_pkey, &key, 1, snapshot);
	while (rows.Next()) {
		TupleTableSlot *slot = rows.Slot(Table::kGrants);
		const Micros remaining = DatumGetInt64(Get(slot, col[GrantCol::kRemaining]).value);
		const Timestamp effective_at = DatumGetTimestampTz(Get(slot, col[GrantCol::kEffectiveAt]).value);
		Column expires_at = Get(slot, col[GrantCol::kExpiresAt]);
		if (remaining <= 0 || !Get(slot, col[GrantCol::kVoidedAt]).null || !Get(slot, col[GrantCol::kExpiredAt]).null ||
		    effective_at > now || (!expires_at.null && DatumGetTimestampTz(expires_at.value) <= now))
			continue;
		Lot lot;
		lot.grant_id = DatumGetInt64(Get(slot, col[GrantCol::kGrantId]).value);
		lot.rank = DatumGetInt32(Get(slot, col[GrantCol::kRank]).value);
		lot.expires_at = expires_at.null ? kEndOfTime : DatumGetTimestampTz(expires_at.value);
		lot.effective_at = effective_at;
		lot.remaining = remaining;
		LotScope scope;
		if (Column owner = Get(slot, col[GrantCol::kMember]); !owner.null)
			scope.member = DatumToString(owner.value);
		if (Column features = Get(slot, col[GrantCol::kFeatures]); !features.null)
			scope.features = TextArrayToStrings(features.value);
		lot.usable = UsableBy(scope, member, feature);
		state.lots.push_back(lot);
		state.lot_rows.push_back(slot->tts_tid);
	}
	rows.EndScan();
}

} // namespace

Member MakeMember(const std::optional<MemberColumns> &row, Timestamp now) {
	Member m;
	if (!row) {
		m.period_start = PeriodStart(Period::kMonth, now);
		return m;
	}
	m.known = true;
	m.usage.period = ParsePeriod(row->period).value_or(Period::kMonth);
	m.period_start = PeriodStart(m.usage.period, now);
	m.stored_period_current = row->period_start == m.period_start;
	m.usage.limit = row->credit_limit;
	m.usage.used = m.stored_period_current ? row->used : 0;
	m.usage.held = row->held;
	m.usage.revoked = row->revoked;
	m.budget = row->budget;
	return m;
}

Member ReadMember(SpiSession &spi, uint64_t row, int first, Timestamp now) {
	enum { kLimit, kPeriod, kPeriodStart, kUsed, kHeld, kRevoked, kKnown, kBudget };
	if (!spi.Bool(row, first + kKnown))
		return MakeMember(std::nullopt, now);
	MemberColumns m;
	if (!spi.IsNull(row, first + kLimit))
		m.credit_limit = spi.Int64(row, first + kLimit);
	m.period = spi.Text(row, first + kPeriod);
	m.period_start = spi.Int64(row, first + kPeriodStart);
	m.used = spi.Int64(row, first + kUsed);
	m.held = spi.Int64(row, first + kHeld);
	m.revoked = spi.Bool(row, first + kRevoked);
	if (!spi.IsNull(row, first + kBudget))
		m.budget = spi.Text(row, first + kBudget);
	return MakeMember(m, now);
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

std::vector<FrequencyCap> LoadCaps(SpiSession &spi, int64_t pool_id, const std::string &member,
                                   const std::string &feature, Timestamp now) {
	Datum args[] = {Int64GetDatum(pool_id), StringToText(member), StringToText(feature), TimestampTzGetDatum(now)};
	const uint64_t n = spi.Run(InstalledSchema() == Schema::k0_3 ? find_caps : find_caps_0_2, args, nullptr);
	std::vector<FrequencyCap> caps;
	for (uint64_t i = 0; i < n; ++i) {
		FrequencyCap cap;
		cap.feature = feature;
		cap.max_calls = spi.Int32(i, kCapMaxCalls);
		cap.per = spi.Text(i, kCapPer);
		cap.scope = spi.Text(i, kCapScope);
		cap.calls_in_window = spi.Int64(i, kCapCalls);
		caps.push_back(std::move(cap));
	}
	return caps;
}

BudgetUsage LoadBudget(SpiSession &spi, int64_t pool_id, const std::string &budget, Timestamp now) {
	Datum args[] = {Int64GetDatum(pool_id), StringToText(budget)};
	BudgetUsage usage;
	usage.name = budget;
	if (spi.Run(find_budget, args, nullptr) == 0)
		return usage; // removed meanwhile: no cap
	usage.period = ParsePeriod(spi.Text(0, kBudgetPeriod)).value_or(Period::kMonth);
	const bool current = spi.Int64(0, kBudgetPeriodStart) == PeriodStart(usage.period, now);
	usage.used = current ? spi.Int64(0, kBudgetUsed) : 0;
	usage.held = spi.Int64(0, kBudgetHeld);
	if (!spi.IsNull(0, kBudgetLimit))
		usage.limit = spi.Int64(0, kBudgetLimit);
	return usage;
}

namespace {

// The schema cache: reset by any relcache invalidation. Those are rare next
// to charges (DDL, VACUUM and ANALYZE send them), and an update always sends
// one, whichever relations it touches.
bool schema_known = false;
Schema schema = Schema::k0_3;

void InvalidateSchema(Datum, Oid) {
	schema_known = false;
	ResetLayout();
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

namespace {

// Bumps the version of the pool row in Slot(kPools) (lowering its next hold
// expiry to a new hold's); with `if_latest`, only if no other transaction
// changed the row since it was read (false then).
bool BumpPool(Rows &rows, LockedPool &locked, std::optional<Timestamp> hold_expiry, bool if_latest) {
	const Layout &l = CurrentLayout();
	ReadPool(rows, locked);
	TupleTableSlot *slot = rows.Slot(Table::kPools);
	AttrNumber columns[2] = {l.pools[PoolCol::kVersion], l.pools[PoolCol::kNextHoldExpiry]};
	Datum values[2] = {Int64GetDatum(DatumGetInt64(Get(slot, columns[0]).value) + 1), Datum(0)};
	bool nulls[2] = {false, false};
	int changed = 1;
	// a reserve lowers the next hold expiry to its hold's in the same write
	if (hold_expiry && columns[1] != 0 && (!locked.next_hold_expiry || *hold_expiry < *locked.next_hold_expiry)) {
		locked.next_hold_expiry = *hold_expiry;
		values[1] = TimestampTzGetDatum(*hold_expiry);
		changed = 2;
	}
	if (if_latest)
		return rows.UpdateIfLatest(Table::kPools, columns, values, nulls, changed);
	rows.Update(Table::kPools, columns, values, nulls, changed);
	return true;
}

// Locks the pool row in Slot(kPools), found with `snapshot`, by bumping its
// version; returns whether the lock waited for a writer that committed (read
// again then). The update goes straight to the row found when no one changed
// it since (the common case: one write, no separate row lock); otherwise the
// row is locked first, which follows it to its latest version.
bool LockFoundPool(Rows &rows, Snapshot snapshot, LockedPool &locked, std::optional<Timestamp> hold_expiry,
                   const std::string &what) {
	bool moved = false;
	if (!BumpPool(rows, locked, hold_expiry, true)) {
		if (!rows.LockRow(Table::kPools, snapshot, &moved))
			throw UnknownPool(what); // dropped meanwhile
		BumpPool(rows, locked, hold_expiry, false);
	}
	locked.entry_id = NextEntryId();
	return moved;
}

} // namespace

LockedPool LockPool(Rows &rows, const SpendRequest &req, Timestamp now, std::optional<Timestamp> hold_expiry) {
	Snapshot snapshot = rows.WriteSnapshot();
	FindPool(rows, req.pool, snapshot);
	LockedPool locked;
	// the lock waited for a writer that committed: read what it wrote
	if (LockFoundPool(rows, snapshot, locked, hold_expiry, req.pool))
		snapshot = rows.WriteSnapshot();
	ReadState(rows, locked, req.member, req.feature, now, snapshot);
	return locked;
}

std::string LockPoolById(Rows &rows, int64_t pool_id, Timestamp now, int *lapsed) {
	const Layout &l = CurrentLayout();
	Snapshot snapshot = rows.WriteSnapshot();
	ScanKeyValue key{Int64GetDatum(pool_id), false};
	rows.BeginScan(Table::kPools, l.pools_pkey, &key, 1, snapshot);
	const bool found = rows.Next();
	rows.EndScan();
	if (!found)
		throw UnknownPool(std::to_string(pool_id));
	LockedPool locked;
	LockFoundPool(rows, snapshot, locked, std::nullopt, std::to_string(pool_id));
	const std::string pool = DatumToString(Get(rows.Slot(Table::kPools), l.pools[PoolCol::kPool]).value);
	const int n = locked.next_hold_expiry && *locked.next_hold_expiry <= now
	                  ? LapseHolds(rows, pool_id, now, std::nullopt)
	                  : 0;
	if (lapsed)
		*lapsed = n;
	rows.Advance();
	return pool;
}

ItemPointerData LotRow(const PoolState &pool, int64_t grant_id) {
	for (size_t i = 0; i < pool.lots.size(); ++i)
		if (pool.lots[i].grant_id == grant_id)
			return pool.lot_rows[i];
	throw Error(sqlstate::kInsufficientCredits, "credits changed during a spend");
}

void ReadStateOf(Rows &rows, PoolState &state, const std::string &member, Timestamp now) {
	ReadState(rows, state, member, std::nullopt, now, rows.WriteSnapshot());
}

PoolState LoadPool(Rows &rows, const std::string &pool, const std::string &member,
                   const std::optional<std::string> &feature, Timestamp now) {
	PoolState state;
	Snapshot snapshot = Rows::ActiveSnapshot();
	FindPool(rows, pool, snapshot);
	ReadPool(rows, state);
	ReadState(rows, state, member, feature, now, snapshot);
	return state;
}

void LapseDueHolds(Rows &rows, LockedPool &pool, const SpendRequest &req, Timestamp now,
                   std::optional<Timestamp> hold_expiry) {
	if (!pool.next_hold_expiry || *pool.next_hold_expiry > now)
		return;
	LapseHolds(rows, pool.pool_id, now, hold_expiry);
	// the lapse gave credits back to grants and took held usage off members
	rows.Advance();
	ReadState(rows, pool, req.member, req.feature, now, rows.WriteSnapshot());
}

void EnrollMember(SpiSession &spi, const LockedPool &pool, const std::string &member, Micros used, Micros held) {
	if (pool.member.known)
		return;
	Datum args[] = {Int64GetDatum(pool.pool_id), StringToText(member), TimestampTzGetDatum(pool.member.period_start),
	                Int64GetDatum(used), Int64GetDatum(held)};
	spi.Run(enroll_member, args, nullptr);
}

Spend DecideSpend(SpiSession &spi, const LockedPool &pool, const SpendRequest &req, Timestamp now) {
	Spend spend;
	std::vector<FrequencyCap> caps;
	if (pool.has_caps && req.feature)
		caps = LoadCaps(spi, pool.pool_id, req.member, *req.feature, now);
	std::optional<BudgetUsage> budget;
	if (pool.member.budget)
		budget = LoadBudget(spi, pool.pool_id, *pool.member.budget, now);
	spend.pool_available = TotalRemaining(pool.lots, false);
	spend.decision =
	    DecideCharge(req.pool, req.member, pool.member.usage, req.amount, TotalRemaining(pool.lots, true), caps, budget);
	if (spend.Succeeded()) {
		auto allocated = Allocate(pool.lots, req.amount);
		if (!allocated) // DecideCharge saw enough credits; this cannot happen
			throw Error(sqlstate::kInsufficientCredits, "credits changed during a charge");
		spend.parts = std::move(*allocated);
	}
	return spend;
}

} // namespace credits::pg
