-- bench/apikey.lua: GET the URL (run.sh uses /users/me) with X-API-Key: $BENCH_KEY.
dofile(os.getenv("BENCH_DIR") .. "/stats.lua")
wrk.headers["X-API-Key"] = assert(os.getenv("BENCH_KEY"), "BENCH_KEY unset")
