// Included first by every src/core/*.cpp: the core is pure C++, and this
// refuses to compile a core file that pulled in a PostgreSQL header.
#pragma once
#ifdef POSTGRES_H
static_assert(false, "src/core must not include PostgreSQL headers");
#endif
