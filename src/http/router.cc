#include "http/router.h"

#include <stdexcept>

namespace gatehouse::http {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// "{name...}" as the last segment: one or more remaining segments, captured with their '/'s.
bool is_rest(const std::string& segment) { return is_param(segment) && segment.ends_with("...}"); }

}  // namespace

namespace {

// Whether the route's pattern matches the path's segments; fills params when it does.
bool route_matches(const Route& route, const std::vector<std::string>& segments,
                   std::vector<std::pair<std::string, std::string>>* params) {
  const bool rest = !route.segments.empty() && is_rest(route.segments.back());
  if (rest ? segments.size() < route.segments.size() : route.segments.size() != segments.size()) return false;
  for (std::size_t i = 0; i < route.segments.size(); ++i) {
    const std::string& want = route.segments[i];
    if (rest && i + 1 == route.segments.size()) {
      std::string tail = segments[i];
      for (std::size_t j = i + 1; j < segments.size(); ++j) tail.append("/").append(segments[j]);
      if (params) params->emplace_back(want.substr(1, want.size() - 5), std::move(tail));
    } else if (is_param(want)) {
      if (segments[i].empty()) return false;
      if (params) params->emplace_back(want.substr(1, want.size() - 2), segments[i]);
    } else if (want != segments[i]) {
      return false;
    }
  }
  return true;
}

bool has_params(const std::vector<std::string>& segments) {
  for (const auto& s : segments)
    if (is_param(s)) return true;
  return false;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Execution execution, Handler handler,
                 InlinePredicate inline_when) {
  if (pattern.empty() || pattern.front() != '/') throw std::logic_error("route pattern must start with '/': " + pattern);
  for (const auto& r : routes_)
    if (r.method == method && r.pattern == pattern) throw std::logic_error("duplicate route " + method + " " + pattern);
  auto segments = split_path(pattern);
  // A literal pattern goes in the exact-path index unless an earlier route with parameters
  // also matches it: first registered wins, and the index must not change who that is.
  bool indexable = !has_params(segments);
  for (const auto& r : routes_)
    if (indexable && has_params(r.segments) && route_matches(r, segments, nullptr)) indexable = false;
  if (indexable) literal_[pattern].push_back(routes_.size());
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(segments), execution, std::move(handler),
                          std::move(inline_when)});
}

RouteMatch Router::match(Request& request) const {
  if (request.path.empty() || request.path.front() != '/') return RouteMatch{};
  // Most requests name a literal route (/auth/check, /oauth/token, /users/me): one lookup, no
  // splitting. Anything else (parameters, 404, 405) takes the full walk below.
  if (auto it = literal_.find(request.path); it != literal_.end()) {
    for (std::size_t i : it->second) {
      if (routes_[i].method == request.method) {
        request.params.clear();
        return RouteMatch{.route = &routes_[i], .status = 200, .allow = {}};
      }
    }
  }
  const auto segments = split_path(request.path);
  RouteMatch result;
  for (const auto& route : routes_) {
    std::vector<std::pair<std::string, std::string>> params;
    if (!route_matches(route, segments, &params)) continue;
    if (route.method == request.method) {
      request.params = std::move(params);
      return RouteMatch{.route = &route, .status = 200, .allow = {}};
    }
    result.status = 405;
    if (result.allow == route.method || result.allow.find(route.method + ",") != std::string::npos ||
        result.allow.ends_with(", " + route.method))
      continue;  // listed already
    if (!result.allow.empty()) result.allow += ", ";
    result.allow += route.method;
  }
  return result;
}

}  // namespace gatehouse::http
