#include "core/net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string>

namespace gatehouse {
namespace {

// The address's bytes (4 or 16); an IPv4-mapped IPv6 address counts as IPv4.
std::optional<IpNetwork> parse_address(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  IpNetwork n;
  if (inet_pton(AF_INET, s.c_str(), n.bytes.data()) == 1) {
    n.prefix = 32;
    return n;
  }
  if (inet_pton(AF_INET6, s.c_str(), n.bytes.data()) == 1) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(n.bytes.data(), kMapped, 12) == 0) {
      std::memmove(n.bytes.data(), n.bytes.data() + 12, 4);
      std::memset(n.bytes.data() + 4, 0, 12);
      n.prefix = 32;
      return n;
    }
    n.v6 = true;
    n.prefix = 128;
    return n;
  }
  return std::nullopt;
}

}  // namespace

std::optional<IpNetwork> parse_network(std::string_view text) {
  const auto slash = text.find('/');
  auto n = parse_address(text.substr(0, slash));
  if (!n) return std::nullopt;
  if (slash == std::string_view::npos) return n;
  const std::string_view bits = text.substr(slash + 1);
  int prefix = -1;
  const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
  if (ec != std::errc{} || end != bits.data() + bits.size() || prefix < 0 || prefix > (n->v6 ? 128 : 32))
    return std::nullopt;
  n->prefix = prefix;
  return n;
}

bool network_contains(const IpNetwork& network, std::string_view ip) {
  auto a = parse_address(ip);
  if (!a || a->v6 != network.v6) return false;
  const int full = network.prefix / 8, rest = network.prefix % 8;
  if (std::memcmp(a->bytes.data(), network.bytes.data(), static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a->bytes[static_cast<std::size_t>(full)] & mask) == (network.bytes[static_cast<std::size_t>(full)] & mask);
}

bool is_https_or_loopback_http(std::string_view url) {
  const bool https = url.starts_with("https://");
  if (!https && !url.starts_with("http://")) return false;
  std::string_view host = url.substr(https ? std::string_view("https://").size() : std::string_view("http://").size());
  host = host.substr(0, host.find_first_of("/?#"));
  // No credentials in a URL: "http://127.0.0.1:1@evil.example/" names evil.example.
  if (host.empty() || host.find('@') != std::string_view::npos) return false;
  if (https) return true;
  if (host.starts_with("[")) return host == "[::1]" || host.starts_with("[::1]:");
  host = host.substr(0, host.find(':'));
  // An IP literal in 127.0.0.0/8: a DNS name such as 127.0.0.1.example.com is not loopback.
  static const auto loopback = parse_network("127.0.0.0/8");
  return host == "localhost" || (loopback && network_contains(*loopback, host));
}

}  // namespace gatehouse
