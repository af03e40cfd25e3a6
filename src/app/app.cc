#include "app/app.h"

#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "api/common.h"
#include "authn/access_minter.h"
#include "authz/permissions.h"
#include "authz/route_policy.h"
#include "core/log.h"
#include "core/net.h"
#include "federation/sign_in.h"
#include "http/client.h"
#include "crypto/self_signed.h"
#include "http/router.h"
#include "http/server.h"
#include "tokens/es256_batch.h"

namespace gatehouse::app {
namespace {

// Expired tokens, signing keys and old audit events are deleted on this cadence.
constexpr std::chrono::minutes kPurgeEvery{10};
// Revocations and user changes made by other processes or nodes are honoured this fast.
constexpr std::chrono::milliseconds kFeedEvery{250};
// API keys' last-use times are written in batches this often (each key at most once a minute).
constexpr std::chrono::seconds kLastUsedFlushEvery{5};
// Signing keys rotated by another process (the CLI, another node) are picked up this fast.
constexpr std::chrono::seconds kKeyReloadEvery = tokens::kKeyReloadInterval;

int threads_or_cores(int configured) {
  if (configured > 0) return configured;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

log::Level level_of(const std::string& name) {
  if (name == "debug") return log::Level::debug;
  if (name == "warn") return log::Level::warn;
  if (name == "error") return log::Level::error;
  return log::Level::info;
}

// Deletes expired tokens and audit events past retention until stopped.
class Housekeeper {
 public:
  explicit Housekeeper(App& app) : app_(app), thread_([this] { loop(); }) {}
  ~Housekeeper() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    flush_last_used();  // the uses since the last batch
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    auto next_purge = std::chrono::steady_clock::now();
    auto next_key_reload = next_purge + kKeyReloadEvery;
    auto next_flush = next_purge + kLastUsedFlushEvery;
    lock.unlock();
    // The RS256 key (ID tokens) is made here, after the listening line: RSA key generation
    // would otherwise add up to a second to a first start.
    if (auto made = app_.keyring().ensure_rs256(); !made)
      log::warn("housekeeping: creating the RS256 key failed", {{"reason", made.error()}});
    lock.lock();
    while (!stop_) {
      lock.unlock();
      const auto now = std::chrono::steady_clock::now();
      if (auto synced = app_.change_feed().sync(); !synced)
        log::warn("housekeeping: reading changes failed", {{"reason", synced.error().message}});
      if (now >= next_key_reload) {
        if (auto loaded = app_.keyring().load(); !loaded)
          log::warn("housekeeping: reloading signing keys failed", {{"reason", loaded.error()}});
        next_key_reload = now + kKeyReloadEvery;
      }
      if (now >= next_flush) {
        flush_last_used();
        next_flush = now + kLastUsedFlushEvery;
      }
      if (now >= next_purge) {
        app_.limiter().sweep();
        purge();
        next_purge = now + kPurgeEvery;
      }
      lock.lock();
      cv_.wait_for(lock, kFeedEvery, [this] { return stop_; });
    }
  }

  void flush_last_used() {
    if (auto flushed = app_.api_keys().flush_last_used(); !flushed)
      log::warn("housekeeping: writing API key last-use times failed", {{"reason", flushed.error().message}});
  }

  void purge() {
    const std::int64_t now = app_.clock().now_unix();
    if (auto n = app_.store().purge_expired(now); !n)
      log::warn("housekeeping: purging tokens failed", {{"reason", n.error().message}});
    app_.denylist().purge(now);
    if (auto n = app_.store().purge_signing_keys(now); !n)
      log::warn("housekeeping: purging signing keys failed", {{"reason", n.error().message}});
    if (auto n = app_.store().purge_audit_before(now - app_.config().audit.retention.count()); !n)
      log::warn("housekeeping: purging audit events failed", {{"reason", n.error().message}});
  }

  App& app_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_{false};
  std::thread thread_;
};

// Where the store can announce changes (PostgreSQL's NOTIFY), applies another node's change as
// soon as it commits, instead of at the Housekeeper's next 250 ms poll. The poll stays: it is
// the fallback when a notification is lost (the listener reconnecting, the database away).
class ChangeListener {
 public:
  explicit ChangeListener(App& app) : app_(app) {
    if (app_.store().notifies_changes()) thread_ = std::thread([this] { loop(); });
  }
  ~ChangeListener() {
    stop_ = true;  // seen within one wait
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    while (!stop_) {
      if (!app_.store().wait_for_changes(kFeedEvery)) continue;
      if (auto synced = app_.change_feed().sync(); !synced)
        log::warn("change listener: reading changes failed", {{"reason", synced.error().message}});
    }
  }

  App& app_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<App>, std::string> App::open(const config::Config& config) {
  // Custom roles ([roles]) before anything reads permissions: the server and the CLI alike.
  if (auto roles = authz::configure_roles(config.roles); !roles) return tl::unexpected(roles.error());
  std::unique_ptr<App> app(new App(config));
  auto store = store::open_store(config.storage_url(),
                                 store::StoreOptions{.pool_size = static_cast<std::size_t>(config.storage.pool_size),
                                                     .password = config.storage.password});
  if (!store) return tl::unexpected("storage: " + store.error().message);
  app->store_ = std::move(*store);
  if (auto migrated = app->store_->migrate(); !migrated)
    return tl::unexpected("storage: migration failed: " + migrated.error().message);
  try {
    app->audit_ = std::make_unique<audit::AuditLog>(*app->store_, audit::open_line_sink(config.audit.file), app->clock_);
    app->hasher_ = std::make_unique<crypto::PasswordHasher>(crypto::Argon2Params{
        .memory_bytes = static_cast<std::size_t>(config.accounts.argon2_memory_kib) * 1024,
        .iterations = static_cast<std::uint64_t>(config.accounts.argon2_iterations)});
  } catch (const std::exception& e) {
    return tl::unexpected(std::string(e.what()));
  }
  const auto horizon = config.tokens.access_ttl + config.tokens.leeway;
  app->sessions_ = std::make_unique<tokens::SessionTokens>(
      *app->store_, *app->audit_, app->clock_,
      tokens::TokenSettings{.access_ttl = config.tokens.access_ttl, .refresh_ttl = config.tokens.refresh_ttl,
                            .revocation_horizon = horizon});
  app->accounts_ = std::make_unique<accounts::Accounts>(
      *app->store_, *app->sessions_, *app->audit_, *app->hasher_, app->clock_,
      accounts::AccountSettings{
          .min_password_length = static_cast<std::size_t>(config.accounts.min_password_length),
          .lockout = accounts::LockoutSettings{.max_failures = static_cast<int>(config.lockout.max_failures),
                                               .duration = config.lockout.duration,
                                               .ip_max_failures = static_cast<int>(config.lockout.ip_max_failures)}});
  app->keyring_ = std::make_unique<tokens::KeyRing>(
      *app->store_, app->clock_,
      tokens::KeyRingSettings{.access_alg = *tokens::parse_alg(config.tokens.signing_alg),
                              .hs256_secret = config.tokens.hs256_secret,
                              .retired_key_lifetime = horizon + tokens::kKeyReloadInterval});
  if (auto loaded = app->keyring_->load(); !loaded) return tl::unexpected("signing keys: " + loaded.error());
  tokens::set_es256_batching(config.tokens.es256_batch);
  app->users_ = std::make_unique<accounts::UserCache>(*app->store_);
  app->access_tokens_ = std::make_unique<tokens::AccessTokens>(
      *app->keyring_, app->denylist_, app->clock_,
      tokens::AccessTokenSettings{.issuer = config.issuer_for(config.listen_port),
                                  .audience = config.tokens.audience,
                                  .ttl = config.tokens.access_ttl,
                                  .leeway = config.tokens.leeway});
  app->limiter_ = std::make_unique<ratelimit::Limiter>(app->clock_);
  app->rate_policy_.enabled = config.ratelimit.enabled;
  app->rate_policy_.default_limit = *ratelimit::parse_limit(config.ratelimit.default_limit);  // validated at load
  for (const auto& entry : config.ratelimit.roles) {
    auto [role, limit] = *ratelimit::parse_role_limit(entry);  // validated with the config
    app->rate_policy_.roles.insert_or_assign(std::move(role), limit);
  }
  app->api_keys_ = std::make_unique<keys::ApiKeys>(*app->store_, *app->audit_, app->clock_,
                                                   keys::ApiKeySettings{.prefix = config.api_keys.prefix});
  app->change_feed_ = std::make_unique<authn::ChangeFeed>(*app->store_, app->denylist_, *app->users_,
                                                          *app->api_keys_, app->clock_);
  app->clients_ = std::make_unique<oauth::Clients>(*app->store_, *app->audit_, app->clock_);
  oauth::Clients* clients = app->clients_.get();
  app->change_feed_->follow("client", [clients](const std::string& id) { clients->invalidate(id); },
                            [clients] { clients->clear(); });
  // A key added by another node or by the CLI: this node signs with it and publishes it in its
  // JWKS as soon as the change arrives (the 5 s reload stays as the fallback).
  tokens::KeyRing* keyring = app->keyring_.get();
  app->change_feed_->follow(
      "signing_key",
      [keyring](const std::string&) {
        if (auto loaded = keyring->load(); !loaded)
          log::warn("reloading signing keys failed", {{"reason", loaded.error()}});
      },
      [] {});
  if (auto started = app->change_feed_->start(); !started)
    return tl::unexpected("storage: reading revocations failed: " + started.error().message);
  App* raw = app.get();
  // Revocations made here reach this node's denylist before the request that made them ends.
  app->sessions_->set_change_hook([raw] { (void)raw->change_feed_->sync(); });
  app->api_keys_->set_change_hook([raw] { (void)raw->change_feed_->sync(); });
  app->clients_->set_change_hook([raw] { (void)raw->change_feed_->sync(); });
  if (config.tokens.format == "jwt") {
    app->sessions_->set_minter(authn::make_access_minter(*app->users_, *app->access_tokens_));
  }
  app->provider_ = std::make_unique<oauth::Provider>(
      *app->clients_, *app->store_, *app->sessions_, *app->access_tokens_, *app->keyring_, *app->users_, *app->audit_,
      app->clock_,
      oauth::ProviderSettings{.issuer = config.issuer_for(config.listen_port),
                              .code_ttl = std::chrono::seconds(60),
                              .id_token_ttl = config.tokens.access_ttl,
                              .access_ttl = config.tokens.access_ttl,
                              .leeway = config.tokens.leeway});
  app->authenticator_ = std::make_unique<authn::Authenticator>(
      *app->accounts_, *app->users_, *app->sessions_, *app->access_tokens_, *app->api_keys_, *app->audit_, app->clock_,
      authn::AuthnSettings{.basic_enabled = config.auth.basic,
                           .api_key_query_param = config.api_keys.allow_query_param,
                           .basic_cache_ttl = config.auth.basic_cache_ttl});
  return app;
}

namespace {

// Connections, SQLite files and the audit file all need descriptors; the soft limit is
// often 1024, far below what a busy auth server holds open. Raise it to the hard limit.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// A sign-in waits on its provider at most this long per call.
constexpr std::chrono::seconds kUpstreamTimeout{5};

// One client per [[upstream]]: its own trust (ca_file or the system store). Plain http only
// where the configuration and the discovery checks allowed it: loopback.
Result<std::vector<std::unique_ptr<federation::Upstream>>, std::string> make_upstreams(const config::Config& config,
                                                                                      const Clock& clock) {
  std::vector<std::unique_ptr<federation::Upstream>> out;
  for (const auto& u : config.upstreams) {
    auto client = http::HttpClient::create(http::ClientOptions{
        .ca_file = u.ca_file, .timeout = kUpstreamTimeout, .allow_plain_http = true});
    if (!client) return tl::unexpected("upstream \"" + u.name + "\": " + client.error());
    auto shared = std::make_shared<http::HttpClient>(std::move(*client));
    federation::Fetch fetch = [shared](const http::ClientRequest& request)
        -> Result<http::ClientResponse, http::ClientError> {
      if (!is_https_or_loopback_http(request.url))
        return tl::unexpected(http::ClientError{http::ClientErrc::bad_url, "not an https:// URL"});
      return shared->send(request);
    };
    out.push_back(std::make_unique<federation::Upstream>(u, std::move(fetch), clock));
  }
  return out;
}

}  // namespace

int serve(const config::Config& config) {
  log::init(level_of(config.log.level));
  raise_descriptor_limit();
  auto opened = App::open(config);
  if (!opened) {
    std::fprintf(stderr, "gatehouse: %s\n", opened.error().c_str());
    return 1;
  }
  App& app = **opened;
  auto bootstrapped = app.accounts().bootstrap_admin(config.admin.username, config.admin.password);
  if (!bootstrapped) {
    std::fprintf(stderr, "gatehouse: admin bootstrap: %s\n", bootstrapped.error().description.c_str());
    return 1;
  }
  if (*bootstrapped) log::info("created the first admin user", {{"username", config.admin.username}});

  if (config.tls.self_signed) {
    if (auto made = crypto::ensure_self_signed(config.tls.cert_file, config.tls.key_file, config.listen_host); !made) {
      std::fprintf(stderr, "gatehouse: %s\n", made.error().c_str());
      return 1;
    }
    log::warn("serving HTTPS with a self-signed development certificate", {{"certificate", config.tls.cert_file}});
  }
  // From here on audit rows are written in batches (see audit/audit.h).
  app.audit().start_background_writer();
  auto policies = authz::RoutePolicies::compile(config.policies);
  if (!policies) {  // finalize() checked them already; this is belt and braces
    std::fprintf(stderr, "gatehouse: %s\n", policies.error().c_str());
    return 1;
  }
  if (!config.policies.empty() && config.server.trusted_proxies.empty())
    log::warn("gateway policies are set but server.trusted_proxies is empty: behind a proxy every client has the "
              "proxy's address, for rate limits, lockout and the audit log alike (docs/gateway.md)",
              {});
  auto upstreams = make_upstreams(config, app.clock());
  if (!upstreams) {
    std::fprintf(stderr, "gatehouse: %s\n", upstreams.error().c_str());
    return 1;
  }
  federation::SignIn sign_in(app.store(), app.accounts(), app.sessions(), app.audit(), app.clients(), app.clock(),
                             federation::SignInSettings{
                                 .base_url = config.issuer_for(config.listen_port),
                                 // Half the blocking pool at most: the rest keeps serving everything else.
                                 .max_in_flight = std::max(1, threads_or_cores(config.server.blocking_threads) / 2)},
                             std::move(*upstreams));
  http::Router router;
  api::Services services{.store = app.store(), .accounts = app.accounts(), .sessions = app.sessions(),
                         .authenticator = app.authenticator(), .audit = app.audit(), .clock = app.clock(),
                         .keyring = app.keyring(), .api_keys = app.api_keys(), .limiter = app.limiter(),
                         .rate_policy = app.rate_policy(), .clients = app.clients(), .provider = app.provider(),
                         .policies = *policies, .sign_in = sign_in};
  api::add_all_routes(router, services);

  http::Server server(
      http::ServerOptions{.host = config.listen_host,
                          .port = config.listen_port,
                          .network_threads = threads_or_cores(config.server.threads),
                          .blocking_threads = threads_or_cores(config.server.blocking_threads),
                          .hashing_threads = threads_or_cores(config.server.hashing_threads),
                          .max_connections = static_cast<std::size_t>(config.server.max_connections),
                          .max_body_bytes = static_cast<std::size_t>(config.server.max_body_bytes),
                          .max_header_bytes = static_cast<std::size_t>(config.server.max_header_bytes),
                          .header_timeout = config.server.header_timeout,
                          .idle_timeout = config.server.idle_timeout,
                          .shutdown_timeout = config.server.shutdown_timeout,
                          .trusted_proxies = config.server.trusted_proxies,
                          .tls_cert_file = config.tls.cert_file,
                          .tls_key_file = config.tls.key_file},
      router);
  auto port = server.listen();
  if (!port) {
    std::fprintf(stderr, "gatehouse: %s\n", port.error().c_str());
    return 1;
  }
  app.access_tokens().set_issuer(config.issuer_for(*port));
  app.provider().set_issuer(config.issuer_for(*port));
  sign_in.set_base_url(config.issuer_for(*port));
  Housekeeper housekeeper(app);
  ChangeListener listener(app);
  const std::string host = config.listen_host.find(':') != std::string::npos ? "[" + config.listen_host + "]"
                                                                              : config.listen_host;
  const std::string url = (server.tls() ? "https://" : "http://") + host + ":" + std::to_string(*port);
  const std::string storage_url = config.storage_url();
  const std::string storage = storage_url.substr(0, storage_url.find("://"));  // the scheme: no password
  log::info("serving", {{"url", url}, {"storage", storage}, {"issuer", config.issuer_for(*port)}});
  std::printf("gatehouse listening on %s\n", url.c_str());
  std::fflush(stdout);
  server.run();
  log::info("stopped");
  return 0;
}

}  // namespace gatehouse::app
