#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

#include "app/app.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "core/time.h"
#include "tokens/jws.h"

namespace gatehouse::cli {
namespace {

void pretty(const boost::json::value& v, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  switch (v.kind()) {
    case boost::json::kind::object: {
      const auto& o = v.as_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      std::size_t i = 0;
      for (const auto& [k, member] : o) {
        out += pad + "  " + boost::json::serialize(boost::json::value(k)) + ": ";
        pretty(member, out, indent + 1);
        out += ++i < o.size() ? ",\n" : "\n";
      }
      out += pad + "}";
      return;
    }
    case boost::json::kind::array: {
      const auto& a = v.as_array();
      out += "[";
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ", ";
        pretty(a[i], out, indent + 1);
      }
      out += "]";
      return;
    }
    default: out += boost::json::serialize(v);
  }
}

std::string token_from(const std::string& arg) {
  if (arg != "-") return arg;
  std::string token;
  std::getline(std::cin, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return token;
}

}  // namespace

int token_decode(const std::string& arg) {
  const std::string token = token_from(arg);
  auto decoded = tokens::decode_jws(token);
  if (!decoded) {
    std::fprintf(stderr, "gatehouse: not a JWS gatehouse accepts: %s\n", decoded.error().description.c_str());
    return 1;
  }
  std::string out;
  pretty(boost::json::parse(decoded->parts.header), out, 0);
  out += "\n";
  pretty(boost::json::parse(decoded->parts.payload), out, 0);
  std::printf("%s\n(not verified: use `gatehouse token verify`)\n", out.c_str());
  return 0;
}

int token_verify(const config::Config& config, const std::string& arg) {
  const std::string token = token_from(arg);
  auto app = open_or_report(config);
  if (!app) return 1;
  // The full check a request gets: signature, claims, denylist and the user's status.
  auto principal = app->authenticator().authenticate(
      authn::Presented{.authorization = {"Bearer " + token}, .api_key = {}}, RequestContext{});
  if (!principal) {
    std::printf("invalid: %s\n", principal.error().description.c_str());
    return 1;
  }
  std::printf("valid: sub=%s username=%s method=%s session=%s\n", principal->subject.c_str(),
              principal->username.c_str(), std::string(authn::method_name(principal->method)).c_str(),
              principal->session_id.c_str());
  return 0;
}

int token_revoke(const config::Config& config, const std::string& arg) {
  const std::string token = token_from(arg);
  auto app = open_or_report(config);
  if (!app) return 1;
  // Only a token that still verifies can be revoked: anything else is refused already.
  auto claims = app->access_tokens().verify(token);
  if (!claims) {
    std::printf("invalid: %s\n", claims.error().description.c_str());
    return 1;
  }
  if (claims->jti.empty()) {
    std::printf("invalid: the token has no jti to revoke\n");
    return 1;
  }
  // Kept until the token could no longer pass anyway; every server reads it from the store
  // (its change feed polls every 250 ms).
  const std::int64_t until = claims->exp + app->access_tokens().settings().leeway.count();
  if (!app->store().add_revocation("jti", claims->jti, until)) {
    std::fprintf(stderr, "gatehouse: the store is unavailable\n");
    return 1;
  }
  app->audit().record(kCliContext, audit::AuditEvent{.type = "token.revoked", .success = true,
                                                             .user_id = claims->sub, .username = claims->username,
                                                             .detail = {{"jti", claims->jti}, {"via", "cli"}}});
  std::printf("revoked: jti=%s sub=%s\n", claims->jti.c_str(), claims->sub.c_str());
  return 0;
}

}  // namespace gatehouse::cli
