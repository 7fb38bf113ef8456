#!/usr/bin/env bash
# meta_prefetch.sh -- the meta plugin's look ahead (ABI 1.7 event_prefetch):
# the leads of several webhook events of one connection read in one Graph
# batch request (POST /v25.0/ with batch=[..]) instead of one GET each,
# against the fake Graph API (tests/fakes/fake_graph), delivered by the test
# destination tdst to the sink (tests/fakes/fake_sink).
#
# A look ahead needs two or more events of the connection in one turn of a
# worker thread, and a turn is sized by the thread's past callback times
# (under ASan a meta callback takes long enough to make it one item). So
# that it happens deterministically, the one worker process is stopped
# (SIGSTOP) while the webhooks are stored by the master, then killed: the
# supervisor's replacement has fresh threads, whose first turn takes the
# stored events together (the stopped worker never read them).
#
#   six lead webhooks -> one batch request of six operations, no single
#     GET; each lead delivered once, its record the same as a lead read
#     alone (one webhook, one GET) apart from ids and times
#   the batch request fails (5xx fault on it) -> the four leads are read by
#     single GETs and delivered once each, records alike
#   one operation of a batch fails (a 5xx fault on its lead) -> the other
#     leads come from the batch, that one from its own GET
#   leads of the connection's two pages -> one batch request, each
#     operation with its own page's token (two tokens in the request)
#   page 102's operations throttled (code 32, only calls about 102) -> page
#     101's leads still come from that batch; 102's pause is reported to
#     its own bucket (not 101's, not the app's), and its leads are read by
#     their events once the pause is over
#   no token in c360d's log
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/pipeline_lib.sh" # the sink (p_start_sink, p_key_count), p_workers_of
source "$(dirname "$0")/connectors_lib.sh"
for f in "$CL_FAKE_GRAPH" "$C360_BUILD_DIR/plugins/meta.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
command -v jq >/dev/null || t_fail "jq is needed to compare records"

APP_ID=1111
APP_SECRET="appsecret-$(cl_rnd)"
VT="verify-$(cl_rnd)"
PT="PT-pf-$(cl_rnd)"
PT2="PT-pf2-$(cl_rnd)"

cl_start_fake graph "$CL_FAKE_GRAPH" --port 0 --app-id "$APP_ID" --app-secret "$APP_SECRET" --user-id 900001
G=http://127.0.0.1:$PORT_OF
p_start_sink
S=$SINK_URL
cl_graph_post "$G" /control/page '{"id":"101","access_token":"'"$PT"'"}'
cl_graph_post "$G" /control/form '{"id":"555","page_id":"101","name":"Spring offer","questions":[{"key":"email","label":"Email"},{"key":"budget","label":"What is your budget?"}],"legal_content":{"id":"77","custom_disclaimer":{"title":"Offers","checkboxes":[{"key":"optin","text":"Send me offers","is_required":false}]}}}'
cl_graph_post "$G" /control/page '{"id":"102","access_token":"'"$PT2"'"}'
cl_graph_post "$G" /control/form '{"id":"556","page_id":"102","name":"Autumn offer","questions":[{"key":"email","label":"Email"}]}'

cl_host_config meta "$P_PLUGINS"
# (C360_MASTER_KEY: pipeline_lib.sh exported a fresh one.)
export C360_META_GRAPH_URL=$G C360_META_WWW_URL=$G C360_META_THROTTLE_MIN_MS=1500
t_start_c360d c360d --config "$T_DIR/c360.json"
t_wait_http "$URL/readyz" 200 150
OPKEY=$(t_opkey "$T_DIR/data")

secret() { t_api_want PUT "/v1/tenants/ta/connections/$1/secrets/$2" "{\"value\":\"$3\"}" 204; }
t_api_want POST /v1/tenants '{"id":"ta","name":"Tenant A"}' 201
for p in meta tdst; do t_api_want PUT "/v1/tenants/ta/plugins/$p" '{"enabled":true}' 200; done
t_api_want POST /v1/tenants/ta/connections \
    "{\"id\":\"crm-ta\",\"plugin\":\"tdst\",\"name\":\"CRM\",\"config\":{\"url\":\"$S/deliver/ta\",\"timeout_ms\":5000}}" 201
t_api_want POST /v1/tenants/ta/connections '{"id":"meta-a","plugin":"meta","name":"FB A","interval_s":3600,"config":{"app_id":"1111","page_ids":["101","102"]}}' 201
# The page tokens first: the instance opens as soon as the app's secrets are there.
secret meta-a "page_token:101" "$PT"
secret meta-a "page_token:102" "$PT2"
secret meta-a app_secret "$APP_SECRET"
secret meta-a verify_token "$VT"
t_api_want PUT /v1/tenants/ta/connections/meta-a/routes/crm-ta '{}' 200
hs_ok() { [ "$(cl_meta_handshake "$URL/hooks/meta" "$VT" 1158201444)" = 200 ]; }
cl_wait_until 30 'the handshake never succeeded: $(cat "$T_DIR/hs.body")' hs_ok

# --- helpers ---------------------------------------------------------------------------
# hold_worker -- stops the worker (idle: everything before is delivered);
# the host runs one (cl_host_config), the latest pid the supervisor logged.
hold_worker() {
    HELD=$(p_workers_of "$T_DIR/c360d.log")
    [ -n "$HELD" ] && kill -0 "$HELD" || t_fail "no worker process"
    kill -STOP "$HELD"
}
# fresh_worker -- kills the stopped worker; waits for its replacement.
fresh_worker() {
    kill -KILL "$HELD"
    local w
    for _ in $(seq 150); do
        w=$(p_workers_of "$T_DIR/c360d.log")
        [ -n "$w" ] && [ "$w" != "$HELD" ] && kill -0 "$w" 2>/dev/null && return 0
        sleep 0.1
    done
    t_fail "worker $HELD not replaced"
}
# leads_of PAGE FORM ID... -- each a lead at Meta (created now: the
# catch-up poll leaves it to its webhook) and its webhook, stored by the
# master. leads ID...: page 101's, form 555.
leads() { leads_of 101 555 "$@"; }
leads_of() {
    local page=$1 form=$2 id code
    shift 2
    for id in "$@"; do cl_graph_lead "$G" "$id" "$form" "$page" "$(date +%s)"; done
    for id in "$@"; do
        # The route keys come with the master's opened instance.
        for _ in $(seq 100); do
            code=$(cl_meta_hook "$URL/hooks/meta" "$APP_SECRET" "$(cl_leadgen "$page" "$id" "$form")")
            [ "$code" = 200 ] && break
            grep -q '"unrouted"' "$T_DIR/hook.body" || break
            sleep 0.1
        done
        [ "$code" = 200 ] || t_fail "leadgen webhook $id: HTTP $code $(cat "$T_DIR/hook.body")"
    done
}
all_delivered() { local id; for id in "$@"; do [ "$(p_key_count "meta:lead:$id")" -ge 1 ] || return 1; done; }
# delivered_once ID... -- waits for each, then (after a settle) checks once.
delivered_once() {
    cl_wait_until 40 'leads $* not all delivered: $(curl -s "$S/stats?prefix=meta:lead:")' all_delivered "$@"
    sleep 1
    local id
    for id in "$@"; do
        [ "$(p_key_count "meta:lead:$id")" = 1 ] || t_fail "lead $id delivered $(p_key_count "meta:lead:$id") times"
    done
}
gstat() { cl_graph_stat "$G" "$1"; }
# norm ID -- the lead's record without what differs from lead to lead (its
# ids, contact and times): what is left is what Graph's answer made of it.
norm() {
    curl -s -m 5 "$S/records?prefix=meta:lead:$1" |
        jq -cS --arg id "$1" 'first(.[] | select(.key == "meta:lead:" + $id)) | .body
            | del(.received_at_ms, .created_at, .created_at_ms)
            | walk(if type == "string" then gsub($id; "ID") else . end)'
}
same_records() { # REFERENCE ID...
    local ref id got
    ref=$(norm "$1")
    grep -q '"via":"webhook"' <<<"$ref" && grep -q '"lead_id":"ID"' <<<"$ref" &&
        grep -q '"label":"What is your budget?"' <<<"$ref" || t_fail "reference record: $ref"
    shift
    for id in "$@"; do
        got=$(norm "$id")
        [ "$got" = "$ref" ] || t_fail "lead $id: record differs from a lead read alone:
  $got
  $ref"
    done
}

# --- six leads, one batch ----------------------------------------------------------------
B1=(7100001 7100002 7100003 7100004 7100005 7100006)
hold_worker
leads "${B1[@]}"
[ "$(gstat lead_get)" = 0 ] || t_fail "a lead was read while the worker was stopped"
fresh_worker
delivered_once "${B1[@]}"
[ "$(gstat batch)" = 1 ] && [ "$(gstat batch_ops)" = 6 ] && [ "$(gstat batch_max)" = 6 ] ||
    t_fail "six leads: $(gstat batch) batch request(s), $(gstat batch_ops) operations (max $(gstat batch_max)), want one of six"
[ "$(gstat lead_get)" = 6 ] || t_fail "six leads read $(gstat lead_get) times (a GET besides the batch?)"
[ "$(gstat bad_proof)" = 0 ] && [ "$(gstat no_token)" = 0 ] || t_fail "the batch's tokens or proofs were refused"
t_ok "six lead webhooks of one connection: one batch request of six operations, no single GET, each delivered once"

# One lead alone: its own GET (a look ahead needs two events).
leads 7100007
delivered_once 7100007
[ "$(gstat batch)" = 1 ] && [ "$(gstat lead_get)" = 7 ] || t_fail "a lone lead: $(gstat batch) batches, $(gstat lead_get) reads"
same_records 7100007 "${B1[@]}"
t_ok "the batched leads' records are those of a lead read alone"

# --- the batch request fails: single GETs ---------------------------------------------------
hold_worker
curl -s -m 5 -f -X POST "$G/__fault?mode=5xx&path=batch&count=1" >/dev/null || t_fail "arming the batch fault"
B2=(7100011 7100012 7100013 7100014)
leads "${B2[@]}"
fresh_worker
delivered_once "${B2[@]}"
curl -s -m 5 "$G/__fault" | grep -q '"hits":1,"armed":\[\]' || t_fail "the batch fault: $(curl -s "$G/__fault")"
[ "$(gstat batch)" = 1 ] && [ "$(gstat lead_get)" = 11 ] ||
    t_fail "after a failed batch: $(gstat batch) batches answered, $(gstat lead_get) reads (want 1 and 11)"
same_records 7100007 "${B2[@]}"
t_ok "a batch request answered 500: its four leads read one by one and delivered once each, records alike"

# --- one operation fails: that lead alone ------------------------------------------------------
hold_worker
curl -s -m 5 -f -X POST "$G/__fault?mode=5xx&path=/7100022&count=1" >/dev/null || t_fail "arming the lead fault"
B3=(7100021 7100022 7100023)
leads "${B3[@]}"
fresh_worker
delivered_once "${B3[@]}"
curl -s -m 5 "$G/__fault" | grep -q '"hits":2,"armed":\[\]' || t_fail "the operation's fault: $(curl -s "$G/__fault")"
[ "$(gstat batch)" = 2 ] && [ "$(gstat batch_ops)" = 9 ] && [ "$(gstat lead_get)" = 14 ] ||
    t_fail "one failed operation: $(gstat batch) batches, $(gstat batch_ops) ops, $(gstat lead_get) reads (want 2, 9, 14)"
same_records 7100007 "${B3[@]}"
t_ok "one operation answered 500: the batch's other leads used, that one read by its own GET"

# --- two pages, one batch ------------------------------------------------------------------
# Counters from here on: what changed since snap.
snap() { S_BATCH=$(gstat batch); S_OPS=$(gstat batch_ops); S_GET=$(gstat lead_get); S_TH=$(gstat throttled); }
since() { echo $(( $(gstat "$1") - $2 )); }
snap
hold_worker
B4=(7100031 7100032 7100033)
B5=(7100041 7100042)
leads "${B4[@]}"
leads_of 102 556 "${B5[@]}"
fresh_worker
delivered_once "${B4[@]}" "${B5[@]}"
[ "$(since batch "$S_BATCH")" = 1 ] && [ "$(since batch_ops "$S_OPS")" = 5 ] ||
    t_fail "two pages' leads: $(since batch "$S_BATCH") batch request(s) of $(since batch_ops "$S_OPS") operations, want one of five"
[ "$(since lead_get "$S_GET")" = 5 ] || t_fail "two pages' five leads read $(since lead_get "$S_GET") times"
[ "$(gstat batch_tokens_max)" = 2 ] || t_fail "the batch carried $(gstat batch_tokens_max) distinct token(s), want each page's"
[ "$(gstat bad_proof)" = 0 ] && [ "$(gstat no_token)" = 0 ] || t_fail "an operation's token or proof was refused"
same_records 7100007 "${B4[@]}"
t_ok "leads of two pages of one connection: one batch request, each operation with its page's token"

# --- page 102 throttled in the batch: page 101's leads unaffected ---------------------------
snap
hold_worker
curl -s -m 5 -f -X POST "$G/control?throttle=32&count=2&usage=50&object=102" >/dev/null ||
    t_fail "arming the page's throttling"
B6=(7100051 7100052)
B7=(7100061 7100062)
leads "${B6[@]}"
leads_of 102 556 "${B7[@]}"
LOG_MARK=$(wc -l <"$T_DIR/c360d.log")
fresh_worker
delivered_once "${B6[@]}" "${B7[@]}"
[ "$(since batch "$S_BATCH")" = 1 ] && [ "$(since batch_ops "$S_OPS")" = 4 ] ||
    t_fail "throttled page: $(since batch "$S_BATCH") batch request(s) of $(since batch_ops "$S_OPS") operations, want one of four"
[ "$(since throttled "$S_TH")" = 2 ] || t_fail "$(since throttled "$S_TH") operations throttled, want page 102's two"
# 101's two from the batch, 102's two by their own GETs after the pause.
[ "$(since lead_get "$S_GET")" = 4 ] || t_fail "four leads read $(since lead_get "$S_GET") times (want 4)"
same_records 7100007 "${B6[@]}"
# The pause went to page 102's bucket only (c360d logs a pause at info).
HIGH=$(tail -n +"$((LOG_MARK + 1))" "$T_DIR/c360d.log" | { grep '"msg":"ratelimit: provider usage high"' || true; })
grep -q 'obj:102"' <<<"$HIGH" || t_fail "no pause reported for page 102: $HIGH"
if grep -q 'obj:101"\|:rl:app:' <<<"$HIGH"; then t_fail "page 102's throttling reported elsewhere: $HIGH"; fi
t_ok "page 102's operations throttled: 101's leads came from the same batch, the pause went to 102's budget only"

for tok in "$PT" "$PT2"; do
    if grep -qF "$tok" "$T_DIR/c360d.log"; then t_fail "a page token is in c360d's log"; fi
done
t_ok "no page token in the log"
