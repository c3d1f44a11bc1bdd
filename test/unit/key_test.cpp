// Keys: 1 to 1000 bytes of any text.
#include "core/error.hpp"
#include "core/key.hpp"

#include <gtest/gtest.h>

#include <string>

namespace credits {
namespace {

std::string KeyState(const std::string &key) {
	try {
		CheckKey(key, "member");
	} catch (const Error &e) {
		return e.Sqlstate();
	}
	return "00000";
}

TEST(CheckKey, AcceptsAnyNonEmptyTextUpToTheLimit) {
	EXPECT_EQ(KeyState("alice"), "00000");
	EXPECT_EQ(KeyState("Zo\xc3\xab \xf0\x9f\x9a\x80"), "00000");
	EXPECT_EQ(KeyState("it's\"; DROP TABLE x; --"), "00000");
	EXPECT_EQ(KeyState(std::string(kMaxKeyBytes, 'x')), "00000");
}

TEST(CheckKey, RejectsEmptyAndLongKeys) {
	EXPECT_EQ(KeyState(""), "22023");
	EXPECT_EQ(KeyState(std::string(kMaxKeyBytes + 1, 'x')), "22023");
	// the limit is in bytes: 334 four-byte characters are 1336 bytes
	std::string rockets;
	for (int i = 0; i < 334; ++i)
		rockets += "\xf0\x9f\x9a\x80";
	EXPECT_EQ(KeyState(rockets), "22023");
}

TEST(CheckKey, NamesTheArgument) {
	try {
		CheckKey("", "idempotency_key");
		FAIL() << "no error";
	} catch (const Error &e) {
		EXPECT_EQ(e.Message(), "invalid idempotency_key: must not be empty");
	}
}

} // namespace
} // namespace credits
