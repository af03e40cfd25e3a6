#include "core/net.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(Net, ParsesAddressesAndNetworks) {
  EXPECT_TRUE(parse_network("10.0.0.0/8"));
  EXPECT_TRUE(parse_network("192.168.1.7"));
  EXPECT_TRUE(parse_network("::1"));
  EXPECT_TRUE(parse_network("fd00::/8"));
  EXPECT_EQ(parse_network("127.0.0.1")->prefix, 32);
  for (const char* bad : {"", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "localhost", "10.0.0.0/", "10.0.0.0/x",
                          "1.2.3.4/-1"})
    EXPECT_FALSE(parse_network(bad)) << bad;
}

TEST(Net, ContainsByPrefix) {
  auto n = *parse_network("10.1.0.0/16");
  EXPECT_TRUE(network_contains(n, "10.1.2.3"));
  EXPECT_FALSE(network_contains(n, "10.2.0.1"));
  EXPECT_TRUE(network_contains(n, "::ffff:10.1.9.9")) << "IPv4-mapped";
  EXPECT_FALSE(network_contains(n, "not an ip"));
  auto odd = *parse_network("192.168.0.128/25");
  EXPECT_TRUE(network_contains(odd, "192.168.0.200"));
  EXPECT_FALSE(network_contains(odd, "192.168.0.127"));
  auto one = *parse_network("127.0.0.1");
  EXPECT_TRUE(network_contains(one, "127.0.0.1"));
  EXPECT_FALSE(network_contains(one, "127.0.0.2"));
  auto v6 = *parse_network("fd00:1::/32");
  EXPECT_TRUE(network_contains(v6, "fd00:1::5"));
  EXPECT_FALSE(network_contains(v6, "fd00:2::5"));
  EXPECT_FALSE(network_contains(v6, "10.0.0.1"));
  EXPECT_TRUE(network_contains(*parse_network("0.0.0.0/0"), "8.8.8.8"));
}

}  // namespace
}  // namespace gatehouse

namespace gatehouse {
namespace {

TEST(Net, PlainHttpOnlyToALoopbackLiteral) {
  for (const char* ok : {"https://idp.example", "https://idp.example/x", "http://127.0.0.1:9000/t", "http://127.8.9.1/",
                         "http://localhost:80/a", "http://[::1]:8080/b", "http://[::1]"})
    EXPECT_TRUE(is_https_or_loopback_http(ok)) << ok;
  for (const char* bad : {"https://", "http://idp.example/", "http://127.0.0.1.nip.io/token", "http://127.evil.example/",
                          "http://127.0.0.1@evil.example/", "http://[::1]evil/", "http://[::2]/", "ftp://127.0.0.1/",
                          "http://localhost.evil.example/", "HTTP://idp.example", "http://127.0.0.1:1@evil.example/",
                          "http://[::1]:x@evil.example/", "https://user:pw@idp.example/", "https://@idp.example"})
    EXPECT_FALSE(is_https_or_loopback_http(bad)) << bad;
}

}  // namespace
}  // namespace gatehouse
