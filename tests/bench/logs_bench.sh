#!/usr/bin/env bash
# logs_bench.sh - log ingest into sonde: Loki push (snappy protobuf) and OTLP
# logs (HTTP protobuf) with logload's LogHub lines; then stored bytes per line
# after a full offline compaction against raw / gzip -6 / zstd -3 of the same
# lines, and LogQL query_range latency over the ingested hour. Prints a
# markdown table.
#
# It builds sonde, logload and compactdb in $BUILD_DIR if one is missing
# (BUILD=0: never). For each run in RUNS (default "loki otlp", then the same
# with SAMPLING_ARGS appended to sonde's arguments): a fresh sonde on a fresh
# data dir on 127.0.0.1 and a free port, waits until it is ready, and then
#   - logload (every body built before its clock starts; lines/s counts lines
#     acknowledged: 204 for Loki, 200 less partial_success for OTLP, both
#     sent by sonde once the rows are in RocksDB's WAL);
#   - sonde's CPU seconds over the load (/proc/PID/stat);
#   - lines stored: sonde_logs_lines_total{outcome="kept"} from /metrics;
#   - for runs in QUERY_RUNS: LogQL query_range latency (logql_bench.py, one
#     warm-up and REPS runs of each query, one at a time);
#   - SIGTERM (sonde checkpoints and exits), compactdb on the RocksDB dir
#     (flush + forced full compaction of every column family with the
#     options sonde last wrote), du -sb of the whole data dir (SST files,
#     WAL, batch log, MANIFEST, RocksDB's info LOG).
# The lines logload sends are dumped once (--dump-lines, first run; the same
# SEED gives the same lines to every run) and compressed with gzip -6 and
# zstd -3 for the comparison.
# If sonde refuses SAMPLING_ARGS (the flag does not exist yet), the script
# says so and skips the sampling runs.
#
# Every server it starts is killed on exit, also on failure or Ctrl-C; every
# wait is bounded; all traffic goes to 127.0.0.1.
#
# Environment (defaults in brackets):
#   BUILD_DIR [<repo>/build]  SONDE, LOGLOAD, COMPACTDB  BUILD [1]
#   RUNS ["loki otlp"] (loki, loki-json, otlp)
#   REQUESTS [1000]  LINES_PER_REQ [1000]  (1M lines per run)
#   CONNS [4] (HTTP/1.1 connections, one request in flight each; at most 10)
#   SPAN_S [3600] (timestamps over the last hour)  SEED [1]
#   TS_JITTER [ns] (logload --ts-jitter: ns, ms or none; the raw-line comparison files hold
#             no such timestamps, sonde stores them: ns jitter costs it ~3 bytes per line)
#   DURATION_MAX [60] (seconds per load)
#   SAMPLING [1] (0: no sampling runs)  SAMPLING_ARGS ["--logs.sampling"]
#   QUERY_RUNS ["loki"] (runs whose data is queried; "" for none)  REPS [20]
#   SONDE_ARGS [""] (sonde always gets --logs.ingestion-rate/-burst 64GiB so
#                    that the per-tenant rate limit does not cut the load)
#   LOGHUB [/work/shared/conformance/loghub]  BENCH_DIR [mktemp -d]  KEEP [0]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SONDE=${SONDE:-$BUILD_DIR/sonde}
LOGLOAD=${LOGLOAD:-$BUILD_DIR/logload}
COMPACTDB=${COMPACTDB:-$BUILD_DIR/compactdb}
BUILD=${BUILD:-1}
RUNS=${RUNS:-"loki otlp"}
REQUESTS=${REQUESTS:-1000}
LINES_PER_REQ=${LINES_PER_REQ:-1000}
CONNS=${CONNS:-4}
SPAN_S=${SPAN_S:-3600}
TS_JITTER=${TS_JITTER:-ns}
SEED=${SEED:-1}
DURATION_MAX=${DURATION_MAX:-60}
SAMPLING=${SAMPLING:-1}
SAMPLING_ARGS=${SAMPLING_ARGS:---logs.sampling}
QUERY_RUNS=${QUERY_RUNS-loki}
REPS=${REPS:-20}
SONDE_ARGS=${SONDE_ARGS:-}
LOGHUB=${LOGHUB:-/work/shared/conformance/loghub}
KEEP=${KEEP:-0}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d -t sonde-logs-bench-XXXXXX)}
mkdir -p "$BENCH_DIR"
T_START=$(date +%s)

log() { echo "logs_bench: $*" >&2; }
# shared helpers: PIDS and the cleanup trap, die, free_port, wait_http,
# stop_pid, rss_kb, cpu_s, field
. "$HERE/lib.sh"

for t in curl python3 gzip zstd du; do
    command -v "$t" >/dev/null || die "$t is needed"
done
if [ ! -x "$SONDE" ] || [ ! -x "$LOGLOAD" ] || [ ! -x "$COMPACTDB" ]; then
    [ "$BUILD" = 1 ] || die "$SONDE, $LOGLOAD or $COMPACTDB missing (BUILD=0)"
    log "building sonde, logload and compactdb in $BUILD_DIR"
    [ -f "$BUILD_DIR/CMakeCache.txt" ] ||
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >&2
    cmake --build "$BUILD_DIR" -j2 --target sonde logload compactdb >&2
fi
for b in "$SONDE" "$LOGLOAD" "$COMPACTDB"; do [ -x "$b" ] || die "$b not found"; done
NCPU=$(nproc)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

RATE_ARGS="--logs.ingestion-rate 64GiB --logs.ingestion-burst 64GiB"
DUMP=$BENCH_DIR/lines.txt

declare -A R_RES R_CPU R_STORED R_DU0 R_DU R_SST R_SSTLOGS R_NOTE
declare -a DONE=() Q_LINES=()
SAMPLING_NOTE=""

# start_sonde NAME EXTRA_ARGS: sets S_PID, S_PORT, S_DIR; returns 1 (with the
# log's tail in S_ERR) when sonde exits before it is ready
start_sonde() {
    local name=$1 extra=$2 logf
    S_PORT=$(free_port)
    S_DIR=$BENCH_DIR/$name
    logf=$BENCH_DIR/$name.log
    rm -rf "$S_DIR"
    mkdir -p "$S_DIR"
    # shellcheck disable=SC2086
    "$SONDE" --data-dir "$S_DIR" --listen "127.0.0.1:$S_PORT" $RATE_ARGS $SONDE_ARGS $extra \
        >"$logf" 2>&1 &
    S_PID=$!
    PIDS[$S_PID]=1
    if ! wait_http "http://127.0.0.1:$S_PORT/-/ready" "$S_PID" 60; then
        S_ERR=$(grep -m1 -v '^[[:space:]]*$' "$logf" || echo "no output")
        if kill -0 "$S_PID" 2>/dev/null; then
            stop_pid "$S_PID" 10
            die "$name: sonde did not become ready in 60 s: $S_ERR"
        fi
        wait "$S_PID" 2>/dev/null || true
        unset "PIDS[$S_PID]"
        return 1
    fi
}

# lines stored: sonde_logs_lines_total{outcome="kept"} on /metrics (index/stats counts a
# sampled line as many lines as its rate, as Loki's entries are lines ingested)
stored_lines() {
    local res
    res=$(curl -s --max-time 60 "http://127.0.0.1:$1/metrics")
    python3 -c 'import sys
v = [l.split()[-1] for l in sys.argv[1].splitlines()
     if l.startswith("sonde_logs_lines_total{outcome=\"kept\"}")]
print(int(float(v[0])) if v else "?")' "$res"
}

# the RocksDB directory under a data dir (the one holding CURRENT)
rocks_dir() {
    local d
    d=$(find "$1" -maxdepth 3 -name CURRENT -printf '%h\n' | head -1)
    [ -n "$d" ] || die "no RocksDB directory (CURRENT) under $1"
    echo "$d"
}

# run_one NAME PROTO EXTRA_ARGS: one load on a fresh sonde; returns 2 when
# sonde refused EXTRA_ARGS
run_one() {
    local name=$1 proto=$2 extra=$3 res out dump_args=() cpu0 cpu1
    if ! start_sonde "$name" "$extra"; then
        [ -n "$extra" ] && { R_NOTE[$name]=$S_ERR; return 2; }
        die "$name: sonde exited before it was ready: $S_ERR"
    fi
    [ -f "$DUMP" ] || dump_args=(--dump-lines "$DUMP")
    log "$name: sonde pid $S_PID on port $S_PORT${extra:+ ($extra)}; running logload --proto $proto"
    cpu0=$(cpu_s "$S_PID")
    out=$("$LOGLOAD" --url "http://127.0.0.1:$S_PORT" --proto "$proto" --requests "$REQUESTS" \
        --lines-per-request "$LINES_PER_REQ" --conns "$CONNS" --span-s "$SPAN_S" --ts-jitter "$TS_JITTER" --seed "$SEED" \
        --duration-max "$DURATION_MAX" --loghub "$LOGHUB" --label "$name" "${dump_args[@]}" 2>&1) || true
    cpu1=$(cpu_s "$S_PID")
    echo "$out" >&2
    res=$(grep '^RESULT ' <<<"$out" | tail -1)
    [ -n "$res" ] || die "$name: logload printed no RESULT line"
    R_RES[$name]=$res
    R_CPU[$name]=$(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN {printf "%.2f", a - b}')
    local t0 t1
    t0=$(field ts_min_ns "$res")
    t1=$(field ts_max_ns "$res")
    R_STORED[$name]=$(stored_lines "$S_PORT" "$t0" "$t1")
    case " $QUERY_RUNS " in *" $name "*) run_queries "$name" "$t0" "$t1" ;; esac
    stop_pid "$S_PID" 120
    local rd
    rd=$(rocks_dir "$S_DIR")
    R_DU0[$name]=$(du -sb "$S_DIR" | cut -f1)
    log "$name: compacting $rd"
    "$COMPACTDB" "$rd" >"$BENCH_DIR/$name.compact" || die "$name: compactdb failed"
    R_SST[$name]=$(awk '/^total/ {print $5}' "$BENCH_DIR/$name.compact")
    R_SSTLOGS[$name]=$(awk '$1 == "cf" && $2 == "logs" {print $6}' "$BENCH_DIR/$name.compact")
    R_DU[$name]=$(du -sb "$S_DIR" | cut -f1)
    DONE+=("$name")
    log "$name: $(field lines_per_s "$res") lines/s, stored ${R_STORED[$name]}, data dir ${R_DU0[$name]} -> ${R_DU[$name]} bytes after compaction"
    return 0
}

# LogQL latency over the run's hour: a line filter (limit 100, backward) and
# a metric query aggregating a level extracted from the line, 60 s step.
run_queries() {
    local name=$1 t0=$2 t1=$3 end start q
    # the hour that ends on the whole minute after the last line
    end=$(( (t1 / 60000000000 + 1) * 60000000000 ))
    start=$(( end - 3600000000000 ))
    local -a names=(filter_zookeeper_exception sum_by_level_regexp)
    local -a queries=('{service_name="Zookeeper"} |= "Exception"'
        'sum by (level) (count_over_time({service_namespace="loghub"} | regexp "\\b(?P<level>INFO|WARN|ERROR|FATAL|DEBUG|TRACE)\\b" [1m]))')
    for i in 0 1; do
        q=${queries[$i]}
        log "$name: LogQL ${names[$i]}: $q"
        local line
        line=$(python3 "$HERE/logql_bench.py" "http://127.0.0.1:$S_PORT" "${names[$i]}" "$q" \
            --start "$start" --end "$end" --step 60 --limit 100 --reps "$REPS" --timeout 120) || true
        [ -n "$line" ] || line="LOGQL name=${names[$i]} p50_ms=? p99_ms=? errors=?"
        log "$line"
        Q_LINES+=("$name|$q|$line")
    done
}

for r in $RUNS; do
    case $r in loki | loki-json | otlp) ;; *) die "unknown run $r (loki, loki-json, otlp)" ;; esac
    run_one "$r" "$r" ""
done
if [ "$SAMPLING" = 1 ] && [ -n "$SAMPLING_ARGS" ]; then
    for r in $RUNS; do
        rc=0
        run_one "$r-sampling" "$r" "$SAMPLING_ARGS" || rc=$?
        if [ "$rc" = 2 ]; then
            SAMPLING_NOTE="sonde refused \`$SAMPLING_ARGS\` (${R_NOTE[$r-sampling]:-exited}); the sampling runs were skipped"
            log "$SAMPLING_NOTE"
            break
        fi
    done
fi

# raw lines against gzip -6 and zstd -3 of the same bytes
[ -f "$DUMP" ] || die "no dumped lines"
NLINES=$(wc -l <"$DUMP")
RAW=$(stat -c %s "$DUMP")
GZ=$(gzip -6 -c "$DUMP" | wc -c)
ZS=$(zstd -3 -q -c "$DUMP" | wc -c)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
T_END=$(date +%s)

fmt() { awk -v x="$1" 'BEGIN { if (x == "" || x == "?") print "?"; else { s = sprintf("%.0f", x); n = ""; while (length(s) > 3) { n = "," substr(s, length(s) - 2) n; s = substr(s, 1, length(s) - 3) }; print s n } }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { if (b + 0 > 0 && a != "?") printf f, a / b; else print "-" }'; }

echo
echo "## Log ingest: logload against sonde, $CONNS HTTP/1.1 connections, $LINES_PER_REQ lines per request"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, logload and sonde on the same CPUs; load average before $LOAD_BEFORE, after $LOAD_AFTER; $(( T_END - T_START )) s in all"
echo "command: REQUESTS=$REQUESTS LINES_PER_REQ=$LINES_PER_REQ CONNS=$CONNS SPAN_S=$SPAN_S TS_JITTER=$TS_JITTER SEED=$SEED RUNS=\"$RUNS\" SAMPLING=$SAMPLING SAMPLING_ARGS=\"$SAMPLING_ARGS\" REPS=$REPS tests/bench/logs_bench.sh"
echo
echo "| run | sonde args | lines acked | failed requests | lines/s | vs 1M/s | p50 ms | p99 ms | sonde CPU s | lines per sonde CPU s | logload CPU s | lines stored | data dir after load | after compaction | bytes/line | vs zstd -3 | SST bytes/line (logs CF) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
ZS_PL=$(div "$ZS" "$NLINES" "%.2f")
RAW_PL=$(div "$RAW" "$NLINES" "%.4f")
for name in "${DONE[@]}"; do
    res=${R_RES[$name]}
    ok=$(field lines_ok "$res")
    lps=$(field lines_per_s "$res")
    args="-"
    case $name in *-sampling) args="\`$SAMPLING_ARGS\`" ;; esac
    note=""
    [ "$(field complete "$res")" = 1 ] || note=" (cut at DURATION_MAX)"
    bpl=$(div "${R_DU[$name]}" "$ok" "%.2f")
    echo "| $(field proto "$res")$note | $args | $(fmt "$ok") | $(field requests_failed "$res") | $(fmt "$lps") | $(div "$lps" 1000000 "%.2f") | $(field p50_ms "$res") | $(field p99_ms "$res") | ${R_CPU[$name]} | $(fmt "$(div "$ok" "${R_CPU[$name]}" "%.0f")") | $(field gen_cpu_s "$res") | $(fmt "${R_STORED[$name]}") | $(fmt "${R_DU0[$name]}") | $(fmt "${R_DU[$name]}") | $bpl | $(div "$bpl" "$ZS_PL" "%.2f") | $(div "${R_SST[$name]}" "$ok" "%.2f") ($(div "${R_SSTLOGS[$name]:-?}" "$ok" "%.2f")) |"
done
echo
echo "Same lines, as a file (one per line, $(fmt "$NLINES") lines, \`--dump-lines\`):"
echo
echo "| form | bytes | bytes/line | vs raw |"
echo "|---|---:|---:|---:|"
echo "| raw | $(fmt "$RAW") | $(div "$RAW" "$NLINES" "%.2f") | 1.00 |"
echo "| gzip -6 | $(fmt "$GZ") | $(div "$GZ" "$NLINES" "%.2f") | $(div "$GZ" "$RAW" "%.3f") |"
echo "| zstd -3 | $(fmt "$ZS") | $ZS_PL | $(div "$ZS" "$RAW" "%.3f") |"
for name in "${DONE[@]}"; do
    ok=$(field lines_ok "${R_RES[$name]}")
    bpl=$(div "${R_DU[$name]}" "$ok" "%.4f")
    echo "| sonde, $name (data dir after compaction) | $(fmt "${R_DU[$name]}") | $(div "${R_DU[$name]}" "$ok" "%.2f") | $(div "$bpl" "$RAW_PL" "%.3f") |"
done
echo
if [ "${#Q_LINES[@]}" -gt 0 ]; then
    echo "LogQL \`query_range\` over the ingested hour (one warm-up, then $REPS runs one at a time; nearest-rank p50/p99):"
    echo
    echo "| data | query | p50 ms | p99 ms | errors | result |"
    echo "|---|---|---:|---:|---:|---|"
    for e in "${Q_LINES[@]}"; do
        name=${e%%|*}
        rest=${e#*|}
        q=${rest%|*}
        line=${rest##*|}
        rt=$(field result_type "$line")
        if [ "$rt" = streams ]; then
            what="$(field entries "$line") lines in $(field series "$line") streams (limit 100)"
        else
            what="$(field series "$line") series, $(field points "$line") points, $(fmt "$(field total "$line")") lines counted (1 h, step 60 s)"
        fi
        echo "| $name | \`${q//|/\\|}\` | $(field p50_ms "$line") | $(field p99_ms "$line") | $(field errors "$line") | $what |"
    done
    echo
fi
echo "lines/s: lines acknowledged (Loki 204, OTLP 200 less partial_success) per second of logload's"
echo "sending phase; sonde answers once the rows are in RocksDB's WAL. Target: 1,000,000 lines/s end to"
echo "end on this machine. bytes/line: \`du -sb\` of the whole data dir after SIGTERM and a forced full"
echo "compaction of every column family (compactdb), divided by the lines acknowledged; target: below"
echo "zstd -3 of the raw lines without sampling (vs zstd -3 < 1). SST bytes/line: RocksDB's"
echo "total-sst-files-size after the compaction (all families; in brackets the \`logs\` family alone)."
[ -n "$SAMPLING_NOTE" ] && echo "Sampling: $SAMPLING_NOTE."
for name in "${DONE[@]}"; do
    case $name in *-sampling)
        if [ "${R_STORED[$name]}" = "$(field lines_ok "${R_RES[$name]}")" ]; then
            echo "$name: sampling kept every line (a load shorter than the sampling interval ends before rates adapt; see --logs.sampling.interval)."
        fi ;;
    esac
done
peers=""
for p in loki victoria-logs; do command -v "$p" >/dev/null && peers="$peers $p"; done
if [ -z "$peers" ]; then
    echo "Peers: neither \`loki\` nor \`victoria-logs\` is installed on this machine: no ratio to them."
else
    echo "Peers installed but not run by this script:$peers."
fi
