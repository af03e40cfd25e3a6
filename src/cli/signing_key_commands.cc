#include <cstdio>

#include "app/app.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "core/time.h"

namespace gatehouse::cli {

int signing_key_list(const config::Config& config) {
  auto app = open_or_report(config);
  if (!app) return 1;
  std::printf("%-43s  %-6s  %-8s  %-20s  %s\n", "KID", "ALG", "STATE", "CREATED", "VERIFIES UNTIL");
  for (const auto& k : app->keyring().list()) {
    std::printf("%-43s  %-6s  %-8s  %-20s  %s\n", k.kid.c_str(), std::string(tokens::alg_name(k.alg)).c_str(),
                k.current ? "current" : "retired", rfc3339(k.created_at).c_str(),
                k.expires_at ? rfc3339(*k.expires_at).c_str() : "-");
  }
  return 0;
}

int signing_key_rotate(const config::Config& config, const std::string& alg_name) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto alg = alg_name.empty() ? std::optional<tokens::JwsAlg>(app->keyring().settings().access_alg)
                              : tokens::parse_alg(alg_name);
  if (!alg) {
    std::fprintf(stderr, "gatehouse: --alg must be RS256, ES256 or EdDSA\n");
    return 2;
  }
  auto kid = app->keyring().rotate(*alg);
  if (!kid) {
    std::fprintf(stderr, "gatehouse: %s\n", kid.error().c_str());
    return 1;
  }
  app->audit().record(kCliContext,
                         audit::AuditEvent{.type = "signing_key.rotated", .success = true, .user_id = {},
                                           .username = {},
                                           .detail = {{"kid", *kid}, {"alg", std::string(tokens::alg_name(*alg))}}});
  std::printf("new current %s key %s; running servers pick it up within 5 s\n",
              std::string(tokens::alg_name(*alg)).c_str(), kid->c_str());
  return 0;
}

}  // namespace gatehouse::cli
