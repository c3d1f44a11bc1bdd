#include "cpp_only.hpp"

#include "usage.hpp"

namespace credits {

std::string_view StatusName(Status status) {
	switch (status) {
	case Status::kSucceeded:
		return "succeeded";
	case Status::kInsufficientCredits:
		return "insufficient_credits";
	case Status::kMemberLimitExceeded:
		return "member_limit_exceeded";
	case Status::kAccessRevoked:
		return "access_revoked";
	case Status::kRateLimited:
		return "rate_limited";
	case Status::kBudgetExceeded:
		return "budget_exceeded";
	}
	return "succeeded";
}

const char *StatusSqlstate(Status status) {
	switch (status) {
	case Status::kInsufficientCredits:
		return sqlstate::kInsufficientCredits;
	case Status::kMemberLimitExceeded:
		return sqlstate::kMemberLimitExceeded;
	case Status::kAccessRevoked:
		return sqlstate::kAccessRevoked;
	case Status::kRateLimited:
		return sqlstate::kRateLimited;
	case Status::kBudgetExceeded:
		return sqlstate::kBudgetExceeded;
	case Status::kSucceeded:
		break;
	}
	return "00000";
}

Status CheckUsage(const MemberUsage &before, Micros add) {
	if (add <= 0)
		return Status::kSucceeded;
	if (before.revoked)
		return Status::kAccessRevoked;
	if (before.limit) {
		Micros after = AddAmounts(AddAmounts(before.used, before.held), add);
		if (after > *before.limit)
			return Status::kMemberLimitExceeded;
	}
	return Status::kSucceeded;
}

std::optional<Micros> RemainingLimit(const MemberUsage &usage) {
	if (!usage.limit)
		return std::nullopt;
	Micros left = *usage.limit - usage.used - usage.held;
	return left > 0 ? left : 0;
}

Error UsageError(Status status, std::string_view pool, std::string_view member, const MemberUsage &before,
                 Micros requested) {
	std::string who = "member \"" + std::string(member) + "\" of pool \"" + std::string(pool) + "\"";
	if (status == Status::kAccessRevoked)
		return Error(sqlstate::kAccessRevoked, "access revoked for " + who,
		             "requested " + FormatAmount(requested) + " credits.",
		             "An owner can give access back with credits.restore_access().");
	std::string limit = before.limit ? FormatAmount(*before.limit) : std::string("none");
	return Error(sqlstate::kMemberLimitExceeded,
	             std::string(PeriodAdjective(before.period)) + " credit limit of " + limit + " exceeded for " + who,
	             "requested " + FormatAmount(requested) + ", used " + FormatAmount(before.used) + ", held " +
	                 FormatAmount(before.held) + ", limit " + limit + ", remaining " +
	                 FormatAmount(RemainingLimit(before).value_or(0)) + ".",
	             before.period == Period::kNone
	                 ? "Raise the limit with credits.set_member_limit()."
	                 : "Raise the limit with credits.set_member_limit(), or wait for the next period.");
}

Error InsufficientError(std::string_view pool, std::string_view member, Micros requested, Micros available) {
	return Error(sqlstate::kInsufficientCredits,
	             "insufficient credits in pool \"" + std::string(pool) + "\" for member \"" + std::string(member) +
	                 "\"",
	             "requested " + FormatAmount(requested) + ", available " + FormatAmount(available) + ".",
	             "Add credits with credits.grant(), or charge less.");
}

Status CheckBudget(const BudgetUsage &budget, Micros add) {
	if (add <= 0 || !budget.limit)
		return Status::kSucceeded;
	return AddAmounts(AddAmounts(budget.used, budget.held), add) > *budget.limit ? Status::kBudgetExceeded
	                                                                             : Status::kSucceeded;
}

std::optional<Micros> RemainingBudget(const BudgetUsage &budget) {
	if (!budget.limit)
		return std::nullopt;
	Micros left = *budget.limit - budget.used - budget.held;
	return left > 0 ? left : 0;
}

Error BudgetError(std::string_view pool, std::string_view member, const BudgetUsage &before, Micros requested) {
	std::string limit = before.limit ? FormatAmount(*before.limit) : std::string("none");
	return Error(sqlstate::kBudgetExceeded,
	             std::string(PeriodAdjective(before.period)) + " budget \"" + before.name + "\" of " + limit +
	                 " exceeded for member \"" + std::string(member) + "\" of pool \"" + std::string(pool) + "\"",
	             "requested " + FormatAmount(requested) + ", budget used " + FormatAmount(before.used) + ", held " +
	                 FormatAmount(before.held) + ", limit " + limit + ", remaining " +
	                 FormatAmount(RemainingBudget(before).value_or(0)) + ".",
	             "Raise the budget with credits.set_budget(), or wait for the next period.");
}

Error RateLimitedError(std::string_view pool, std::string_view member, const FrequencyCap &cap) {
	const std::string who = cap.scope == "pool" ? "pool \"" + std::string(pool) + "\" (all members)"
	                                             : "member \"" + std::string(member) + "\" of pool \"" +
	                                                   std::string(pool) + "\"";
	return Error(sqlstate::kRateLimited,
	             "frequency cap of " + std::to_string(cap.max_calls) + (cap.max_calls == 1 ? " call per " : " calls per ") +
	                 cap.per + " reached for feature \"" + cap.feature + "\" by " + who,
	             "calls in the window " + std::to_string(cap.calls_in_window) + ", max_calls " +
	                 std::to_string(cap.max_calls) + ", per " + cap.per + ".",
	             "Retry when older calls leave the window, or raise the cap with credits.set_frequency_cap().");
}

ChargeDecision DecideCharge(std::string_view pool, std::string_view member, const MemberUsage &usage,
                            Micros requested, Micros usable_available, const std::vector<FrequencyCap> &caps,
                            const std::optional<BudgetUsage> &budget) {
	ChargeDecision decision;
	if (usage.revoked) {
		decision.status = Status::kAccessRevoked;
		decision.error = UsageError(decision.status, pool, member, usage, requested);
		return decision;
	}
	for (const FrequencyCap &cap : caps)
		if (cap.calls_in_window >= cap.max_calls) {
			decision.status = Status::kRateLimited;
			decision.error = RateLimitedError(pool, member, cap);
			return decision;
		}
	Status limit = CheckUsage(usage, requested);
	if (limit != Status::kSucceeded) {
		decision.status = limit;
		decision.error = UsageError(limit, pool, member, usage, requested);
		return decision;
	}
	if (budget && CheckBudget(*budget, requested) != Status::kSucceeded) {
		decision.status = Status::kBudgetExceeded;
		decision.error = BudgetError(pool, member, *budget, requested);
		return decision;
	}
	if (requested > usable_available) {
		decision.status = Status::kInsufficientCredits;
		decision.error = InsufficientError(pool, member, requested, usable_available);
	}
	return decision;
}

} // namespace credits
