#include "pg/datum.hpp"

#include "core/error.hpp"
#include "core/key.hpp"
#include "pg/boundary.hpp"

namespace credits::pg {

void RequireArg(FunctionCallInfo fcinfo, int n, const char *what) {
	if (PG_ARGISNULL(n))
		throw Error(sqlstate::kNullValue, std::string(what) + " must not be NULL", {},
		            std::string("Pass a value for ") + what + ".");
}

std::string DatumToString(Datum text_value) {
	const char *s = Guard([&] { return text_to_cstring(DatumGetTextPP(text_value)); });
	return std::string(s);
}

std::string TextArg(FunctionCallInfo fcinfo, int n) {
	return DatumToString(PG_GETARG_DATUM(n));
}

std::optional<std::string> OptionalTextArg(FunctionCallInfo fcinfo, int n) {
	if (PG_ARGISNULL(n))
		return std::nullopt;
	return TextArg(fcinfo, n);
}

std::string KeyArg(FunctionCallInfo fcinfo, int n, const char *what) {
	RequireArg(fcinfo, n, what);
	std::string key = TextArg(fcinfo, n);
	CheckKey(key, what);
	return key;
}

std::optional<std::string> OptionalKeyArg(FunctionCallInfo fcinfo, int n, const char *what) {
	if (PG_ARGISNULL(n))
		return std::nullopt;
	return KeyArg(fcinfo, n, what);
}

std::string NumericToString(Datum numeric) {
	const char *text = Guard([&] { return DatumGetCString(DirectFunctionCall1(numeric_out, numeric)); });
	return std::string(text);
}

Micros NumericToMicros(Datum numeric, const char *what, bool allow_negative) {
	return ParseAmount(NumericToString(numeric), what, allow_negative);
}

void CheckQuantity(Datum numeric, const char *what) {
	std::string text = NumericToString(numeric);
	if (text == "NaN" || text.find("Infinity") != std::string::npos || (!text.empty() && text[0] == '-'))
		throw Error(sqlstate::kInvalidParameter, std::string("invalid ") + what + ": must be a finite number >= 0",
		            std::string(what) + " was " + text + ".");
}

Timestamp AddInterval(Timestamp at, Datum interval, const char *what) {
	// checked before adding: a huge interval would overflow the timestamp
	bool in_range = Guard([&] {
		Interval zero{0, 0, 0};
		Interval max{0, 0, 100 * MONTHS_PER_YEAR};
		return DatumGetBool(DirectFunctionCall2(interval_gt, interval, PointerGetDatum(&zero))) &&
		       DatumGetBool(DirectFunctionCall2(interval_le, interval, PointerGetDatum(&max)));
	});
	Timestamp result = in_range ? Guard([&] {
		return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(at), interval));
	})
	                            : at;
	if (result <= at)
		throw Error(sqlstate::kInvalidParameter,
		            std::string("invalid ") + what + ": must be a positive interval of at most 100 years", {},
		            std::string("Pass an interval such as '15 minutes'."));
	return result;
}

// value / 10^6 as a numeric, trailing fractional zeros trimmed (12.5, not
// 12.500000), built from the int64 directly.
Datum MicrosToNumeric(Micros value) {
	return Guard([&] {
		Datum exact = NumericGetDatum(int64_div_fast_to_numeric(value, 6));
		return DirectFunctionCall1(numeric_trim_scale, exact);
	});
}

Datum StringToText(const std::string &s) {
	const char *c = s.c_str();
	size_t len = s.size();
	return Guard([&] { return PointerGetDatum(cstring_to_text_with_len(c, static_cast<int>(len))); });
}

std::vector<std::string> TextArrayToStrings(Datum array) {
	Datum *elements = nullptr;
	bool *nulls = nullptr;
	int count = 0;
	Guard([&] { deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count); });
	std::vector<std::string> out;
	out.reserve(count);
	for (int i = 0; i < count; ++i)
		if (!nulls[i])
			out.push_back(DatumToString(elements[i]));
	return out;
}

Datum Int64ArrayDatum(const std::vector<std::optional<int64_t>> &values, Oid type) {
	const int n = static_cast<int>(values.size());
	Datum *elems = Guard([&] { return static_cast<Datum *>(palloc(sizeof(Datum) * (n ? n : 1))); });
	bool *nulls = Guard([&] { return static_cast<bool *>(palloc(sizeof(bool) * (n ? n : 1))); });
	for (int i = 0; i < n; ++i) {
		nulls[i] = !values[i];
		elems[i] = Int64GetDatum(values[i].value_or(0));
	}
	return Guard([&] {
		int dims[1] = {n};
		int lbs[1] = {1};
		return PointerGetDatum(
		    construct_md_array(elems, nulls, 1, dims, lbs, type, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	});
}

} // namespace credits::pg
