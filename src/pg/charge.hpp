// The charge path shared by charge, try_charge and charge_usage.
#pragma once
#include "core/amount.hpp"
#include "core/usage.hpp"
#include "pg/postgres.hpp"

#include <optional>
#include <string>

namespace credits::pg {

struct ChargeRequest {
	std::string pool;
	std::string member;
	Micros amount = 0;
	std::optional<std::string> feature;
	std::optional<std::string> idempotency_key;
	Datum metadata = 0; // jsonb, 0 when NULL
	// charge_usage: the quantity priced (numeric datum and its text); an
	// idempotent replay must name the same quantity.
	Datum quantity = 0;
	std::optional<std::string> quantity_text;
	// reserve: a hold until hold_expires_at instead of a charge
	bool hold = false;
	Timestamp hold_expires_at = 0;
};

struct ChargeOutcome {
	int64_t charge_id = 0; // the hold's id for a hold
	Status status = Status::kSucceeded;
	Micros charged = 0;
	Micros balance = 0;
	Micros member_used = 0;
	bool replayed = false;
};

// kRaise: a business rejection raises its CR error (charge). kReport: it is
// logged and returned as a status (try_charge).
enum class ChargeMode { kRaise, kReport };

ChargeOutcome RunCharge(const ChargeRequest &request, ChargeMode mode);
Datum ChargeResultDatum(FunctionCallInfo fcinfo, const ChargeOutcome &outcome);

} // namespace credits::pg
