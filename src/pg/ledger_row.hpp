// Ledger entries written directly (rows.hpp), column by column: what every
// entry of a call shares (pool, time, actor, type, member, and the column
// defaults the table would give), then what Set adds.
#pragma once
#include "pg/postgres.hpp"
#include "pg/rows.hpp"

#include <string>

namespace credits::pg {

class LedgerRow {
public:
	LedgerRow(Rows &rows, int64_t pool_id, const std::string &member, const char *entry_type);
	// Starts the next entry: the shared columns only (entry_id, when not
	// set, is the next of the ledger's sequence, as its default).
	void Clear();
	// Sets a column (LedgerCol); ignored when the installed release has none.
	void Set(int column, Datum value);
	void Insert();

private:
	NewRow row_;
	Datum shared_[LedgerCol::kCount] = {};
	bool shared_set_[LedgerCol::kCount] = {};
};

// A new ledger entry id (the ledger's sequence).
int64_t NextEntryId();

} // namespace credits::pg
