// Member access and limits, and the business errors a charge can raise.
#include "core/usage.hpp"

#include <gtest/gtest.h>

#include <string>

namespace credits {
namespace {

Micros C(const char *text) {
	return ParseAmount(text, "amount");
}

MemberUsage Usage(std::optional<Micros> limit, Micros used = 0, Micros held = 0, bool revoked = false,
                  Period period = Period::kMonth) {
	MemberUsage u;
	u.limit = limit;
	u.used = used;
	u.held = held;
	u.revoked = revoked;
	u.period = period;
	return u;
}

bool Contains(const std::string &haystack, const std::string &needle) {
	return haystack.find(needle) != std::string::npos;
}

TEST(Status, NamesMatchChargeResultStatuses) {
	EXPECT_EQ(StatusName(Status::kSucceeded), "succeeded");
	EXPECT_EQ(StatusName(Status::kInsufficientCredits), "insufficient_credits");
	EXPECT_EQ(StatusName(Status::kMemberLimitExceeded), "member_limit_exceeded");
	EXPECT_EQ(StatusName(Status::kAccessRevoked), "access_revoked");
	EXPECT_EQ(StatusName(Status::kRateLimited), "rate_limited");
}

TEST(Status, Sqlstates) {
	EXPECT_STREQ(StatusSqlstate(Status::kInsufficientCredits), "CR001");
	EXPECT_STREQ(StatusSqlstate(Status::kMemberLimitExceeded), "CR002");
	EXPECT_STREQ(StatusSqlstate(Status::kAccessRevoked), "CR003");
	EXPECT_STREQ(StatusSqlstate(Status::kRateLimited), "CR007");
	EXPECT_STREQ(StatusSqlstate(Status::kSucceeded), "00000");
}

TEST(Sqlstate, SpecTable) {
	EXPECT_STREQ(sqlstate::kInsufficientCredits, "CR001");
	EXPECT_STREQ(sqlstate::kMemberLimitExceeded, "CR002");
	EXPECT_STREQ(sqlstate::kAccessRevoked, "CR003");
	EXPECT_STREQ(sqlstate::kUnknownPool, "CR004");
	EXPECT_STREQ(sqlstate::kIdempotencyConflict, "CR005");
	EXPECT_STREQ(sqlstate::kHoldNotPending, "CR006");
	EXPECT_STREQ(sqlstate::kRateLimited, "CR007");
	EXPECT_STREQ(sqlstate::kLimitExceedsAvailable, "CR008");
	EXPECT_STREQ(sqlstate::kUnknownFeature, "CR009");
	EXPECT_STREQ(sqlstate::kNotFound, "CR010");
	EXPECT_STREQ(sqlstate::kInvalidParameter, "22023");
	EXPECT_STREQ(sqlstate::kNullValue, "22004");
	EXPECT_STREQ(sqlstate::kOutOfRange, "22003");
}

TEST(CheckUsage, NoLimitAllowsAnything) {
	EXPECT_EQ(CheckUsage(Usage(std::nullopt, C("1000000")), C("999999")), Status::kSucceeded);
}

TEST(CheckUsage, UpToTheLimitExactly) {
	EXPECT_EQ(CheckUsage(Usage(C("10"), C("4")), C("6")), Status::kSucceeded);
	EXPECT_EQ(CheckUsage(Usage(C("10"), C("4")), C("6.000001")), Status::kMemberLimitExceeded);
	EXPECT_EQ(CheckUsage(Usage(C("0")), C("0.000001")), Status::kMemberLimitExceeded);
}

TEST(CheckUsage, HeldCountsAgainstTheLimit) {
	// limit 10, used 4, held 5: 1 left.
	EXPECT_EQ(CheckUsage(Usage(C("10"), C("4"), C("5")), C("1")), Status::kSucceeded);
	EXPECT_EQ(CheckUsage(Usage(C("10"), C("4"), C("5")), C("1.000001")), Status::kMemberLimitExceeded);
	EXPECT_EQ(CheckUsage(Usage(C("10"), 0, C("10")), C("0.000001")), Status::kMemberLimitExceeded);
}

TEST(CheckUsage, RevokedBeatsLimit) {
	EXPECT_EQ(CheckUsage(Usage(std::nullopt, 0, 0, true), C("1")), Status::kAccessRevoked);
	EXPECT_EQ(CheckUsage(Usage(C("10"), C("10"), 0, true), C("5")), Status::kAccessRevoked);
}

TEST(CheckUsage, ShrinkingOrUnchangedUsageIsAlwaysAllowed) {
	// A refund or release must go through even past a lowered limit or after
	// a revoke.
	EXPECT_EQ(CheckUsage(Usage(C("5"), C("8"), C("1")), -C("2")), Status::kSucceeded);
	EXPECT_EQ(CheckUsage(Usage(C("5"), C("8"), 0, true), -C("2")), Status::kSucceeded);
	EXPECT_EQ(CheckUsage(Usage(C("5"), C("8"), 0, true), 0), Status::kSucceeded);
}

TEST(RemainingLimit, LimitMinusUsedMinusHeld) {
	EXPECT_FALSE(RemainingLimit(Usage(std::nullopt, C("3"), C("4"))).has_value());
	EXPECT_EQ(RemainingLimit(Usage(C("10"))), C("10"));
	EXPECT_EQ(RemainingLimit(Usage(C("10"), C("4"))), C("6"));
	EXPECT_EQ(RemainingLimit(Usage(C("10"), C("4"), C("5"))), C("1"));
	EXPECT_EQ(RemainingLimit(Usage(C("10"), C("2.5"), C("0.000001"))), C("7.499999"));
	EXPECT_EQ(RemainingLimit(Usage(C("0"))), 0);
}

TEST(RemainingLimit, NeverNegative) {
	// A limit lowered below what was already used leaves nothing, not a debt.
	EXPECT_EQ(RemainingLimit(Usage(C("5"), C("8"))), 0);
	EXPECT_EQ(RemainingLimit(Usage(C("5"), C("3"), C("4"))), 0);
}

TEST(DecideCharge, SucceedsWithoutAnError) {
	ChargeDecision d = DecideCharge("acme", "alice", Usage(C("10"), C("4")), C("6"), C("6"));
	EXPECT_EQ(d.status, Status::kSucceeded);
	EXPECT_FALSE(d.error.has_value());
	d = DecideCharge("acme", "alice", Usage(std::nullopt), C("1000"), C("1000"));
	EXPECT_EQ(d.status, Status::kSucceeded);
}

TEST(DecideCharge, ZeroIsAFreeAction) {
	ChargeDecision d = DecideCharge("acme", "alice", Usage(C("0")), 0, 0);
	EXPECT_EQ(d.status, Status::kSucceeded);
	EXPECT_FALSE(d.error.has_value());
}

TEST(DecideCharge, RevokedBeatsLimitBeatsCredits) {
	// Revoked, over the limit, and short of credits: revoked wins.
	ChargeDecision d = DecideCharge("acme", "alice", Usage(C("10"), C("9"), 0, true), C("5"), C("1"));
	EXPECT_EQ(d.status, Status::kAccessRevoked);
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Sqlstate(), "CR003");
	// Over the limit and short of credits: the limit wins.
	d = DecideCharge("acme", "alice", Usage(C("10"), C("9")), C("5"), C("1"));
	EXPECT_EQ(d.status, Status::kMemberLimitExceeded);
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Sqlstate(), "CR002");
	// Only short of credits.
	d = DecideCharge("acme", "alice", Usage(C("10"), C("4")), C("5"), C("1"));
	EXPECT_EQ(d.status, Status::kInsufficientCredits);
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Sqlstate(), "CR001");
}

TEST(DecideCharge, RevokedMemberMayNotEvenChargeZero) {
	ChargeDecision d = DecideCharge("acme", "alice", Usage(std::nullopt, 0, 0, true), 0, C("100"));
	EXPECT_EQ(d.status, Status::kAccessRevoked);
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Sqlstate(), "CR003");
}

TEST(DecideCharge, HeldCreditsCountAgainstTheLimit) {
	ChargeDecision d = DecideCharge("acme", "alice", Usage(C("10"), C("4"), C("5")), C("2"), C("100"));
	EXPECT_EQ(d.status, Status::kMemberLimitExceeded);
	d = DecideCharge("acme", "alice", Usage(C("10"), C("4"), C("5")), C("1"), C("100"));
	EXPECT_EQ(d.status, Status::kSucceeded);
}

TEST(DecideCharge, ExactlyTheAvailableCreditsSucceeds) {
	EXPECT_EQ(DecideCharge("acme", "alice", Usage(std::nullopt), C("7.25"), C("7.25")).status, Status::kSucceeded);
	EXPECT_EQ(DecideCharge("acme", "alice", Usage(std::nullopt), C("7.250001"), C("7.25")).status,
	          Status::kInsufficientCredits);
	EXPECT_EQ(DecideCharge("acme", "alice", Usage(std::nullopt), C("0.000001"), 0).status,
	          Status::kInsufficientCredits);
}

TEST(DecideCharge, BudgetAfterTheMembersOwnLimitBeforeCredits) {
	BudgetUsage design{"design", C("40"), C("5"), C("50"), Period::kMonth};
	ChargeDecision d = DecideCharge("acme", "alice", Usage(std::nullopt), C("5"), C("100"), {}, design);
	EXPECT_EQ(d.status, Status::kSucceeded);
	d = DecideCharge("acme", "alice", Usage(std::nullopt), C("5.000001"), C("100"), {}, design);
	EXPECT_EQ(d.status, Status::kBudgetExceeded);
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Sqlstate(), "CR011");
	EXPECT_EQ(d.error->Message(), "monthly budget \"design\" of 50 exceeded for member \"alice\" of pool \"acme\"");
	EXPECT_EQ(d.error->Detail(), "requested 5.000001, budget used 40, held 5, limit 50, remaining 5.");
	// the member's own limit fires first; credits come after the budget
	d = DecideCharge("acme", "alice", Usage(C("1")), C("6"), C("100"), {}, design);
	EXPECT_EQ(d.status, Status::kMemberLimitExceeded);
	d = DecideCharge("acme", "alice", Usage(std::nullopt), C("6"), C("1"), {}, design);
	EXPECT_EQ(d.status, Status::kBudgetExceeded);
	// a free action, and a budget without a limit, never exceed
	EXPECT_EQ(DecideCharge("acme", "alice", Usage(std::nullopt), 0, 0, {}, design).status, Status::kSucceeded);
	BudgetUsage open{"ops", C("1000"), 0, std::nullopt, Period::kMonth};
	EXPECT_EQ(DecideCharge("acme", "alice", Usage(std::nullopt), C("5"), C("5"), {}, open).status, Status::kSucceeded);
	EXPECT_EQ(RemainingBudget(design), C("5"));
	EXPECT_FALSE(RemainingBudget(open).has_value());
}

TEST(DecideCharge, EveryCapIsCheckedAndTheFirstThatFiresIsNamed) {
	FrequencyCap per_minute{"chat", 10, "00:01:00", 3, "member"};
	FrequencyCap per_day_pool{"chat", 100, "1 day", 100, "pool"};
	FrequencyCap per_hour{"chat", 5, "01:00:00", 5, "member"};
	ChargeDecision d = DecideCharge("acme", "alice", Usage(std::nullopt), C("1"), C("10"), {per_minute, per_day_pool, per_hour});
	EXPECT_EQ(d.status, Status::kRateLimited);
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Message(),
	          "frequency cap of 100 calls per 1 day reached for feature \"chat\" by pool \"acme\" (all members)");
	d = DecideCharge("acme", "alice", Usage(std::nullopt), C("1"), C("10"), {per_minute, per_hour});
	EXPECT_TRUE(Contains(d.error->Message(), "5 calls per 01:00:00")) << d.error->Message();
	EXPECT_EQ(DecideCharge("acme", "alice", Usage(std::nullopt), C("1"), C("10"), {per_minute}).status,
	          Status::kSucceeded);
}

TEST(InsufficientError, NamesPoolMemberAndFigures) {
	Error e = InsufficientError("acme", "alice", C("12.5"), C("3"));
	EXPECT_EQ(e.Sqlstate(), "CR001");
	EXPECT_TRUE(Contains(e.Message(), "insufficient credits")) << e.Message();
	EXPECT_TRUE(Contains(e.Message(), "\"acme\"")) << e.Message();
	EXPECT_TRUE(Contains(e.Message(), "\"alice\"")) << e.Message();
	EXPECT_EQ(e.Detail(), "requested 12.5, available 3.");
	EXPECT_TRUE(Contains(e.Hint(), "credits.grant()")) << e.Hint();
	EXPECT_STREQ(e.what(), e.Message().c_str());
}

TEST(RateLimitedError, CountsCallsInTheCapsWords) {
	FrequencyCap one{"chat", 1, "1 day", 1};
	Error e = RateLimitedError("acme", "alice", one);
	EXPECT_EQ(e.Sqlstate(), "CR007");
	EXPECT_EQ(e.Message(),
	          "frequency cap of 1 call per 1 day reached for feature \"chat\" by member \"alice\" of pool \"acme\"");
	EXPECT_EQ(e.Detail(), "calls in the window 1, max_calls 1, per 1 day.");
	FrequencyCap two{"chat", 2, "01:00:00", 2};
	EXPECT_TRUE(Contains(RateLimitedError("acme", "alice", two).Message(), "cap of 2 calls per 01:00:00"));
}

TEST(UsageError, MemberLimitNamesTheLimitAndGivesFigures) {
	Error e = UsageError(Status::kMemberLimitExceeded, "acme", "alice", Usage(C("10"), C("4"), C("5")), C("2"));
	EXPECT_EQ(e.Sqlstate(), "CR002");
	EXPECT_EQ(e.Message(), "monthly credit limit of 10 exceeded for member \"alice\" of pool \"acme\"");
	EXPECT_EQ(e.Detail(), "requested 2, used 4, held 5, limit 10, remaining 1.");
	EXPECT_TRUE(Contains(e.Hint(), "credits.set_member_limit()")) << e.Hint();
	EXPECT_TRUE(Contains(e.Hint(), "next period")) << e.Hint();
}

TEST(UsageError, PeriodAdjectiveInTheMessage) {
	auto message = [](Period p) {
		return UsageError(Status::kMemberLimitExceeded, "p", "m", Usage(C("1"), C("1"), 0, false, p), C("1")).Message();
	};
	EXPECT_TRUE(Contains(message(Period::kMonth), "monthly credit limit of 1")) << message(Period::kMonth);
	EXPECT_TRUE(Contains(message(Period::kWeek), "weekly credit limit of 1")) << message(Period::kWeek);
	EXPECT_TRUE(Contains(message(Period::kDay), "daily credit limit of 1")) << message(Period::kDay);
	EXPECT_TRUE(Contains(message(Period::kNone), "lifetime credit limit of 1")) << message(Period::kNone);
}

TEST(UsageError, LifetimeLimitHintDoesNotPromiseANextPeriod) {
	Error e = UsageError(Status::kMemberLimitExceeded, "acme", "alice",
	                     Usage(C("50"), C("50"), 0, false, Period::kNone), C("0.5"));
	EXPECT_TRUE(Contains(e.Hint(), "credits.set_member_limit()")) << e.Hint();
	EXPECT_FALSE(Contains(e.Hint(), "next period")) << e.Hint();
	EXPECT_EQ(e.Detail(), "requested 0.5, used 50, held 0, limit 50, remaining 0.");
}

TEST(UsageError, RemainingIsNeverNegativeInTheDetail) {
	Error e = UsageError(Status::kMemberLimitExceeded, "acme", "alice", Usage(C("5"), C("8")), C("1"));
	EXPECT_EQ(e.Detail(), "requested 1, used 8, held 0, limit 5, remaining 0.");
}

TEST(UsageError, AccessRevoked) {
	Error e = UsageError(Status::kAccessRevoked, "acme", "bob", Usage(C("10"), 0, 0, true), C("3.25"));
	EXPECT_EQ(e.Sqlstate(), "CR003");
	EXPECT_EQ(e.Message(), "access revoked for member \"bob\" of pool \"acme\"");
	EXPECT_TRUE(Contains(e.Detail(), "requested 3.25")) << e.Detail();
	EXPECT_TRUE(Contains(e.Hint(), "credits.restore_access()")) << e.Hint();
}

TEST(DecideCharge, ErrorsCarryTheFigures) {
	ChargeDecision d = DecideCharge("acme", "alice", Usage(C("10"), C("9")), C("5"), C("100"));
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Detail(), "requested 5, used 9, held 0, limit 10, remaining 1.");
	d = DecideCharge("acme", "alice", Usage(std::nullopt), C("5"), C("1.5"));
	ASSERT_TRUE(d.error.has_value());
	EXPECT_EQ(d.error->Detail(), "requested 5, available 1.5.");
	EXPECT_EQ(d.error->Sqlstate(), StatusSqlstate(d.status));
}

} // namespace
} // namespace credits
