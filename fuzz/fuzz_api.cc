// Every endpoint that reads a body or a query, through its handler (the Router and the handler
// functions, not HTTP), on the real service graph over a temp SQLite store, as an admin. The
// first input byte picks the endpoint and the rest is its JSON body, form body or query string.
// A handler may refuse anything with a 4xx; an exception or a 500 is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/common.h"
#include "support/services.h"

namespace gatehouse::api {
namespace {

enum class Payload { json, form, query };

struct Endpoint {
  const char* method;
  const char* path;  // "{user}" is a plain user's id, "{client}" a client's, "{key}" a key's
  Payload payload;
};

constexpr Endpoint kEndpoints[] = {
    {"POST", "/auth/login", Payload::json},
    {"POST", "/auth/refresh", Payload::json},
    {"POST", "/auth/logout", Payload::json},
    {"POST", "/users/me/password", Payload::json},
    {"POST", "/api/users", Payload::json},
    {"PATCH", "/api/users/{user}", Payload::json},
    {"POST", "/api/keys", Payload::json},
    {"POST", "/api/keys/{key}/rotate", Payload::json},
    {"POST", "/api/clients", Payload::json},
    {"POST", "/oauth/token", Payload::form},
    {"POST", "/oauth/introspect", Payload::form},
    {"POST", "/oauth/revoke", Payload::form},
    {"POST", "/oauth/authorize", Payload::form},
    {"GET", "/oauth/authorize", Payload::query},
    {"GET", "/api/users", Payload::query},
    {"GET", "/api/audit", Payload::query},
    {"GET", "/api/keys", Payload::query},
    {"GET", "/api/clients", Payload::query},
    {"GET", "/auth/check", Payload::query},
    {"GET", "/auth/upstream/corp/start", Payload::query},
    {"GET", "/auth/upstream/corp/callback", Payload::query},
};

struct World {
  testing::ServiceGraph g;
  ratelimit::Limiter limiter{g.clock};
  ratelimit::Policy rate_policy{};
  authz::RoutePolicies policies = *authz::RoutePolicies::compile(
      {{.path = "/api/**", .methods = {}, .require = {"profile:read"}, .anonymous = false, .rate_limit = {}}});
  federation::SignIn sign_in;
  Services services;
  http::Router router;
  std::string admin_token, user_id, client_id, key_id;

  static std::vector<std::unique_ptr<federation::Upstream>> upstreams(const Clock& clock) {
    // An upstream that is never reached: its fetch answers as if the network were down.
    federation::Fetch down = [](const http::ClientRequest&) -> Result<http::ClientResponse, http::ClientError> {
      return tl::unexpected(http::ClientError{http::ClientErrc::unreachable, "offline"});
    };
    std::vector<std::unique_ptr<federation::Upstream>> out;
    out.push_back(std::make_unique<federation::Upstream>(
        config::UpstreamConfig{.name = "corp", .kind = "oauth2", .client_id = "c", .client_secret = "s",
                               .authorize_url = "https://idp.test/a", .token_url = "https://idp.test/t",
                               .userinfo_url = "https://idp.test/u", .auto_create = true},
        down, clock));
    return out;
  }

  World()
      : sign_in(g.store(), g.accounts, g.sessions, g.audit, g.clients, g.clock,
                federation::SignInSettings{.base_url = "http://gatehouse.test"}, upstreams(g.clock)),
        services{g.store(), g.accounts, g.sessions, g.authenticator, g.audit, g.clock, g.keyring,
                 g.api_keys, limiter, rate_policy, g.clients, g.provider, policies, sign_in} {
    g.use_jwt();
    if (!g.keyring.ensure_rs256()) std::abort();
    add_all_routes(router, services);
    g.add_user("root", "password-1", {"admin"});
    user_id = g.add_user("plain", "password-1").id;
    auto login = g.accounts.login("root", "password-1", RequestContext{});
    if (!login) std::abort();
    admin_token = login->second.access_token;
    auto client = g.clients.create(oauth::NewClient{.name = "app", .redirect_uris = {"https://app.test/cb"}},
                                   RequestContext{}, "root");
    if (!client) std::abort();
    client_id = client->record.id;
    auto key = g.api_keys.create(keys::NewKey{.user_id = user_id, .name = "k"}, {"profile:read"}, RequestContext{},
                                 "root");
    if (!key) std::abort();
    key_id = key->record.id;
  }

  std::string path_of(std::string path) const {
    for (auto [from, to] : {std::pair<std::string, const std::string*>{"{user}", &user_id},
                            {"{client}", &client_id}, {"{key}", &key_id}})
      if (auto at = path.find(from); at != std::string::npos) path.replace(at, from.size(), *to);
    return path;
  }
};

}  // namespace
}  // namespace gatehouse::api

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gatehouse;
  static api::World* world = new api::World();  // lives for the whole run
  if (size == 0) return 0;
  const auto& endpoint = api::kEndpoints[data[0] % std::size(api::kEndpoints)];
  const std::string payload(reinterpret_cast<const char*>(data + 1), size - 1);

  http::Request r;
  r.method = endpoint.method;
  r.path = world->path_of(endpoint.path);
  r.target = r.path;
  r.remote_ip = "127.0.0.1";
  r.request_id = "fuzz";
  r.headers.push_back({"authorization", "Bearer " + world->admin_token});
  switch (endpoint.payload) {
    case api::Payload::json:
      r.headers.push_back({"content-type", "application/json"});
      r.body = payload;
      break;
    case api::Payload::form:
      r.headers.push_back({"content-type", "application/x-www-form-urlencoded"});
      r.body = payload;
      break;
    case api::Payload::query:
      r.query = payload;
      r.target += "?" + payload;
      break;
  }
  auto match = world->router.match(r);
  if (!match.route) std::abort();  // every endpoint above exists
  const http::Response res = match.route->handler(r);
  if (res.status < 100 || res.status >= 600 || res.status == 500) {
    std::fprintf(stderr, "%s %s answered %d: %s\n", endpoint.method, endpoint.path, res.status, res.body.c_str());
    std::abort();
  }
  return 0;
}
