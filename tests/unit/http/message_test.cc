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

}  // namespace
}  // namespace gatehouse::http
