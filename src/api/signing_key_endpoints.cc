// GET /.well-known/jwks.json and POST /api/signing-keys/rotate (SPEC §5).
#include <boost/json.hpp>

#include "api/common.h"
#include "core/time.h"

namespace gatehouse::api {
namespace {

// Verifiers cache the JWKS; they refetch on an unknown kid, so a short max-age is enough.
constexpr const char* kJwksCacheControl = "public, max-age=300";

Response rotate(Services& services, const Request& request) {
  auto principal = authorize(services, request, "signing_keys:write");
  if (!principal) return principal.error();
  tokens::JwsAlg alg = services.keyring.settings().access_alg;
  if (!request.body.empty()) {
    auto body = json_object_body(request);
    if (!body) return body.error();
    if (auto e = reject_unknown_fields(*body, {"alg"})) return *e;
    std::optional<std::string> name;
    if (auto e = read_string(*body, "alg", name)) return *e;
    if (name) {
      auto parsed = tokens::parse_alg(*name);
      if (!parsed || *parsed == tokens::JwsAlg::HS256)
        return bad_request("alg must be RS256, ES256 or EdDSA (HS256 is rotated by changing its secret).");
      alg = *parsed;
    }
  }
  auto kid = services.keyring.rotate(alg);
  if (!kid) return unavailable("The new signing key could not be stored; try again shortly.");
  services.audit.record(context_of(request),
                        audit::AuditEvent{.type = "signing_key.rotated", .success = true,
                                          .user_id = principal->user_id, .username = principal->username,
                                          .detail = {{"kid", *kid}, {"alg", std::string(tokens::alg_name(alg))}}});
  boost::json::object out;
  out["kid"] = *kid;
  out["alg"] = std::string(tokens::alg_name(alg));
  out["created_at"] = rfc3339(services.clock.now_unix());
  return json(201, out);
}

}  // namespace

void add_signing_key_routes(http::Router& router, Services& services) {
  // Memory only: answered on the network thread.
  router.add("GET", "/.well-known/jwks.json", http::Execution::network_thread, [&services](Request&) {
    Response res = http::json_response(200, services.keyring.jwks());
    res.set("Content-Type", "application/jwk-set+json");
    res.set("Cache-Control", kJwksCacheControl);
    return res;
  });
  router.add("POST", "/api/signing-keys/rotate", http::Execution::blocking_pool,
             [&services](Request& r) { return rotate(services, r); });
}

}  // namespace gatehouse::api
