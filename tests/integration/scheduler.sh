#!/usr/bin/env bash
# scheduler.sh -- two scheduler hosts (c360-sched-host: the real maintenance
# thread, claims and /metrics, with minimal tick workers) on one
# redis-server, 200 connections ticking every second:
#   - while both run, and after one is killed with SIGKILL, every tick that
#     was enqueued runs (entry ids in the run log == stream entries), and no
#     connection ever ticks twice within its interval (claims are exactly
#     once across hosts); the only repeats allowed are entries the killed
#     host was running (at-least-once work items), at most its threads;
#   - every connection keeps ticking after the kill (leases and pending
#     entries of the dead host are taken over);
#   - GET /metrics is valid Prometheus text with the scheduler's counters;
#   - the surviving host shuts down cleanly on SIGTERM (exit 0: under ASan
#     that includes LeakSanitizer).
source "$(dirname "$0")/lib.sh"
: "${C360_BUILD_DIR:?}"
HOST=${C360_SCHED_HOST:-$C360_BUILD_DIR/tests/tools/c360-sched-host}
[ -x "$HOST" ] || t_fail "no host tool at $HOST (tests/tools not built?)"

TENANTS=4 PER=50 THREADS=2 LEASE_MS=3000
RPORT=$(t_free_port)
t_start_redis "$RPORT"
R() { redis-cli -p "$RPORT" "$@"; }

now=$(date +%s%3N)
for t in $(seq 0 $((TENANTS - 1))); do
    for c in $(seq 0 $((PER - 1))); do
        echo "HSET c360:{t:t$t}:conn:c$c plugin tickp state active interval_s 1 ticks 1"
        echo "ZADD c360:{sched}:due NX $now t$t/c$c"
    done
    echo "SADD c360:{idx}:tenants t$t"
done | R >/dev/null
[ "$(R ZCARD 'c360:{sched}:due')" = $((TENANTS * PER)) ] || t_fail "seeding failed"

PA=$(t_free_port); PB=$(t_free_port)
while [ "$PB" = "$PA" ]; do PB=$(t_free_port); done
common=(--redis "redis://127.0.0.1:$RPORT" --threads "$THREADS" --lease-ms "$LEASE_MS" --floor-s 1)
"$HOST" "${common[@]}" --name A --http-port "$PA" >"$T_DIR/a.log" 2>&1 & A=$!
"$HOST" "${common[@]}" --name B --http-port "$PB" >"$T_DIR/b.log" 2>&1 & B=$!
T_PIDS+=("$A" "$B")
t_wait_http "http://127.0.0.1:$PA/metrics" 200
t_wait_http "http://127.0.0.1:$PB/metrics" 200
t_ok "two hosts up"

sleep 6
kill -KILL "$B"
wait "$B" 2>/dev/null || true
KILL_MS=$(date +%s%3N)
t_ok "host B killed (SIGKILL) while ticking"
sleep 7

# /metrics of the survivor: every line valid, the scheduler counted.
curl -s -m 5 "http://127.0.0.1:$PA/metrics" >"$T_DIR/metrics.txt" || t_fail "no /metrics"
# (grep finds nothing when all is well: its status 1 is no failure here)
bad=$( { grep -Ev '^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$|^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)$' \
      "$T_DIR/metrics.txt" || true; } | wc -l)
[ "$bad" = 0 ] || t_fail "$bad invalid exposition lines"
due=$(awk '$1 == "c360_ticks_due_total" {print $2}' "$T_DIR/metrics.txt")
run=$(awk '$1 == "c360_ticks_run_total" {print $2}' "$T_DIR/metrics.txt")
ten=$(awk '$1 == "c360_tenants" {print $2}' "$T_DIR/metrics.txt")
[ "${due:-0}" -gt 100 ] && [ "${run:-0}" -gt 100 ] || t_fail "metrics: due=$due run=$run"
[ "$ten" = "$TENANTS" ] || t_fail "metrics: c360_tenants=$ten"
t_ok "/metrics valid ($(wc -l <"$T_DIR/metrics.txt") lines); host A: ticks due $due, run $run"

# Stop new ticks, let A finish what is queued, then count.
R DEL 'c360:{sched}:due' >/dev/null
sleep 3
enq=0 pend=0
for t in $(seq 0 $((TENANTS - 1))); do
    enq=$((enq + $(R XLEN "c360:{t:t$t}:ev")))
    pend=$((pend + $(R XPENDING "c360:{t:t$t}:ev" w | head -1)))
done
R LRANGE test:ticklog 0 -1 >"$T_DIR/ticklog.txt"
runs=$(wc -l <"$T_DIR/ticklog.txt")
# Entry ids are per tenant stream: a run is (tenant, id).
distinct=$(awk '{split($2, a, "/"); print a[1], $1}' "$T_DIR/ticklog.txt" | sort -u | wc -l)
dups=$((runs - distinct))
[ "$pend" = 0 ] || t_fail "$pend ticks still pending"
[ "$distinct" = "$enq" ] || t_fail "ticks enqueued $enq, distinct ticks run $distinct"
[ "$dups" -le "$THREADS" ] || t_fail "$dups ticks ran twice (more than B's $THREADS threads in flight)"
byA=$(awk '$4 == "A"' "$T_DIR/ticklog.txt" | wc -l)
byB=$(awk '$4 == "B"' "$T_DIR/ticklog.txt" | wc -l)
[ "$byA" -gt 100 ] && [ "$byB" -gt 100 ] || t_fail "work not split: A=$byA B=$byB"

# Per connection, over the distinct ticks: enqueue times >= 1 interval
# apart (no double claim), and ticking again well after the kill.
read -r min_gap min_ticks late_missing <<<"$(sort -u -k1,2 "$T_DIR/ticklog.txt" | sort -k2,2 -k3,3n |
    awk -v kill="$KILL_MS" '
        { if ($2 == prev) { g = $3 - last; if (min == "" || g < min) min = g }
          else { conns++ }
          n[$2]++; last = $3; prev = $2; if ($3 > kill + 4000) late[$2] = 1 }
        END { mt = ""; for (c in n) if (mt == "" || n[c] < mt) mt = n[c]
              miss = 0; for (c in n) if (!(c in late)) miss++
              print min, mt, miss }')"
[ "$(awk '{print $2}' "$T_DIR/ticklog.txt" | sort -u | wc -l)" = $((TENANTS * PER)) ] ||
    t_fail "not every connection ticked"
[ "$min_gap" -ge 1000 ] || t_fail "a connection ticked twice within its interval (gap $min_gap ms)"
[ "$late_missing" = 0 ] || t_fail "$late_missing connections stopped ticking after the kill"
echo "two hosts, $((TENANTS * PER)) connections, 1 s interval, B killed at 6 s, 16 s total:"
echo "  ticks enqueued $enq, run $runs (distinct $distinct; repeats $dups), by A $byA, by B $byB;"
echo "  per connection >= $min_ticks ticks, smallest gap between ticks $min_gap ms"
t_ok "exactly-once claims across two hosts, nothing lost when one was killed"

kill -TERM "$A"
rc=0; wait "$A" || rc=$?
[ "$rc" = 0 ] || t_fail "host A exited $rc on SIGTERM"
grep -q '"sched host stopped"' "$T_DIR/a.log" || t_fail "host A did not stop cleanly"
t_ok "host A stopped cleanly"
