#!/usr/bin/env bash
# bench/run.sh: Gatehouse benchmark (`make bench` runs `./bench/run.sh <abs build dir>`).
#
# Measures, in one run and against baselines taken in that same run (machines are shared and
# noisy, so only the ratios mean much):
#   a. exec -> "gatehouse listening on" line (median of 10 restarts) and idle RSS 1 s after start
#   b. logins/s (wrk, 16 connections) next to argon2id verifies/s on 2 threads (argon2_rate)
#   c. /healthz p99 latency while a login storm saturates the hashing pool (paced probe and wrk)
#   d. GET /users/me with an ES256 JWT bearer token and with an API key (X-API-Key), req/s,
#      next to nginx returning a static 200; the API-key call again on a second server with
#      rate limits off (the cost of rate limiting)
#   e. a summary table on stdout; also written as markdown to $BENCH_OUT when that is set
#   f. then bench/jws.sh (JWS sign/verify rates, issue 3; its own table), unless BENCH_JWS=0
#
# All load goes to 127.0.0.1 and is bounded in time. Everything lives in one mktemp dir,
# removed at exit (BENCH_KEEP_TMP=1 keeps it). Only processes started here are stopped, by PID.
#
# Knobs (environment): BENCH_OUT, BENCH_KEEP_TMP, BENCH_JWS, BENCH_DURATION (s, default 10),
# BENCH_STARTUP_RUNS (default 10), BENCH_RL_ROUNDS (rate limits on/off pairs, default 6),
# BENCH_ARGON2_THREADS (default 2), BENCH_PROBE_RATE (paced
# /healthz probe, req/s, default 200), and the server's own
# GATEHOUSE_SERVER_THREADS / _BLOCKING_THREADS / _HASHING_THREADS (passed through unchanged).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:-$BENCH_DIR/../build}
[[ -d $BUILD_DIR ]] || { echo "run.sh: no build dir $BUILD_DIR (run \`make bench\`)" >&2; exit 2; }
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)

GATEHOUSE=$BUILD_DIR/gatehouse
ARGON2_RATE=$BUILD_DIR/bench/argon2_rate
PY=/usr/bin/python3
HELPER=$BENCH_DIR/helper.py
NGINX=${NGINX:-/usr/sbin/nginx}
DURATION=${BENCH_DURATION:-10}
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-10}
A2_THREADS=${BENCH_ARGON2_THREADS:-2}
# argon2id cost: the server's defaults, set explicitly so argon2_rate and the server agree.
A2_MEMORY_KIB=${GATEHOUSE_ACCOUNTS_ARGON2_MEMORY_KIB:-19456}
A2_ITERATIONS=${GATEHOUSE_ACCOUNTS_ARGON2_ITERATIONS:-2}

for f in "$GATEHOUSE" "$ARGON2_RATE" "$PY" "$NGINX"; do
  [[ -x $f ]] || { echo "run.sh: missing executable $f" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "run.sh: wrk is not installed" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
RESULTS=$WORK/results.env
STARTED_PIDS=()

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

export BENCH_DIR
export BENCH_USERNAME=admin
BENCH_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
export BENCH_PASSWORD
export GATEHOUSE_ACCOUNTS_ARGON2_MEMORY_KIB=$A2_MEMORY_KIB GATEHOUSE_ACCOUNTS_ARGON2_ITERATIONS=$A2_ITERATIONS

put date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
put nproc "$(nproc)"
put cpu_model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
put server_threads "${GATEHOUSE_SERVER_THREADS:-default (one per core)}"
put blocking_threads "${GATEHOUSE_SERVER_BLOCKING_THREADS:-default (one per core)}"
put hashing_threads "${GATEHOUSE_SERVER_HASHING_THREADS:-default (one per core)}"
put kernel "$(uname -r)"
put binary "$GATEHOUSE, built $(date -u -r "$GATEHOUSE" +%Y-%m-%dT%H:%M:%SZ)"
if rev=$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null); then
  [[ -z $(git -C "$BENCH_DIR/.." status --porcelain -- src CMakeLists.txt 2>/dev/null) ]] || rev="$rev + uncommitted changes in src/"
  put source "$rev"
fi
put workdir "$WORK"
put loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
# How busy the machine already is: the baselines absorb steady noise, not a build that stops midway.
busy=$("$PY" "$HELPER" cpubusy 2)
put cpu_busy_before "$busy"
((busy < 20)) || log "WARNING: CPUs already ${busy}% busy before the run; figures will be noisy"
[[ ${BENCH_KEEP_TMP:-0} == 1 ]] && put kept 1

# --- a. startup time and idle RSS -----------------------------------------------------------
log "a. startup: 1 first start + $STARTUP_RUNS restarts (exec -> listening line, VmRSS 1 s later)"
mkdir -p "$WORK/startup"
"$PY" "$HELPER" startup "$GATEHOUSE" "$WORK/startup" "$STARTUP_RUNS" | tee -a "$RESULTS" >&2

# --- the server under test ------------------------------------------------------------------
# Rate limits stay on (their cost is part of every figure) but far above what the load
# generators send; section d compares against a second server with them off.
export GATEHOUSE_RATELIMIT_DEFAULT=${GATEHOUSE_RATELIMIT_DEFAULT:-1000000000/hour}
start_gatehouse server "$WORK/data"
SERVER_PID=$STARTED_PID
BASE=$STARTED_BASE
log "server pid $SERVER_PID at $BASE"
read -r code body < <("$PY" "$HELPER" get "$BASE/healthz")
[[ $code == 200 ]] || { echo "run.sh: GET /healthz gave $code $body" >&2; exit 1; }

# --- b. argon2id verifies/s, then the login storm ---------------------------------------------
log "b. argon2_rate: $A2_THREADS threads, ${DURATION}s (m=${A2_MEMORY_KIB} KiB, t=${A2_ITERATIONS})"
"$ARGON2_RATE" "$A2_THREADS" "$DURATION" "$A2_MEMORY_KIB" "$A2_ITERATIONS" >"$WORK/argon2_rate.txt"
check_server "argon2_rate"
put argon2_vps "$(tail -n1 "$WORK/argon2_rate.txt" | sed -n 's/.*verifies_per_second=//p')"
log "   $(tail -n1 "$WORK/argon2_rate.txt")"

log "b. login storm: wrk -t2 -c16 -d${DURATION}s POST /auth/login"
run_wrk "$WORK/wrk_login.txt" -t2 -c16 -d"${DURATION}s" --timeout 10s --latency -s "$BENCH_DIR/login.lua" "$BASE/auth/login"
record_wrk login "$WORK/wrk_login.txt"
log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_login.txt")"

# The same hash rate again right after: how much the machine drifted during the storm. The
# settle pause lets the server finish logins still queued when wrk hung up (at most 16).
sleep 2
"$ARGON2_RATE" "$A2_THREADS" "$DURATION" "$A2_MEMORY_KIB" "$A2_ITERATIONS" >"$WORK/argon2_rate_after.txt"
check_server "argon2_rate (after)"
put argon2_vps_after "$(tail -n1 "$WORK/argon2_rate_after.txt" | sed -n 's/.*verifies_per_second=//p')"
log "   after the storm: $(tail -n1 "$WORK/argon2_rate_after.txt")"

# --- c. /healthz p99, idle and during a login storm -----------------------------------------
# Two probes, each idle and then inside its own login storm (wrk -t2 -c16, POST /auth/login):
#   - paced: one keep-alive connection, PROBE_RATE GETs/s (helper.py probe) - what a health
#     checker sees; it adds almost no load of its own. This is the figure held to the target.
#   - wrk -t1 -c4 closed loop - as fast as the server answers, so it also competes for the CPU
#     with the hashing pool (on 2 cores it is a stress figure, reported next to the other).
HZ_DURATION=$((DURATION * 8 / 10 > 0 ? DURATION * 8 / 10 : 1))
PROBE_RATE=${BENCH_PROBE_RATE:-200}
put probe_rate "$PROBE_RATE"

probe_paced() { # PREFIX
  "$PY" "$HELPER" probe "$BASE/healthz" "$PROBE_RATE" "$HZ_DURATION" >"$WORK/probe_$1.txt"
  check_server "the paced /healthz probe"
  local f=$WORK/probe_$1.txt k
  for k in requests p50_us p99_us max_us non2xx late_p99_us; do
    put "$1_$k" "$(grep -m1 '^PROBE ' "$f" | tr ' ' '\n' | sed -n "s/^$k=//p")"
  done
  put "$1_sockerr" "$(grep -m1 '^PROBE ' "$f" | tr ' ' '\n' | sed -n 's/^errors=//p')"
  log "   $(cat "$f")"
}
probe_wrk() { # PREFIX
  run_wrk "$WORK/wrk_$1.txt" -t1 -c4 -d"${HZ_DURATION}s" --latency -s "$BENCH_DIR/plain.lua" "$BASE/healthz"
  record_wrk "$1" "$WORK/wrk_$1.txt"
  log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_$1.txt")"
}
during_storm() { # STORM_PREFIX PROBE_FUNCTION PROBE_PREFIX
  wrk -t2 -c16 -d"$((HZ_DURATION + 4))s" --timeout 10s -s "$BENCH_DIR/login.lua" "$BASE/auth/login" \
    >"$WORK/wrk_$1.txt" 2>&1 &
  local storm=$! i
  STARTED_PIDS+=("$storm")
  sleep 2 # let the queue fill and the pool saturate
  "$2" "$3"
  # wrk ends on its own after -d; stop_pid only signals it if it is somehow still running 20 s on.
  for ((i = 0; i < 200; i++)); do kill -0 "$storm" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$storm"
  forget_pid "$storm"
  [[ $STOP_RC == 0 ]] || log "WARNING: storm wrk exited with $STOP_RC"
  check_server "a login storm"
  record_wrk "$1" "$WORK/wrk_$1.txt"
  sleep 2 # let logins still queued when wrk hung up finish
}

log "c. /healthz idle, paced: 1 connection, $PROBE_RATE req/s, ${HZ_DURATION}s"
probe_paced healthz_idle
log "c. /healthz idle, wrk -t1 -c4 -d${HZ_DURATION}s"
probe_wrk healthz_wrk_idle
log "c. /healthz paced probe inside a login storm (storm wrk -t2 -c16 -d$((HZ_DURATION + 4))s, probe from 2 s)"
during_storm storm2_login probe_paced healthz_storm
log "c. /healthz wrk -t1 -c4 inside another login storm"
during_storm storm3_login probe_wrk healthz_wrk_storm

# --- d. GET /users/me with a JWT and with an API key vs nginx static 200 -------------------
# nginx runs just before and again just after /users/me: the first run is the baseline N, the
# second shows how much the machine drifted meanwhile.
start_nginx
read -r code body < <("$PY" "$HELPER" get "http://127.0.0.1:$NGINX_PORT/")
[[ $code == 200 ]] || { echo "run.sh: nginx gave $code $body" >&2; exit 1; }
BENCH_TOKEN=$("$PY" "$HELPER" login "$BASE")
export BENCH_TOKEN
read -r code body < <("$PY" "$HELPER" get "$BASE/users/me" bearer)
[[ $code == 200 ]] || { echo "run.sh: GET /users/me with the token gave $code $body" >&2; exit 1; }

BENCH_KEY=$("$PY" "$HELPER" apikey "$BASE")
export BENCH_KEY
read -r code body < <("$PY" "$HELPER" get "$BASE/users/me" apikey)
[[ $code == 200 ]] || { echo "run.sh: GET /users/me with the API key gave $code $body" >&2; exit 1; }

# One closed-loop wrk run (-t2 -c64), recorded under PREFIX.
wrk_64() { # PREFIX WHAT LUA URL
  log "d. $2: wrk -t2 -c64 -d${DURATION}s"
  run_wrk "$WORK/wrk_$1.txt" -t2 -c64 -d"${DURATION}s" --latency -s "$BENCH_DIR/$3" "$4"
  record_wrk "$1" "$WORK/wrk_$1.txt"
  log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_$1.txt")"
}
wrk_64 nginx "nginx baseline (pid $NGINX_PID, port $NGINX_PORT)" plain.lua "http://127.0.0.1:$NGINX_PORT/"
wrk_64 me "GET /users/me with Authorization: Bearer (ES256 JWT)" bearer.lua "$BASE/users/me"
wrk_64 me_key "GET /users/me with X-API-Key" apikey.lua "$BASE/users/me"

# The cost of rate limiting: the same key against two fresh servers on the same store, one
# with rate limits on (far above the load) and one with them off, started together so neither
# carries the other runs' history, BENCH_RL_ROUNDS pairs (default 6) in ABBA order (off/on,
# then on/off, ...) so a steady drift of the machine cancels out; the report gives the median of
# the per-pair costs and every pair, since a single pair moves by more than the effect.
RL_ROUNDS=${BENCH_RL_ROUNDS:-6}
put rl_rounds "$RL_ROUNDS"
start_gatehouse server_limit_on "$WORK/data"
LIMIT_PID=$STARTED_PID
LIMIT_BASE=$STARTED_BASE
start_gatehouse server_limit_off "$WORK/data" GATEHOUSE_RATELIMIT_ENABLED=false
NOLIMIT_PID=$STARTED_PID
NOLIMIT_BASE=$STARTED_BASE
rl_off() { wrk_64 "rl_off_$1" "rate limits off, round $1 (pid $NOLIMIT_PID)" apikey.lua "$NOLIMIT_BASE/users/me"; }
rl_on() { wrk_64 "rl_on_$1" "rate limits on, round $1 (pid $LIMIT_PID)" apikey.lua "$LIMIT_BASE/users/me"; }
for ((round = 1; round <= RL_ROUNDS; round++)); do
  if ((round % 2)); then rl_off "$round"; rl_on "$round"; else rl_on "$round"; rl_off "$round"; fi
done
for pid in "$LIMIT_PID" "$NOLIMIT_PID"; do
  stop_pid "$pid"
  forget_pid "$pid"
done

# HTTPS: the same call over TLS keep-alive connections (a third server on the same store with
# an ECDSA P-256 certificate), then new connections: Connection: close, so every request
# pays a TCP connect and a full TLS handshake; plain HTTP with Connection: close is its baseline.
mkdir -p "$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >/dev/null 2>&1
start_gatehouse server_tls "$WORK/data" GATEHOUSE_TLS_CERT_FILE="$WORK/tls/cert.pem" \
  GATEHOUSE_TLS_KEY_FILE="$WORK/tls/key.pem"
TLS_PID=$STARTED_PID
TLS_BASE=$STARTED_BASE
wrk_64 me_key_tls "GET /users/me with X-API-Key over HTTPS keep-alive (pid $TLS_PID)" apikey.lua "$TLS_BASE/users/me"
log "d. new connections: wrk -t2 -c16 -d${DURATION}s with Connection: close, HTTPS then plain"
run_wrk "$WORK/wrk_handshake_tls.txt" -t2 -c16 -d"${DURATION}s" --latency -H "Connection: close" \
  -s "$BENCH_DIR/apikey.lua" "$TLS_BASE/users/me"
record_wrk handshake_tls "$WORK/wrk_handshake_tls.txt"
log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_handshake_tls.txt")"
run_wrk "$WORK/wrk_connect_plain.txt" -t2 -c16 -d"${DURATION}s" --latency -H "Connection: close" \
  -s "$BENCH_DIR/apikey.lua" "$BASE/users/me"
record_wrk connect_plain "$WORK/wrk_connect_plain.txt"
log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_connect_plain.txt")"
stop_pid "$TLS_PID"
forget_pid "$TLS_PID"
put ecdsa_sign_ps "$(openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1)}')"
wrk_64 nginx_after "nginx again (drift check)" plain.lua "http://127.0.0.1:$NGINX_PORT/"
stop_pid "$NGINX_PID"
forget_pid "$NGINX_PID"

# --- the server after the load: RSS, clean shutdown, error lines ----------------------------
put rss_after_load_kib "$("$PY" "$HELPER" rss "$SERVER_PID")"
stop_pid "$SERVER_PID"
put server_exit "$STOP_RC"
forget_pid "$SERVER_PID"
count_level() { cat "$WORK/server.stderr" "$WORK/startup/server.stderr" | grep -cE "\"level\": *\"($1)\"" || true; }
put server_error_lines "$(count_level 'error|critical')"
put server_warn_lines "$(count_level 'warning|warn')"

put loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- e. summary -----------------------------------------------------------------------------
echo
"$PY" "$HELPER" report "$RESULTS" "${BENCH_OUT:-}"
[[ -n ${BENCH_OUT:-} ]] && log "markdown summary written to $BENCH_OUT"

# --- f. in process: API-key verification (issue 4), rate limiter checks (issue 5) ---------------
log "f. API-key verification, in process (apikey_bench)"
"$BUILD_DIR/bench/apikey_bench" --benchmark_min_time=2 2>&1 | grep -E '^(verify|sha256)'
log "f. rate limiter checks, in process (ratelimit_bench)"
"$BUILD_DIR/bench/ratelimit_bench" --benchmark_min_time=2 2>&1 | grep -E '^check'

# --- g. JWS sign/verify rates (issue 3): a separate script, skipped with BENCH_JWS=0 -----------
[ "${BENCH_JWS:-1}" = 1 ] && "$BENCH_DIR/jws.sh" "$BUILD_DIR"
exit 0
