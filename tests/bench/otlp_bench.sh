#!/usr/bin/env bash
# otlp_bench.sh - OTLP ingest into sonde: traces, metrics and logs, each over
# OTLP/HTTP (protobuf) and OTLP/gRPC, with otlpload; a markdown table of
# items/s, latency, CPU (otlpload's share) and an exact check of sonde's
# sonde_otlp_items_total against what otlpload says was acknowledged.
#
# It builds sonde and otlpload in $BUILD_DIR if either is missing (BUILD=0:
# never). Every run gets a fresh sonde on a fresh data dir on 127.0.0.1 and a
# free port (so that one run's metric series or RocksDB compactions do not
# meet the next run's), waits until it is ready, and then:
#   - reads sonde's CPU time (/proc/PID/stat) and sonde_otlp_items_total,
#   - runs otlpload (which builds every body before its clock starts and
#     reports its own CPU time over the sending phase only),
#   - optionally records `perf record -g -p PID` of sonde during the run,
#   - reads both again: the accepted counter must have grown by exactly the
#     items otlpload counts as acknowledged,
#   - stops sonde.
# For metrics over HTTP, VictoriaMetrics gets the same load (same seed) at
# /opentelemetry/v1/metrics when the installed version has an OTLP receiver
# (v1.92 and later); Debian 12's 1.79 has none, and the script says so.
# There is no OTLP trace or log peer on this machine.
#
# Every server it starts is killed on exit, also on failure or Ctrl-C.
#
# Environment (defaults in brackets):
#   BUILD_DIR [<repo>/build]  SONDE, OTLPLOAD  BUILD [1]
#   SIGNALS ["traces metrics logs"]  TRANSPORTS ["http grpc"]
#   SPANS_PER_REQ [500] TRACE_REQUESTS [2000]     (1M spans)
#   LOGS_PER_REQ [1000] LOG_REQUESTS [2000]       (2M log records)
#   POINTS_PER_REQ [2000] METRIC_REQUESTS [1000]  (2M data points)
#   SERIES [20000]  CONNS [2] (HTTP/1.1 connections)  GRPC_CONNS [$CONNS]
#   STREAMS [8] (per gRPC connection)  DURATION_MAX [30] (seconds per run)
#   SEED [1]  VM [1] (0 skips VictoriaMetrics)
#   PERF [0] (1: perf record sonde during the "traces" and "logs" runs of
#             PERF_TRANSPORT [http]; reports go to $BENCH_DIR, KEEP=1 keeps them)
#   SONDE_ARGS [""]  BENCH_DIR [mktemp -d]  KEEP [0]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SONDE=${SONDE:-$BUILD_DIR/sonde}
OTLPLOAD=${OTLPLOAD:-$BUILD_DIR/otlpload}
BUILD=${BUILD:-1}
SIGNALS=${SIGNALS:-"traces metrics logs"}
TRANSPORTS=${TRANSPORTS:-"http grpc"}
SPANS_PER_REQ=${SPANS_PER_REQ:-500}
TRACE_REQUESTS=${TRACE_REQUESTS:-2000}
LOGS_PER_REQ=${LOGS_PER_REQ:-1000}
LOG_REQUESTS=${LOG_REQUESTS:-2000}
POINTS_PER_REQ=${POINTS_PER_REQ:-2000}
METRIC_REQUESTS=${METRIC_REQUESTS:-1000}
SERIES=${SERIES:-20000}
CONNS=${CONNS:-2}
GRPC_CONNS=${GRPC_CONNS:-$CONNS}
STREAMS=${STREAMS:-8}
DURATION_MAX=${DURATION_MAX:-30}
SEED=${SEED:-1}
VM=${VM:-1}
PERF=${PERF:-0}
PERF_TRANSPORT=${PERF_TRANSPORT:-http}
SONDE_ARGS=${SONDE_ARGS:-}
KEEP=${KEEP:-0}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d -t sonde-otlp-bench-XXXXXX)}
mkdir -p "$BENCH_DIR"

log() { echo "otlp_bench: $*" >&2; }
# shared helpers: PIDS and the cleanup trap, die, free_port, wait_http,
# stop_pid, rss_kb, cpu_s, field
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v curl >/dev/null || die "curl is needed"
if [ ! -x "$SONDE" ] || [ ! -x "$OTLPLOAD" ]; then
    [ "$BUILD" = 1 ] || die "$SONDE or $OTLPLOAD missing (BUILD=0)"
    log "building sonde and otlpload in $BUILD_DIR"
    [ -f "$BUILD_DIR/CMakeCache.txt" ] ||
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >&2
    cmake --build "$BUILD_DIR" -j2 --target sonde otlpload >&2
fi
[ -x "$SONDE" ] || die "$SONDE not found"
[ -x "$OTLPLOAD" ] || die "$OTLPLOAD not found"
NCPU=$(nproc)

# per-signal shape: items per request, requests, target items/s (0: none)
declare -A IPR=([traces]=$SPANS_PER_REQ [metrics]=$POINTS_PER_REQ [logs]=$LOGS_PER_REQ)
declare -A NREQ=([traces]=$TRACE_REQUESTS [metrics]=$METRIC_REQUESTS [logs]=$LOG_REQUESTS)
declare -A TARGET=([traces]=300000 [metrics]=0 [logs]=1000000)
declare -A COUNTER_SIGNAL=([traces]=spans [metrics]=metric_points [logs]=log_records)

# scrape PORT SIGNAL: sonde_otlp_items_total{signal=SIGNAL,result="accepted"}
scrape_accepted() {
    curl -s --max-time 10 "http://127.0.0.1:$1/metrics" |
        awk -v s="$2" '$1 == "sonde_otlp_items_total{signal=\"" s "\",result=\"accepted\"}" {print $2; f=1}
                       END {if (!f) print "?"}'
}
scrape_ooo() {
    curl -s --max-time 10 "http://127.0.0.1:$1/metrics" |
        awk '$1 == "sonde_storage_samples_dropped_total{reason=\"out_of_order\"}" {print $2; f=1}
             END {if (!f) print 0}'
}

# otlpload_run URL SIGNAL TRANSPORT LABEL: prints otlpload's output on stderr
# and its RESULT line on stdout
otlpload_run() {
    local out conns=$CONNS
    [ "$3" = grpc ] && conns=$GRPC_CONNS
    out=$("$OTLPLOAD" --url "$1" --signal "$2" --transport "$3" --items-per-request "${IPR[$2]}" \
        --requests "${NREQ[$2]}" --conns "$conns" --streams "$STREAMS" --series "$SERIES" \
        --duration-max "$DURATION_MAX" --seed "$SEED" --label "$4" 2>&1) || true
    echo "$out" >&2
    grep '^RESULT ' <<<"$out" | tail -1
}

declare -A R_RES R_SONDE_CPU R_CHECK R_OOO
RUNS=()

run_sonde() {
    local sig=$1 tr=$2 name="$1-$2" port dir pid logf res
    port=$(free_port)
    dir=$BENCH_DIR/$name
    logf=$BENCH_DIR/$name.log
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    "$SONDE" --data-dir "$dir" --listen "127.0.0.1:$port" $SONDE_ARGS >"$logf" 2>&1 &
    pid=$!
    PIDS[$pid]=1
    wait_http "http://127.0.0.1:$port/-/ready" "$pid" 60 || { tail -20 "$logf" >&2; die "sonde did not become ready"; }
    local acc0 cpu0 ooo0 perfpid=""
    acc0=$(scrape_accepted "$port" "${COUNTER_SIGNAL[$sig]}")
    ooo0=$(scrape_ooo "$port")
    [ "$acc0" != "?" ] || die "sonde_otlp_items_total{signal=\"${COUNTER_SIGNAL[$sig]}\"} not found on /metrics"
    if [ "$PERF" = 1 ] && [ "$sig" != metrics ] && [ "$tr" = "$PERF_TRANSPORT" ]; then
        perf record -g -p "$pid" -o "$BENCH_DIR/perf-$name.data" >/dev/null 2>"$BENCH_DIR/perf-$name.log" &
        perfpid=$!
    fi
    cpu0=$(cpu_s "$pid")
    log "$name: sonde pid $pid on port $port; running otlpload"
    res=$(otlpload_run "http://127.0.0.1:$port" "$sig" "$tr" "sonde-$name")
    local cpu1
    cpu1=$(cpu_s "$pid")
    if [ -n "$perfpid" ]; then
        kill -INT "$perfpid" 2>/dev/null || true
        wait "$perfpid" 2>/dev/null || true
        # self time by thread, library and symbol (librocksdb is stripped on
        # Debian: its entries show as addresses inside librocksdb.so)
        perf report -i "$BENCH_DIR/perf-$name.data" --no-children -g none --sort comm,dso,sym \
            --stdio --percent-limit 0.7 2>/dev/null | grep -E '^ +[0-9]' |
            head -30 >"$BENCH_DIR/perf-$name.top" || true
        perf report -i "$BENCH_DIR/perf-$name.data" --no-children -g none --sort comm --stdio \
            2>/dev/null | grep -E '^ +[0-9]' | head -20 >"$BENCH_DIR/perf-$name.threads" || true
        perf report -i "$BENCH_DIR/perf-$name.data" --no-children -g none --sort dso --stdio \
            2>/dev/null | grep -E '^ +[0-9]' | head -12 >"$BENCH_DIR/perf-$name.dsos" || true
        log "$name: perf top entries (self, by thread and symbol):"
        cat "$BENCH_DIR/perf-$name.top" >&2
    fi
    [ -n "$res" ] || die "otlpload printed no RESULT line for $name"
    # The counter moves before the answer is written; allow the last
    # answers' bookkeeping a moment, then compare exactly.
    local ok acc1 delta check="?"
    ok=$(field items_ok "$res")
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        acc1=$(scrape_accepted "$port" "${COUNTER_SIGNAL[$sig]}")
        delta=$((acc1 - acc0))
        [ "$delta" = "$ok" ] && break
        sleep 0.3
    done
    if [ "$delta" = "$ok" ]; then check="ok ($delta)"; else check="MISMATCH: counter +$delta, otlpload $ok"; fi
    R_CHECK[$name]=$check
    R_OOO[$name]=$(( $(scrape_ooo "$port") - ooo0 ))
    R_RES[$name]=$res
    R_SONDE_CPU[$name]=$(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN {printf "%.2f", a - b}')
    stop_pid "$pid" 60
    RUNS+=("$name")
    log "$name: $(field items_per_s "$res") items/s, counter check $check"
}

# VictoriaMetrics' OTLP receiver path, or "" when this version has none
vm_otlp_path() {
    local port=$1 p code
    for p in /opentelemetry/v1/metrics /opentelemetry/api/v1/push; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
            -H 'Content-Type: application/x-protobuf' --data-binary '' "http://127.0.0.1:$port$p")
        case $code in 2??) echo "$p"; return 0 ;; esac
    done
    echo ""
}

VM_NOTE=""
run_vm() {
    local name=vm-metrics-http port dir pid logf res path ver
    if ! command -v victoria-metrics >/dev/null; then
        VM_NOTE="victoria-metrics is not installed: no ratio"
        return 0
    fi
    ver=$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || true)
    [ -n "$ver" ] || ver=$(victoria-metrics -version 2>&1 | head -1)
    port=$(free_port)
    dir=$BENCH_DIR/$name
    logf=$BENCH_DIR/$name.log
    mkdir -p "$dir"
    victoria-metrics -httpListenAddr "127.0.0.1:$port" -storageDataPath "$dir" \
        -retentionPeriod 10y >"$logf" 2>&1 &
    pid=$!
    PIDS[$pid]=1
    wait_http "http://127.0.0.1:$port/health" "$pid" 60 || { tail -20 "$logf" >&2; die "victoria-metrics did not become ready"; }
    path=$(vm_otlp_path "$port")
    if [ -z "$path" ]; then
        VM_NOTE="VictoriaMetrics ${ver:-?} has no OTLP receiver (POST /opentelemetry/v1/metrics and /opentelemetry/api/v1/push answer 400 \"unsupported path\"; OTLP ingestion came in v1.92): no ratio"
        log "$VM_NOTE"
        stop_pid "$pid" 30
        return 0
    fi
    local cpu0 cpu1
    cpu0=$(cpu_s "$pid")
    log "victoria-metrics (pid $pid) on port $port, OTLP at $path; running otlpload"
    res=$(otlpload_run "http://127.0.0.1:$port$path" metrics http vm-metrics-http)
    cpu1=$(cpu_s "$pid")
    [ -n "$res" ] || die "otlpload printed no RESULT line for VictoriaMetrics"
    R_RES[$name]=$res
    R_SONDE_CPU[$name]=$(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN {printf "%.2f", a - b}')
    R_CHECK[$name]="-"
    R_OOO[$name]="-"
    stop_pid "$pid" 60
    VM_NOTE="VictoriaMetrics ${ver:-?} at $path, same load and seed"
}

for sig in $SIGNALS; do
    for tr in $TRANSPORTS; do
        run_sonde "$sig" "$tr"
    done
    if [ "$sig" = metrics ] && [ "$VM" = 1 ]; then run_vm; fi
done

fmt() { awk -v x="$1" 'BEGIN { if (x == "" || x == "?") print "?"; else { s = sprintf("%.0f", x); n = ""; while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) }; print s n } }'; }

echo
echo "## OTLP ingest: otlpload against sonde, HTTP/1.1: $CONNS connections, gRPC: $GRPC_CONNS connections x $STREAMS streams"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, otlpload and the server on the same CPUs"
echo "command: SPANS_PER_REQ=$SPANS_PER_REQ TRACE_REQUESTS=$TRACE_REQUESTS LOGS_PER_REQ=$LOGS_PER_REQ LOG_REQUESTS=$LOG_REQUESTS POINTS_PER_REQ=$POINTS_PER_REQ METRIC_REQUESTS=$METRIC_REQUESTS SERIES=$SERIES CONNS=$CONNS GRPC_CONNS=$GRPC_CONNS STREAMS=$STREAMS DURATION_MAX=$DURATION_MAX SEED=$SEED tests/bench/otlp_bench.sh"
echo
echo "| server | signal | transport | items/req | items acked | items/s | vs target | requests/s | p50 ms | p99 ms | max ms | errors | retries | server CPU s | otlpload CPU s | otlpload share | counter check |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for name in "${RUNS[@]}" vm-metrics-http; do
    [ -n "${R_RES[$name]:-}" ] || continue
    res=${R_RES[$name]}
    sig=$(field signal "$res")
    tr=$(field transport "$res")
    ips=$(field items_per_s "$res")
    gen=$(field gen_cpu_s "$res")
    srv=${R_SONDE_CPU[$name]}
    server=sonde
    [ "$name" = vm-metrics-http ] && server=VictoriaMetrics
    vt="-"
    if [ "${TARGET[$sig]}" != 0 ] && [ "$server" = sonde ]; then
        vt=$(awk -v a="$ips" -v t="${TARGET[$sig]}" 'BEGIN {printf "%.2f", a / t}')
    fi
    share=$(awk -v g="$gen" -v s="$srv" 'BEGIN { if (g + s > 0) printf "%.0f%%", 100 * g / (g + s); else print "-" }')
    note=""
    [ "$(field complete "$res")" = 1 ] || note=" (stopped at DURATION_MAX)"
    echo "| $server | $sig | $tr$note | $(field items_per_request "$res") | $(fmt "$(field items_ok "$res")") | $(fmt "$ips") | $vt | $(field requests_per_s "$res") | $(field p50_ms "$res") | $(field p99_ms "$res") | $(field max_ms "$res") | $(field errors "$res") | $(field retries "$res") | $srv | $gen | $share | ${R_CHECK[$name]} |"
done
echo
echo "Targets: 300,000 spans/s and 1,000,000 log records/s, acknowledged durable, on this machine."
echo "otlpload share = otlpload's CPU seconds over its sending phase (getrusage) / (that + the"
echo "server's CPU seconds over the run, /proc/PID/stat). counter check: sonde_otlp_items_total"
echo "{result=\"accepted\"} grew by exactly the items otlpload counts as acknowledged."
for name in "${RUNS[@]}"; do
    case $name in metrics-*)
        [ "${R_OOO[$name]}" = 0 ] || echo "$name: ${R_OOO[$name]} samples dropped as out of order (expected 0)" ;;
    esac
done
case " $SIGNALS " in *" metrics "*)
    if [ -n "${R_RES[vm-metrics-http]:-}" ] && [ -n "${R_RES[metrics-http]:-}" ]; then
        echo "Metrics over OTLP/HTTP, sonde / VictoriaMetrics: $(awk -v a="$(field items_per_s "${R_RES[metrics-http]}")" \
            -v b="$(field items_per_s "${R_RES[vm-metrics-http]}")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') ($VM_NOTE)."
    elif [ -n "$VM_NOTE" ]; then
        echo "Metrics peer: $VM_NOTE."
    fi ;;
esac
echo "Traces and logs: no OTLP peer (OpenTelemetry Collector, Tempo, Loki) is installed on this machine."
if [ "$PERF" = 1 ]; then
    echo
    for f in "$BENCH_DIR"/perf-*.top; do
        [ -f "$f" ] || continue
        echo "perf, sonde during $(basename "$f" .top | sed 's/^perf-//') (self %, thread, symbol):"
        echo '```'
        cat "$f"
        echo '```'
        echo "by thread:"
        echo '```'
        cat "${f%.top}.threads"
        echo '```'
        echo "by library:"
        echo '```'
        cat "${f%.top}.dsos"
        echo '```'
    done
fi
