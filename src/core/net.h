// core/net.h: IP networks for configuration such as server.trusted_proxies ("10.0.0.0/8",
// "::1", "192.168.1.7"; a bare address is a network of one), and which URLs count as secure.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gatehouse {

struct IpNetwork {
  bool v6{false};
  std::array<std::uint8_t, 16> bytes{};
  int prefix{0};  // bits
};

std::optional<IpNetwork> parse_network(std::string_view text);
// `ip` is an IPv4 or IPv6 address inside `network` (IPv4-mapped IPv6 addresses match IPv4 networks).
bool network_contains(const IpNetwork& network, std::string_view ip);

// An endpoint Gatehouse may call or send users to: an https:// URL, or an http:// one whose host
// is loopback (localhost, 127.x, [::1]; tests and a provider on the same machine).
bool is_https_or_loopback_http(std::string_view url);

}  // namespace gatehouse
