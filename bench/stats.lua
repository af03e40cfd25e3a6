-- bench/stats.lua: shared wrk done() hook. Prints one machine-readable line that run.sh parses:
--   WRKSTATS requests=N duration_us=N rps=F p50_us=N p90_us=N p99_us=N max_us=N non2xx=N
--            connect_err=N read_err=N write_err=N timeout_err=N
-- wrk counts a response as an error ("Non-2xx or 3xx responses") when its status is > 399.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKSTATS requests=%d duration_us=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
