#include "http/message.h"

#include <gtest/gtest.h>

namespace gatehouse::http {
namespace {

TEST(Message, HeadersAreCaseInsensitive) {
  Request r;
  r.headers = {{"authorization", "Bearer x"}, {"x-api-key", "a"}, {"x-api-key", "b"}};
  ASSERT_NE(r.header("Authorization"), nullptr);
  EXPECT_EQ(*r.header("AUTHORIZATION"), "Bearer x");
  EXPECT_EQ(r.header_count("X-Api-Key"), 2u);
  EXPECT_EQ(r.header("missing"), nullptr);
}

TEST(Message, DecodesQueryParameters) {
  Request r;
  r.query = "limit=5&cursor=a%2Fb&flag&q=a+b";
  auto params = r.query_params();
  ASSERT_TRUE(params);
  ASSERT_EQ(params->size(), 4u);
  EXPECT_EQ((*params)[1].second, "a/b");
  EXPECT_EQ((*params)[2].first, "flag");
  EXPECT_EQ((*params)[3].second, "a b");
  r.query = "bad=%zz";
  EXPECT_FALSE(r.query_params());
}

TEST(Message, FormDecodesOneValue) {
  EXPECT_EQ(form_decode("gcl_abc"), "gcl_abc");
  EXPECT_EQ(form_decode("a+b%20c%2B%3a%3D"), "a b c+:=");
  EXPECT_EQ(form_decode(""), "");
  EXPECT_EQ(form_decode("%00"), std::string(1, '\0'));
  // Bad escapes and unescaped separators are refused.
  EXPECT_EQ(form_decode("%"), std::nullopt);
  EXPECT_EQ(form_decode("ab%2"), std::nullopt);
  EXPECT_EQ(form_decode("%zz"), std::nullopt);
  EXPECT_EQ(form_decode("%2g"), std::nullopt);
  EXPECT_EQ(form_decode("a=b"), std::nullopt);
  EXPECT_EQ(form_decode("a&b"), std::nullopt);
}

TEST(Message, ErrorResponsesAreJsonWithDescription) {
  Response res = error_response(400, "invalid_request", "username is \"required\".");
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(*res.header("content-type"), "application/json");
  EXPECT_EQ(res.body, R"({"error":"invalid_request","error_description":"username is \"required\"."})");
}

TEST(Message, SetReplacesAndAddAppends) {
  Response res;
  res.set("A", "1").set("a", "2").add("B", "x").add("B", "y");
  ASSERT_EQ(res.headers.size(), 3u);
  EXPECT_EQ(*res.header("a"), "2");
}

TEST(Message, WithQueryEncodesNamesAndValuesAndKeepsAnExistingQuery) {
  EXPECT_EQ(with_query("/a", {{"x", "1 2"}, {"y&prompt=login", "#"}}), "/a?x=1%202&y%26prompt%3Dlogin=%23");
  EXPECT_EQ(with_query("https://h/p?t=1", {{"k", "v"}}), "https://h/p?t=1&k=v");
  EXPECT_EQ(with_query("/a", {}), "/a");
  auto back = parse_form(with_query("", {{"a b", "c+d"}}).substr(1));
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)[0].first, "a b");
  EXPECT_EQ((*back)[0].second, "c+d");
  auto r = redirect("/x", 303);
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(*r.header("location"), "/x");
  EXPECT_EQ(*r.header("cache-control"), "no-store");
}

}  // namespace
}  // namespace gatehouse::http
