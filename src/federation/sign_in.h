// federation/sign_in.h: signing in through an upstream identity provider (SPEC §8, Federation;
// issue 9), from the start redirect to a Gatehouse browser session.
//
// The browser is bound to its sign-in by a flow cookie: 256 random bits that only the browser
// holds (HttpOnly, SameSite=Lax, ten minutes). The `state`, the PKCE verifier and the OIDC
// `nonce` are derived from it with HMAC-SHA256 under distinct labels, so none of them is
// stored, and the store keeps only the cookie's SHA-256 with the upstream, the return target
// and, for a link request, the signed-in user. The callback takes that record (once: a replay
// finds nothing), checks that the `state` it was given is the one the cookie derives, and
// redeems the code with the derived verifier and nonce. A forged or swapped `state`, a code
// from another browser's flow, a replayed callback and an expired flow are all refused.
//
// Accounts: an upstream identity (upstream name, subject) is linked to one local user. The
// first sign-in finds the link; or links the identity to the signed-in user when the flow was
// started with link=1; or, with `auto_create = true`, creates a user (no password, role
// "user", the upstream's e-mail only when it says the address is verified and no other
// account has it: accounts are never merged by e-mail); or is refused.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "accounts/accounts.h"
#include "audit/audit.h"
#include "core/clock.h"
#include "core/context.h"
#include "federation/upstream.h"
#include "oauth/clients.h"
#include "store/store.h"
#include "tokens/session_tokens.h"

namespace gatehouse::federation {

struct SignInSettings {
  std::string base_url{};  // this server's public origin (its issuer): the callback URLs live under it
  std::chrono::seconds flow_ttl{600};
  // Upstream calls block a thread for up to the client's timeout: at most this many at once,
  // so a slow or unreachable provider cannot take every blocking-pool thread (503 beyond it).
  int max_in_flight{1};
  // Linking needs a session this young: a borrowed or stolen old session cannot add a way in.
  std::chrono::seconds link_freshness{600};
};

// start?link=1: the signed-in user to link the upstream identity to.
struct LinkRequest {
  std::string user_id{};
  std::int64_t auth_time{0};  // when that user logged in
};

struct Started {
  std::string location;     // the upstream's authorization URL
  std::string flow_cookie;  // the value of the flow cookie to set
};

struct Finished {
  store::UserRecord user;
  tokens::TokenPair session;  // a browser session
  std::string return_to;      // "" when the start named none
};

enum class SignInErrc {
  not_found,     // 404: no upstream of that name
  bad_request,   // 400: a return_to that is not ours, or link=1 without a signed-in user
  refused,       // 403: the sign-in failed a check or has no account
  conflict,      // 409: the change would leave a user with no way to log in
  unavailable,   // 502: the upstream could not be reached or answered nonsense; 503: our store
};

struct SignInError {
  SignInErrc code;
  std::string message;  // for the page: says what happened and what to do, names no secret
  int status{0};        // the HTTP status the page carries
};

struct CallbackParams {
  std::optional<std::string> state{};
  std::optional<std::string> code{};
  std::optional<std::string> error{};  // the upstream's refusal (access_denied, ...)
  std::string signed_in_user_id{};     // the browser's signed-in user at the callback; "" for none
};

class SignIn {
 public:
  SignIn(store::Store& store, accounts::Accounts& accounts, tokens::SessionTokens& sessions,
         audit::AuditLog& audit, oauth::Clients& clients, const Clock& clock, SignInSettings settings,
         std::vector<std::unique_ptr<Upstream>> upstreams);
  ~SignIn();

  // Names in configuration order, for the login page.
  std::vector<std::string> upstream_names() const;

  // Begins a sign-in with upstream `name`, or with `link`, the linking of an upstream identity
  // to the signed-in user (who must have logged in within link_freshness, and still be signed
  // in at the callback). For a link, or with `fresh_login` (the client asked prompt=login), the
  // upstream is asked to authenticate its user again; an OpenID upstream must then prove it
  // with the ID token's auth_time.
  Result<Started, SignInError> start(const std::string& name, const std::string& return_to,
                                     const std::optional<LinkRequest>& link, bool fresh_login,
                                     const RequestContext& ctx);
  // The callback: `flow_cookie` is the cookie's value, if the request carried it.
  Result<Finished, SignInError> finish(const std::string& name, const CallbackParams& params,
                                       const std::optional<std::string>& flow_cookie, const RequestContext& ctx);

  std::chrono::seconds flow_ttl() const { return settings_.flow_ttl; }
  // Once the listening port is known (port 0 in tests); before serving.
  void set_base_url(std::string base_url);

  // A user's links (GET /users/me/upstreams, /api/users/{id}/upstreams); not_found for no user.
  Result<std::vector<store::UpstreamLinkRecord>, SignInError> links(const std::string& user_id);
  // Removes the user's links to `upstream` (audited upstream.unlinked, with `actor_id`):
  // not_found when none; conflict when they are the last way in of a user with no password.
  Result<void, SignInError> unlink(const std::string& user_id, const std::string& upstream,
                                   const std::string& actor_id, const RequestContext& ctx);

  // The redirect_uri registered at upstream `name`.
  std::string callback_url(const std::string& name) const;
  // A return target that is this server's (a path, or an absolute URL under base_url) or a
  // registered OAuth client redirect URI; nullopt otherwise.
  std::optional<std::string> checked_return_to(const std::string& return_to);

 private:
  Upstream* find(const std::string& name) const;
  Result<store::UserRecord, SignInError> account_for(Upstream& upstream, const UpstreamIdentity& identity,
                                                     const std::string& link_user_id, const RequestContext& ctx);
  Result<store::UserRecord, SignInError> create_account(Upstream& upstream, const UpstreamIdentity& identity,
                                                        const RequestContext& ctx);
  SignInError failed(const std::string& name, const std::string& reason, const store::UserRecord* user,
                     SignInError error, const RequestContext& ctx);

  store::Store& store_;
  accounts::Accounts& accounts_;
  tokens::SessionTokens& sessions_;
  audit::AuditLog& audit_;
  oauth::Clients& clients_;
  const Clock& clock_;
  SignInSettings settings_;
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  std::atomic<int> in_flight_{0};
};

}  // namespace gatehouse::federation
