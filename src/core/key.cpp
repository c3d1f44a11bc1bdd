#include "cpp_only.hpp"

#include "key.hpp"

#include "error.hpp"

#include <string>

namespace credits {

void CheckKey(std::string_view key, std::string_view what) {
	const std::string name(what);
	const char *hint = "Keys are the application's own ids: 1 to 1000 bytes of text.";
	if (key.empty())
		throw Error(sqlstate::kInvalidParameter, "invalid " + name + ": must not be empty", {}, hint);
	if (key.size() > kMaxKeyBytes)
		throw Error(sqlstate::kInvalidParameter, "invalid " + name + ": longer than 1000 bytes",
		            name + " is " + std::to_string(key.size()) + " bytes.", hint);
}

} // namespace credits
