// credits.charge_many: many charges in one call, set-based. Every event is
// decided as try_charge would decide it, in array order, but the call locks
// all its pools in one statement (in pool key order, so that two batches
// over the same pools cannot deadlock), reads every member, grant and
// idempotency key it needs in one statement each, decides in C++, and
// records everything in four statements (grants, members updated, members
// enrolled, ledger). A refusal is a status; any other error (22023, 22004,
// CR004, CR005) aborts the whole call.
#include "core/error.hpp"
#include "core/key.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/pool_state.hpp"
#include "pg/spi.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

namespace credits::pg {

namespace {

// Locks the pools named in $1, in key order, bumping each one's version
// (the one lock order of every write, see pool_state.cpp).
Statement lock_pools{"WITH locked AS (SELECT pool_id FROM credits.pools WHERE pool = ANY($1) ORDER BY pool FOR UPDATE)"
                     " UPDATE credits.pools p SET version = p.version + 1 FROM locked l WHERE p.pool_id = l.pool_id"
                     " RETURNING p.pool, p.pool_id, p.next_hold_expiry, p.has_caps",
                     {TEXTARRAYOID}};
enum LockColumn { kLockPool = 1, kLockPoolId, kLockNextHoldExpiry, kLockHasCaps };

Statement lapse_holds{"SELECT credits._lapse_holds($1, $2)", {INT8OID, TIMESTAMPTZOID}};

// The members of (pool id, member) pairs, known or not, by pair number.
Statement find_members{"SELECT t.i, m.credit_limit, m.period, m.period_start, m.used, m.held, m.revoked,"
                       "       m.member IS NOT NULL, m.budget"
                       "  FROM unnest($1::int8[], $2::text[]) WITH ORDINALITY AS t(pool_id, member, i)"
                       "  LEFT JOIN credits.members m ON m.pool_id = t.pool_id AND m.member = t.member",
                       {INT8ARRAYOID, TEXTARRAYOID}};
enum MemberColumn { kMemberPair = 1, kMemberFirst };

// The live lots of the pools; `usable` is decided per event (the grant's
// member and features, columns 8 and 9).
Statement find_lots{"SELECT g.pool_id, g.grant_id, g.rank, g.expires_at, g.effective_at, g.remaining, true, g.member,"
                    "       g.features"
                    "  FROM credits.grants g"
                    " WHERE g.pool_id = ANY($1) AND g.remaining > 0 AND g.voided_at IS NULL AND g.expired_at IS NULL"
                    "   AND g.effective_at <= $2 AND (g.expires_at IS NULL OR g.expires_at > $2)",
                    {INT8ARRAYOID, TIMESTAMPTZOID}};
enum LotColumn { kLotPoolId = 1, kLotFirst, kLotMember = 8, kLotFeatures };

Statement find_keys{"SELECT l.pool_id, l.idempotency_key, l.entry_id, l.member, l.requested, l.feature,"
                    "       l.balance_after, l.member_used_after"
                    "  FROM unnest($1::int8[], $2::text[]) AS t(pool_id, idempotency_key)"
                    "  JOIN credits.ledger l ON l.pool_id = t.pool_id AND l.idempotency_key = t.idempotency_key"
                    " WHERE l.status = 'succeeded' AND l.entry_type = 'charge'",
                    {INT8ARRAYOID, TEXTARRAYOID}};
enum KeyColumn { kKeyPoolId = 1, kKeyKey, kKeyEntryId, kKeyMember, kKeyRequested, kKeyFeature, kKeyBalance, kKeyUsed };

Statement entry_ids{"SELECT nextval('credits.ledger_entry_id_seq') FROM generate_series(1, $1)", {INT4OID}};

Statement take_from_grants{"UPDATE credits.grants g SET remaining = g.remaining - t.amount"
                           "  FROM unnest($1::int8[], $2::int8[], $3::int8[]) AS t(pool_id, grant_id, amount)"
                           " WHERE g.pool_id = t.pool_id AND g.grant_id = t.grant_id",
                           {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}};

Statement record_usage{"UPDATE credits.members m SET used = t.used, period_start = t.period_start"
                       "  FROM unnest($1::int8[], $2::text[], $3::int8[], $4::timestamptz[])"
                       "       AS t(pool_id, member, used, period_start)"
                       " WHERE m.pool_id = t.pool_id AND m.member = t.member",
                       {INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID}};

Statement enroll_members{"INSERT INTO credits.members (pool_id, member, used, period_start)"
                         " SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::timestamptz[])",
                         {INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID}};

Statement insert_entries{
    "INSERT INTO credits.ledger (entry_id, pool_id, entry_type, member, grant_id, amount, charge_id, status, reason,"
    "  feature, idempotency_key, requested, balance_after, member_used_after, metadata)"
    " SELECT t.entry_id, t.pool_id, 'charge', t.member, t.grant_id, t.amount, t.charge_id, t.status, t.reason,"
    "        t.feature, t.idempotency_key, t.requested, t.balance_after, t.member_used_after, t.metadata"
    "   FROM unnest($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::text[], $8::text[],"
    "               $9::text[], $10::text[], $11::int8[], $12::int8[], $13::int8[], $14::jsonb[])"
    "        AS t(entry_id, pool_id, member, grant_id, amount, charge_id, status, reason, feature, idempotency_key,"
    "             requested, balance_after, member_used_after, metadata)",
    {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
     TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, JSONBARRAYOID}};

// One event: what a single charge names.
using Event = SpendRequest;

struct Outcome {
	int64_t charge_id = 0;
	Status status = Status::kSucceeded;
	Micros charged = 0;
	Micros balance = 0;
	Micros member_used = 0;
	bool replayed = false;
	std::string reason;
};

// An array argument's elements (NULL elements as 0 with isnull set).
struct ArrayArg {
	std::vector<Datum> values;
	std::vector<bool> nulls;
	bool given = false;
};

ArrayArg ReadArray(FunctionCallInfo fcinfo, int n, Oid element_type, const char *what) {
	ArrayArg arg;
	if (PG_ARGISNULL(n))
		return arg;
	arg.given = true;
	Datum *values = nullptr;
	bool *nulls = nullptr;
	int count = 0;
	int ndim = 0;
	Guard([&] {
		ArrayType *array = DatumGetArrayTypeP(PG_GETARG_DATUM(n));
		ndim = ARR_NDIM(array);
		int16 typlen;
		bool typbyval;
		char typalign;
		get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
		deconstruct_array(array, element_type, typlen, typbyval, typalign, &values, &nulls, &count);
	});
	if (ndim > 1)
		throw Error(sqlstate::kInvalidParameter, std::string("invalid ") + what + ": must be a one-dimensional array");
	arg.values.assign(values, values + count);
	arg.nulls.assign(nulls, nulls + count);
	return arg;
}

std::string Element(const char *what, size_t i) {
	return std::string(what) + "[" + std::to_string(i + 1) + "]";
}

std::vector<Event> ReadEvents(FunctionCallInfo fcinfo) {
	static const char *const kNames[] = {"pools", "members", "amounts", "features", "idempotency_keys", "metadata"};
	static const Oid kTypes[] = {TEXTOID, TEXTOID, NUMERICOID, TEXTOID, TEXTOID, JSONBOID};
	for (int i = 0; i < 3; ++i)
		RequireArg(fcinfo, i, kNames[i]);
	ArrayArg arrays[6];
	for (int i = 0; i < 6; ++i)
		arrays[i] = ReadArray(fcinfo, i, kTypes[i], kNames[i]);
	const size_t n = arrays[0].values.size();
	for (int i = 1; i < 6; ++i)
		if (arrays[i].given && arrays[i].values.size() != n)
			throw Error(sqlstate::kInvalidParameter, "arrays of charge_many must have the same length",
			            std::string("pools has ") + std::to_string(n) + " elements, " + kNames[i] + " has " +
			                std::to_string(arrays[i].values.size()) + ".",
			            "Pass one element per charge in every array (NULL elements are allowed in the optional ones).");
	std::vector<Event> events(n);
	for (size_t i = 0; i < n; ++i) {
		for (int a = 0; a < 3; ++a)
			if (arrays[a].nulls[i])
				throw Error(sqlstate::kNullValue, Element(kNames[a], i) + " must not be NULL", {},
				            std::string("Pass a value for every element of ") + kNames[a] + ".");
		Event &e = events[i];
		e.pool = DatumToString(arrays[0].values[i]);
		e.member = DatumToString(arrays[1].values[i]);
		CheckKey(e.member, "member");
		e.amount = NumericToMicros(arrays[2].values[i], "amount");
		if (arrays[3].given && !arrays[3].nulls[i]) {
			e.feature = DatumToString(arrays[3].values[i]);
			CheckKey(*e.feature, "feature");
		}
		if (arrays[4].given && !arrays[4].nulls[i]) {
			e.idempotency_key = DatumToString(arrays[4].values[i]);
			CheckKey(*e.idempotency_key, "idempotency_key");
		}
		if (arrays[5].given && !arrays[5].nulls[i])
			e.metadata = arrays[5].values[i];
	}
	return events;
}

// A lot with who may spend it.
struct PoolLot {
	Lot lot;
	LotScope scope;
};

struct Pool {
	int64_t id = 0;
	std::optional<Timestamp> next_hold_expiry;
	bool has_caps = false;
	std::vector<PoolLot> lots;
	Micros available = 0;
};

struct MemberState {
	Member member;
	bool usage_changed = false;
};

// The first charge of a (pool, key): from the ledger, or made earlier in
// this call.
struct KeyedCharge {
	std::string member;
	Micros amount = 0;
	std::optional<std::string> feature;
	Outcome outcome;             // from the ledger
	std::optional<size_t> event; // or: the event of this call that made it
};

// Rows of the ledger the call writes, column by column.
struct Entries {
	std::vector<std::optional<int64_t>> entry_id, pool_id, grant_id, amount, charge_id, requested, balance, used;
	std::vector<Datum> member, status, reason, feature, key, metadata;
	std::vector<bool> reason_null, feature_null, key_null, metadata_null, head;
};

Datum TextArray(const std::vector<std::string> &values) {
	std::vector<Datum> datums;
	datums.reserve(values.size());
	for (const std::string &v : values)
		datums.push_back(StringToText(v));
	return Guard([&] {
		return PointerGetDatum(
		    construct_array(datums.data(), static_cast<int>(datums.size()), TEXTOID, -1, false, TYPALIGN_INT));
	});
}

// An array of varlena datums, NULL where nulls[i].
Datum VarlenaArray(const std::vector<Datum> &values, const std::vector<bool> &nulls, Oid type) {
	std::vector<Datum> datums(values);
	std::unique_ptr<bool[]> flags(new bool[values.size() + 1]);
	for (size_t i = 0; i < values.size(); ++i)
		flags[i] = nulls[i];
	return Guard([&] {
		int dims[1] = {static_cast<int>(datums.size())};
		int lbs[1] = {1};
		return PointerGetDatum(
		    construct_md_array(datums.data(), flags.get(), 1, dims, lbs, type, -1, false, TYPALIGN_INT));
	});
}

Datum TimestampArray(const std::vector<Timestamp> &values) {
	return Int64ArrayDatum(std::vector<std::optional<int64_t>>(values.begin(), values.end()), TIMESTAMPTZOID);
}

std::vector<Outcome> RunBatch(const std::vector<Event> &events) {
	const Timestamp now = GetCurrentTransactionStartTimestamp();
	std::vector<Outcome> outcomes(events.size());
	if (events.empty())
		return outcomes;
	SpiSession spi(false);

	// 1. Lock every pool, in key order.
	std::vector<std::string> keys;
	for (const Event &e : events)
		keys.push_back(e.pool);
	std::sort(keys.begin(), keys.end());
	keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
	std::map<std::string, Pool> pools;
	{
		Datum arg = TextArray(keys);
		uint64_t n = spi.Run(lock_pools, &arg, nullptr);
		for (uint64_t i = 0; i < n; ++i) {
			Pool &p = pools[spi.Text(i, kLockPool)];
			p.id = spi.Int64(i, kLockPoolId);
			if (!spi.IsNull(i, kLockNextHoldExpiry))
				p.next_hold_expiry = spi.Int64(i, kLockNextHoldExpiry);
			p.has_caps = spi.Bool(i, kLockHasCaps);
		}
	}
	for (const Event &e : events) // the first unknown pool in array order
		if (!pools.count(e.pool))
			throw UnknownPool(e.pool);

	// 2. Lapse overdue holds (rare), then read lots, members and keys.
	std::vector<std::optional<int64_t>> pool_ids;
	std::map<int64_t, Pool *> by_id;
	for (auto &[key, p] : pools) {
		pool_ids.emplace_back(p.id);
		by_id[p.id] = &p;
		if (p.next_hold_expiry && *p.next_hold_expiry <= now) {
			Datum args[] = {Int64GetDatum(p.id), TimestampTzGetDatum(now)};
			spi.Run(lapse_holds, args, nullptr);
		}
	}
	{
		Datum args[] = {Int64ArrayDatum(pool_ids), TimestampTzGetDatum(now)};
		uint64_t n = spi.Run(find_lots, args, nullptr);
		for (uint64_t i = 0; i < n; ++i) {
			Pool &p = *by_id.at(spi.Int64(i, kLotPoolId));
			PoolLot lot{ReadLot(spi, i, kLotFirst), LotScope{}};
			if (!spi.IsNull(i, kLotMember))
				lot.scope.member = spi.Text(i, kLotMember);
			if (!spi.IsNull(i, kLotFeatures))
				lot.scope.features = TextArrayToStrings(spi.Value(i, kLotFeatures));
			p.available += lot.lot.remaining;
			p.lots.push_back(std::move(lot));
		}
	}
	std::map<std::pair<int64_t, std::string>, MemberState> members;
	{
		std::vector<std::optional<int64_t>> ids;
		std::vector<std::string> names;
		for (const Event &e : events) {
			auto k = std::make_pair(pools[e.pool].id, e.member);
			if (members.emplace(k, MemberState()).second) {
				ids.emplace_back(k.first);
				names.push_back(k.second);
			}
		}
		Datum args[] = {Int64ArrayDatum(ids), TextArray(names)};
		uint64_t n = spi.Run(find_members, args, nullptr);
		for (uint64_t i = 0; i < n; ++i) {
			const size_t pair = spi.Int64(i, kMemberPair) - 1;
			members[std::make_pair(*ids[pair], names[pair])].member = ReadMember(spi, i, kMemberFirst, now);
		}
	}
	std::map<std::pair<int64_t, std::string>, KeyedCharge> charged_keys;
	{
		std::vector<std::optional<int64_t>> ids;
		std::vector<std::string> names;
		for (const Event &e : events)
			if (e.idempotency_key) {
				ids.emplace_back(pools[e.pool].id);
				names.push_back(*e.idempotency_key);
			}
		if (!ids.empty()) {
			Datum args[] = {Int64ArrayDatum(ids), TextArray(names)};
			uint64_t n = spi.Run(find_keys, args, nullptr);
			for (uint64_t i = 0; i < n; ++i) {
				KeyedCharge &k = charged_keys[std::make_pair(spi.Int64(i, kKeyPoolId), spi.Text(i, kKeyKey))];
				k.member = spi.Text(i, kKeyMember);
				k.amount = spi.Int64(i, kKeyRequested);
				if (!spi.IsNull(i, kKeyFeature))
					k.feature = spi.Text(i, kKeyFeature);
				k.outcome.charge_id = spi.Int64(i, kKeyEntryId);
				k.outcome.charged = spi.Int64(i, kKeyRequested);
				k.outcome.balance = spi.Int64(i, kKeyBalance);
				k.outcome.member_used = spi.Int64(i, kKeyUsed);
				k.outcome.replayed = true;
			}
		}
	}

	// 3. Decide every event in array order, on the state as the earlier
	// events of the call left it.
	// this call's calls, per (pool, member, feature) and per (pool, feature);
	// and its budgets' usage, as the earlier events left it
	std::map<std::tuple<int64_t, std::string, std::string>, int64_t> calls;
	std::map<std::pair<int64_t, std::string>, int64_t> pool_calls;
	std::map<std::pair<int64_t, std::string>, BudgetUsage> budgets;
	std::map<std::pair<int64_t, int64_t>, Micros> taken;                    // per (pool, grant)
	struct Head {
		size_t event;
		std::vector<Part> parts;
	};
	std::vector<Head> heads;
	std::vector<std::pair<size_t, size_t>> replays; // (event, the earlier event of this call it repeats)
	size_t rows = 0;
	for (size_t i = 0; i < events.size(); ++i) {
		const Event &e = events[i];
		Pool &pool = pools[e.pool];
		MemberState &ms = members[std::make_pair(pool.id, e.member)];
		Outcome &out = outcomes[i];
		if (e.idempotency_key) {
			auto found = charged_keys.find(std::make_pair(pool.id, *e.idempotency_key));
			if (found != charged_keys.end()) {
				const KeyedCharge &first = found->second;
				if (first.member != e.member || first.feature != e.feature || first.amount != e.amount)
					throw IdempotencyConflict(*e.idempotency_key, "charge", first.amount, first.member, first.feature);
				if (first.event)
					replays.emplace_back(i, *first.event);
				else
					out = first.outcome;
				continue;
			}
		}
		std::vector<FrequencyCap> caps;
		if (pool.has_caps && e.feature) {
			caps = LoadCaps(spi, pool.id, e.member, *e.feature, now);
			for (FrequencyCap &cap : caps)
				cap.calls_in_window += cap.scope == "pool" ? pool_calls[std::make_pair(pool.id, *e.feature)]
				                                           : calls[std::make_tuple(pool.id, e.member, *e.feature)];
		}
		BudgetUsage *budget = nullptr;
		if (ms.member.budget) {
			auto key = std::make_pair(pool.id, *ms.member.budget);
			auto found = budgets.find(key);
			if (found == budgets.end())
				found = budgets.emplace(key, LoadBudget(spi, pool.id, *ms.member.budget, now)).first;
			budget = &found->second;
		}
		std::vector<Lot> lots;
		lots.reserve(pool.lots.size());
		for (const PoolLot &pl : pool.lots) {
			Lot lot = pl.lot;
			lot.usable = UsableBy(pl.scope, e.member, e.feature);
			lots.push_back(lot);
		}
		ChargeDecision decision =
		    DecideCharge(e.pool, e.member, ms.member.usage, e.amount, TotalRemaining(lots, true), caps,
		                 budget ? std::optional<BudgetUsage>(*budget) : std::nullopt);
		std::vector<Part> parts;
		if (decision.status == Status::kSucceeded) {
			auto allocated = Allocate(lots, e.amount);
			if (!allocated)
				throw Error(sqlstate::kInsufficientCredits, "credits changed during a charge");
			parts = std::move(*allocated);
			for (const Part &part : parts) {
				taken[std::make_pair(pool.id, part.grant_id)] += part.amount;
				for (PoolLot &pl : pool.lots)
					if (pl.lot.grant_id == part.grant_id)
						pl.lot.remaining -= part.amount;
			}
			pool.available -= e.amount;
			ms.member.usage.used = AddAmounts(ms.member.usage.used, e.amount);
			if (e.amount > 0 || !ms.member.stored_period_current)
				ms.usage_changed = true;
			if (budget)
				budget->used = AddAmounts(budget->used, e.amount);
			if (e.feature) {
				++calls[std::make_tuple(pool.id, e.member, *e.feature)];
				++pool_calls[std::make_pair(pool.id, *e.feature)];
			}
			out.charged = e.amount;
		} else {
			out.reason = decision.error->Message();
		}
		out.status = decision.status;
		out.balance = pool.available;
		out.member_used = ms.member.usage.used;
		if (e.idempotency_key && decision.status == Status::kSucceeded) {
			KeyedCharge &k = charged_keys[std::make_pair(pool.id, *e.idempotency_key)];
			k.member = e.member;
			k.amount = e.amount;
			k.feature = e.feature;
			k.event = i;
		}
		rows += parts.empty() ? 1 : parts.size();
		heads.push_back(Head{i, std::move(parts)});
	}

	// 4. Record: entry ids, then grants, members and the ledger.
	std::vector<int64_t> ids;
	if (rows > 0) {
		Datum arg = Int32GetDatum(static_cast<int32_t>(rows));
		uint64_t n = spi.Run(entry_ids, &arg, nullptr);
		for (uint64_t i = 0; i < n; ++i)
			ids.push_back(spi.Int64(i, 1));
	}
	Entries t;
	size_t next = 0;
	for (const Head &h : heads) {
		const Event &e = events[h.event];
		Outcome &out = outcomes[h.event];
		const int64_t pool_id = pools[e.pool].id;
		out.charge_id = ids[next];
		const size_t parts = h.parts.empty() ? 1 : h.parts.size();
		for (size_t k = 0; k < parts; ++k) {
			const bool head = k == 0;
			t.entry_id.emplace_back(ids[next++]);
			t.pool_id.emplace_back(pool_id);
			t.member.push_back(StringToText(e.member));
			if (h.parts.empty()) {
				t.grant_id.emplace_back(std::nullopt);
				t.amount.emplace_back(0);
			} else {
				t.grant_id.emplace_back(h.parts[k].grant_id);
				t.amount.emplace_back(-h.parts[k].amount);
			}
			t.charge_id.emplace_back(out.charge_id);
			t.status.push_back(head ? StringToText(std::string(StatusName(out.status))) : Datum(0));
			t.head.push_back(head);
			t.reason_null.push_back(!head || out.reason.empty());
			t.reason.push_back(t.reason_null.back() ? Datum(0) : StringToText(out.reason));
			t.feature_null.push_back(!head || !e.feature);
			t.feature.push_back(t.feature_null.back() ? Datum(0) : StringToText(*e.feature));
			t.key_null.push_back(!head || !e.idempotency_key);
			t.key.push_back(t.key_null.back() ? Datum(0) : StringToText(*e.idempotency_key));
			t.metadata_null.push_back(!head || e.metadata == 0);
			t.metadata.push_back(t.metadata_null.back() ? Datum(0) : e.metadata);
			t.requested.push_back(head ? std::optional<int64_t>(e.amount) : std::nullopt);
			t.balance.push_back(head ? std::optional<int64_t>(out.balance) : std::nullopt);
			t.used.push_back(head ? std::optional<int64_t>(out.member_used) : std::nullopt);
		}
	}
	for (const auto &[event, first] : replays) {
		outcomes[event] = outcomes[first];
		outcomes[event].replayed = true;
	}
	if (!taken.empty()) {
		std::vector<std::optional<int64_t>> p, g, a;
		for (const auto &[k, amount] : taken) {
			p.emplace_back(k.first);
			g.emplace_back(k.second);
			a.emplace_back(amount);
		}
		Datum args[] = {Int64ArrayDatum(p), Int64ArrayDatum(g), Int64ArrayDatum(a)};
		spi.Run(take_from_grants, args, nullptr);
	}
	for (bool enroll : {false, true}) {
		std::vector<std::optional<int64_t>> p, used;
		std::vector<std::string> names;
		std::vector<Timestamp> starts;
		for (const auto &[k, ms] : members) {
			if (ms.member.known == enroll || (!enroll && !ms.usage_changed))
				continue;
			p.emplace_back(k.first);
			names.push_back(k.second);
			used.emplace_back(ms.member.usage.used);
			starts.push_back(ms.member.period_start);
		}
		if (p.empty())
			continue;
		Datum args[] = {Int64ArrayDatum(p), TextArray(names), Int64ArrayDatum(used), TimestampArray(starts)};
		spi.Run(enroll ? enroll_members : record_usage, args, nullptr);
	}
	if (rows > 0) {
		std::vector<bool> no_nulls(rows, false), not_head(rows);
		for (size_t i = 0; i < rows; ++i)
			not_head[i] = !t.head[i];
		Datum args[] = {Int64ArrayDatum(t.entry_id),
		                Int64ArrayDatum(t.pool_id),
		                VarlenaArray(t.member, no_nulls, TEXTOID),
		                Int64ArrayDatum(t.grant_id),
		                Int64ArrayDatum(t.amount),
		                Int64ArrayDatum(t.charge_id),
		                VarlenaArray(t.status, not_head, TEXTOID),
		                VarlenaArray(t.reason, t.reason_null, TEXTOID),
		                VarlenaArray(t.feature, t.feature_null, TEXTOID),
		                VarlenaArray(t.key, t.key_null, TEXTOID),
		                Int64ArrayDatum(t.requested),
		                Int64ArrayDatum(t.balance),
		                Int64ArrayDatum(t.used),
		                VarlenaArray(t.metadata, t.metadata_null, JSONBOID)};
		spi.Run(insert_entries, args, nullptr);
	}
	spi.Finish();
	return outcomes;
}

} // namespace

// charge_many(pools, members, amounts, features, idempotency_keys, metadata)
//   -> TABLE (ord, charge_id, status, charged, balance, member_used, replayed, reason)
CREDITS_FUNCTION(credits_charge_many) {
	Guard([&] { InitMaterializedSRF(fcinfo, 0); });
	const std::vector<Outcome> outcomes = RunBatch(ReadEvents(fcinfo));
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	for (size_t i = 0; i < outcomes.size(); ++i) {
		const Outcome &o = outcomes[i];
		Datum values[8] = {Int32GetDatum(static_cast<int32_t>(i + 1)),
		                   Int64GetDatum(o.charge_id),
		                   StringToText(std::string(StatusName(o.status))),
		                   MicrosToNumeric(o.charged),
		                   MicrosToNumeric(o.balance),
		                   MicrosToNumeric(o.member_used),
		                   BoolGetDatum(o.replayed),
		                   o.reason.empty() ? Datum(0) : StringToText(o.reason)};
		bool nulls[8] = {false, false, false, false, false, false, false, o.reason.empty()};
		Guard([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls); });
	}
	return Datum(0);
}

} // namespace credits::pg
