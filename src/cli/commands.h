// cli/commands.h: the subcommands that work directly on the store. Each returns an exit
// code and prints results on stdout, problems on stderr.
#pragma once
#include <string>
#include <vector>

#include "config/config.h"

namespace gatehouse::cli {

int user_add(const config::Config& config, const std::string& username, const std::string& email,
             const std::vector<std::string>& roles);
int user_list(const config::Config& config);
int user_set_password(const config::Config& config, const std::string& username);
int user_disable(const config::Config& config, const std::string& username, bool disabled);
int user_delete(const config::Config& config, const std::string& username);
// Ends a lock from failed logins (SPEC §9).
int user_unlock(const config::Config& config, const std::string& username);
int migrate(const config::Config& config);
int signing_key_list(const config::Config& config);
// TOKEN "-" reads it from stdin (keeps it out of `ps` and shell history).
int token_decode(const std::string& token);
int token_verify(const config::Config& config, const std::string& token);
// Puts a valid access token's jti on the denylist until the token expires.
int token_revoke(const config::Config& config, const std::string& token);
// alg empty: the configured access-token algorithm.
int signing_key_rotate(const config::Config& config, const std::string& alg);

// API keys. expires_in: a duration ("3600", "90m", "30d"), empty for none. username empty
// in key_list: every user's keys.
int key_create(const config::Config& config, const std::string& username, const std::string& name,
               const std::vector<std::string>& scopes, const std::string& expires_in);
int key_list(const config::Config& config, const std::string& username);
int key_revoke(const config::Config& config, const std::string& id);

// OAuth clients (SPEC §8).
struct ClientOptions {
  std::string name{};
  std::string type{"confidential"};
  std::vector<std::string> redirect_uris{};
  std::vector<std::string> grant_types{};  // empty: authorization_code and refresh_token
  std::vector<std::string> scopes{};       // empty: openid
  bool trusted{false};
  bool introspect{false};
};
int client_add(const config::Config& config, const ClientOptions& options);
int client_list(const config::Config& config);
int client_delete(const config::Config& config, const std::string& id);

// Reads a password from stdin: the whole input less one trailing newline, or a line typed
// at a terminal with echo off. Never from argv, where `ps` and shell history would see it.
std::string read_password_from_stdin(const char* prompt);

}  // namespace gatehouse::cli
