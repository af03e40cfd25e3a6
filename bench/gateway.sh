#!/usr/bin/env bash
# bench/gateway.sh: the gateway's figures (issue 7), all on 127.0.0.1 in one run, each with
# `wrk -t2 -c64 -d${BENCH_DURATION:-10}s` (bounded; stops by itself):
#   1. nginx's static 200 (the ceiling), then /auth/check with an ES256 JWT (verified-token
#      cache warm) and an API key in ABBA order (JWT, key, key, JWT), then nginx again
#   2. p99 latency at 8 connections: nginx, JWT, API key (the c64 runs give p99 at 64); then
#      Basic with the verification cache on, and off (a second server, auth.basic_cache_ttl = 0:
#      argon2id per request; stopped right after, so its queue does not load what follows)
#   3. through nginx: auth_request -> gatehouse -> upstream, against the same nginx proxying the
#      same upstream without auth (an API key)
#   4. the uncached JWT verification rate, in process (bench/jws_bench verify_jws/ES256)
# Gatehouse runs the policies of scripts/demo-gatehouse.toml (GET /api/orders/* needs
# orders:read); the caller is an ordinary user with that permission (see below).
# Usage: ./bench/gateway.sh <abs build dir>   (make bench runs it; BENCH_GATEWAY=0 skips it)
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
POLICIES=$BENCH_DIR/../scripts/demo-gatehouse.toml
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
bench_setup gateway.sh "$GATEHOUSE" "$PY" "$NGINX" "$BUILD_DIR/bench/jws_bench"

check_run() { # NAME CONNECTIONS URL  (BENCH_AUTH_HEADER/VALUE, BENCH_URI from the environment)
  local name=$1 conns=$2 url=$3
  log "$name: wrk -t2 -c$conns -d${DURATION}s $url"
  run_wrk "$WORK/wrk_$name.txt" -t2 -c"$conns" -d"${DURATION}s" --latency -s "$BENCH_DIR/check.lua" "$url"
  record_wrk "$name" "$WORK/wrk_$name.txt"
  log "   $(grep -m1 '^WRKSTATS' "$WORK/wrk_$name.txt")"
}

# --- the servers -------------------------------------------------------------------------------
start_nginx
SERVE_ARGS=(--config "$POLICIES")
start_gatehouse gh "$WORK/data"
GH=$STARTED_BASE
GH_PID=$STARTED_PID
SERVER_PID=$GH_PID
"$PY" "$HELPER" wait-port "${GH##*:}" 10
# The caller: an ordinary API consumer, not the admin. User "bench" (roles user and support:
# five permissions, so its login JWT carries five scopes), its API key scoped to orders:read,
# and Basic with its password. Secrets travel in request bodies and the environment only.
ADMIN_TOKEN=$("$PY" "$HELPER" login "$GH")
USER_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
json_field() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
printf '{"username":"bench","password":"%s","roles":["user","support"]}' "$USER_PASSWORD" |
  curl -fsS "$GH/api/users" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -d @- >/dev/null
BENCH_TOKEN=$(printf '{"username":"bench","password":"%s"}' "$USER_PASSWORD" |
  curl -fsS "$GH/auth/login" -H 'Content-Type: application/json' -d @- | json_field access_token)
export BENCH_TOKEN
BENCH_KEY=$(curl -fsS "$GH/api/keys" -H "Authorization: Bearer $BENCH_TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"bench","scopes":["orders:read"]}' | json_field key)
BASIC=$(printf 'bench:%s' "$USER_PASSWORD" | base64 -w0)
# The same store, Basic verification cache off: every request pays argon2id.
start_gatehouse gh_nocache "$WORK/data" GATEHOUSE_AUTH_BASIC_CACHE_TTL=0
GH_NOCACHE=$STARTED_BASE
GH_NOCACHE_PID=$STARTED_PID

# nginx in front: auth_request to gatehouse (keepalive pool) on one port, the same proxying
# without auth on another, both to one upstream (a server block answering 200).
FRONT_AUTH=$("$PY" "$HELPER" freeport)
FRONT_PLAIN=$("$PY" "$HELPER" freeport)
UPSTREAM=$("$PY" "$HELPER" freeport)
write_nginx_conf "$WORK/front" <<EOF
  upstream gatehouse { server 127.0.0.1:${GH##*:}; keepalive 64; }
  upstream api { server 127.0.0.1:$UPSTREAM; keepalive 64; }
  server { listen 127.0.0.1:$UPSTREAM; location / { return 200 "ok"; } }
  server {
    listen 127.0.0.1:$FRONT_PLAIN;
    location / { proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$FRONT_AUTH;
    location = /_gatehouse_check {
      internal;
      proxy_pass http://gatehouse/auth/check;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Original-URI \$request_uri;
    }
    location / {
      auth_request /_gatehouse_check;
      auth_request_set \$gh_subject \$upstream_http_x_auth_subject;
      proxy_set_header X-Auth-Subject \$gh_subject;
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
EOF
"$NGINX" -p "$WORK/front" -c "$WORK/front/nginx.conf" >"$WORK/front/logs/stdout.log" 2>&1 </dev/null &
STARTED_PIDS+=($!)
"$PY" "$HELPER" wait-port "$FRONT_AUTH" 10

# Every credential must pass before it is measured (a 401 storm measures nothing).
export BENCH_URI=/api/orders/1
probe() { # LABEL HEADER VALUE URL
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Original-Method: GET" -H "X-Original-URI: $BENCH_URI" \
    -H "$2: $3" "$4")
  [[ $status == 200 ]] || { echo "gateway.sh: $1 answered $status, not 200" >&2; exit 1; }
}
probe jwt Authorization "Bearer $BENCH_TOKEN" "$GH/auth/check"
probe api_key X-API-Key "$BENCH_KEY" "$GH/auth/check"
probe basic Authorization "Basic $BASIC" "$GH/auth/check"
probe basic_nocache Authorization "Basic $BASIC" "$GH_NOCACHE/auth/check"
probe front X-API-Key "$BENCH_KEY" "http://127.0.0.1:$FRONT_AUTH/api/orders/1"

# --- 1 and 2: /auth/check next to nginx's static 200 ----------------------------------------------
# The two figures with a target in ABBA order (nginx, JWT, key, key, JWT, nginx; ratios of the
# sums), so a drift of the shared machine during the run weighs on both sides alike.
NGINX_URL=http://127.0.0.1:$NGINX_PORT/
BENCH_AUTH_HEADER= check_run nginx 64 "$NGINX_URL"
BENCH_AUTH_HEADER=Authorization BENCH_AUTH_VALUE="Bearer $BENCH_TOKEN" check_run jwt 64 "$GH/auth/check"
BENCH_AUTH_HEADER=X-API-Key BENCH_AUTH_VALUE=$BENCH_KEY check_run api_key 64 "$GH/auth/check"
BENCH_AUTH_HEADER=X-API-Key BENCH_AUTH_VALUE=$BENCH_KEY check_run api_key_2 64 "$GH/auth/check"
BENCH_AUTH_HEADER=Authorization BENCH_AUTH_VALUE="Bearer $BENCH_TOKEN" check_run jwt_2 64 "$GH/auth/check"
BENCH_AUTH_HEADER= check_run nginx_after 64 "$NGINX_URL"
BENCH_AUTH_HEADER= check_run nginx_c8 8 "$NGINX_URL"
BENCH_AUTH_HEADER=Authorization BENCH_AUTH_VALUE="Bearer $BENCH_TOKEN" check_run jwt_c8 8 "$GH/auth/check"
BENCH_AUTH_HEADER=X-API-Key BENCH_AUTH_VALUE=$BENCH_KEY check_run api_key_c8 8 "$GH/auth/check"
BENCH_AUTH_HEADER=Authorization BENCH_AUTH_VALUE="Basic $BASIC" check_run basic 64 "$GH/auth/check"
BENCH_AUTH_HEADER=Authorization BENCH_AUTH_VALUE="Basic $BASIC" check_run basic_nocache 64 "$GH_NOCACHE/auth/check"
# Its queue of argon2id hashes would go on using both cores after wrk stops: end it here.
kill "$GH_NOCACHE_PID" 2>/dev/null || true
wait "$GH_NOCACHE_PID" 2>/dev/null || true

# --- 3: through nginx ---------------------------------------------------------------------------
# ABBA: plain, auth, auth, plain.
BENCH_AUTH_HEADER=X-API-Key BENCH_AUTH_VALUE=$BENCH_KEY check_run front_plain 64 "http://127.0.0.1:$FRONT_PLAIN/api/orders/1"
BENCH_AUTH_HEADER=X-API-Key BENCH_AUTH_VALUE=$BENCH_KEY check_run front_auth 64 "http://127.0.0.1:$FRONT_AUTH/api/orders/1"
BENCH_AUTH_HEADER=X-API-Key BENCH_AUTH_VALUE=$BENCH_KEY check_run front_auth_2 64 "http://127.0.0.1:$FRONT_AUTH/api/orders/1"
BENCH_AUTH_HEADER=X-API-Key BENCH_AUTH_VALUE=$BENCH_KEY check_run front_plain_2 64 "http://127.0.0.1:$FRONT_PLAIN/api/orders/1"

# --- 4: uncached JWT verification, in process ---------------------------------------------------
log "jws_bench verify_jws/ES256"
"$BUILD_DIR/bench/jws_bench" --benchmark_filter='^verify_jws/ES256$' --benchmark_min_time=2 \
  --benchmark_format=json >"$WORK/jws.json" 2>/dev/null
put verify_es256_per_s "$("$PY" -c 'import json,sys; b=json.load(open(sys.argv[1]))["benchmarks"][0]; print(round(b["items_per_second"]))' "$WORK/jws.json")"

put loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$HELPER" gateway-report "$RESULTS" "${BENCH_OUT_GATEWAY:-}"
