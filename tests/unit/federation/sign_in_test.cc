// Signing in through an upstream (federation/sign_in.h) on the real service graph and a temp
// store. The upstream is an OAuth 2.0 provider played by a fetch function: its token endpoint
// checks the PKCE verifier against the challenge the start sent and the client's Basic
// credentials, as a real one would, and its userinfo endpoint names whoever the test says.
// The whole flow over HTTP against a second gatehouse is tests/e2e/test_federation.py.
#include "federation/sign_in.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/base64.h"
#include "crypto/digest.h"
#include "http/message.h"
#include "support/services.h"

namespace gatehouse::federation {
namespace {

constexpr const char* kBase = "https://gatehouse.test";
constexpr const char* kSecret = "upstream-client-secret-never-shown";

std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> out;
  auto form = http::parse_form(url.substr(url.find('?') + 1));
  EXPECT_TRUE(form);
  for (auto& [k, v] : *form) out[k] = v;
  return out;
}

// An OAuth 2.0 provider with one outstanding authorization per code.
struct FakeProvider {
  std::string challenge;     // from the last authorization URL
  std::string redirect_uri;  // likewise
  std::string subject{"sub-1"};
  std::string email{"uma@example.com"};
  bool email_verified{false};
  std::string username{"uma"};
  std::string token_answer{};  // when set, the token endpoint's body (status 200)
  int token_status{200};
  std::vector<http::ClientRequest> seen;

  Fetch fetch() {
    return [this](const http::ClientRequest& r) -> Result<http::ClientResponse, http::ClientError> {
      seen.push_back(r);
      if (r.url == "https://idp.test/token") return token(r);
      if (r.url == "https://idp.test/userinfo") {
        boost::json::object o{{"sub", subject}, {"email", email}, {"preferred_username", username},
                              {"email_verified", email_verified}};
        return http::ClientResponse{.status = 200, .body = boost::json::serialize(o)};
      }
      return http::ClientResponse{.status = 404};
    };
  }

  Result<http::ClientResponse, http::ClientError> token(const http::ClientRequest& r) {
    if (token_status != 200 || !token_answer.empty())
      return http::ClientResponse{.status = token_status, .body = token_answer};
    const std::string basic = "Basic " + base64_encode(std::string("cid:") + kSecret);
    bool authed = false;
    for (const auto& h : r.headers) authed |= h.name == "authorization" && h.value == basic;
    auto form = query_of("?" + r.body);
    if (!authed) return http::ClientResponse{.status = 401, .body = R"({"error":"invalid_client"})"};
    if (base64url_encode(crypto::sha256(form["code_verifier"])) != challenge || form["code"] != "the-code" ||
        form["redirect_uri"] != redirect_uri)
      return http::ClientResponse{.status = 400, .body = R"({"error":"invalid_grant"})"};
    return http::ClientResponse{.status = 200, .body = R"({"access_token":"at-1","token_type":"Bearer"})"};
  }
};

config::UpstreamConfig oauth2(std::string name, bool auto_create) {
  return config::UpstreamConfig{.name = std::move(name), .kind = "oauth2", .client_id = "cid",
                                .client_secret = kSecret, .scopes = {"profile"},
                                .authorize_url = "https://idp.test/authorize", .token_url = "https://idp.test/token",
                                .userinfo_url = "https://idp.test/userinfo", .auto_create = auto_create};
}

class SignInTest : public ::testing::Test {
 protected:
  SignInTest() {
    std::vector<std::unique_ptr<Upstream>> upstreams;
    upstreams.push_back(std::make_unique<Upstream>(oauth2("corp", true), idp_.fetch(), g_.clock));
    upstreams.push_back(std::make_unique<Upstream>(oauth2("strict", false), idp_.fetch(), g_.clock));
    sign_in_ = std::make_unique<SignIn>(g_.store(), g_.accounts, g_.sessions, g_.audit, g_.clients, g_.clock,
                                        SignInSettings{.base_url = kBase}, std::move(upstreams));
  }

  // A started flow: (cookie, state sent upstream).
  std::pair<std::string, std::string> start(const std::string& name = "corp", const std::string& return_to = {},
                                            const std::string& link_user_id = {}) {
    std::optional<LinkRequest> link;
    if (!link_user_id.empty()) link = LinkRequest{.user_id = link_user_id, .auth_time = g_.clock.now_unix()};
    signed_in_ = link_user_id;  // the browser that starts a link is signed in as its user
    auto started = sign_in_->start(name, return_to, link, false, RequestContext{});
    EXPECT_TRUE(started) << (started ? "" : started.error().message);
    if (!started) return {};
    auto q = query_of(started->location);
    idp_.challenge = q["code_challenge"];
    idp_.redirect_uri = q["redirect_uri"];
    return {started->flow_cookie, q["state"]};
  }

  Result<Finished, SignInError> finish(const std::string& cookie, const std::string& state,
                                       const std::string& name = "corp") {
    return sign_in_->finish(name,
                            CallbackParams{.state = state, .code = "the-code", .error = std::nullopt,
                                           .signed_in_user_id = signed_in_},
                            cookie, RequestContext{});
  }

  bool failure_audited(const std::string& reason) const {
    for (const auto& line : g_.audit_lines)
      if (line.find("\"login.failure\"") != std::string::npos && line.find(reason) != std::string::npos) return true;
    return false;
  }

  testing::ServiceGraph g_;
  std::string signed_in_;  // the browser's user at the callback
  FakeProvider idp_;
  std::unique_ptr<SignIn> sign_in_;
};

TEST_F(SignInTest, StartSendsADerivedStateAndAnS256ChallengeAndNoSecret) {
  auto started = sign_in_->start("corp", "/next", std::nullopt, false, RequestContext{});
  ASSERT_TRUE(started);
  ASSERT_EQ(started->location.rfind("https://idp.test/authorize?", 0), 0u) << started->location;
  auto q = query_of(started->location);
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], "cid");
  EXPECT_EQ(q["redirect_uri"], "https://gatehouse.test/auth/upstream/corp/callback");
  EXPECT_EQ(q["scope"], "profile");
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["code_challenge"].size(), 43u);
  EXPECT_EQ(q["state"].size(), 43u);
  EXPECT_EQ(q.count("nonce"), 0u) << "an oauth2 upstream gets no nonce";
  EXPECT_EQ(started->location.find(kSecret), std::string::npos);
  EXPECT_EQ(started->flow_cookie.size(), 43u);
  EXPECT_NE(started->flow_cookie, q["state"]);
  // Two starts share nothing.
  auto other = sign_in_->start("corp", "", std::nullopt, false, RequestContext{});
  ASSERT_TRUE(other);
  EXPECT_NE(query_of(other->location)["state"], q["state"]);
  EXPECT_NE(other->flow_cookie, started->flow_cookie);
}

TEST_F(SignInTest, TheRightCallbackCreatesTheAccountOpensASessionAndAudits) {
  auto [cookie, state] = start("corp", "/next");
  auto done = finish(cookie, state);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->user.username, "uma");
  EXPECT_EQ(done->user.email, "") << "the userinfo did not say the address is verified";
  EXPECT_EQ(done->user.roles, std::vector<std::string>{"user"});
  EXPECT_EQ(done->user.password_hash, accounts::kNoPassword);
  // Its only link cannot be removed: it would be locked out.
  auto last = sign_in_->unlink(done->user.id, "corp", done->user.id, RequestContext{});
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, SignInErrc::conflict);
  EXPECT_EQ(done->return_to, "/next");
  EXPECT_TRUE(g_.sessions.verify_browser(done->session.access_token));
  EXPECT_TRUE(g_.audited("user.created"));
  EXPECT_TRUE(g_.audited("login.success"));
  bool method = false;
  for (const auto& line : g_.audit_lines) method |= line.find("\"method\":\"upstream:corp\"") != std::string::npos;
  EXPECT_TRUE(method);
  for (const auto& line : g_.audit_lines) {
    EXPECT_EQ(line.find(kSecret), std::string::npos);
    EXPECT_EQ(line.find("the-code"), std::string::npos);
    EXPECT_EQ(line.find(cookie), std::string::npos);
  }
  // The user cannot log in with any password.
  EXPECT_FALSE(g_.accounts.check_password("uma", "", RequestContext{}));
  EXPECT_FALSE(g_.accounts.check_password("uma", "!none", RequestContext{}));

  // The next sign-in finds the link: the same user.
  auto [cookie2, state2] = start();
  auto again = finish(cookie2, state2);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->user.id, done->user.id);
}

TEST_F(SignInTest, AForgedStateIsRefusedAndSpendsTheFlow) {
  auto [cookie, state] = start();
  auto forged = finish(cookie, state + "x");
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().code, SignInErrc::refused);
  EXPECT_EQ(forged.error().status, 400);
  EXPECT_TRUE(failure_audited("state mismatch"));
  EXPECT_FALSE(finish(cookie, state)) << "the flow is spent";
  EXPECT_EQ(idp_.seen.size(), 0u) << "nothing reached the token endpoint";
}

TEST_F(SignInTest, AReplayAnotherBrowsersCookieAndNoCookieAreRefused) {
  auto [cookie, state] = start();
  ASSERT_TRUE(finish(cookie, state));
  auto replay = finish(cookie, state);
  ASSERT_FALSE(replay);
  EXPECT_TRUE(failure_audited("unknown, used or expired flow"));

  auto [mine, my_state] = start();
  auto [theirs, their_state] = start();
  EXPECT_FALSE(finish(theirs, my_state)) << "a state belongs to one cookie";
  auto none = sign_in_->finish("corp", CallbackParams{.state = my_state, .code = "the-code"}, std::nullopt,
                               RequestContext{});
  ASSERT_FALSE(none);
  EXPECT_TRUE(failure_audited("no flow cookie"));
}

TEST_F(SignInTest, AnExpiredFlowOrOneForAnotherUpstreamIsRefused) {
  auto [cookie, state] = start();
  g_.clock.advance(std::chrono::seconds(601));
  EXPECT_FALSE(finish(cookie, state));

  auto [c2, s2] = start("corp");
  auto wrong = finish(c2, s2, "strict");
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(failure_audited("flow for another upstream"));
}

TEST_F(SignInTest, TheUpstreamsRefusalIsRefusedWithItsCodeOnlyWhenPlain) {
  auto [cookie, state] = start();
  auto denied = sign_in_->finish("corp", CallbackParams{.state = state, .code = std::nullopt, .error = "access_denied"},
                                 cookie, RequestContext{});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().status, 403);
  EXPECT_NE(denied.error().message.find("access_denied"), std::string::npos);

  auto [c2, s2] = start();
  auto odd = sign_in_->finish("corp", CallbackParams{.state = s2, .code = std::nullopt, .error = "<script>"}, c2,
                              RequestContext{});
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().message.find("<script>"), std::string::npos);
}

TEST_F(SignInTest, TokenEndpointFailuresAreRefusedOrUnavailable) {
  idp_.token_answer = R"({"error":"bad_verification_code","error_description":"The code is wrong"})";  // GitHub's way
  auto [c1, s1] = start();
  auto refused = finish(c1, s1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, SignInErrc::refused);
  EXPECT_TRUE(failure_audited("bad_verification_code"));

  idp_.token_status = 503;
  idp_.token_answer = "<html>down</html>";
  auto [c2, s2] = start();
  auto down = finish(c2, s2);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, SignInErrc::unavailable);
  EXPECT_EQ(down.error().status, 502);
}

TEST_F(SignInTest, WithoutAutoCreateThereIsNoAccountUntilLinked) {
  auto [c1, s1] = start("strict");
  auto none = finish(c1, s1, "strict");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().status, 403);
  EXPECT_TRUE(failure_audited("no linked account"));

  auto dora = g_.add_user("dora", "password-1");
  // A link needs a recent login, and asks the upstream to authenticate again.
  auto stale = sign_in_->start("strict", "", LinkRequest{.user_id = dora.id, .auth_time = g_.clock.now_unix() - 601},
                               false, RequestContext{});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().status, 401);
  auto fresh = sign_in_->start("strict", "", LinkRequest{.user_id = dora.id, .auth_time = g_.clock.now_unix() - 60},
                               false, RequestContext{});
  ASSERT_TRUE(fresh);
  EXPECT_EQ(query_of(fresh->location)["prompt"], "login");
  // The browser's login ended before the callback: no link.
  auto [c1b, s1b] = start("strict", "", dora.id);
  signed_in_.clear();
  auto ended = finish(c1b, s1b, "strict");
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().status, 401);
  EXPECT_TRUE(failure_audited("link without its login"));

  auto [c2, s2] = start("strict", "", dora.id);
  auto linked = finish(c2, s2, "strict");
  ASSERT_TRUE(linked) << linked.error().message;
  EXPECT_EQ(linked->user.id, dora.id);
  EXPECT_TRUE(g_.audited("upstream.linked"));

  auto [c3, s3] = start("strict");
  auto signed_in = finish(c3, s3, "strict");
  ASSERT_TRUE(signed_in);
  EXPECT_EQ(signed_in->user.id, dora.id);

  // One upstream account, one user.
  auto erin = g_.add_user("erin", "password-1");
  auto [c4, s4] = start("strict", "", erin.id);
  auto twice = finish(c4, s4, "strict");
  ASSERT_FALSE(twice);
  EXPECT_TRUE(failure_audited("linked to another account"));

  // Listed, and removed by the user (or an admin).
  auto links = sign_in_->links(dora.id);
  ASSERT_TRUE(links);
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ((*links)[0].upstream, "strict");
  EXPECT_EQ((*links)[0].subject, "sub-1");
  EXPECT_EQ(sign_in_->unlink(dora.id, "corp", "admin-id", RequestContext{}).error().code, SignInErrc::not_found);
  ASSERT_TRUE(sign_in_->unlink(dora.id, "strict", "admin-id", RequestContext{}));
  EXPECT_EQ(sign_in_->links("no-such-user").error().code, SignInErrc::not_found);
  EXPECT_TRUE(g_.audited("upstream.unlinked"));
  EXPECT_TRUE(sign_in_->links(dora.id)->empty());
  auto [c6, s6] = start("strict");
  EXPECT_FALSE(finish(c6, s6, "strict")) << "unlinked: no account again";
  auto [c7, s7] = start("strict", "", dora.id);
  ASSERT_TRUE(finish(c7, s7, "strict"));

  // A disabled user is not signed in through a link either.
  ASSERT_TRUE(g_.accounts.update(dora.id, accounts::UserPatch{.disabled = true}, RequestContext{}));
  auto [c5, s5] = start("strict");
  auto disabled = finish(c5, s5, "strict");
  ASSERT_FALSE(disabled);
  EXPECT_TRUE(failure_audited("account disabled"));
}

TEST_F(SignInTest, AVerifiedFreeEmailIsKept) {
  idp_.email_verified = true;
  auto [cookie, state] = start();
  auto done = finish(cookie, state);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->user.email, "uma@example.com");
}

TEST_F(SignInTest, AutoCreateNeverTakesAnotherAccountsNameOrEmail) {
  idp_.email_verified = true;
  g_.add_user("uma", "password-1");
  auto holder = g_.accounts.create(accounts::NewUser{.username = "mail-holder", .password = "password-1",
                                                     .email = "uma@example.com"},
                                   RequestContext{});
  ASSERT_TRUE(holder);
  auto [cookie, state] = start();
  auto done = finish(cookie, state);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_NE(done->user.id, holder->id) << "never merged by e-mail";
  EXPECT_EQ(done->user.username.rfind("uma-", 0), 0u) << done->user.username;
  EXPECT_EQ(done->user.email, "");
}

TEST_F(SignInTest, TooManyUpstreamCallsAtOnceAreRefusedNotQueued) {
  std::vector<std::unique_ptr<Upstream>> upstreams;
  upstreams.push_back(std::make_unique<Upstream>(oauth2("corp", true), idp_.fetch(), g_.clock));
  SignIn none_allowed(g_.store(), g_.accounts, g_.sessions, g_.audit, g_.clients, g_.clock,
                      SignInSettings{.base_url = kBase, .max_in_flight = 0}, std::move(upstreams));
  auto r = none_allowed.start("corp", "", std::nullopt, false, RequestContext{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 503);
  EXPECT_EQ(none_allowed.callback_url("corp"), "https://gatehouse.test/auth/upstream/corp/callback");
  none_allowed.set_base_url("https://other.test//");
  EXPECT_EQ(none_allowed.callback_url("corp"), "https://other.test/auth/upstream/corp/callback");
}

TEST_F(SignInTest, UnusableSubjectsAreRefused) {
  for (std::string subject : {std::string(), std::string(256, 'a'), std::string("a b"), std::string("caf\xC3\xA9")}) {
    idp_.subject = subject;
    auto [cookie, state] = start();
    auto r = finish(cookie, state);
    ASSERT_FALSE(r) << subject;
    EXPECT_EQ(r.error().code, SignInErrc::refused);
  }
}

TEST_F(SignInTest, ReturnToIsOursOrARegisteredClientRedirect) {
  ASSERT_TRUE(g_.clients.create(oauth::NewClient{.name = "app", .redirect_uris = {"https://app.example/cb"},
                                                 .grant_types = std::vector<std::string>{"authorization_code"},
                                                 .scopes = std::vector<std::string>{"openid"}},
                                RequestContext{}, "admin"));
  for (const std::string& ok : std::vector<std::string>{"/", "/oauth/authorize?client_id=x&state=y", "https://gatehouse.test",
                               "https://gatehouse.test/account", "https://app.example/cb"})
    EXPECT_TRUE(sign_in_->checked_return_to(ok)) << ok;
  for (const std::string& bad : std::vector<std::string>{"", "//evil.example", "/\\evil.example", "https://evil.example/", "https://gatehouse.test.evil.example/",
        "https://gatehouse.test@evil.example/", "javascript:alert(1)", "/a b", "/a\tb", "https://app.example/cb2",
        "https://app.example/cb?x=1", std::string("/") + std::string(4096, 'a')})
    EXPECT_FALSE(sign_in_->checked_return_to(bad)) << bad;
  auto refused = sign_in_->start("corp", "https://evil.example/", std::nullopt, false, RequestContext{});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, SignInErrc::bad_request);
  auto unknown = sign_in_->start("nope", "", std::nullopt, false, RequestContext{});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, SignInErrc::not_found);
}

}  // namespace
}  // namespace gatehouse::federation
