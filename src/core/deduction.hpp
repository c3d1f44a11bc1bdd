// Which grants a charge consumes, in the spec's order: rank (kind or explicit
// priority), then expiry (never-expiring last), then effective time, then id.
#pragma once
#include "amount.hpp"
#include "period.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace credits {

// Rank of a grant kind on the priority scale, or nullopt for an unknown kind.
std::optional<int> KindRank(std::string_view kind);

struct Lot {
	int64_t grant_id = 0;
	int32_t rank = 0;
	Timestamp expires_at = kEndOfTime;
	Timestamp effective_at = 0;
	Micros remaining = 0;
	bool usable = true; // the pool's own, or the charging member's
};

// Who may spend a grant: a member's own grant only that member; a grant
// scoped to features only a charge or hold for one of them (one without a
// feature, none of them).
struct LotScope {
	std::optional<std::string> member;
	std::optional<std::vector<std::string>> features;
};
bool UsableBy(const LotScope &scope, std::string_view member, const std::optional<std::string> &feature);

struct Part {
	int64_t grant_id;
	Micros amount;
};

// True when a is consumed before b.
bool DeductedBefore(const Lot &a, const Lot &b);

// Sum of remaining over all lots (usable_only: only those the member may use).
Micros TotalRemaining(const std::vector<Lot> &lots, bool usable_only);

// Takes `amount` from the usable lots in deduction order. nullopt when they
// hold less than `amount`. A zero amount yields no parts.
std::optional<std::vector<Part>> Allocate(std::vector<Lot> lots, Micros amount);

} // namespace credits
