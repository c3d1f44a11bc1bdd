# PGXS build of the credits extension (C++17).
EXTENSION = credits
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" credits.control)
MODULE_big = credits

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS = $(sort $(wildcard src/pg/*.cpp))
OBJS = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

DATA = $(sort $(wildcard sql/credits--*.sql))

# Every sql/*.sql that is not an install script is a regression test, so a
# test file cannot be left out of the run.
REGRESS = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/credits--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=credits

ISOLATION = $(sort $(patsubst test/isolation/specs/%.spec,%,$(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation/output --load-extension=credits

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -DCREDITS_VERSION='"$(EXTVERSION)"'
SHLIB_LINK += -lstdc++

# No LLVM bitcode: the JIT gains nothing from a few SPI-bound entry points,
# and it would need clang at install time.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

CREDITS_CXXFLAGS = -std=c++17 -fPIC -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-register -Wno-sign-compare

%.o: %.cpp
	$(CXX) $(CREDITS_CXXFLAGS) $(CPPFLAGS) -c -o $@ $<

$(OBJS): $(wildcard src/core/*.hpp) $(wildcard src/pg/*.hpp)

.PHONY: isolationcheck
isolationcheck:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)
