#!/usr/bin/env bash
# pipeline_crash.sh -- kill -9 during a steady load: first one worker
# process (the supervisor replaces it and the replacement takes over its
# pending events), then the whole c360d (restarted; the events its dead
# consumers held are claimed after claim_idle_ms). Every event that was
# answered 200 must be delivered to the sink; events sent while c360d was
# down fail (no 200) and are not counted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

RPORT=$(t_free_port)
t_start_redis "$RPORT"
p_start_sink
S=crash-test-secret
p_pair tA "$S"
PORT=$(t_free_port)
p_config "$T_DIR/c360.json" "$PORT" '"workers":2,"worker_threads":2'
p_start_host c360d "$T_DIR/c360.json"
HOOK=$HOST_URL/hooks/tsrc/s1

wait_workers() {
    local log=$1 want=$2 n=0
    for _ in $(seq 100); do
        n=0
        for w in $(p_workers_of "$log"); do kill -0 "$w" 2>/dev/null && n=$((n + 1)); done
        [ "$n" -ge "$want" ] && return 0
        sleep 0.1
    done
    t_fail "$n live worker processes in $log, want $want"
}
wait_workers "$T_DIR/c360d.log" 2
for _ in $(seq 100); do [ "$(p_post "$HOOK" "$S" '{"id":"warm-1"}')" = 200 ] && break; sleep 0.1; done
p_wait_distinct warm-1 1 20

# ~12 s of steady load at 150 events/s, through both kills and the restart.
"$P_LOAD" --url "$HOOK" --secret "$S" --count 1800 --rate 150 --concurrency 8 --prefix c- \
    --timeout-ms 3000 --ok-file "$T_DIR/ok.txt" >"$T_DIR/load.json" 2>"$T_DIR/load.log" &
LOAD_PID=$!
T_PIDS+=("$LOAD_PID")

# --- kill -9 one worker ---------------------------------------------------------
sleep 3
victim=$(p_workers_of "$T_DIR/c360d.log" | head -n 1)
[ -n "$victim" ] || t_fail "no worker to kill"
kill -KILL "$victim"
for _ in $(seq 100); do
    p_workers_of "$T_DIR/c360d.log" | grep -qx "$victim" || break
    sleep 0.1
done
p_workers_of "$T_DIR/c360d.log" | grep -qx "$victim" && t_fail "worker $victim not replaced"
wait_workers "$T_DIR/c360d.log" 2
kill -0 "$HOST_PID" || t_fail "c360d died with its worker"
grep -q '^c360_worker_restarts_total [1-9]' <<<"$(curl -s "$HOST_URL/metrics")" ||
    t_fail "worker restart not counted"
t_ok "worker $victim killed -9: replaced, master kept answering"

# --- kill -9 the whole c360d, then start it again ----------------------------------------
sleep 2
p_kill_host "$HOST_PID"
sleep 1
p_start_host c360d-2 "$T_DIR/c360.json"
t_ok "c360d killed -9 (workers gone with it) and restarted"

wait "$LOAD_PID" || t_fail "load generator failed: $(cat "$T_DIR/load.log")"
load=$(cat "$T_DIR/load.json")
ok=$(p_num "$load" ok)
echo "load: $load"
[ "$ok" -ge 600 ] || t_fail "only $ok of 1800 events answered 200: $load"
# 200s during the outage are impossible (nobody listened); everything
# answered 200 before it and after the restart must arrive.
p_check_all_delivered "$T_DIR/ok.txt" c- 40
d=$(p_stats "prefix=c-&keys=0")
echo "sink: $d"
t_ok "all $ok events answered 200 were delivered (dups: $(p_num "$d" dups))"
