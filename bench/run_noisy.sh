#!/usr/bin/env bash
# run_noisy.sh -- the noisy neighbour (issue 8, scenario 5): tenant B's
# event-to-delivery latency alone, then while tenant A sends 20 times B's
# rate through the same c360d, in the same run.
#
# Each tenant has a tsrc source routed to a tdst destination that delivers
# to the test sink (tests/fakes/fake_sink); c360-hook-load sends distinct
# signed events (body sent_ms = the sender's clock) and the sink records
# the first 2xx delivery of each (its clock: same machine), so latency is
# end to end: webhook in, stored, the source's event callback, the record,
# the delivery. Per repetition:
#   unloaded  B alone at --b-rate events/s for --phase seconds;
#   loaded    A at 20 x B's rate (32 connections) starts, 0.5 s later B
#             sends the same as before; then every event answered 200 of
#             both tenants must be delivered (A's backlog drains before the
#             next repetition).
# Every source event takes --work-ms (tsrc work_ms: a sleep standing for
# the provider call a real source makes): with W workers x T threads the
# host runs at most W x T x 1000 / work_ms events per second, and by
# default A's rate is above that, so A builds a backlog -- the case where
# a tenant can starve another. --work-ms 0 makes the flood a pure request
# rate (CPU contention between the load, c360d, Redis and the sink).
# Output: a JSON line per repetition and phase (count, p50, p90, p99, max
# of B's or A's latency, ms; sender's answers), then medians and the ratios
# B loaded / B unloaded (p50, p99): the aim is at most 2.
#
#   bench/run_noisy.sh [--build DIR] [--b-rate R] [--factor F] [--phase S]
#       [--work-ms MS] [--reps N] [--workers W] [--worker-threads T]
#       [--out FILE]
#   bench/run_noisy.sh --smoke --build DIR   (ctest bench_noisy_smoke: one
#       short repetition, checks that every event was delivered)
#
# Defaults: B 20/s, A 20 x B = 400/s, 10 s phases, work_ms 20, c360d with
# 2 workers x 2 threads (capacity 200 events/s), 3 repetitions.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BUILD=$root/build-bench
B_RATE=20
FACTOR=20
PHASE=10
WORK_MS=20
REPS=3
WORKERS=2
WORKER_THREADS=2
OUT=
SMOKE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$(cd "$2" && pwd); shift ;;
        --b-rate) B_RATE=$2; shift ;;
        --factor) FACTOR=$2; shift ;;
        --phase) PHASE=$2; shift ;;
        --work-ms) WORK_MS=$2; shift ;;
        --reps) REPS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --worker-threads) WORKER_THREADS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --smoke) SMOKE=1 ;;
        -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run_noisy.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMOKE" = 1 ]; then
    B_RATE=4; PHASE=3; WORK_MS=20; REPS=1; WORKERS=1; WORKER_THREADS=2
fi
A_RATE=$((B_RATE * FACTOR))

export C360D=$BUILD/host/c360d C360_BUILD_DIR=$BUILD
source "$root/tests/integration/lib.sh"
source "$root/tests/integration/pipeline_lib.sh"
source "$root/bench/bench_lib.sh"

RPORT=$(t_free_port)
t_start_redis "$RPORT"
p_start_sink
SA=noisy-secret-a
SB=noisy-secret-b
p_source tA s1 "$SA" "\"work_ms\":$WORK_MS"; p_dest tA d1; p_route tA s1 d1
p_source tB s2 "$SB" "\"work_ms\":$WORK_MS"; p_dest tB d2; p_route tB s2 d2
PORT=$(t_free_port)
p_config "$T_DIR/c360.json" "$PORT" "\"workers\":$WORKERS,\"worker_threads\":$WORKER_THREADS"
# The benchmark's c360d logs warnings only (the test config logs info).
sed -i 's/"log_level":"info"/"log_level":"warn"/' "$T_DIR/c360.json"
p_start_host c360d "$T_DIR/c360.json"
for c in "s1 $SA" "s2 $SB"; do
    set -- $c
    for _ in $(seq 100); do [ "$(p_post "$HOST_URL/hooks/tsrc/$1" "$2" "{\"id\":\"warm-$1\"}")" = 200 ] && break; sleep 0.1; done
    p_wait_distinct "warm-$1" 1 30
done

# lat PREFIX -- "count p50 p90 p99 max" of the prefix's delivery latency.
lat() {
    local s
    s=$(p_stats "prefix=$1&keys=0" | grep -o '"latency_ms":{[^}]*}')
    echo "$(p_num "$s" count) $(p_num "$s" p50) $(p_num "$s" p90) $(p_num "$s" p99) $(p_num "$s" max)"
}

# line PHASE TENANT REP PREFIX RATE LOADJSON -- a JSON line for one phase.
line() {
    local n p50 p90 p99 max
    read -r n p50 p90 p99 max <<<"$(lat "$4")"
    printf '{"phase":"%s","tenant":"%s","rep":%d,"rate":%d,"events":%d,"ok":%d,"delivered":%d,"p50_ms":%d,"p90_ms":%d,"p99_ms":%d,"max_ms":%d,"work_ms":%d,"workers":%d,"worker_threads":%d}\n' \
        "$1" "$2" "$3" "$5" "$(p_num "$6" sent)" "$(p_num "$6" ok)" "${n:-0}" "${p50:-0}" "${p90:-0}" \
        "${p99:-0}" "${max:-0}" "$WORK_MS" "$WORKERS" "$WORKER_THREADS" | tee -a "$T_DIR/runs.jsonl"
}

NB=$((B_RATE * PHASE))
NA=$((A_RATE * PHASE))
for rep in $(seq 1 "$REPS"); do
    # --- B alone -------------------------------------------------------------
    "$P_LOAD" --url "$HOST_URL/hooks/tsrc/s2" --secret "$SB" --count "$NB" --rate "$B_RATE" \
        --prefix "bu$rep-" --group B --ok-file "$T_DIR/ok-bu$rep.txt" >"$T_DIR/load-bu$rep.json" 2>&1 ||
        t_fail "load B unloaded"
    p_check_all_delivered "$T_DIR/ok-bu$rep.txt" "bu$rep-" 60
    line unloaded B "$rep" "bu$rep-" "$B_RATE" "$(tail -n 1 "$T_DIR/load-bu$rep.json")"

    # --- B while A floods ----------------------------------------------------
    "$P_LOAD" --url "$HOST_URL/hooks/tsrc/s1" --secret "$SA" --count "$NA" --rate "$A_RATE" \
        --concurrency 32 --prefix "fa$rep-" --group A --ok-file "$T_DIR/ok-fa$rep.txt" \
        >"$T_DIR/load-fa$rep.json" 2>&1 &
    LA=$!; T_PIDS+=("$LA")
    sleep 0.5
    "$P_LOAD" --url "$HOST_URL/hooks/tsrc/s2" --secret "$SB" --count "$NB" --rate "$B_RATE" \
        --prefix "bl$rep-" --group B --ok-file "$T_DIR/ok-bl$rep.txt" >"$T_DIR/load-bl$rep.json" 2>&1 ||
        t_fail "load B loaded"
    wait "$LA" || t_fail "load A"
    p_check_all_delivered "$T_DIR/ok-bl$rep.txt" "bl$rep-" 60
    # A's backlog drains before anything else is measured.
    p_check_all_delivered "$T_DIR/ok-fa$rep.txt" "fa$rep-" $((60 + NA * WORK_MS / 1000))
    line loaded B "$rep" "bl$rep-" "$B_RATE" "$(tail -n 1 "$T_DIR/load-bl$rep.json")"
    line flood A "$rep" "fa$rep-" "$A_RATE" "$(tail -n 1 "$T_DIR/load-fa$rep.json")"
done

# --- summary ------------------------------------------------------------------
col() { grep "\"phase\":\"$1\"" "$T_DIR/runs.jsonl" | while read -r l; do b_jnum "$l" "$2"; done | b_median 0; }
u50=$(col unloaded p50_ms); u99=$(col unloaded p99_ms)
l50=$(col loaded p50_ms); l99=$(col loaded p99_ms)
a50=$(col flood p50_ms); a99=$(col flood p99_ms)
r50=$(awk -v l="$l50" -v u="$u50" 'BEGIN{printf "%.2f", (u > 0 ? l / u : 0)}')
r99=$(awk -v l="$l99" -v u="$u99" 'BEGIN{printf "%.2f", (u > 0 ? l / u : 0)}')
SUMMARY=$(printf '{"summary":true,"reps":%d,"b_rate":%d,"a_rate":%d,"phase_s":%d,"work_ms":%d,"workers":%d,"worker_threads":%d,"b_unloaded_p50_ms":%s,"b_unloaded_p99_ms":%s,"b_loaded_p50_ms":%s,"b_loaded_p99_ms":%s,"a_p50_ms":%s,"a_p99_ms":%s,"ratio_p50":%s,"ratio_p99":%s}' \
    "$REPS" "$B_RATE" "$A_RATE" "$PHASE" "$WORK_MS" "$WORKERS" "$WORKER_THREADS" \
    "$u50" "$u99" "$l50" "$l99" "$a50" "$a99" "$r50" "$r99")
echo "$SUMMARY"
{
    printf '\n%-9s %-6s %4s %6s %7s %9s %8s %8s %8s %8s\n' phase tenant rep rate events delivered "p50 ms" "p90 ms" "p99 ms" "max ms"
    while read -r l; do
        printf '%-9s %-6s %4s %6s %7s %9s %8s %8s %8s %8s\n' \
            "$(grep -o '"phase":"[a-z]*"' <<<"$l" | cut -d'"' -f4)" "$(grep -o '"tenant":"[A-Z]"' <<<"$l" | cut -d'"' -f4)" \
            "$(b_jnum "$l" rep)" "$(b_jnum "$l" rate)" "$(b_jnum "$l" events)" "$(b_jnum "$l" delivered)" \
            "$(b_jnum "$l" p50_ms)" "$(b_jnum "$l" p90_ms)" "$(b_jnum "$l" p99_ms)" "$(b_jnum "$l" max_ms)"
    done <"$T_DIR/runs.jsonl"
    echo "medians of $REPS: B alone p50 $u50 ms p99 $u99 ms; B with A at ${FACTOR}x p50 $l50 ms p99 $l99 ms;" \
         "B loaded/unloaded p50 $r50, p99 $r99 (aim <= 2); A itself p50 $a50 ms p99 $a99 ms"
} >&2
if [ -n "$OUT" ]; then cat "$T_DIR/runs.jsonl" >"$OUT"; echo "$SUMMARY" >>"$OUT"; fi
