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

void Router::add(std::string method, std::string pattern, Execution execution, Handler handler,
                 InlinePredicate inline_when) {
  if (pattern.empty() || pattern.front() != '/') throw std::logic_error("route pattern must start with '/': " + pattern);
  for (const auto& r : routes_)
    if (r.method == method && r.pattern == pattern) throw std::logic_error("duplicate route " + method + " " + pattern);
  auto segments = split_path(pattern);
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(segments), execution, std::move(handler),
                          std::move(inline_when)});
}

RouteMatch Router::match(Request& request) const {
  if (request.path.empty() || request.path.front() != '/') return RouteMatch{};
  const auto segments = split_path(request.path);
  RouteMatch result;
  for (const auto& route : routes_) {
    const bool rest = !route.segments.empty() && is_rest(route.segments.back());
    if (rest ? segments.size() < route.segments.size() : route.segments.size() != segments.size()) continue;
    std::vector<std::pair<std::string, std::string>> params;
    bool matched = true;
    for (std::size_t i = 0; i < route.segments.size() && matched; ++i) {
      if (rest && i + 1 == route.segments.size()) {
        std::string tail = segments[i];
        for (std::size_t j = i + 1; j < segments.size(); ++j) tail.append("/").append(segments[j]);
        params.emplace_back(route.segments[i].substr(1, route.segments[i].size() - 5), std::move(tail));
      } else if (is_param(route.segments[i])) {
        if (segments[i].empty()) matched = false;
        else params.emplace_back(route.segments[i].substr(1, route.segments[i].size() - 2), segments[i]);
      } else if (route.segments[i] != segments[i]) {
        matched = false;
      }
    }
    if (!matched) continue;
    if (route.method == request.method) {
      request.params = std::move(params);
      return RouteMatch{.route = &route, .status = 200, .allow = {}};
    }
    result.status = 405;
    if (!result.allow.empty()) result.allow += ", ";
    result.allow += route.method;
  }
  return result;
}

}  // namespace gatehouse::http
