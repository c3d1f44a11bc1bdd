// The charge path shared by charge, try_charge and charge_usage.
#pragma once
#include "core/amount.hpp"
#include "core/usage.hpp"
#include "pg/pool_state.hpp"
#include "pg/postgres.hpp"

#include <optional>
#include <string>

namespace credits::pg {

struct ChargeRequest : SpendRequest {
	// charge_usage: the quantity priced (numeric datum and its text); an
	// idempotent replay must name the same quantity.
	Datum quantity = 0;
	std::optional<std::string> quantity_text;
};

struct ChargeOutcome {
	int64_t charge_id = 0; // the hold's id for a hold
	Status status = Status::kSucceeded;
	Micros charged = 0;
	Micros balance = 0;
	Micros member_used = 0;
	bool replayed = false;
	std::string reason; // the refusal's message; empty when succeeded
};

// kRaise: a business rejection raises its CR error (charge). kReport: it is
// logged and returned as a status (try_charge).
enum class ChargeMode { kRaise, kReport };

ChargeOutcome RunCharge(const ChargeRequest &request, ChargeMode mode);
Datum ChargeResultDatum(FunctionCallInfo fcinfo, const ChargeOutcome &outcome);

// A quantity as text without trailing fractional zeros: 10, 10.0 and 10.000
// are one quantity to an idempotent replay.
std::string QuantityText(Datum numeric);

} // namespace credits::pg
