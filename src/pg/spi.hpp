// Prepared SPI statements: each is planned once per backend, kept with
// SPI_keepplan, schema-qualified, and run with typed parameters.
#pragma once
#include "pg/postgres.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace credits::pg {

struct Statement {
	const char *sql;
	std::vector<Oid> types;
	SPIPlanPtr plan = nullptr;
};

// One SPI connection for the life of a call. Finish() closes it and frees
// everything allocated meanwhile, so results for PostgreSQL are built after
// it. On the error path the connection is left to transaction abort, which
// cleans it up. A procedure called by a top-level CALL connects non-atomic
// and may Commit(): the connection's memory (CurrentMemoryContext after
// connecting) survives the commit.
class SpiSession {
public:
	explicit SpiSession(bool read_only, bool nonatomic = false);
	void Finish();
	// Commits the transaction and starts a new one (non-atomic only).
	void Commit();
	SpiSession(const SpiSession &) = delete;
	SpiSession &operator=(const SpiSession &) = delete;

	// Runs the statement; returns the number of rows (SPI_tuptable holds them).
	uint64_t Run(Statement &statement, const Datum *values, const bool *nulls);
	// Frees the rows of the last statement (a long-lived connection: else
	// they last until Finish()).
	void FreeResult();

	bool IsNull(uint64_t row, int column) const;
	Datum Value(uint64_t row, int column) const;
	int64_t Int64(uint64_t row, int column) const;
	int32_t Int32(uint64_t row, int column) const;
	bool Bool(uint64_t row, int column) const;
	std::string Text(uint64_t row, int column) const;

private:
	bool read_only_;
};

} // namespace credits::pg
