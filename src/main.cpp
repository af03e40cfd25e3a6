// gatehouse: the single binary. `serve` runs the server; the other subcommands work
// directly on the store named by the configuration.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "app/app.h"
#include "cli/commands.h"
#include "config/config.h"

namespace {

constexpr const char* kVersion = "0.1.0";

}  // namespace

int main(int argc, char** argv) {
  using namespace gatehouse;
  CLI::App cli{"Gatehouse: authentication and authorization server"};
  cli.require_subcommand(1);
  cli.fallthrough();
  std::optional<std::string> config_file;
  config::Overrides overrides;
  cli.add_option("--config", config_file, "TOML configuration file");
  cli.add_option("--data-dir", overrides.data_dir, "directory of the embedded store (default ./var)");

  auto* serve = cli.add_subcommand("serve", "run the HTTP server");
  serve->add_option("--listen", overrides.listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--issuer", overrides.issuer, "public base URL (default http(s)://<listen>)");
  serve->add_flag("--tls-self-signed", overrides.tls_self_signed,
                  "serve HTTPS with a development certificate made in <data-dir>/tls/ (trust that file)");

  auto* version = cli.add_subcommand("version", "print the version");
  auto* migrate = cli.add_subcommand("migrate", "bring the store's schema up to date");

  auto* user = cli.add_subcommand("user", "manage users (passwords are read from stdin)");
  user->require_subcommand(1);
  std::string username, email;
  std::vector<std::string> roles;
  bool password_stdin = false;
  auto* add = user->add_subcommand("add", "create a user; reads the password from stdin");
  add->add_option("username", username)->required();
  add->add_option("--email", email, "e-mail address");
  add->add_option("--role", roles, "role (admin or user; repeatable; default user)");
  add->add_flag("--password-stdin", password_stdin, "read the password from stdin (the only way)");
  auto* list = user->add_subcommand("list", "list users");
  auto* set_password = user->add_subcommand("set-password", "set a password read from stdin; ends all sessions");
  set_password->add_option("username", username)->required();
  set_password->add_flag("--password-stdin", password_stdin, "read the password from stdin (the only way)");
  auto* disable = user->add_subcommand("disable", "disable a user and end all its sessions");
  disable->add_option("username", username)->required();
  auto* enable = user->add_subcommand("enable", "enable a disabled user");
  enable->add_option("username", username)->required();
  auto* remove = user->add_subcommand("delete", "delete a user, its sessions and tokens");
  remove->add_option("username", username)->required();
  auto* unlock = user->add_subcommand("unlock", "end a lock from failed logins");
  unlock->add_option("username", username)->required();

  auto* api_key = cli.add_subcommand("key", "manage API keys");
  api_key->require_subcommand(1);
  std::string key_user, key_name, key_expires, key_id;
  std::vector<std::string> key_scopes;
  auto* api_key_create = api_key->add_subcommand("create", "create an API key (printed once, on stdout)");
  api_key_create->add_option("--user", key_user, "the owner's username")->required();
  api_key_create->add_option("--name", key_name, "what the key is for")->required();
  api_key_create->add_option("--scope", key_scopes, "a permission the key keeps (repeatable; default: the owner's)");
  api_key_create->add_option("--expires-in", key_expires, "lifetime: 3600, 90m, 12h, 30d (default: never)");
  auto* api_key_list = api_key->add_subcommand("list", "list API keys (never the keys themselves)");
  api_key_list->add_option("--user", key_user, "only this user's keys");
  auto* api_key_revoke = api_key->add_subcommand("revoke", "revoke an API key; servers refuse it within a second");
  api_key_revoke->add_option("id", key_id, "the key's id (see key list)")->required();

  auto* client = cli.add_subcommand("client", "manage OAuth clients");
  client->require_subcommand(1);
  cli::ClientOptions client_options;
  std::string client_id;
  auto* client_add = client->add_subcommand("add", "register a client (prints its id, then its secret, once)");
  client_add->add_option("--name", client_options.name, "what the client is")->required();
  client_add->add_option("--type", client_options.type, "confidential (default) or public")
      ->check(CLI::IsMember({"confidential", "public"}));
  client_add->add_option("--redirect-uri", client_options.redirect_uris, "a registered redirect URI (repeatable)");
  client_add->add_option("--grant", client_options.grant_types,
                         "authorization_code, refresh_token, client_credentials (repeatable; default: the first two)");
  client_add->add_option("--scope", client_options.scopes, "a scope the client may request (repeatable; default: openid)");
  client_add->add_flag("--trusted", client_options.trusted, "skip the consent page (first-party apps)");
  client_add->add_flag("--introspect", client_options.introspect, "may introspect any token (a resource server)");
  auto* client_list = client->add_subcommand("list", "list clients (never their secrets)");
  auto* client_delete = client->add_subcommand("delete", "delete a client and revoke its tokens");
  client_delete->add_option("id", client_id, "the client_id")->required();

  auto* signing_key = cli.add_subcommand("signing-key", "manage JWS signing keys");
  signing_key->require_subcommand(1);
  std::string alg;
  auto* key_list = signing_key->add_subcommand("list", "list signing keys (current and retired)");
  auto* key_rotate = signing_key->add_subcommand("rotate", "make a new key current; the old one keeps verifying");
  key_rotate->add_option("--alg", alg, "RS256, ES256 or EdDSA (default: tokens.signing_alg)");

  auto* token = cli.add_subcommand("token", "inspect and revoke access tokens");
  token->require_subcommand(1);
  std::string token_text;
  auto* token_decode = token->add_subcommand("decode", "print a JWT's header and claims (no verification)");
  token_decode->add_option("token", token_text, "the token, or - to read it from stdin")->required();
  auto* token_verify = token->add_subcommand("verify", "verify a token against this store's keys (exit 0/1)");
  token_verify->add_option("token", token_text, "the token, or - to read it from stdin")->required();
  token_verify->add_option("--issuer", overrides.issuer, "the issuer the server uses (default http://<listen>)");
  auto* token_revoke = token->add_subcommand("revoke", "revoke one access token (its jti) before it expires");
  token_revoke->add_option("token", token_text, "the token, or - to read it from stdin")->required();
  token_revoke->add_option("--issuer", overrides.issuer, "the issuer the server uses (default http://<listen>)");

  CLI11_PARSE(cli, argc, argv);
  if (*token_decode) return cli::token_decode(token_text);

  if (*version) {
    std::printf("gatehouse %s\n", kVersion);
    return 0;
  }
  auto config = config::load(config_file, overrides);
  if (!config) {
    std::fprintf(stderr, "gatehouse: configuration: %s\n", config.error().c_str());
    return 2;
  }
  if (*serve) return app::serve(*config);
  if (*migrate) return cli::migrate(*config);
  if (*add) return cli::user_add(*config, username, email, roles);
  if (*list) return cli::user_list(*config);
  if (*set_password) return cli::user_set_password(*config, username);
  if (*disable) return cli::user_disable(*config, username, true);
  if (*enable) return cli::user_disable(*config, username, false);
  if (*remove) return cli::user_delete(*config, username);
  if (*unlock) return cli::user_unlock(*config, username);
  if (*api_key_create) return cli::key_create(*config, key_user, key_name, key_scopes, key_expires);
  if (*api_key_list) return cli::key_list(*config, key_user);
  if (*api_key_revoke) return cli::key_revoke(*config, key_id);
  if (*client_add) return cli::client_add(*config, client_options);
  if (*client_list) return cli::client_list(*config);
  if (*client_delete) return cli::client_delete(*config, client_id);
  if (*key_list) return cli::signing_key_list(*config);
  if (*key_rotate) return cli::signing_key_rotate(*config, alg);
  if (*token_verify) return cli::token_verify(*config, token_text);
  if (*token_revoke) return cli::token_revoke(*config, token_text);
  return 2;
}
