#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14, ASan and UBSan, and runs each one.
#   scripts/fuzz.sh SECONDS [TARGET...]   each target for SECONDS (make fuzz: 600)
#   FUZZ_TOTAL=60 scripts/fuzz.sh         all targets sharing 60 s (the smoke run of make test)
# Seeds come from fuzz/corpus/<target>/ (and gatehouse.example.toml for the config loader);
# what a run finds stays in build-fuzz/corpus/<target>/, so the next run starts from there.
# A crash, a leak or a sanitizer report fails the run and leaves its input in
# build-fuzz/artifacts/. Prints executions and executions per second for each target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-$(nproc)}
all=(fuzz_jws fuzz_base64 fuzz_basic fuzz_form fuzz_glob fuzz_config fuzz_api)

seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
if [ -n "${FUZZ_TOTAL:-}" ]; then
  seconds=$(( FUZZ_TOTAL / ${#targets[@]} ))
  [ "$seconds" -ge 1 ] || seconds=1
fi

if [ ! -f "$build/build.ninja" ]; then
  CXX=clang++-14 CC=clang-14 cmake -S "$root" -B "$build" -G Ninja -DGATEHOUSE_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target fuzzers -j "$jobs"

mkdir -p "$build/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-12s %10s %12s %8s\n' target seconds executions exec/s
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  mkdir -p "$work"
  seeds=("$root/fuzz/corpus/$t")
  if [ "$t" = fuzz_config ]; then  # the example config, every key, as one more seed
    mkdir -p "$build/seeds/config-example"
    cp "$root/gatehouse.example.toml" "$build/seeds/config-example/"
    seeds+=("$build/seeds/config-example")
  fi
  log="$build/$t.log"
  if ! (cd "$build" && "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "$work" "${seeds[@]}" >"$log" 2>&1); then
    echo "fuzz: $t FAILED; see $log and $build/artifacts/" >&2
    grep -E "ERROR|SUMMARY|runtime error|answered" "$log" | head -5 >&2 || true
    failed=1
    continue
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-12s %10s %12s %8s\n' "$t" "$seconds" "${runs:-?}" "${rate:-?}"
done
exit $failed
