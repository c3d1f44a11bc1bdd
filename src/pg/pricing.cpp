// credits.charge_usage: a charge whose amount is the feature's rate in force
// now times the quantity, rounded up to 6 places. The quantity is kept with
// the charge, so that an idempotent replay must name the same one.
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/charge.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"

namespace credits::pg {

namespace {

Statement rate_in_force{"SELECT trim_scale(ceil(r.credits_per_unit * $3 * 1000000) / 1000000)"
                        "  FROM credits.rates r WHERE r.feature = $1 AND r.effective_from <= $2"
                        " ORDER BY r.effective_from DESC LIMIT 1",
                        {TEXTOID, TIMESTAMPTZOID, NUMERICOID}};
enum RateColumn { kRateCost = 1 };

// The cost of `quantity` units of a feature at the rate in force now;
// CR009 when the feature has no rate.
Micros PriceUsage(const std::string &feature, Datum quantity) {
	SpiSession spi(true);
	Datum args[] = {StringToText(feature), TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), quantity};
	if (spi.Run(rate_in_force, args, nullptr) == 0)
		throw Error(sqlstate::kUnknownFeature, "unknown feature \"" + feature + "\": it has no rate", {},
		            "Set its rate with credits.set_rate().");
	std::string cost = NumericToString(spi.Value(0, kRateCost));
	spi.Finish();
	return ParseAmount(cost, "cost");
}

// charge_usage and try_charge_usage (pool, member, feature, quantity,
// idempotency_key, metadata).
Datum ChargeUsage(FunctionCallInfo fcinfo, ChargeMode mode) {
	RequireArg(fcinfo, 0, "pool");
	RequireArg(fcinfo, 1, "member");
	RequireArg(fcinfo, 2, "feature");
	RequireArg(fcinfo, 3, "quantity");
	ChargeRequest req;
	req.pool = TextArg(fcinfo, 0);
	req.member = KeyArg(fcinfo, 1, "member");
	req.feature = KeyArg(fcinfo, 2, "feature");
	req.quantity = PG_GETARG_DATUM(3);
	req.quantity_text = QuantityText(req.quantity);
	CheckQuantity(req.quantity, "quantity");
	req.idempotency_key = OptionalKeyArg(fcinfo, 4, "idempotency_key");
	req.metadata = PG_ARGISNULL(5) ? Datum(0) : PG_GETARG_DATUM(5);
	req.amount = PriceUsage(*req.feature, req.quantity);
	ChargeOutcome out = RunCharge(req, mode);
	return ChargeResultDatum(fcinfo, out);
}

} // namespace

CREDITS_FUNCTION(credits_charge_usage) {
	return ChargeUsage(fcinfo, ChargeMode::kRaise);
}

CREDITS_FUNCTION(credits_try_charge_usage) {
	return ChargeUsage(fcinfo, ChargeMode::kReport);
}

} // namespace credits::pg
