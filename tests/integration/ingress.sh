#!/usr/bin/env bash
# ingress.sh -- webhook ingress of the real c360d against a real
# redis-server (docs/pipeline.md, "Ingress"): connections seeded through the
# registry (c360-seed), per-connection and app-level URLs with the
# ingress_tp test plugin, exactly one stream entry per accepted event with
# the documented fields (the dedup key and window included), duplicates
# (stored, then acknowledged and counted by a worker), handshake,
# 401/403/404/410/413, an
# oversized header block, a slow client cut off by the read timeout, a
# connection created while running, Redis stopped (503, never 200) and
# restarted (stores again by itself), and a clean SIGTERM.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}"
SEED=${C360_SEED:-$C360_BUILD_DIR/tests/tools/c360-seed}
PLUGINS=${C360_PIPELINE_PLUGIN_DIR:-$C360_BUILD_DIR/tests/pipeline-plugins}
[ -x "$SEED" ] || t_fail "c360-seed not built: $SEED"
[ -f "$PLUGINS/ingress_tp.so" ] || t_fail "ingress_tp.so not built in $PLUGINS"

RPORT=$(t_free_port)
t_start_redis "$RPORT"
RURL=redis://127.0.0.1:$RPORT
rcli() { redis-cli -p "$RPORT" --no-raw "$@"; }
xlen() { redis-cli -p "$RPORT" XLEN "c360:{t:$1}:ev"; }

seed_all() {
    "$SEED" --redis "$RURL" conn t1 a1 ingress_tp '{"token":"tok-a1","route_keys":["page:1","page:3"]}' >/dev/null
    "$SEED" --redis "$RURL" conn t2 b1 ingress_tp '{"token":"tok-b1","route_keys":["page:2","page:3"]}' >/dev/null
    "$SEED" --redis "$RURL" conn t1 d1 ingress_tp '{"token":"tok-d1"}' --state disabled >/dev/null
}
seed_all || t_fail "seeding"

PORT=$(t_free_port)
cat > "$T_DIR/c360.json" <<JSON
{"listen":"127.0.0.1:$PORT","redis":{"url":"$RURL"},
 "plugin_dirs":["$PLUGINS"],"data_dir":"$T_DIR/data","log_level":"info",
 "shutdown_timeout_ms":2000,
 "http":{"max_body_bytes":65536,"max_header_bytes":8192,"timeout_s":2}}
JSON
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
t_start_c360d c360d --config "$T_DIR/c360.json"
URL=http://127.0.0.1:$PORT
t_wait_http "$URL/healthz" 200
# The cache loads and the opener opens both connections in the background;
# a handshake stores nothing and answers 200 once a connection is usable.
t_wait_http "$URL/hooks/ingress_tp/a1?challenge=x" 200
t_wait_http "$URL/hooks/ingress_tp/b1?challenge=x" 200
t_ok "started, connections opened"

# --- per-connection URL -------------------------------------------------------
r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: tok-a1' -H 'X-ITP-Dedup: lead-1' \
    -H 'Content-Type: application/json' -H 'X-Request-Id: it-rid-1' --data-binary '{"n":1}')
[ "$r" = '200 {"ok":true}' ] || t_fail "accept: $r"
[ "$(xlen t1)" = 1 ] || t_fail "accept: XLEN $(xlen t1)"
entry=$(redis-cli -p "$RPORT" XRANGE 'c360:{t:t1}:ev' - + | tr '\n' '|')
for want in '|k|wh|' '|c|a1|' '|p|ingress_tp|' '|a|1|' '|b|{"n":1}|' '|rid|it-rid-1|' \
            '|dk|lead-1|' '|dw|604800|' \
            '"content-type":"application/json"' '"x-itp-dedup":"lead-1"'; do
    grep -qF -- "$want" <<<"$entry" || t_fail "entry lacks $want: $entry"
done
t_ok "accepted: one entry with the documented fields"

r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: tok-a1' -H 'X-ITP-Dedup: lead-1' --data-binary '{"n":1}')
[ "$r" = '200 {"ok":true}' ] || t_fail "duplicate: $r"
[ "$(xlen t1)" = 2 ] || t_fail "duplicate: XLEN $(xlen t1) (stored like any event)"
# c360d's workers run ingress_tp's event callback: the first copy is
# processed, the second acknowledged without it and counted.
stat() { redis-cli -p "$RPORT" HGET 'c360:{t:t1}:conn:a1:stat' "$1"; }
for _ in $(seq 100); do [ "$(stat dup)" = 1 ] && [ "$(stat events)" = 1 ] && break; sleep 0.1; done
[ "$(stat dup)" = 1 ] && [ "$(stat events)" = 1 ] || t_fail "dup $(stat dup), events $(stat events)"
[ "$(redis-cli -p "$RPORT" GET 'c360:{t:t1}:dd:a1:lead-1' | tr -d '\n' | wc -c)" -gt 0 ] || t_fail "no dedup key"
t_ok "duplicate: 200, stored, processed once, counted"

r=$(t_http GET "$URL/hooks/ingress_tp/a1?challenge=hello")
[ "$r" = "200 hello" ] || t_fail "handshake: $r"
r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: nope' --data-binary '{}')
[[ $r == 401* && $r == *unauthorized* ]] || t_fail "reject: $r"
r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: tok-a1' -H 'x-itp-forbid: 1' --data-binary '{}')
[[ $r == 403* ]] || t_fail "forbidden: $r"
for path in /hooks/nope/a1 /hooks/ingress_tp/zz /hooks/ingress_tp/a1/x /hooks/; do
    r=$(t_http POST "$URL$path" -H 'x-itp-token: tok-a1' --data-binary '{}')
    [[ $r == 404* ]] || t_fail "$path: $r"
done
r=$(t_http POST "$URL/hooks/ingress_tp/d1" -H 'x-itp-token: tok-d1' --data-binary '{}')
[[ $r == 410* ]] || t_fail "disabled: $r"
head -c 100000 /dev/zero | tr '\0' x > "$T_DIR/big"
r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: tok-a1' --data-binary @"$T_DIR/big")
[[ $r == 413* ]] || t_fail "oversized body: $r"
long=$(head -c 10000 /dev/zero | tr '\0' y)
r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: tok-a1' -H "x-long: $long" --data-binary '{}')
[[ $r == 400* || $r == 431* ]] || t_fail "oversized headers: $r"
[ "$(xlen t1)" = 2 ] || t_fail "something refused was stored"
t_ok "handshake, 401, 403, 404, 410, 413, oversized headers: nothing stored"

# --- app-level URL --------------------------------------------------------------
r=$(t_http POST "$URL/hooks/ingress_tp" -H 'x-itp-token: app-secret' -H 'x-itp-route: page:2' --data-binary '{"b":2}')
[ "$r" = '200 {"ok":true}' ] || t_fail "app-level: $r"
[ "$(xlen t1)" = 2 ] && [ "$(xlen t2)" = 1 ] || t_fail "app-level reached $(xlen t1)/$(xlen t2)"
r=$(t_http POST "$URL/hooks/ingress_tp" -H 'x-itp-token: app-secret' -H 'x-itp-route: page:3' --data-binary '{"b":3}')
[ "$(xlen t1)" = 3 ] && [ "$(xlen t2)" = 2 ] || t_fail "shared key reached $(xlen t1)/$(xlen t2)"
r=$(t_http POST "$URL/hooks/ingress_tp" -H 'x-itp-token: app-secret' -H 'x-itp-route: page:9' --data-binary '{"b":9}')
[[ $r == 404* && $r == *unrouted* ]] || t_fail "unrouted: $r"
[ "$(xlen t1)" = 3 ] && [ "$(xlen t2)" = 2 ] || t_fail "unrouted event stored"
t_ok "app-level: owners only, unrouted refused"

# --- a slow client cannot hold a connection -------------------------------------
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /hooks/ingress_tp/a1 HTTP/1.1\r\nHost: x\r\n' >&3
t0=$(date +%s%N)
timeout 10 cat <&3 >/dev/null || true
exec 3<&-
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 1000 ] && [ "$ms" -le 6000 ] || t_fail "slow client held the connection ${ms} ms"
t_ok "slow client cut off after ${ms} ms"

# --- a connection created while running -----------------------------------------
"$SEED" --redis "$RURL" conn t3 c3 ingress_tp '{"token":"tok-c3"}' >/dev/null
t_wait_http "$URL/hooks/ingress_tp/c3?challenge=x" 200 50
r=$(t_http POST "$URL/hooks/ingress_tp/c3" -H 'x-itp-token: tok-c3' --data-binary '{}')
[ "$r" = '200 {"ok":true}' ] && [ "$(xlen t3)" = 1 ] || t_fail "new connection: $r"
t_ok "new connection usable without restart"

# --- Redis down: never 200; back: stores again ------------------------------------
t_stop_pid "$REDIS_PID"
bad=0
for i in $(seq 20); do
    r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: tok-a1' --data-binary "{\"down\":$i}")
    [[ $r == 503* ]] || bad=$((bad + 1))
    sleep 0.05
done
[ "$bad" = 0 ] || t_fail "$bad answers other than 503 while Redis was down"
t_start_redis "$RPORT"
seed_all || t_fail "re-seeding"
ok=0
for _ in $(seq 100); do
    r=$(t_http POST "$URL/hooks/ingress_tp/a1" -H 'x-itp-token: tok-a1' --data-binary '{"back":1}')
    if [ "$r" = '200 {"ok":true}' ]; then ok=1; break; fi
    sleep 0.1
done
[ "$ok" = 1 ] || t_fail "no recovery after Redis restart: $r"
[ "$(xlen t1)" = 1 ] || t_fail "after restart: XLEN $(xlen t1)"
t_ok "Redis down: 503 only; restarted: stores again"

# --- shutdown --------------------------------------------------------------------
kill -TERM "$C360D_PID"
rc=0
wait "$C360D_PID" || rc=$?
[ "$rc" = 0 ] || t_fail "c360d exit status $rc"
grep -q '"level":"error"' "$T_DIR/c360d.log" && t_fail "errors logged"
t_ok "SIGTERM: clean exit"
