#include "pg/ledger_row.hpp"

#include "pg/boundary.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "commands/sequence.h"
}

namespace credits::pg {

LedgerRow::LedgerRow(Rows &rows, int64_t pool_id, const std::string &member, const char *entry_type)
    : row_(rows, Table::kLedger) {
	auto share = [&](int column, Datum value) {
		shared_[column] = value;
		shared_set_[column] = true;
	};
	share(LedgerCol::kPoolId, Int64GetDatum(pool_id));
	share(LedgerCol::kAt, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	// the role that called into the API (credits.current_actor())
	share(LedgerCol::kActor, Guard([] {
		      return DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
	      }));
	share(LedgerCol::kEntryType, StringToText(entry_type));
	share(LedgerCol::kMember, StringToText(member));
	share(LedgerCol::kAmount, Int64GetDatum(0));
	share(LedgerCol::kHeld, Int64GetDatum(0));
	Clear();
}

void LedgerRow::Clear() {
	row_.Clear();
	for (int c = 0; c < LedgerCol::kCount; ++c)
		if (shared_set_[c])
			Set(c, shared_[c]);
}

void LedgerRow::Set(int column, Datum value) {
	row_.Set(CurrentLayout().ledger[column], value);
}

void LedgerRow::Insert() {
	// the column's default, nextval of the ledger's sequence
	if (!row_.IsSet(CurrentLayout().ledger[LedgerCol::kEntryId]))
		Set(LedgerCol::kEntryId, Int64GetDatum(NextEntryId()));
	row_.Insert();
}

int64_t NextEntryId() {
	return Guard([] { return nextval_internal(CurrentLayout().ledger_sequence, false); });
}

} // namespace credits::pg
