-- bench/refresh.lua: POST /auth/refresh in a chain per connection, as clients do: each answer's
-- new refresh token is the next request's (the old one is spent). The starting tokens come
-- from $BENCH_REFRESH_TOKENS (space-separated, one or more per connection), dealt round-robin
-- to the $BENCH_THREADS wrk threads. Secrets come from the environment, never argv. A token
-- whose refresh failed is dropped, so failures show up as non-2xx, never as a silent retry.
dofile(os.getenv("BENCH_DIR") .. "/stats.lua")
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  sized = false
  tokens = {}
  local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
  local i = 0
  for t in assert(os.getenv("BENCH_REFRESH_TOKENS"), "BENCH_REFRESH_TOKENS unset"):gmatch("%S+") do
    if i % threads == id then table.insert(tokens, t) end
    i = i + 1
  end
end
function request()
  -- wrk calls request() once per thread before it connects, and never sends that one: it gets
  -- no token, or a chain would be lost.
  if not sized then
    sized = true
    return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"x"}')
  end
  local t = table.remove(tokens, 1) or "none-left"
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"},
                    '{"refresh_token":"' .. t .. '"}')
end
function response(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if t then table.insert(tokens, t) end
end
