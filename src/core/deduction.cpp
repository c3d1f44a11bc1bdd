#include "cpp_only.hpp"

#include "deduction.hpp"

#include <algorithm>

namespace credits {

std::optional<int> KindRank(std::string_view kind) {
	if (kind == "free")
		return 10;
	if (kind == "promo")
		return 20;
	if (kind == "plan")
		return 30;
	if (kind == "purchased")
		return 40;
	return std::nullopt;
}

bool UsableBy(const LotScope &scope, std::string_view member, const std::optional<std::string> &feature) {
	if (scope.member && *scope.member != member)
		return false;
	if (!scope.features)
		return true;
	return feature && std::find(scope.features->begin(), scope.features->end(), *feature) != scope.features->end();
}

bool DeductedBefore(const Lot &a, const Lot &b) {
	if (a.rank != b.rank)
		return a.rank < b.rank;
	if (a.expires_at != b.expires_at)
		return a.expires_at < b.expires_at;
	if (a.effective_at != b.effective_at)
		return a.effective_at < b.effective_at;
	return a.grant_id < b.grant_id;
}

Micros TotalRemaining(const std::vector<Lot> &lots, bool usable_only) {
	Micros total = 0;
	for (const Lot &lot : lots)
		if (lot.usable || !usable_only)
			total = AddAmounts(total, lot.remaining);
	return total;
}

std::optional<std::vector<Part>> Allocate(std::vector<Lot> lots, Micros amount) {
	lots.erase(std::remove_if(lots.begin(), lots.end(), [](const Lot &l) { return !l.usable || l.remaining <= 0; }),
	           lots.end());
	std::sort(lots.begin(), lots.end(), DeductedBefore);
	std::vector<Part> parts;
	Micros left = amount;
	for (const Lot &lot : lots) {
		if (left == 0)
			break;
		Micros take = std::min(left, lot.remaining);
		parts.push_back(Part{lot.grant_id, take});
		left -= take;
	}
	if (left > 0)
		return std::nullopt;
	return parts;
}

} // namespace credits
