-- bench/plain.lua: GET the URL as given (/healthz, the nginx baseline); only adds the stats line.
dofile(os.getenv("BENCH_DIR") .. "/stats.lua")
