# bench/lib.sh: what the benchmark scripts share (sourced by run.sh, oauth.sh, gateway.sh and
# postgres.sh). The caller sets WORK (a temp dir), RESULTS (a file in it), GATEHOUSE (the binary)
# and BENCH_PASSWORD, or has bench_setup do it, and keeps STARTED_PIDS=() for the processes it
# starts; cleanup stops exactly those.
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Stop one process this script started: SIGTERM, up to 15 s, then SIGKILL. Its exit status is
# left in STOP_RC (not printed: `wait` only works in this shell, never in a $(...) subshell).
STOP_RC=0
stop_pid() {
  local pid=$1 i rc=0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIGTERM for 15 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  STOP_RC=$rc
}

forget_pid() {
  local keep=() p
  for p in "${STARTED_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  STARTED_PIDS=("${keep[@]+"${keep[@]}"}")
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do stop_pid "$pid"; done
  if [[ -z ${WORK:-} ]]; then
    :  # bench_setup refused before making a work dir
  elif [[ ${BENCH_KEEP_TMP:-0} == 1 || $rc -ne 0 ]]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

put() { echo "$1=$2" >>"$RESULTS"; }

# The common start of the load scripts (oauth.sh, gateway.sh, postgres.sh), called right after
# sourcing this file: checks the executables and wrk, makes the work dir and its results file,
# an admin password for the servers, and records when, where and on what tree the run is.
bench_setup() { # SCRIPT_NAME EXECUTABLE...
  local name=$1 f
  shift
  for f in "$@"; do
    [[ -x $f ]] || { echo "$name: missing executable $f (scripts/install-deps.sh installs it)" >&2; exit 2; }
  done
  # BENCH_NO_WRK=1: a script that drives the load itself (soak.sh) does without wrk.
  [[ ${BENCH_NO_WRK:-0} == 1 ]] || command -v wrk >/dev/null || { echo "$name: wrk is not installed" >&2; exit 2; }
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-${name%.sh}-bench.XXXXXX")
  RESULTS=$WORK/results.env
  STARTED_PIDS=()
  export BENCH_DIR
  BENCH_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
  export BENCH_PASSWORD
  export GATEHOUSE_RATELIMIT_DEFAULT=1000000000/hour
  put date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  put nproc "$(nproc)"
  put source "$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
  put loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# The server must stay up through every phase; if it went away, say so (with its exit status
# and last stderr lines) instead of letting wrk report "connection refused".
SERVER_PID=
check_server() { # PHASE
  [[ -z $SERVER_PID ]] && return 0
  kill -0 "$SERVER_PID" 2>/dev/null && return 0
  local rc=0
  wait "$SERVER_PID" 2>/dev/null || rc=$?
  forget_pid "$SERVER_PID"
  echo "run.sh: gatehouse (pid $SERVER_PID) is gone during $1 (exit status $rc; a stop by signal logs \"stopped\"). Last stderr lines:" >&2
  tail -n 5 "$WORK/server.stderr" >&2
  exit 1
}
# wrk with its output in OUT; on failure show it and check the server.
run_wrk() { # OUT WRK_ARGS...
  local out=$1
  shift
  wrk "$@" >"$out" 2>&1 || { echo "run.sh: wrk $* failed:" >&2; cat "$out" >&2; check_server "wrk $*"; exit 1; }
  check_server "wrk $*"
}

# The WRKSTATS line printed by bench/stats.lua's done() hook: field NAME of FILE.
wrkstat() { grep -m1 '^WRKSTATS ' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sockerr() {
  local f=$1
  echo $(($(wrkstat connect_err "$f") + $(wrkstat read_err "$f") + $(wrkstat write_err "$f") + $(wrkstat timeout_err "$f")))
}
# Record the usual fields of a wrk run under PREFIX_*.
record_wrk() {
  local prefix=$1 f=$2
  grep -q '^WRKSTATS ' "$f" || { echo "run.sh: wrk produced no stats, see $f:" >&2; cat "$f" >&2; exit 1; }
  put "${prefix}_rps" "$(wrkstat rps "$f")"
  put "${prefix}_requests" "$(wrkstat requests "$f")"
  put "${prefix}_p50_us" "$(wrkstat p50_us "$f")"
  put "${prefix}_p99_us" "$(wrkstat p99_us "$f")"
  put "${prefix}_max_us" "$(wrkstat max_us "$f")"
  put "${prefix}_non2xx" "$(wrkstat non2xx "$f")"
  put "${prefix}_sockerr" "$(sockerr "$f")"
  if [[ $(wrkstat non2xx "$f") != 0 ]]; then log "WARNING: $prefix: $(wrkstat non2xx "$f") responses with status >= 400"; fi
  if [[ $(sockerr "$f") != 0 ]]; then log "WARNING: $prefix: $(sockerr "$f") socket errors (see $f)"; fi
}

# Starts `gatehouse serve` on DATA_DIR with the extra VAR=value settings; sets STARTED_PID and
# STARTED_BASE (its URL) once the listening line is out.
# Extra `serve` arguments (e.g. --config FILE) come from the array SERVE_ARGS, if set.
start_gatehouse() { # NAME DATA_DIR [VAR=value...]
  local name=$1 dir=$2 i
  shift 2
  mkdir -p "$dir"
  : >"$WORK/$name.stdout"  # exists before the background child opens it: sed reads it at once
  env "$@" GATEHOUSE_ADMIN_PASSWORD="$BENCH_PASSWORD" "$GATEHOUSE" serve --listen 127.0.0.1:0 --data-dir "$dir" \
    ${SERVE_ARGS[@]+"${SERVE_ARGS[@]}"} \
    >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" </dev/null &
  STARTED_PID=$!
  STARTED_PIDS+=("$STARTED_PID")
  STARTED_BASE=
  for ((i = 0; i < 300; i++)); do
    STARTED_BASE=$(sed -n 's/^gatehouse listening on \(https\{0,1\}:\/\/[^ ]*\).*/\1/p' "$WORK/$name.stdout" | head -n1)
    [[ -n $STARTED_BASE ]] && return 0
    kill -0 "$STARTED_PID" 2>/dev/null || { echo "run.sh: gatehouse ($name) exited at start:" >&2; tail -n 20 "$WORK/$name.stderr" >&2; exit 1; }
    sleep 0.1
  done
  echo "run.sh: gatehouse ($name) printed no listening line in 30 s" >&2
  exit 1
}

# nginx returning a static 200 on a free loopback port: the baseline every HTTP figure is
# compared with. Sets NGINX_PORT and NGINX_PID. Needs NGINX, PY and HELPER.
# Writes DIR/nginx.conf: pid, logs and temp files all under DIR, 2 workers, no access log, and
# inside "http { }" the server blocks read from standard input.
write_nginx_conf() { # DIR < server blocks
  mkdir -p "$1/logs" "$1/tmp"
  {
    cat <<EOF
daemon off;
worker_processes 2;
pid $1/nginx.pid;
error_log $1/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
EOF
    cat
    echo "}"
  } >"$1/nginx.conf"
}

start_nginx() {
  NGINX_PORT=$("$PY" "$HELPER" freeport)
  write_nginx_conf "$WORK/nginx" <<EOF
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 "ok"; }
  }
EOF
  "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/logs/stdout.log" 2>&1 </dev/null &
  NGINX_PID=$!
  STARTED_PIDS+=("$NGINX_PID")
  "$PY" "$HELPER" wait-port "$NGINX_PORT" 10 || { cat "$WORK/nginx/logs/"* >&2; exit 1; }
}
