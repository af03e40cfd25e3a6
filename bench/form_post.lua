-- bench/form_post.lua: POST an application/x-www-form-urlencoded body ($BENCH_FORM) to the URL
-- with HTTP Basic client credentials ($BENCH_BASIC = base64 of id:secret), as an OAuth client
-- calls a token or introspection endpoint. Secrets come from the environment, never argv.
dofile(os.getenv("BENCH_DIR") .. "/stats.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BENCH_BASIC"), "BENCH_BASIC unset")
wrk.body = assert(os.getenv("BENCH_FORM"), "BENCH_FORM unset")
