// Small SQL-callable helpers that let the SQL layer share the core's rules
// (amount parsing, kind ranks, periods) instead of restating them.
#include "core/deduction.hpp"
#include "core/error.hpp"
#include "core/key.hpp"
#include "core/period.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace credits::pg {

namespace {

std::string ArgName(FunctionCallInfo fcinfo, int n) {
	Oid type = get_fn_expr_argtype(fcinfo->flinfo, n);
	if (type == UNKNOWNOID || type == CSTRINGOID)
		return std::string(DatumGetCString(PG_GETARG_DATUM(n)));
	return TextArg(fcinfo, n);
}

} // namespace

// _amount(value numeric, what text, allow_zero boolean): micros, or NULL for NULL.
CREDITS_FUNCTION(credits_amount) {
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	std::string what = PG_ARGISNULL(1) ? std::string("amount") : TextArg(fcinfo, 1);
	Micros value = NumericToMicros(PG_GETARG_DATUM(0), what.c_str());
	if (value == 0 && !PG_ARGISNULL(2) && !PG_GETARG_BOOL(2))
		throw Error(sqlstate::kInvalidParameter, "invalid " + what + ": must be greater than zero", what + " was 0.");
	PG_RETURN_INT64(value);
}

// _require(name, value, name, value, ...): 22004 for the first NULL value.
CREDITS_FUNCTION(credits_require) {
	for (int i = 0; i + 1 < PG_NARGS(); i += 2)
		if (PG_ARGISNULL(i + 1)) {
			std::string name = ArgName(fcinfo, i);
			throw Error(sqlstate::kNullValue, name + " must not be NULL", {}, "Pass a value for " + name + ".");
		}
	PG_RETURN_VOID();
}

// _check_key(what text, key text): 22023 unless key is 1 to 1000 bytes.
CREDITS_FUNCTION(credits_check_key) {
	CheckKey(TextArg(fcinfo, 1), TextArg(fcinfo, 0));
	PG_RETURN_VOID();
}

CREDITS_FUNCTION(credits_kind_rank) {
	std::string kind = TextArg(fcinfo, 0);
	auto rank = KindRank(kind);
	if (!rank)
		throw Error(sqlstate::kInvalidParameter, "unknown grant kind \"" + kind + "\"", {},
		            "Kinds: free, promo, plan, purchased.");
	PG_RETURN_INT32(*rank);
}

CREDITS_FUNCTION(credits_period_start) {
	std::string name = TextArg(fcinfo, 0);
	auto period = ParsePeriod(name);
	if (!period)
		throw Error(sqlstate::kInvalidParameter, "unknown period \"" + name + "\"", {},
		            "Periods: month, week, day, none.");
	PG_RETURN_TIMESTAMPTZ(PeriodStart(*period, PG_GETARG_TIMESTAMPTZ(1)));
}

// The role the caller acted as, also from inside SECURITY DEFINER functions.
CREDITS_FUNCTION(credits_current_actor) {
	Oid role = GetOuterUserId();
	return Guard([&] {
		const char *name = GetUserNameFromId(role, false);
		return DirectFunctionCall1(namein, CStringGetDatum(name));
	});
}

// Whether the calling procedure may not COMMIT: it runs inside BEGIN ...
// COMMIT, or was called from a function (an atomic context, where COMMIT
// raises 2D000). Maintenance procedures then do all their work in the
// caller's one transaction instead of committing batches.
CREDITS_FUNCTION(credits_in_transaction_block) {
	PG_RETURN_BOOL(IsTransactionBlock() || !SPI_inside_nonatomic_context());
}

} // namespace credits::pg
