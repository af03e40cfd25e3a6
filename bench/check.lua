-- bench/check.lua: a gateway auth sub-request, as nginx's auth_request sends it: any URL (the
-- /auth/check endpoint, or an nginx front that asks it), the original request in
-- X-Original-Method / X-Original-URI ($BENCH_URI, default /api/orders/1), and one credential
-- header ($BENCH_AUTH_HEADER: $BENCH_AUTH_VALUE) when set. Secrets come from the environment,
-- never argv.
dofile(os.getenv("BENCH_DIR") .. "/stats.lua")
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["X-Original-URI"] = os.getenv("BENCH_URI") or "/api/orders/1"
local name = os.getenv("BENCH_AUTH_HEADER")
if name and name ~= "" then
  wrk.headers[name] = assert(os.getenv("BENCH_AUTH_VALUE"), "BENCH_AUTH_VALUE unset")
end
