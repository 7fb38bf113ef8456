#!/usr/bin/env bash
# pipeline_basic.sh -- one webhook's way through the real c360d: a signed
# event is answered 200, stored once, processed by the tsrc source and
# delivered by tdst to the sink with the record id as idempotency key; a
# duplicate is answered 200, stored, but processed and delivered no second
# time, and counted (the workers deduplicate); a bad signature
# is refused with 401 and nothing is stored; the handshake is answered by
# the plugin; an app-level event reaches only the tenant that owns its
# routing key; unknown and disabled connections get 404 and 410; a failing
# destination is retried until it takes the record; a connection created
# while c360d runs is picked up without a restart.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"

RPORT=$(t_free_port)
t_start_redis "$RPORT"
p_start_sink; SINK_A=$SINK_URL
p_start_sink; SINK_B=$SINK_URL
SINK_URL=$SINK_A

SA=secret-of-tenant-a
SB=secret-of-tenant-b
p_source tA s1 "$SA" '"route_keys":["page:a"]'
SINK_URL=$SINK_A p_dest tA d1
p_route tA s1 d1

PORT=$(t_free_port)
p_config "$T_DIR/c360.json" "$PORT" '"workers":1'
sed -i 's/"listen"/"http":{"max_body_bytes":65536},"listen"/' "$T_DIR/c360.json"
p_start_host c360d "$T_DIR/c360.json"
HOOK=$HOST_URL/hooks/tsrc

# Ready for webhooks once the connection is cached and its instance open
# (503 until then): the signed handshake answers with the challenge.
p_wait_handshake() {
    local url=$1 secret=$2 got=
    local sig
    sig=$(p_sign "$secret" "")
    for _ in $(seq 150); do
        got=$(curl -s -m 2 -H "X-Tsrc-Signature: $sig" "$url?challenge=hello-42" -w ' %{http_code}' || true)
        [ "$got" = "hello-42 200" ] && return 0
        sleep 0.1
    done
    t_fail "handshake on $url: got '$got'"
}
p_wait_handshake "$HOOK/s1" "$SA"
r=$(curl -s -m 5 -w ' %{http_code}' "$HOOK/s1?challenge=hello-42" || true)
[[ $r == *401 ]] || t_fail "unsigned handshake: $r"
t_ok "handshake answered by the plugin (signed only)"

# --- one event, end to end ---------------------------------------------------
EV='c360:{t:tA}:ev'
n0=$(p_redis XLEN "$EV")
code=$(p_post "$HOOK/s1" "$SA" '{"id":"basic-1","n":1}')
[ "$code" = 200 ] || t_fail "signed event: $code $(cat "$T_DIR/post.body")"
[ "$(p_redis XLEN "$EV")" = $((n0 + 1)) ] || t_fail "200 but not exactly one entry stored"
p_wait_distinct basic-1 1 20
rec=$(curl -s "$SINK_A/records?prefix=basic-1")
grep -q '"key":"basic-1"' <<<"$rec" && grep -q '"body":{"id":"basic-1","n":1}' <<<"$rec" ||
    t_fail "sink got the wrong record: $rec"
t_ok "signed event -> 200 -> stored once -> delivered with idempotency key basic-1"

# --- duplicates ----------------------------------------------------------------
code=$(p_post "$HOOK/s1" "$SA" '{"id":"basic-1","n":1}')
[ "$code" = 200 ] || t_fail "duplicate answered $code (providers retry anything but 2xx)"
# Stored like any event (the ingress cannot tell); the worker that picks it
# up finds its dedup key taken, acknowledges it and counts it.
[ "$(p_redis XLEN "$EV")" = $((n0 + 2)) ] || t_fail "duplicate not stored as one entry"
# A later event as a barrier: once it is delivered, a duplicate that was
# going to be processed would have been too.
[ "$(p_post "$HOOK/s1" "$SA" '{"id":"basic-2"}')" = 200 ] || t_fail "basic-2"
p_wait_distinct basic-2 1 20
sleep 1
[ "$(p_key_count basic-1)" = 1 ] || t_fail "basic-1 delivered $(p_key_count basic-1) times"
grep -q '^c360_events_duplicate_total [1-9]' <<<"$(curl -s "$HOST_URL/metrics")" ||
    t_fail "duplicate not counted in /metrics"
[ "$(p_redis HGET 'c360:{t:tA}:conn:s1:stat' dup)" = 1 ] || t_fail "duplicate not counted in the stat"
[ "$(p_redis HGET 'c360:{t:tA}:conn:s1:stat' events)" = 2 ] ||
    t_fail "events processed: $(p_redis HGET 'c360:{t:tA}:conn:s1:stat' events) (want basic-1 and basic-2)"
t_ok "duplicate -> 200, stored, processed and delivered once, counted"

# --- refusals: nothing stored ----------------------------------------------------
n1=$(p_redis XLEN "$EV")
[ "$(p_post "$HOOK/s1" wrong-secret '{"id":"bad-1"}')" = 401 ] || t_fail "bad signature not 401"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST --data-binary '{"id":"bad-2"}' "$HOOK/s1")
[ "$code" = 401 ] || t_fail "unsigned event: $code"
[ "$(p_post "$HOOK/nope" "$SA" '{"id":"bad-3"}')" = 404 ] || t_fail "unknown connection not 404"
[ "$(p_post "$HOST_URL/hooks/noplugin/s1" "$SA" '{"id":"bad-4"}')" = 404 ] || t_fail "unknown plugin not 404"
big=$(head -c 70000 /dev/zero | tr '\0' x)
[ "$(p_post "$HOOK/s1" "$SA" "{\"id\":\"bad-5\",\"pad\":\"$big\"}")" = 413 ] || t_fail "body over the limit not 413"
[ "$(p_redis XLEN "$EV")" = "$n1" ] || t_fail "a refused request was stored"
t_ok "bad or missing signature -> 401, unknown -> 404, too big -> 413; nothing stored"

# --- app-level routing: only the owner of the key ---------------------------------
p_source tB s2 "$SB" '"route_keys":["page:b"]'
SINK_URL=$SINK_B p_dest tB d2
p_route tB s2 d2
p_wait_handshake "$HOOK/s2" "$SB"   # created while c360d runs: picked up
APP=tsrc-app-secret
code=
for _ in $(seq 50); do   # the routing key index reaches the cache by pub/sub
    code=$(p_post "$HOOK" "$APP" '{"id":"app-1","route":"page:b"}')
    [ "$code" = 200 ] && break
    sleep 0.1
done
[ "$code" = 200 ] || t_fail "app-level event: $code $(cat "$T_DIR/post.body")"
SINK_URL=$SINK_B p_wait_distinct app-1 1 20
[ "$(p_post "$HOOK" "$APP" '{"id":"app-2","route":"page:a"}')" = 200 ] || t_fail "app-2"
SINK_URL=$SINK_A p_wait_distinct app-2 1 20
sleep 1
[ "$(SINK_URL=$SINK_A p_key_count app-1)" = 0 ] || t_fail "tenant A received tenant B's app-level event"
[ "$(SINK_URL=$SINK_B p_key_count app-2)" = 0 ] || t_fail "tenant B received tenant A's app-level event"
nB=$(p_redis XLEN 'c360:{t:tB}:ev')
code=$(p_post "$HOOK" "$APP" '{"id":"app-3","route":"page:nobody"}')
[ "$code" = 404 ] && grep -q unrouted "$T_DIR/post.body" || t_fail "unrouted event: $code $(cat "$T_DIR/post.body")"
[ "$(p_post "$HOOK" "$SA" '{"id":"app-4","route":"page:a"}')" = 401 ] || t_fail "app-level URL took a connection's secret"
[ "$(p_redis XLEN 'c360:{t:tB}:ev')" = "$nB" ] || t_fail "unrouted or unsigned app-level event stored"
t_ok "app-level events reach only the owning tenant; unrouted -> 404, nothing stored"

# --- disabled connection -------------------------------------------------------------
p_seed state tA s1 disabled --cause "test"
for _ in $(seq 50); do code=$(p_post "$HOOK/s1" "$SA" '{"id":"off-1"}'); [ "$code" = 410 ] && break; sleep 0.1; done
[ "$code" = 410 ] || t_fail "disabled connection: $code"
p_seed state tA s1 active
for _ in $(seq 50); do code=$(p_post "$HOOK/s1" "$SA" '{"id":"on-1"}'); [ "$code" = 200 ] && break; sleep 0.1; done
[ "$code" = 200 ] || t_fail "re-enabled connection: $code"
p_wait_distinct on-1 1 20
[ "$(p_key_count off-1)" = 0 ] || t_fail "an event refused with 410 was delivered"
t_ok "disabled -> 410, active again -> 200"

# --- a failing destination is retried until it takes the record ------------------------
curl -s -X POST "$SINK_A/control?mode=500&count=2" >/dev/null
[ "$(p_post "$HOOK/s1" "$SA" '{"id":"retry-1"}')" = 200 ] || t_fail "retry-1"
p_wait_distinct retry-1 1 30
rec=$(curl -s "$SINK_A/records?prefix=retry-1")
grep -q '"received":3' <<<"$rec" || t_fail "expected 2 failed attempts then success: $rec"
curl -s -X POST "$SINK_A/control?mode=429&count=1&retry_after=1" >/dev/null
[ "$(p_post "$HOOK/s1" "$SA" '{"id":"retry-2"}')" = 200 ] || t_fail "retry-2"
p_wait_distinct retry-2 1 30
grep -q '^c360_retries_total [1-9]' <<<"$(curl -s "$HOST_URL/metrics")" || t_fail "retries not counted"
[ "$(p_redis XLEN 'c360:{t:tA}:dlog:d1')" -ge 4 ] || t_fail "delivery attempts not logged"
t_ok "destination 500, 500, 200 and 429 (Retry-After) -> retried, delivered once each"

# --- clean shutdown --------------------------------------------------------------------
kill -TERM "$HOST_PID"
rc=0; wait "$HOST_PID" || rc=$?
[ "$rc" = 0 ] || t_fail "SIGTERM exit status $rc"
t_ok "SIGTERM exits 0"
