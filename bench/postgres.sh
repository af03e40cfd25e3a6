#!/usr/bin/env bash
# bench/postgres.sh: the same node on SQLite and on PostgreSQL, in one run (issue 8). Each
# figure is `wrk -t2 -d${BENCH_DURATION:-10}s` on 127.0.0.1, SQLite and PostgreSQL in ABBA order
# (SQLite, PostgreSQL, PostgreSQL, SQLite; the ratio of the sums), so a drift of the shared
# machine weighs on both alike:
#   1. /auth/check with an ES256 JWT (64 connections): memory only, so it should not move
#   2. logins/s (16 connections; argon2id at the server's default cost)
#   3. refreshes/s (64 connections, each following its own rotating chain: bench/refresh.lua)
#   4. client_credentials tokens/s (64 connections, ES256 JWT access tokens)
# PostgreSQL 15 (Debian's) runs in the work dir on a free loopback port, as the `postgres` user
# when run as root, with its defaults (fsync on). Both servers run all along; only one is
# loaded at a time. Gatehouse runs the policies of scripts/demo-gatehouse.toml.
# Usage: ./bench/postgres.sh <abs build dir>   (make bench runs it; BENCH_POSTGRES=0 skips it)
# Only processes started here are stopped, by PID (PostgreSQL with pg_ctl, on its data dir).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:-$BENCH_DIR/../build}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
GATEHOUSE=$BUILD_DIR/gatehouse
PY=/usr/bin/python3
HELPER=$BENCH_DIR/helper.py
PG_BIN=/usr/lib/postgresql/15/bin
DURATION=${BENCH_DURATION:-10}
POLICIES=$BENCH_DIR/../scripts/demo-gatehouse.toml
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
bench_setup postgres.sh "$GATEHOUSE" "$PY" "$PG_BIN/initdb" "$PG_BIN/pg_ctl"

# --- PostgreSQL ------------------------------------------------------------------------------------
PG_DATA=$WORK/pg/data
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_postgres() {
  [[ -f $PG_DATA/postmaster.pid ]] && as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
  return 0
}
# Gatehouse first (its connections end), then PostgreSQL, then lib.sh's cleanup (the work dir).
bench_cleanup() {
  local rc=$? pid
  trap - EXIT
  for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do stop_pid "$pid"; done
  STARTED_PIDS=()
  stop_postgres
  (exit "$rc")
  cleanup
}
trap bench_cleanup EXIT

mkdir -p "$WORK/pg"
PG_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$PG_PASSWORD" >"$WORK/pg/initdb-pw"
printf '%s\n' "$PG_PASSWORD" >"$WORK/pg-password"
chmod 600 "$WORK/pg-password"
[[ $(id -u) == 0 ]] && chown -R postgres:postgres "$WORK/pg" && chmod 755 "$WORK"
as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U gatehouse -A scram-sha-256 --pwfile="$WORK/pg/initdb-pw" \
  -E UTF8 --locale=C >"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; exit 1; }
rm -f "$WORK/pg/initdb-pw"
PG_PORT=$("$PY" "$HELPER" freeport)
as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 60 -l "$WORK/pg/server.log" \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK/pg -c max_connections=50" start >/dev/null ||
  { cat "$WORK/pg/server.log" >&2; exit 1; }
PG_ENV=(GATEHOUSE_STORAGE_URL="postgresql://gatehouse@127.0.0.1:$PG_PORT/postgres"
        GATEHOUSE_STORAGE_PASSWORD_FILE="$WORK/pg-password")

put postgres_version "$("$PG_BIN/postgres" --version | awk '{print $3}')"

# --- two servers, the same set-up on each --------------------------------------------------------
json_field() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
SERVE_ARGS=(--config "$POLICIES")
USER_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
declare -A BASE TOKEN CC_BASIC REFRESH_TOKENS
setup_backend() { # NAME [VAR=value...]
  local name=$1 dir=$WORK/data_$1 admin i tokens=()
  shift
  mkdir -p "$dir"
  # The client_credentials client, made with the CLI before the server starts.
  env "$@" "$GATEHOUSE" client add --name bench --grant client_credentials --scope api:read --data-dir "$dir" \
    >"$WORK/client_$name.txt" 2>"$WORK/client_$name.err" || { cat "$WORK/client_$name.err" >&2; exit 1; }
  CC_BASIC[$name]=$(paste -sd: "$WORK/client_$name.txt" | tr -d '\n' | base64 -w0)
  rm -f "$WORK/client_$name.txt"
  start_gatehouse "gh_$name" "$dir" "$@"
  BASE[$name]=$STARTED_BASE
  "$PY" "$HELPER" wait-port "${STARTED_BASE##*:}" 10
  admin=$(BENCH_USERNAME=admin "$PY" "$HELPER" login "$STARTED_BASE")
  printf '{"username":"bench","password":"%s","roles":["user","support"]}' "$USER_PASSWORD" |
    curl -fsS "$STARTED_BASE/api/users" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
      -d @- >/dev/null
  TOKEN[$name]=$(printf '{"username":"bench","password":"%s"}' "$USER_PASSWORD" |
    curl -fsS "$STARTED_BASE/auth/login" -H 'Content-Type: application/json' -d @- | json_field access_token)
  # One refresh chain per connection of the refresh runs, and as many again for the second run.
  for ((i = 0; i < 128; i++)); do
    tokens+=("$(printf '{"username":"bench","password":"%s"}' "$USER_PASSWORD" |
      curl -fsS "$STARTED_BASE/auth/login" -H 'Content-Type: application/json' -d @- | json_field refresh_token)")
  done
  REFRESH_TOKENS[$name]="${tokens[*]}"
}
log "setting up the SQLite node and the PostgreSQL node"
setup_backend sqlite
setup_backend postgres "${PG_ENV[@]}"

run() { # NAME CONNECTIONS SCRIPT URL
  local name=$1 conns=$2 script=$3 url=$4
  log "$name: wrk -t2 -c$conns -d${DURATION}s $url"
  run_wrk "$WORK/wrk_$name.txt" -t2 -c"$conns" -d"${DURATION}s" --latency -s "$BENCH_DIR/$script" "$url"
  record_wrk "$name" "$WORK/wrk_$name.txt"
  log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_$name.txt")"
}
# ABBA: SQLite, PostgreSQL, PostgreSQL, SQLite. FIGURE CONNECTIONS SCRIPT PATH [per-run env setter]
abba() {
  local figure=$1 conns=$2 script=$3 path=$4 setter=${5:-} order=(sqlite postgres postgres sqlite) i=0 b
  for b in "${order[@]}"; do
    i=$((i + 1))
    [[ -n $setter ]] && "$setter" "$b" "$i"
    run "${figure}_${b}_$(((i + 1) / 2 == 1 ? 1 : 2))" "$conns" "$script" "${BASE[$b]}$path"
  done
}

export BENCH_USERNAME=bench
login_env() { export BENCH_PASSWORD=$USER_PASSWORD; }
refresh_env() { # BACKEND RUN: the first run of a backend takes the first 64 chains, the second the rest
  local -a all
  read -r -a all <<<"${REFRESH_TOKENS[$1]}"
  if [[ $2 == 1 || $2 == 2 ]]; then export BENCH_REFRESH_TOKENS="${all[*]:0:64}"; else export BENCH_REFRESH_TOKENS="${all[*]:64:64}"; fi
}
cc_env() { export BENCH_BASIC=${CC_BASIC[$1]}; }
check_env() { export BENCH_AUTH_VALUE="Bearer ${TOKEN[$1]}"; }

# /auth/check first: after the write phases, PostgreSQL's own background work (autovacuum,
# checkpoints) shares these 2 cores with whichever server is loaded, which is not what this
# figure is about (in production the database has a machine of its own).
export BENCH_AUTH_HEADER=Authorization BENCH_URI=/api/orders/1
abba check 64 check.lua /auth/check check_env
login_env
abba login 16 login.lua /auth/login
export BENCH_THREADS=2
abba refresh 64 refresh.lua /auth/refresh refresh_env
export BENCH_FORM="grant_type=client_credentials&scope=api:read"
abba cc 64 form_post.lua /oauth/token cc_env
put loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$RESULTS" <<'EOF'
import sys
r = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition("=")
    r[k] = v
def rate(figure, backend):
    return sum(float(r[f"{figure}_{backend}_{i}_rps"]) for i in (1, 2)) / 2
def errors(figure):
    bad = []
    for b in ("sqlite", "postgres"):
        for i in (1, 2):
            n, s = r[f"{figure}_{b}_{i}_non2xx"], r[f"{figure}_{b}_{i}_sockerr"]
            if n != "0" or s != "0":
                bad.append(f"{b} run {i}: non-2xx {n}, socket {s}")
    return "; ".join(bad) or "none"
print(f"Gatehouse on PostgreSQL vs SQLite, {r['date']} - {r['nproc']} CPUs; tree {r['source']}; "
      f"PostgreSQL {r['postgres_version']}; load {r['loadavg_start']} -> {r['loadavg_end']}")
print()
print("| Figure | SQLite | PostgreSQL | PostgreSQL / SQLite | Target | Errors |")
print("|---|---|---|---|---|---|")
rows = [("logins/s (16 connections, argon2id default cost)", "login", None),
        ("refreshes/s (64 rotating chains)", "refresh", None),
        ("client_credentials tokens/s (ES256 JWT)", "cc", None),
        ("/auth/check with an ES256 JWT, requests/s", "check", (0.95, 1.05))]
failed = False
for label, figure, band in rows:
    s, p = rate(figure, "sqlite"), rate(figure, "postgres")
    ratio = p / s if s else 0
    target = "none given"
    if band:
        ok = band[0] <= ratio <= band[1]
        failed |= not ok
        target = f"{band[0]:.2f}-{band[1]:.2f}x: {'PASS' if ok else 'FAIL'}"
    print(f"| {label} | {s:,.0f} /s | {p:,.0f} /s | {ratio:.2f}x | {target} | {errors(figure)} |")
EOF
