// http/message.h: the request and response that handlers in api/ see. Plain values with no
// Beast or Asio in sight, so that api/ and its tests compile without the network stack.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::http {

struct Header {
  std::string name;  // lower-case
  std::string value;
};

// draft-ietf-httpapi-ratelimit-headers: the quota, what is left, seconds until it is whole.
// Kept as numbers and written straight into the response head: no strings per request.
struct RateLimitHeaders {
  std::int64_t limit{0};
  std::int64_t remaining{0};
  std::int64_t reset{0};
};

struct Request {
  std::string method{};
  std::string target{};  // as sent
  std::string path{};    // target up to '?'
  std::string query{};   // after '?', still percent-encoded
  std::vector<Header> headers{};
  std::string body{};
  std::string remote_ip{};
  // The client's connection is HTTPS: ours, or a trusted proxy's (X-Forwarded-Proto: https).
  bool secure{false};
  std::string request_id{};
  std::vector<std::pair<std::string, std::string>> params{};  // from the route pattern
  // Set by the rate limiter; the server adds them to whatever response the handler returns.
  mutable std::optional<RateLimitHeaders> rate_limit{};

  // The first header of that (case-insensitive) name, if any.
  const std::string* header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
  std::string_view param(std::string_view name) const;
  // Percent-decoded query parameters; nullopt when the query is malformed.
  std::optional<std::vector<std::pair<std::string, std::string>>> query_params() const;
};

struct Response {
  int status{200};
  std::vector<Header> headers{};
  std::string body{};
  std::optional<RateLimitHeaders> rate_limit{};
  // Set when the response is not finished yet: the server first lets the other requests
  // ready on this thread run (as far as their own handlers go), then calls it once, on the
  // network thread, to fill in the response. The token endpoint uses it so that the ES256
  // signatures of requests that arrive together are made together (tokens/es256_batch.h).
  std::function<void(Response&)> complete{};

  // Replaces any header of that name.
  Response& set(std::string name, std::string value);
  // Adds another header of that name (e.g. a second WWW-Authenticate challenge).
  Response& add(std::string name, std::string value);
  // Drops every header of that name.
  Response& remove(std::string_view name);
  const std::string* header(std::string_view name) const;
};

// An application/x-www-form-urlencoded body or query, percent- and '+'-decoded; nullopt when
// malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_form(std::string_view text);
// One percent-encoded value ('+' is a space); nullopt when malformed.
std::optional<std::string> form_decode(std::string_view text);
// Percent-encodes everything but RFC 3986 unreserved characters (for query values).
std::string form_encode(std::string_view text);
// `url` with each key and value form-encoded and added to its query (after any query it has).
std::string with_query(std::string url, const std::vector<std::pair<std::string, std::string>>& params);

Response json_response(int status, std::string json_body);
// {"error": code, "error_description": description}
Response error_response(int status, std::string_view code, std::string_view description);
Response no_content();
// A redirect (302, 303) to `location`, never cached.
Response redirect(std::string location, int status);

}  // namespace gatehouse::http
