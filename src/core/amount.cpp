#include "cpp_only.hpp"

#include "amount.hpp"

#include "error.hpp"

namespace credits {

namespace {

[[noreturn]] void Reject(std::string_view what, std::string_view text, const char *why) {
	throw Error(sqlstate::kInvalidParameter, std::string("invalid ") + std::string(what) + ": " + why,
	            std::string(what) + " was " + std::string(text) + ".",
	            "Amounts are exact decimals from 0 to 1000000000000 with at most 6 decimal places.");
}

} // namespace

Micros ParseAmount(std::string_view text, std::string_view what, bool allow_negative) {
	if (text == "NaN")
		Reject(what, text, "NaN is not an amount");
	if (text == "Infinity" || text == "-Infinity")
		Reject(what, text, "an amount must be finite");
	std::size_t pos = 0;
	bool negative = false;
	if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) {
		negative = text[pos] == '-';
		++pos;
	}
	if (pos >= text.size())
		Reject(what, text, "not a number");
	__int128 whole = 0;
	bool any_digit = false;
	for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
		any_digit = true;
		whole = whole * 10 + (text[pos] - '0');
		if (whole > kMaxAmount)
			Reject(what, text, "too large");
	}
	__int128 fraction = 0;
	int places = 0;
	if (pos < text.size() && text[pos] == '.') {
		for (++pos; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
			any_digit = true;
			if (places < 6) {
				fraction = fraction * 10 + (text[pos] - '0');
				++places;
			} else if (text[pos] != '0') {
				Reject(what, text, "more than 6 decimal places");
			}
		}
	}
	if (!any_digit || pos != text.size())
		Reject(what, text, "not a number");
	for (; places < 6; ++places)
		fraction *= 10;
	__int128 micros = whole * kMicrosPerCredit + fraction;
	if (micros > kMaxAmount)
		Reject(what, text, "too large");
	if (negative && micros != 0) {
		if (!allow_negative)
			Reject(what, text, "must not be negative");
		micros = -micros;
	}
	return static_cast<Micros>(micros);
}

std::string FormatAmount(Micros value) {
	// Work in unsigned space so INT64_MIN formats too.
	bool negative = value < 0;
	uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
	std::string out = negative ? "-" : "";
	out += std::to_string(magnitude / kMicrosPerCredit);
	uint64_t fraction = magnitude % kMicrosPerCredit;
	if (fraction != 0) {
		std::string digits = std::to_string(fraction);
		digits.insert(0, 6 - digits.size(), '0');
		while (!digits.empty() && digits.back() == '0')
			digits.pop_back();
		out += "." + digits;
	}
	return out;
}

Micros AddAmounts(Micros a, Micros b) {
	Micros sum;
	if (__builtin_add_overflow(a, b, &sum))
		throw Error(sqlstate::kOutOfRange, "credit total out of range",
		            FormatAmount(a) + " + " + FormatAmount(b) + " does not fit.");
	return sum;
}

Micros DivideDown(Micros value, int64_t n) {
	if (n <= 0)
		throw Error(sqlstate::kInvalidParameter, "cannot divide an amount among no one");
	Micros q = value / n;
	if (value % n != 0 && value < 0)
		--q;
	return q;
}

} // namespace credits
