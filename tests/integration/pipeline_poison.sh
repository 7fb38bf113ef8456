#!/usr/bin/env bash
# pipeline_poison.sh -- dead letters while other events keep flowing:
#  - an event that crashes its worker (tsrc "crash": a real SIGSEGV) and one
#    that hangs it (tsrc "hang", past callback_timeout_ms) are poison after
#    poison_threshold attempts: dead-lettered with why=poison;
#  - an event the plugin fails permanently (tsrc "error") is dead-lettered
#    at once with why=error; a record the destination refuses (400) is a
#    delivery dead letter (kind dl);
#  - meanwhile a steady load is delivered in full;
#  - after "the fix" (the connection's config gets "actions": false, so
#    tsrc no longer obeys the bodies' actions) and a replay of the dead
#    letters, every one of them is delivered -- the delivery with the same
#    idempotency key as before.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
# The crash must kill the worker with SIGSEGV, as it would without
# sanitizers, rather than end in an ASan report and exit(1).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"

RPORT=$(t_free_port)
t_start_redis "$RPORT"
p_start_sink
S=poison-test-secret
p_pair tA "$S"
PORT=$(t_free_port)
p_config "$T_DIR/c360.json" "$PORT" '"poison_threshold":2,"callback_timeout_ms":1500'
p_start_host c360d "$T_DIR/c360.json"
HOOK=$HOST_URL/hooks/tsrc/s1
for _ in $(seq 100); do [ "$(p_post "$HOOK" "$S" '{"id":"warm-1"}')" = 200 ] && break; sleep 0.1; done
p_wait_distinct warm-1 1 20

# dlq_has WHY KIND SUBSTRING -- the tenant's dead letters list an entry
# (events are recognised by their request id, deliveries by record id).
dlq_has() {
    local out
    out=$("$P_SEED" --redis "redis://127.0.0.1:$RPORT" dlq tA --why "$1" --kind "$2" 2>>"$T_DIR/seed.log") &&
        grep -q "$3" <<<"$out"
}
wait_dlq() {
    for _ in $(seq 300); do dlq_has "$@" && return 0; sleep 0.1; done
    t_fail "no dead letter why=$1 kind=$2 with $3: $("$P_SEED" --redis "redis://127.0.0.1:$RPORT" dlq tA)"
}
# The destination refuses one record (400): a delivery dead letter. Done
# before the load starts, so that the refusal hits this record.
curl -s -X POST "$SINK_URL/control?mode=400&count=1" >/dev/null
[ "$(p_post "$HOOK" "$S" '{"id":"bad-refused"}')" = 200 ] || t_fail "bad-refused not accepted"
wait_dlq error dl bad-refused

"$P_LOAD" --url "$HOOK" --secret "$S" --count 500 --rate 50 --prefix ok- \
    --ok-file "$T_DIR/ok.txt" >"$T_DIR/load.json" 2>"$T_DIR/load.log" &
LOAD_PID=$!
T_PIDS+=("$LOAD_PID")
sleep 1
for a in crash hang error; do
    [ "$(p_post "$HOOK" "$S" "{\"id\":\"bad-$a\",\"action\":\"$a\"}" "bad-$a")" = 200 ] ||
        t_fail "bad-$a not accepted"
done

wait_dlq error ev bad-error
wait_dlq poison ev bad-crash
wait_dlq poison ev bad-hang
t_ok "crash and hang -> poison; plugin error -> error; refused delivery -> dl dead letter"

wait "$LOAD_PID" || t_fail "load: $(cat "$T_DIR/load.log")"
[ "$(wc -l <"$T_DIR/ok.txt")" = 500 ] || t_fail "not every event answered 200: $(cat "$T_DIR/load.json")"
p_check_all_delivered "$T_DIR/ok.txt" ok- 30
m=$(curl -s "$HOST_URL/metrics")
restarts=$(sed -n 's/^c360_worker_restarts_total \([0-9]*\).*/\1/p' <<<"$m")
[ "${restarts:-0}" -ge 2 ] || t_fail "expected worker restarts (crash x2, hang x2), got ${restarts:-0}"
grep -q '^c360_dead_letters_total [4-9]' <<<"$m" || t_fail "dead letters not counted: $(grep dead_letters <<<"$m")"
for k in bad-crash bad-hang bad-error bad-refused; do
    [ "$(p_key_count "$k")" = 0 ] || t_fail "$k was delivered before the fix"
done
t_ok "500 other events delivered meanwhile; $restarts worker restarts"

# --- the fix, then replay ---------------------------------------------------------
p_source tA s1 "$S" '"actions":false'
sleep 1   # hosts reopen the instance with the new config (pub/sub)
out=$("$P_SEED" --redis "redis://127.0.0.1:$RPORT" dlq-replay tA) || t_fail "dlq-replay: $out"
[ "$out" = "replayed 4" ] || t_fail "dlq-replay: $out"
for k in bad-crash bad-hang bad-error bad-refused; do p_wait_distinct "$k" 1 30; done
[ "$("$P_SEED" --redis "redis://127.0.0.1:$RPORT" dlq tA | grep -c '"id"')" = 0 ] ||
    t_fail "dead letters left after replay"
rec=$(curl -s "$SINK_URL/records?prefix=bad-refused")
grep -q '"received":2' <<<"$rec" || t_fail "refused record not delivered again under its key: $rec"
t_ok "after the fix, replay delivers all four (bad-refused under its original idempotency key)"
