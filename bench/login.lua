-- bench/login.lua: POST /auth/login with the JSON body built from BENCH_USERNAME / BENCH_PASSWORD
-- (run.sh sets them; the password never appears on a command line).
dofile(os.getenv("BENCH_DIR") .. "/stats.lua")
local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end
wrk.method = "POST"
wrk.path = "/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":' .. json_string(os.getenv("BENCH_USERNAME") or "admin") ..
           ',"password":' .. json_string(assert(os.getenv("BENCH_PASSWORD"), "BENCH_PASSWORD unset")) .. '}'
