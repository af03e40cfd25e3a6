// tests/support/services.h: the service graph of a running Gatehouse, built on a temp
// store, a fake clock and cheap argon2id parameters, for tests of services and handlers.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "accounts/accounts.h"
#include "audit/audit.h"
#include "authn/access_minter.h"
#include "authn/authenticator.h"
#include "crypto/password.h"
#include "keys/api_keys.h"
#include "oauth/clients.h"
#include "oauth/provider.h"
#include "support/fake_clock.h"
#include "support/memory_sink.h"
#include "support/temp_store.h"
#include "accounts/user_cache.h"
#include "authn/change_feed.h"
#include "tokens/access_tokens.h"
#include "tokens/denylist.h"
#include "tokens/keyring.h"
#include "tokens/session_tokens.h"

namespace gatehouse::testing {

// libsodium's minimum cost: tests exercise the logic, not the hardness.
inline const crypto::Argon2Params kFastArgon2{.memory_bytes = 8192, .iterations = 1};

struct ServiceGraph {
  FakeClock clock;
  TempStore temp;
  std::vector<std::string> audit_lines;
  audit::AuditLog audit{*temp.store, std::make_unique<MemorySink>(&audit_lines), clock};
  crypto::PasswordHasher hasher{kFastArgon2};
  tokens::SessionTokens sessions{*temp.store, audit, clock, tokens::TokenSettings{}};
  accounts::Accounts accounts{*temp.store, sessions, audit, hasher, clock, accounts::AccountSettings{}};
  // Not loaded here: generating an RSA key costs ~0.1 s; tests that need keys call use_jwt().
  tokens::KeyRing keyring{*temp.store, clock, tokens::KeyRingSettings{}};
  accounts::UserCache users{*temp.store};
  tokens::Denylist denylist;
  tokens::AccessTokens access_tokens{keyring, denylist, clock,
                                     tokens::AccessTokenSettings{.issuer = "http://gatehouse.test"}};
  keys::ApiKeys api_keys{*temp.store, audit, clock, keys::ApiKeySettings{}};
  authn::ChangeFeed feed{*temp.store, denylist, users, api_keys, clock};
  authn::Authenticator authenticator{accounts, users, sessions, access_tokens, api_keys, audit, clock,
                                     authn::AuthnSettings{}};
  oauth::Clients clients{*temp.store, audit, clock};
  oauth::Provider provider{clients, *temp.store, sessions, access_tokens, keyring, users, audit, clock,
                           oauth::ProviderSettings{.issuer = "http://gatehouse.test"}};

  ServiceGraph() {
    if (!feed.start()) throw std::runtime_error("change feed");
    sessions.set_change_hook([this] { (void)feed.sync(); });
    api_keys.set_change_hook([this] { (void)feed.sync(); });
    feed.follow("client", [this](const std::string& id) { clients.invalidate(id); }, [this] { clients.clear(); });
    clients.set_change_hook([this] { (void)feed.sync(); });
  }

  // Switches logins and refreshes to JWT access tokens, as `tokens.format = "jwt"` does.
  void use_jwt() {
    if (!keyring.load()) throw std::runtime_error("keyring");
    sessions.set_minter(authn::make_access_minter(users, access_tokens));
  }

  store::Store& store() { return *temp.store; }

  accounts::User add_user(const std::string& name, const std::string& password,
                          std::vector<std::string> roles = {"user"}) {
    auto user = accounts.create(accounts::NewUser{.username = name, .password = password, .email = {}, .roles = roles},
                                RequestContext{});
    if (!user) throw std::runtime_error(user.error().description);
    return *user;
  }

  bool audited(const std::string& type) const {
    for (const auto& line : audit_lines)
      if (line.find("\"type\":\"" + type + "\"") != std::string::npos) return true;
    return false;
  }
};

}  // namespace gatehouse::testing
