#include "pg/spi.hpp"

#include "pg/boundary.hpp"
#include "pg/datum.hpp"

#include <stdexcept>

namespace credits::pg {

SpiSession::SpiSession(bool read_only, bool nonatomic) : read_only_(read_only) {
	Guard([&] {
		if (SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
			elog(ERROR, "credits: SPI_connect failed");
	});
}

void SpiSession::Finish() {
	Guard([&] { SPI_finish(); });
}

void SpiSession::Commit() {
	Guard([&] {
		SPI_commit();
		SPI_start_transaction(); // a no-op since PostgreSQL 15, where SPI_commit starts the next one
	});
}

uint64_t SpiSession::Run(Statement &statement, const Datum *values, const bool *nulls) {
	const int nargs = static_cast<int>(statement.types.size());
	char flags[32];
	if (nargs > 32)
		throw std::logic_error("too many SPI parameters");
	for (int i = 0; i < nargs; ++i)
		flags[i] = nulls && nulls[i] ? 'n' : ' ';
	const bool read_only = read_only_;
	return Guard([&] {
		if (statement.plan == nullptr) {
			SPIPlanPtr plan = SPI_prepare(statement.sql, nargs, statement.types.data());
			if (plan == nullptr)
				elog(ERROR, "credits: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			if (SPI_keepplan(plan) != 0)
				elog(ERROR, "credits: SPI_keepplan failed");
			statement.plan = plan;
		}
		int rc = SPI_execute_plan(statement.plan, const_cast<Datum *>(values), flags, read_only, 0);
		if (rc < 0)
			elog(ERROR, "credits: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		return static_cast<uint64_t>(SPI_processed);
	});
}

void SpiSession::FreeResult() {
	Guard([&] {
		SPI_freetuptable(SPI_tuptable);
		SPI_tuptable = nullptr;
	});
}

bool SpiSession::IsNull(uint64_t row, int column) const {
	bool isnull;
	SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, &isnull);
	return isnull;
}

Datum SpiSession::Value(uint64_t row, int column) const {
	bool isnull;
	Datum d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, &isnull);
	return isnull ? Datum(0) : d;
}

int64_t SpiSession::Int64(uint64_t row, int column) const {
	return DatumGetInt64(Value(row, column));
}

int32_t SpiSession::Int32(uint64_t row, int column) const {
	return DatumGetInt32(Value(row, column));
}

bool SpiSession::Bool(uint64_t row, int column) const {
	return DatumGetBool(Value(row, column));
}

std::string SpiSession::Text(uint64_t row, int column) const {
	if (IsNull(row, column))
		return std::string();
	return DatumToString(Value(row, column));
}

} // namespace credits::pg
