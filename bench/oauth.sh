#!/usr/bin/env bash
# bench/oauth.sh: the OAuth provider's figures (issue 6) next to node oidc-provider (the peer,
# set up by bench/peers/oidc-provider/server.mjs) and nginx's static 200, in one run, all on
# 127.0.0.1 with `wrk -t2 -c64 -d${BENCH_DURATION:-10}s` (bounded; stops by itself):
#   1. client-credentials tokens/s, ES256 JWT access tokens: Gatehouse vs oidc-provider (JWT and
#      opaque), after a warm-up of each, in two ABBA pairs
#   2. introspection requests/s: Gatehouse (a JWT from 1) vs oidc-provider (an opaque token, its
#      /token/introspection)
#   3. GET /.well-known/jwks.json requests/s vs nginx's static 200 (ABBA: nginx, JWKS, JWKS, nginx)
#   4. RSS idle and under the token load, Gatehouse vs oidc-provider
# Usage: ./bench/oauth.sh <abs build dir>   (make bench runs it after run.sh; BENCH_OAUTH=0 skips)
# Only processes started here are stopped, by PID. BENCH_KEEP_TMP=1 keeps the work dir.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:-$BENCH_DIR/../build}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
GATEHOUSE=$BUILD_DIR/gatehouse
PY=/usr/bin/python3
HELPER=$BENCH_DIR/helper.py
NGINX=${NGINX:-/usr/sbin/nginx}
DURATION=${BENCH_DURATION:-10}
PEER_DIR=$BENCH_DIR/peers/oidc-provider
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
bench_setup oauth.sh "$GATEHOUSE" "$PY" "$NGINX"
command -v node >/dev/null || { echo "oauth.sh: node is not installed" >&2; exit 2; }

(cd "$PEER_DIR" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; })
put peer "oidc-provider $(node -p "require('$PEER_DIR/node_modules/oidc-provider/package.json').version"), node $(node -v)"

# Max VmRSS (KiB) of PID sampled every 0.2 s while wrk runs: rss_during PID OUT_FILE &
# Read with bash builtins only: a python process per sample took ~10% of a core from the
# very machine being measured.
rss_during() {
  local pid=$1 out=$2 max=0 key value _
  while [[ -f $WORK/loading ]]; do
    while read -r key value _; do
      [[ $key == VmRSS: ]] && ((value > max)) && max=$value
    done <"/proc/$pid/status" 2>/dev/null || true
    sleep 0.2
  done
  echo "$max" >"$out"
}
wrk_run() { # NAME PID_TO_WATCH URL (BENCH_BASIC/BENCH_FORM set for form_post.lua; else a GET)
  local name=$1 pid=$2 url=$3 script=$BENCH_DIR/plain.lua
  [[ -n ${BENCH_FORM:-} ]] && script=$BENCH_DIR/form_post.lua
  log "$name: wrk -t2 -c64 -d${DURATION}s $url"
  touch "$WORK/loading"
  rss_during "$pid" "$WORK/rss_$name" &
  local sampler=$!
  run_wrk "$WORK/wrk_$name.txt" -t2 -c64 -d"${DURATION}s" --latency -s "$script" "$url"
  rm -f "$WORK/loading"
  wait "$sampler"
  record_wrk "$name" "$WORK/wrk_$name.txt"
  put "${name}_rss_max_kib" "$(cat "$WORK/rss_$name")"
  log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_$name.txt")"
}

# --- the servers -------------------------------------------------------------------------------
start_nginx
mkdir -p "$WORK/data"
# One client_credentials client that may introspect any token (a resource server), made with
# the CLI before the server starts; its id and secret never reach a command line.
"$GATEHOUSE" client add --name bench --grant client_credentials --scope api:read --introspect \
  --data-dir "$WORK/data" >"$WORK/client.txt" 2>/dev/null
GH_BASIC=$(paste -sd: "$WORK/client.txt" | tr -d '\n' | base64 -w0)
rm -f "$WORK/client.txt"
start_gatehouse server "$WORK/data"
GH_PID=$STARTED_PID
GH=$STARTED_BASE
PEER_PORT=$("$PY" "$HELPER" freeport)
(cd "$PEER_DIR" && NODE_ENV=production exec node server.mjs "$PEER_PORT" >"$WORK/peer.stdout" 2>"$WORK/peer.stderr" </dev/null) &
PEER_PID=$!
STARTED_PIDS+=("$PEER_PID")
"$PY" "$HELPER" wait-port "$PEER_PORT" 20 || { cat "$WORK/peer.stderr" >&2; exit 1; }
PEER=http://127.0.0.1:$PEER_PORT
sleep 1
put gatehouse_rss_idle_kib "$("$PY" "$HELPER" rss "$GH_PID")"
put peer_rss_idle_kib "$("$PY" "$HELPER" rss "$PEER_PID")"

peer_basic() { printf '%s:%s-secret-0123456789abcdef0123456789abcdef' "$1" "$1" | base64 -w0; }
token_of() { # URL BASIC FORM -> access_token
  curl -fsS -H "Authorization: Basic $2" -d "$3" "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# --- 1. client credentials ----------------------------------------------------------------------
export BENCH_BASIC BENCH_FORM="grant_type=client_credentials&scope=api:read"
# Neither side is measured cold: 3 s of the same load first, not recorded (node's JIT warms
# up; so do Gatehouse's caches). Then two pairs in ABBA order (Gatehouse, peer, peer,
# Gatehouse): the peer's rate wanders by +-15% between runs on this shared machine, and the
# ratio of the sums of two runs each is steadier than one run against one.
warm_up() { # URL (BENCH_BASIC set)
  log "warm-up: wrk -t2 -c64 -d3s $1"
  wrk -t2 -c64 -d3s -s "$BENCH_DIR/form_post.lua" "$1" >/dev/null 2>&1 || true
}
BENCH_BASIC=$GH_BASIC warm_up "$GH/oauth/token"
BENCH_BASIC=$(peer_basic bench-jwt) warm_up "$PEER/token"
BENCH_BASIC=$(peer_basic bench-opaque) warm_up "$PEER/token"
BENCH_BASIC=$GH_BASIC wrk_run gh_cc "$GH_PID" "$GH/oauth/token"
BENCH_BASIC=$(peer_basic bench-jwt) wrk_run peer_cc_jwt "$PEER_PID" "$PEER/token"
BENCH_BASIC=$(peer_basic bench-jwt) wrk_run peer_cc_jwt_2 "$PEER_PID" "$PEER/token"
BENCH_BASIC=$GH_BASIC wrk_run gh_cc_2 "$GH_PID" "$GH/oauth/token"
BENCH_BASIC=$(peer_basic bench-opaque) wrk_run peer_cc_opaque "$PEER_PID" "$PEER/token"

# --- 2. introspection ---------------------------------------------------------------------------
GH_TOKEN=$(token_of "$GH/oauth/token" "$GH_BASIC" "$BENCH_FORM")
PEER_TOKEN=$(token_of "$PEER/token" "$(peer_basic bench-opaque)" "$BENCH_FORM")
BENCH_BASIC=$GH_BASIC BENCH_FORM="token=$GH_TOKEN" wrk_run gh_introspect "$GH_PID" "$GH/oauth/introspect"
BENCH_BASIC=$(peer_basic bench-opaque) BENCH_FORM="token=$PEER_TOKEN" \
  wrk_run peer_introspect "$PEER_PID" "$PEER/token/introspection"
unset BENCH_FORM

# --- 3. JWKS vs nginx ---------------------------------------------------------------------------
# Two pairs in ABBA order (nginx, JWKS, JWKS, nginx): a steady drift of the machine cancels
# out of the ratio of the sums.
wrk_run nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/"
wrk_run gh_jwks "$GH_PID" "$GH/.well-known/jwks.json"
wrk_run gh_jwks_2 "$GH_PID" "$GH/.well-known/jwks.json"
wrk_run nginx_after "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/"

put gatehouse_rss_after_kib "$("$PY" "$HELPER" rss "$GH_PID")"
put loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$HELPER" oauth-report "$RESULTS" "${BENCH_OUT_OAUTH:-}"
