// The wall between PostgreSQL's longjmp errors and C++ exceptions.
//
// Every SQL-callable function is declared with CREDITS_FUNCTION: its body
// runs inside a try block, and whatever escapes is turned into ereport(ERROR)
// only after every C++ frame has unwound. Calls from C++ into PostgreSQL go
// through Guard(), which catches a PostgreSQL error and rethrows it as
// PgError; at the boundary the original error is re-raised intact (SQLSTATE,
// detail and hint survive).
#pragma once
#include "pg/postgres.hpp"

#include <exception>
#include <type_traits>

namespace credits::pg {

class PgError : public std::exception {
public:
	explicit PgError(ErrorData *edata) : edata_(edata) {
	}
	const char *what() const noexcept override {
		return edata_->message ? edata_->message : "PostgreSQL error";
	}
	ErrorData *Data() const {
		return edata_;
	}

private:
	ErrorData *edata_;
};

// Runs f, which calls PostgreSQL and owns no C++ resources, converting a
// PostgreSQL error into PgError.
template <typename F>
auto Guard(F &&f) -> decltype(f()) {
	using Result = decltype(f());
	MemoryContext context = CurrentMemoryContext;
	ErrorData *volatile edata = nullptr;
	if constexpr (std::is_void_v<Result>) {
		PG_TRY();
		{ f(); }
		PG_CATCH();
		{
			MemoryContextSwitchTo(context);
			edata = CopyErrorData();
			FlushErrorState();
		}
		PG_END_TRY();
		if (edata)
			throw PgError(edata);
	} else {
		Result volatile result{};
		PG_TRY();
		{ result = f(); }
		PG_CATCH();
		{
			MemoryContextSwitchTo(context);
			edata = CopyErrorData();
			FlushErrorState();
		}
		PG_END_TRY();
		if (edata)
			throw PgError(edata);
		return result;
	}
}

using Body = Datum (*)(FunctionCallInfo);

// Runs body and reports anything it threw as a PostgreSQL error.
Datum CallBoundary(FunctionCallInfo fcinfo, Body body);

} // namespace credits::pg

#define CREDITS_FUNCTION(name)                                                                                         \
	static Datum name##_body(FunctionCallInfo fcinfo);                                                                 \
	extern "C" {                                                                                                       \
	PG_FUNCTION_INFO_V1(name);                                                                                         \
	PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                                                          \
	}                                                                                                                  \
	Datum name(PG_FUNCTION_ARGS) {                                                                                     \
		return ::credits::pg::CallBoundary(fcinfo, name##_body);                                                       \
	}                                                                                                                  \
	static Datum name##_body(FunctionCallInfo fcinfo)
