-- bench/bearer.lua: GET the URL (run.sh uses /users/me) with Authorization: Bearer $BENCH_TOKEN.
dofile(os.getenv("BENCH_DIR") .. "/stats.lua")
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN unset")
