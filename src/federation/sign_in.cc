#include "federation/sign_in.h"

#include <algorithm>

#include "core/base64.h"
#include "core/random.h"
#include "core/secret.h"
#include "crypto/digest.h"

namespace gatehouse::federation {
namespace {

constexpr std::size_t kFlowSecretBytes = 32;
constexpr std::size_t kMaxReturnTo = 4096;
// Registered redirect URIs are looked for in at most this many clients.
constexpr int kClientPage = 100, kMaxClientPages = 20;
constexpr std::size_t kMaxUsernameBase = 48;
// Clocks differ: an upstream's auth_time may be this much before the flow began.
constexpr std::int64_t kAuthTimeLeeway = 60;

// A value bound to the flow cookie: HMAC-SHA256(cookie, label), base64url (43 characters, which
// is also a valid PKCE verifier, RFC 7636 §4.1).
std::string derive(const std::string& flow_secret, std::string_view label) {
  return base64url_encode(crypto::hmac_sha256(flow_secret, label));
}

struct FlowValues {
  std::string state, nonce, verifier;
};

FlowValues flow_values(const std::string& flow_secret) {
  return FlowValues{derive(flow_secret, "gatehouse upstream state"), derive(flow_secret, "gatehouse upstream nonce"),
                    derive(flow_secret, "gatehouse upstream pkce verifier")};
}

SignInError error(SignInErrc code, int status, std::string message) {
  return SignInError{code, std::move(message), status};
}

SignInError store_unavailable() {
  return error(SignInErrc::unavailable, 503, "The store is unavailable; try again shortly.");
}

std::string without_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// Counts a call to an upstream while it runs; `ok` is false when too many are running.
class InFlight {
 public:
  InFlight(std::atomic<int>& count, int limit) : count_(count), ok_(count_.fetch_add(1) < limit) {}
  ~InFlight() { count_.fetch_sub(1); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  bool ok() const { return ok_; }

 private:
  std::atomic<int>& count_;
  const bool ok_;
};

SignInError busy() {
  return error(SignInErrc::unavailable, 503, "Too many sign-ins are waiting on their providers; try again shortly.");
}

// Subjects are kept as given, so only printable ASCII (OpenID Connect Core §2: sub is ASCII).
bool usable_subject(const std::string& subject) {
  return !subject.empty() && subject.size() <= kMaxSubjectBytes &&
         std::all_of(subject.begin(), subject.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

// A local username from what the upstream calls the user: its username, else its e-mail's
// local part, else "user"; only the characters usernames may hold.
std::string username_base(const UpstreamIdentity& identity) {
  std::string from = identity.username;
  if (from.empty()) from = identity.email.substr(0, identity.email.find('@'));
  std::string out;
  for (unsigned char c : from)
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+') out += static_cast<char>(c);
  if (out.size() > kMaxUsernameBase) out.resize(kMaxUsernameBase);
  return out.empty() ? std::string("user") : out;
}

}  // namespace

SignIn::SignIn(store::Store& store, accounts::Accounts& accounts, tokens::SessionTokens& sessions,
               audit::AuditLog& audit, oauth::Clients& clients, const Clock& clock, SignInSettings settings,
               std::vector<std::unique_ptr<Upstream>> upstreams)
    : store_(store),
      accounts_(accounts),
      sessions_(sessions),
      audit_(audit),
      clients_(clients),
      clock_(clock),
      settings_(std::move(settings)),
      upstreams_(std::move(upstreams)) {
  settings_.base_url = without_trailing_slash(settings_.base_url);
}

void SignIn::set_base_url(std::string base_url) { settings_.base_url = without_trailing_slash(std::move(base_url)); }

SignIn::~SignIn() = default;

std::vector<std::string> SignIn::upstream_names() const {
  std::vector<std::string> out;
  for (const auto& u : upstreams_) out.push_back(u->name());
  return out;
}

Upstream* SignIn::find(const std::string& name) const {
  for (const auto& u : upstreams_)
    if (u->name() == name) return u.get();
  return nullptr;
}

std::string SignIn::callback_url(const std::string& name) const {
  return settings_.base_url + "/auth/upstream/" + name + "/callback";
}

std::optional<std::string> SignIn::checked_return_to(const std::string& r) {
  if (r.empty() || r.size() > kMaxReturnTo) return std::nullopt;
  // Printable ASCII only: no spaces, controls or backslashes, which browsers read as '/'.
  if (!std::all_of(r.begin(), r.end(), [](char c) { return c > ' ' && c < 0x7F && c != '\\'; })) return std::nullopt;
  // A path on this server; "//host" would be another origin.
  if (r[0] == '/') return r.size() > 1 && r[1] == '/' ? std::nullopt : std::optional<std::string>(r);
  if (r == settings_.base_url || r.rfind(settings_.base_url + "/", 0) == 0 || r.rfind(settings_.base_url + "?", 0) == 0)
    return r;
  // A registered client redirect URI, exactly (a store failure counts as no match).
  std::string after;
  for (int pages = 0; pages < kMaxClientPages; ++pages) {
    auto page = clients_.list(after, kClientPage);
    if (!page || page->empty()) return std::nullopt;
    for (const auto& c : *page)
      if (std::find(c.redirect_uris.begin(), c.redirect_uris.end(), r) != c.redirect_uris.end()) return r;
    after = page->back().id;
  }
  return std::nullopt;
}

Result<Started, SignInError> SignIn::start(const std::string& name, const std::string& return_to,
                                           const std::optional<LinkRequest>& link, bool fresh_login,
                                           const RequestContext& ctx) {
  Upstream* upstream = find(name);
  if (!upstream) return tl::unexpected(error(SignInErrc::not_found, 404, "No sign-in provider has that name."));
  std::string target;
  if (!return_to.empty()) {
    auto checked = checked_return_to(return_to);
    if (!checked)
      return tl::unexpected(error(SignInErrc::bad_request, 400,
                                  "return_to must be a page of this server or a registered client redirect URI."));
    target = std::move(*checked);
  }
  const std::int64_t now = clock_.now_unix();
  if (link && now - link->auth_time > settings_.link_freshness.count())
    return tl::unexpected(error(SignInErrc::bad_request, 401,
                                "Linking a sign-in provider needs a recent login: log in again, then link."));
  const std::string secret = base64url_encode(random_bytes(kFlowSecretBytes));
  const FlowValues values = flow_values(secret);
  InFlight guard(in_flight_, settings_.max_in_flight);
  if (!guard.ok()) return tl::unexpected(busy());
  auto location = upstream->authorize_url(AuthorizeParams{
      .state = values.state, .nonce = values.nonce,
      .code_challenge = base64url_encode(crypto::sha256(values.verifier)), .redirect_uri = callback_url(name),
      .force_login = fresh_login || link.has_value()});
  if (!location)
    return tl::unexpected(failed(name, location.error().reason, nullptr,
                                 error(SignInErrc::unavailable, 502,
                                       "The sign-in provider could not be reached or answered wrongly (" +
                                           location.error().reason + "); try again later."),
                                 ctx));
  if (auto saved = store_.create_upstream_flow(store::UpstreamFlowRecord{
          .digest = crypto::sha256_hex(secret), .upstream = name, .return_to = target,
          .link_user_id = link ? link->user_id : std::string(), .fresh_login = fresh_login || link.has_value(),
          .created_at = now,
          .expires_at = now + settings_.flow_ttl.count()});
      !saved)
    return tl::unexpected(store_unavailable());
  return Started{std::move(*location), secret};
}

SignInError SignIn::failed(const std::string& name, const std::string& reason, const store::UserRecord* user,
                           SignInError e, const RequestContext& ctx) {
  audit_.record(ctx, audit::AuditEvent{.type = "login.failure", .success = false,
                                       .user_id = user ? user->id : std::string(),
                                       .username = user ? user->username : std::string(),
                                       .detail = {{"method", "upstream:" + name}, {"reason", reason}}});
  return e;
}

Result<Finished, SignInError> SignIn::finish(const std::string& name, const CallbackParams& params,
                                             const std::optional<std::string>& flow_cookie,
                                             const RequestContext& ctx) {
  Upstream* upstream = find(name);
  if (!upstream) return tl::unexpected(error(SignInErrc::not_found, 404, "No sign-in provider has that name."));
  const auto refuse = [&](const std::string& reason, std::string message, int status = 400,
                          const store::UserRecord* user = nullptr) {
    return tl::unexpected(failed(name, reason, user, error(SignInErrc::refused, status, std::move(message)), ctx));
  };
  static constexpr std::string_view kStartAgain = " Start the sign-in again.";
  if (!flow_cookie || flow_cookie->empty())
    return refuse("no flow cookie", "This browser has no sign-in in progress (it may have expired)." + std::string(kStartAgain));
  // Before the flow is taken, so a busy answer leaves it for a retry of the same callback.
  InFlight guard(in_flight_, settings_.max_in_flight);
  if (!guard.ok()) return tl::unexpected(failed(name, "too many sign-ins in flight", nullptr, busy(), ctx));
  const std::int64_t now = clock_.now_unix();
  auto flow = store_.take_upstream_flow(crypto::sha256_hex(*flow_cookie), now);
  if (!flow) return tl::unexpected(store_unavailable());
  if (!*flow)
    return refuse("unknown, used or expired flow",
                  "This sign-in was already completed, has expired, or was never started here." + std::string(kStartAgain));
  const store::UpstreamFlowRecord record = std::move(**flow);
  const FlowValues values = flow_values(*flow_cookie);
  if (record.upstream != name)
    return refuse("flow for another upstream", "This sign-in was started with another provider." + std::string(kStartAgain));
  if (!params.state || !constant_time_equal(*params.state, values.state))
    return refuse("state mismatch", "The sign-in response does not belong to this browser's sign-in." + std::string(kStartAgain));
  if (params.error) {
    const bool plain = params.error->size() <= 40 && std::all_of(params.error->begin(), params.error->end(), [](char c) {
      return (c >= 'a' && c <= 'z') || c == '_';
    });
    const std::string code = plain ? *params.error : std::string("unnamed error");
    return refuse("upstream refused: " + code, "The sign-in provider did not sign you in (" + code + ").", 403);
  }
  if (!params.code || params.code->empty())
    return refuse("no code", "The sign-in response carries no authorization code." + std::string(kStartAgain));

  if (!record.link_user_id.empty() && params.signed_in_user_id != record.link_user_id)
    return refuse("link without its login", "The login that started this link has ended; log in again, then link.",
                  401);
  auto identity = upstream->identify(*params.code, values.verifier, callback_url(name), values.nonce);
  if (!identity) {
    if (identity.error().code == UpstreamErrc::unavailable)
      return tl::unexpected(failed(name, identity.error().reason, nullptr,
                                   error(SignInErrc::unavailable, 502,
                                         "The sign-in provider could not be reached or answered wrongly; try again later."),
                                   ctx));
    return refuse(identity.error().reason, "The sign-in provider's answer failed a check (" + identity.error().reason + ").",
                  403);
  }
  if (!usable_subject(identity->subject))
    return refuse("unusable subject", "The sign-in provider named no usable account id.", 403);
  // A new authentication was asked for: an OpenID provider must show it happened (max_age=0
  // makes auth_time required). Others cannot prove it; docs/federation.md says so.
  if (record.fresh_login && upstream->config().kind == "oidc" &&
      (!identity->auth_time || *identity->auth_time < record.created_at - kAuthTimeLeeway))
    return refuse("no fresh login upstream",
                  "The sign-in provider did not confirm a new login, which this sign-in asked for.", 403);

  auto user = account_for(*upstream, *identity, record.link_user_id, ctx);
  if (!user) return tl::unexpected(user.error());
  auto session = sessions_.open_session(user->id, user->password_hash, tokens::SessionGrant{.browser = true});
  if (!session) {
    if (session.error().code != tokens::TokenErrc::invalid_grant)
      return tl::unexpected(store_unavailable());
    return refuse("account changed", "The account changed during the sign-in." + std::string(kStartAgain), 403, &*user);
  }
  audit_.record(ctx, audit::AuditEvent{.type = "login.success", .success = true, .user_id = user->id,
                                       .username = user->username,
                                       .detail = {{"method", "upstream:" + name},
                                                  {"session_id", session->session_id},
                                                  {"via", "browser"}}});
  return Finished{std::move(*user), std::move(*session), record.return_to};
}

Result<store::UserRecord, SignInError> SignIn::account_for(Upstream& upstream, const UpstreamIdentity& identity,
                                                           const std::string& link_user_id, const RequestContext& ctx) {
  const std::string& name = upstream.name();
  const auto unavailable = [] { return tl::unexpected(store_unavailable()); };
  const auto refuse = [&](const std::string& reason, std::string message, const store::UserRecord* user = nullptr) {
    return tl::unexpected(failed(name, reason, user, error(SignInErrc::refused, 403, std::move(message)), ctx));
  };
  const auto usable = [&](const std::string& id) -> Result<store::UserRecord, SignInError> {
    auto found = store_.find_user(id);
    if (!found) return unavailable();
    if (!*found) return refuse("account gone", "The linked account no longer exists.");
    if ((*found)->disabled) return refuse("account disabled", "This account is disabled.", &**found);
    return std::move(**found);
  };

  auto link = store_.find_upstream_link(name, identity.subject);
  if (!link) return unavailable();
  if (*link) {
    if (!link_user_id.empty() && (*link)->user_id != link_user_id)
      return refuse("linked to another account",
                    "This " + name + " account is already linked to another Gatehouse account.");
    return usable((*link)->user_id);
  }
  if (!link_user_id.empty()) {
    auto user = usable(link_user_id);
    if (!user) return user;
    if (auto made = store_.create_upstream_link(store::UpstreamLinkRecord{
            .upstream = name, .subject = identity.subject, .user_id = user->id, .created_at = clock_.now_unix()});
        !made) {
      if (made.error().code != store::StoreErrc::conflict) return unavailable();
      return refuse("linked to another account",
                    "This " + name + " account is already linked to another Gatehouse account.", &*user);
    }
    audit_.record(ctx, audit::AuditEvent{.type = "upstream.linked", .success = true, .user_id = user->id,
                                         .username = user->username, .detail = {{"upstream", name}}});
    return user;
  }
  if (!upstream.config().auto_create)
    return refuse("no linked account", "No Gatehouse account is linked to this " + name +
                                           " account. Sign in with your password and link it, or ask an administrator.");
  return create_account(upstream, identity, ctx);
}

Result<store::UserRecord, SignInError> SignIn::create_account(Upstream& upstream, const UpstreamIdentity& identity,
                                                              const RequestContext& ctx) {
  const std::string& name = upstream.name();
  // Only an address the upstream has verified, and only while no account has it.
  std::string email;
  if (identity.email_verified && accounts::validate_email(identity.email)) {
    auto holder = store_.find_user_by_email(identity.email);
    if (!holder) return tl::unexpected(store_unavailable());
    if (!*holder) email = identity.email;
  }
  const std::string base = username_base(identity);
  for (int attempt = 0; attempt < 6; ++attempt) {
    const std::string username = attempt == 0 ? base : base + "-" + random_base62(6);
    auto made = accounts_.create_linked(username, email,
                                        store::UpstreamLinkRecord{.upstream = name, .subject = identity.subject,
                                                                  .created_at = clock_.now_unix()},
                                        ctx);
    if (made) return std::move(*made);
    if (made.error().code != accounts::AccountErrc::conflict)
      return tl::unexpected(error(made.error().code == accounts::AccountErrc::unavailable ? SignInErrc::unavailable
                                                                                          : SignInErrc::refused,
                                  made.error().code == accounts::AccountErrc::unavailable ? 503 : 403,
                                  "The account could not be created: " + made.error().description));
    // The same identity's first sign-in may have just won in another request.
    auto link = store_.find_upstream_link(name, identity.subject);
    if (link && *link) {
      auto user = store_.find_user((*link)->user_id);
      if (user && *user && !(*user)->disabled) return std::move(**user);
    }
    if (!email.empty() && attempt >= 2) email.clear();  // taken meanwhile: create without it
  }
  return tl::unexpected(failed(name, "no free username", nullptr,
                               error(SignInErrc::refused, 409, "No free username could be found for this account."), ctx));
}

Result<std::vector<store::UpstreamLinkRecord>, SignInError> SignIn::links(const std::string& user_id) {
  auto user = store_.find_user(user_id);
  if (!user) return tl::unexpected(store_unavailable());
  if (!*user) return tl::unexpected(error(SignInErrc::not_found, 404, "No such user."));
  auto links = store_.list_upstream_links(user_id);
  if (!links) return tl::unexpected(store_unavailable());
  return std::move(*links);
}

Result<void, SignInError> SignIn::unlink(const std::string& user_id, const std::string& upstream,
                                         const std::string& actor_id, const RequestContext& ctx) {
  auto user = store_.find_user(user_id);
  if (!user) return tl::unexpected(store_unavailable());
  if (!*user) return tl::unexpected(error(SignInErrc::not_found, 404, "No such user."));
  if ((*user)->password_hash == accounts::kNoPassword) {
    auto links = store_.list_upstream_links(user_id);
    if (!links) return tl::unexpected(store_unavailable());
    const bool other = std::any_of(links->begin(), links->end(), [&](const auto& l) { return l.upstream != upstream; });
    const bool this_one = std::any_of(links->begin(), links->end(), [&](const auto& l) { return l.upstream == upstream; });
    if (this_one && !other)
      return tl::unexpected(error(SignInErrc::conflict, 409,
                                  "This is the user's only way to log in: set a password or link another provider first."));
  }
  auto removed = store_.delete_upstream_links(user_id, upstream);
  if (!removed) return tl::unexpected(store_unavailable());
  if (*removed == 0) return tl::unexpected(error(SignInErrc::not_found, 404, "The user has no link to that provider."));
  audit_.record(ctx, audit::AuditEvent{.type = "upstream.unlinked", .success = true, .user_id = user_id,
                                       .username = (*user)->username,
                                       .detail = {{"upstream", upstream},
                                                  {"links", std::to_string(*removed)},
                                                  {"by", actor_id}}});
  return {};
}

}  // namespace gatehouse::federation
