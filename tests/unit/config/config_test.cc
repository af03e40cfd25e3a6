#include "config/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "support/temp_store.h"

namespace gatehouse::config {
namespace {

std::map<std::string, std::string>* g_env = nullptr;
const char* fake_env(const char* name) {
  auto it = g_env->find(name);
  return it == g_env->end() ? nullptr : it->second.c_str();
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { g_env = &env_; }
  Result<Config, std::string> load(std::string_view toml, Overrides o = {}) {
    return load_from_string(toml, o, &fake_env);
  }
  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, StartsWithNoConfigAtAll) {
  auto c = load("");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 8080);
  EXPECT_EQ(c->storage_url(), "sqlite://./var/gatehouse.db");
  EXPECT_EQ(c->tokens.access_ttl, std::chrono::seconds{3600});
  EXPECT_EQ(c->tokens.refresh_ttl, std::chrono::seconds{30 * 86400});
  EXPECT_EQ(c->accounts.min_password_length, 8);
  EXPECT_TRUE(c->auth.basic);
  EXPECT_EQ(c->issuer_for(8080), "http://127.0.0.1:8080");
}

TEST_F(ConfigTest, ReadsTomlWithDurationsInBothForms) {
  auto c = load(R"(
[server]
listen = "127.0.0.1:9000"
threads = 3
[tokens]
access_ttl = "15m"
refresh_ttl = 86400
)");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->listen_port, 9000);
  EXPECT_EQ(c->server.threads, 3);
  EXPECT_EQ(c->tokens.access_ttl, std::chrono::seconds{900});
  EXPECT_EQ(c->tokens.refresh_ttl, std::chrono::seconds{86400});
}

TEST_F(ConfigTest, EnvironmentOverridesFileAndFlagsOverrideBoth) {
  env_["GATEHOUSE_TOKENS_ACCESS_TTL"] = "1";
  env_["GATEHOUSE_SERVER_LISTEN"] = "127.0.0.1:7000";
  auto c = load("[tokens]\naccess_ttl = \"1h\"\n", Overrides{.listen = "127.0.0.1:0", .data_dir = "/tmp/x", .issuer = {}});
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->tokens.access_ttl, std::chrono::seconds{1});
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_EQ(c->storage_path, "/tmp/x/gatehouse.db");
}

TEST_F(ConfigTest, StorageUrlNamesSqliteOrPostgres) {
  for (const char* url : {"postgresql://gh:pw@db.internal/gatehouse?sslmode=verify-full", "postgres://db/gatehouse"}) {
    env_["GATEHOUSE_STORAGE_URL"] = url;
    auto c = load("");
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->storage_url(), url) << "passed to libpq as it is";
    EXPECT_EQ(c->storage_path, "");
  }
  env_["GATEHOUSE_STORAGE_URL"] = "mysql://gh:pw-not-echoed@db/gatehouse";
  auto other = load("");
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().find("storage.url"), std::string::npos);
  EXPECT_EQ(other.error().find("pw-not-echoed"), std::string::npos);
}

TEST_F(ConfigTest, PostgresPasswordAndPoolSize) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/pg-password";
  std::ofstream(path) << "pg-pw-not-echoed\n";
  env_["GATEHOUSE_STORAGE_URL"] = "postgresql://gatehouse@db.internal/gatehouse";
  env_["GATEHOUSE_STORAGE_PASSWORD_FILE"] = path;
  auto c = load("[storage]\npool_size = 12\n");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->storage.password, "pg-pw-not-echoed");
  EXPECT_EQ(c->storage.pool_size, 12);
  EXPECT_EQ(c->storage_url(), "postgresql://gatehouse@db.internal/gatehouse") << "the password is not put in the URL";
  EXPECT_EQ(load("")->storage.pool_size, 4) << "the default";

  for (const char* size : {"0", "1001", "-1", "\"four\""}) {
    auto bad = load(std::string("[storage]\npool_size = ") + size + "\n");
    ASSERT_FALSE(bad) << size;
    EXPECT_NE(bad.error().find("storage.pool_size"), std::string::npos) << bad.error();
  }

  env_.erase("GATEHOUSE_STORAGE_URL");  // SQLite has no password: a set one is a mistake, said so
  auto sqlite = load("");
  ASSERT_FALSE(sqlite);
  EXPECT_NE(sqlite.error().find("storage.password"), std::string::npos) << sqlite.error();
  EXPECT_EQ(sqlite.error().find("pg-pw-not-echoed"), std::string::npos);
}

TEST_F(ConfigTest, UpstreamsOfEachKindWithTheirDefaults) {
  testing::TempDir dir;
  const std::string secret_path = dir.path() + "/github-secret";
  std::ofstream(secret_path) << "gh-secret-not-echoed\n";
  const std::string toml = R"(
[[upstream]]
name = "corp"
kind = "oidc"
issuer = "https://login.corp.example"
client_id = "gatehouse"
client_secret = "oidc-secret-not-echoed"
auto_create = true

[[upstream]]
name = "github"
kind = "github"
client_id = "Iv1.abc"
client_secret_file = ")" + secret_path + R"("

[[upstream]]
name = "legacy-sso"
kind = "oauth2"
authorize_url = "http://127.0.0.1:9000/authorize"
token_url = "http://127.0.0.1:9000/token"
userinfo_url = "http://127.0.0.1:9000/me"
subject_claim = "uid"
scopes = ["profile"]
client_id = "x"
)";
  auto c = load(toml);
  ASSERT_FALSE(c) << "legacy-sso has no secret yet";
  EXPECT_NE(c.error().find("legacy-sso"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("client_secret"), std::string::npos) << c.error();

  env_["GATEHOUSE_UPSTREAM_LEGACY_SSO_CLIENT_SECRET"] = "env-secret-not-echoed";
  c = load(toml);
  ASSERT_TRUE(c) << c.error();
  ASSERT_EQ(c->upstreams.size(), 3u);
  const auto& corp = c->upstreams[0];
  EXPECT_EQ(corp.kind, "oidc");
  EXPECT_TRUE(corp.auto_create);
  EXPECT_EQ(corp.scopes, (std::vector<std::string>{"openid", "email", "profile"}));
  const auto& github = c->upstreams[1];
  EXPECT_EQ(github.client_secret, "gh-secret-not-echoed");
  EXPECT_EQ(github.authorize_url, "https://github.com/login/oauth/authorize");
  EXPECT_EQ(github.token_url, "https://github.com/login/oauth/access_token");
  EXPECT_EQ(github.userinfo_url, "https://api.github.com");
  EXPECT_EQ(github.scopes, (std::vector<std::string>{"read:user", "user:email"}));
  EXPECT_FALSE(github.auto_create);
  const auto& legacy = c->upstreams[2];
  EXPECT_EQ(legacy.client_secret, "env-secret-not-echoed");
  EXPECT_EQ(legacy.subject_claim, "uid");
  EXPECT_EQ(legacy.email_claim, "email");
}

TEST_F(ConfigTest, UpstreamMistakesAreNamedAndSecretsNeverEchoed) {
  const std::string base = "[[upstream]]\nclient_id = \"x\"\nclient_secret = \"s3cret-not-echoed\"\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"name = \"Corp\"\nkind = \"oidc\"\nissuer = \"https://a.example\"\n", "upstream.name"},
      {"name = \"corp\"\nkind = \"saml\"\n", "kind must be"},
      {"name = \"corp\"\nkind = \"oidc\"\n", "needs its issuer"},
      {"name = \"corp\"\nkind = \"oidc\"\nissuer = \"http://idp.example\"\n", "https://"},
      {"name = \"corp\"\nkind = \"oidc\"\nissuer = \"https://a.example\"\nscopes = [\"email\"]\n", "openid"},
      {"name = \"corp\"\nkind = \"oidc\"\nissuer = \"https://a.example\"\ntoken_url = \"https://a.example/t\"\n",
       "discovery"},
      {"name = \"corp\"\nkind = \"oauth2\"\nauthorize_url = \"https://a.example/a\"\n", "needs authorize_url"},
      {"name = \"corp\"\nkind = \"github\"\nauthorize_url = \"ftp://a.example/a\"\n", "authorize_url must be"},
      {"name = \"corp\"\nkind = \"github\"\nca_file = \"/no/such/ca.pem\"\n", "ca_file"},
      {"name = \"corp\"\nkind = \"github\"\ncolour = \"blue\"\n", "unknown key"},
      {"name = \"corp\"\nkind = \"github\"\nclient_secret_file = \"/no/such/file\"\n", "both set"},
  };
  for (const auto& [extra, expected] : cases) {
    auto c = load(base + extra);
    ASSERT_FALSE(c) << extra;
    EXPECT_NE(c.error().find(expected), std::string::npos) << extra << " -> " << c.error();
    EXPECT_EQ(c.error().find("s3cret-not-echoed"), std::string::npos) << c.error();
  }
  auto twice = load(base + "name = \"a\"\nkind = \"github\"\n" + base + "name = \"a\"\nkind = \"github\"\n");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().find("used twice"), std::string::npos) << twice.error();
  auto loopback = load(base + "name = \"a\"\nkind = \"oidc\"\nissuer = \"http://[::1]:9000\"\n");
  EXPECT_TRUE(loopback) << (loopback ? "" : loopback.error());
}

TEST_F(ConfigTest, TheGooglePresetIsOidcAtGooglesIssuer) {
  auto c = load("[[upstream]]\nname = \"google\"\nkind = \"google\"\nclient_id = \"x.apps.googleusercontent.com\"\n"
                "client_secret = \"s\"\nauto_create = true\n");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->upstreams[0].kind, "oidc");
  EXPECT_EQ(c->upstreams[0].issuer, "https://accounts.google.com");
  EXPECT_EQ(c->upstreams[0].scopes, (std::vector<std::string>{"openid", "email", "profile"}));
  auto bad = load("[[upstream]]\nname = \"g\"\nkind = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\n"
                  "token_url = \"https://oauth2.googleapis.com/token\"\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("discovery"), std::string::npos) << bad.error();
}

TEST_F(ConfigTest, SecretsComeFromFiles) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/pw";
  std::ofstream(path) << "s3cret-value\n";
  env_["GATEHOUSE_ADMIN_PASSWORD_FILE"] = path;
  auto c = load("");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->admin.password, "s3cret-value");
  env_["GATEHOUSE_ADMIN_PASSWORD"] = "other";
  auto both = load("");
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().find("both set"), std::string::npos);
}

TEST_F(ConfigTest, ErrorsNameTheKeyAndTheExpectedForm) {
  auto bad_duration = load("[tokens]\naccess_ttl = \"soon\"\n");
  ASSERT_FALSE(bad_duration);
  EXPECT_NE(bad_duration.error().find("tokens.access_ttl"), std::string::npos);
  EXPECT_NE(bad_duration.error().find("\"15m\""), std::string::npos);

  env_["GATEHOUSE_AUTH_BASIC"] = "maybe";
  auto bad_bool = load("");
  ASSERT_FALSE(bad_bool);
  EXPECT_NE(bad_bool.error().find("GATEHOUSE_AUTH_BASIC"), std::string::npos);
  env_.clear();

  auto unknown = load("[tokens]\nacces_ttl = 5\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("tokens.acces_ttl"), std::string::npos);

  auto wrong_type = load("[server]\nthreads = \"two\"\n");
  ASSERT_FALSE(wrong_type);
  EXPECT_NE(wrong_type.error().find("server.threads"), std::string::npos);

  auto syntax = load("[server\n");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().find("line 1"), std::string::npos);
}

TEST_F(ConfigTest, ReadsCustomRolesAndGatewayPolicies) {
  auto c = load(R"(
[roles]
support = ["orders:read", "tickets:write"]

[[policy]]
path = "/api/orders/*"
methods = ["GET"]
require = ["orders:read"]
rate_limit = "100/minute"

[[policy]]
path = "/public/**"
anonymous = true
)");
  ASSERT_TRUE(c) << c.error();
  ASSERT_EQ(c->roles.size(), 1u);
  EXPECT_EQ(c->roles[0].name, "support");
  EXPECT_EQ(c->roles[0].permissions, (std::vector<std::string>{"orders:read", "tickets:write"}));
  ASSERT_EQ(c->policies.size(), 2u);
  EXPECT_EQ(c->policies[0].path, "/api/orders/*");
  EXPECT_EQ(c->policies[0].methods, (std::vector<std::string>{"GET"}));
  EXPECT_EQ(c->policies[0].require, (std::vector<std::string>{"orders:read"}));
  EXPECT_EQ(c->policies[0].rate_limit, "100/minute");
  EXPECT_FALSE(c->policies[0].anonymous);
  EXPECT_TRUE(c->policies[1].anonymous);
}

TEST_F(ConfigTest, BasicCacheMayBeSwitchedOffWithZero) {
  auto c = load("[auth]\nbasic_cache_ttl = 0\n");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->auth.basic_cache_ttl, std::chrono::seconds{0});
  env_["GATEHOUSE_AUTH_BASIC_CACHE_TTL"] = "0";
  EXPECT_EQ(load("")->auth.basic_cache_ttl, std::chrono::seconds{0});
  env_["GATEHOUSE_AUTH_BASIC_CACHE_TTL"] = "2m";
  EXPECT_EQ(load("")->auth.basic_cache_ttl, std::chrono::seconds{120});
  env_.clear();
  // Elsewhere 0 is still refused: an access token that lives 0 s is a typo.
  EXPECT_FALSE(load("[tokens]\naccess_ttl = 0\n"));
  EXPECT_FALSE(load("[auth]\nbasic_cache_ttl = -1\n"));
}

TEST_F(ConfigTest, BadPoliciesAndRolesAreRefusedAtStartByName) {
  const std::pair<const char*, const char*> cases[] = {
      {"[[policy]]\npath = \"/a\"\nrequires = [\"x\"]\n", "policy[0]: unknown key \"requires\""},
      {"[[policy]]\nmethods = [\"GET\"]\n", "policy[0]: path is required"},
      {"[[policy]]\npath = \"/ok\"\n[[policy]]\npath = \"/a/**b\"\n", "policy[1]: path \"/a/**b\""},
      {"[[policy]]\npath = \"/a\"\nmethods = \"GET\"\n", "policy[0].methods: expected an array of strings"},
      {"[[policy]]\npath = \"/a\"\nanonymous = \"yes\"\n", "policy[0].anonymous: expected true or false"},
      {"[[policy]]\npath = \"/a\"\nrate_limit = \"fast\"\n", "policy[0]: rate_limit"},
      {"[policy]\npath = \"/a\"\n", "[[policy]] entries"},
      {"[roles]\nadmin = [\"x\"]\n", "roles.admin: a built-in role cannot be redefined"},
      {"[roles]\nsupport = \"orders:read\"\n", "roles.support: expected an array of strings"},
  };
  for (const auto& [toml, expected] : cases) {
    auto c = load(toml);
    ASSERT_FALSE(c) << toml;
    EXPECT_NE(c.error().find(expected), std::string::npos) << c.error();
  }
}

TEST_F(ConfigTest, ApiKeyPrefixIsCheckedAgainstTheTokenPrefixes) {
  auto defaults = load("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->api_keys.prefix, "gk_");
  EXPECT_FALSE(defaults->api_keys.allow_query_param);
  EXPECT_TRUE(load("[api_keys]\nprefix = \"acme_live_\"\nallow_query_param = true\n"));
  for (const char* bad : {"", "GK_", "gk-", "gk.", "a_very_long_prefix_", "gat_", "ga", "grt_x"}) {
    auto c = load(std::string("[api_keys]\nprefix = \"") + bad + "\"\n");
    ASSERT_FALSE(c) << bad;
    EXPECT_NE(c.error().find("api_keys.prefix"), std::string::npos) << c.error();
  }
}

TEST_F(ConfigTest, TrustedProxiesAreAddressesOrCidrRanges) {
  EXPECT_TRUE(load("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.168.1.7\"]\n"));
  auto bad = load("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("server.trusted_proxies"), std::string::npos);
  EXPECT_FALSE(load("[server]\ntrusted_proxies = [\"proxy.internal\"]\n"));
}

TEST_F(ConfigTest, TlsFilesComeTogetherAndAllowNonLoopback) {
  EXPECT_FALSE(load("[tls]\ncert_file = \"/x.crt\"\n"));
  EXPECT_FALSE(load("[server]\nlisten = \"0.0.0.0:8443\"\n"));
  auto tls = load("[server]\nlisten = \"0.0.0.0:8443\"\n[tls]\ncert_file = \"/x.crt\"\nkey_file = \"/x.key\"\n");
  ASSERT_TRUE(tls);
  EXPECT_EQ(tls->issuer_for(8443), "https://0.0.0.0:8443");
}

TEST_F(ConfigTest, TokenSettingsAreChecked) {
  auto defaults = load("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->tokens.format, "jwt");
  EXPECT_EQ(defaults->tokens.signing_alg, "ES256");
  EXPECT_FALSE(load("[tokens]\nformat = \"paseto\"\n"));
  EXPECT_FALSE(load("[tokens]\nsigning_alg = \"none\"\n"));
  EXPECT_FALSE(load("[tokens]\nsigning_alg = \"HS256\"\n")) << "HS256 needs a secret";
  EXPECT_FALSE(load("[tokens]\nhs256_secret = \"too-short\"\n"));
  auto hs = load("[tokens]\nsigning_alg = \"HS256\"\nhs256_secret = \"0123456789abcdef0123456789abcdef\"\n");
  EXPECT_TRUE(hs) << hs.error();
  auto short_secret = load("[tokens]\nhs256_secret = \"too-short\"\n");
  EXPECT_EQ(short_secret.error().find("too-short"), std::string::npos) << "secrets are never echoed";
}

TEST_F(ConfigTest, NeverEchoesSecretValues) {
  env_["GATEHOUSE_STORAGE_URL"] = "mysql://user:hunter2@db/x";
  auto c = load("");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().find("hunter2"), std::string::npos) << c.error();
}

TEST_F(ConfigTest, TomlSyntaxErrorsOnSecretLinesDoNotQuoteThem) {
  auto c = load("[tokens]\nhs256_secret = 12345678901234567890123abc\n");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("line 2"), std::string::npos) << c.error();
  EXPECT_EQ(c.error().find("123456"), std::string::npos) << c.error();
}

TEST_F(ConfigTest, RefusesPlainHttpOffLoopbackUnlessAllowed) {
  auto exposed = load("", Overrides{.listen = "0.0.0.0:8080", .data_dir = {}, .issuer = {}});
  ASSERT_FALSE(exposed);
  EXPECT_NE(exposed.error().find("allow_insecure_http"), std::string::npos);
  auto allowed = load("[server]\nallow_insecure_http = true\n", Overrides{.listen = "0.0.0.0:8080", .data_dir = {}, .issuer = {}});
  EXPECT_TRUE(allowed) << allowed.error();
}

TEST_F(ConfigTest, RejectsBadListenValues) {
  for (const char* listen : {"8080", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http"}) {
    auto c = load("", Overrides{.listen = listen, .data_dir = {}, .issuer = {}});
    EXPECT_FALSE(c) << listen;
  }
}

}  // namespace
}  // namespace gatehouse::config

namespace gatehouse::config {
namespace {

// gatehouse.example.toml documents every key with its default: it must parse, and change nothing.
TEST(ExampleConfig, ParsesAndEqualsTheDefaults) {
  const char* (*no_env)(const char*) = [](const char*) -> const char* { return nullptr; };
  auto example = load(std::string(GATEHOUSE_SOURCE_DIR) + "/gatehouse.example.toml", Overrides{}, no_env);
  ASSERT_TRUE(example) << example.error();
  auto defaults = load_from_string("", Overrides{}, no_env);
  ASSERT_TRUE(defaults);
  EXPECT_EQ(example->server.listen, defaults->server.listen);
  EXPECT_EQ(example->server.hashing_threads, defaults->server.hashing_threads);
  EXPECT_EQ(example->server.max_connections, defaults->server.max_connections);
  EXPECT_EQ(example->server.header_timeout, defaults->server.header_timeout);
  EXPECT_EQ(example->server.idle_timeout, defaults->server.idle_timeout);
  EXPECT_EQ(example->server.max_body_bytes, defaults->server.max_body_bytes);
  EXPECT_EQ(example->server.max_header_bytes, defaults->server.max_header_bytes);
  EXPECT_EQ(example->tokens.format, defaults->tokens.format);
  EXPECT_EQ(example->tokens.signing_alg, defaults->tokens.signing_alg);
  EXPECT_EQ(example->tokens.access_ttl, defaults->tokens.access_ttl);
  EXPECT_EQ(example->tokens.refresh_ttl, defaults->tokens.refresh_ttl);
  EXPECT_EQ(example->tokens.leeway, defaults->tokens.leeway);
  EXPECT_EQ(example->accounts.argon2_memory_kib, defaults->accounts.argon2_memory_kib);
  EXPECT_EQ(example->accounts.argon2_iterations, defaults->accounts.argon2_iterations);
  EXPECT_EQ(example->auth.basic_cache_ttl, defaults->auth.basic_cache_ttl);
  EXPECT_EQ(example->audit.retention, defaults->audit.retention);
  EXPECT_EQ(example->storage_url(), defaults->storage_url());
  EXPECT_EQ(example->admin.username, defaults->admin.username);
}

}  // namespace
}  // namespace gatehouse::config
