#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, build, and run
#   1. the gcc build (-Werror): unit tests, fuzz-corpus replay, integration
#      tests against real Prometheus, promtool, curl, nghttp;
#   2. a clang ASan+UBSan build with real libFuzzer targets: unit tests,
#      corpus replay, and the integration tests that exercise bad input.
# Leaves no server running. Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh || exit 1

JOBS=$(nproc)
total_pass=0
total_fail=0
status=0

run_ctest() { # dir, extra ctest args...
  local dir=$1; shift
  local log
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n1)
  if [ -n "$line" ]; then
    local failed total
    failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    total_pass=$((total_pass + total - failed))
    total_fail=$((total_fail + failed))
  else
    total_fail=$((total_fail + 1))
  fi
  rm -f "$log"
  [ "$rc" -eq 0 ] || status=1
}

# The OpenTelemetry JS SDK for the OTLP integration tests (tests/otel), from
# its lock file; skipped when node_modules already matches the lock.
echo "== npm ci in tests/otel =="
otel_lock_sum=$(sha256sum tests/otel/package-lock.json | cut -d' ' -f1)
if [ "$(cat tests/otel/node_modules/.sonde-lock-sha256 2>/dev/null)" = "$otel_lock_sum" ]; then
  echo "tests/otel/node_modules matches package-lock.json"
elif (cd tests/otel && npm ci --no-audit --no-fund); then
  echo "$otel_lock_sum" >tests/otel/node_modules/.sonde-lock-sha256
else
  echo "npm ci failed in tests/otel"
  if [ "${CI:-}" = "true" ]; then total_fail=$((total_fail + 1)); status=1; fi
fi

echo "== gcc build (warnings as errors) =="
if cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONDE_WERROR=ON >/dev/null &&
   cmake --build build -j"$JOBS"; then
  run_ctest build
else
  echo "gcc build failed"; total_fail=$((total_fail + 1)); status=1
fi

echo "== clang ASan+UBSan build with libFuzzer targets =="
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSONDE_SANITIZE=ON -DSONDE_FUZZ=ON \
      -DSONDE_WERROR=ON >/dev/null &&
   cmake --build build-asan -j"$JOBS"; then
  # Integration tests that push bad input run under the sanitizers too; the
  # Prometheus comparison and the crash test are not repeated there.
  run_ctest build-asan -E 'integration_(prometheus|crash)'
else
  echo "asan build failed"; total_fail=$((total_fail + 1)); status=1
fi

echo "${total_pass} passed, ${total_fail} failed"
exit $status
