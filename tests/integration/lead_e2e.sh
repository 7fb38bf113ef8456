#!/usr/bin/env bash
# lead_e2e.sh -- a Facebook lead ad's lead from Meta to the customer's CRM,
# end to end, with both real connectors: a real c360d and redis-server, the
# meta source against the fake Graph API (tests/fakes/fake_graph) and the
# crm_generic destination against two fake CRMs (tests/fakes/fake_crm),
# one per tenant, each verifying Standard Webhooks signatures with its own
# secret. Tenants A and B share one Meta app (one app-level webhook URL,
# /hooks/meta) and own different pages; each routes meta -> crm with its
# own field mapping. In order:
#
#   1. a signed leadgen webhook for A's page -> exactly one request at A's
#      CRM: mapped fields, a valid signature, webhook-id = the record id;
#      nothing at B's CRM
#   2. the same webhook again -> still one delivery
#   3. a bad signature -> 401, nothing stored, nothing delivered; the
#      handshake with a wrong verify token -> 403
#   4. Graph throttling (613 twice, usage at 100 %) -> the lead arrives
#      after the pause
#   5. A's CRM answers 500 once -> delivered on the retry
#   6. A's CRM answers 400 -> dead letter -> replay once fixed -> delivered
#      with the same webhook-id
#   7. a lead without a webhook -> sync now -> the catch-up poll delivers
#      it; the missed-webhook count shows it (audit, state)
#   8. token error 190 -> A's meta connection needs_reauth with the cause
#   9. B, untouched by all that (and while A needs re-authorisation): its
#      lead reaches B's CRM only, shaped by B's mapping
#  10. no secret in c360d's log
#
# Waits are deadlines on polls; the only fixed sleeps are 0.1 s poll steps
# and one short settle before checking that nothing more was delivered.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/connectors_lib.sh"
for f in "$CL_FAKE_GRAPH" "$CL_FAKE_CRM" "$C360_BUILD_DIR/plugins/meta.so" \
         "$C360_BUILD_DIR/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
T_START=$SECONDS
now_ms() { date +%s%3N; }

# --- the cast: Meta, two CRMs, redis, c360d --------------------------------------------------
APP_ID=1111
APP_SECRET="appsecret-$(cl_rnd)"
VT="verify-$(cl_rnd)"
PT_A="PT-a-$(cl_rnd)"
PT_B="PT-b-$(cl_rnd)"
SIGN_A=$(cl_whsec)
SIGN_B=$(cl_whsec)

cl_start_fake graph "$CL_FAKE_GRAPH" --port 0 --app-id "$APP_ID" --app-secret "$APP_SECRET" --user-id 900001
G=http://127.0.0.1:$PORT_OF
cl_start_fake crm-a "$CL_FAKE_CRM" --port 0 --secret "$SIGN_A"
CRM_A=http://127.0.0.1:$PORT_OF
cl_start_fake crm-b "$CL_FAKE_CRM" --port 0 --secret "$SIGN_B"
CRM_B=http://127.0.0.1:$PORT_OF

# Meta's side: page 101 (A) and 202 (B), both subscribed to the app (so
# the subscription check keeps the connections active), a lead form each.
# Each page knows its own token: the plugin proves access to a page with
# it (GET /me) before the page's webhooks are routed to the connection.
cl_graph_post "$G" /control/page '{"id":"101","access_token":"'"$PT_A"'"}'
cl_graph_post "$G" /control/page '{"id":"202","access_token":"'"$PT_B"'"}'
cl_graph_post "$G" /control/form '{"id":"555","page_id":"101","name":"Spring offer","questions":[{"key":"email","label":"Email"},{"key":"budget","label":"What is your budget?"}]}'
cl_graph_post "$G" /control/form '{"id":"666","page_id":"202","name":"B form","questions":[]}'

# Short pauses: a throttled Graph call waits C360_META_THROTTLE_MIN_MS, a
# usage header without reset time ratelimit.default_pause_ms. The host's
# delivery backoff (1 s, doubling) has no knob and needs none here.
cl_host_config meta
C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_MASTER_KEY
export C360_META_GRAPH_URL=$G C360_META_WWW_URL=$G C360_META_THROTTLE_MIN_MS=1500
export C360_CRM_GENERIC_ALLOW_HTTP=1 # the fake CRMs speak plain HTTP on loopback
t_start_c360d c360d --config "$T_DIR/c360.json"
t_wait_http "$URL/readyz" 200 150
cl_ctl_setup "$URL" "$T_DIR/data"
OPKEY=$(cat "$T_DIR/op.key")

# --- tenants, connections, secrets, routes (all with c360ctl) --------------------------------------
# tenant T PAGE CRM_URL SIGNING_SECRET PAGE_TOKEN MAPPING
tenant() {
    local t=$1 page=$2 crm=$3 sign=$4 pt=$5 mapping=$6
    cl_ctl tenants create "t$t" --name "Tenant $t"
    cl_ctl plugins enable meta --tenant "t$t"
    cl_ctl plugins enable crm_generic --tenant "t$t"
    cat >"$T_DIR/crm-$t.json" <<JSON
{"id":"crm-$t","plugin":"crm_generic","name":"CRM $t",
 "config":{"url":"$crm/leads","auth":{"type":"standard_webhooks"},"timeout_ms":5000}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/crm-$t.json"
    cl_secret "t$t" "crm-$t" signing_secret "$sign"
    cat >"$T_DIR/meta-$t.json" <<JSON
{"id":"meta-$t","plugin":"meta","name":"Facebook $t","interval_s":3600,
 "config":{"app_id":"$APP_ID","page_ids":["$page"]}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/meta-$t.json"
    grep -q "\"webhook_url\":\"$HOOK\"" "$T_DIR/out" || t_fail "meta-$t: app-level webhook URL: $(cat "$T_DIR/out")"
    # The page token first: the instance opens (and may tick) as soon as
    # app_secret and verify_token are there, and a tick without the page's
    # token would report the connection failing.
    cl_secret "t$t" "meta-$t" "page_token:$page" "$pt"
    cl_secret "t$t" "meta-$t" app_secret "$APP_SECRET"
    cl_secret "t$t" "meta-$t" verify_token "$VT"
    cl_ctl routes add "crm-$t" --tenant "t$t" --conn "meta-$t" --mapping "$mapping"
}
tenant a 101 "$CRM_A" "$SIGN_A" "$PT_A" \
    '{"id":{"from":"/id"},"email":{"from":"/contact/email"},"full_name":{"from":"/contact/full_name"},"lead_id":{"from":"/provider_ids/lead_id"},"source":{"const":"meta"}}'
tenant b 202 "$CRM_B" "$SIGN_B" "$PT_B" \
    '{"id":{"from":"/id"},"person.email":{"from":"/contact/email"},"person.name":{"from":"/contact/full_name"},"source":{"const":"meta-b"}}'

# The master opens the meta connections once their secrets are stored
# (retried with backoff): until then the handshake is refused.
hs_ok() { [ "$(cl_meta_handshake "$HOOK" "$VT" 1158201444)" = 200 ]; }
cl_wait_until 20 'the handshake never succeeded: $(cat "$T_DIR/hs.body")' hs_ok
[ "$(cat "$T_DIR/hs.body")" = 1158201444 ] || t_fail "handshake answer: $(cat "$T_DIR/hs.body")"
t_ok "setup: two tenants on one Meta app, each meta -> own crm_generic with its own mapping ($((SECONDS - T_START)) s)"

# --- helpers over the cast ---------------------------------------------------------------------
hook() { cl_meta_hook "$HOOK" "$APP_SECRET" "$@"; }
# lead ID PAGE FORM -- a lead at Meta, created now (so a catch-up poll
# leaves it to its webhook), and its webhook; fails unless answered 200.
lead() {
    cl_graph_lead "$G" "$1" "$3" "$2" "$(date +%s)"
    local code
    code=$(hook "$(cl_leadgen "$2" "$1" "$3")")
    [ "$code" = 200 ] || t_fail "leadgen webhook $1: HTTP $code $(cat "$T_DIR/hook.body")"
}
# delivered CRM_URL ID -- 2xx answers of that CRM to webhook-id ID.
delivered() {
    local n
    n=$(curl -s -m 5 "$1/stats" | grep -o "\"$2\":[0-9]*" | head -n 1 | sed 's/.*://')
    echo "${n:-0}"
}
# status T CONN -- c360ctl status into $T_DIR/out.
status() { cl_ctl status --tenant "$1" --conn "$2"; }
count() { cl_num "$(cat "$T_DIR/out")" "$1"; }
xlen() { redis-cli -p "$RPORT" XLEN "c360:{t:$1}:ev"; }
# B's CRM stays untouched until step 9.
b_untouched() {
    local n; n=$(cl_crm_stat "$CRM_B" requests)
    [ "${n:-x}" = 0 ] || t_fail "B's CRM received $n request(s) during A's step $1: $(curl -s "$CRM_B/received")"
}
has() { grep -qF -- "$2" "$T_DIR/rcv" || t_fail "$1: no $2 in $(cat "$T_DIR/rcv")"; }
requests_in_rcv() { grep -o '"n":[0-9]*' "$T_DIR/rcv" | grep -c . || true; }

# --- 1. a signed leadgen webhook for A's page -------------------------------------------------------
# Right after the handshake, B's instance may still be opening: an
# unrouted (404) or unverifiable (401) webhook stores nothing, so it is
# simply sent again, as Meta would.
cl_graph_lead "$G" 7001001 555 101 "$(date +%s)"
B1=$(cl_leadgen 101 7001001 555)
first_hook() { [ "$(hook "$B1")" = 200 ]; }
T0=$(now_ms)
cl_wait_until 15 'the first leadgen webhook was not accepted: $(cat "$T_DIR/hook.body")' first_hook
cl_wait_crm "$CRM_A" meta:lead:7001001 200 20
[ "$(requests_in_rcv)" = 1 ] || t_fail "A's CRM got $(requests_in_rcv) requests for the lead: $(cat "$T_DIR/rcv")"
AT=$(cl_num "$(cat "$T_DIR/rcv")" at_ms)
has "method and path" '"method":"POST","path":"/leads"'
has "webhook-id = record id" '"webhook-id":"meta:lead:7001001"'
has "signature" '"sig":"ok","sig_count":1,"sig_valid":[true]'
has "mapped id" '"id":"meta:lead:7001001"'
has "mapped email" '"email":"lead7001001@example.com"'
has "mapped full name" '"full_name":"Lead 7001001"'
has "mapped lead id" '"lead_id":"7001001"'
has "constant" '"source":"meta"'
grep -q '"contact"\|"answers"\|"schema"' "$T_DIR/rcv" && t_fail "unmapped record parts were sent: $(cat "$T_DIR/rcv")"
[ "$(cl_crm_stat "$CRM_A" requests)" = 1 ] || t_fail "A's CRM got other requests: $(curl -s "$CRM_A/received")"
b_untouched 1
t_ok "1. signed leadgen webhook -> one request at A's CRM in $((AT - T0)) ms: mapped fields, valid Standard Webhooks signature, webhook-id meta:lead:7001001; nothing at B's CRM"

# --- 2. the same webhook again ---------------------------------------------------------------------------
[ "$(hook "$B1")" = 200 ] || t_fail "the repeated webhook: $(cat "$T_DIR/hook.body")"
dup_seen() { status ta meta-a; [ "$(count duplicates)" = 1 ]; }
cl_wait_until 15 'the repeated webhook was not dropped as a duplicate: $(cat "$T_DIR/out")' dup_seen
[ "$(delivered "$CRM_A" meta:lead:7001001)" = 1 ] || t_fail "delivered $(delivered "$CRM_A" meta:lead:7001001) times"
t_ok "2. the same webhook again -> dropped as a duplicate, still one delivery"

# --- 3. bad signature, wrong verify token ----------------------------------------------------------------
cl_graph_lead "$G" 7001099 555 101 "$(( $(date +%s) - 7200 ))" # older than any catch-up poll looks
BAD=$(cl_leadgen 101 7001099 555)
XA=$(xlen ta); XB=$(xlen tb); RA=$(cl_crm_stat "$CRM_A" requests)
[ "$XA" -ge 2 ] || t_fail "A's event stream holds $XA entries, want the two webhooks of steps 1 and 2"
[ "$(hook "$BAD" "sha256=$(printf '%064d' 0)")" = 401 ] || t_fail "a bad signature was not refused: $(cat "$T_DIR/hook.body")"
[ "$(hook "$BAD" "$(cl_meta_sign "wrong-$APP_SECRET" "$BAD")")" = 401 ] ||
    t_fail "a signature by another secret was not refused"
[ "$(hook "$BAD" none)" = 401 ] || t_fail "a missing signature was not refused"
[ "$(xlen ta)" = "$XA" ] && [ "$(xlen tb)" = "$XB" ] ||
    t_fail "refused webhooks were stored: events of A $XA -> $(xlen ta), of B $XB -> $(xlen tb)"
code=$(cl_meta_handshake "$HOOK" "wrong-$VT" 42)
[[ $code == 4* ]] || t_fail "a wrong verify token was not refused: HTTP $code $(cat "$T_DIR/hs.body")"
[ "$(cat "$T_DIR/hs.body")" = 42 ] && t_fail "the challenge was echoed to a wrong verify token"
sleep 0.5 # nothing was stored, so nothing can come; a last look anyway
[ "$(cl_crm_stat "$CRM_A" requests)" = "$RA" ] && [ "$(delivered "$CRM_A" meta:lead:7001099)" = 0 ] ||
    t_fail "something was delivered after refused webhooks: $(curl -s "$CRM_A/stats")"
b_untouched 3
t_ok "3. bad, foreign or missing signature -> 401, nothing stored or delivered; wrong verify token -> $code"

# --- 4. Graph throttling ---------------------------------------------------------------------------------
TH0=$(cl_graph_stat "$G" throttled)
cl_graph_post "$G" "/control?throttle=613&count=2&usage=100"
T0=$(now_ms)
lead 7001002 101 555
cl_wait_crm "$CRM_A" meta:lead:7001002 200 40
AT=$(cl_num "$(cat "$T_DIR/rcv")" at_ms)
[ "$(( $(cl_graph_stat "$G" throttled) - TH0 ))" = 2 ] || t_fail "throttled calls: $(curl -s "$G/stats")"
[ $((AT - T0)) -ge 1400 ] || t_fail "delivered $((AT - T0)) ms after the webhook: no pause after throttling"
cl_ctl logs sync --tenant ta --conn meta-a
grep -q 'Meta rate limit (code 613)' "$T_DIR/out" || t_fail "no throttling backoff in the sync log: $(cat "$T_DIR/out")"
has "signature" '"sig":"ok"'
b_untouched 4
t_ok "4. Graph throttling (613 x2, usage 100 %) -> paused (sync log: retry on code 613), lead delivered $((AT - T0)) ms after its webhook"

# --- 5. CRM 500 once, then 200 ------------------------------------------------------------------------
cl_crm_control "$CRM_A" "mode=500&count=1"
lead 7001003 101 555
cl_wait_crm "$CRM_A" meta:lead:7001003 200 30
[ "$(cl_crm_statuses)" = "500 200" ] || t_fail "500 then 200: $(cat "$T_DIR/rcv")"
[ "$(grep -c '"sig":"ok"' <<<"$(grep -o '"sig":"[a-z]*"' "$T_DIR/rcv")")" = 2 ] ||
    t_fail "an attempt was not validly signed: $(cat "$T_DIR/rcv")"
mapfile -t ats < <(grep -o '"at_ms":[0-9]*' "$T_DIR/rcv" | cut -d: -f2)
cl_ctl logs deliveries --tenant ta --conn crm-a
grep -q 'HTTP 500' "$T_DIR/out" || t_fail "the delivery log lacks the 500: $(cat "$T_DIR/out")"
b_untouched 5
t_ok "5. A's CRM 500 -> retried after $((ats[1] - ats[0])) ms -> 200, same webhook-id, both signed"

# --- 6. CRM 400: dead letter, replay after the fix -----------------------------------------------------
dlq_ids() {
    "$C360CTL" --json dlq list --tenant ta --conn crm-a 2>/dev/null |
        grep -o '"id":"[0-9]*-[0-9]*","at_ms"' | cut -d'"' -f4
}
cl_crm_control "$CRM_A" "mode=400"
lead 7001004 101 555
cl_wait_crm "$CRM_A" meta:lead:7001004 400 30
DL=
has_dl() { DL=$(dlq_ids | head -n 1); [ -n "$DL" ]; }
cl_wait_until 15 'no dead letter for the 400: $("$C360CTL" --json dlq list --tenant ta --conn crm-a 2>&1)' has_dl
cl_ctl dlq get "$DL" --tenant ta
grep -q '"ri":"meta:lead:7001004"' "$T_DIR/out" || t_fail "the dead letter is not the lead's: $(cat "$T_DIR/out")"
grep -q 'HTTP 400' "$T_DIR/out" || t_fail "the dead letter lacks the answer: $(cat "$T_DIR/out")"
cl_crm_control "$CRM_A" "mode=ok"
cl_ctl dlq replay "$DL" --tenant ta
cl_wait_crm "$CRM_A" meta:lead:7001004 200 20
[ "$(cl_crm_statuses)" = "400 200" ] || t_fail "400 then the replayed 200: $(cat "$T_DIR/rcv")"
[ "$(grep -o '"webhook-id":"[^"]*"' "$T_DIR/rcv" | sort -u)" = '"webhook-id":"meta:lead:7001004"' ] ||
    t_fail "the replay changed the webhook-id: $(grep -o '"webhook-id":"[^"]*"' "$T_DIR/rcv" | tr '\n' ' ')"
[ "$(grep -c '"sig":"ok"' <<<"$(grep -o '"sig":"[a-z]*"' "$T_DIR/rcv")")" = 2 ] ||
    t_fail "an attempt was not validly signed: $(cat "$T_DIR/rcv")"
b_untouched 6
t_ok "6. A's CRM 400 -> dead letter $DL -> replayed after the fix -> delivered with the same webhook-id meta:lead:7001004"

# --- 7. a lead whose webhook never came: the catch-up poll ----------------------------------------------
MISSED0=$(redis-cli -p "$RPORT" --raw HGET "c360:{t:ta}:state:meta-a:missed_webhooks" v)
cl_graph_lead "$G" 7001005 555 101 # two minutes old: past the poll's grace for webhooks
cl_ctl conns sync meta-a --tenant ta
cl_wait_crm "$CRM_A" meta:lead:7001005 200 30
[ "$(requests_in_rcv)" = 1 ] || t_fail "the polled lead: $(cat "$T_DIR/rcv")"
has "signature" '"sig":"ok"'
has "mapped email" '"email":"lead7001005@example.com"'
has "webhook-id" '"webhook-id":"meta:lead:7001005"'
MISSED=$(redis-cli -p "$RPORT" --raw HGET "c360:{t:ta}:state:meta-a:missed_webhooks" v)
[ "$MISSED" = $(( ${MISSED0:-0} + 1 )) ] || t_fail "missed_webhooks '${MISSED0:-}' -> '$MISSED', want one more"
# ... and the customer sees it in the connection's status.
cl_ctl status --tenant ta --conn meta-a
grep -q "\"missed_webhooks\":$MISSED[,}]" "$T_DIR/out" || t_fail "status lacks missed_webhooks $MISSED: $(cat "$T_DIR/out")"
missed_audited() {
    cl_ctl audit list --tenant ta --action meta.missed_webhooks
    grep -q '"outcome":"count:1"' "$T_DIR/out"
}
cl_wait_until 10 'no meta.missed_webhooks audit entry: $(cat "$T_DIR/out")' missed_audited
grep -q '"target":"form:555"' "$T_DIR/out" || t_fail "missed_webhooks audit target: $(cat "$T_DIR/out")"
# The sync log shows the tick that emitted it.
tick_logged() {
    cl_ctl logs sync --tenant ta --conn meta-a
    grep -o '{[^{}]*"kind":"tick"[^{}]*}' "$T_DIR/out" | grep '"status":"ok"' | grep -q '"records":1[,}]'
}
cl_wait_until 10 'no successful tick with one record in the sync log: $(cat "$T_DIR/out")' tick_logged
# The earlier leads were seen by their webhooks: the poll leaves them.
for k in 7001001 7001002 7001003 7001004; do
    [ "$(delivered "$CRM_A" "meta:lead:$k")" = 1 ] || t_fail "lead $k delivered $(delivered "$CRM_A" "meta:lead:$k") times after the poll"
done
[ "$(delivered "$CRM_A" meta:lead:7001099)" = 0 ] || t_fail "the lead of the refused webhook was delivered"
b_untouched 7
t_ok "7. a lead without webhook -> sync now -> catch-up poll -> A's CRM; missed_webhooks $MISSED (state), audit meta.missed_webhooks count:1 on form:555, sync log: tick ok with 1 record"

# --- 8. token error 190 ----------------------------------------------------------------------------------
cl_graph_post "$G" "/control?invalidate=1"
lead 7001006 101 555
reauth() { status ta meta-a; grep -q '"state":"needs_reauth"' "$T_DIR/out"; }
cl_wait_until 20 'A'"'"'s meta connection is not needs_reauth: $(cat "$T_DIR/out")' reauth
grep -q '"cause":"Meta token invalid (code 190/460)' "$T_DIR/out" || t_fail "needs_reauth without the cause: $(cat "$T_DIR/out")"
CAUSE=$(grep -o '"cause":"[^"]*"' "$T_DIR/out" | head -n 1)
[ "$(delivered "$CRM_A" meta:lead:7001006)" = 0 ] || t_fail "a lead was delivered with a dead token"
cl_graph_post "$G" "/control?invalidate=0" # B's tokens are fine: Meta's fake only knows one switch
b_untouched 8
t_ok "8. token error 190 -> A's meta connection needs_reauth, $CAUSE"

# --- 9. tenant B, on its own ------------------------------------------------------------------------------
status tb meta-b
grep -q '"state":"active"' "$T_DIR/out" || t_fail "B's meta connection: $(cat "$T_DIR/out")"
RA=$(cl_crm_stat "$CRM_A" requests)
lead 7002001 202 666
cl_wait_crm "$CRM_B" meta:lead:7002001 200 20
[ "$(requests_in_rcv)" = 1 ] || t_fail "B's CRM got $(requests_in_rcv) requests for its lead: $(cat "$T_DIR/rcv")"
has "signature by B's secret" '"sig":"ok","sig_count":1,"sig_valid":[true]'
has "webhook-id" '"webhook-id":"meta:lead:7002001"'
has "B's mapping" '"person":{"email":"lead7002001@example.com","name":"Lead 7002001"}'
has "B's constant" '"source":"meta-b"'
[ "$(cl_crm_stat "$CRM_B" requests)" = 1 ] || t_fail "B's CRM got other requests: $(curl -s "$CRM_B/received")"
sleep 0.5 # A's CRM must not get it a moment later either
[ "$(delivered "$CRM_A" meta:lead:7002001)" = 0 ] && [ "$(cl_crm_stat "$CRM_A" requests)" = "$RA" ] ||
    t_fail "B's lead reached A's CRM: $(curl -s "$CRM_A/stats")"
status ta meta-a
grep -q '"state":"needs_reauth"' "$T_DIR/out" || t_fail "A's state changed: $(cat "$T_DIR/out")"
t_ok "9. B's lead (while A needs re-authorisation) -> only B's CRM, B's mapping, signed with B's secret; B's CRM saw nothing else"

# --- 10. no secret in the log ------------------------------------------------------------------------------
for s in "$APP_SECRET" "$VT" "$PT_A" "$PT_B" "$SIGN_A" "${SIGN_A#whsec_}" "$SIGN_B" "${SIGN_B#whsec_}" \
         "$OPKEY" "$C360_MASTER_KEY"; do
    grep -qF -- "$s" "$T_DIR/c360d.log" && t_fail "a secret is in the c360d log: ${s:0:6}..."
done
[ -s "$T_DIR/c360d.log" ] || t_fail "no c360d log to check"
t_ok "10. no secret (app secret, verify token, page tokens, signing secrets, operator and master key) in c360d's log ($(wc -l <"$T_DIR/c360d.log") lines)"
t_ok "lead end to end in $((SECONDS - T_START)) s"
