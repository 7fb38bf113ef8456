#!/usr/bin/env bash
# faults_procs.sh -- fault injection (issue 9): process kills under load,
# with the pipeline test plugins (tsrc -> tdst -> fake_sink).
#
#   worker kill -9   one worker process killed while events flow: the
#                    supervisor forks a new one, which takes over the
#                    dead one's pending items; the master never stops
#   c360d kill -9    the whole host killed (its zygote and workers follow
#                    it), then started again as its supervisor (systemd)
#                    would: the new process takes over the pending items
#                    of the dead one at once (same host name, dead pid)
#
# For each: every event answered 200 is delivered or dead-lettered with a
# cause (faults_lib.sh f_account), and new events flow afterwards.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$(dirname "$0")/faults_lib.sh"

RPORT=$(t_free_port)
t_start_redis "$RPORT"
p_start_sink
S=faults-procs-secret
p_pair tA "$S"
PORT=$(t_free_port)
p_config "$T_DIR/c360.json" "$PORT" '"workers":2,"worker_threads":2,"max_attempts":6'
p_start_host c360d "$T_DIR/c360.json"
HOOK=$HOST_URL/hooks/tsrc/s1
f_warm_up

del_kw() { f_sink_keys kw- "$1"; }
del_kh() { f_sink_keys kh- "$1"; }

# --- worker kill -9 -------------------------------------------------------------
f_load kw- 500 100
sleep 2
victim=$(p_workers_of "$T_DIR/c360d.log" | head -n 1)
[ -n "$victim" ] || t_fail "no worker to kill"
kill -KILL "$victim"
wait "$LOAD_PID" || t_fail "load: $(cat "$T_DIR/load-kw-.log")"
f_account "worker kill -9" "$T_DIR/ok-kw-.txt" tA 30 del_kw
rec=no
replaced=$(p_workers_of "$T_DIR/c360d.log" | grep -cvx "$victim" || true)
f_alive "$HOST_PID" && [ "$replaced" -ge 2 ] && f_ready "$HOST_URL" && f_after kw-after 50 && rec=yes
f_row "worker kill -9 under load (100 ev/s)" "$rec"

# --- c360d kill -9, restarted as a supervisor would -------------------------------
f_load kh- 500 100
sleep 2
p_kill_host "$HOST_PID"
sleep 0.5
p_start_host c360d-2 "$T_DIR/c360.json"
wait "$LOAD_PID" || t_fail "load: $(cat "$T_DIR/load-kh-.log")"
f_account "c360d kill -9" "$T_DIR/ok-kh-.txt" tA 40 del_kh
rec=no
f_ready "$HOST_URL" && f_after kh-after 50 && rec=yes
f_row "c360d kill -9 under load, restarted (as by systemd)" "$rec"
echo "loads: $(cat "$T_DIR/load-kw-.json") $(cat "$T_DIR/load-kh-.json")"
t_sanitizers_clean # a fault must not turn into memory misuse
