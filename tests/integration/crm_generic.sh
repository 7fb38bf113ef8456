#!/usr/bin/env bash
# crm_generic.sh -- the crm_generic destination end to end: a real c360d
# with the bundled plugins and the pipeline test source tsrc, a tenant,
# connections, secrets and routes made with c360ctl, and tests/fakes/
# fake_crm as the customer's endpoint, which checks Standard Webhooks
# signatures and fails on demand. In order:
#
#   - config checks through the API (https required, http only with the
#     operator's C360_CRM_GENERIC_ALLOW_HTTP, which this test sets);
#   - a webhook to tsrc -> the record at the CRM, shaped by the route's
#     field mapping, in an envelope, signed, webhook-id = the record id;
#   - CRM 500 then 200 -> delivered on the retry;
#   - CRM 429 with Retry-After: 3 -> the retry waits at least that long;
#   - CRM 400 -> a dead letter with the answer's excerpt -> replay after
#     the CRM is fixed -> delivered with the same webhook-id;
#   - secret rotation: two signatures while signing_secret_next is set,
#     then the new value of signing_secret alone (crm_generic keeps the
#     secrets it read per instance: a put or delete reopens the instance,
#     in a worker process within its one-second version recheck);
#   - batching: records replayed together reach the CRM as one array
#     request (skipped, saying so, on a host without deliver_batch);
#   - CRM 410 -> the route is stopped and the connection shows failing
#     with the cause (skipped on a host without C360_EGONE handling).
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/pipeline_lib.sh"
FAKE_CRM=$C360_BUILD_DIR/tests/fakes/fake_crm
for f in "$FAKE_CRM" "$C360_BUILD_DIR/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
unset C360_URL C360_KEY C360_CONFIG C360_CACERT C360_TIMEOUT
export HOME="$T_DIR/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"

# Two Standard Webhooks secrets (24 random bytes each): the current one
# and the one rotated to. The fake CRM knows both.
S1="whsec_$(head -c 24 /dev/urandom | base64)"
S2="whsec_$(head -c 24 /dev/urandom | base64)"
SRC_SECRET=tsrc-secret-0123456789

"$FAKE_CRM" --port 0 --secret "$S1" --secret "$S2" >"$T_DIR/crm.out" 2>"$T_DIR/crm.log" &
T_PIDS+=("$!")
for _ in $(seq 100); do grep -q '^port ' "$T_DIR/crm.out" 2>/dev/null && break; sleep 0.05; done
CRM_PORT=$(awk '/^port /{print $2}' "$T_DIR/crm.out")
[ -n "$CRM_PORT" ] || t_fail "fake_crm did not start"
CRM_URL=http://127.0.0.1:$CRM_PORT

RPORT=$(t_free_port)
t_start_redis "$RPORT"
PORT=$(t_free_port)
cat >"$T_DIR/c360.json" <<JSON
{"listen":"127.0.0.1:$PORT","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$C360_BUILD_DIR/plugins","$P_PLUGINS"],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000},
 "pipeline":{"workers":1,"worker_threads":2,"callback_timeout_ms":5000,
             "claim_idle_ms":3000,"max_attempts":4}}
JSON
# The fake CRM speaks plain HTTP on loopback: the operator allows it.
export C360_CRM_GENERIC_ALLOW_HTTP=1
p_start_host c360d "$T_DIR/c360.json"
URL=$HOST_URL
export C360_URL=$URL
t_opkey "$T_DIR/data" >"$T_DIR/op.key"
chmod 600 "$T_DIR/op.key"
export C360_KEY_FILE=$T_DIR/op.key

# ctl ARGS... -- c360ctl --json; fails the test unless it exits 0.
ctl() {
    "$C360CTL" --json "$@" >"$T_DIR/out" 2>"$T_DIR/err" ||
        t_fail "c360ctl $*: $(cat "$T_DIR/err" "$T_DIR/out")"
}
# crm_received QUERY -- the fake CRM's /received?QUERY into $T_DIR/rcv.
crm_received() { curl -s -m 5 "$CRM_URL/received?$1" >"$T_DIR/rcv"; }
crm_control() {
    curl -s -m 5 "$CRM_URL/control?$1" | grep -q '"mode"' || t_fail "fake_crm control $1"
}
# wait_crm ID STATUS [SECONDS] -- until the CRM answered STATUS to a
# request whose webhook-id is ID; leaves those requests in $T_DIR/rcv.
wait_crm() {
    local id=$1 want=$2 end=$((SECONDS + ${3:-15}))
    while [ "$SECONDS" -le "$end" ]; do
        crm_received "id=$id"
        grep -q "\"status\":$want" "$T_DIR/rcv" && return 0
        sleep 0.1
    done
    t_fail "the CRM never answered $want to webhook-id $id: $(cat "$T_DIR/rcv")
$(grep -h '"plugin":"crm_generic"' "$T_DIR"/c360d.log | tail -n 5)"
}
# has WHAT TEXT -- fails unless $T_DIR/rcv holds TEXT.
has() { grep -qF -- "$2" "$T_DIR/rcv" || t_fail "$1: no $2 in $(cat "$T_DIR/rcv")"; }
# hook CONN ID [EXTRA_JSON_MEMBERS] -- a signed lead webhook to tsrc.
hook() {
    local body="{\"id\":\"$2\",\"type\":\"lead\",\"contact\":{\"email\":\"$2@example.com\",\"full_name\":\"Lead $2\"}${3:+,$3}}"
    local code
    code=$(p_post "$URL/hooks/tsrc/$1" "$SRC_SECRET" "$body")
    [ "$code" = 200 ] || t_fail "webhook $2 to $1: HTTP $code $(cat "$T_DIR/post.body")"
}
# dlq_ids CONN -- the ids of the connection's dead letters, newest first.
dlq_ids() {
    "$C360CTL" --json dlq list --tenant acme --conn "$1" 2>/dev/null |
        grep -o '"id":"[0-9]*-[0-9]*","at_ms"' | cut -d'"' -f4
}

# --- tenant, plugins, connections ----------------------------------------------
ctl tenants create acme --name Acme
ctl plugins enable tsrc --tenant acme
ctl plugins enable crm_generic --tenant acme

echo "{\"id\":\"src\",\"plugin\":\"tsrc\",\"name\":\"Source\",\"config\":{\"secret\":\"$SRC_SECRET\"}}" >"$T_DIR/src.json"
ctl conns create --tenant acme --file "$T_DIR/src.json"

# The plugin's own checks (after the schema's) come back per field, under
# /config: credentials in the URL or in a static header, a header auth
# without its header name.
echo '{"plugin":"crm_generic","config":{"url":"https://u:p@crm.example/x","headers":{"X-Api-Key":"k"},"auth":{"type":"header"}}}' >"$T_DIR/bad.json"
"$C360CTL" --json conns validate --tenant acme --file "$T_DIR/bad.json" >"$T_DIR/out" 2>"$T_DIR/err" &&
    t_fail "a bad crm_generic config was accepted"
for p in /config/url /config/auth/header_name /config/headers/X-Api-Key; do
    grep -q "$p" "$T_DIR/out" "$T_DIR/err" || t_fail "validate: no error at $p: $(cat "$T_DIR/out" "$T_DIR/err")"
done

cat >"$T_DIR/crm.json" <<JSON
{"id":"crm","plugin":"crm_generic","name":"CRM",
 "config":{"url":"$CRM_URL/leads?list=inbound","body":"envelope",
           "auth":{"type":"standard_webhooks"},"timeout_ms":5000,
           "headers":{"X-Source":"c360"}}}
JSON
ctl conns create --tenant acme --file "$T_DIR/crm.json"
printf '%s\n' "$S1" | "$C360CTL" secrets put signing_secret --tenant acme --conn crm \
    >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "secrets put: $(cat "$T_DIR/err")"
ctl routes add crm --tenant acme --conn src \
    --mapping '{"email":{"from":"/contact/email"},"name":{"from":"/contact/full_name"},"lead_id":{"from":"/id"},"meta.origin":{"const":"c360-test"}}'
t_ok "tenant, tsrc source, crm_generic destination (per-field config errors), secret, route with a mapping"

# --- delivered, mapped, signed ---------------------------------------------------------
hook src lead-1
wait_crm lead-1 200
has "delivery" '"method":"POST","path":"/leads","query":"list=inbound"'
has "envelope type" '"type":"lead.created"'
has "mapped email" '"email":"lead-1@example.com"'
has "mapped name" '"name":"Lead lead-1"'
has "mapped id" '"lead_id":"lead-1"'
has "constant" '"meta":{"origin":"c360-test"}'
grep -q '"contact"' "$T_DIR/rcv" && t_fail "the unmapped record was sent: $(cat "$T_DIR/rcv")"
has "webhook-id" '"webhook-id":"lead-1"'
has "idempotency-key" '"idempotency-key":"lead-1"'
has "static header" '"x-source":"c360"'
has "content type" '"content-type":"application/json"'
# S1 signs, S2 (not yet in use) does not: "partial" for a CRM that knows both.
has "signature" '"sig":"partial"'
has "signature by the current secret" '"sig_count":1,"sig_valid":[true,false]'
grep -q "$S1" "$T_DIR"/c360d.log && t_fail "the signing secret is in c360d's log"
t_ok "webhook -> record at the CRM: mapped fields in an envelope, Standard Webhooks signature, webhook-id = record id"

# --- 500 then 200 ------------------------------------------------------------------------
crm_control "mode=500&count=1"
hook src lead-2
wait_crm lead-2 200
[ "$(grep -o '"status":[0-9]*' "$T_DIR/rcv" | tr '\n' ' ')" = '"status":500 "status":200 ' ] ||
    t_fail "500 then 200: $(cat "$T_DIR/rcv")"
ctl logs deliveries --tenant acme --conn crm
grep -q 'HTTP 500' "$T_DIR/out" || t_fail "the delivery log lacks the 500: $(cat "$T_DIR/out")"
t_ok "CRM 500 -> retried -> delivered (same webhook-id), the 500 in the delivery log"

# --- 429 with Retry-After --------------------------------------------------------------------
crm_control "mode=429&count=1&retry_after=3"
hook src lead-3
wait_crm lead-3 200
first=$(grep -o '"at_ms":[0-9]*' "$T_DIR/rcv" | head -n 1 | cut -d: -f2)
last=$(grep -o '"at_ms":[0-9]*' "$T_DIR/rcv" | tail -n 1 | cut -d: -f2)
[ "$(grep -c . <<<"$(grep -o '"status":[0-9]*' "$T_DIR/rcv")")" = 2 ] || t_fail "429 then 200: $(cat "$T_DIR/rcv")"
[ $((last - first)) -ge 2900 ] || t_fail "Retry-After: 3 not honoured: retried after $((last - first)) ms"
t_ok "CRM 429 Retry-After: 3 -> retried after $((last - first)) ms"

# --- 400: dead letter, replay with the same webhook-id -------------------------------------
crm_control "mode=400"
hook src lead-4
wait_crm lead-4 400
dl=
for _ in $(seq 100); do dl=$(dlq_ids crm | head -n 1); [ -n "$dl" ] && break; sleep 0.1; done
[ -n "$dl" ] || t_fail "no dead letter for the 400"
ctl dlq get "$dl" --tenant acme
grep -q '"ri":"lead-4"' "$T_DIR/out" || t_fail "dead letter: $(cat "$T_DIR/out")"
grep -q 'HTTP 400: {\\"error\\":\\"invalid field\\"' "$T_DIR/out" || t_fail "dead letter without the excerpt: $(cat "$T_DIR/out")"
crm_control "mode=ok"
ctl dlq replay "$dl" --tenant acme
wait_crm lead-4 200
[ "$(grep -o '"status":[0-9]*' "$T_DIR/rcv" | tr '\n' ' ')" = '"status":400 "status":200 ' ] ||
    t_fail "400 then replayed 200: $(cat "$T_DIR/rcv")"
has "replay signed" '"sig":"partial"'
t_ok "CRM 400 -> dead letter with the answer's excerpt -> replay -> delivered with the same webhook-id"

# --- secret rotation -------------------------------------------------------------------------
# secrets_changed -- after a put or delete: the worker process notices the
# connection's new version (and reopens the instance, whose first call
# reads the secrets) when it next takes the connection at least a second
# after its last check (host/pipeline/worker.c, recheck_ms). Waiting that
# long makes the next delivery the first one that must use the new values.
secrets_changed() { sleep 1.2; }
printf '%s\n' "$S2" | "$C360CTL" secrets put signing_secret_next --tenant acme --conn crm \
    >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "secrets put next: $(cat "$T_DIR/err")"
secrets_changed
hook src lead-5
wait_crm lead-5 200
has "two signatures" '"sig":"ok","sig_count":2,"sig_valid":[true,true]'
printf '%s\n' "$S2" | "$C360CTL" secrets put signing_secret --tenant acme --conn crm \
    >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "secrets put: $(cat "$T_DIR/err")"
ctl secrets delete signing_secret_next --tenant acme --conn crm
secrets_changed
hook src lead-6
wait_crm lead-6 200
has "the new secret alone" '"sig_count":1,"sig_valid":[false,true]'
t_ok "rotation: both signatures while signing_secret_next is set, then the new secret alone"

# --- batching ----------------------------------------------------------------------------------
if grep -qa 'delivery_batch_max' "$C360D"; then
    echo "{\"id\":\"src-b\",\"plugin\":\"tsrc\",\"name\":\"Source B\",\"config\":{\"secret\":\"$SRC_SECRET\"}}" >"$T_DIR/srcb.json"
    ctl conns create --tenant acme --file "$T_DIR/srcb.json"
    cat >"$T_DIR/crmb.json" <<JSON
{"id":"crm-b","plugin":"crm_generic","name":"CRM batches",
 "config":{"url":"$CRM_URL/batch","auth":{"type":"standard_webhooks"},
           "batch":{"max_records":10,"array_body":true}}}
JSON
    ctl conns create --tenant acme --file "$T_DIR/crmb.json"
    printf '%s\n' "$S1" | "$C360CTL" secrets put signing_secret --tenant acme --conn crm-b \
        >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "secrets put: $(cat "$T_DIR/err")"
    ctl routes add crm-b --tenant acme --conn src-b
    # Refused while they arrive one by one, then replayed together: the
    # replay puts them in the delivery stream at once, and the worker
    # hands them to deliver_batch in one call.
    crm_control "mode=400"
    for i in 1 2 3; do hook src-b "b-$i"; done
    n=0
    for _ in $(seq 150); do n=$(dlq_ids crm-b | grep -c . || true); [ "$n" -ge 3 ] && break; sleep 0.1; done
    [ "$n" -ge 3 ] || t_fail "batch: $n of 3 dead letters"
    crm_control "mode=ok"
    ctl dlq replay --tenant acme --conn crm-b
    for _ in $(seq 150); do
        crm_received "since=1"
        grep -q '"status":200,"sig":"partial","sig_count":1,"sig_valid":\[true,false\],"records":3' "$T_DIR/rcv" && break
        sleep 0.1
    done
    crm_received "since=1"
    grep -q '"status":200,"sig":"partial","sig_count":1,"sig_valid":\[true,false\],"records":3' "$T_DIR/rcv" ||
        t_fail "batch: no signed array request of 3 records: $(grep -o '"path":"/batch".\{0,40\}\|"status":[0-9]*,"sig":"[a-z]*","sig_count":[0-9],"sig_valid":\[[a-z,]*\],"records":[0-9]*' "$T_DIR/rcv" | tr '\n' ' ')"
    grep -q '"webhook-id":"batch_[0-9a-f]\{32\}"' "$T_DIR/rcv" || t_fail "batch: no batch_ webhook-id"
    t_ok "batching: three replayed records in one signed array request (webhook-id batch_...)"
else
    echo "SKIP: batching -- this c360d has no deliver_batch (pipeline.delivery_batch_max)"
fi

# --- 410: route stopped, connection failing ----------------------------------------------
if grep -qa 'answered 410 Gone' "$C360D"; then
    crm_control "mode=410"
    hook src lead-7
    wait_crm lead-7 410
    for _ in $(seq 100); do
        "$C360CTL" --json conns get crm --tenant acme >"$T_DIR/out" 2>/dev/null || true
        grep -q '"state":"failing"' "$T_DIR/out" && break
        sleep 0.1
    done
    grep -q '"state":"failing"' "$T_DIR/out" || t_fail "410: connection not failing: $(cat "$T_DIR/out")"
    grep -q '"cause":"[^"]*410' "$T_DIR/out" || t_fail "410: no cause: $(cat "$T_DIR/out")"
    ctl routes list --tenant acme --conn src
    grep -q '"destination":"crm"' "$T_DIR/out" && t_fail "410: the route is still there: $(cat "$T_DIR/out")"
    for _ in $(seq 50); do dlq_ids crm | grep -q . && break; sleep 0.1; done
    "$C360CTL" --json dlq list --tenant acme --conn crm >"$T_DIR/out" 2>&1
    grep -q '"ri":"lead-7"' "$T_DIR/out" || t_fail "410: no dead letter for lead-7: $(cat "$T_DIR/out")"
    t_ok "CRM 410 -> route stopped, connection failing with the cause, record dead-lettered"
else
    echo "SKIP: 410 -- this c360d does not handle C360_EGONE yet"
fi

crm_received "since=1"
grep -q '"sig":"bad"\|"sig":"none"' "$T_DIR/rcv" && t_fail "a request was badly signed: $(cat "$T_DIR/rcv")"
for s in "$S1" "$S2"; do grep -qF "$s" "$T_DIR"/*.log && t_fail "a signing secret is in a log"; done
t_ok "crm_generic end to end"
