// bench/apikey_bench.cc: API-key verification rate on one thread (issue 4), in process.
//
//   verify_cached     keys::ApiKeys::verify(key) for a key already in the cache: shape check,
//                     SHA-256 (hex) of the 46-byte key, a shared-lock lookup, the expiry and
//                     revocation checks, the last-use atomic - what every request with a key pays
//   sha256_hex_floor  crypto::sha256_hex(key) alone: the hash no verifier can skip
//   verify_unknown    a well-formed key that does not exist, answered from the "absent" cache
//
// The store is SQLite in a temp directory; after the first verify nothing touches it.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "audit/audit.h"
#include "core/clock.h"
#include "crypto/digest.h"
#include "keys/api_keys.h"
#include "store/store.h"

namespace {

namespace fs = std::filesystem;
using namespace gatehouse;

struct Fixture {
  fs::path dir;
  std::unique_ptr<store::Store> store;
  SystemClock clock;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<keys::ApiKeys> keys;
  std::string key;

  Fixture() {
    char tmpl[] = "/tmp/gatehouse-apikey-bench-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    dir = tmpl;
    auto opened = store::open_store("sqlite://" + (dir / "bench.db").string());
    if (!opened || !(*opened)->migrate()) std::abort();
    store = std::move(*opened);
    audit = std::make_unique<audit::AuditLog>(*store, audit::open_line_sink((dir / "audit.log").string()), clock);
    keys = std::make_unique<keys::ApiKeys>(*store, *audit, clock, keys::ApiKeySettings{});
    if (!store->create_user(store::UserRecord{.id = "01BENCHUSER000000000000000", .username = "bench", .email = {},
                                              .roles = {"user"}, .disabled = false, .password_hash = "x",
                                              .created_at = 1, .updated_at = 1}))
      std::abort();
    auto issued = keys->create(keys::NewKey{.user_id = "01BENCHUSER000000000000000", .name = "bench"},
                               {"profile:read"}, {}, "bench");
    if (!issued || !keys->verify(issued->key)) std::abort();
    key = issued->key;
  }
  ~Fixture() {
    keys.reset();
    audit.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void verify_cached(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) {
    auto v = f.keys->verify(f.key);
    benchmark::DoNotOptimize(v);
    if (!v) state.SkipWithError("verify failed");
  }
  state.SetItemsProcessed(state.iterations());
}

void sha256_hex_floor(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(crypto::sha256_hex(f.key));
  state.SetItemsProcessed(state.iterations());
}

void verify_unknown(benchmark::State& state) {
  auto& f = fixture();
  const std::string unknown = "gk_" + std::string(keys::kKeyRandomChars, 'Q');
  (void)f.keys->verify(unknown);  // the one store read
  for (auto _ : state) benchmark::DoNotOptimize(f.keys->verify(unknown));
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(verify_cached);
BENCHMARK(sha256_hex_floor);
BENCHMARK(verify_unknown);

}  // namespace

BENCHMARK_MAIN();
