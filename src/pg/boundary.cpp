#include "pg/boundary.hpp"

#include "core/error.hpp"

#include <new>

namespace credits::pg {

namespace {

// Copies s into the current memory context without ever raising (NULL when
// out of memory): used inside catch blocks, where a longjmp must not start.
char *CopyQuietly(const std::string &s) {
	char *copy = static_cast<char *>(MemoryContextAllocExtended(CurrentMemoryContext, s.size() + 1, MCXT_ALLOC_NO_OOM));
	if (copy)
		memcpy(copy, s.c_str(), s.size() + 1);
	return copy;
}

} // namespace

Datum CallBoundary(FunctionCallInfo fcinfo, Body body) {
	ErrorData *pg_error = nullptr;
	int sqlstate = ERRCODE_INTERNAL_ERROR;
	char *message = nullptr;
	char *detail = nullptr;
	char *hint = nullptr;
	try {
		return body(fcinfo);
	} catch (const PgError &e) {
		pg_error = e.Data();
	} catch (const Error &e) {
		const std::string &s = e.Sqlstate();
		if (s.size() == 5)
			sqlstate = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
		message = CopyQuietly(e.Message());
		detail = e.Detail().empty() ? nullptr : CopyQuietly(e.Detail());
		hint = e.Hint().empty() ? nullptr : CopyQuietly(e.Hint());
	} catch (const std::bad_alloc &) {
		sqlstate = ERRCODE_OUT_OF_MEMORY;
	} catch (const std::exception &e) {
		message = CopyQuietly(e.what());
	} catch (...) {
	}
	// Every C++ frame is gone: now PostgreSQL may longjmp.
	if (pg_error)
		ReThrowError(pg_error);
	ereport(ERROR, (errcode(sqlstate), errmsg("%s", message ? message : "unexpected error in credits"),
	                detail ? errdetail("%s", detail) : 0, hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

} // namespace credits::pg
