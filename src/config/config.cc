#include "config/config.h"

#include "core/net.h"
#include "ratelimit/limiter.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <variant>

#include "core/time.h"

namespace gatehouse::config {
namespace {

using Err = tl::unexpected<std::string>;

// One configurable key: where it lives, how to read it, and whether it is a secret
// (secrets may come from <ENV>_FILE and are never echoed in error messages).
struct Key {
  std::string section;
  std::string name;
  std::variant<std::function<std::string&(Config&)>, std::function<bool&(Config&)>,
               std::function<std::int64_t&(Config&)>, std::function<seconds&(Config&)>,
               std::function<std::vector<std::string>&(Config&)>, std::function<int&(Config&)>>
      target;
  bool secret{false};
  bool zero_allowed{false};  // durations: 0 means "off" for this key

  std::string path() const { return section + "." + name; }
  std::string env_name() const {
    std::string out = "GATEHOUSE_" + section + "_" + name;
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
    return out;
  }
};

template <class T>
Key key(std::string section, std::string name, std::function<T&(Config&)> target, bool secret = false) {
  return Key{std::move(section), std::move(name), std::move(target), secret};
}

// A duration where 0 switches the feature off.
Key duration_or_off(std::string section, std::string name, std::function<seconds&(Config&)> target) {
  Key k = key<seconds>(std::move(section), std::move(name), std::move(target));
  k.zero_allowed = true;
  return k;
}

const std::vector<Key>& keys() {
  using S = std::string;
  static const std::vector<Key> table = {
      key<S>("server", "listen", [](Config& c) -> S& { return c.server.listen; }),
      key<int>("server", "threads", [](Config& c) -> int& { return c.server.threads; }),
      key<int>("server", "blocking_threads", [](Config& c) -> int& { return c.server.blocking_threads; }),
      key<int>("server", "hashing_threads", [](Config& c) -> int& { return c.server.hashing_threads; }),
      key<std::int64_t>("server", "max_connections",
                        [](Config& c) -> std::int64_t& { return c.server.max_connections; }),
      key<bool>("server", "allow_insecure_http", [](Config& c) -> bool& { return c.server.allow_insecure_http; }),
      key<std::vector<S>>("server", "trusted_proxies",
                          [](Config& c) -> std::vector<S>& { return c.server.trusted_proxies; }),
      key<S>("server", "issuer", [](Config& c) -> S& { return c.server.issuer; }),
      key<std::int64_t>("server", "max_body_bytes", [](Config& c) -> std::int64_t& { return c.server.max_body_bytes; }),
      key<std::int64_t>("server", "max_header_bytes",
                        [](Config& c) -> std::int64_t& { return c.server.max_header_bytes; }),
      key<seconds>("server", "header_timeout", [](Config& c) -> seconds& { return c.server.header_timeout; }),
      key<seconds>("server", "idle_timeout", [](Config& c) -> seconds& { return c.server.idle_timeout; }),
      key<seconds>("server", "shutdown_timeout", [](Config& c) -> seconds& { return c.server.shutdown_timeout; }),
      key<S>("storage", "url", [](Config& c) -> S& { return c.storage.url; }, true),
      key<S>("storage", "data_dir", [](Config& c) -> S& { return c.storage.data_dir; }),
      key<S>("storage", "password", [](Config& c) -> S& { return c.storage.password; }, true),
      key<std::int64_t>("storage", "pool_size", [](Config& c) -> std::int64_t& { return c.storage.pool_size; }),
      key<S>("tls", "cert_file", [](Config& c) -> S& { return c.tls.cert_file; }),
      key<S>("tls", "key_file", [](Config& c) -> S& { return c.tls.key_file; }),
      key<S>("tokens", "format", [](Config& c) -> S& { return c.tokens.format; }),
      key<S>("tokens", "signing_alg", [](Config& c) -> S& { return c.tokens.signing_alg; }),
      key<seconds>("tokens", "access_ttl", [](Config& c) -> seconds& { return c.tokens.access_ttl; }),
      key<seconds>("tokens", "refresh_ttl", [](Config& c) -> seconds& { return c.tokens.refresh_ttl; }),
      key<seconds>("tokens", "leeway", [](Config& c) -> seconds& { return c.tokens.leeway; }),
      key<S>("tokens", "audience", [](Config& c) -> S& { return c.tokens.audience; }),
      key<S>("tokens", "hs256_secret", [](Config& c) -> S& { return c.tokens.hs256_secret; }, true),
      key<bool>("tokens", "es256_batch", [](Config& c) -> bool& { return c.tokens.es256_batch; }),
      key<bool>("accounts", "allow_registration", [](Config& c) -> bool& { return c.accounts.allow_registration; }),
      key<std::int64_t>("accounts", "min_password_length",
                        [](Config& c) -> std::int64_t& { return c.accounts.min_password_length; }),
      key<std::int64_t>("accounts", "argon2_memory_kib",
                        [](Config& c) -> std::int64_t& { return c.accounts.argon2_memory_kib; }),
      key<std::int64_t>("accounts", "argon2_iterations",
                        [](Config& c) -> std::int64_t& { return c.accounts.argon2_iterations; }),
      key<bool>("auth", "basic", [](Config& c) -> bool& { return c.auth.basic; }),
      duration_or_off("auth", "basic_cache_ttl", [](Config& c) -> seconds& { return c.auth.basic_cache_ttl; }),
      key<S>("api_keys", "prefix", [](Config& c) -> S& { return c.api_keys.prefix; }),
      key<bool>("api_keys", "allow_query_param", [](Config& c) -> bool& { return c.api_keys.allow_query_param; }),
      key<bool>("ratelimit", "enabled", [](Config& c) -> bool& { return c.ratelimit.enabled; }),
      key<S>("ratelimit", "default", [](Config& c) -> S& { return c.ratelimit.default_limit; }),
      key<std::vector<S>>("ratelimit", "roles", [](Config& c) -> std::vector<S>& { return c.ratelimit.roles; }),
      key<std::int64_t>("lockout", "max_failures", [](Config& c) -> std::int64_t& { return c.lockout.max_failures; }),
      key<seconds>("lockout", "duration", [](Config& c) -> seconds& { return c.lockout.duration; }),
      key<std::int64_t>("lockout", "ip_max_failures",
                        [](Config& c) -> std::int64_t& { return c.lockout.ip_max_failures; }),
      key<S>("audit", "file", [](Config& c) -> S& { return c.audit.file; }),
      key<seconds>("audit", "retention", [](Config& c) -> seconds& { return c.audit.retention; }),
      key<S>("admin", "username", [](Config& c) -> S& { return c.admin.username; }),
      key<S>("admin", "password", [](Config& c) -> S& { return c.admin.password; }, true),
      key<S>("log", "level", [](Config& c) -> S& { return c.log.level; }),
  };
  return table;
}

// A value as read from either source, before it is checked against the key's type.
struct Raw {
  std::string where;   // "file" or the environment variable's name
  std::string text;    // env text, or the TOML value re-spelled for messages
  const toml::node* node{nullptr};
};

std::string describe(const Key& k, const Raw& raw) {
  std::string out = k.path();
  if (raw.where != "file") out += " (" + raw.where + ")";
  return out;
}

std::string shown(const Key& k, const Raw& raw) { return k.secret ? "<hidden>" : "\"" + raw.text + "\""; }

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<void, std::string> assign(Config& config, const Key& k, const Raw& raw) {
  const auto fail = [&](std::string_view expected) -> Result<void, std::string> {
    return Err(describe(k, raw) + ": expected " + std::string(expected) + ", got " + shown(k, raw));
  };
  return std::visit(
      [&](auto& target) -> Result<void, std::string> {
        using T = std::decay_t<decltype(target(config))>;
        T& slot = target(config);
        if constexpr (std::is_same_v<T, std::string>) {
          if (raw.node) {
            if (!raw.node->is_string()) return fail("a string");
            slot = raw.node->as_string()->get();
          } else {
            slot = raw.text;
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          if (raw.node) {
            if (!raw.node->is_boolean()) return fail("true or false");
            slot = raw.node->as_boolean()->get();
          } else if (raw.text == "true" || raw.text == "1") {
            slot = true;
          } else if (raw.text == "false" || raw.text == "0") {
            slot = false;
          } else {
            return fail("true or false");
          }
        } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, int>) {
          std::optional<std::int64_t> v;
          if (raw.node) {
            if (raw.node->is_integer()) v = raw.node->as_integer()->get();
          } else {
            v = parse_int(raw.text);
          }
          if (!v || *v < 0 || *v > 1'000'000'000'000) return fail("a non-negative integer");
          slot = static_cast<T>(*v);
        } else if constexpr (std::is_same_v<T, seconds>) {
          std::optional<seconds> v;
          const bool zero = raw.node ? (raw.node->is_integer() && raw.node->as_integer()->get() == 0) ||
                                           (raw.node->is_string() && raw.node->as_string()->get() == "0")
                                     : raw.text == "0";
          if (k.zero_allowed && zero) {
            slot = seconds{0};
            return {};
          }
          if (raw.node) {
            if (raw.node->is_integer() && raw.node->as_integer()->get() > 0)
              v = parse_duration(std::to_string(raw.node->as_integer()->get()));
            else if (raw.node->is_string())
              v = parse_duration(raw.node->as_string()->get());
          } else {
            v = parse_duration(raw.text);
          }
          if (!v)
            return fail(k.zero_allowed ? "0 (off) or a positive duration: integer seconds or a string like \"30s\", \"15m\""
                                       : "a positive duration: integer seconds or a string like \"30s\", \"15m\", \"1h\", \"30d\"");
          slot = *v;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::vector<std::string> out;
          if (raw.node) {
            const auto* array = raw.node->as_array();
            if (!array) return fail("an array of strings");
            for (const auto& item : *array) {
              if (!item.is_string()) return fail("an array of strings");
              out.push_back(item.as_string()->get());
            }
          } else {
            std::stringstream ss(raw.text);
            for (std::string item; std::getline(ss, item, ',');)
              if (!item.empty()) out.push_back(item);
          }
          slot = std::move(out);
        }
        return {};
      },
      k.target);
}

std::string spell(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& v) { out << v; });
  std::string s = out.str();
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

Result<std::string, std::string> read_secret_file(const std::string& var, const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err(var + ": cannot read the file it names");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  return content;
}

Result<std::vector<std::string>, std::string> string_list(const toml::node& node, const std::string& where) {
  const auto* array = node.as_array();
  if (!array) return Err(where + ": expected an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *array) {
    if (!item.is_string()) return Err(where + ": expected an array of strings");
    out.push_back(item.as_string()->get());
  }
  return out;
}

// [roles]: name = ["permission", ...].
Result<void, std::string> read_roles(const toml::node& node, Config& config) {
  const auto* table = node.as_table();
  if (!table) return Err("config file: [roles] must be a table of role = [\"permission\", ...]");
  for (const auto& [name, value] : *table) {
    auto permissions = string_list(value, "config file: roles." + std::string(name.str()));
    if (!permissions) return Err(permissions.error());
    config.roles.push_back(authz::CustomRole{std::string(name.str()), std::move(*permissions)});
  }
  return {};
}

// [[policy]] entries: path, methods, require, anonymous, rate_limit.
Result<void, std::string> read_policies(const toml::node& node, Config& config) {
  const auto* array = node.as_array();
  if (!array) return Err("config file: policy must be written as [[policy]] entries");
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string where = "config file: policy[" + std::to_string(i) + "]";
    const auto* entry = (*array)[i].as_table();
    if (!entry) return Err(where + ": expected a table ([[policy]])");
    authz::PolicySpec spec;
    bool has_path = false;
    for (const auto& [name, value] : *entry) {
      const std::string key(name.str());
      if (key == "path") {
        if (!value.is_string()) return Err(where + ".path: expected a string such as \"/api/orders/*\"");
        spec.path = value.as_string()->get();
        has_path = true;
      } else if (key == "methods" || key == "require") {
        auto list = string_list(value, where + "." + key);
        if (!list) return Err(list.error());
        (key == "methods" ? spec.methods : spec.require) = std::move(*list);
      } else if (key == "anonymous") {
        if (!value.is_boolean()) return Err(where + ".anonymous: expected true or false");
        spec.anonymous = value.as_boolean()->get();
      } else if (key == "rate_limit") {
        if (!value.is_string()) return Err(where + ".rate_limit: expected a string such as \"100/minute\"");
        spec.rate_limit = value.as_string()->get();
      } else {
        return Err(where + ": unknown key \"" + key + "\" (expected path, methods, require, anonymous, rate_limit)");
      }
    }
    if (!has_path) return Err(where + ": path is required");
    config.policies.push_back(std::move(spec));
  }
  return {};
}

// [[upstream]] entries; their secrets may be overridden from the environment afterwards.
Result<void, std::string> read_upstreams(const toml::node& node, Config& config) {
  const auto* array = node.as_array();
  if (!array) return Err("config file: upstream must be written as [[upstream]] entries");
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string where = "config file: upstream[" + std::to_string(i) + "]";
    const auto* entry = (*array)[i].as_table();
    if (!entry) return Err(where + ": expected a table ([[upstream]])");
    UpstreamConfig u;
    std::string secret_file;
    const std::pair<const char*, std::string*> strings[] = {
        {"name", &u.name},           {"kind", &u.kind},
        {"client_id", &u.client_id}, {"client_secret", &u.client_secret},
        {"issuer", &u.issuer},       {"authorize_url", &u.authorize_url},
        {"token_url", &u.token_url}, {"userinfo_url", &u.userinfo_url},
        {"subject_claim", &u.subject_claim}, {"email_claim", &u.email_claim},
        {"username_claim", &u.username_claim}, {"ca_file", &u.ca_file},
        {"client_secret_file", &secret_file}};
    for (const auto& [name, value] : *entry) {
      const std::string key(name.str());
      const auto slot = std::find_if(std::begin(strings), std::end(strings), [&](const auto& s) { return key == s.first; });
      if (slot != std::end(strings)) {
        // The secret's value is never repeated in a message.
        if (!value.is_string()) return Err(where + "." + key + ": expected a string");
        *slot->second = value.as_string()->get();
      } else if (key == "scopes") {
        auto list = string_list(value, where + ".scopes");
        if (!list) return Err(list.error());
        u.scopes = std::move(*list);
      } else if (key == "auto_create") {
        if (!value.is_boolean()) return Err(where + ".auto_create: expected true or false");
        u.auto_create = value.as_boolean()->get();
      } else {
        return Err(where + ": unknown key \"" + key + "\"");
      }
    }
    if (!secret_file.empty()) {
      if (!u.client_secret.empty()) return Err(where + ": client_secret and client_secret_file are both set: choose one");
      auto content = read_secret_file(where + ".client_secret_file", secret_file.c_str());
      if (!content) return Err(content.error());
      u.client_secret = std::move(*content);
    }
    config.upstreams.push_back(std::move(u));
  }
  return {};
}

// GATEHOUSE_UPSTREAM_<NAME>_CLIENT_SECRET or its _FILE form, for each [[upstream]].
Result<void, std::string> upstream_secrets_from_env(Config& config, EnvLookup env) {
  for (auto& u : config.upstreams) {
    std::string var = "GATEHOUSE_UPSTREAM_";
    for (char c : u.name) var += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    var += "_CLIENT_SECRET";
    const char* direct = env(var.c_str());
    const char* from_file = env((var + "_FILE").c_str());
    if (direct && from_file) return Err(var + " and " + var + "_FILE are both set: choose one");
    if (from_file) {
      auto content = read_secret_file(var + "_FILE", from_file);
      if (!content) return Err(content.error());
      u.client_secret = std::move(*content);
    } else if (direct) {
      u.client_secret = direct;
    }
  }
  return {};
}

Result<Config, std::string> load_impl(const toml::table* file, const Overrides& overrides, EnvLookup env) {
  Config config;
  if (file) {
    for (const auto& [section, node] : *file) {
      const std::string section_name(section.str());
      if (section_name == "roles" || section_name == "policy" || section_name == "upstream") {
        auto ok = section_name == "roles"    ? read_roles(node, config)
                  : section_name == "policy" ? read_policies(node, config)
                                             : read_upstreams(node, config);
        if (!ok) return Err(ok.error());
        continue;
      }
      const auto* table = node.as_table();
      if (!table) return Err("config file: [" + section_name + "] must be a table");
      for (const auto& [name, value] : *table) {
        const std::string key_name(name.str());
        // [ratelimit.roles] is a table of role = "limit": kept as "role=limit" entries.
        if (section_name == "ratelimit" && key_name == "roles" && value.is_table()) {
          for (const auto& [role, limit] : *value.as_table()) {
            if (!limit.is_string()) return Err("config file: ratelimit.roles." + std::string(role.str()) + ": expected a string such as \"1000/hour\"");
            config.ratelimit.roles.push_back(std::string(role.str()) + "=" + limit.as_string()->get());
          }
          continue;
        }
        const auto it = std::find_if(keys().begin(), keys().end(),
                                     [&](const Key& k) { return k.section == section_name && k.name == key_name; });
        if (it == keys().end()) return Err("config file: unknown key " + section_name + "." + key_name);
        auto ok = assign(config, *it, Raw{"file", spell(value), &value});
        if (!ok) return Err(ok.error());
      }
    }
  }
  for (const auto& k : keys()) {
    const std::string var = k.env_name();
    const char* direct = env(var.c_str());
    const char* from_file = k.secret ? env((var + "_FILE").c_str()) : nullptr;
    if (direct && from_file) return Err(var + " and " + var + "_FILE are both set: choose one");
    if (from_file) {
      auto content = read_secret_file(var + "_FILE", from_file);
      if (!content) return Err(content.error());
      auto ok = assign(config, k, Raw{var + "_FILE", *content, nullptr});
      if (!ok) return Err(ok.error());
    } else if (direct) {
      auto ok = assign(config, k, Raw{var, direct, nullptr});
      if (!ok) return Err(ok.error());
    }
  }
  if (auto ok = upstream_secrets_from_env(config, env); !ok) return Err(ok.error());
  if (overrides.listen) config.server.listen = *overrides.listen;
  if (overrides.data_dir) config.storage.data_dir = *overrides.data_dir;
  if (overrides.issuer) config.server.issuer = *overrides.issuer;
  if (overrides.tls_self_signed) config.tls.self_signed = true;
  auto ok = finalize(config);
  if (!ok) return Err(ok.error());
  return config;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

std::string Config::storage_url() const {
  return storage.url.empty() ? "sqlite://" + storage.data_dir + "/gatehouse.db" : storage.url;
}

std::string Config::issuer_for(std::uint16_t bound_port) const {
  if (!server.issuer.empty()) return server.issuer;
  const std::string host = listen_host.find(':') != std::string::npos ? "[" + listen_host + "]" : listen_host;
  return (tls.enabled() ? "https://" : "http://") + host + ":" + std::to_string(bound_port);
}

Result<void, std::string> check_upstreams(Config& c) {
  std::set<std::string> names;
  for (auto& u : c.upstreams) {
    const std::string where = "upstream \"" + u.name + "\"";
    if (u.name.empty() || u.name.size() > 32 ||
        !std::all_of(u.name.begin(), u.name.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        }))
      return Err("upstream.name: expected 1 to 32 of a-z, 0-9, '-' and '_', got \"" + u.name + "\"");
    if (!names.insert(u.name).second) return Err(where + ": the name is used twice");
    // "google": an oidc upstream whose issuer defaults to Google's.
    if (u.kind == "google") {
      if (u.issuer.empty()) u.issuer = "https://accounts.google.com";
      u.kind = "oidc";
      u.preset = "google";
    }
    if (u.kind != "oidc" && u.kind != "github" && u.kind != "oauth2")
      return Err(where + ": kind must be \"oidc\", \"google\", \"github\" or \"oauth2\", got \"" + u.kind + "\"");
    if (u.client_id.empty()) return Err(where + ": client_id is required");
    if (u.client_secret.empty())
      return Err(where + ": client_secret is required (or client_secret_file, or GATEHOUSE_UPSTREAM_<NAME>_CLIENT_SECRET)");
    if (u.kind == "oidc") {
      if (u.issuer.empty()) return Err(where + ": an oidc upstream needs its issuer");
      if (!u.authorize_url.empty() || !u.token_url.empty() || !u.userinfo_url.empty())
        return Err(where + ": an oidc upstream's endpoints come from its discovery document; set issuer only");
      if (u.scopes.empty()) u.scopes = {"openid", "email", "profile"};
      if (std::find(u.scopes.begin(), u.scopes.end(), "openid") == u.scopes.end())
        return Err(where + ": an oidc upstream's scopes must include openid");
    } else if (u.kind == "github") {
      if (!u.issuer.empty()) return Err(where + ": a github upstream has no issuer");
      if (u.authorize_url.empty()) u.authorize_url = "https://github.com/login/oauth/authorize";
      if (u.token_url.empty()) u.token_url = "https://github.com/login/oauth/access_token";
      if (u.userinfo_url.empty()) u.userinfo_url = "https://api.github.com";
      if (u.scopes.empty()) u.scopes = {"read:user", "user:email"};
    } else {
      if (u.authorize_url.empty() || u.token_url.empty() || u.userinfo_url.empty())
        return Err(where + ": an oauth2 upstream needs authorize_url, token_url and userinfo_url");
      if (u.subject_claim.empty()) return Err(where + ": subject_claim must not be empty");
    }
    for (const auto& [key, url] : {std::pair<const char*, const std::string*>{"issuer", &u.issuer},
                                   {"authorize_url", &u.authorize_url}, {"token_url", &u.token_url},
                                   {"userinfo_url", &u.userinfo_url}})
      if (!url->empty() && !is_https_or_loopback_http(*url))
        return Err(where + ": " + key + " must be an https:// URL (http:// only to a loopback host), got \"" +
                   *url + "\"");
    if (!u.ca_file.empty() && !std::ifstream(u.ca_file))
      return Err(where + ": ca_file cannot be read: " + u.ca_file);
  }
  return {};
}

Result<void, std::string> finalize(Config& c) {
  using Err = tl::unexpected<std::string>;
  // listen: HOST:PORT, or [IPv6]:PORT.
  const auto colon = c.server.listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return Err("server.listen: expected HOST:PORT such as 127.0.0.1:8080, got \"" + c.server.listen + "\"");
  std::string host = c.server.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const auto port = parse_int(std::string_view(c.server.listen).substr(colon + 1));
  if (!port || *port < 0 || *port > 65535)
    return Err("server.listen: expected a port from 0 to 65535, got \"" + c.server.listen + "\"");
  c.listen_host = host;
  c.listen_port = static_cast<std::uint16_t>(*port);

  if (c.server.threads < 0 || c.server.threads > 256) return Err("server.threads: expected 0 (one per core) to 256");
  if (c.server.blocking_threads < 0 || c.server.blocking_threads > 256)
    return Err("server.blocking_threads: expected 0 (one per core) to 256");
  if (c.server.hashing_threads < 0 || c.server.hashing_threads > 256)
    return Err("server.hashing_threads: expected 0 (one per core) to 256");
  if (c.server.max_connections < 1) return Err("server.max_connections: expected at least 1");
  if (c.server.max_body_bytes < 1024) return Err("server.max_body_bytes: expected at least 1024");
  if (c.server.max_header_bytes < 1024) return Err("server.max_header_bytes: expected at least 1024");

  for (const auto& proxy : c.server.trusted_proxies)
    if (!parse_network(proxy))
      return Err("server.trusted_proxies: expected IP addresses or CIDR ranges such as 10.0.0.0/8, got \"" + proxy +
                 "\"");
  if (c.tls.cert_file.empty() != c.tls.key_file.empty())
    return Err("tls.cert_file / tls.key_file: set both (PEM certificate chain and private key) or neither");
  if (c.tls.self_signed && !c.tls.cert_file.empty())
    return Err("--tls-self-signed: tls.cert_file is set too; choose one");
  if (c.tls.self_signed) {
    c.tls.cert_file = c.storage.data_dir + "/tls/self-signed.crt";
    c.tls.key_file = c.storage.data_dir + "/tls/self-signed.key";
  }
  if (!c.tls.enabled() && !is_loopback(c.listen_host) && !c.server.allow_insecure_http)
    return Err("server.listen: plain HTTP is only served on loopback; configure tls.cert_file and "
                      "tls.key_file, or set server.allow_insecure_http = true behind a TLS-terminating proxy");

  if (c.tokens.format != "jwt" && c.tokens.format != "opaque")
    return Err("tokens.format: expected \"jwt\" or \"opaque\", got \"" + c.tokens.format + "\"");
  static const std::vector<std::string> kAlgs{"HS256", "RS256", "ES256", "EdDSA"};
  if (std::find(kAlgs.begin(), kAlgs.end(), c.tokens.signing_alg) == kAlgs.end())
    return Err("tokens.signing_alg: expected HS256, RS256, ES256 or EdDSA, got \"" + c.tokens.signing_alg + "\"");
  if (!c.tokens.hs256_secret.empty() && c.tokens.hs256_secret.size() < 32)
    return Err("tokens.hs256_secret: expected at least 32 bytes (256 bits) of secret");
  if (c.tokens.signing_alg == "HS256" && c.tokens.hs256_secret.empty())
    return Err("tokens.signing_alg: HS256 needs tokens.hs256_secret (or GATEHOUSE_TOKENS_HS256_SECRET_FILE)");
  {
    const std::string& p = c.api_keys.prefix;
    const bool shape = !p.empty() && p.size() <= 16 && std::all_of(p.begin(), p.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    });
    if (!shape) return Err("api_keys.prefix: expected 1 to 16 characters of a-z, 0-9 and _, got \"" + p + "\"");
    // Bearer tokens are told apart by prefix: a key prefix must not overlap the opaque ones.
    for (std::string_view other : {"gat_", "grt_"})
      if (other.substr(0, std::min(other.size(), p.size())) == std::string_view(p).substr(0, std::min(other.size(), p.size())))
        return Err("api_keys.prefix: \"" + p + "\" overlaps the opaque token prefix \"" + std::string(other) + "\"");
  }
  if (!ratelimit::parse_limit(c.ratelimit.default_limit))
    return Err("ratelimit.default: expected N/second, N/minute, N/hour, N/day or N/<duration>, got \"" +
               c.ratelimit.default_limit + "\"");
  for (const auto& entry : c.ratelimit.roles)
    if (!ratelimit::parse_role_limit(entry))
      return Err("ratelimit.roles: expected role = \"N/period\" entries, got \"" + entry + "\"");
  if (auto ok = authz::validate_roles(c.roles); !ok) return Err(ok.error());
  if (auto ok = authz::RoutePolicies::compile(c.policies); !ok) return Err(ok.error());
  if (auto ok = check_upstreams(c); !ok) return Err(ok.error());
  if (c.lockout.max_failures < 1 || c.lockout.max_failures > 1000)
    return Err("lockout.max_failures: expected 1 to 1000");
  if (c.lockout.ip_max_failures < 1 || c.lockout.ip_max_failures > 1000000)
    return Err("lockout.ip_max_failures: expected 1 to 1000000");
  if (c.accounts.min_password_length < 1 || c.accounts.min_password_length > 1024)
    return Err("accounts.min_password_length: expected 1 to 1024");
  if (c.accounts.argon2_memory_kib < 8 || c.accounts.argon2_memory_kib > 4 * 1024 * 1024)
    return Err("accounts.argon2_memory_kib: expected 8 to 4194304 (KiB)");
  if (c.accounts.argon2_iterations < 1 || c.accounts.argon2_iterations > 100)
    return Err("accounts.argon2_iterations: expected 1 to 100");
  if (c.admin.username.empty()) return Err("admin.username: must not be empty");
  static const std::vector<std::string> kLevels{"debug", "info", "warn", "error"};
  if (std::find(kLevels.begin(), kLevels.end(), c.log.level) == kLevels.end())
    return Err("log.level: expected debug, info, warn or error, got \"" + c.log.level + "\"");

  if (c.storage.pool_size < 1 || c.storage.pool_size > 1000) return Err("storage.pool_size: expected 1 to 1000");
  // A PostgreSQL URL goes to libpq as it is; libpq checks it when the store opens.
  const std::string url = c.storage_url();
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) return {};
  if (!c.storage.password.empty()) return Err("storage.password: only a PostgreSQL storage.url takes a password");
  if (url.rfind("sqlite://", 0) != 0)
    return Err("storage.url: expected sqlite:///path/to/file.db or postgresql://user@host/database");
  c.storage_path = url.substr(std::string_view("sqlite://").size());
  if (c.storage_path.empty()) return Err("storage.url: the SQLite path is empty");
  return {};
}

Result<Config, std::string> load_from_string(std::string_view text, const Overrides& overrides, EnvLookup env) {
  using Err = tl::unexpected<std::string>;
  try {
    const toml::table table = toml::parse(text);
    return load_impl(&table, overrides, env);
  } catch (const toml::parse_error& e) {
    // toml++ quotes the offending text; on a line that sets a secret that could be the
    // secret itself, so there only the position is reported.
    const auto line_no = e.source().begin.line;
    std::string line;
    std::istringstream lines{std::string(text)};
    for (std::size_t i = 0; i < line_no && std::getline(lines, line); ++i) {
    }
    bool secret_line = false;
    for (const auto& k : keys()) secret_line = secret_line || (k.secret && line.find(k.name) != std::string::npos);
    std::ostringstream msg;
    msg << "config file: line " << line_no << ", column " << e.source().begin.column << ": not valid TOML";
    if (!secret_line) msg << " (" << e.description() << ")";
    return Err(msg.str());
  }
}

const char* system_env(const char* name) { return std::getenv(name); }

Result<Config, std::string> load(const std::optional<std::string>& file, const Overrides& overrides, EnvLookup env) {
  using Err = tl::unexpected<std::string>;
  if (!file) return load_impl(nullptr, overrides, env);
  std::ifstream in(*file, std::ios::binary);
  if (!in) return Err("config file " + *file + ": cannot be read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return load_from_string(text, overrides, env);
}

}  // namespace gatehouse::config
