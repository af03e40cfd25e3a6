// GET /healthz (process up; answered on the network thread) and GET /readyz (store reachable).
#include "api/common.h"

namespace gatehouse::api {

void add_health_routes(http::Router& router, Services& services) {
  router.add("GET", "/healthz", http::Execution::network_thread,
             [](Request&) { return http::json_response(200, R"({"status":"ok"})"); });
  router.add("GET", "/readyz", http::Execution::blocking_pool, [&services](Request&) {
    if (!services.store.ping()) return unavailable("The store does not answer.");
    return http::json_response(200, R"({"status":"ready"})");
  });
}

}  // namespace gatehouse::api
