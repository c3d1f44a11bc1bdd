#include "pg/rows.hpp"

#include "pg/boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "access/sysattr.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "nodes/makefuncs.h"
#include "parser/parsetree.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "catalog/index.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteManip.h"
#include "nodes/makefuncs.h"
#include "utils/memutils.h"
}

#include <cstring>
#include <unordered_map>

namespace credits::pg {

namespace {

bool layout_known = false;
Layout layout;

// required false: a relation a schema before 0.2 lacks (holds).
Oid RelationOid(Oid ns, const char *name, bool required = true) {
	Oid oid = get_relname_relid(name, ns);
	if (!OidIsValid(oid) && required)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("credits: relation credits.%s is missing", name)));
	return oid;
}

// The columns' numbers, by name, in a table's current descriptor.
template <size_t N>
void FindColumns(Oid table, const char *const (&names)[N], AttrNumber *columns) {
	Relation rel = table_open(table, AccessShareLock);
	TupleDesc desc = RelationGetDescr(rel);
	for (size_t i = 0; i < N; ++i) {
		columns[i] = 0;
		for (int a = 0; a < desc->natts; ++a) {
			Form_pg_attribute attr = TupleDescAttr(desc, a);
			if (!attr->attisdropped && strcmp(NameStr(attr->attname), names[i]) == 0) {
				columns[i] = attr->attnum;
				break;
			}
		}
	}
	table_close(rel, AccessShareLock);
}

void LoadLayout() {
	Oid ns = get_namespace_oid("credits", false);
	layout.tables[static_cast<int>(Table::kPools)] = RelationOid(ns, "pools");
	layout.tables[static_cast<int>(Table::kMembers)] = RelationOid(ns, "members");
	layout.tables[static_cast<int>(Table::kGrants)] = RelationOid(ns, "grants");
	layout.tables[static_cast<int>(Table::kLedger)] = RelationOid(ns, "ledger");
	layout.tables[static_cast<int>(Table::kHolds)] = RelationOid(ns, "holds", false);
	layout.tables[static_cast<int>(Table::kHoldParts)] = RelationOid(ns, "hold_parts", false);
	layout.pools_by_key = RelationOid(ns, "pools_pool_key");
	layout.pools_pkey = RelationOid(ns, "pools_pkey");
	layout.holds_pkey = RelationOid(ns, "holds_pkey", false);
	layout.holds_by_id = RelationOid(ns, "holds_hold_id_idx", false);
	layout.holds_pending = RelationOid(ns, "holds_pending_idx", false);
	layout.hold_parts_pkey = RelationOid(ns, "hold_parts_pkey", false);
	layout.members_pkey = RelationOid(ns, "members_pkey");
	layout.grants_pkey = RelationOid(ns, "grants_pkey");
	layout.ledger_sequence = RelationOid(ns, "ledger_entry_id_seq");
	static const char *const pools[PoolCol::kCount] = {"pool_id", "pool", "version", "next_hold_expiry", "has_caps"};
	static const char *const members[MemberCol::kCount] = {"pool_id",      "member", "credit_limit", "period",
	                                                       "period_start", "used",   "held",         "revoked",
	                                                       "budget"};
	static const char *const grants[GrantCol::kCount] = {"pool_id",      "grant_id",   "rank",      "member",
	                                                     "remaining",    "effective_at", "expires_at", "voided_at",
	                                                     "expired_at",   "features",     "held"};
	static const char *const ledger[LedgerCol::kCount] = {
	    "entry_id", "pool_id", "at",     "actor",  "entry_type", "member",          "grant_id",
	    "amount",   "held",    "charge_id", "hold_id", "status", "reason", "feature",
	    "idempotency_key", "requested", "quantity", "balance_after", "member_used_after", "metadata"};
	FindColumns(layout.tables[0], pools, layout.pools);
	FindColumns(layout.tables[1], members, layout.members);
	FindColumns(layout.tables[2], grants, layout.grants);
	FindColumns(layout.tables[3], ledger, layout.ledger);
	static const char *const holds[HoldCol::kCount] = {
	    "pool_id",         "hold_id",    "member",     "feature",    "amount",     "captured",
	    "status",          "idempotency_key", "created_at", "expires_at", "settled_at", "metadata"};
	static const char *const hold_parts[HoldPartCol::kCount] = {"pool_id", "hold_id", "part", "grant_id", "held"};
	if (OidIsValid(layout.tables[4])) {
		FindColumns(layout.tables[4], holds, layout.holds);
		FindColumns(layout.tables[5], hold_parts, layout.hold_parts);
	}
}

} // namespace

const Layout &CurrentLayout() {
	if (!layout_known) {
		Guard([] { LoadLayout(); });
		layout_known = true;
	}
	return layout;
}

namespace {

// What a statement would prepare again for every call, prepared once per
// backend: each index's IndexInfo (its predicate and expressions ready to
// evaluate) and each trigger's WHEN condition. Kept in a context of its own
// until the next relcache invalidation (any DDL on a table, an index or a
// trigger sends one).
MemoryContext prepared_context = nullptr;
std::unordered_map<Oid, IndexInfo *> prepared_indexes;
std::unordered_map<Oid, ExprState *> prepared_when;

MemoryContext PreparedContext() {
	if (prepared_context == nullptr)
		prepared_context = AllocSetContextCreate(CacheMemoryContext, "credits prepared rows", ALLOCSET_SMALL_SIZES);
	return prepared_context;
}

IndexInfo *PreparedIndexInfo(Relation index) {
	auto found = prepared_indexes.find(RelationGetRelid(index));
	if (found != prepared_indexes.end())
		return found->second;
	MemoryContext old = MemoryContextSwitchTo(PreparedContext());
	IndexInfo *info = BuildIndexInfo(index);
	if (info->ii_Predicate != NIL)
		info->ii_PredicateState = ExecInitQual((List *)expression_planner((Expr *)info->ii_Predicate), nullptr);
	if (info->ii_Expressions != NIL)
		info->ii_ExpressionsState = ExecInitExprList((List *)expression_planner((Expr *)info->ii_Expressions), nullptr);
	MemoryContextSwitchTo(old);
	prepared_indexes.emplace(RelationGetRelid(index), info);
	return info;
}

// As TriggerEnabled() prepares a WHEN condition: OLD and NEW as the inner
// and outer tuple, in implicit-AND form.
ExprState *PreparedWhen(const Trigger &trigger) {
	auto found = prepared_when.find(trigger.tgoid);
	if (found != prepared_when.end())
		return found->second;
	MemoryContext old = MemoryContextSwitchTo(PreparedContext());
	Node *qual = static_cast<Node *>(stringToNode(trigger.tgqual));
	ChangeVarNodes(qual, PRS2_OLD_VARNO, INNER_VAR, 0);
	ChangeVarNodes(qual, PRS2_NEW_VARNO, OUTER_VAR, 0);
	List *implicit = make_ands_implicit(reinterpret_cast<Expr *>(qual));
	ExprState *state = ExecInitQual(reinterpret_cast<List *>(expression_planner(reinterpret_cast<Expr *>(implicit))), nullptr);
	MemoryContextSwitchTo(old);
	prepared_when.emplace(trigger.tgoid, state);
	return state;
}

// ExecOpenIndices, with the prepared IndexInfos.
void OpenIndices(ResultRelInfo *info) {
	Relation rel = info->ri_RelationDesc;
	List *index_oids = RelationGetIndexList(rel);
	const int n = list_length(index_oids);
	info->ri_NumIndices = n;
	if (n == 0)
		return;
	info->ri_IndexRelationDescs = static_cast<RelationPtr>(palloc(n * sizeof(Relation)));
	info->ri_IndexRelationInfo = static_cast<IndexInfo **>(palloc(n * sizeof(IndexInfo *)));
	int i = 0;
	ListCell *cell;
	foreach (cell, index_oids) {
		Relation index = index_open(lfirst_oid(cell), RowExclusiveLock);
		info->ri_IndexRelationDescs[i] = index;
		info->ri_IndexRelationInfo[i] = PreparedIndexInfo(index);
		++i;
	}
	list_free(index_oids);
}

} // namespace

void ResetLayout() {
	layout_known = false;
	prepared_indexes.clear();
	prepared_when.clear();
	// An invalidation may arrive in the middle of a call that uses what was
	// prepared (while it opens a table): the old context lives until the
	// transaction ends.
	if (prepared_context != nullptr) {
		if (IsTransactionState())
			MemoryContextSetParent(prepared_context, TopTransactionContext);
		else
			MemoryContextDelete(prepared_context);
		prepared_context = nullptr;
	}
}

Rows::Rows(Access access) : access_(access) {
	const Layout &l = CurrentLayout();
	const bool write = access == Access::kWrite;
	const LOCKMODE lock = write ? RowExclusiveLock : AccessShareLock;
	Guard([&] {
		estate_ = CreateExecutorState();
		List *range_table = NIL;
		for (int i = 0; i < kTableCount; ++i) {
			RangeTblEntry *rte = makeNode(RangeTblEntry);
			rte->rtekind = RTE_RELATION;
			rte->relid = l.tables[i];
			rte->relkind = RELKIND_RELATION;
			rte->rellockmode = lock;
			range_table = lappend(range_table, rte);
		}
		ExecInitRangeTable(estate_, range_table);
		if (write) {
			estate_->es_output_cid = GetCurrentCommandId(true);
			EvalPlanQualInit(&epq_state_, estate_, nullptr, NIL, -1);
			AfterTriggerBeginQuery();
		}
	});
}

void Rows::Finish() {
	const bool write = access_ == Access::kWrite;
	Guard([&] {
		if (scan_ != nullptr)
			EndScan();
		if (write) {
			AfterTriggerEndQuery(estate_);
			EvalPlanQualEnd(&epq_state_);
		}
		if (write)
			ExecCloseResultRelations(estate_); // and the indexes opened
		ExecCloseRangeTableRelations(estate_);
		ExecResetTupleTable(estate_->es_tupleTable, false);
		FreeExecutorState(estate_);
		if (write)
			CommandCounterIncrement();
	});
}

// Opens a table at its first use, with the lock its access takes.
Rows::Open &Rows::Get(Table table) {
	const int i = static_cast<int>(table);
	Open &t = open_[i];
	if (t.opened)
		return t;
	Guard([&] {
		LockRelationOid(CurrentLayout().tables[i], access_ == Access::kWrite ? RowExclusiveLock : AccessShareLock);
		if (access_ == Access::kWrite) {
			// registered with the executor state, as a statement's target:
			// AFTER triggers find it there
			t.info = makeNode(ResultRelInfo);
			ExecInitResultRelation(estate_, t.info, i + 1);
			t.relation = t.info->ri_RelationDesc;
			t.new_slot = ExecInitExtraTupleSlot(estate_, RelationGetDescr(t.relation), &TTSOpsVirtual);
			if (TriggerDesc *triggers = t.info->ri_TrigDesc)
				for (int n = 0; n < triggers->numtriggers; ++n)
					if (triggers->triggers[n].tgqual != nullptr)
						t.info->ri_TrigWhenExprs[n] = PreparedWhen(triggers->triggers[n]);
		} else {
			t.relation = ExecGetRangeTableRelation(estate_, i + 1);
		}
		t.slot = table_slot_create(t.relation, &estate_->es_tupleTable);
	});
	t.opened = true;
	return t;
}

int Rows::Columns(Table table) {
	return RelationGetDescr(Get(table).relation)->natts;
}

void Rows::Advance() {
	Guard([&] {
		CommandCounterIncrement();
		estate_->es_output_cid = GetCurrentCommandId(true);
	});
}

Snapshot Rows::WriteSnapshot() {
	return Guard([] { return IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : GetLatestSnapshot(); });
}

Snapshot Rows::ActiveSnapshot() {
	return Guard([] { return GetActiveSnapshot(); });
}

void Rows::Fetch(Table table, ItemPointerData row) {
	Open &t = Get(table);
	Guard([&] {
		if (!table_tuple_fetch_row_version(t.relation, &row, SnapshotAny, t.slot))
			elog(ERROR, "credits: a row of %s went missing", RelationGetRelationName(t.relation));
		slot_getallattrs(t.slot);
	});
}

TupleTableSlot *Rows::Slot(Table table) {
	return Get(table).slot;
}

void Rows::BeginScan(Table table, Oid index, const ScanKeyValue *keys, int nkeys, Snapshot snapshot) {
	Open &t = Get(table);
	Guard([&] {
		scan_index_ = index_open(index, AccessShareLock);
		ScanKeyData scan_keys[INDEX_MAX_KEYS];
		for (int i = 0; i < nkeys; ++i)
			ScanKeyEntryInitialize(&scan_keys[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
			                       scan_index_->rd_indcollation[i], keys[i].text ? F_TEXTEQ : F_INT8EQ,
			                       keys[i].value);
		scan_ = index_beginscan(t.relation, scan_index_, snapshot, nkeys, 0);
		index_rescan(scan_, scan_keys, nkeys, nullptr, 0);
		scan_slot_ = t.slot;
	});
}

bool Rows::Next() {
	return Guard([&] {
		if (!index_getnext_slot(scan_, ForwardScanDirection, scan_slot_))
			return false;
		slot_getallattrs(scan_slot_);
		return true;
	});
}

void Rows::EndScan() {
	Guard([&] {
		index_endscan(scan_);
		index_close(scan_index_, NoLock);
	});
	scan_ = nullptr;
	scan_index_ = nullptr;
}

bool Rows::LockRow(Table table, Snapshot snapshot, bool *moved) {
	Open &t = Get(table);
	return Guard([&] {
		TM_FailureData failure;
		const bool follow = !IsolationUsesXactSnapshot();
		TM_Result result = table_tuple_lock(t.relation, &t.slot->tts_tid, snapshot, t.slot,
		                                    GetCurrentCommandId(false), LockTupleNoKeyExclusive, LockWaitBlock,
		                                    follow ? TUPLE_LOCK_FLAG_FIND_LAST_VERSION : 0, &failure);
		*moved = follow && failure.traversed;
		switch (result) {
		case TM_Ok:
			slot_getallattrs(t.slot);
			return true;
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				                errmsg("could not serialize access due to concurrent delete")));
			return false;
		case TM_Updated:
			ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			                errmsg("could not serialize access due to concurrent update")));
			break;
		default:
			elog(ERROR, "credits: unexpected result %d locking a row of %s", static_cast<int>(result),
			     RelationGetRelationName(t.relation));
		}
		return false;
	});
}

void Rows::Update(Table table, const AttrNumber *columns, const Datum *values, const bool *nulls, int n) {
	Open &t = Get(table);
	Guard([&] { UpdateRow(t, NewVersion(t, columns, values, nulls, n), false); });
}

bool Rows::UpdateIfLatest(Table table, const AttrNumber *columns, const Datum *values, const bool *nulls, int n) {
	Open &t = Get(table);
	if (t.info->ri_TrigDesc && t.info->ri_TrigDesc->trig_update_before_row)
		return false; // they would run twice when the row has moved
	return Guard([&] { return UpdateRow(t, NewVersion(t, columns, values, nulls, n), true); });
}

// The new version of the row in the table's slot: its values with `n`
// columns changed.
TupleTableSlot *Rows::NewVersion(Open &t, const AttrNumber *columns, const Datum *values, const bool *nulls, int n) {
	TupleTableSlot *old_slot = t.slot, *new_slot = t.new_slot;
	const int natts = old_slot->tts_tupleDescriptor->natts;
	slot_getallattrs(old_slot);
	ExecClearTuple(new_slot);
	memcpy(new_slot->tts_values, old_slot->tts_values, natts * sizeof(Datum));
	memcpy(new_slot->tts_isnull, old_slot->tts_isnull, natts * sizeof(bool));
	// the columns an UPDATE would name (for triggers on columns)
	RangeTblEntry *rte = exec_rt_fetch(t.info->ri_RangeTableIndex, estate_);
	for (int i = 0; i < n; ++i) {
		new_slot->tts_values[columns[i] - 1] = values[i];
		new_slot->tts_isnull[columns[i] - 1] = nulls[i];
		rte->updatedCols = bms_add_member(rte->updatedCols, columns[i] - FirstLowInvalidHeapAttributeNumber);
	}
	ExecStoreVirtualTuple(new_slot);
	estate_->es_output_cid = GetCurrentCommandId(true); // after SPI statements of this call
	return new_slot;
}

// ExecSimpleRelationUpdate's steps, with the indexes opened only when the
// new version needs index entries: most updates here are HOT (no indexed
// column changes), and opening a table's indexes costs more than the
// update. `if_latest`: the row was read, not locked; false, with nothing
// changed, when another transaction updated or deleted it since (the update
// waits for one that holds it, as an UPDATE does).
bool Rows::UpdateRow(Open &t, TupleTableSlot *new_slot, bool if_latest) {
	Relation rel = t.relation;
	ItemPointer tid = &t.slot->tts_tid;
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	if (t.info->ri_TrigDesc && t.info->ri_TrigDesc->trig_update_before_row &&
	    !ExecBRUpdateTriggers(estate_, &epq_state_, t.info, tid, nullptr, new_slot, nullptr))
		return true; // a trigger skipped it
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(t.info, estate_, new_slot, CMD_UPDATE);
	if (rel->rd_att->constr)
		ExecConstraints(t.info, new_slot, estate_);
	if (rel->rd_rel->relispartition)
		ExecPartitionCheck(t.info, new_slot, estate_, true);
	bool update_indexes = false;
	if (if_latest) {
		TM_FailureData failure;
		LockTupleMode lock_mode;
		if (table_tuple_update(rel, tid, new_slot, GetCurrentCommandId(true), estate_->es_snapshot, InvalidSnapshot,
		                       true, &failure, &lock_mode, &update_indexes) != TM_Ok)
			return false;
	} else {
		simple_table_tuple_update(rel, tid, new_slot, estate_->es_snapshot, &update_indexes);
	}
	List *recheck = NIL;
	if (update_indexes) {
		if (!t.indexes_open) {
			OpenIndices(t.info);
			t.indexes_open = true;
		}
		if (t.info->ri_NumIndices > 0)
			recheck = ExecInsertIndexTuples(t.info, new_slot, estate_, true, false, nullptr, NIL);
	}
	ExecARUpdateTriggers(estate_, t.info, nullptr, nullptr, tid, nullptr, new_slot, recheck, nullptr, false);
	list_free(recheck);
	return true;
}

void Rows::Insert(Table table, Datum *values, bool *nulls) {
	Open &t = Get(table);
	Guard([&] {
		if (!t.indexes_open) {
			OpenIndices(t.info);
			t.indexes_open = true;
		}
		TupleTableSlot *slot = t.new_slot;
		const int natts = slot->tts_tupleDescriptor->natts;
		ExecClearTuple(slot);
		memcpy(slot->tts_values, values, natts * sizeof(Datum));
		memcpy(slot->tts_isnull, nulls, natts * sizeof(bool));
		ExecStoreVirtualTuple(slot);
		estate_->es_output_cid = GetCurrentCommandId(true);
		ExecSimpleRelationInsert(t.info, estate_, slot);
	});
}

NewRow::NewRow(Rows &rows, Table table)
    : rows_(rows), table_(table), natts_(rows.Columns(table)), values_(new Datum[natts_]), nulls_(new bool[natts_]) {
	Clear();
}

void NewRow::Clear() {
	for (int i = 0; i < natts_; ++i) {
		values_[i] = Datum(0);
		nulls_[i] = true;
	}
}

void NewRow::Set(AttrNumber column, Datum value) {
	if (column == 0)
		return;
	values_[column - 1] = value;
	nulls_[column - 1] = false;
}

bool NewRow::IsSet(AttrNumber column) const {
	return column != 0 && !nulls_[column - 1];
}

void NewRow::Insert() {
	rows_.Insert(table_, values_.get(), nulls_.get());
}

} // namespace credits::pg
