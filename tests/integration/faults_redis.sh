#!/usr/bin/env bash
# faults_redis.sh -- fault injection (issue 9): Redis misbehaving under
# load, with the pipeline test plugins (tsrc -> tdst -> fake_sink). One
# c360d process lives through all of it:
#
#   slowed    DEBUG SLEEP 1: every command waits (below the 3 s health
#             check: the connection is kept)
#   frozen    DEBUG SLEEP 5: past the health check, so c360d drops the
#             connection and reconnects
#   stopped   SHUTDOWN (a clean stop), started again 2 s later
#   killed    kill -9, started again 2 s later
#
# Arguments name the faults to run (slowed frozen stopped killed; all by
# default): faults.cmake runs them as three tests side by side.
#
# Redis runs with appendfsync always, so what it acknowledged survives a
# kill (docs/operators.md asks the same of production Redis). While Redis
# is away webhooks get 503 (the provider retries) and are not counted.
# For each: every event answered 200 is delivered or dead-lettered with a
# cause; afterwards the same c360d process is ready and delivers new events.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$(dirname "$0")/faults_lib.sh"

RPORT=$(t_free_port)
RDIR=$T_DIR/redis-aof
f_start_redis_aof "$RPORT" "$RDIR"
p_start_sink
S=faults-redis-secret
p_pair tA "$S"
PORT=$(t_free_port)
p_config "$T_DIR/c360.json" "$PORT" '"workers":1,"worker_threads":2,"max_attempts":6'
p_start_host c360d "$T_DIR/c360.json"
HOOK=$HOST_URL/hooks/tsrc/s1
f_warm_up

# phase PREFIX NAME INJECT... -- 400 events at 100/s; INJECT runs 1.5 s in;
# then the accounting, the recovery check and the row.
phase() {
    local prefix=$1 name=$2; shift 2
    f_load "$prefix" 400 100
    sleep 1.5
    "$@"
    wait "$LOAD_PID" || t_fail "load: $(cat "$T_DIR/load-$prefix.log")"
    echo "load $prefix: $(cat "$T_DIR/load-$prefix.json")"
    # shellcheck disable=SC2317
    del() { f_sink_keys "$prefix" "$1"; }
    f_account "$name" "$T_DIR/ok-$prefix.txt" tA 50 del
    local rec=no
    f_alive "$HOST_PID" && f_ready "$HOST_URL" 20 && f_after "${prefix}after" && rec=yes
    f_row "$name" "$rec"
}

debug_sleep() { redis-cli -p "$RPORT" DEBUG SLEEP "$1" >/dev/null; }
stop_restart() {
    redis-cli -p "$RPORT" SHUTDOWN >/dev/null 2>&1 || true
    wait "$REDIS_PID" 2>/dev/null || true
    sleep 2
    f_start_redis_aof "$RPORT" "$RDIR"
}
kill_restart() {
    kill -KILL "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null || true
    sleep 2
    f_start_redis_aof "$RPORT" "$RDIR"
}

[ $# -gt 0 ] || set -- slowed frozen stopped killed
for f; do
    case $f in
    slowed) phase rs- "redis slowed (DEBUG SLEEP 1) under load" debug_sleep 1 ;;
    frozen) phase rf- "redis frozen (DEBUG SLEEP 5, past the health check)" debug_sleep 5 ;;
    stopped) phase rt- "redis stopped (SHUTDOWN) 2 s, restarted" stop_restart ;;
    killed) phase rk- "redis killed -9 2 s, restarted" kill_restart ;;
    *) t_fail "unknown fault $f" ;;
    esac
done
if [ "$*" != slowed ]; then
    grep -q '^c360_redis_reconnects_total [1-9]' <<<"$(curl -s "$HOST_URL/metrics")" ||
        t_fail "no reconnect counted"
fi
t_ok "one c360d process ($HOST_PID) through: $*"
t_sanitizers_clean # a fault must not turn into memory misuse
