// store/postgres/libpq_loader.h: libpq is loaded when a PostgreSQL store is first opened, not
// when gatehouse starts. Linked normally, libpq brings 19 more shared libraries (Kerberos,
// LDAP, GnuTLS, p11-kit...) that cost every SQLite deployment ~3.7 MiB of resident memory at
// start. libpq_loader.cc defines the libpq functions this backend uses; each forwards to
// libpq.so.5, opened with dlopen on first need.
#pragma once
#include <string>

namespace gatehouse::store::postgres {

// True once libpq.so.5 is loaded and has every function we call; otherwise false, with the
// reason in *why. Call it before any libpq function: they must not run without it.
bool load_libpq(std::string* why);

}  // namespace gatehouse::store::postgres
