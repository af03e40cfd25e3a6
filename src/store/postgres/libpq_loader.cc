#include "store/postgres/libpq_loader.h"

#include <dlfcn.h>
#include <libpq-fe.h>

#include <mutex>

namespace gatehouse::store::postgres {
namespace {

// Every libpq function the backend and its tests call, resolved from libpq.so.5 itself.
#define GATEHOUSE_LIBPQ_FUNCTIONS(X)                                                                    \
  X(PQbackendPID) X(PQclear) X(PQcmdTuples) X(PQconnectdb) X(PQconnectdbParams) X(PQconninfoFree)      \
  X(PQconninfoParse) X(PQconsumeInput) X(PQerrorMessage) X(PQexec) X(PQexecPrepared) X(PQfinish)       \
  X(PQfreemem) X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQisBusy) X(PQnotifies) X(PQntuples) X(PQprepare)       \
  X(PQresultErrorField) X(PQresultStatus) X(PQsetNoticeReceiver) X(PQsocket) X(PQstatus)               \
  X(PQtransactionStatus)

struct Api {
#define GATEHOUSE_MEMBER(name) decltype(&::name) name = nullptr;
  GATEHOUSE_LIBPQ_FUNCTIONS(GATEHOUSE_MEMBER)
#undef GATEHOUSE_MEMBER
};

Api api;
bool loaded = false;
std::string failure;

void load() {
  // RTLD_LOCAL: libpq's symbols stay out of the global scope; dlsym on this handle finds
  // libpq's own definitions, never the forwarders below.
  void* handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    failure = std::string("cannot load libpq.so.5 (install libpq5): ") + (e ? e : "unknown error");
    return;
  }
#define GATEHOUSE_RESOLVE(name)                                                  \
  api.name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name));          \
  if (!api.name) {                                                               \
    failure = "libpq.so.5 has no " #name " (libpq 15 or later is needed)";      \
    return;                                                                      \
  }
  GATEHOUSE_LIBPQ_FUNCTIONS(GATEHOUSE_RESOLVE)
#undef GATEHOUSE_RESOLVE
  loaded = true;  // the handle stays open for the life of the process
}

}  // namespace

bool load_libpq(std::string* why) {
  static std::once_flag once;
  std::call_once(once, load);
  if (!loaded && why) *why = failure;
  return loaded;
}

}  // namespace gatehouse::store::postgres

// The forwarders. Callers have called load_libpq() first (PgStore's open does; so do the
// tests' fixtures), so `api` is filled and never changes again.
using gatehouse::store::postgres::api;

extern "C" {
int PQbackendPID(const PGconn* c) { return api.PQbackendPID(c); }
void PQclear(PGresult* r) { api.PQclear(r); }
char* PQcmdTuples(PGresult* r) { return api.PQcmdTuples(r); }
PGconn* PQconnectdb(const char* conninfo) { return api.PQconnectdb(conninfo); }
PGconn* PQconnectdbParams(const char* const* keys, const char* const* values, int expand_dbname) {
  return api.PQconnectdbParams(keys, values, expand_dbname);
}
void PQconninfoFree(PQconninfoOption* o) { api.PQconninfoFree(o); }
PQconninfoOption* PQconninfoParse(const char* conninfo, char** errmsg) { return api.PQconninfoParse(conninfo, errmsg); }
int PQconsumeInput(PGconn* c) { return api.PQconsumeInput(c); }
char* PQerrorMessage(const PGconn* c) { return api.PQerrorMessage(c); }
PGresult* PQexec(PGconn* c, const char* query) { return api.PQexec(c, query); }
PGresult* PQexecPrepared(PGconn* c, const char* name, int n, const char* const* values, const int* lengths,
                         const int* formats, int result_format) {
  return api.PQexecPrepared(c, name, n, values, lengths, formats, result_format);
}
void PQfinish(PGconn* c) { api.PQfinish(c); }
void PQfreemem(void* p) { api.PQfreemem(p); }
int PQgetisnull(const PGresult* r, int row, int col) { return api.PQgetisnull(r, row, col); }
int PQgetlength(const PGresult* r, int row, int col) { return api.PQgetlength(r, row, col); }
char* PQgetvalue(const PGresult* r, int row, int col) { return api.PQgetvalue(r, row, col); }
int PQisBusy(PGconn* c) { return api.PQisBusy(c); }
PGnotify* PQnotifies(PGconn* c) { return api.PQnotifies(c); }
int PQntuples(const PGresult* r) { return api.PQntuples(r); }
PGresult* PQprepare(PGconn* c, const char* name, const char* query, int n, const Oid* types) {
  return api.PQprepare(c, name, query, n, types);
}
char* PQresultErrorField(const PGresult* r, int code) { return api.PQresultErrorField(r, code); }
ExecStatusType PQresultStatus(const PGresult* r) { return api.PQresultStatus(r); }
PQnoticeReceiver PQsetNoticeReceiver(PGconn* c, PQnoticeReceiver proc, void* arg) {
  return api.PQsetNoticeReceiver(c, proc, arg);
}
int PQsocket(const PGconn* c) { return api.PQsocket(c); }
ConnStatusType PQstatus(const PGconn* c) { return api.PQstatus(c); }
PGTransactionStatusType PQtransactionStatus(const PGconn* c) { return api.PQtransactionStatus(c); }
}
