// Limit periods in UTC. Times are PostgreSQL's TimestampTz values:
// microseconds since 2000-01-01 00:00:00 UTC.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace credits {

enum class Period { kMonth, kWeek, kDay, kNone };

using Timestamp = int64_t;
// PostgreSQL's -infinity: the start of the one "lifetime" period.
constexpr Timestamp kBeginningOfTime = INT64_MIN;
constexpr Timestamp kEndOfTime = INT64_MAX;

std::optional<Period> ParsePeriod(std::string_view name);
std::string_view PeriodName(Period period);
// Adjective for messages: "monthly", "weekly", "daily", "lifetime".
std::string_view PeriodAdjective(Period period);

// Start of the period containing `at` (weeks start on Monday, as ISO 8601).
Timestamp PeriodStart(Period period, Timestamp at);
// Start of the period after the one that starts at `start`.
Timestamp NextPeriodStart(Period period, Timestamp start);

// Calendar helpers, exposed for tests.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int64_t *year, unsigned *month, unsigned *day);

} // namespace credits
