// Limit periods in UTC on PostgreSQL's clock (microseconds since 2000-01-01).
#include "core/period.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace credits {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;
constexpr int64_t kUnixDaysAt2000 = 10957;
// PostgreSQL's own bounds: 4714-11-24 BC and 294277-01-01 (first invalid).
constexpr Timestamp kPgMinTimestamp = -211813488000000000LL;
constexpr Timestamp kPgEndTimestamp = 9223371331200000000LL;

// A UTC time on PostgreSQL's clock; DaysFromCivil is checked against fixed
// values below before anything relies on it here.
Timestamp At(int64_t y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0, int64_t us = 0) {
	return (DaysFromCivil(y, m, d) - kUnixDaysAt2000) * kMicrosPerDay + (hh * 3600 + mm * 60 + ss) * kMicrosPerSecond +
	       us;
}

struct Civil {
	int64_t year;
	unsigned month;
	unsigned day;
};

Civil CivilOf(Timestamp at) {
	int64_t days = at / kMicrosPerDay;
	if (at % kMicrosPerDay < 0)
		--days;
	Civil c{};
	CivilFromDays(days + kUnixDaysAt2000, &c.year, &c.month, &c.day);
	return c;
}

// ISO weekday, Monday 1 .. Sunday 7.
int IsoWeekday(Timestamp at) {
	int64_t days = at / kMicrosPerDay;
	if (at % kMicrosPerDay < 0)
		--days;
	// 2000-01-01 was a Saturday (6).
	int64_t w = (days + 5) % 7;
	if (w < 0)
		w += 7;
	return static_cast<int>(w) + 1;
}

TEST(Civil, KnownDaysSinceUnixEpoch) {
	EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
	EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
	EXPECT_EQ(DaysFromCivil(2000, 1, 1), 10957);
	EXPECT_EQ(DaysFromCivil(2000, 2, 29), 11016);
	EXPECT_EQ(DaysFromCivil(2023, 12, 31), 19722);
	EXPECT_EQ(DaysFromCivil(2024, 1, 1), 19723);
	EXPECT_EQ(DaysFromCivil(2024, 2, 29), 19782);
	EXPECT_EQ(DaysFromCivil(1900, 3, 1), -25508);
	EXPECT_EQ(DaysFromCivil(2100, 2, 28), 47540);
	EXPECT_EQ(DaysFromCivil(2100, 3, 1), 47541);
	EXPECT_EQ(DaysFromCivil(1600, 2, 29), -135081);
	EXPECT_EQ(DaysFromCivil(1, 1, 1), -719162);
	EXPECT_EQ(DaysFromCivil(9999, 12, 31), 2932896);
	// PostgreSQL's range ends, as days since 2000-01-01.
	EXPECT_EQ(DaysFromCivil(-4713, 11, 24) - kUnixDaysAt2000, -2451545); // 4714-11-24 BC
	EXPECT_EQ(DaysFromCivil(294277, 1, 1) - kUnixDaysAt2000, 106751983);
}

TEST(Civil, KnownDatesFromDays) {
	struct Case {
		int64_t days;
		Civil civil;
	};
	for (const Case &c : std::vector<Case>{{0, {1970, 1, 1}},
	                                       {-1, {1969, 12, 31}},
	                                       {11016, {2000, 2, 29}},
	                                       {19782, {2024, 2, 29}},
	                                       {47540, {2100, 2, 28}},
	                                       {47541, {2100, 3, 1}},
	                                       {-135081, {1600, 2, 29}},
	                                       {-719162, {1, 1, 1}},
	                                       {-719163, {0, 12, 31}},
	                                       {2932896, {9999, 12, 31}}}) {
		int64_t y = 0;
		unsigned m = 0, d = 0;
		CivilFromDays(c.days, &y, &m, &d);
		EXPECT_EQ(y, c.civil.year) << c.days;
		EXPECT_EQ(m, c.civil.month) << c.days;
		EXPECT_EQ(d, c.civil.day) << c.days;
	}
}

TEST(Civil, RoundTripsEveryDayOverPostgresRange) {
	// Every day from before 4714 BC to after 294276 AD, in steps that visit
	// every day of several 400-year cycles plus a sparse sweep of the rest.
	auto check = [](int64_t z) {
		int64_t y = 0;
		unsigned m = 0, d = 0;
		CivilFromDays(z, &y, &m, &d);
		ASSERT_GE(m, 1u);
		ASSERT_LE(m, 12u);
		ASSERT_GE(d, 1u);
		ASSERT_LE(d, 31u);
		ASSERT_EQ(DaysFromCivil(y, m, d), z) << y << "-" << m << "-" << d;
	};
	for (int64_t z = -2 * 146097 - 1000; z <= 2 * 146097 + 1000; ++z)
		check(z);
	for (int64_t z = DaysFromCivil(-4714, 1, 1); z <= DaysFromCivil(294278, 1, 1); z += 997)
		check(z);
}

TEST(Civil, ConsecutiveDaysAdvanceTheCalendar) {
	int64_t py = 0;
	unsigned pm = 0, pd = 0;
	CivilFromDays(DaysFromCivil(1599, 1, 1), &py, &pm, &pd);
	for (int64_t z = DaysFromCivil(1599, 1, 2); z < DaysFromCivil(2401, 1, 1); ++z) {
		int64_t y = 0;
		unsigned m = 0, d = 0;
		CivilFromDays(z, &y, &m, &d);
		if (d == pd + 1) {
			ASSERT_EQ(m, pm);
			ASSERT_EQ(y, py);
		} else {
			ASSERT_EQ(d, 1u) << y << "-" << m;
			ASSERT_EQ(m, pm == 12 ? 1u : pm + 1);
			ASSERT_EQ(y, pm == 12 ? py + 1 : py);
		}
		py = y;
		pm = m;
		pd = d;
	}
}

TEST(Civil, FebruaryLengthFollowsGregorianLeapYears) {
	auto feb_days = [](int64_t y) { return DaysFromCivil(y, 3, 1) - DaysFromCivil(y, 2, 1); };
	EXPECT_EQ(feb_days(2024), 29);
	EXPECT_EQ(feb_days(2023), 28);
	EXPECT_EQ(feb_days(2000), 29); // divisible by 400
	EXPECT_EQ(feb_days(1900), 28); // divisible by 100 only
	EXPECT_EQ(feb_days(2100), 28);
	EXPECT_EQ(feb_days(1600), 29);
	EXPECT_EQ(feb_days(0), 29);  // 1 BC
	EXPECT_EQ(feb_days(-4), 29); // 5 BC
	EXPECT_EQ(feb_days(-100), 28);
}

TEST(ParsePeriod, KnownNames) {
	EXPECT_EQ(ParsePeriod("month"), Period::kMonth);
	EXPECT_EQ(ParsePeriod("week"), Period::kWeek);
	EXPECT_EQ(ParsePeriod("day"), Period::kDay);
	EXPECT_EQ(ParsePeriod("none"), Period::kNone);
}

TEST(ParsePeriod, UnknownNames) {
	for (const char *name : {"", "Month", "MONTH", "year", "hour", "monthly", " month", "1 month"})
		EXPECT_FALSE(ParsePeriod(name).has_value()) << '"' << name << '"';
}

TEST(ParsePeriod, NamesAndAdjectivesRoundTrip) {
	for (Period p : {Period::kMonth, Period::kWeek, Period::kDay, Period::kNone})
		EXPECT_EQ(ParsePeriod(PeriodName(p)), p);
	EXPECT_EQ(PeriodAdjective(Period::kMonth), "monthly");
	EXPECT_EQ(PeriodAdjective(Period::kWeek), "weekly");
	EXPECT_EQ(PeriodAdjective(Period::kDay), "daily");
	EXPECT_EQ(PeriodAdjective(Period::kNone), "lifetime");
}

TEST(PeriodStart, PostgresEpochIsZero) {
	EXPECT_EQ(At(2000, 1, 1), 0);
	EXPECT_EQ(PeriodStart(Period::kDay, 0), 0);
	EXPECT_EQ(PeriodStart(Period::kMonth, 0), 0);
	EXPECT_EQ(PeriodStart(Period::kDay, -1), -kMicrosPerDay); // 1999-12-31 23:59:59.999999
	EXPECT_EQ(PeriodStart(Period::kMonth, -1), At(1999, 12, 1));
}

TEST(PeriodStart, Day) {
	EXPECT_EQ(PeriodStart(Period::kDay, At(2024, 2, 29, 13, 45, 10, 500000)), At(2024, 2, 29));
	EXPECT_EQ(PeriodStart(Period::kDay, At(2024, 2, 29)), At(2024, 2, 29));
	EXPECT_EQ(PeriodStart(Period::kDay, At(2024, 2, 29, 23, 59, 59, 999999)), At(2024, 2, 29));
	EXPECT_EQ(PeriodStart(Period::kDay, At(1999, 12, 31, 23, 59, 59, 999999)), At(1999, 12, 31));
	EXPECT_EQ(PeriodStart(Period::kDay, At(1900, 3, 1, 0, 0, 0, 1)), At(1900, 3, 1));
	EXPECT_EQ(PeriodStart(Period::kDay, At(1, 1, 1, 12)), At(1, 1, 1));
	EXPECT_EQ(PeriodStart(Period::kDay, At(9999, 12, 31, 23, 59, 59)), At(9999, 12, 31));
}

TEST(NextPeriodStart, Day) {
	EXPECT_EQ(NextPeriodStart(Period::kDay, At(2024, 2, 28)), At(2024, 2, 29));
	EXPECT_EQ(NextPeriodStart(Period::kDay, At(2024, 2, 29)), At(2024, 3, 1));
	EXPECT_EQ(NextPeriodStart(Period::kDay, At(2023, 2, 28)), At(2023, 3, 1));
	EXPECT_EQ(NextPeriodStart(Period::kDay, At(2023, 12, 31)), At(2024, 1, 1));
	EXPECT_EQ(NextPeriodStart(Period::kDay, At(1999, 12, 31)), 0);
}

TEST(PeriodStart, WeekStartsOnIsoMonday) {
	// 2000-01-01 was a Saturday.
	EXPECT_EQ(PeriodStart(Period::kWeek, At(2000, 1, 1, 12)), At(1999, 12, 27));
	EXPECT_EQ(PeriodStart(Period::kWeek, 0), At(1999, 12, 27));
	// A Monday starts its own week, at midnight.
	EXPECT_EQ(PeriodStart(Period::kWeek, At(2024, 1, 1)), At(2024, 1, 1));
	EXPECT_EQ(PeriodStart(Period::kWeek, At(2024, 1, 1, 0, 0, 0, 1)), At(2024, 1, 1));
	// Sunday belongs to the week that began the Monday before, across a year end.
	EXPECT_EQ(PeriodStart(Period::kWeek, At(2023, 12, 31, 23, 59, 59, 999999)), At(2023, 12, 25));
	EXPECT_EQ(PeriodStart(Period::kWeek, At(2024, 1, 7, 23)), At(2024, 1, 1));
	// Thursday 1970-01-01, Thursday 2024-02-29 (leap day).
	EXPECT_EQ(PeriodStart(Period::kWeek, At(1970, 1, 1)), At(1969, 12, 29));
	EXPECT_EQ(PeriodStart(Period::kWeek, At(2024, 2, 29, 8)), At(2024, 2, 26));
	// Tuesday 1600-02-29, Monday 2100-03-01, Friday 9999-12-31.
	EXPECT_EQ(PeriodStart(Period::kWeek, At(1600, 2, 29)), At(1600, 2, 28));
	EXPECT_EQ(PeriodStart(Period::kWeek, At(2100, 3, 1, 5)), At(2100, 3, 1));
	EXPECT_EQ(PeriodStart(Period::kWeek, At(9999, 12, 31)), At(9999, 12, 27));
	// Monday 0001-01-01.
	EXPECT_EQ(PeriodStart(Period::kWeek, At(1, 1, 3)), At(1, 1, 1));
}

TEST(NextPeriodStart, Week) {
	EXPECT_EQ(NextPeriodStart(Period::kWeek, At(2023, 12, 25)), At(2024, 1, 1));
	EXPECT_EQ(NextPeriodStart(Period::kWeek, At(2024, 2, 26)), At(2024, 3, 4));
	EXPECT_EQ(NextPeriodStart(Period::kWeek, At(1999, 12, 27)), At(2000, 1, 3));
}

TEST(PeriodStart, Month) {
	EXPECT_EQ(PeriodStart(Period::kMonth, At(2024, 2, 29, 12)), At(2024, 2, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(2024, 3, 1)), At(2024, 3, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(2024, 2, 29, 23, 59, 59, 999999)), At(2024, 2, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(2023, 12, 31, 23, 59, 59, 999999)), At(2023, 12, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(2024, 1, 1)), At(2024, 1, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(1999, 12, 31, 23)), At(1999, 12, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(1900, 2, 28, 1)), At(1900, 2, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(1600, 2, 29)), At(1600, 2, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(1, 1, 31)), At(1, 1, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, At(9999, 12, 31, 23, 59, 59)), At(9999, 12, 1));
}

TEST(NextPeriodStart, Month) {
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(2024, 1, 1)), At(2024, 2, 1));
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(2024, 2, 1)), At(2024, 3, 1));
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(2023, 12, 1)), At(2024, 1, 1));
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(1999, 12, 1)), 0);
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(2100, 2, 1)), At(2100, 3, 1));
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(9999, 12, 1)), At(10000, 1, 1));
	// February's length decides where March starts.
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(2024, 2, 1)) - At(2024, 2, 1), 29 * kMicrosPerDay);
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(2023, 2, 1)) - At(2023, 2, 1), 28 * kMicrosPerDay);
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(2000, 2, 1)) - At(2000, 2, 1), 29 * kMicrosPerDay);
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(1900, 2, 1)) - At(1900, 2, 1), 28 * kMicrosPerDay);
}

TEST(PeriodStart, AtPostgresRangeEnds) {
	EXPECT_EQ(PeriodStart(Period::kDay, kPgMinTimestamp), kPgMinTimestamp);
	EXPECT_EQ(PeriodStart(Period::kMonth, kPgMinTimestamp + kMicrosPerDay), At(-4713, 11, 1));
	EXPECT_EQ(PeriodStart(Period::kMonth, kPgEndTimestamp - 1), At(294276, 12, 1));
	EXPECT_EQ(NextPeriodStart(Period::kMonth, At(294276, 12, 1)), kPgEndTimestamp);
	EXPECT_EQ(PeriodStart(Period::kDay, kPgEndTimestamp - 1), kPgEndTimestamp - kMicrosPerDay);
	EXPECT_EQ(NextPeriodStart(Period::kDay, kPgEndTimestamp - kMicrosPerDay), kPgEndTimestamp);
}

TEST(PeriodStart, NoneIsOneLifetimePeriod) {
	for (Timestamp at : {kPgMinTimestamp, Timestamp{-1}, Timestamp{0}, At(2024, 5, 17, 9), kPgEndTimestamp - 1})
		EXPECT_EQ(PeriodStart(Period::kNone, at), kBeginningOfTime) << at;
	EXPECT_EQ(NextPeriodStart(Period::kNone, kBeginningOfTime), kEndOfTime);
}

TEST(PeriodStart, InfiniteTimesFallInTheLifetimePeriod) {
	for (Period p : {Period::kMonth, Period::kWeek, Period::kDay, Period::kNone}) {
		EXPECT_EQ(PeriodStart(p, kBeginningOfTime), kBeginningOfTime);
		EXPECT_EQ(PeriodStart(p, kEndOfTime), kBeginningOfTime);
		// ...which never ends, whatever the period (no signed overflow).
		EXPECT_EQ(NextPeriodStart(p, kBeginningOfTime), kEndOfTime);
		EXPECT_EQ(NextPeriodStart(p, kEndOfTime), kEndOfTime);
	}
}

// For a sweep of instants across PostgreSQL's range: the start contains the
// instant, is itself a start, lies on the right boundary, and the next start
// follows with nothing in between.
TEST(PeriodStart, ContainsTheInstantOverTheWholeRange) {
	std::vector<Timestamp> instants;
	const int64_t step = 7777 * kMicrosPerDay + 12345678901LL;
	for (Timestamp t = kPgMinTimestamp; t < kPgEndTimestamp - step; t += step)
		instants.push_back(t);
	for (Timestamp t = At(1999, 1, 1, 0, 0, 0, 3); t < At(2001, 3, 1); t += 37 * 3600 * kMicrosPerSecond + 11)
		instants.push_back(t);
	instants.push_back(kPgEndTimestamp - 1);
	for (Timestamp at : instants) {
		for (Period p : {Period::kMonth, Period::kWeek, Period::kDay}) {
			Timestamp start = PeriodStart(p, at);
			Timestamp next = NextPeriodStart(p, start);
			ASSERT_LE(start, at) << PeriodName(p) << " " << at;
			ASSERT_LT(at, next) << PeriodName(p) << " " << at;
			ASSERT_EQ(PeriodStart(p, start), start) << PeriodName(p) << " " << at;
			ASSERT_EQ(PeriodStart(p, next - 1), start) << PeriodName(p) << " " << at;
			ASSERT_EQ(start % kMicrosPerDay, 0) << PeriodName(p) << " " << at;
			if (p == Period::kWeek) {
				ASSERT_EQ(IsoWeekday(start), 1) << at;
				ASSERT_EQ(next - start, 7 * kMicrosPerDay);
			}
			if (p == Period::kMonth) {
				Civil s = CivilOf(start);
				Civil n = CivilOf(next);
				Civil a = CivilOf(at);
				ASSERT_EQ(s.day, 1u) << at;
				ASSERT_EQ(s.month, a.month) << at;
				ASSERT_EQ(s.year, a.year) << at;
				ASSERT_EQ(n.day, 1u) << at;
				ASSERT_EQ(n.month, s.month == 12 ? 1u : s.month + 1) << at;
			}
		}
	}
}

TEST(NextPeriodStart, TwelveMonthsMakeAYear) {
	for (int64_t year : {-4000, -1, 0, 1, 1600, 1900, 1999, 2000, 2023, 2024, 2100, 9999, 100000}) {
		Timestamp t = At(year, 1, 1);
		for (int i = 0; i < 12; ++i)
			t = NextPeriodStart(Period::kMonth, t);
		EXPECT_EQ(t, At(year + 1, 1, 1)) << year;
	}
}

} // namespace
} // namespace credits
