#!/usr/bin/env bash
# Installs every Debian package that building, running and testing Gatehouse needs.
# Idempotent: does nothing (and needs no network) when everything is already installed.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build make pkg-config
  # libraries (see docs/architecture.md for why each one)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsodium-dev libsqlite3-dev libtomlplusplus-dev libcli11-dev
  libspdlog-dev libexpected-dev libpq-dev
  # unit tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the fuzzers (fuzz/, scripts/fuzz.sh): clang's libFuzzer, ASan and UBSan, and symbolized reports
  clang-14 libclang-rt-14-dev llvm-14
  # end-to-end tests and load generation
  python3 python3-requests python3-pytest python3-jwt python3-cryptography python3-authlib
  wrk nginx-light curl
  # the PostgreSQL backend's tests start a real server of their own (tests/support/postgres_server.h)
  postgresql
)

# Wanted but not required: the OAuth browser test (tests/e2e/test_oauth_browser.py) drives
# Debian's headless Chromium and is skipped, saying why, when it cannot be installed.
optional=(chromium)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for pkg in "${packages[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
missing_optional=()
for pkg in "${optional[@]}"; do
  installed "$pkg" || missing_optional+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#missing_optional[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing_optional[*]} (optional)" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" >/dev/null ||
    echo "install-deps: could not install ${missing_optional[*]}; the tests that need it will be skipped" >&2
fi
