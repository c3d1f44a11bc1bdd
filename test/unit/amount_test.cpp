// Exact amounts: what ParseAmount accepts and rejects, and how amounts print.
#include "core/amount.hpp"
#include "core/error.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace credits {
namespace {

// Runs fn, which must throw Error, and returns the error.
template <typename Fn>
Error Thrown(Fn fn) {
	try {
		fn();
	} catch (const Error &e) {
		return e;
	}
	ADD_FAILURE() << "no credits::Error was thrown";
	return Error("00000", "");
}

std::string ParseState(const std::string &text) {
	return Thrown([&] { ParseAmount(text, "amount"); }).Sqlstate();
}

TEST(ParseAmount, WholeNumbers) {
	EXPECT_EQ(ParseAmount("0", "amount"), 0);
	EXPECT_EQ(ParseAmount("1", "amount"), 1000000);
	EXPECT_EQ(ParseAmount("50", "amount"), 50000000);
	EXPECT_EQ(ParseAmount("+7", "amount"), 7000000);
}

TEST(ParseAmount, SixDecimalPlaces) {
	EXPECT_EQ(ParseAmount("0.000001", "amount"), 1);
	EXPECT_EQ(ParseAmount("1.5", "amount"), 1500000);
	EXPECT_EQ(ParseAmount("12.345678", "amount"), 12345678);
	EXPECT_EQ(ParseAmount("0.999999", "amount"), 999999);
	EXPECT_EQ(ParseAmount(".5", "amount"), 500000);
}

TEST(ParseAmount, TrailingZerosBeyondSixPlacesAreExact) {
	// numeric keeps the scale it was given: 1.50000000 is still 1.5.
	EXPECT_EQ(ParseAmount("1.50000000", "amount"), 1500000);
	EXPECT_EQ(ParseAmount("0.0000010", "amount"), 1);
	EXPECT_EQ(ParseAmount("3.000000000000", "amount"), 3000000);
}

TEST(ParseAmount, SevenSignificantPlacesRejectedWith22023) {
	EXPECT_EQ(ParseState("0.0000001"), sqlstate::kInvalidParameter);
	EXPECT_EQ(ParseState("1.1234567"), sqlstate::kInvalidParameter);
	EXPECT_EQ(ParseState("1.0000000001"), sqlstate::kInvalidParameter);
	Error e = Thrown([] { ParseAmount("1.1234567", "amount"); });
	EXPECT_EQ(e.Sqlstate(), "22023");
	EXPECT_NE(e.Message().find("more than 6 decimal places"), std::string::npos) << e.Message();
	EXPECT_NE(e.Detail().find("1.1234567"), std::string::npos) << e.Detail();
	EXPECT_FALSE(e.Hint().empty());
}

TEST(ParseAmount, NegativeRejectedUnlessAllowed) {
	Error e = Thrown([] { ParseAmount("-1", "amount"); });
	EXPECT_EQ(e.Sqlstate(), "22023");
	EXPECT_NE(e.Message().find("negative"), std::string::npos) << e.Message();
	EXPECT_EQ(ParseState("-0.000001"), sqlstate::kInvalidParameter);
	EXPECT_EQ(ParseAmount("-1.25", "adjustment", true), -1250000);
	EXPECT_EQ(ParseAmount("-0.000001", "adjustment", true), -1);
}

TEST(ParseAmount, NegativeZeroIsZero) {
	EXPECT_EQ(ParseAmount("-0", "amount"), 0);
	EXPECT_EQ(ParseAmount("-0.000000", "amount"), 0);
}

TEST(ParseAmount, NaNAndInfinityRejectedWith22023) {
	EXPECT_EQ(ParseState("NaN"), sqlstate::kInvalidParameter);
	EXPECT_EQ(ParseState("Infinity"), sqlstate::kInvalidParameter);
	EXPECT_EQ(ParseState("-Infinity"), sqlstate::kInvalidParameter);
	// Not even where negatives are allowed.
	EXPECT_EQ(Thrown([] { ParseAmount("-Infinity", "x", true); }).Sqlstate(), "22023");
	EXPECT_EQ(Thrown([] { ParseAmount("NaN", "x", true); }).Sqlstate(), "22023");
}

TEST(ParseAmount, TooLargeRejectedWith22023) {
	EXPECT_EQ(ParseAmount("1000000000000", "amount"), kMaxAmount);
	EXPECT_EQ(ParseState("1000000000000.000001"), sqlstate::kInvalidParameter);
	EXPECT_EQ(ParseState("1000000000001"), sqlstate::kInvalidParameter);
	EXPECT_EQ(ParseState("99999999999999999999999999999999999999999999"), sqlstate::kInvalidParameter);
	EXPECT_EQ(Thrown([] { ParseAmount("-1000000000001", "x", true); }).Sqlstate(), "22023");
	EXPECT_EQ(ParseAmount("-1000000000000", "x", true), -kMaxAmount);
}

TEST(ParseAmount, GarbageRejectedWith22023) {
	for (const char *text : {"", "-", "+", ".", "abc", "1.2.3", "1e5", " 1", "1 ", "1,5", "--1", "0x10", "nan"})
		EXPECT_EQ(ParseState(text), sqlstate::kInvalidParameter) << '"' << text << '"';
}

TEST(ParseAmount, ErrorNamesTheArgument) {
	Error e = Thrown([] { ParseAmount("NaN", "credit_limit"); });
	EXPECT_NE(e.Message().find("credit_limit"), std::string::npos) << e.Message();
	EXPECT_NE(e.Detail().find("credit_limit was NaN"), std::string::npos) << e.Detail();
}

TEST(FormatAmount, ShortestExactDecimal) {
	EXPECT_EQ(FormatAmount(0), "0");
	EXPECT_EQ(FormatAmount(1), "0.000001");
	EXPECT_EQ(FormatAmount(1000000), "1");
	EXPECT_EQ(FormatAmount(12500000), "12.5");
	EXPECT_EQ(FormatAmount(12345678), "12.345678");
	EXPECT_EQ(FormatAmount(100000), "0.1");
	EXPECT_EQ(FormatAmount(10000000), "10");
	EXPECT_EQ(FormatAmount(-3000000), "-3");
	EXPECT_EQ(FormatAmount(-1), "-0.000001");
	EXPECT_EQ(FormatAmount(kMaxAmount), "1000000000000");
}

TEST(FormatAmount, ExtremesOfInt64) {
	EXPECT_EQ(FormatAmount(std::numeric_limits<int64_t>::max()), "9223372036854.775807");
	EXPECT_EQ(FormatAmount(std::numeric_limits<int64_t>::min()), "-9223372036854.775808");
}

TEST(FormatAmount, RoundTripsThroughParse) {
	for (Micros v : {Micros{0}, Micros{1}, Micros{10}, Micros{999999}, Micros{1000001}, Micros{123456789012},
	                 kMaxAmount, kMaxAmount - 1})
		EXPECT_EQ(ParseAmount(FormatAmount(v), "amount"), v) << v;
	for (Micros v : {Micros{-1}, Micros{-1500000}, -kMaxAmount})
		EXPECT_EQ(ParseAmount(FormatAmount(v), "amount", true), v) << v;
}

TEST(AddAmounts, Sums) {
	EXPECT_EQ(AddAmounts(1500000, 2500000), 4000000);
	EXPECT_EQ(AddAmounts(-1, 1), 0);
	EXPECT_EQ(AddAmounts(kMaxAmount, kMaxAmount), 2 * kMaxAmount);
}

TEST(AddAmounts, OverflowIs22003) {
	constexpr Micros kMax = std::numeric_limits<int64_t>::max();
	constexpr Micros kMin = std::numeric_limits<int64_t>::min();
	Error e = Thrown([&] { AddAmounts(kMax, 1); });
	EXPECT_EQ(e.Sqlstate(), "22003");
	EXPECT_EQ(e.Sqlstate(), sqlstate::kOutOfRange);
	EXPECT_FALSE(e.Message().empty());
	EXPECT_EQ(Thrown([&] { AddAmounts(kMin, -1); }).Sqlstate(), "22003");
	EXPECT_EQ(AddAmounts(kMax, 0), kMax);
	EXPECT_EQ(AddAmounts(kMin, kMax), -1);
}

TEST(DivideDown, SplitsRoundingDownToSixPlaces) {
	EXPECT_EQ(DivideDown(ParseAmount("100", "a"), 3), ParseAmount("33.333333", "a"));
	EXPECT_EQ(DivideDown(ParseAmount("10", "a"), 4), ParseAmount("2.5", "a"));
	EXPECT_EQ(DivideDown(ParseAmount("0.000005", "a"), 2), 2);
	EXPECT_EQ(DivideDown(ParseAmount("0.000001", "a"), 7), 0);
	EXPECT_EQ(DivideDown(0, 5), 0);
	EXPECT_EQ(DivideDown(7, 1), 7);
}

TEST(DivideDown, NegativeRoundsTowardMinusInfinity) {
	EXPECT_EQ(DivideDown(-7, 2), -4);
	EXPECT_EQ(DivideDown(-6, 2), -3);
}

TEST(DivideDown, AmongNoOneIs22023) {
	EXPECT_EQ(Thrown([] { DivideDown(10, 0); }).Sqlstate(), "22023");
	EXPECT_EQ(Thrown([] { DivideDown(10, -2); }).Sqlstate(), "22023");
}

} // namespace
} // namespace credits
