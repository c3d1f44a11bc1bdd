// Exact credit amounts: fixed point with 6 decimal places held in an int64
// ("micros"). No floating point touches money.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace credits {

using Micros = int64_t;

constexpr Micros kMicrosPerCredit = 1000000;
// Largest amount one call may name: 10^12 credits keeps every sum of a
// pool's lots far inside int64.
constexpr Micros kMaxAmount = 1000000000000LL * kMicrosPerCredit;

// Parses the text PostgreSQL prints for a numeric. Throws Error 22023 for
// NaN, infinities, negatives (unless allow_negative), more than 6 significant
// decimal places and values above kMaxAmount. `what` names the argument.
Micros ParseAmount(std::string_view text, std::string_view what, bool allow_negative = false);

// Shortest exact decimal: 12.5, 0.000001, -3.
std::string FormatAmount(Micros value);

// a + b, throwing Error 22003 on overflow.
Micros AddAmounts(Micros a, Micros b);

// value / n rounded down to 6 places (n > 0).
Micros DivideDown(Micros value, int64_t n);

} // namespace credits
