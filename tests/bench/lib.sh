# lib.sh - shell helpers shared by the benchmark scripts (sourced, not run).
# The sourcing script sets BENCH_DIR and KEEP and defines log() first. This
# file declares PIDS (servers the script started and has not yet seen exit)
# and installs the trap that kills them and removes BENCH_DIR on exit.

declare -A PIDS=() # servers we started and have not yet seen exit
cleanup() {
    for p in "${!PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "$KEEP" != 1 ]; then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { log "$*"; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL PID SECONDS: until URL answers 200, bounded.
wait_http() {
    local url=$1 pid=$2 n=$(( $3 * 10 ))
    for ((i = 0; i < n; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# stop_pid PID SECONDS: SIGTERM, SIGKILL after the timeout.
stop_pid() {
    local pid=$1 n=$(( $2 * 10 ))
    unset "PIDS[$pid]"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < n; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "pid $pid did not exit after SIGTERM in $2 s; SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_s() {
    local tck; tck=$(getconf CLK_TCK)
    # fields after the ")" of comm: utime is $12, stime $13 there
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v t="$tck" '{printf "%.2f", ($12 + $13) / t}'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
