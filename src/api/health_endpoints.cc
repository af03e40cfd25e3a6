// GET /healthz (process up; answered on the network thread), GET /readyz (store reachable)
// and GET /metrics (Prometheus text, SPEC §11; from memory, on the network thread).
#include "api/common.h"
#include "metrics/metrics.h"

namespace gatehouse::api {

void add_health_routes(http::Router& router, Services& services) {
  router.add("GET", "/healthz", http::Execution::network_thread,
             [](Request&) { return http::json_response(200, R"({"status":"ok"})"); });
  router.add("GET", "/readyz", http::Execution::blocking_pool, [&services](Request&) {
    if (!services.store.ping()) return unavailable("The store does not answer.");
    return http::json_response(200, R"({"status":"ready"})");
  });
  router.add("GET", "/metrics", http::Execution::network_thread, [](Request&) {
    Response res;
    res.status = 200;
    res.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    res.set("Cache-Control", "no-store");
    res.body = metrics::render_all();
    return res;
  });
}

}  // namespace gatehouse::api
