#include "cpp_only.hpp"

#include "period.hpp"

namespace credits {

namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;
// Days from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
constexpr int64_t kPgEpochDays = 10957;

int64_t FloorDiv(int64_t a, int64_t b) {
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		--q;
	return q;
}

Timestamp FromDays(int64_t days_since_unix) {
	return (days_since_unix - kPgEpochDays) * kMicrosPerDay;
}

int64_t ToDays(Timestamp at) {
	return FloorDiv(at, kMicrosPerDay) + kPgEpochDays;
}

} // namespace

std::optional<Period> ParsePeriod(std::string_view name) {
	if (name == "month")
		return Period::kMonth;
	if (name == "week")
		return Period::kWeek;
	if (name == "day")
		return Period::kDay;
	if (name == "none")
		return Period::kNone;
	return std::nullopt;
}

std::string_view PeriodName(Period period) {
	switch (period) {
	case Period::kMonth:
		return "month";
	case Period::kWeek:
		return "week";
	case Period::kDay:
		return "day";
	case Period::kNone:
		break;
	}
	return "none";
}

std::string_view PeriodAdjective(Period period) {
	switch (period) {
	case Period::kMonth:
		return "monthly";
	case Period::kWeek:
		return "weekly";
	case Period::kDay:
		return "daily";
	case Period::kNone:
		break;
	}
	return "lifetime";
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
	y -= m <= 2;
	const int64_t era = FloorDiv(y, 400);
	const unsigned yoe = static_cast<unsigned>(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t *year, unsigned *month, unsigned *day) {
	z += 719468;
	const int64_t era = FloorDiv(z, 146097);
	const unsigned doe = static_cast<unsigned>(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*day = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = static_cast<int64_t>(yoe) + era * 400 + (*month <= 2);
}

Timestamp PeriodStart(Period period, Timestamp at) {
	if (period == Period::kNone || at == kBeginningOfTime || at == kEndOfTime)
		return kBeginningOfTime;
	const int64_t days = ToDays(at);
	switch (period) {
	case Period::kDay:
		return FromDays(days);
	case Period::kWeek:
		// 1970-01-01 was a Thursday: Monday is 3 days before.
		return FromDays(days - (days + 3 - FloorDiv(days + 3, 7) * 7));
	case Period::kMonth: {
		int64_t y;
		unsigned m, d;
		CivilFromDays(days, &y, &m, &d);
		return FromDays(DaysFromCivil(y, m, 1));
	}
	case Period::kNone:
		break;
	}
	return kBeginningOfTime;
}

Timestamp NextPeriodStart(Period period, Timestamp start) {
	// An infinite start is the lifetime period PeriodStart gives infinite
	// times; stepping from it would overflow.
	if (start == kBeginningOfTime || start == kEndOfTime)
		return kEndOfTime;
	switch (period) {
	case Period::kDay:
		return start + kMicrosPerDay;
	case Period::kWeek:
		return start + 7 * kMicrosPerDay;
	case Period::kMonth: {
		int64_t y;
		unsigned m, d;
		CivilFromDays(ToDays(start), &y, &m, &d);
		return m == 12 ? FromDays(DaysFromCivil(y + 1, 1, 1)) : FromDays(DaysFromCivil(y, m + 1, 1));
	}
	case Period::kNone:
		break;
	}
	return kEndOfTime;
}

} // namespace credits
