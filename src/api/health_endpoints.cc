// GET /healthz (process up; answered on the network thread), GET /readyz (store reachable),
// GET /metrics (Prometheus text, SPEC §11; from memory, on the network thread) and GET /, a
// small HTML page that says what answers here (the server adds the HTML security headers).
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
  router.add("GET", "/", http::Execution::network_thread, [](Request&) {
    static constexpr std::string_view kPage =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Gatehouse</title></head>\n<body><main><h1>Gatehouse</h1>"
        "<p>This is an authentication and authorization server. Its API is JSON; see "
        "<a href=\"/.well-known/jwks.json\">the signing keys</a> and "
        "<a href=\"/healthz\">the health check</a>.</p></main></body></html>\n";
    Response res;
    res.set("Content-Type", "text/html; charset=utf-8");
    res.body = std::string(kPage);
    return res;
  });
  // Browsers ask for it on every page; there is none, and a 404 would only be noise.
  router.add("GET", "/favicon.ico", http::Execution::network_thread, [](Request&) {
    Response res = http::no_content();
    res.set("Cache-Control", "public, max-age=86400");
    return res;
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
