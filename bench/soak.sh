#!/usr/bin/env bash
# bench/soak.sh: the soak test (issue 10). One gatehouse server (embedded SQLite, a temp dir,
# 127.0.0.1 on a free port, the gateway policies of scripts/demo-gatehouse.toml) takes
# SOAK_SECONDS (default 600) of mixed traffic at a fixed rate, SOAK_RATE requests/s in all
# (default 200), from bench/soak.py (open loop: requests go out on schedule however long the
# answers take). The default mix, per request type (SOAK_MIX overrides the weights):
#   login 2% (4/s at 200/s: argon2id, m=19 MiB t=2, ~33 ms of a core each, so kept a few a
#   second), refresh with rotation 10%, GET /auth/check with a JWT bearer 40% and with an
#   X-API-Key 40%, POST /api/keys 4% and DELETE /api/keys/{id} 4% (the oldest churn key).
# Every 10 s it samples the server's VmRSS, open fds (/proc/PID/fd; those on the store's files
# apart) and threads into a CSV. A sample is 60 reads over 6 s: RSS the least of them (a
# login holds argon2id's 19 MiB for a few tens of ms, so one read can land 19-38 MiB high), fds
# the median (a reconnecting client is one fd more or less for a moment); a leak is in every read.
# It checks, and exits non-zero unless all hold:
#   - no 5xx, no 4xx (every request in the mix is valid), no socket errors or timeouts;
#   - RSS, and the open fds outside the store, grow by less than 5% over the last half of the
#     run: (max over the last half - value at its start) / value at its start;
#   - the store's fds stay within its pool's bound (SQLite opens pooled connections on demand,
#     up to 16, 2 fds each; a third connection is +2 fds, +5% of ~37, and no leak), 33;
#   - the load was delivered (>= 99% of the scheduled requests sent);
#   - the server exits 0 on SIGTERM at the end.
# The report: requests by type and status class with latencies, RSS and fds at start/min/max/
# end, the growth figures, an RSS curve (one line a minute; a sample when under 5 minutes) and
# the CSV path (SOAK_CSV, default /tmp/gatehouse-soak-<time>.csv, kept after the run).
#
# Rate limits: the per-principal default (1000/hour) would refuse a soak user within minutes,
# so bench_setup (bench/lib.sh) sets GATEHOUSE_RATELIMIT_DEFAULT=1000000000/hour, as the other
# benchmarks do (the limiter still runs on every request). Lockout is never reached: every
# login has the right password.
#
# Usage: SOAK_SECONDS=600 SOAK_RATE=200 ./bench/soak.sh <abs build dir>
# Other knobs: SOAK_MIX ("login=2,refresh=10,check_jwt=40,check_key=40,key_create=4,
# key_revoke=4"), SOAK_USERS (8), SOAK_SESSIONS (32 refresh chains), SOAK_WORKERS (16),
# SOAK_RECONNECT (a worker reconnects after this many requests, 200), SOAK_CSV, BENCH_KEEP_TMP=1
# (keep the work dir; it is also kept when the soak fails). Bounded: setup, SOAK_SECONDS, then
# at most 15 s of grace. Only processes started here are stopped, by PID.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:-$BENCH_DIR/../build}
[[ -d $BUILD_DIR ]] || { echo "soak.sh: no build dir $BUILD_DIR" >&2; exit 2; }
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
GATEHOUSE=$BUILD_DIR/gatehouse
PY=/usr/bin/python3
DRIVER=$BENCH_DIR/soak.py
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_RATE=${SOAK_RATE:-200}
if ! [[ $SOAK_SECONDS =~ ^[0-9]+$ ]] || ((SOAK_SECONDS < 20)); then
  echo "soak.sh: SOAK_SECONDS must be a whole number >= 20, got '$SOAK_SECONDS'" >&2
  exit 2
fi
if ! [[ $SOAK_RATE =~ ^[0-9]+([.][0-9]+)?$ && $SOAK_RATE =~ [1-9] ]]; then
  echo "soak.sh: SOAK_RATE must be a positive number, got '$SOAK_RATE'" >&2
  exit 2
fi
SOAK_CSV=${SOAK_CSV:-${TMPDIR:-/tmp}/gatehouse-soak-$(date -u +%Y%m%dT%H%M%SZ).csv}

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
BENCH_NO_WRK=1 bench_setup soak.sh "$GATEHOUSE" "$PY"
put soak_seconds "$SOAK_SECONDS"
put soak_rate "$SOAK_RATE"

# shellcheck disable=SC2034  # read by start_gatehouse (bench/lib.sh)
SERVE_ARGS=(--config "$BENCH_DIR/../scripts/demo-gatehouse.toml")
start_gatehouse server "$WORK/data"
SERVER_PID=$STARTED_PID
BASE=$STARTED_BASE
log "server pid $SERVER_PID at $BASE; soak: ${SOAK_SECONDS}s at ${SOAK_RATE} req/s; CSV $SOAK_CSV"

# The driver runs in the background so a signal reaches the trap at once (cleanup stops it).
SOAK_STORE_DIR=$WORK/data "$PY" "$DRIVER" run "$BASE" "$SERVER_PID" "$SOAK_SECONDS" "$SOAK_RATE" "$SOAK_CSV" "$WORK/summary.json" \
  >"$WORK/driver.log" 2>&1 </dev/null &
DRIVER_PID=$!
STARTED_PIDS+=("$DRIVER_PID")
driver_rc=0
wait "$DRIVER_PID" || driver_rc=$?
forget_pid "$DRIVER_PID"
check_server "the soak"
if ((driver_rc != 0)) || [[ ! -s $WORK/summary.json ]]; then
  echo "soak.sh: the load driver failed (exit status $driver_rc):" >&2
  tail -n 20 "$WORK/driver.log" >&2
  exit 1
fi

stop_pid "$SERVER_PID"
server_rc=$STOP_RC
forget_pid "$SERVER_PID"
error_lines=$(grep -cE '"level": *"(error|critical)"' "$WORK/server.stderr" || true)

echo
report_rc=0
"$PY" "$DRIVER" report "$WORK/summary.json" "$server_rc" "$error_lines" || report_rc=$?
exit "$report_rc"
