// GET /api/audit: the stored audit trail, newest first (SPEC §9).
#include <boost/json.hpp>
#include <charconv>

#include "api/common.h"
#include "core/time.h"

namespace gatehouse::api {
namespace {

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 500;

std::optional<std::int64_t> parse_int(const std::string& s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

Response list_audit(Services& services, const Request& request) {
  auto principal = authorize(services, request, "audit:read");
  if (!principal) return principal.error();
  store::AuditQuery query;
  auto limit = limit_param(request, kDefaultPage, kMaxPage);
  if (!limit) return limit.error();
  query.limit = *limit;
  for (auto [key, target] : {std::pair{"type", &query.type}, std::pair{"user_id", &query.user_id}}) {
    auto value = query_param(request, key);
    if (!value) return value.error();
    if (*value) *target = (*value)->substr(0, 128);
  }
  for (auto [key, target] : {std::pair{"since", &query.since}, std::pair{"until", &query.until}}) {
    auto value = query_param(request, key);
    if (!value) return value.error();
    if (!*value) continue;
    auto t = parse_rfc3339(**value);
    if (!t) t = parse_int(**value);
    if (!t)
      return bad_request(std::string(key) + " must be an RFC 3339 time (2030-01-01T00:00:00Z) or Unix seconds.");
    *target = *t;
  }
  auto cursor = query_param(request, "cursor");
  if (!cursor) return cursor.error();
  if (*cursor) {
    auto seq = parse_int(**cursor);
    if (!seq || *seq == 0) return bad_request("cursor is not a value this API returned.");
    query.before_seq = *seq;
  }
  services.audit.flush();  // what this node has recorded so far is in the answer
  auto records = services.store.list_audit(query);
  if (!records) return unavailable("The audit store is unavailable; try again shortly.");
  std::string body = "{\"events\":[";
  for (std::size_t i = 0; i < records->size(); ++i) {
    if (i) body.push_back(',');
    body += audit::AuditLog::to_json((*records)[i]);
  }
  body += "],\"next_cursor\":";
  if (static_cast<int>(records->size()) == query.limit && !records->empty())
    body += "\"" + std::to_string(records->back().seq) + "\"";
  else
    body += "null";
  body += "}";
  return http::json_response(200, std::move(body));
}

}  // namespace

void add_audit_routes(http::Router& router, Services& services) {
  router.add("GET", "/api/audit", http::Execution::blocking_pool,
             [&services](Request& r) { return list_audit(services, r); });
}

}  // namespace gatehouse::api
