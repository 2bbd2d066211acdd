#!/usr/bin/env bash
# query_bench.sh - range-query latency of sonde, VictoriaMetrics and Prometheus
# on the same data, one peer after the other on this machine, as a markdown
# table (p50/p99 per peer per query, and ratios to sonde).
#
# It builds nothing: it expects $BUILD_DIR/sonde and $BUILD_DIR/rwload
# (cmake -B build && cmake --build build). See tests/bench/README.md.
#
# Data: rwload's node_exporter-like series set ($SERIES series, 500 per
# instance) plus one classic histogram per instance
# (http_request_duration_seconds_bucket, 12 buckets, from query_bench.py),
# one sample per series every $INTERVAL_MS over the last $HOURS hours, ending
# about two minutes before the run started (the same timestamps for every
# peer). Prometheus' head only accepts a sample that is at most an hour older
# than the newest sample it holds, so the history is loaded in time order, in
# chunks of $CHUNK_ROUNDS rounds (rwload --start-ms, then the histograms of the
# same chunk): a fresh Prometheus accepts old timestamps that way, and it
# compacts the older hours into blocks as the load goes on. The same chunks go
# to every peer. (rwload derives its counters from the timestamp, so they
# continue across chunks without resets.)
#
# For each peer: start it on a fresh data dir on 127.0.0.1 and a free port,
# load the data, let it settle (VictoriaMetrics: /internal/force_flush;
# Prometheus: wait until head compaction is done; sonde: wait until its
# background flushes and compactions are over, i.e. it is idle; bounded), check that it holds
# every series, run the queries (query_bench.py run: one warm-up, then $REPS
# timed repetitions, sequentially over one keep-alive connection), stop it.
# VictoriaMetrics is asked with nocache=1, so its rollup result cache does not
# answer the repetitions from memory: every peer evaluates every query.
# Every server it starts is killed on exit, also on failure or Ctrl-C.
#
# Environment (defaults in brackets):
#   BUILD_DIR [<repo>/build]  SERIES [100000]  HOURS [25] (history; the 24 h
#   queries need 24 h + their 5 m window)  INTERVAL_MS [60000]
#   CHUNK_ROUNDS [30]  REPS [20]  CONNS [2] (rwload connections)  BATCH [2000]
#   PEERS ["sonde victoria-metrics prometheus"]  LOAD_MAX_S [3600] (per peer)
#   SETTLE_MAX_S [900]  VM_CACHE [0] (1: let VictoriaMetrics use its cache)
#   SONDE_SETTLE [1] (0: query sonde 2 s after its load instead of waiting
#   until it is idle)
#   SONDE_ARGS [""]  BENCH_DIR [mktemp -d]  KEEP [0] (1 keeps the data dirs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/bench
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SONDE=${SONDE:-$BUILD_DIR/sonde}
RWLOAD=${RWLOAD:-$BUILD_DIR/rwload}
SERIES=${SERIES:-100000}
HOURS=${HOURS:-25}
INTERVAL_MS=${INTERVAL_MS:-60000}
CHUNK_ROUNDS=${CHUNK_ROUNDS:-30}
REPS=${REPS:-20}
CONNS=${CONNS:-2}
BATCH=${BATCH:-2000}
PEERS=${PEERS:-"sonde victoria-metrics prometheus"}
LOAD_MAX_S=${LOAD_MAX_S:-3600}
SETTLE_MAX_S=${SETTLE_MAX_S:-900}
VM_CACHE=${VM_CACHE:-0}
SONDE_ARGS=${SONDE_ARGS:-}
SONDE_SETTLE=${SONDE_SETTLE:-1}
KEEP=${KEEP:-0}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d -t sonde-qbench-XXXXXX)}
mkdir -p "$BENCH_DIR"

log() { echo "query_bench: $*" >&2; }
# shared helpers: PIDS and the cleanup trap, die, free_port, wait_http,
# stop_pid, rss_kb, cpu_s, field
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$RWLOAD" ] || die "$RWLOAD not found: cmake --build build --target rwload"
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"
(( INTERVAL_MS * CHUNK_ROUNDS <= 2700000 )) ||
    die "INTERVAL_MS * CHUNK_ROUNDS must stay under 45 min (Prometheus' head window)"

# metric NAME URL: value of an unlabelled metric in a /metrics page (0 if absent)
metric() { curl -s --max-time 10 "$2" | awk -v m="$1" '$1 == m {v = $2} END {printf "%.0f\n", v + 0}'; }

# Timestamps shared by every peer: rounds end about two minutes before now,
# 7.3 s after a whole minute, as scrapes do (they are not aligned to the
# clock); the queries end at the last multiple of 120 s (both steps divide it,
# as Grafana aligns them) before the last sample. No query step then meets a
# sample, where Prometheus 2.42 (range windows closed on the left) and
# Prometheus 3 and sonde (open) would see different samples.
ROUNDS=$((HOURS * 3600000 / INTERVAL_MS))
NOW_MS=$(($(date +%s) * 1000))
LAST_MS=$((NOW_MS / 60000 * 60000 - 180000 + 7300))
START_MS=$((LAST_MS - (ROUNDS - 1) * INTERVAL_MS))
QUERY_END=$((LAST_MS / 1000 / 120 * 120))
INSTANCES=$(((SERIES + 499) / 500))
RESULTS=$BENCH_DIR/results.jsonl
: >"$RESULTS"
log "data: $SERIES series + $((INSTANCES * 14)) histogram series, $ROUNDS rounds every ${INTERVAL_MS} ms," \
    "$START_MS..$LAST_MS ms; queries end at $QUERY_END"

declare -A R_LOAD_S R_SPS R_RSS R_HELD

load_peer() {
    local name=$1 write_url=$2 c=0 n out res t0 t1 total=0
    t0=$(date +%s.%N)
    while ((c < ROUNDS)); do
        n=$((ROUNDS - c < CHUNK_ROUNDS ? ROUNDS - c : CHUNK_ROUNDS))
        out=$("$RWLOAD" --url "$write_url" --series "$SERIES" --samples-per-series "$n" \
            --start-ms $((START_MS + c * INTERVAL_MS)) --interval-ms "$INTERVAL_MS" \
            --batch "$BATCH" --conns "$CONNS" --duration-max "$LOAD_MAX_S" --label "$name" 2>&1) || {
            echo "$out" | tail -20 >&2
            die "rwload failed for $name at round $c"
        }
        res=$(grep '^RESULT ' <<<"$out" | tail -1)
        [ "$(field complete "$res")" = 1 ] || { echo "$out" | tail -20 >&2; die "rwload incomplete for $name"; }
        total=$((total + $(field samples_ok "$res")))
        python3 "$HERE/query_bench.py" hist "$write_url" --instances "$INSTANCES" \
            --start-ms $((START_MS + c * INTERVAL_MS)) --rounds "$n" --round0 "$c" \
            --interval-ms "$INTERVAL_MS" 2>/dev/null || die "histogram load failed for $name at round $c"
        total=$((total + n * INSTANCES * 14))
        c=$((c + n))
        if ((c % (CHUNK_ROUNDS * 10) == 0)); then log "$name: $c/$ROUNDS rounds loaded"; fi
    done
    t1=$(date +%s.%N)
    R_LOAD_S[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}')
    R_SPS[$name]=$(awk -v a="$t0" -v b="$t1" -v n="$total" 'BEGIN {printf "%.0f", n / (b - a)}')
    log "$name: loaded $total samples in ${R_LOAD_S[$name]} s"
}

# Prometheus compacts its head into 2 h blocks once it spans more than 3 h,
# and then merges blocks; wait (bounded) until that is over so that its
# compactions do not run during the timed queries.
settle_prometheus() {
    local port=$1 m=http://127.0.0.1:$1/metrics span prev=-1 cur i
    for ((i = 0; i < SETTLE_MAX_S; i += 5)); do
        span=$(( $(metric prometheus_tsdb_head_max_time "$m") - $(metric prometheus_tsdb_head_min_time "$m") ))
        cur=$(metric prometheus_tsdb_compactions_total "$m")
        if ((span <= 3 * 3600000 + 2 * INTERVAL_MS)) && [ "$cur" = "$prev" ]; then
            log "prometheus: settled (head spans $((span / 60000)) min, $cur compactions)"
            return 0
        fi
        prev=$cur
        sleep 5
    done
    log "prometheus: still compacting after $SETTLE_MAX_S s; measuring anyway"
}

# sonde flushes and compacts its RocksDB families in the background after a
# load, as Prometheus compacts its head: wait (bounded) until the process is
# idle (under 5% of a CPU over 3 s, twice in a row) so that this work does not
# run during the timed queries either. SONDE_SETTLE=0 skips it (the 2 s sleep
# of earlier runs).
settle_sonde() {
    local pid=$1 a b i quiet=0
    for ((i = 0; i < SETTLE_MAX_S; i += 3)); do
        a=$(cpu_s "$pid")
        sleep 3
        b=$(cpu_s "$pid")
        if awk -v a="$a" -v b="$b" 'BEGIN {exit !(b - a < 0.15)}'; then
            quiet=$((quiet + 1))
            if ((quiet >= 2)); then
                log "sonde: settled after $((i + 3)) s"
                return 0
            fi
        else
            quiet=0
        fi
    done
    log "sonde: still busy after $SETTLE_MAX_S s; measuring anyway"
}

run_peer() {
    local name=$1 port dir pid ready_url write_url logf base nocache=()
    port=$(free_port)
    dir=$BENCH_DIR/$name
    logf=$BENCH_DIR/$name.log
    mkdir -p "$dir/data"
    case $name in
    sonde)
        [ -x "$SONDE" ] || die "$SONDE not found"
        # shellcheck disable=SC2086
        "$SONDE" --data-dir "$dir/data" --listen "127.0.0.1:$port" $SONDE_ARGS >"$logf" 2>&1 &
        pid=$!
        ready_url=http://127.0.0.1:$port/-/ready
        ;;
    victoria-metrics)
        command -v victoria-metrics >/dev/null || { log "victoria-metrics not installed; skipped"; return 0; }
        victoria-metrics -httpListenAddr "127.0.0.1:$port" -storageDataPath "$dir/data" \
            -retentionPeriod 10y >"$logf" 2>&1 &
        pid=$!
        ready_url=http://127.0.0.1:$port/health
        [ "$VM_CACHE" = 1 ] || nocache=(--nocache)
        ;;
    prometheus)
        command -v prometheus >/dev/null || { log "prometheus not installed; skipped"; return 0; }
        printf 'global: {}\n' >"$dir/prometheus.yml"
        prometheus --config.file "$dir/prometheus.yml" --storage.tsdb.path "$dir/data" \
            --web.listen-address "127.0.0.1:$port" --web.enable-remote-write-receiver \
            --storage.tsdb.retention.time 10y --log.level warn >"$logf" 2>&1 &
        pid=$!
        ready_url=http://127.0.0.1:$port/-/ready
        ;;
    *) die "unknown peer $name" ;;
    esac
    PIDS[$pid]=1
    wait_http "$ready_url" "$pid" 60 || { tail -20 "$logf" >&2; die "$name did not become ready"; }
    base=http://127.0.0.1:$port
    write_url=$base/api/v1/write
    log "$name (pid $pid) ready on port $port; loading"
    load_peer "$name" "$write_url"
    case $name in
    victoria-metrics) curl -s --max-time 300 "$base/internal/force_flush" >/dev/null; sleep 2 ;;
    prometheus) settle_prometheus "$port" ;;
    sonde) if [ "$SONDE_SETTLE" = 0 ]; then sleep 2; else settle_sonde "$pid"; fi ;;
    *) sleep 2 ;;
    esac
    R_HELD[$name]=$(curl -s --max-time 120 --data-urlencode 'query=count({job="node"})' \
        --data-urlencode "time=$((LAST_MS / 1000))" "$base/api/v1/query" |
        python3 -c 'import json,sys
try: print(json.load(sys.stdin)["data"]["result"][0]["value"][1])
except Exception: print("?")')
    log "$name holds ${R_HELD[$name]} series with job=\"node\" (want $((SERIES + INSTANCES * 14)))"
    python3 "$HERE/query_bench.py" run "$name" "$base" --end "$QUERY_END" --reps "$REPS" \
        "${nocache[@]}" --out "$RESULTS"
    R_RSS[$name]=$(rss_kb "$pid")
    kill -0 "$pid" 2>/dev/null || die "$name died during the queries: $(tail -5 "$logf")"
    stop_pid "$pid" 120
}

for p in $PEERS; do run_peer "$p"; done

echo
echo "## range-query latency: $SERIES node_exporter series + $((INSTANCES * 14)) histogram series, ${HOURS} h every $((INTERVAL_MS / 1000)) s"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
echo "command: SERIES=$SERIES HOURS=$HOURS INTERVAL_MS=$INTERVAL_MS REPS=$REPS tests/bench/query_bench.sh"
echo
python3 "$HERE/query_bench.py" table "$RESULTS"
echo
echo "| peer | load s | samples/s while loading | series held | RSS MiB after queries |"
echo "|---|---:|---:|---:|---:|"
for p in $PEERS; do
    [ -n "${R_LOAD_S[$p]:-}" ] || continue
    echo "| $p | ${R_LOAD_S[$p]} | ${R_SPS[$p]} | ${R_HELD[$p]:-?} | $(awk -v k="${R_RSS[$p]:-0}" 'BEGIN {printf "%.0f", k / 1024}') |"
done
echo
echo "Latency is the client's wall time for one query_range request and its whole JSON body,"
echo "one request at a time over a keep-alive connection, after one unmeasured warm-up;"
echo "p50/p99 are nearest-rank over $REPS repetitions (with 20, p99 is the slowest)."
echo "Ratios are the peer's figure over sonde's (above 1: slower than sonde). Equal result digests"
echo "mean equal answers (labels, timestamps, values to 6 digits); VictoriaMetrics' topk differs by design."
if [[ " $PEERS " == *" victoria-metrics "* && "$VM_CACHE" != 1 ]]; then
    echo "VictoriaMetrics was asked with nocache=1 (no rollup result cache)."
fi
echo "Loading is chunked in time order (Prometheus' head window); samples/s there includes"
echo "rwload's and query_bench.py's own start-up per chunk and is not an ingest benchmark."
