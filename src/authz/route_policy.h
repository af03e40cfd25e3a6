// authz/route_policy.h: the gateway's route policies (SPEC §10). An ordered list of
// (path glob, methods) → requirement entries; the first entry that matches a request decides,
// and a request no entry matches is denied. Pure: strings in, a decision out.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "ratelimit/limiter.h"

namespace gatehouse::authz {

// What a [[policy]] entry says, as written in the config.
struct PolicySpec {
  std::string path{};                  // glob: "*" within one segment, "**" = any depth
  std::vector<std::string> methods{};  // upper-case; empty = any method
  std::vector<std::string> require{};  // every one needed; empty = any authenticated caller
  bool anonymous{false};               // no credential needed
  std::string rate_limit{};            // "N/period"; empty = the caller's usual limit
};

// A path glob split into segments. "*" in a segment matches any run of characters other than
// '/', a segment that is exactly "**" matches zero or more whole segments.
class PathGlob {
 public:
  // Refuses (with a sentence naming the problem): no leading '/', "**" inside a segment,
  // a '?', '[' or '{' (not glob syntax here), control characters.
  static Result<PathGlob, std::string> compile(std::string_view pattern);
  bool matches(std::string_view normalized_path) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::vector<std::string> segments_;
  // "/" + the segments before the first one with a '*': every match starts with it. Without
  // any '*' it is the only path that matches.
  std::string literal_;
  bool has_wildcard_{false};
};

struct RoutePolicy {
  PolicySpec spec;
  PathGlob glob;
  std::size_t index{0};                  // its place in the config, "policy[index]"
  std::optional<ratelimit::Limit> limit;  // spec.rate_limit, parsed once
  std::string limit_key;                  // "policy:<index>": keeps its counters apart
};

class RoutePolicies {
 public:
  RoutePolicies() = default;
  // Validates every entry; the error names the entry ("policy[2]") and what is wrong.
  static Result<RoutePolicies, std::string> compile(const std::vector<PolicySpec>& specs);
  // The first policy matching the method and the normalized path, or nullptr (deny).
  const RoutePolicy* match(std::string_view method, std::string_view normalized_path) const;
  bool empty() const { return policies_.empty(); }
  std::size_t size() const { return policies_.size(); }

 private:
  std::vector<RoutePolicy> policies_;
};

// SPEC §10: the path of a request URI as policies see it. The query is dropped,
// percent-encoded unreserved characters are decoded, runs of '/' become one, and "." and ".."
// segments are resolved. Refused (the sentence says why): an encoded '/' or NUL, a bad
// escape, control characters, a path that does not start with '/' or climbs above the root.
Result<std::string, std::string> normalize_request_path(std::string_view uri);

}  // namespace gatehouse::authz
