#!/usr/bin/env bash
# ratelimit_two_process.sh -- two processes (4 threads each) hammer one
# rate-limit bucket in one redis-server for 5 s. Each thread sleeps the wait
# it is told. The combined rate of allowed takes, once the initial burst is
# subtracted, must not exceed the bucket's limit by more than 5 %: the budget
# holds across processes (and so across hosts); and it must reach 80 % of
# it: the waits are accurate enough that the budget is used, not wasted.
source "$(dirname "$0")/lib.sh"
: "${C360_BUILD_DIR:?}"
HAMMER=${C360_RL_HAMMER:-$C360_BUILD_DIR/tests/tools/c360-rl-hammer}
[ -x "$HAMMER" ] || t_fail "no hammer at $HAMMER (tests/tools not built?)"

LIMIT=200 PERIOD_MS=1000 BURST=20 DURATION_MS=5000 THREADS=4

RPORT=$(t_free_port)
t_start_redis "$RPORT"

# Both start at the same wall-clock moment, far enough ahead for two
# sanitizer-instrumented processes to be up and connected.
START=$(( $(date +%s%3N) + 1500 ))
args=(--redis "redis://127.0.0.1:$RPORT" --start-ms "$START" --duration-ms "$DURATION_MS"
      --threads "$THREADS" --limit "$LIMIT" --period-ms "$PERIOD_MS" --burst "$BURST"
      --bucket shared --tenant t2p)
"$HAMMER" "${args[@]}" >"$T_DIR/a.out" 2>"$T_DIR/a.log" & A=$!
"$HAMMER" "${args[@]}" >"$T_DIR/b.out" 2>"$T_DIR/b.log" & B=$!
T_PIDS+=("$A" "$B")
wait "$A" || t_fail "hammer A failed: $(cat "$T_DIR/a.out")"
wait "$B" || t_fail "hammer B failed: $(cat "$T_DIR/b.out")"

get() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$2"; }
a=$(get allowed "$T_DIR/a.out"); b=$(get allowed "$T_DIR/b.out")
[ -n "$a" ] && [ -n "$b" ] || t_fail "no counts: $(cat "$T_DIR/a.out" "$T_DIR/b.out")"
# Both processes must have had a share, or this was not a two-process test.
[ "$a" -gt 50 ] && [ "$b" -gt 50 ] || t_fail "one process starved: a=$a b=$b"

total=$(( a + b ))
expected=$(( LIMIT * DURATION_MS / PERIOD_MS ))
got=$(( total - BURST ))
# Over the budget: at most 5 % (the limit holds across processes). Under it:
# at most 20 %, since on a loaded 2-core machine the hammer threads do not
# always get the CPU to take their slots on time (seen: -12.9 % during a
# parallel build), which says nothing about the bucket.
pct=$(awk -v g="$got" -v e="$expected" 'BEGIN { printf "%.2f", (g - e) * 100.0 / e }')
echo "two processes: a=$a b=$b total=$total; minus burst $BURST = $got for an expected $expected ($pct %)"
[ $(( (got - expected) * 100 )) -le $(( expected * 5 )) ] || t_fail "combined rate over the budget by $pct % (limit $LIMIT per $PERIOD_MS ms)"
[ $(( (expected - got) * 100 )) -le $(( expected * 20 )) ] || t_fail "combined rate under the budget by $pct % (limit $LIMIT per $PERIOD_MS ms)"
t_ok "two processes share one budget: $got vs $expected ($pct %)"

# The bucket's key expires once idle: it holds no more debt than the burst.
key='c360:{t:t2p}:rl:t:hammer:shared'
ttl=$(redis-cli -p "$RPORT" PTTL "$key")
[ "$ttl" -ge -2 ] && [ "$ttl" -le $(( BURST * PERIOD_MS / LIMIT + 50 )) ] || t_fail "PTTL $ttl"
sleep 0.3
[ "$(redis-cli -p "$RPORT" EXISTS "$key")" = 0 ] || t_fail "idle bucket key did not expire"
t_ok "idle bucket key expired"
