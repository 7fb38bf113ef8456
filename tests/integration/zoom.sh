#!/usr/bin/env bash
# zoom.sh -- the zoom connector end to end: a real c360d and redis-server,
# the fake Zoom API and OAuth server (tests/fakes/fake_zoom), and the
# crm_generic destination against two fake CRMs (tests/fakes/fake_crm),
# one per tenant. Tenants A and B use one Zoom app (one webhook secret
# token, one app-level URL /hooks/zoom) with different Zoom accounts; each
# routes zoom -> its own crm_generic. In order:
#
#   1. endpoint.url_validation -> {"plainToken","encryptedToken"} with the
#      HMAC of the plain token; a badly signed one -> 401
#   2. meeting.registration_created for A's account -> one registrant
#      record at A's CRM (fields, custom question, no join_url); nothing at B
#   3. the same webhook again -> dropped as a duplicate, one delivery
#   4. bad signature, stale timestamp, missing headers -> 401, nothing stored
#   5. webinar.registration_created for B's account -> B's CRM only
#  5b. tenant C, with a Server-to-Server app of its own (installed in
#      account C only) and the shared webhook secret token, lists A's
#      account id: its credentials get no token for A's account, so A's
#      account is not proven: C is failing with a cause naming it, and A's
#      webhooks reach A only (nothing stored for C)
#   6. meeting.participant_joined -> an attendance record at A's CRM
#   7. registrants without webhooks -> sync now -> the catch-up poll (two
#      pages, next_page_token) delivers them; missed_webhooks counts them
#   8. 429 QPS (X-RateLimit-Type, Retry-After 1) -> backoff, then delivered
#   9. the S2S token (5 s lifetime here) is fetched again near its expiry
#  10. disconnect B -> nothing to unsubscribe; its token revoked
#  11. invalid_client at the token endpoint -> A needs_reauth; then the
#      client secret stored again, pause + resume -> a new grant, polling again
#  12. no secret in c360d's log
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/connectors_lib.sh"
FZ=$C360_BUILD_DIR/tests/fakes/fake_zoom
for f in "$FZ" "$CL_FAKE_CRM" "$C360_BUILD_DIR/plugins/zoom.so" "$C360_BUILD_DIR/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
T_START=$SECONDS

SECRET_TOKEN="wst-$(cl_rnd)"
CLIENT_ID="cid$(cl_rnd)"
CLIENT_SECRET="cs-$(cl_rnd)"
ACC_A="accA$(cl_rnd | head -c 8)"
ACC_B="accB$(cl_rnd | head -c 8)"
SIGN_A=$(cl_whsec)
SIGN_B=$(cl_whsec)

ACC_C="accC$(cl_rnd | head -c 8)"
cl_start_fake zoom "$FZ" --port 0 --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" --expires-in 5 \
    --accounts "$ACC_A,$ACC_B"
Z=http://127.0.0.1:$PORT_OF
cl_start_fake crm-a "$CL_FAKE_CRM" --port 0 --secret "$SIGN_A"
CRM_A=http://127.0.0.1:$PORT_OF
cl_start_fake crm-b "$CL_FAKE_CRM" --port 0 --secret "$SIGN_B"
CRM_B=http://127.0.0.1:$PORT_OF

zpost() { curl -s -m 5 -f -X POST "$Z$1" ${2:+--data-binary "$2"} >/dev/null || t_fail "fake_zoom POST $1"; }
zstat() { cl_num "$(curl -s -m 5 "$Z/stats")" "$1"; }
# zreg KIND OBJECT ACCOUNT ID [CREATE_TIME] -- a registrant at Zoom
zreg() {
    local ct=${5:+,\"create_time\":\"$5\"}
    zpost /control/registrant "{\"kind\":\"$1\",\"object_id\":\"$2\",\"account_id\":\"$3\",\"registrant\":{\"id\":\"$4\",\"email\":\"$4@example.com\",\"first_name\":\"First $4\",\"last_name\":\"Last\",\"custom_questions\":[{\"title\":\"Company size\",\"value\":\"51-200\"}]$ct}}"
}

cl_host_config zoom
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_ZOOM_API_URL=$Z/v2 C360_ZOOM_OAUTH_URL=$Z
export C360_CRM_GENERIC_ALLOW_HTTP=1
t_start_c360d c360d --config "$T_DIR/c360.json"
t_wait_http "$URL/readyz" 200 150
cl_ctl_setup "$URL" "$T_DIR/data"

# tenant T ACCOUNT CRM_URL SIGNING_SECRET CONFIG_EXTRA
tenant() {
    local t=$1 acc=$2 crm=$3 sign=$4 extra=$5
    cl_ctl tenants create "t$t" --name "Tenant $t"
    cl_ctl plugins enable zoom --tenant "t$t"
    cl_ctl plugins enable crm_generic --tenant "t$t"
    cat >"$T_DIR/crm-$t.json" <<JSON
{"id":"crm-$t","plugin":"crm_generic","name":"CRM $t",
 "config":{"url":"$crm/hooks","auth":{"type":"standard_webhooks"},"timeout_ms":5000}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/crm-$t.json"
    cl_secret "t$t" "crm-$t" signing_secret "$sign"
    cat >"$T_DIR/zoom-$t.json" <<JSON
{"id":"zoom-$t","plugin":"zoom","name":"Zoom $t","interval_s":3600,
 "config":{"account_id":"$acc","client_id":"$CLIENT_ID"$extra}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/zoom-$t.json"
    grep -q "\"webhook_url\":\"$HOOK\"" "$T_DIR/out" || t_fail "zoom-$t: app-level webhook URL: $(cat "$T_DIR/out")"
    cl_secret "t$t" "zoom-$t" webhook_secret_token "$SECRET_TOKEN"
    cl_secret "t$t" "zoom-$t" client_secret "$CLIENT_SECRET"
    cl_ctl routes add "crm-$t" --tenant "t$t" --conn "zoom-$t"
}
tenant a "$ACC_A" "$CRM_A" "$SIGN_A" ',"meeting_ids":["8101"]'
tenant b "$ACC_B" "$CRM_B" "$SIGN_B" ',"webinar_ids":["9202"]'

# zhook BODY [TIMESTAMP] [SIGNATURE] -- POSTs a Zoom webhook to /hooks/zoom;
# prints the status, the answer in $T_DIR/hook.body. SIGNATURE "none":
# no signature headers at all.
zhook() {
    local ts=${2:-$(date +%s)}
    local sig=${3:-$(printf '%s' "$1" | "$FZ" --sign "$SECRET_TOKEN" "$ts")}
    local h=(-H "x-zm-signature: $sig" -H "x-zm-request-timestamp: $ts")
    [ "$sig" = none ] && h=()
    curl -s -m 10 -o "$T_DIR/hook.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "${h[@]}" --data-binary "$1" "$HOOK" || true
}
regbody() { # EVENT ACCOUNT OBJECT REGISTRANT TOPIC
    printf '{"event":"%s","event_ts":%s,"payload":{"account_id":"%s","object":{"uuid":"uu%s==","id":%s,"topic":"%s","start_time":"2030-01-01T10:00:00Z","registrant":{"id":"%s","first_name":"First %s","last_name":"Last","email":"%s@example.com","phone":"+15550100","org":"ACME","job_title":"CTO","custom_questions":[{"title":"Company size","value":"51-200"}],"status":"approved","join_url":"https://zoom.us/w/%s?tk=join-credential"}}}}' \
        "$1" "$(date +%s%3N)" "$2" "$3" "$3" "$5" "$4" "$4" "$4" "$3"
}
status() { cl_ctl status --tenant "$1" --conn "$2"; }
count() { cl_num "$(cat "$T_DIR/out")" "$1"; }
xlen() { redis-cli -p "$RPORT" XLEN "c360:{t:$1}:ev"; }
delivered() {
    local n
    n=$(curl -s -m 5 "$1/stats" | grep -o "\"$2\":[0-9]*" | head -n 1 | sed 's/.*://')
    echo "${n:-0}"
}
has() { grep -qF -- "$2" "$T_DIR/rcv" || t_fail "$1: no $2 in $(cat "$T_DIR/rcv")"; }
b_untouched() {
    local n; n=$(cl_crm_stat "$CRM_B" requests)
    [ "${n:-x}" = 0 ] || t_fail "B's CRM received $n request(s) during step $1: $(curl -s "$CRM_B/received")"
}

# --- 1. url validation -----------------------------------------------------------------------------
VB='{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":'$(date +%s%3N)'}'
WANT=$("$FZ" --hmac "$SECRET_TOKEN" qgg8vlvZRS6UYooatFL8Aw)
val_ok() { [ "$(zhook "$VB")" = 200 ]; }
cl_wait_until 20 'url_validation never answered: $(cat "$T_DIR/hook.body")' val_ok
[ "$(cat "$T_DIR/hook.body")" = "{\"plainToken\":\"qgg8vlvZRS6UYooatFL8Aw\",\"encryptedToken\":\"$WANT\"}" ] ||
    t_fail "url_validation answer: $(cat "$T_DIR/hook.body") (want encryptedToken $WANT)"
[ "$(zhook "$VB" "" "v0=$(printf '%064d' 0)")" = 401 ] || t_fail "a badly signed url_validation was answered"
grep -q "$WANT" "$T_DIR/hook.body" && t_fail "encryptedToken given to a bad signature"
t_ok "1. url_validation answered with the HMAC of the plain token; bad signature 401 ($((SECONDS - T_START)) s)"

# --- 2. a registration for A ---------------------------------------------------------------------------
zreg meetings 8101 "$ACC_A" RA1
B1=$(regbody meeting.registration_created "$ACC_A" 8101 RA1 "Spring demo")
first_hook() { [ "$(zhook "$B1")" = 200 ]; }
cl_wait_until 15 'the registration webhook was not accepted: $(cat "$T_DIR/hook.body")' first_hook
cl_wait_crm "$CRM_A" zoom:registrant:8101:RA1 200 20
has "webhook-id" '"webhook-id":"zoom:registrant:8101:RA1"'
has "signature" '"sig":"ok"'
has "schema" 'c360.registrant.v1'
has "email" '"email":"RA1@example.com"'
has "first name" '"first_name":"First RA1"'
has "last name" '"last_name":"Last"'
has "custom question" '"label":"Company size"'
has "topic" '"topic":"Spring demo"'
has "meeting id" '"meeting_id":"8101"'
has "created_at" '"created_at":"'
has "via" '"via":"webhook"'
grep -q 'join' "$T_DIR/rcv" && t_fail "the join_url reached the CRM: $(cat "$T_DIR/rcv")"
b_untouched 2
t_ok "2. registration_created -> registrant record at A's CRM (fields, custom question, topic; no join_url); nothing at B"

# --- 3. duplicate ---------------------------------------------------------------------------------------
[ "$(zhook "$B1")" = 200 ] || t_fail "the repeated webhook: $(cat "$T_DIR/hook.body")"
dup_seen() { status ta zoom-a; [ "$(count duplicates)" = 1 ]; }
cl_wait_until 15 'the repeated webhook was not dropped as a duplicate: $(cat "$T_DIR/out")' dup_seen
[ "$(delivered "$CRM_A" zoom:registrant:8101:RA1)" = 1 ] || t_fail "delivered $(delivered "$CRM_A" zoom:registrant:8101:RA1) times"
t_ok "3. the same webhook again -> dropped as a duplicate, one delivery"

# --- 4. refused webhooks ----------------------------------------------------------------------------------
BAD=$(regbody meeting.registration_created "$ACC_A" 8101 RA99 "x")
XA=$(xlen ta); XB=$(xlen tb)
[ "$(zhook "$BAD" "" "v0=$(printf '%064d' 0)")" = 401 ] || t_fail "a bad signature was not refused"
OLD=$(( $(date +%s) - 400 ))
[ "$(zhook "$BAD" "$OLD" "$(printf '%s' "$BAD" | "$FZ" --sign "$SECRET_TOKEN" "$OLD")")" = 401 ] ||
    t_fail "a stale timestamp was not refused: $(cat "$T_DIR/hook.body")"
NOW=$(date +%s)
[ "$(zhook "$BAD" "$NOW" "$(printf '%s' "$BAD" | "$FZ" --sign "other-$SECRET_TOKEN" "$NOW")")" = 401 ] ||
    t_fail "another secret's signature was not refused"
[ "$(zhook "$BAD" "" none)" = 401 ] || t_fail "a webhook without signature was not refused"
[ "$(zhook "$(regbody meeting.registration_created nobodys-account 1 R1 x)")" = 404 ] ||
    t_fail "an account nobody owns was not refused: $(cat "$T_DIR/hook.body")"
[ "$(xlen ta)" = "$XA" ] && [ "$(xlen tb)" = "$XB" ] || t_fail "refused webhooks were stored"
t_ok "4. bad signature, stale timestamp, foreign secret, no signature -> 401; unknown account -> 404; nothing stored"

# --- 5. B's webinar registration ----------------------------------------------------------------------------
zreg webinars 9202 "$ACC_B" RB1
[ "$(zhook "$(regbody webinar.registration_created "$ACC_B" 9202 RB1 "B webinar")")" = 200 ] || t_fail "B's webhook"
cl_wait_crm "$CRM_B" zoom:registrant:9202:RB1 200 20
has "webinar" '"webinar":{"id":"9202","topic":"B webinar"}'
[ "$(delivered "$CRM_A" zoom:registrant:9202:RB1)" = 0 ] || t_fail "B's registrant reached A"
t_ok "5. webinar.registration_created of B's account -> B's CRM only"

# --- 5b. tenant C claims A's account -------------------------------------------------------------------------
zpost /control/app "{\"client_id\":\"cidC\",\"client_secret\":\"csC-$CLIENT_SECRET\",\"account_id\":\"$ACC_C\"}"
cl_ctl tenants create tc --name "Tenant C"
cl_ctl plugins enable zoom --tenant tc
cat >"$T_DIR/zoom-c.json" <<JSON
{"id":"zoom-c","plugin":"zoom","name":"Zoom C","interval_s":3600,
 "config":{"account_id":"$ACC_A","client_id":"cidC","meeting_ids":["8101"]}}
JSON
cl_ctl conns create --tenant tc --file "$T_DIR/zoom-c.json"
cl_secret tc zoom-c webhook_secret_token "$SECRET_TOKEN"
cl_secret tc zoom-c client_secret "csC-$CLIENT_SECRET"
cl_ctl conns sync zoom-c --tenant tc
c_failing() { status tc zoom-c; grep -q '"state":"failing"' "$T_DIR/out" && grep -q "Zoom account $ACC_A: access not proven" "$T_DIR/out"; }
cl_wait_until 20 'C is not failing naming A'"'"'s account: $(cat "$T_DIR/out")' c_failing
XC=$(xlen tc)
zreg meetings 8101 "$ACC_A" RA7
[ "$(zhook "$(regbody meeting.registration_created "$ACC_A" 8101 RA7 "Spring demo")")" = 200 ] || t_fail "A's webhook (C listing A)"
cl_wait_crm "$CRM_A" zoom:registrant:8101:RA7 200 20
sleep 1
[ "$(xlen tc)" = "${XC:-0}" ] || t_fail "tenant C (claims A's account) stored A's webhook"
[ "$(delivered "$CRM_A" zoom:registrant:8101:RA7)" = 1 ] || t_fail "A's registrant delivered more than once"
t_ok "5b. C listing A's account with its own app: not proven (failing, cause names $ACC_A), gets nothing of A's"

# --- 6. attendance -------------------------------------------------------------------------------------------
JT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
JB='{"event":"meeting.participant_joined","event_ts":'$(date +%s%3N)',"payload":{"account_id":"'$ACC_A'","object":{"id":"8101","uuid":"uu8101==","topic":"Spring demo","participant":{"user_id":"16778240","user_name":"First RA1 Last","id":"p-1","participant_uuid":"PU-1","join_time":"'$JT'","email":"RA1@example.com","registrant_id":"RA1"}}}}'
[ "$(zhook "$JB")" = 200 ] || t_fail "participant_joined: $(cat "$T_DIR/hook.body")"
AID="zoom:attendance:8101:PU-1:$(date -u -d "$JT" +%s)"
cl_wait_crm "$CRM_A" "$AID" 200 20
has "schema" 'c360.attendance.v1'
has "registrant" '"registrant_id":"RA1"'
has "joined_at" "\"joined_at\":\"$JT\""
t_ok "6. participant_joined -> attendance record $AID at A's CRM"

# --- 7. the catch-up poll --------------------------------------------------------------------------------------
for r in RA2 RA3 RA4; do zreg meetings 8101 "$ACC_A" "$r"; done
R0=$(zstat registrants)
cl_ctl conns sync zoom-a --tenant ta
for r in RA2 RA3 RA4; do cl_wait_crm "$CRM_A" "zoom:registrant:8101:$r" 200 20; done
has "via poll" '"via":"poll"'
has "topic from the webhook" '"topic":"Spring demo"'
[ $(( $(zstat registrants) - R0 )) -ge 2 ] || t_fail "no paging: $(curl -s "$Z/stats")"
missed3() { [ "$(redis-cli -p "$RPORT" --raw HGET "c360:{t:ta}:state:zoom-a:missed_webhooks" v)" = 3 ]; }
cl_wait_until 10 'missed_webhooks: $(redis-cli -p "$RPORT" --raw HGET "c360:{t:ta}:state:zoom-a:missed_webhooks" v)' missed3
[ "$(delivered "$CRM_A" zoom:registrant:8101:RA1)" = 1 ] || t_fail "the poll emitted RA1 again"
t_ok "7. three registrants without webhooks -> sync now -> poll over two pages -> A's CRM; missed_webhooks 3"

# --- 8. 429 QPS ---------------------------------------------------------------------------------------------------
TH0=$(zstat throttled)
zpost "/control?throttle=qps&count=1&retry_after=1"
zreg meetings 8101 "$ACC_A" RA5
cl_ctl conns sync zoom-a --tenant ta
cl_wait_crm "$CRM_A" zoom:registrant:8101:RA5 200 30
[ $(( $(zstat throttled) - TH0 )) = 1 ] || t_fail "throttled calls: $(curl -s "$Z/stats")"
cl_ctl logs sync --tenant ta --conn zoom-a
grep -q 'Zoom rate limit (QPS)' "$T_DIR/out" || t_fail "no QPS backoff in the sync log: $(cat "$T_DIR/out")"
t_ok "8. 429 QPS (Retry-After 1) -> backoff in the sync log, then delivered"

# --- 9. token re-fetch -------------------------------------------------------------------------------------------
TK0=$(zstat token)
sleep 3 # past the refresh point of a 5 s token
cl_ctl conns sync zoom-a --tenant ta
refetched() { [ "$(zstat token)" -gt "$TK0" ]; }
cl_wait_until 15 'the token was not fetched again: $(curl -s "$Z/stats")' refetched
t_ok "9. the S2S token fetched again before expiry ($TK0 -> $(zstat token) fetches)"

# --- 10. disconnect B ------------------------------------------------------------------------------------------------
# B's connection gets a token first (its poll of webinar 9202).
TK1=$(zstat token)
cl_ctl conns sync zoom-b --tenant tb
b_token() {
    [ "$(zstat token)" -gt "$TK1" ] &&
        [ "$(redis-cli -p "$RPORT" --raw HGET "c360:{t:tb}:state:zoom-b:token_used" v)" = 1 ]
}
cl_wait_until 15 'B never fetched a token: $(curl -s "$Z/stats")' b_token
RV0=$(zstat revoke)
cl_ctl conns delete zoom-b --tenant tb --yes
grep -q '"outcome":"ok"' "$T_DIR/out" || t_fail "disconnect outcome: $(cat "$T_DIR/out")"
[ $(( $(zstat revoke) - RV0 )) = 1 ] || t_fail "B's token was not revoked: $(curl -s "$Z/stats")"
t_ok "10. disconnect B -> nothing to unsubscribe, token revoked"

# --- 11. invalid client -> needs_reauth ----------------------------------------------------------------------------------
zpost "/control?invalid_client=1"
sleep 3
cl_ctl conns sync zoom-a --tenant ta
reauth() { status ta zoom-a; grep -q '"state":"needs_reauth"' "$T_DIR/out"; }
cl_wait_until 20 'A is not needs_reauth: $(cat "$T_DIR/out")' reauth
grep -q 'Zoom refused the app credentials' "$T_DIR/out" || t_fail "needs_reauth without the cause: $(cat "$T_DIR/out")"
t_ok "11. invalid_client -> needs_reauth with the cause"

# --- 11b. a new client secret, resume -> active again ------------------------------------------------------
zpost "/control?invalid_client=0"
cl_secret ta zoom-a client_secret "$CLIENT_SECRET"
sleep 5 # the plugin tries a new grant at most every 5 s
cl_ctl conns pause zoom-a --tenant ta
cl_ctl conns resume zoom-a --tenant ta
cl_ctl conns sync zoom-a --tenant ta
zreg meetings 8101 "$ACC_A" RA6
cl_ctl conns sync zoom-a --tenant ta
cl_wait_crm "$CRM_A" zoom:registrant:8101:RA6 200 30
t_ok "11b. client secret stored again, resumed -> a new grant, polling again"

for s in "$SECRET_TOKEN" "$CLIENT_SECRET" join-credential; do
    grep -qF -- "$s" "$T_DIR/c360d.log" && t_fail "a secret is in the c360d log"
done
t_ok "12. no secret in the log ($((SECONDS - T_START)) s)"
