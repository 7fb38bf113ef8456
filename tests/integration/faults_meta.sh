#!/usr/bin/env bash
# faults_meta.sh -- fault injection (issue 9): the provider misbehaving on
# the fetch path of a real connector. The meta source reads each lead of a
# leadgen webhook from the Graph API (tests/fakes/fake_graph), and the
# records go to the test destination tdst (tests/fakes/fake_sink). The
# fake's /__fault (fake_fault.h) answers the lead reads badly:
#
#   timeout     no answer (the call's deadline ends it: C360_ETIMEOUT)
#   5xx         503 with an HTML page, as an edge proxy sends
#   throttling  Meta's real signal: HTTP 400 code 613 with the usage
#               headers (X-App-Usage, X-Business-Use-Case-Usage) at 100 %
#   429         HTTP 429 with Retry-After and X-App-Usage at 100 %, as an
#               edge in front of the API could answer
#   malformed   200 with a cut JSON document
#   huge        200 with 2 MiB of JSON (the plugin reads at most 1 MiB)
#   trickle     200, then one byte every 200 ms
#
# For each: every webhook answered 200 ends with its lead delivered or
# dead-lettered with a cause; the fault is then off, the same c360d
# process is ready and a new lead goes through. The dead letters of a
# permanent failure (huge) are replayed and delivered once Meta behaves.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/pipeline_lib.sh"
source "$(dirname "$0")/faults_lib.sh"
source "$(dirname "$0")/connectors_lib.sh" # the fake Graph API's helpers (cl_*)
for f in "$CL_FAKE_GRAPH" "$C360_BUILD_DIR/plugins/meta.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done

APP_ID=1111
APP_SECRET="appsecret-$(cl_rnd)"
VT="verify-$(cl_rnd)"
cl_start_fake graph "$CL_FAKE_GRAPH" --port 0 --app-id "$APP_ID" --app-secret "$APP_SECRET" --user-id 900001
G=http://127.0.0.1:$PORT_OF
p_start_sink
cl_graph_post "$G" /control/page '{"id":"101"}'
cl_graph_post "$G" /control/form '{"id":"555","page_id":"101","name":"Spring offer","questions":[]}'

t_host_ports
# A short callback deadline (a Graph call that hangs ends with it; the
# plugin proves a page only with 10 s left, hence 11 s) and short pauses
# after throttling, so that retries come within seconds. Eight threads:
# the calls held by timeouts and trickles leave room for the rest.
t_host_config <<JSON
 "plugin_dirs":["$C360_BUILD_DIR/plugins","$P_PLUGINS"],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000},
 "admin":{"public_url":"$URL"},
 "ratelimit":{"default_pause_ms":500},
 "pipeline":{"workers":1,"worker_threads":8,"tick_floor_s":1,"claim_idle_ms":3000,
             "callback_timeout_ms":11000,"max_attempts":8}}
JSON
export C360_META_GRAPH_URL=$G C360_META_WWW_URL=$G C360_META_THROTTLE_MIN_MS=300
t_start_c360d c360d --config "$T_DIR/c360.json"
HOST_PID=$C360D_PID
t_wait_http "$URL/readyz" 200 150
OPKEY=$(t_opkey "$T_DIR/data")

api() { t_api_want "$@"; } # lib.sh
api POST /v1/tenants '{"id":"ta","name":"Tenant A"}' 201
api PUT /v1/tenants/ta/plugins/meta '{"enabled":true}' 200
api PUT /v1/tenants/ta/plugins/tdst '{"enabled":true}' 200
api POST /v1/tenants/ta/connections \
    "{\"id\":\"crm\",\"plugin\":\"tdst\",\"name\":\"CRM\",\"config\":{\"url\":\"$SINK_URL/deliver/ta\",\"timeout_ms\":5000}}" 201
api POST /v1/tenants/ta/connections \
    '{"id":"meta-a","plugin":"meta","name":"FB A","interval_s":3600,"config":{"app_id":"1111","page_ids":["101"]}}' 201
api PUT /v1/tenants/ta/connections/meta-a/secrets/page_token:101 '{"value":"PT-101"}' 204
api PUT /v1/tenants/ta/connections/meta-a/secrets/app_secret "{\"value\":\"$APP_SECRET\"}" 204
api PUT /v1/tenants/ta/connections/meta-a/secrets/verify_token "{\"value\":\"$VT\"}" 204
api PUT /v1/tenants/ta/connections/meta-a/routes/crm '{}' 200

leadgen() {
    local now; now=$(date +%s)
    printf '{"object":"page","entry":[{"id":"101","time":%s,"changes":[{"field":"leadgen","value":{"leadgen_id":"%s","page_id":"101","form_id":"555","created_time":%s}}]}]}' \
        "$now" "$1" "$now"
}
add_lead() {
    cl_graph_post "$G" /control/lead "{\"id\":\"$1\",\"form_id\":\"555\",\"page_id\":\"101\",\"created_time\":$(date +%s),\"field_data\":[{\"name\":\"email\",\"values\":[\"lead$1@example.com\"]}]}"
}
# send ID OKFILE -- a lead at Meta and its webhook; a 200 goes to OKFILE.
# Right after setup the page may not be proven yet (404/401): sent again.
send() {
    local code=
    add_lead "$1"
    for _ in $(seq 50); do
        code=$(cl_meta_hook "$URL/hooks/meta" "$APP_SECRET" "$(leadgen "$1")")
        [ "$code" = 200 ] && { echo "meta:lead:$1" >>"$2"; return 0; }
        [ "$code" = 404 ] || [ "$code" = 401 ] || [ "$code" = 503 ] || break
        sleep 0.2
    done
    echo "webhook of lead $1: HTTP $code $(cat "$T_DIR/hook.body")" >&2
}
sink_keys() { p_stats "prefix=$1" | { grep -o "\"$1[^\"]*\":[1-9]" || true; } | cut -d'"' -f2 >"$2"; }

# The page is proven and webhooks flow.
send 8000001 "$T_DIR/ok-warm.txt"
[ -s "$T_DIR/ok-warm.txt" ] || t_fail "the first leadgen webhook was never accepted"
p_wait_distinct meta:lead:8000001 1 30
t_ok "meta -> tdst set up; a lead flows ($SECONDS s)"

# fired -- requests that got a fake_fault.h fault, plus Meta throttling
# answers since the last reset.
fired() {
    echo $(( $(cl_num "$(curl -s -m 5 "$G/__fault")" hits) + $(cl_graph_stat "$G" throttled) ))
}
declare -A ACC DEL DLQ LOST CAUSE
# group SPEC... -- SPEC is "N|NAME|ARM" (ARM: a fake_graph control path).
# Arms every fault of the group, which then run side by side: 4 leads
# 81N0001..81N0004 per fault (the faults' path filters are /81N), accounted
# for per fault; then every fault is off, and recovery is checked once
# (a new lead 89G0001 flows) before the group's rows are printed.
group() {
    local spec n name arm f0 rec=no g=$1
    g=${g%%|*}
    f0=$(fired)
    for spec; do
        IFS='|' read -r n name arm <<<"$spec"
        : >"$T_DIR/ok-$n.txt"
        cl_graph_post "$G" "$arm"
    done
    for i in 1 2 3 4; do
        for spec; do IFS='|' read -r n name arm <<<"$spec"; send "81${n}000$i" "$T_DIR/ok-$n.txt"; done
    done
    for spec; do
        IFS='|' read -r n name arm <<<"$spec"
        # shellcheck disable=SC2317
        del() { sink_keys "meta:lead:81$n" "$1"; }
        f_account "$name" "$T_DIR/ok-$n.txt" ta 45 del
        ACC[$n]=$F_ACC; DEL[$n]=$F_DEL; DLQ[$n]=$F_DLQ; LOST[$n]=$F_LOST; CAUSE[$n]=$F_CAUSE
        [ "$(wc -l <"$T_DIR/ok-$n.txt")" = 4 ] || t_fail "$name: only $(wc -l <"$T_DIR/ok-$n.txt") of 4 webhooks accepted"
        # A counted fault is used up: it fired as often as it was told to.
        [[ $arm != /__fault* ]] || ! grep -q "\"path\":\"/81$n\"" <<<"$(curl -s -m 5 "$G/__fault")" ||
            t_fail "$name: the fault did not fire as often as armed: $(curl -s -m 5 "$G/__fault")"
    done
    [ "$(fired)" -gt "$f0" ] || t_fail "group $g: no fault fired"
    cl_graph_post "$G" "/__fault?mode=off"
    cl_graph_post "$G" "/control?reset=1"
    send "89${g}0001" "$T_DIR/ok-after-$g.txt"
    f_alive "$HOST_PID" && f_ready "$URL" && [ -s "$T_DIR/ok-after-$g.txt" ] &&
        p_wait_distinct "meta:lead:89${g}0001" 1 30 soft && rec=yes
    for spec; do
        IFS='|' read -r n name arm <<<"$spec"
        F_ACC=${ACC[$n]} F_DEL=${DEL[$n]} F_DLQ=${DLQ[$n]} F_LOST=${LOST[$n]} F_CAUSE=${CAUSE[$n]}
        f_row "meta: $name" "$rec"
    done
}

# The Graph faults side by side (each on its own leads); then Meta's
# throttling, which pauses the whole app.
group "1|Graph timeout (2 lead reads unanswered)|/__fault?mode=timeout&count=2&path=/811" \
      "2|Graph slow trickle (2 x 1 byte / 200 ms)|/__fault?mode=trickle&count=2&ms=200&path=/812" \
      "3|Graph 5xx storm (8 x 503 HTML)|/__fault?mode=5xx&status=503&count=8&path=/813" \
      "4|Graph malformed JSON (4 x cut JSON)|/__fault?mode=malformed&count=4&path=/814" \
      "5|Graph huge answer (2 MiB > 1 MiB limit)|/__fault?mode=huge&count=1&bytes=2097152&path=/815" \
      "7|Graph HTTP 429 storm (6 x, Retry-After: 1, X-App-Usage 100 %)|/__fault?mode=429&count=6&retry_after=1&path=/817"
# The huge answer is permanent for its lead: a dead letter with the cause.
# Meta behaves again: replayed, it is delivered.
[ "${DLQ[5]}" -ge 1 ] || t_fail "the huge answer's lead is not a dead letter"
"$P_SEED" --redis "redis://127.0.0.1:$RPORT" dlq-replay ta >"$T_DIR/replay.out" 2>&1 ||
    t_fail "dlq-replay: $(cat "$T_DIR/replay.out")"
f_dlq_dump ta "$T_DIR/dlq.now"
[ ! -s "$T_DIR/dlq.now" ] || t_fail "dead letters left after the replay: $(cat "$T_DIR/dlq.now")"
for i in 1 2 3 4; do p_wait_distinct "meta:lead:815000$i" 1 30; done
t_ok "huge: $(cat "$T_DIR/replay.out"): the dead-lettered lead delivered once Meta behaves"
group "6|Graph throttling storm (10 x #613, usage headers 100 %)|/control?throttle=613&count=10&usage=100"
curl -s -m 5 "$G/__fault"; echo
for s in "$APP_SECRET" "$VT" PT-101; do
    grep -qF -- "$s" "$T_DIR/c360d.log" && t_fail "a secret is in the c360d log"
done
t_ok "meta fetch-path faults: nothing lost, one c360d process ($HOST_PID)"
t_sanitizers_clean # a fault must not turn into memory misuse
