#!/usr/bin/env bash
# pipeline_redis_restart.sh -- Redis killed and restarted under load. The
# promise: c360d never answers 200 for an event Redis has not stored, and
# it recovers by itself (same process, no restart). While Redis is away
# ingress answers 503 (providers retry); afterwards every event that was
# answered 200 is delivered.
#
# This Redis runs with appendfsync always: a write Redis acknowledged is on
# disk, so kill -9 of Redis loses nothing c360d was told was stored -- the
# durability the pipeline's promise rests on (docs/operators.md asks the
# same of production Redis).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

RPORT=$(t_free_port)
RDIR=$T_DIR/redis-aof
mkdir -p "$RDIR"
start_redis_aof() { t_start_redis "$RPORT" "$RDIR" --appendonly yes --appendfsync always; }
start_redis_aof
p_start_sink
S=redis-restart-secret
p_pair tA "$S"
PORT=$(t_free_port)
p_config "$T_DIR/c360.json" "$PORT" '"workers":1,"worker_threads":2'
p_start_host c360d "$T_DIR/c360.json"
HOOK=$HOST_URL/hooks/tsrc/s1
for _ in $(seq 100); do [ "$(p_post "$HOOK" "$S" '{"id":"warm-1"}')" = 200 ] && break; sleep 0.1; done

# ~12 s of load at 150 events/s; Redis is away from 3 s to 5 s (longer for
# c360d, which reconnects with a backoff).
"$P_LOAD" --url "$HOOK" --secret "$S" --count 1800 --rate 150 --concurrency 8 --prefix r- \
    --timeout-ms 3000 --ok-file "$T_DIR/ok.txt" >"$T_DIR/load.json" 2>"$T_DIR/load.log" &
LOAD_PID=$!
T_PIDS+=("$LOAD_PID")
sleep 3
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
t_wait_http "$HOST_URL/readyz" 503 50
sleep 2
start_redis_aof
t_wait_http "$HOST_URL/readyz" 200 150
# Takes webhooks again by itself (the first write after a restart may meet
# an empty script cache: a 503, which a provider retries).
for _ in $(seq 30); do code=$(p_post "$HOOK" "$S" '{"id":"after-1"}'); [ "$code" = 200 ] && break; sleep 0.1; done
[ "$code" = 200 ] || t_fail "after the restart: $code $(cat "$T_DIR/post.body")"
t_ok "redis killed -9: readyz 503; restarted: readyz 200, webhooks stored again"

wait "$LOAD_PID" || t_fail "load generator: $(cat "$T_DIR/load.log")"
load=$(cat "$T_DIR/load.json")
echo "load: $load"
ok=$(p_num "$load" ok)
unavailable=$(grep -o '"503":[0-9]*' <<<"$load" | cut -d: -f2)
failed=$(p_num "$load" failed)
[ $(( ${unavailable:-0} + ${failed:-0} )) -gt 0 ] || t_fail "no request was refused while Redis was down: $load"
other=$(grep -o '"[0-9]*":[0-9]*' <<<"$load" | grep -v '"200":\|"503":' || true)
[ -z "$other" ] || t_fail "statuses other than 200/503: $other"
[ "$ok" -ge 600 ] || t_fail "only $ok events answered 200"
kill -0 "$HOST_PID" || t_fail "c360d died"
p_check_all_delivered "$T_DIR/ok.txt" r- 40
p_wait_distinct after-1 1 20
t_ok "$ok answered 200, ${unavailable:-0} 503 and ${failed:-0} unanswered while Redis was away; every 200 delivered; same c360d process"
