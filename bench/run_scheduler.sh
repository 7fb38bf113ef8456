#!/usr/bin/env bash
# run_scheduler.sh -- the scheduler at scale (issue 8, scenario 3).
#
# N connections of the btick bench plugin (bench/plugins/btick.c) ticking
# every PERIOD seconds through the real c360d and one redis-server:
#
#   1. seed: connection c0 through c360-seed (the registry, as the admin API
#      would), the other N-1 pipelined by c360-bench-sched seed (same hash
#      fields -- checked against c0 -- indexes and due set member);
#   2. c360-bench-sched watch records every due time the scheduler sets
#      (the due set's scores, read a little ahead of time), while btick
#      appends every run to a log ("member unix-ms");
#   3. c360d starts; its first claims spread the never-ticked connections
#      over one period (the import case); the measured window [W0, W1)
#      starts --warmup periods (default 1, +2 s) after the last of them was
#      spread, so every connection has ticked once and its next due time
#      was recorded, and lasts --measure periods;
#   4. c360-bench-sched analyze: lateness of each run after its due time
#      (p50/p99/max), due times in the window vs runs (must be equal: no
#      missed tick, no duplicate, no run without a due time, no connection
#      ticking twice within its interval -- else exit 1);
#   5. CPU of c360d (utime+stime of the master, its zygote and workers,
#      /proc) and of redis-server between W0 and W1, per 1 000 ticks run;
#      RSS (and PSS) of every c360d process at W1.
# The same is done for N/10 connections (measured one period): bytes per
# connection = (RSS total with N - RSS total with N/10) / (N - N/10), the
# same for PSS and Redis used_memory. --reps runs of both, medians. The
# marginal CPU per 1 000 ticks (what N costs per second beyond N/10, over
# the extra ticks per second) leaves out what the host spends when nothing
# is due. With C360_BENCH_DIAG=1 the enqueue time of every tick is also
# kept (<dir>/enqueued.txt, with T_KEEP=1) to split lateness into claim
# and worker pick-up.
#
#   bench/run_scheduler.sh [--build DIR] [--count N] [--tenants T]
#       [--period S] [--measure K] [--warmup P] [--reps R] [--workers W]
#       [--worker-threads T] [--small-div D] [--grace S] [--out FILE]
#   bench/run_scheduler.sh --smoke --build DIR   (ctest bench_scheduler_smoke:
#       100 connections, 2 s period, a one-period window; checks exactness)
#
# Defaults: N 100000, T 100 tenants, PERIOD 60 s, K 2, warmup 1, R 3, c360d with
# workers 2 x 4 threads, D 10. A run takes about (2 + warmup + K) x PERIOD + the
# spread (~20 s for 100 000 connections) for N, 3 x PERIOD for N/10. PERIOD
# shorter than 60 s (>= 1) is for quick looks: the host's tick floor is set
# to 1 s for the benchmark (config pipeline.tick_floor_s).
#
# Build (Release, no sanitizers):
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DC360_BENCH=ON
#   cmake --build build-bench -j2
#   bench/run_scheduler.sh --build build-bench --out sched.jsonl
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BUILD=$root/build-bench
COUNT=100000
TENANTS=100
PERIOD=60
MEASURE=2
WARMUP=1
REPS=3
WORKERS=2
WORKER_THREADS=4
SMALL_DIV=10
GRACE=
OUT=
SMOKE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$(cd "$2" && pwd); shift ;;
        --count) COUNT=$2; shift ;;
        --tenants) TENANTS=$2; shift ;;
        --period) PERIOD=$2; shift ;;
        --measure) MEASURE=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --reps) REPS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --worker-threads) WORKER_THREADS=$2; shift ;;
        --small-div) SMALL_DIV=$2; shift ;;
        --grace) GRACE=$2; shift ;;
        --out) OUT=$2; shift ;;
        --smoke) SMOKE=1 ;;
        -h|--help) sed -n '2,49p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run_scheduler.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMOKE" = 1 ]; then
    COUNT=100; TENANTS=4; PERIOD=2; MEASURE=1; REPS=1; WORKERS=1; WORKER_THREADS=2
    GRACE=${GRACE:-3}
fi
GRACE=${GRACE:-$((PERIOD < 10 ? 5 : 10))}
SMALL=$((COUNT / SMALL_DIV))
[ "$PERIOD" -ge 1 ] && [ "$COUNT" -ge 20 ] && [ "$SMALL" -ge 2 ] && [ "$TENANTS" -ge 2 ] ||
    { echo "run_scheduler.sh: need --period >= 1, --count >= 20, count/small-div >= 2, --tenants >= 2" >&2; exit 2; }

export C360D=$BUILD/host/c360d C360_BUILD_DIR=$BUILD
source "$root/tests/integration/lib.sh"
source "$root/bench/bench_lib.sh"

SCHED=$BUILD/bench/c360-bench-sched
SEED=$BUILD/tests/tools/c360-seed
PLUGINS=$BUILD/bench/plugins
for f in "$SCHED" "$SEED" "$C360D" "$PLUGINS/btick.so"; do
    [ -e "$f" ] || t_fail "missing $f: build the target c360-bench-scale (or configure with -DC360_BENCH=ON)"
done
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
CLK_TCK=$(getconf CLK_TCK)
PAGE_KB=$(( $(getconf PAGESIZE) / 1024 ))

RPORT=$(t_free_port)
t_start_redis "$RPORT"
R() { redis-cli -p "$RPORT" "$@"; }

# The watcher must see a due time before it passes: it looks ahead less
# than a period (a due time is set a period ahead), several times within
# its lookahead.
AHEAD=$((PERIOD * 1000 / 2)); [ "$AHEAD" -gt 3000 ] && AHEAD=3000
EVERY=$((AHEAD / 4)); [ "$EVERY" -gt 200 ] && EVERY=200

redis_cpu() { R INFO cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'; }
redis_mem() { R INFO memory | awk -F: '/^used_memory:/ {gsub(/\r/, "", $2); print $2}'; }

# metric NAME -- a counter of c360d's /metrics.
metric() { curl -s -m 5 "$HOST_URL/metrics" | awk -v n="$1" '$1 == n {print $2}'; }

# run_case N MEASURE_PERIODS WARMUP_PERIODS LABEL REP -- one run; appends
# its JSON line to $T_DIR/runs.jsonl; returns 1 when the ticks were not
# exact.
run_case() {
    local n=$1 k=$2 warm=$3 label=$4 rep=$5 dir=$T_DIR/$4-$5
    mkdir -p "$dir"
    R FLUSHALL >/dev/null
    local mem0; mem0=$(redis_mem)

    # 1. Seed.
    local t0; t0=$(b_now_ms)
    "$SEED" --redis "redis://127.0.0.1:$RPORT" conn bt0 c0 btick '{}' --interval "$PERIOD" --ticks 1 \
        >"$dir/seed.log" 2>&1 || t_fail "c360-seed: $(tail -n 3 "$dir/seed.log")"
    "$SCHED" seed --redis "127.0.0.1:$RPORT" --count "$n" --tenants "$TENANTS" --plugin btick \
        --interval "$PERIOD" --skip 1 >>"$dir/seed.log" 2>&1 || t_fail "seed: $(tail -n 3 "$dir/seed.log")"
    local seed_ms=$(( $(b_now_ms) - t0 ))
    # The pipelined connections look like the registry's own (c1 is in
    # tenant bt1: connection i goes to tenant i % T).
    [ "$(R HKEYS 'c360:{t:bt0}:conn:c0' | sort | tr '\n' ' ')" = \
      "$(R HKEYS 'c360:{t:bt1}:conn:c1' | sort | tr '\n' ' ')" ] ||
        t_fail "seeded connection hash differs from the registry's: $(R HKEYS 'c360:{t:bt0}:conn:c0' | tr '\n' ' ')"
    [ "$(R ZCARD 'c360:{sched}:due')" = "$n" ] || t_fail "due set has $(R ZCARD 'c360:{sched}:due') members, not $n"
    local first_score; first_score=$(R ZSCORE 'c360:{sched}:due' bt1/c1)

    # 2. Watch the due times, 3. start c360d.
    "$SCHED" watch --redis "127.0.0.1:$RPORT" --out "$dir/dues.txt" --lookahead-ms "$AHEAD" \
        --every-ms "$EVERY" 2>"$dir/watch.log" &
    local watch=$!
    T_PIDS+=("$watch")
    local port; port=$(t_free_port)
    cat >"$dir/c360d.json" <<JSON
{"listen":"127.0.0.1:$port","redis":{"url":"redis://127.0.0.1:$RPORT"},"plugin_dirs":["$PLUGINS"],
 "data_dir":"$dir/data","log_level":"warn","shutdown_timeout_ms":3000,
 "pipeline":{"workers":$WORKERS,"worker_threads":$WORKER_THREADS,"tick_floor_s":1}}
JSON
    : >"$dir/runs.txt"
    export C360_BENCH_TICK_LOG=$dir/runs.txt
    t_start_c360d "c360d-$label-$rep" --config "$dir/c360d.json"
    unset C360_BENCH_TICK_LOG
    HOST_PID=$C360D_PID
    HOST_URL=http://127.0.0.1:$port
    local start_ms; start_ms=$(b_now_ms)
    t_wait_http "$HOST_URL/readyz" 200 300

    # Spread: every member has left its seeding score (the first claims
    # moved it to claim time + a random offset below one period).
    local deadline=$((SECONDS + 120 + n / 500)) left
    while :; do
        left=$(R ZCOUNT 'c360:{sched}:due' -inf "$first_score")
        [ "$left" = 0 ] && break
        [ "$SECONDS" -gt "$deadline" ] && t_fail "$left of $n connections never claimed"
        sleep 0.2
    done
    local spread_ms=$(( $(b_now_ms) - start_ms ))
    local w0=$(( $(b_now_ms) + warm * PERIOD * 1000 + 2000 ))
    local w1=$(( w0 + k * PERIOD * 1000 ))
    sleep "$(awk -v d=$((w0 - $(b_now_ms))) 'BEGIN{printf "%.3f", (d > 0 ? d : 0) / 1000}')"

    # 4. The window.
    local pids cpu0 cpu1 rcpu0 rcpu1 due0 due1 run0 run1
    pids=$(b_tree_pids "$HOST_PID" | tr '\n' ' ')
    cpu0=$(b_cpu_sum $pids); rcpu0=$(redis_cpu)
    R INFO commandstats >"$dir/cmdstats0.txt"
    due0=$(metric c360_ticks_due_total); run0=$(metric c360_ticks_run_total)
    sleep "$(awk -v d=$((w1 - $(b_now_ms))) 'BEGIN{printf "%.3f", (d > 0 ? d : 0) / 1000}')"
    cpu1=$(b_cpu_sum $pids); rcpu1=$(redis_cpu)
    R INFO commandstats >"$dir/cmdstats1.txt"
    due1=$(metric c360_ticks_due_total); run1=$(metric c360_ticks_run_total)
    # Memory at W1: every connection has ticked at least once.
    local p rss pss role rss_json="" sep="" rss_total=0 pss_total=0 i=0
    for p in $pids; do
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        pss=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        if [ "$p" = "$HOST_PID" ]; then role=master
        elif [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$HOST_PID" ]; then role=zygote
        else role=worker$i; i=$((i + 1)); fi
        rss_json+="$sep\"$role\":${rss:-0}"; sep=","
        rss_total=$((rss_total + ${rss:-0})); pss_total=$((pss_total + ${pss:-0}))
    done
    local mem1; mem1=$(redis_mem)
    sleep "$GRACE"
    t_stop_pid "$HOST_PID"
    # Diagnostics (C360_BENCH_DIAG=1): when each tick was enqueued, "member
    # ms" from the tenants' stream entries (id ms = the claim's XADD), to
    # tell a late claim from a late pick-up by the workers.
    if [ "${C360_BENCH_DIAG:-0}" = 1 ]; then
        for t in $(seq 0 $((TENANTS - 1))); do
            R XRANGE "c360:{t:bt$t}:ev" - + | awk -v t="bt$t" '
                /^[0-9]+-[0-9]+$/ {split($0, a, "-"); ms = a[1]; next}
                prev == "c" {print t "/" $0, ms} {prev = $0}'
        done >"$dir/enqueued.txt"
    fi
    kill -TERM "$watch" 2>/dev/null || true
    local wrc=0; wait "$watch" || wrc=$?
    [ "$wrc" = 0 ] || t_fail "the due-time watcher fell behind or failed: $(cat "$dir/watch.log")"

    # 5. Analysis.
    local a arc=0 inner
    a=$("$SCHED" analyze --dues "$dir/dues.txt" --runs "$dir/runs.txt" --from "$w0" --to "$w1" \
        --interval-ms $((PERIOD * 1000)) --lateness-out "$dir/lateness.txt") || arc=$?
    [ -n "$a" ] || t_fail "analyze failed"
    inner=${a#\{}; inner=${inner%\}}
    local ticks cpu_s rcpu_s
    ticks=$(grep -o '"run":[0-9]*' <<<"$a" | cut -d: -f2)
    cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", (b - a) / hz}')
    rcpu_s=$(awk -v a="$rcpu0" -v b="$rcpu1" 'BEGIN{printf "%.2f", b - a}')
    local line
    line=$(printf '{"case":"%s","rep":%d,"connections":%d,"tenants":%d,"period_s":%d,"warmup_s":%d,"window_s":%d,%s,"cpu_s":%s,"cpu_ms_per_1000_ticks":%s,"redis_cpu_s":%s,"redis_cpu_ms_per_1000_ticks":%s,"metrics_ticks_due":%d,"metrics_ticks_run":%d,"rss_kb":{%s},"rss_total_kb":%d,"pss_total_kb":%d,"redis_used_memory":%d,"seed_ms":%d,"spread_ms":%d,"workers":%d,"worker_threads":%d}' \
        "$label" "$rep" "$n" "$TENANTS" "$PERIOD" $((warm * PERIOD)) $((k * PERIOD)) "$inner" \
        "$cpu_s" "$(awk -v c="$cpu_s" -v t="$ticks" 'BEGIN{printf "%.1f", (t > 0 ? c * 1e6 / t : 0)}')" \
        "$rcpu_s" "$(awk -v c="$rcpu_s" -v t="$ticks" 'BEGIN{printf "%.1f", (t > 0 ? c * 1e6 / t : 0)}')" \
        $(( ${due1:-0} - ${due0:-0} )) $(( ${run1:-0} - ${run0:-0} )) "$rss_json" "$rss_total" "$pss_total" \
        $(( mem1 - mem0 )) "$seed_ms" "$spread_ms" "$WORKERS" "$WORKER_THREADS")
    echo "$line" | tee -a "$T_DIR/runs.jsonl"
    return "$arc"
}

bad=0
for rep in $(seq 1 "$REPS"); do
    run_case "$COUNT" "$MEASURE" "$WARMUP" full "$rep" || bad=1
    # Memory only: every connection has ticked once.
    run_case "$SMALL" 1 1 small "$rep" || bad=1
done

# --- summary ------------------------------------------------------------------
col() { local c=$1 f=$2; grep "\"case\":\"$c\"" "$T_DIR/runs.jsonl" | while read -r l; do b_jnum "$l" "$f"; done | b_median 0; }
bpc() { # bytes per connection of FIELD (kB or bytes by SCALE), per rep, median
    local f=$1 scale=$2 r full small
    for r in $(seq 1 "$REPS"); do
        full=$(grep "\"case\":\"full\",\"rep\":$r," "$T_DIR/runs.jsonl" | head -n 1)
        small=$(grep "\"case\":\"small\",\"rep\":$r," "$T_DIR/runs.jsonl" | head -n 1)
        awk -v a="$(b_jnum "$full" "$f")" -v b="$(b_jnum "$small" "$f")" -v n=$((COUNT - SMALL)) -v s="$scale" \
            'BEGIN{printf "%.0f\n", (a - b) * s / n}'
    done | b_median 0
}
BPC_RSS=$(bpc rss_total_kb 1024); BPC_PSS=$(bpc pss_total_kb 1024); BPC_REDIS=$(bpc redis_used_memory 1)
# The marginal CPU of a tick: what the N run used per second beyond the
# N/10 run, over the ticks per second it ran beyond it. (Per 1 000 ticks
# of one run includes what the host spends when nothing is due -- workers
# polling their tenants' streams -- which does not grow with the ticks.)
marginal() { # FIELD -- ms per 1 000 ticks, per rep, median
    local f=$1 r full small
    for r in $(seq 1 "$REPS"); do
        full=$(grep "\"case\":\"full\",\"rep\":$r," "$T_DIR/runs.jsonl" | head -n 1)
        small=$(grep "\"case\":\"small\",\"rep\":$r," "$T_DIR/runs.jsonl" | head -n 1)
        awk -v cf="$(b_jnum "$full" "$f")" -v tf="$(b_jnum "$full" run)" -v wf="$(b_jnum "$full" window_s)" \
            -v cs="$(b_jnum "$small" "$f")" -v ts="$(b_jnum "$small" run)" -v ws="$(b_jnum "$small" window_s)" \
            'BEGIN{d = tf / wf - ts / ws; printf "%.1f\n", (d > 0 ? (cf / wf - cs / ws) * 1e6 / d : 0)}'
    done | b_median 0
}
MARG_CPU=$(marginal cpu_s); MARG_REDIS=$(marginal redis_cpu_s)
SUMMARY=$(printf '{"summary":true,"connections":%d,"small":%d,"period_s":%d,"reps":%d,"lateness_p50_ms":%s,"lateness_p99_ms":%s,"lateness_max_ms":%s,"due":%s,"run":%s,"exact":%s,"cpu_ms_per_1000_ticks":%s,"redis_cpu_ms_per_1000_ticks":%s,"cpu_ms_per_1000_ticks_marginal":%s,"redis_cpu_ms_per_1000_ticks_marginal":%s,"rss_total_kb":%s,"rss_total_kb_small":%s,"bytes_per_conn_rss":%s,"bytes_per_conn_pss":%s,"redis_bytes_per_conn":%s}' \
    "$COUNT" "$SMALL" "$PERIOD" "$REPS" "$(col full lateness_p50_ms)" "$(col full lateness_p99_ms)" \
    "$(col full lateness_max_ms)" "$(col full due)" "$(col full run)" "$([ "$bad" = 0 ] && echo true || echo false)" \
    "$(col full cpu_ms_per_1000_ticks)" "$(col full redis_cpu_ms_per_1000_ticks)" "$MARG_CPU" "$MARG_REDIS" \
    "$(col full rss_total_kb)" "$(col small rss_total_kb)" "$BPC_RSS" "$BPC_PSS" "$BPC_REDIS")
echo "$SUMMARY"
{
    printf '\n%-6s %4s %8s %9s %9s %9s %8s %8s %5s %10s %10s %10s\n' case rep conns "p50 ms" "p99 ms" "max ms" due run exact "cpu ms/1k" "redis/1k" "rss kB"
    while read -r l; do
        printf '%-6s %4s %8s %9s %9s %9s %8s %8s %5s %10s %10s %10s\n' \
            "$(grep -o '"case":"[a-z]*"' <<<"$l" | cut -d'"' -f4)" "$(b_jnum "$l" rep)" "$(b_jnum "$l" connections)" \
            "$(b_jnum "$l" lateness_p50_ms)" "$(b_jnum "$l" lateness_p99_ms)" "$(b_jnum "$l" lateness_max_ms)" \
            "$(b_jnum "$l" due)" "$(b_jnum "$l" run)" "$(grep -o '"exact":[a-z]*' <<<"$l" | cut -d: -f2)" \
            "$(b_jnum "$l" cpu_ms_per_1000_ticks)" "$(b_jnum "$l" redis_cpu_ms_per_1000_ticks)" "$(b_jnum "$l" rss_total_kb)"
    done <"$T_DIR/runs.jsonl"
    echo "medians of $REPS: lateness p50 $(col full lateness_p50_ms) ms, p99 $(col full lateness_p99_ms) ms (target < 1000);" \
         "host CPU $(col full cpu_ms_per_1000_ticks) ms per 1000 ticks (Redis $(col full redis_cpu_ms_per_1000_ticks) ms)," \
         "marginal $MARG_CPU ms (Redis $MARG_REDIS ms);" \
         "bytes per connection: RSS $BPC_RSS, PSS $BPC_PSS, Redis $BPC_REDIS ($COUNT vs $SMALL connections)"
} >&2
if [ -n "$OUT" ]; then cat "$T_DIR/runs.jsonl" >"$OUT"; echo "$SUMMARY" >>"$OUT"; fi
if [ "$bad" != 0 ]; then
    echo "run_scheduler.sh: ticks were not exact (due != run, a miss, a duplicate or a double tick): see the lines above" >&2
    exit 1
fi
