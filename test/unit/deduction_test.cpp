// FIFO deduction order and allocation of a charge across grants.
#include "core/deduction.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace credits {
namespace {

constexpr Micros kCredit = kMicrosPerCredit;
constexpr Timestamp kDay = 86400LL * 1000000LL;

Lot MakeLot(int64_t id, int32_t rank, Micros remaining, Timestamp expires_at = kEndOfTime, Timestamp effective_at = 0,
            bool usable = true) {
	Lot lot;
	lot.grant_id = id;
	lot.rank = rank;
	lot.remaining = remaining;
	lot.expires_at = expires_at;
	lot.effective_at = effective_at;
	lot.usable = usable;
	return lot;
}

int Rank(const char *kind) {
	return KindRank(kind).value();
}

// Grant ids in the order a charge would consume them.
std::vector<int64_t> Order(std::vector<Lot> lots) {
	std::sort(lots.begin(), lots.end(), DeductedBefore);
	std::vector<int64_t> ids;
	for (const Lot &lot : lots)
		ids.push_back(lot.grant_id);
	return ids;
}

std::vector<std::pair<int64_t, Micros>> Pairs(const std::vector<Part> &parts) {
	std::vector<std::pair<int64_t, Micros>> out;
	for (const Part &p : parts)
		out.emplace_back(p.grant_id, p.amount);
	return out;
}

using Expected = std::vector<std::pair<int64_t, Micros>>;

TEST(KindRank, SpecScale) {
	EXPECT_EQ(KindRank("free"), 10);
	EXPECT_EQ(KindRank("promo"), 20);
	EXPECT_EQ(KindRank("plan"), 30);
	EXPECT_EQ(KindRank("purchased"), 40);
}

TEST(KindRank, UnknownKinds) {
	for (const char *kind : {"", "Free", "FREE", "bonus", "purchase", "free ", "refund"})
		EXPECT_FALSE(KindRank(kind).has_value()) << '"' << kind << '"';
}

TEST(DeductionOrder, FreeThenPromoThenPlanThenPurchased) {
	// Inserted in the opposite order, with ids that would say otherwise.
	std::vector<Lot> lots = {MakeLot(1, Rank("purchased"), kCredit), MakeLot(2, Rank("plan"), kCredit),
	                         MakeLot(3, Rank("promo"), kCredit), MakeLot(4, Rank("free"), kCredit)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{4, 3, 2, 1}));
}

TEST(DeductionOrder, RankBeatsExpiry) {
	// A purchased lot expiring tomorrow still waits for a never-expiring free one.
	std::vector<Lot> lots = {MakeLot(1, Rank("purchased"), kCredit, kDay), MakeLot(2, Rank("free"), kCredit)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{2, 1}));
}

TEST(DeductionOrder, ExplicitPriorityReplacesRank) {
	// On the kinds' scale (lower first): 15 sits between free (10) and promo
	// (20), 25 between promo and plan (30); a purchased grant with priority 5
	// goes before free, a free grant with priority 50 after purchased (40).
	std::vector<Lot> lots = {MakeLot(1, Rank("free"), kCredit),
	                         MakeLot(2, Rank("promo"), kCredit),
	                         MakeLot(3, Rank("plan"), kCredit),
	                         MakeLot(4, Rank("purchased"), kCredit),
	                         MakeLot(5, 15, kCredit),
	                         MakeLot(6, 5, kCredit),
	                         MakeLot(7, 50, kCredit),
	                         MakeLot(8, 30, kCredit, 10 * kDay),
	                         MakeLot(9, 25, kCredit)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{6, 1, 5, 2, 9, 8, 3, 4, 7}));
}

TEST(DeductionOrder, EqualPriorityTiesOnExpiryNotKind) {
	// Priority 30 on a purchased grant ties with plan; expiry decides.
	std::vector<Lot> lots = {MakeLot(1, Rank("plan"), kCredit, 20 * kDay), MakeLot(2, 30, kCredit, 10 * kDay)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{2, 1}));
}

TEST(DeductionOrder, SoonestExpiryFirstNeverExpiringLast) {
	std::vector<Lot> lots = {MakeLot(1, 40, kCredit), MakeLot(2, 40, kCredit, 30 * kDay),
	                         MakeLot(3, 40, kCredit, -5 * kDay), MakeLot(4, 40, kCredit, 2 * kDay)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{3, 4, 2, 1}));
}

TEST(DeductionOrder, ThenEarliestEffective) {
	std::vector<Lot> lots = {MakeLot(1, 40, kCredit, kEndOfTime, 3 * kDay), MakeLot(2, 40, kCredit, kEndOfTime, -kDay),
	                         MakeLot(3, 40, kCredit, kEndOfTime, kDay)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{2, 3, 1}));
	// Effective time only breaks ties of expiry.
	lots = {MakeLot(1, 40, kCredit, 5 * kDay, 0), MakeLot(2, 40, kCredit, 9 * kDay, -100 * kDay)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{1, 2}));
}

TEST(DeductionOrder, ThenGrantId) {
	std::vector<Lot> lots = {MakeLot(9, 40, kCredit, 7 * kDay, kDay), MakeLot(2, 40, kCredit, 7 * kDay, kDay),
	                         MakeLot(5, 40, kCredit, 7 * kDay, kDay)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{2, 5, 9}));
	// The remaining amount never decides.
	lots = {MakeLot(2, 40, 1), MakeLot(1, 40, 100 * kCredit)};
	EXPECT_EQ(Order(lots), (std::vector<int64_t>{1, 2}));
}

TEST(DeductionOrder, IsAStrictTotalOrder) {
	std::mt19937_64 rng(20240229);
	std::vector<Lot> lots;
	for (int64_t id = 1; id <= 200; ++id) {
		Timestamp expires = rng() % 4 == 0 ? kEndOfTime : static_cast<Timestamp>(rng() % 5) * kDay;
		lots.push_back(MakeLot(id, static_cast<int32_t>(10 * (1 + rng() % 4)), kCredit, expires,
		                       static_cast<Timestamp>(rng() % 3) * kDay));
	}
	for (const Lot &a : lots) {
		EXPECT_FALSE(DeductedBefore(a, a));
		for (const Lot &b : lots) {
			if (a.grant_id != b.grant_id) {
				ASSERT_NE(DeductedBefore(a, b), DeductedBefore(b, a));
			}
		}
	}
	std::vector<int64_t> once = Order(lots);
	std::shuffle(lots.begin(), lots.end(), rng);
	EXPECT_EQ(Order(lots), once);
}

TEST(TotalRemaining, AllOrUsableOnly) {
	std::vector<Lot> lots = {MakeLot(1, 10, 5 * kCredit), MakeLot(2, 40, 7 * kCredit, kEndOfTime, 0, false),
	                         MakeLot(3, 40, 1)};
	EXPECT_EQ(TotalRemaining(lots, false), 12 * kCredit + 1);
	EXPECT_EQ(TotalRemaining(lots, true), 5 * kCredit + 1);
	EXPECT_EQ(TotalRemaining({}, true), 0);
}

TEST(Allocate, WithinTheFirstLot) {
	std::vector<Lot> lots = {MakeLot(1, 40, 100 * kCredit), MakeLot(2, 10, 50 * kCredit)};
	auto parts = Allocate(lots, 20 * kCredit);
	ASSERT_TRUE(parts.has_value());
	EXPECT_EQ(Pairs(*parts), (Expected{{2, 20 * kCredit}}));
}

TEST(Allocate, ExactlyExhaustsALotWithoutAnEmptyPart) {
	std::vector<Lot> lots = {MakeLot(1, 10, 5 * kCredit), MakeLot(2, 20, 5 * kCredit)};
	auto parts = Allocate(lots, 5 * kCredit);
	ASSERT_TRUE(parts.has_value());
	EXPECT_EQ(Pairs(*parts), (Expected{{1, 5 * kCredit}}));
}

TEST(Allocate, SpansSeveralLotsInDeductionOrder) {
	// free 2, promo (expiring) 3, promo (never) 4, plan 10, purchased 100.
	std::vector<Lot> lots = {
	    MakeLot(10, Rank("purchased"), 100 * kCredit), MakeLot(11, Rank("plan"), 10 * kCredit, 30 * kDay),
	    MakeLot(12, Rank("promo"), 4 * kCredit), MakeLot(13, Rank("promo"), 3 * kCredit, 10 * kDay),
	    MakeLot(14, Rank("free"), 2 * kCredit)};
	auto parts = Allocate(lots, 25 * kCredit + 500000);
	ASSERT_TRUE(parts.has_value());
	EXPECT_EQ(
	    Pairs(*parts),
	    (Expected{
	        {14, 2 * kCredit}, {13, 3 * kCredit}, {12, 4 * kCredit}, {11, 10 * kCredit}, {10, 6 * kCredit + 500000}}));
}

TEST(Allocate, TakesEverythingWhenAskedForAll) {
	std::vector<Lot> lots = {MakeLot(1, 40, 3), MakeLot(2, 10, 4), MakeLot(3, 20, 5)};
	auto parts = Allocate(lots, 12);
	ASSERT_TRUE(parts.has_value());
	EXPECT_EQ(Pairs(*parts), (Expected{{2, 4}, {3, 5}, {1, 3}}));
}

TEST(Allocate, PartsSumToTheAmount) {
	std::mt19937_64 rng(7);
	for (int round = 0; round < 200; ++round) {
		std::vector<Lot> lots;
		for (int64_t id = 1; id <= 12; ++id)
			lots.push_back(MakeLot(id, static_cast<int32_t>(rng() % 50), static_cast<Micros>(rng() % 5000000),
			                       rng() % 2 ? kEndOfTime : static_cast<Timestamp>(rng() % 10) * kDay, 0,
			                       rng() % 5 != 0));
		const Micros usable = TotalRemaining(lots, true);
		const Micros amount = usable == 0 ? 0 : static_cast<Micros>(rng() % (usable + 1));
		auto parts = Allocate(lots, amount);
		ASSERT_TRUE(parts.has_value());
		Micros sum = 0;
		for (const Part &p : *parts) {
			ASSERT_GT(p.amount, 0);
			auto lot = std::find_if(lots.begin(), lots.end(), [&](const Lot &l) { return l.grant_id == p.grant_id; });
			ASSERT_NE(lot, lots.end());
			ASSERT_TRUE(lot->usable);
			ASSERT_LE(p.amount, lot->remaining);
			sum += p.amount;
		}
		ASSERT_EQ(sum, amount);
		// Every part but the last empties its lot.
		for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
			auto lot = std::find_if(lots.begin(), lots.end(),
			                        [&](const Lot &l) { return l.grant_id == (*parts)[i].grant_id; });
			ASSERT_EQ((*parts)[i].amount, lot->remaining);
		}
		if (usable > 0) {
			ASSERT_FALSE(Allocate(lots, usable + 1).has_value());
		}
	}
}

TEST(Allocate, SkipsLotsTheMemberMayNotUse) {
	// Grant 1 is another member's personal allowance: first in order, never used.
	std::vector<Lot> lots = {MakeLot(1, Rank("free"), 50 * kCredit, kEndOfTime, 0, false),
	                         MakeLot(2, Rank("plan"), 10 * kCredit), MakeLot(3, Rank("purchased"), 10 * kCredit)};
	auto parts = Allocate(lots, 15 * kCredit);
	ASSERT_TRUE(parts.has_value());
	EXPECT_EQ(Pairs(*parts), (Expected{{2, 10 * kCredit}, {3, 5 * kCredit}}));
}

TEST(Allocate, UnusableLotsDoNotCoverAShortfall) {
	std::vector<Lot> lots = {MakeLot(1, Rank("free"), 50 * kCredit, kEndOfTime, 0, false),
	                         MakeLot(2, Rank("plan"), 10 * kCredit)};
	EXPECT_FALSE(Allocate(lots, 10 * kCredit + 1).has_value());
	EXPECT_TRUE(Allocate(lots, 10 * kCredit).has_value());
}

TEST(UsableBy, PoolGrantsAnyMemberAnyFeature) {
	LotScope scope;
	EXPECT_TRUE(UsableBy(scope, "alice", std::nullopt));
	EXPECT_TRUE(UsableBy(scope, "bob", std::string("video")));
}

TEST(UsableBy, MembersOwnGrantOnlyThatMember) {
	LotScope scope{std::string("alice"), std::nullopt};
	EXPECT_TRUE(UsableBy(scope, "alice", std::nullopt));
	EXPECT_FALSE(UsableBy(scope, "bob", std::nullopt));
	EXPECT_FALSE(UsableBy(scope, "", std::nullopt));
}

TEST(UsableBy, ScopedGrantOnlyItsFeatures) {
	LotScope scope{std::nullopt, std::vector<std::string>{"video", "image"}};
	EXPECT_TRUE(UsableBy(scope, "alice", std::string("video")));
	EXPECT_TRUE(UsableBy(scope, "alice", std::string("image")));
	EXPECT_FALSE(UsableBy(scope, "alice", std::string("text")));
	EXPECT_FALSE(UsableBy(scope, "alice", std::string("Video")));
	// a charge without a feature cannot use a scoped grant
	EXPECT_FALSE(UsableBy(scope, "alice", std::nullopt));
}

TEST(UsableBy, MemberAndFeatureBothApply) {
	LotScope scope{std::string("alice"), std::vector<std::string>{"video"}};
	EXPECT_TRUE(UsableBy(scope, "alice", std::string("video")));
	EXPECT_FALSE(UsableBy(scope, "bob", std::string("video")));
	EXPECT_FALSE(UsableBy(scope, "alice", std::string("text")));
}

TEST(Allocate, ScopedGrantsKeepTheDeductionOrderAmongUsableOnes) {
	// free (video only), plan (any), purchased (video only): a video charge
	// takes free, plan, purchased; a text charge only plan.
	const std::vector<std::pair<LotScope, Lot>> grants = {
	    {LotScope{std::nullopt, std::vector<std::string>{"video"}}, MakeLot(1, Rank("free"), 2 * kCredit)},
	    {LotScope{}, MakeLot(2, Rank("plan"), 2 * kCredit)},
	    {LotScope{std::nullopt, std::vector<std::string>{"video"}}, MakeLot(3, Rank("purchased"), 2 * kCredit)}};
	auto lots_for = [&](const std::optional<std::string> &feature) {
		std::vector<Lot> lots;
		for (auto [scope, lot] : grants) {
			lot.usable = UsableBy(scope, "alice", feature);
			lots.push_back(lot);
		}
		return lots;
	};
	EXPECT_EQ(Pairs(*Allocate(lots_for(std::string("video")), 5 * kCredit)),
	          (Expected{{1, 2 * kCredit}, {2, 2 * kCredit}, {3, kCredit}}));
	EXPECT_EQ(Pairs(*Allocate(lots_for(std::string("text")), 2 * kCredit)), (Expected{{2, 2 * kCredit}}));
	EXPECT_FALSE(Allocate(lots_for(std::string("text")), 3 * kCredit).has_value());
	EXPECT_FALSE(Allocate(lots_for(std::nullopt), 3 * kCredit).has_value());
	EXPECT_EQ(TotalRemaining(lots_for(std::nullopt), true), 2 * kCredit);
	EXPECT_EQ(TotalRemaining(lots_for(std::nullopt), false), 6 * kCredit);
}

TEST(Allocate, SkipsEmptyLots) {
	std::vector<Lot> lots = {MakeLot(1, 10, 0), MakeLot(2, 20, 3)};
	auto parts = Allocate(lots, 2);
	ASSERT_TRUE(parts.has_value());
	EXPECT_EQ(Pairs(*parts), (Expected{{2, 2}}));
}

TEST(Allocate, InsufficientGivesNoAllocation) {
	std::vector<Lot> lots = {MakeLot(1, 10, 2 * kCredit), MakeLot(2, 40, 3 * kCredit)};
	EXPECT_FALSE(Allocate(lots, 5 * kCredit + 1).has_value());
	EXPECT_FALSE(Allocate({}, 1).has_value());
	EXPECT_FALSE(Allocate({MakeLot(1, 10, 0)}, 1).has_value());
}

TEST(Allocate, ZeroAmountYieldsNoParts) {
	auto parts = Allocate({MakeLot(1, 10, kCredit)}, 0);
	ASSERT_TRUE(parts.has_value());
	EXPECT_TRUE(parts->empty());
	parts = Allocate({}, 0);
	ASSERT_TRUE(parts.has_value());
	EXPECT_TRUE(parts->empty());
}

TEST(Allocate, LeavesTheCallersLotsUntouched) {
	std::vector<Lot> lots = {MakeLot(3, 40, 5), MakeLot(1, 10, 5)};
	ASSERT_TRUE(Allocate(lots, 7).has_value());
	EXPECT_EQ(lots[0].grant_id, 3);
	EXPECT_EQ(lots[0].remaining, 5);
	EXPECT_EQ(lots[1].grant_id, 1);
	EXPECT_EQ(lots[1].remaining, 5);
}

} // namespace
} // namespace credits
