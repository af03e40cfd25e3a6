// http/router.h: method + path pattern -> handler. Patterns are literal segments and
// "{name}" parameters ("/api/users/{id}"). Each route says whether its handler may run on a
// network thread (cheap, never blocks) or must go to the blocking pool (store, argon2id).
#pragma once
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/message.h"

namespace gatehouse::http {

using Handler = std::function<Response(Request&)>;

enum class Execution {
  network_thread,  // cheap and never blocks: /healthz
  blocking_pool,   // store round trips
  hashing_pool,    // argon2id on every call: login, password changes, user creation
};

// For a route that normally blocks, says when a particular request will not: it may then run
// on the network thread and skip two thread hops (e.g. a JWT bearer on a store-free route).
using InlinePredicate = std::function<bool(const Request&)>;

struct Route {
  std::string method;
  std::string pattern;
  std::vector<std::string> segments;
  Execution execution{Execution::blocking_pool};
  Handler handler;
  InlinePredicate inline_when{};
};

struct RouteMatch {
  const Route* route{nullptr};  // null: see status
  int status{404};              // 404 no such path, 405 path exists but not for this method
  std::string allow{};          // for 405: the methods that would have matched
};

class Router {
 public:
  // Pattern segments are literal, "{name}" (one non-empty segment) or, as the last one,
  // "{name...}" (one or more segments, captured with their '/'s).
  void add(std::string method, std::string pattern, Execution execution, Handler handler,
           InlinePredicate inline_when = {});
  // Fills request.params on a match.
  RouteMatch match(Request& request) const;

 private:
  std::vector<Route> routes_;
  // Literal patterns (no parameters) to the routes registered under them, by index.
  std::unordered_map<std::string, std::vector<std::size_t>> literal_;
};

}  // namespace gatehouse::http
