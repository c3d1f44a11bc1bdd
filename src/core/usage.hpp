// Member access and credit limits: the one rule every path that records
// usage goes through (the charge path and the members table trigger).
#pragma once
#include "amount.hpp"
#include "error.hpp"
#include "period.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace credits {

enum class Status {
	kSucceeded,
	kInsufficientCredits,
	kMemberLimitExceeded,
	kAccessRevoked,
	kRateLimited,
	kBudgetExceeded
};

std::string_view StatusName(Status status);
const char *StatusSqlstate(Status status);

struct MemberUsage {
	Micros used = 0; // in the current period
	Micros held = 0; // pending holds
	std::optional<Micros> limit;
	Period period = Period::kMonth;
	bool revoked = false;
};

// Status of adding `add` to the member's usage (used or held).
Status CheckUsage(const MemberUsage &before, Micros add);

// What the member may still spend under its limit (nullopt: no limit).
std::optional<Micros> RemainingLimit(const MemberUsage &usage);

// The error that explains a rejected usage increase of `requested`.
Error UsageError(Status status, std::string_view pool, std::string_view member, const MemberUsage &before,
                 Micros requested);

// The error for a charge the member's usable grants cannot cover.
Error InsufficientError(std::string_view pool, std::string_view member, Micros requested, Micros available);

// A budget: a cap inside a pool on what a group of members may use in a
// period (used counts the current period only).
struct BudgetUsage {
	std::string name;
	Micros used = 0;
	Micros held = 0;
	std::optional<Micros> limit;
	Period period = Period::kMonth;
};

// Status of adding `add` to a budget's usage; and the error that explains a
// refusal.
Status CheckBudget(const BudgetUsage &budget, Micros add);
std::optional<Micros> RemainingBudget(const BudgetUsage &budget);
Error BudgetError(std::string_view pool, std::string_view member, const BudgetUsage &before, Micros requested);

// A frequency cap on one feature, with the calls in its window: the
// member's (scope "member") or all members' (scope "pool").
struct FrequencyCap {
	std::string feature;
	int64_t max_calls = 0;
	std::string per; // the window, as the owner wrote it (e.g. "00:01:00")
	int64_t calls_in_window = 0;
	std::string scope = "member";
};

// The error for a call past a frequency cap.
Error RateLimitedError(std::string_view pool, std::string_view member, const FrequencyCap &cap);

// Decides a charge or a hold: the member's checks first (access, each
// frequency cap in turn, its limit, its budget), then credits.
struct ChargeDecision {
	Status status = Status::kSucceeded;
	std::optional<Error> error; // set unless succeeded
};
ChargeDecision DecideCharge(std::string_view pool, std::string_view member, const MemberUsage &usage,
                            Micros requested, Micros usable_available, const std::vector<FrequencyCap> &caps = {},
                            const std::optional<BudgetUsage> &budget = std::nullopt);

} // namespace credits
