#!/usr/bin/env bash
# faults_crm.sh -- fault injection (issue 9): the customer's CRM
# misbehaving under load, with the real crm_generic destination (Standard
# Webhooks) and tests/fakes/fake_crm; events come from the pipeline test
# source tsrc. The retry schedule is short (pipeline.max_attempts 5: waits
# of 1 s, up to 2, 4, 8 s), so faults that outlast its first steps show.
# Three CRMs, each behind its own source and crm_generic connection, get
# their faults at the same time, under load (40 events/s each). A 429
# slows the endpoint's budget to 10 % for a minute (docs/ratelimits.md):
# the CRMs allow 200 requests/s, so the 429 storm's backlog drains at 20/s;
# six worker threads, so that the throttled CRM's waits (up to
# delivery_concurrency = 4 threads) leave threads for the others.
#
#   CRM down    fake_crm killed -9 for 4 s (connections refused), then
#               started again on the same port; its journal keeps what
#               it answered before
#   5xx storm   every delivery answered 503 (an HTML page) for 4 s
#   429 storm   every delivery answered 429 with Retry-After: 1 for 4 s
#
# For each: every event answered 200 is delivered (the CRM answered 2xx to
# its webhook-id) or dead-lettered with a cause; the same c360d process
# is ready afterwards and new events reach the CRM. Dead letters (items
# whose attempts ran out while the CRM was away) are replayed at the end
# and must then be delivered.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/pipeline_lib.sh"
source "$(dirname "$0")/faults_lib.sh"
source "$(dirname "$0")/connectors_lib.sh" # the fake CRM's helpers (cl_*)
[ -e "$C360_BUILD_DIR/plugins/crm_generic.so" ] || t_fail "missing crm_generic.so (build the tree first)"

SIGN="whsec_$(head -c 24 /dev/urandom | base64)"
SRC_SECRET=faults-crm-secret-0123
declare -A CRM_PORT CRM_PID
# start_crm N [NAME] -- fake_crm number N on its port (the same one again
# after a kill: chosen below the ephemeral range, where no connection of
# ours can hold it meanwhile), journalling to $T_DIR/crmN.journal; its
# output in $T_DIR/NAME.{out,log} (default crmN: a restart names its own,
# so that the first one's log is kept).
start_crm() {
    local n=$1
    [ -n "${CRM_PORT[$n]:-}" ] || CRM_PORT[$n]=$(t_free_port)
    cl_start_fake "${2:-crm$n}" "$CL_FAKE_CRM" --port "${CRM_PORT[$n]}" --secret "$SIGN" \
        --journal "$T_DIR/crm$n.journal"
    CRM_PID[$n]=$PID_OF
}
for n in 1 2 3; do start_crm "$n"; done

t_host_ports
t_host_config <<JSON
 "plugin_dirs":["$C360_BUILD_DIR/plugins","$P_PLUGINS"],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000,"connect_timeout_ms":1000},
 "ratelimit":{"default_pause_ms":1000},
 "pipeline":{"workers":1,"worker_threads":6,"callback_timeout_ms":5000,
             "claim_idle_ms":3000,"max_attempts":5}}
JSON
export C360_CRM_GENERIC_ALLOW_HTTP=1 # the fake CRMs speak plain HTTP on loopback
t_start_c360d c360d --config "$T_DIR/c360.json"
HOST_PID=$C360D_PID
t_wait_http "$URL/readyz" 200 150
OPKEY=$(t_opkey "$T_DIR/data")
api() { t_api_want "$@"; } # lib.sh
api POST /v1/tenants '{"id":"acme","name":"Acme"}' 201
api PUT /v1/tenants/acme/plugins/tsrc '{"enabled":true}' 200
api PUT /v1/tenants/acme/plugins/crm_generic '{"enabled":true}' 200
for n in 1 2 3; do
    api POST /v1/tenants/acme/connections \
        "{\"id\":\"src$n\",\"plugin\":\"tsrc\",\"name\":\"Source $n\",\"config\":{\"secret\":\"$SRC_SECRET\"}}" 201
    api POST /v1/tenants/acme/connections \
        "{\"id\":\"crm$n\",\"plugin\":\"crm_generic\",\"name\":\"CRM $n\",\"config\":{\"url\":\"http://127.0.0.1:${CRM_PORT[$n]}/leads\",\"auth\":{\"type\":\"standard_webhooks\"},\"timeout_ms\":3000,\"max_requests_per_s\":200}}" 201
    api PUT "/v1/tenants/acme/connections/crm$n/secrets/signing_secret" "{\"value\":\"$SIGN\"}" 204
    api PUT "/v1/tenants/acme/connections/src$n/routes/crm$n" '{}' 200
done

# crm_keys N FILE -- the webhook-ids CRM N answered 2xx, from its journal.
crm_keys() { awk '$2 ~ /^2/ {print $1}' "$T_DIR/crm$1.journal" >"$2"; }
del_1() { crm_keys 1 "$1"; }
del_2() { crm_keys 2 "$1"; }
del_3() { crm_keys 3 "$1"; }
# after N ID -- a new event through source N reaches CRM N within 20 s.
after() {
    local code=
    for _ in $(seq 100); do
        code=$(p_post "$URL/hooks/tsrc/src$1" "$SRC_SECRET" "{\"id\":\"$2\"}")
        [ "$code" = 200 ] && break
        sleep 0.1
    done
    [ "$code" = 200 ] || return 1
    for _ in $(seq 200); do grep -q "^$2 2" "$T_DIR/crm$1.journal" && return 0; sleep 0.1; done
    return 1
}
for n in 1 2 3; do after "$n" "warm-$n" || t_fail "the first event never reached CRM $n"; done
t_ok "three tsrc -> crm_generic -> fake_crm pipelines set up ($SECONDS s)"

# load N PREFIX -- 160 events at 40/s through source N, in the background.
declare -A LOAD_PID
load() {
    "$P_LOAD" --url "$URL/hooks/tsrc/src$1" --secret "$SRC_SECRET" --count 160 --rate 40 \
        --concurrency 4 --prefix "$2" --timeout-ms 3000 --ok-file "$T_DIR/ok-$2.txt" \
        >"$T_DIR/load-$2.json" 2>"$T_DIR/load-$2.log" &
    LOAD_PID[$1]=$!
    T_PIDS+=("$!")
}
load 1 cd-
load 2 c5-
load 3 c4-
sleep 1
# The storms in the background (curl and sleep only); the kill and the
# restart here, so that this shell stays the restarted CRM's parent.
C2=http://127.0.0.1:${CRM_PORT[2]} C3=http://127.0.0.1:${CRM_PORT[3]}
( cl_crm_control "$C2" "mode=503"; sleep 4; cl_crm_control "$C2" "mode=ok" ) &
STORM5=$!
( cl_crm_control "$C3" "mode=429&retry_after=1"; sleep 4; cl_crm_control "$C3" "mode=ok" ) &
STORM4=$!
kill -KILL "${CRM_PID[1]}"
wait "${CRM_PID[1]}" 2>/dev/null || true
sleep 4
start_crm 1 crm1-again
wait "$STORM5" || t_fail "CRM 2's 503 storm could not be switched (above)"
wait "$STORM4" || t_fail "CRM 3's 429 storm could not be switched (above)"
for n in 1 2 3; do wait "${LOAD_PID[$n]}" || t_fail "load $n failed"; done
# The faults did happen: refused connections, 503s, 429s.
grep -q '"msg":"POST cd-[0-9]* (1 records): no answer' "$T_DIR/c360d.log" || t_fail "CRM 1 was never found down"
grep -q ' 503$' "$T_DIR/crm2.journal" || t_fail "CRM 2 never answered 503"
grep -q ' 429$' "$T_DIR/crm3.journal" || t_fail "CRM 3 never answered 429"

: >"$T_DIR/all-dlq.txt"
# row N PREFIX NAME -- accounting, recovery and the row of CRM N.
row() {
    local rec=no
    f_account "$3" "$T_DIR/ok-$2.txt" acme 50 "del_$1"
    f_alive "$HOST_PID" && f_ready "$URL" && after "$1" "${2}after" && rec=yes
    f_row "crm_generic: $3" "$rec"
    cat "$T_DIR/dlq-keys.txt" >>"$T_DIR/all-dlq.txt"
}
row 1 cd- "CRM down 4 s (killed -9: refused; beyond the first retry steps)"
row 2 c5- "CRM 5xx storm (503 for 4 s)"
row 3 c4- "CRM 429 storm (Retry-After: 1, for 4 s)"

# Items whose attempts ran out during a fault are dead letters with the
# cause; replayed now that the CRMs are back, each reaches its CRM.
if [ -s "$T_DIR/all-dlq.txt" ]; then
    "$P_SEED" --redis "redis://127.0.0.1:$RPORT" dlq-replay acme >"$T_DIR/replay.out" 2>&1 ||
        t_fail "dlq-replay: $(cat "$T_DIR/replay.out")"
    end=$((SECONDS + 40))
    while :; do
        cat "$T_DIR"/crm?.journal | awk '$2 ~ /^2/ {print $1}' | sort -u >"$T_DIR/del.now"
        left=$(comm -13 "$T_DIR/del.now" <(sort -u "$T_DIR/all-dlq.txt") | wc -l)
        [ "$left" = 0 ] && break
        [ "$SECONDS" -ge "$end" ] && t_fail "$left dead letters not delivered after replay"
        sleep 0.3
    done
    t_ok "$(cat "$T_DIR/replay.out"): every dead letter delivered after the replay"
fi
grep -qF -- "$SIGN" "$T_DIR"/*.log && t_fail "the signing secret is in a log"
t_ok "crm faults: nothing lost, one c360d process ($HOST_PID)"
t_sanitizers_clean # a fault must not turn into memory misuse
