#include "api/pages.h"

#include <gtest/gtest.h>

namespace gatehouse::api::pages {
namespace {

TEST(Pages, EscapeEverythingThatCouldBreakOutOfTextOrAttributes) {
  EXPECT_EQ(escape(R"(<a href="x" onclick='y'>&</a>)"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
}

TEST(Pages, LoginFormFollowsTheContractAndEscapesWhatItEchoes) {
  auto res = login(LoginPage{.client_name = "<Evil> app", .authorize_query = "a=1&b=\"2\"", .csrf_token = "tok",
                             .username = "\"><script>", .error = "bad"},
                   401, "https://app.example:8443/cb?x=1");
  EXPECT_EQ(res.status, 401);
  EXPECT_NE(res.body.find("<form method=\"post\" action=\"/oauth/authorize\">"), std::string::npos);
  EXPECT_NE(res.body.find("name=\"username\""), std::string::npos);
  EXPECT_NE(res.body.find("name=\"password\""), std::string::npos);
  EXPECT_NE(res.body.find("<input type=\"hidden\" name=\"csrf_token\" value=\"tok\">"), std::string::npos);
  EXPECT_NE(res.body.find("value=\"a=1&amp;b=&quot;2&quot;\""), std::string::npos);
  EXPECT_EQ(res.body.find("<script>"), std::string::npos);
  EXPECT_EQ(res.body.find("<Evil>"), std::string::npos);
  const std::string* csp = res.header("Content-Security-Policy");
  ASSERT_TRUE(csp);
  EXPECT_NE(csp->find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp->find("form-action 'self' https://app.example:8443;"), std::string::npos);
  EXPECT_NE(csp->find("style-src 'sha256-"), std::string::npos);
  EXPECT_EQ(*res.header("Cache-Control"), "no-store");
}

TEST(Pages, ConsentHasAllowAndDenyButtons) {
  auto res = consent(ConsentPage{.client_name = "app", .username = "alice", .scopes = {"openid", "email"},
                                 .authorize_query = "q", .csrf_token = "t"},
                     "com.example.app:/cb");
  EXPECT_NE(res.body.find("name=\"decision\" value=\"allow\""), std::string::npos);
  EXPECT_NE(res.body.find("name=\"decision\" value=\"deny\""), std::string::npos);
  EXPECT_NE(res.body.find("<code>email</code>"), std::string::npos);
  EXPECT_NE(res.header("Content-Security-Policy")->find("form-action 'self' com.example.app:;"), std::string::npos);
}

TEST(Pages, ErrorPagesAllowNoFormTarget) {
  auto res = error(400, "Refused", "The <redirect_uri> is not registered.");
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("&lt;redirect_uri&gt;"), std::string::npos);
  EXPECT_NE(res.header("Content-Security-Policy")->find("form-action 'self';"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::api::pages
