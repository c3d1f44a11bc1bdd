// The application's keys (pool, member, feature, plan, idempotency key):
// any text from 1 to kMaxKeyBytes bytes. An empty key is almost always a
// missing id in the caller, and a longer one would not fit an index entry.
#pragma once

#include <cstddef>
#include <string_view>

namespace credits {

constexpr std::size_t kMaxKeyBytes = 1000;

// Throws Error 22023 naming `what` unless key is a valid key.
void CheckKey(std::string_view key, std::string_view what);

} // namespace credits
