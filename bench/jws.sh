#!/usr/bin/env bash
# bench/jws.sh: JWS sign/verify rates (issue 3). `./bench/jws.sh <abs build dir>`; `make bench`
# runs it after bench/run.sh (BENCH_JWS=0 skips it there).
#
# For each algorithm in turn, back to back on one thread, so that each pair of figures shares
# the machine's state:
#   1. `openssl speed -seconds 3 <primitive>`: the raw rate of the same primitive
#        HS256: -hmac sha256 -bytes 256   RS256: rsa2048   ES256: ecdsap256   EdDSA: ed25519
#   2. <build>/bench/jws_bench for that algorithm: verify_jws, sign_jws and the breakdown
#      (decode_jws, key_verify, evp_floor, evp_init_per_op), JSON output
#   3. bench/peers/verify.js: node fast-jwt verifying the very same token (peer column)
# then prints a table of ratios with a verdict per target (bench/jws_report.py):
#   ES256 and EdDSA verify_jws >= 0.95 x openssl verify/s, RS256 >= 0.90 x,
#   HS256 verify_jws >= 700,000 ops/s, or that target scaled to this machine: >= 0.219 x the raw
#   HMAC-SHA256 rate of 256 bytes (700k over the 3.2M the issue measured on its machine).
# All rates are per CPU second of the measuring thread, as `openssl speed` reports them, except
# fast-jwt's (wall clock of a single-threaded node loop; its CPU-time rate is in the detail).
#
# Keys and tokens are made once by `jws_bench --jws_setup_only` in a mktemp dir (removed at
# exit; kept with BENCH_KEEP_TMP=1 or on failure) and shared by every step.
#
# Knobs (environment): BENCH_JWS_SECONDS (whole seconds: openssl -seconds, benchmark min time, node time;
# default 3), BENCH_JWS_ROUNDS (whole sequence repeated; the table shows the median and range of
# the per-round ratios; default 1), BENCH_JWS_ALGS (default "HS256 RS256 ES256 EdDSA"),
# BENCH_JWS_NODE (0 skips fast-jwt), NODE (node binary), BENCH_JWS_OUT (also write the table
# as markdown there), BENCH_JWS_STRICT (1: exit 1 when a target is missed), BENCH_KEEP_TMP.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:-$BENCH_DIR/../build}
[[ -d $BUILD_DIR ]] || { echo "jws.sh: no build dir $BUILD_DIR (run \`make bench\`)" >&2; exit 2; }
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)

JWS_BENCH=$BUILD_DIR/bench/jws_bench
PY=/usr/bin/python3
OPENSSL=${OPENSSL:-openssl}
SECS=${BENCH_JWS_SECONDS:-3}
[[ $SECS =~ ^[1-9][0-9]*$ ]] || { echo "jws.sh: BENCH_JWS_SECONDS must be a whole number of seconds (openssl speed -seconds)" >&2; exit 2; }
ROUNDS=${BENCH_JWS_ROUNDS:-1}
ALGS=${BENCH_JWS_ALGS:-HS256 RS256 ES256 EdDSA}
PEERS=$BENCH_DIR/peers
NODE=${NODE:-$(command -v node || echo /usr/bin/node)}
USE_NODE=${BENCH_JWS_NODE:-1}

for f in "$JWS_BENCH" "$PY"; do
  [[ -x $f ]] || { echo "jws.sh: missing executable $f (build the jws_bench target)" >&2; exit 2; }
done
command -v "$OPENSSL" >/dev/null || { echo "jws.sh: $OPENSSL is not installed" >&2; exit 2; }

log() { printf '[jws %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-jws.XXXXXX")
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ ${BENCH_KEEP_TMP:-0} == 1 || $rc -ne 0 ]]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The fast-jwt peer: node and bench/peers/node_modules (installed from package-lock.json when
# missing). Without them the table has no peer column but everything else still runs.
if [[ $USE_NODE == 1 ]]; then
  if [[ ! -x $NODE ]]; then
    log "WARNING: no node binary ($NODE); skipping the fast-jwt column"
    USE_NODE=0
  elif [[ ! -d $PEERS/node_modules/fast-jwt ]]; then
    log "bench/peers/node_modules is missing: npm ci (package-lock.json)"
    if ! (cd "$PEERS" && npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1); then
      log "WARNING: npm ci failed (see $WORK/npm.log); skipping the fast-jwt column"
      USE_NODE=0
    fi
  fi
fi

META=$WORK/meta.env
put() { echo "$1=$2" >>"$META"; }
# One /proc/stat sample: "busy total steal" jiffies over all CPUs (guest time is already in
# user); the report turns consecutive samples into how busy the whole machine was during each
# step (one busy thread of ours on 2 CPUs is 50%; more means something else ran) and how much
# time the hypervisor took away.
stat_sample() { awk '/^cpu /{ idle = $5 + $6; total = 0; for (i = 2; i <= 9; i++) total += $i; print total - idle, total, $9; exit }' /proc/stat; }
step() { # NAME OUTFILE COMMAND...
  local name=$1 out=$2
  shift 2
  local before after
  before=$(stat_sample)
  "$@" >"$out" 2>"$out.stderr" || { echo "jws.sh: $name failed:" >&2; cat "$out.stderr" >&2; exit 1; }
  after=$(stat_sample)
  echo "$name $before $after" >>"$WORK/cpu.txt"
}

put date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
put nproc "$(nproc)"
put cpu_model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
put kernel "$(uname -r)"
put openssl "$("$OPENSSL" version)"
put binary "$JWS_BENCH, built $(date -u -r "$JWS_BENCH" +%Y-%m-%dT%H:%M:%SZ)"
if rev=$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null); then
  [[ -z $(git -C "$BENCH_DIR/.." status --porcelain -- src CMakeLists.txt 2>/dev/null) ]] || rev="$rev + uncommitted changes in src/"
  put source "$rev"
  put jws_cc "$(git -C "$BENCH_DIR/.." hash-object src/tokens/jws.cc 2>/dev/null | cut -c1-12) (git hash-object of src/tokens/jws.cc now; the binary may be older)"
fi
[[ $USE_NODE == 1 ]] && put node "$("$NODE" --version), fast-jwt $(sed -n 's/^ *"version": *"\(.*\)",*$/\1/p' "$PEERS/node_modules/fast-jwt/package.json" | head -n1)"
put seconds "$SECS"
put rounds "$ROUNDS"
put loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"

# A private copy of the binary: a parallel rebuild must not swap it between two steps.
cp "$JWS_BENCH" "$WORK/jws_bench"
JWS_BENCH=$WORK/jws_bench
KEYS=$WORK/keys
log "keys and tokens: $JWS_BENCH --jws_dir=$KEYS --jws_setup_only"
"$JWS_BENCH" --jws_dir="$KEYS" --jws_setup_only >&2

openssl_args() {
  case $1 in
    HS256) echo "-hmac sha256 -bytes 256" ;;
    RS256) echo "rsa2048" ;;
    ES256) echo "ecdsap256" ;;
    EdDSA) echo "ed25519" ;;
    *) echo "jws.sh: unknown algorithm $1" >&2; exit 2 ;;
  esac
}

for ((round = 1; round <= ROUNDS; round++)); do
  R=$WORK/round$round
  mkdir -p "$R"
  for alg in $ALGS; do
    # shellcheck disable=SC2046 # the primitive's arguments are meant to split
    log "round $round/$ROUNDS $alg: openssl speed -seconds $SECS $(openssl_args "$alg")"
    # shellcheck disable=SC2046
    step "$round openssl $alg" "$R/openssl_$alg.txt" "$OPENSSL" speed -seconds "$SECS" $(openssl_args "$alg")
    log "round $round/$ROUNDS $alg: jws_bench --benchmark_filter='/$alg\$' --benchmark_min_time=$SECS"
    step "$round jws_bench $alg" "$R/bench_$alg.json" "$JWS_BENCH" --jws_dir="$KEYS" --benchmark_filter="/$alg\$" \
      --benchmark_min_time="$SECS" --benchmark_format=json
    if [[ $USE_NODE == 1 ]]; then
      log "round $round/$ROUNDS $alg: node bench/peers/verify.js ($SECS s)"
      step "$round fast-jwt $alg" "$R/node_$alg.json" "$NODE" "$PEERS/verify.js" "$KEYS" "$SECS" "$alg"
    fi
  done
done
put loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

echo
"$PY" "$BENCH_DIR/jws_report.py" "$WORK" "${BENCH_JWS_OUT:-}"
