#!/usr/bin/env bash
# scripts/demo-gateway.sh: the gateway in one minute (make run-demo). Starts, on loopback:
#   gatehouse   on 127.0.0.1:${DEMO_GATEHOUSE_PORT:-8080}  (a temp data dir, a demo policy set)
#   nginx       on 127.0.0.1:${DEMO_PORT:-8088}            (auth_request -> gatehouse /auth/check)
#   an upstream on 127.0.0.1:${DEMO_UPSTREAM_PORT:-8089}   (an nginx server echoing X-Auth-*)
# makes a demo user with an API key, prints curl commands to try, and stops both processes it
# started (by PID) on Ctrl-C. Policies: scripts/demo-gatehouse.toml; nginx:
# scripts/demo-nginx.conf (the shape docs/gateway.md explains). tests/e2e/test_gateway.py runs
# the same two files against a real nginx.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GATEHOUSE=${GATEHOUSE:-$ROOT/build/gatehouse}
NGINX=${NGINX:-/usr/sbin/nginx}
GH_PORT=${DEMO_GATEHOUSE_PORT:-8080}
FRONT_PORT=${DEMO_PORT:-8088}
UP_PORT=${DEMO_UPSTREAM_PORT:-8089}
for f in "$GATEHOUSE" "$NGINX"; do [[ -x $f ]] || { echo "demo: missing $f (run make build; install-deps installs nginx)" >&2; exit 2; }; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-demo.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

mkdir -p "$WORK/nginx/tmp"
sed -e "s/@GH_PORT@/$GH_PORT/; s/@FRONT_PORT@/$FRONT_PORT/; s/@UP_PORT@/$UP_PORT/g; s#@WORK@#$WORK/nginx#g" \
  "$ROOT/scripts/demo-nginx.conf" >"$WORK/nginx/nginx.conf"

ADMIN_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
DEMO_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
GATEHOUSE_ADMIN_PASSWORD=$ADMIN_PASSWORD GATEHOUSE_SERVER_TRUSTED_PROXIES=127.0.0.1 \
  "$GATEHOUSE" serve --config "$ROOT/scripts/demo-gatehouse.toml" --listen "127.0.0.1:$GH_PORT" --data-dir "$WORK/data" \
  >"$WORK/gatehouse.out" 2>"$WORK/gatehouse.err" </dev/null &
PIDS+=($!)
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" </dev/null >"$WORK/nginx.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^gatehouse listening' "$WORK/gatehouse.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^gatehouse listening' "$WORK/gatehouse.out" || { cat "$WORK/gatehouse.err" >&2; exit 1; }

GH=http://127.0.0.1:$GH_PORT
json() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
ADMIN_TOKEN=$(curl -fsS "$GH/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | json access_token)
curl -fsS "$GH/api/users" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d "{\"username\":\"demo\",\"password\":\"$DEMO_PASSWORD\",\"roles\":[\"user\",\"support\"]}" >/dev/null
DEMO_TOKEN=$(curl -fsS "$GH/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"demo\",\"password\":\"$DEMO_PASSWORD\"}" | json access_token)
DEMO_KEY=$(curl -fsS "$GH/api/keys" -H "Authorization: Bearer $DEMO_TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"demo","scopes":["orders:read"]}' | json key)

API=http://127.0.0.1:$FRONT_PORT
# The demo's secrets stay in files (mode 0600), never on the terminal or in shell history.
umask 077
printf '%s' "$DEMO_KEY" >"$WORK/demo.key"
printf 'demo:%s' "$DEMO_PASSWORD" >"$WORK/demo.basic"
cat <<TXT

Gatehouse gateway demo (Ctrl-C stops it; everything lives in $WORK and goes with it)
  gatehouse  $GH        nginx  $API  ->  upstream 127.0.0.1:$UP_PORT
  demo user "demo" (roles user, support) and its API key (scope orders:read), kept in files:

  curl -i $API/public/hello                                        # 200, anonymous
  curl -i $API/api/orders/12                                       # 401, no credential
  curl -i $API/api/orders/12 -H "X-API-Key: \$(cat $WORK/demo.key)"     # 200; the upstream sees X-Auth-*
  curl -i $API/api/orders/12 -u "\$(cat $WORK/demo.basic)"              # 200 with Basic
  curl -i $API/api/admin/users -H "X-API-Key: \$(cat $WORK/demo.key)"   # 403, lacks users:write
  curl -i $API/elsewhere -H "X-API-Key: \$(cat $WORK/demo.key)"         # 403, no policy matches
  curl -i $API/api/limited -H "X-API-Key: \$(cat $WORK/demo.key)"       # the third in a minute: 429

TXT
while true; do sleep 3600; done
