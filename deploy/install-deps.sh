#!/usr/bin/env bash
# Installs, idempotently, every Debian 12 package sonde needs to build, test
# and benchmark. Runs apt only when something is missing, so a second run is
# a no-op. Must run as root (or with sudo available).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  liburing-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
  libsnappy-dev libzstd-dev librocksdb-dev libpcre2-dev libhttp-parser-dev libxxhash-dev zlib1g-dev
  # tests: real clients and peers
  python3 curl nghttp2-client prometheus victoria-metrics procps cppcheck
)
# tests/otel (OpenTelemetry JS SDK) needs node and npm: Debian's packages only
# where the machine has none (an installed Node.js may bring its own npm).
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The Debian prometheus package starts a service when systemd runs; without
# systemd (containers, CI) policy-rc.d keeps postinst from trying.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "install-deps: done"
