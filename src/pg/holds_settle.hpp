// Settling holds (holds_settle.cpp): the part of the hold lifecycle that
// gives held credits back to their grants or keeps them as usage.
#pragma once
#include "core/amount.hpp"
#include "pg/rows.hpp"

#include <optional>

namespace credits::pg {

// Settles the pending hold: `keep` is captured (taken in the parts' order,
// added to the member's usage, capture entries under `capture_id`), the
// rest goes back to its grants (release entries with `reason`), or expires
// with a grant that died meanwhile. The hold gets `status` and settled_at
// `at`. The caller holds the pool's lock. Returns what went back (micros).
Micros Unhold(Rows &rows, int64_t pool_id, int64_t hold_id, Micros keep, std::optional<int64_t> capture_id,
              const char *status, const char *reason, Timestamp at);

// Lapses the pool's pending holds whose TTL has passed by `at`, and sets the
// pool's next hold expiry to the earliest left (or `also_pending`, the
// expiry of a hold being made, when earlier). The caller holds the pool's
// lock. Returns how many lapsed.
int LapseHolds(Rows &rows, int64_t pool_id, Timestamp at, std::optional<Timestamp> also_pending);

} // namespace credits::pg
