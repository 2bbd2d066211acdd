#!/usr/bin/env bash
# Quick start: install what is missing, build, and run sonde in the
# foreground with an embedded data directory (./data) on 0.0.0.0:9201.
# Extra arguments go to sonde, e.g. `bash deploy/start.sh --fsync`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p data
exec ./build/sonde --data-dir ./data "$@"
