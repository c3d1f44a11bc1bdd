// Business errors carry their SQLSTATE so the PostgreSQL edge can report
// them unchanged (class CR for business rules, 22xxx for bad input).
#pragma once

#include <stdexcept>
#include <string>

namespace credits {

class Error : public std::exception {
public:
	Error(std::string sqlstate, std::string message, std::string detail = {}, std::string hint = {})
	    : sqlstate_(std::move(sqlstate)), message_(std::move(message)), detail_(std::move(detail)),
	      hint_(std::move(hint)) {
	}
	const char *what() const noexcept override {
		return message_.c_str();
	}
	const std::string &Sqlstate() const {
		return sqlstate_;
	}
	const std::string &Message() const {
		return message_;
	}
	const std::string &Detail() const {
		return detail_;
	}
	const std::string &Hint() const {
		return hint_;
	}

private:
	std::string sqlstate_;
	std::string message_;
	std::string detail_;
	std::string hint_;
};

namespace sqlstate {
constexpr const char *kInsufficientCredits = "CR001";
constexpr const char *kMemberLimitExceeded = "CR002";
constexpr const char *kAccessRevoked = "CR003";
constexpr const char *kUnknownPool = "CR004";
constexpr const char *kIdempotencyConflict = "CR005";
constexpr const char *kHoldNotPending = "CR006";
constexpr const char *kRateLimited = "CR007";
constexpr const char *kLimitExceedsAvailable = "CR008";
constexpr const char *kUnknownFeature = "CR009";
constexpr const char *kNotFound = "CR010";
constexpr const char *kBudgetExceeded = "CR011";
constexpr const char *kInvalidParameter = "22023";
constexpr const char *kNullValue = "22004";
constexpr const char *kOutOfRange = "22003";
} // namespace sqlstate

} // namespace credits
