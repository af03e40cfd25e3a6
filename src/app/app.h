// app/app.h: the one place that builds services from a Config and wires them together.
// `serve` and the CLI subcommands both start from an App.
#pragma once
#include <memory>
#include <string>

#include "accounts/accounts.h"
#include "accounts/user_cache.h"
#include "authn/change_feed.h"
#include "tokens/access_tokens.h"
#include "tokens/denylist.h"
#include "audit/audit.h"
#include "authn/authenticator.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/result.h"
#include "crypto/password.h"
#include "keys/api_keys.h"
#include "oauth/clients.h"
#include "oauth/provider.h"
#include "ratelimit/limiter.h"
#include "store/store.h"
#include "tokens/keyring.h"
#include "tokens/session_tokens.h"

namespace gatehouse::app {

class App {
 public:
  // Opens the store and migrates it to the current schema.
  static Result<std::unique_ptr<App>, std::string> open(const config::Config& config);

  const config::Config& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  store::Store& store() { return *store_; }
  audit::AuditLog& audit() { return *audit_; }
  tokens::SessionTokens& sessions() { return *sessions_; }
  accounts::Accounts& accounts() { return *accounts_; }
  authn::Authenticator& authenticator() { return *authenticator_; }
  tokens::KeyRing& keyring() { return *keyring_; }
  tokens::AccessTokens& access_tokens() { return *access_tokens_; }
  authn::ChangeFeed& change_feed() { return *change_feed_; }
  keys::ApiKeys& api_keys() { return *api_keys_; }
  ratelimit::Limiter& limiter() { return *limiter_; }
  const ratelimit::Policy& rate_policy() const { return rate_policy_; }
  tokens::Denylist& denylist() { return denylist_; }
  oauth::Clients& clients() { return *clients_; }
  oauth::Provider& provider() { return *provider_; }

 private:
  explicit App(config::Config config) : config_(std::move(config)) {}

  config::Config config_;
  SystemClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<crypto::PasswordHasher> hasher_;
  std::unique_ptr<tokens::SessionTokens> sessions_;
  std::unique_ptr<accounts::Accounts> accounts_;
  std::unique_ptr<authn::Authenticator> authenticator_;
  std::unique_ptr<tokens::KeyRing> keyring_;
  std::unique_ptr<accounts::UserCache> users_;
  tokens::Denylist denylist_;
  std::unique_ptr<tokens::AccessTokens> access_tokens_;
  std::unique_ptr<oauth::Clients> clients_;
  std::unique_ptr<oauth::Provider> provider_;
  std::unique_ptr<keys::ApiKeys> api_keys_;
  std::unique_ptr<ratelimit::Limiter> limiter_;
  ratelimit::Policy rate_policy_;
  std::unique_ptr<authn::ChangeFeed> change_feed_;
};

// `gatehouse serve`: runs until SIGTERM/SIGINT; returns the process exit code.
int serve(const config::Config& config);

}  // namespace gatehouse::app
