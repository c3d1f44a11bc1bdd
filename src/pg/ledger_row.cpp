#include "pg/ledger_row.hpp"

#include "pg/boundary.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "commands/sequence.h"
}

namespace credits::pg {

LedgerRow::LedgerRow(Rows &rows, int64_t pool_id, const std::string &member, const char *entry_type)
    : rows_(rows), natts_(rows.Columns(Table::kLedger)), values_(new Datum[natts_]), nulls_(new bool[natts_]) {
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
	for (int i = 0; i < natts_; ++i) {
		values_[i] = Datum(0);
		nulls_[i] = true;
	}
	for (int c = 0; c < LedgerCol::kCount; ++c)
		if (shared_set_[c])
			Set(c, shared_[c]);
}

void LedgerRow::Set(int column, Datum value) {
	const AttrNumber attnum = CurrentLayout().ledger[column];
	if (attnum == 0)
		return;
	values_[attnum - 1] = value;
	nulls_[attnum - 1] = false;
}

void LedgerRow::Insert() {
	rows_.Insert(Table::kLedger, values_.get(), nulls_.get());
}

int64_t NextEntryId() {
	return Guard([] { return nextval_internal(CurrentLayout().ledger_sequence, false); });
}

} // namespace credits::pg
