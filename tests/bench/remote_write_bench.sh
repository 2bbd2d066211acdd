#!/usr/bin/env bash
# remote_write_bench.sh - the same remote-write load against sonde (durable
# default mode, then --fsync), VictoriaMetrics and Prometheus, one after the
# other on this machine, and a markdown table of the results.
#
# It builds nothing: it expects $BUILD_DIR/sonde and $BUILD_DIR/rwload
# (cmake -B build && cmake --build build). See tests/bench/README.md.
#
# For each target: start it on a fresh data dir on 127.0.0.1, wait until it is
# ready, run rwload, read VmRSS from /proc/PID/status and its CPU time from
# /proc/PID/stat after ingest, count the series it holds, stop it cleanly
# (SIGTERM; VictoriaMetrics is flushed first) and measure its data dir with
# du. Every server it starts is killed on exit, also on failure or Ctrl-C.
#
# Environment (defaults in brackets):
#   BUILD_DIR [<repo>/build]  SERIES [100000]  SAMPLES [30] (samples per series)
#   BATCH [2000]  CONNS [8]  DURATION_MAX [300] (seconds, per target)
#   TARGETS ["sonde sonde-fsync victoria-metrics prometheus"]
#   BENCH_DIR [mktemp -d]     KEEP [0] (1 keeps the data dirs)
#   SONDE_ARGS [""] extra sonde flags
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SONDE=${SONDE:-$BUILD_DIR/sonde}
RWLOAD=${RWLOAD:-$BUILD_DIR/rwload}
SERIES=${SERIES:-100000}
SAMPLES=${SAMPLES:-30}
BATCH=${BATCH:-2000}
CONNS=${CONNS:-8}
DURATION_MAX=${DURATION_MAX:-300}
TARGETS=${TARGETS:-"sonde sonde-fsync victoria-metrics prometheus"}
SONDE_ARGS=${SONDE_ARGS:-}
KEEP=${KEEP:-0}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d -t sonde-bench-XXXXXX)}
mkdir -p "$BENCH_DIR"

log() { echo "bench: $*" >&2; }
# shared helpers: PIDS and the cleanup trap, die, free_port, wait_http,
# stop_pid, rss_kb, cpu_s, field
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$RWLOAD" ] || die "$RWLOAD not found: cmake -B build && cmake --build build --target rwload"
command -v curl >/dev/null || die "curl is needed"


declare -A R_SPS R_P50 R_P99 R_ERR R_RSS R_DISK R_OK R_SERIES R_CPU R_COMPLETE

run_target() {
    local name=$1 port dir pid ready_url write_url count_url logf
    port=$(free_port)
    dir=$BENCH_DIR/$name
    logf=$BENCH_DIR/$name.log
    mkdir -p "$dir/data"
    case $name in
    sonde | sonde-fsync)
        [ -x "$SONDE" ] || die "$SONDE not found"
        local extra=()
        [ "$name" = sonde-fsync ] && extra+=(--fsync)
        # shellcheck disable=SC2086
        "$SONDE" --data-dir "$dir/data" --listen "127.0.0.1:$port" "${extra[@]}" $SONDE_ARGS \
            >"$logf" 2>&1 &
        pid=$!
        ready_url=http://127.0.0.1:$port/-/ready
        ;;
    victoria-metrics)
        command -v victoria-metrics >/dev/null || { log "victoria-metrics not installed; skipped"; return 0; }
        victoria-metrics -httpListenAddr "127.0.0.1:$port" -storageDataPath "$dir/data" \
            -retentionPeriod 10y >"$logf" 2>&1 &
        pid=$!
        ready_url=http://127.0.0.1:$port/health
        ;;
    prometheus)
        command -v prometheus >/dev/null || { log "prometheus not installed; skipped"; return 0; }
        printf 'global: {}\n' >"$dir/prometheus.yml"
        prometheus --config.file "$dir/prometheus.yml" --storage.tsdb.path "$dir/data" \
            --web.listen-address "127.0.0.1:$port" --web.enable-remote-write-receiver \
            --log.level warn >"$logf" 2>&1 &
        pid=$!
        ready_url=http://127.0.0.1:$port/-/ready
        ;;
    *) die "unknown target $name" ;;
    esac
    PIDS[$pid]=1
    wait_http "$ready_url" "$pid" 60 || { tail -20 "$logf" >&2; die "$name did not become ready"; }
    write_url=http://127.0.0.1:$port/api/v1/write
    log "$name (pid $pid) ready on port $port; running rwload"
    local cpu0 out res
    cpu0=$(cpu_s "$pid")
    out=$("$RWLOAD" --url "$write_url" --series "$SERIES" --samples-per-series "$SAMPLES" \
        --batch "$BATCH" --conns "$CONNS" --duration-max "$DURATION_MAX" --label "$name" 2>&1) || true
    echo "$out" >&2
    res=$(grep '^RESULT ' <<<"$out" | tail -1)
    [ -n "$res" ] || die "rwload printed no RESULT line for $name"
    # Let every server settle after the acks (rings, head appends, in-memory
    # parts, allocator trimming) before RSS is read; the same wait for all.
    sleep "${SETTLE_S:-10}"
    R_CPU[$name]=$(awk -v a="$(cpu_s "$pid")" -v b="$cpu0" 'BEGIN {printf "%.1f", a - b}')
    R_RSS[$name]=$(rss_kb "$pid")
    count_url="http://127.0.0.1:$port/api/v1/query?query=count(%7Bjob%3D%22node%22%7D)"
    R_SERIES[$name]=$(curl -s --max-time 120 "$count_url" |
        python3 -c 'import json,sys
try: print(json.load(sys.stdin)["data"]["result"][0]["value"][1])
except Exception: print("?")')
    [ "$name" = victoria-metrics ] && curl -s --max-time 120 "http://127.0.0.1:$port/internal/force_flush" >/dev/null
    stop_pid "$pid" 120
    R_DISK[$name]=$(du -sb "$dir/data" | cut -f1)
    R_SPS[$name]=$(field samples_per_s "$res")
    R_P50[$name]=$(field p50_ms "$res")
    R_P99[$name]=$(field p99_ms "$res")
    R_ERR[$name]=$(( $(field errors "$res") + $(field requests_rejected "$res") ))
    R_OK[$name]=$(field samples_ok "$res")
    R_COMPLETE[$name]=$(field complete "$res")
    log "$name done: ${R_SPS[$name]} samples/s, RSS ${R_RSS[$name]} kB, disk ${R_DISK[$name]} B"
}

for t in $TARGETS; do run_target "$t"; done

echo
echo "## remote-write ingest: $SERIES series x $SAMPLES samples, batch $BATCH, $CONNS connections"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
echo "command: SERIES=$SERIES SAMPLES=$SAMPLES BATCH=$BATCH CONNS=$CONNS tests/bench/remote_write_bench.sh"
echo
echo "| target | samples/s | vs sonde | p50 ms | p99 ms | errors | series held | CPU s | RSS MiB | RSS bytes/series | disk bytes/sample |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
base=${R_SPS[sonde]:-}
for t in $TARGETS; do
    [ -n "${R_SPS[$t]:-}" ] || continue
    ratio=$(awk -v a="${R_SPS[$t]}" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    rssmib=$(awk -v k="${R_RSS[$t]}" 'BEGIN {printf "%.0f", k / 1024}')
    perser=$(awk -v k="${R_RSS[$t]}" -v s="$SERIES" 'BEGIN {printf "%.0f", k * 1024 / s}')
    bps=$(awk -v d="${R_DISK[$t]}" -v n="${R_OK[$t]}" 'BEGIN { if (n > 0) printf "%.2f", d / n; else print "-" }')
    note=""
    [ "${R_COMPLETE[$t]}" = 1 ] || note=" (stopped at DURATION_MAX)"
    echo "| $t$note | ${R_SPS[$t]} | $ratio | ${R_P50[$t]} | ${R_P99[$t]} | ${R_ERR[$t]} | ${R_SERIES[$t]} | ${R_CPU[$t]} | $rssmib | $perser | $bps |"
done
echo
echo "samples/s counts only samples answered 2xx. RSS is VmRSS ${SETTLE_S:-10} s after the load ended;"
echo "bytes/series is RSS / $SERIES series. disk is du -sb of the data dir after a clean shutdown"
echo "(VictoriaMetrics force-flushed first; Prometheus keeps recent data in its WAL and head chunks)."
