// Direct row access for the spend paths. A charge reads a handful of rows by
// their keys and writes four; run as SQL statements, most of its time went
// to planning-cache checks and executor start-up and shut-down, not to the
// rows. Here the rows are found with index scans and written with the
// executor's row-level routines, the ones logical replication's apply worker
// uses (ExecSimpleRelationInsert/Update): BEFORE and AFTER ROW triggers,
// constraints and index entries behave as they do for an INSERT or UPDATE.
// What those routines do not check, the callers validate in C++: the
// domains' checks (amounts never negative, known statuses).
#pragma once
#include "pg/postgres.hpp"

extern "C" {
#include "access/genam.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/snapshot.h"
}

#include <memory>
#include <string>

namespace credits::pg {

// The tables the spend paths access directly.
enum class Table { kPools, kMembers, kGrants, kLedger, kHolds, kHoldParts };
constexpr int kTableCount = 6;

// The columns the spend paths use, by table.
struct PoolCol {
	enum { kPoolId, kPool, kVersion, kNextHoldExpiry, kHasCaps, kCount };
};
struct MemberCol {
	enum { kPoolId, kMember, kCreditLimit, kPeriod, kPeriodStart, kUsed, kHeld, kRevoked, kBudget, kCount };
};
struct GrantCol {
	enum {
		kPoolId,
		kGrantId,
		kRank,
		kMember,
		kRemaining,
		kEffectiveAt,
		kExpiresAt,
		kVoidedAt,
		kExpiredAt,
		kFeatures,
		kHeld,
		kCount
	};
};
struct HoldCol {
	enum {
		kPoolId,
		kHoldId,
		kMember,
		kFeature,
		kAmount,
		kCaptured,
		kStatus,
		kIdempotencyKey,
		kCreatedAt,
		kExpiresAt,
		kSettledAt,
		kMetadata,
		kCount
	};
};
struct HoldPartCol {
	enum { kPoolId, kHoldId, kPart, kGrantId, kHeld, kCount };
};
struct LedgerCol {
	enum {
		kEntryId,
		kPoolId,
		kAt,
		kActor,
		kEntryType,
		kMember,
		kGrantId,
		kAmount,
		kHeld,
		kChargeId,
		kHoldId,
		kStatus,
		kReason,
		kFeature,
		kIdempotencyKey,
		kRequested,
		kQuantity,
		kBalanceAfter,
		kMemberUsedAfter,
		kMetadata,
		kCount
	};
};

// Where those columns sit in the installed release's tables (0: that
// release has no such column), and the indexes and sequence the spend paths
// use. Looked up once and kept until the next relcache invalidation.
struct Layout {
	Oid tables[kTableCount];
	Oid pools_by_key;    // pools (pool)
	Oid pools_pkey;      // pools (pool_id)
	Oid members_pkey;    // members (pool_id, member)
	Oid grants_pkey;     // grants (pool_id, grant_id)
	Oid holds_pkey;      // holds (pool_id, hold_id)
	Oid holds_by_id;     // holds (hold_id)
	Oid holds_pending;   // holds (pool_id, expires_at) WHERE pending
	Oid hold_parts_pkey; // hold_parts (pool_id, hold_id, part)
	Oid ledger_sequence;
	AttrNumber pools[PoolCol::kCount];
	AttrNumber members[MemberCol::kCount];
	AttrNumber grants[GrantCol::kCount];
	AttrNumber ledger[LedgerCol::kCount];
	AttrNumber holds[HoldCol::kCount];
	AttrNumber hold_parts[HoldPartCol::kCount];
};
const Layout &CurrentLayout();
void ResetLayout();

// A column of the row in a slot (all columns deformed); NULL when the
// installed release has no such column (attnum 0).
struct Column {
	Datum value;
	bool null;
};
inline Column Get(TupleTableSlot *slot, AttrNumber attnum) {
	if (attnum == 0)
		return {Datum(0), true};
	return {slot->tts_values[attnum - 1], slot->tts_isnull[attnum - 1]};
}

// A key column of an index scan: equality on the index's `column`-th column.
struct ScanKeyValue {
	Datum value;
	bool text; // text (compared in the index's collation), else bigint
};

// One call's direct access. To write: the tables opened with the lock an
// INSERT or UPDATE takes, an executor state for the row routines, and the
// AFTER ROW trigger events they queue (fired by Finish). To read only (also
// on a standby): the tables opened as a SELECT opens them. On an error the
// transaction's abort releases all of it.
enum class Access { kRead, kWrite };
class Rows {
public:
	explicit Rows(Access access);
	Rows(const Rows &) = delete;
	Rows &operator=(const Rows &) = delete;

	// Fires the queued AFTER ROW triggers, closes the tables, and makes the
	// writes visible to what the transaction does next.
	void Finish();

	// Makes this call's writes so far visible to its next reads (a new
	// command), so that it can read and write a row it wrote already.
	void Advance();

	// A snapshot for a write's reads: at READ COMMITTED a new one (which
	// sees every transaction committed so far), else the transaction's;
	// either sees this transaction's writes so far. Reads without a write
	// use the statement's snapshot, as a SELECT would (ActiveSnapshot()).
	Snapshot WriteSnapshot();
	static Snapshot ActiveSnapshot();

	// The table's slot for rows read (one row at a time).
	TupleTableSlot *Slot(Table table);

	// Index scans of `index` on `table` for rows equal to the keys (in index
	// column order), visible to `snapshot`: Begin, then Next until false; each
	// row in Slot(table), all its columns deformed.
	void BeginScan(Table table, Oid index, const ScanKeyValue *keys, int nkeys, Snapshot snapshot);
	bool Next();
	void EndScan();

	// Locks the row in Slot(table), found with `snapshot`, as an UPDATE
	// would, waiting for a writer that holds it. At READ COMMITTED it follows
	// the row to its latest version (into the slot; `moved` then says so);
	// otherwise a row changed since the snapshot raises 40001. False when
	// the row is gone.
	bool LockRow(Table table, Snapshot snapshot, bool *moved);

	// Reads the row version at `row` into Slot(table).
	void Fetch(Table table, ItemPointerData row);

	// Updates the row in Slot(table) (read or locked by this call): its
	// values with `n` columns changed.
	void Update(Table table, const AttrNumber *columns, const Datum *values, const bool *nulls, int n);

	// The same for a row read but not locked: updates it if it is still the
	// row's latest version, waiting, as an UPDATE does, for a writer that
	// holds it. False, with nothing changed, when another transaction
	// updated or deleted the row since it was read (lock it with LockRow,
	// which follows it, then Update), and for a table with BEFORE UPDATE
	// triggers. Saves a lock-only write (and its WAL record) before a write.
	bool UpdateIfLatest(Table table, const AttrNumber *columns, const Datum *values, const bool *nulls, int n);

	// Inserts a row (values and nulls in column order, as many as the table
	// has columns).
	void Insert(Table table, Datum *values, bool *nulls);

	// The table's column count.
	int Columns(Table table);

private:
	struct Open {
		Relation relation;
		ResultRelInfo *info;
		TupleTableSlot *slot;
		TupleTableSlot *new_slot;
		bool indexes_open;
		bool opened;
	};
	Open &Get(Table table);
	TupleTableSlot *NewVersion(Open &table, const AttrNumber *columns, const Datum *values, const bool *nulls, int n);
	bool UpdateRow(Open &table, TupleTableSlot *new_slot, bool if_latest);

	EState *estate_ = nullptr;
	// what the row routines want for BEFORE ROW UPDATE triggers; never used
	// to recheck, since every row written is under its pool's lock
	EPQState epq_state_{};
	Open open_[kTableCount] = {};
	IndexScanDesc scan_ = nullptr;
	Relation scan_index_ = nullptr;
	TupleTableSlot *scan_slot_ = nullptr;
	Access access_;
};

// A row to insert directly, column by column (attribute numbers; 0, a
// column the installed release lacks, is ignored). Columns not set are
// NULL: set every column that has a default.
class NewRow {
public:
	NewRow(Rows &rows, Table table);
	void Clear();
	void Set(AttrNumber column, Datum value);
	bool IsSet(AttrNumber column) const;
	void Insert();

private:
	Rows &rows_;
	Table table_;
	int natts_;
	std::unique_ptr<Datum[]> values_;
	std::unique_ptr<bool[]> nulls_;
};

} // namespace credits::pg
