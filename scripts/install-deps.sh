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
  libspdlog-dev libexpected-dev
  # unit tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # end-to-end tests and load generation
  python3 python3-requests python3-pytest python3-jwt python3-cryptography
  wrk nginx-light curl
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
