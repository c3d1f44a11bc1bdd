// Conversions between PostgreSQL Datums and the core's C++ values.
#pragma once
#include "core/amount.hpp"
#include "core/period.hpp"
#include "pg/postgres.hpp"

#include <optional>
#include <string>
#include <vector>

namespace credits::pg {

// Raises 22004 naming `what` when argument `n` is NULL.
void RequireArg(FunctionCallInfo fcinfo, int n, const char *what);

std::string TextArg(FunctionCallInfo fcinfo, int n);
std::optional<std::string> OptionalTextArg(FunctionCallInfo fcinfo, int n);
// An application key (core/key.hpp): 22004 when NULL, 22023 when empty or
// longer than 1000 bytes. The optional form passes NULL through.
std::string KeyArg(FunctionCallInfo fcinfo, int n, const char *what);
std::optional<std::string> OptionalKeyArg(FunctionCallInfo fcinfo, int n, const char *what);

std::string DatumToString(Datum text_value);
std::string NumericToString(Datum numeric);
Micros NumericToMicros(Datum numeric, const char *what, bool allow_negative = false);
Datum MicrosToNumeric(Micros value);
// 22023 unless the numeric is finite and not negative (any scale).
void CheckQuantity(Datum numeric, const char *what);
// at + interval; 22023 unless the interval is positive and at most 100
// years (so that the result, and now minus it, stay timestamps).
Timestamp AddInterval(Timestamp at, Datum interval, const char *what);
Datum StringToText(const std::string &s);
// A text[] without NULL elements (grants.features) as strings.
std::vector<std::string> TextArrayToStrings(Datum array);
// An int8[] (nullopt elements are NULL), in the current memory context; or
// an array of another 8-byte by-value type (timestamptz).
Datum Int64ArrayDatum(const std::vector<std::optional<int64_t>> &values, Oid type = INT8OID);

} // namespace credits::pg
