// gatehouse client add|list|delete: OAuth clients from the command line, acting directly on
// the store (SPEC §1). Running servers see a change within a second (their change feed).
#include <cstdio>

#include "app/app.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "core/time.h"

namespace gatehouse::cli {
namespace {

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ",") + v;
  return out.empty() ? "-" : out;
}

}  // namespace

int client_add(const config::Config& config, const ClientOptions& options) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto issued = app->clients().create(
      oauth::NewClient{.name = options.name,
                       .type = options.type,
                       .redirect_uris = options.redirect_uris,
                       .grant_types = options.grant_types.empty()
                                          ? std::nullopt
                                          : std::optional<std::vector<std::string>>(options.grant_types),
                       .scopes = options.scopes.empty() ? std::nullopt
                                                        : std::optional<std::vector<std::string>>(options.scopes),
                       .trusted = options.trusted,
                       .introspect = options.introspect},
      kCliContext, "cli");
  if (!issued) {
    std::fprintf(stderr, "gatehouse: %s\n", issued.error().description.c_str());
    return 1;
  }
  // The id, then (confidential clients) the secret, one per line on stdout; the rest on stderr.
  std::printf("%s\n", issued->record.id.c_str());
  if (!issued->secret.empty()) std::printf("%s\n", issued->secret.c_str());
  std::fprintf(stderr, "created %s client %s (%s)%s\n", issued->record.type.c_str(), issued->record.id.c_str(),
               issued->record.name.c_str(), issued->secret.empty() ? "" : "; its secret is shown only this once");
  return 0;
}

int client_list(const config::Config& config) {
  auto app = open_or_report(config);
  if (!app) return 1;
  std::string after;
  while (true) {
    auto page = app->clients().list(after, 200);
    if (!page) {
      std::fprintf(stderr, "gatehouse: %s\n", page.error().description.c_str());
      return 1;
    }
    for (const auto& c : *page) {
      std::printf("%-26s  %-12s  %-20s  %-7s  %-40s  %-30s  %s\n", c.id.c_str(), c.type.c_str(),
                  rfc3339(c.created_at).c_str(), c.trusted ? "trusted" : "-", joined(c.grant_types).c_str(),
                  joined(c.scopes).c_str(), c.name.c_str());
    }
    if (page->size() < 200) return 0;
    after = page->back().id;
  }
}

int client_delete(const config::Config& config, const std::string& id) {
  auto app = open_or_report(config);
  if (!app) return 1;
  auto removed = app->clients().remove(id, app->sessions().revoked_until(), kCliContext, "cli");
  if (!removed) {
    std::fprintf(stderr, "gatehouse: %s\n", removed.error().description.c_str());
    return 1;
  }
  std::fprintf(stderr, "deleted client %s; tokens issued to it are revoked\n", id.c_str());
  return 0;
}

}  // namespace gatehouse::cli
