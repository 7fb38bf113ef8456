#!/usr/bin/env bash
# linkedin.sh -- the linkedin connector end to end: a real c360d and
# redis-server, the fake LinkedIn API (tests/fakes/fake_linkedin) and two
# fake CRMs (tests/fakes/fake_crm) behind crm_generic, one per tenant.
# Tenants A (sponsored account 123) and B (organization 456) share one
# LinkedIn app and the app-level webhook URL /hooks/linkedin; both connect
# by OAuth (the fake consents at once), each as its own LinkedIn member
# (ma, mb), the admin of its owner. In order:
#
#   proof of access: tenant C, connected as member mc, lists A's sponsored
#     account 123 -> C "failing" with "LinkedIn owner 123: access not
#     proven" (the fake answers 403); A's CREATED and DELETED reach A only,
#     C's event count stays 0
#
#   challenge: GET ?challengeCode=<uuid> -> {"challengeCode","challengeResponse"
#     = hex HMAC-SHA256(client secret, code)}; a malformed code -> 400
#   a signed CREATED notification for A -> one lead at A's CRM (named
#     answers from the form), nothing at B's; the same again -> duplicate;
#     bad / missing signature -> 401; "hmacsha256=" prefixed signature ok
#   B's lead (organization owner) -> B's CRM only
#   DELETED -> a lead.deleted record at A's CRM
#   429 twice -> backoff, the lead arrives
#   a response without webhook -> sync now -> caught by the poll (offset
#     paging, page size 2), missed_webhooks counted
#   refresh token near its 365 days -> a warning cause on the status
#   disconnect B -> subscription removed, token revoked
#   refresh answers invalid_grant -> A needs_reauth
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/connectors_lib.sh"
FL=$C360_BUILD_DIR/tests/fakes/fake_linkedin
for f in "$FL" "$CL_FAKE_CRM" "$C360_BUILD_DIR/plugins/linkedin.so" "$C360_BUILD_DIR/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
T_START=$SECONDS

CID=77lic$(cl_rnd | head -c 6)
CSEC="clientsecret-$(cl_rnd)"
SIGN_A=$(cl_whsec)
SIGN_B=$(cl_whsec)
# Access tokens of 8 s: the host refreshes them at half-life, so the test
# sees refresh-token rotation, and the death of the grant, quickly.
cl_start_fake linkedin "$FL" --port 0 --client-id "$CID" --client-secret "$CSEC" --expires-in 8
L=http://127.0.0.1:$PORT_OF
cl_start_fake crm-a "$CL_FAKE_CRM" --port 0 --secret "$SIGN_A"
CRM_A=http://127.0.0.1:$PORT_OF
cl_start_fake crm-b "$CL_FAKE_CRM" --port 0 --secret "$SIGN_B"
CRM_B=http://127.0.0.1:$PORT_OF
SIGN_C=$(cl_whsec)
cl_start_fake crm-c "$CL_FAKE_CRM" --port 0 --secret "$SIGN_C"
CRM_C=http://127.0.0.1:$PORT_OF

lpost() { curl -s -m 5 -f -X POST "$L$1" ${2:+--data-binary "$2"} >/dev/null || t_fail "fake_linkedin POST $1"; }
lstat() { cl_num "$(curl -s -m 5 "$L/stats")" "$1"; }
now_ms() { date +%s%3N; }
SA='{"sponsoredAccount":"urn:li:sponsoredAccount:123"}'
ORG='{"organization":"urn:li:organization:456"}'
# Members: ma administers 123, mb 456; mc (tenant C) neither.
lpost /control/admin '{"owner":"urn:li:sponsoredAccount:123","member":"ma"}'
lpost /control/admin '{"owner":"urn:li:organization:456","member":"mb"}'
lpost /control/form '{"id":77,"owner":"urn:li:sponsoredAccount:123","name":"Spring offer","content":{"questions":[{"questionId":1,"name":"email","predefinedField":"EMAIL","question":{"localized":{"en_US":"Email"}}},{"questionId":2,"name":"first","predefinedField":"FIRST_NAME"},{"questionId":3,"name":"budget","question":{"localized":{"en_US":"What is your budget?"}}}],"consents":[{"consentId":9,"consent":{"localized":{"en_US":"Send me offers"}}}]}}'
lpost /control/form '{"id":88,"owner":"urn:li:organization:456","name":"B form","content":{"questions":[{"questionId":1,"name":"email","predefinedField":"EMAIL"}]}}'
# response ID OWNER_JSON FORM [SUBMITTED_MS] -- a response on LinkedIn's side
response() {
    lpost /control/response "{\"id\":\"$1\",\"submittedAt\":${4:-$(( $(now_ms) - 120000 ))},\"testLead\":false,\"leadType\":\"SPONSORED\",\"versionedLeadGenFormUrn\":\"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:$3,1)\",\"owner\":$2,\"associatedEntity\":{\"sponsoredCreative\":\"urn:li:sponsoredCreative:4242\"},\"formResponse\":{\"answers\":[{\"questionId\":1,\"answerDetails\":{\"textQuestionAnswer\":{\"answer\":\"lead$1@example.com\"}}},{\"questionId\":2,\"answerDetails\":{\"textQuestionAnswer\":{\"answer\":\"Ann$1\"}}},{\"questionId\":3,\"answerDetails\":{\"textQuestionAnswer\":{\"answer\":\"10k-50k\"}}}],\"consentResponses\":[{\"consentId\":9,\"accepted\":true}]}}"
}
# note ID OWNER_JSON FORM ACTION [OCCURRED_MS] -- a lead notification body
note() {
    printf '{"type":"LEAD_ACTION","leadGenFormResponse":"urn:li:leadGenFormResponse:%s","leadGenForm":"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:%s,1)","owner":%s,"associatedEntity":{"sponsoredCreative":"urn:li:sponsoredCreative:4242"},"leadType":"SPONSORED","leadAction":"%s","occurredAt":%s}' \
        "$1" "$3" "$2" "$4" "${5:-$(now_ms)}"
}

cl_host_config linkedin
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_LINKEDIN_API_URL=$L C360_LINKEDIN_OAUTH_URL=$L C360_LINKEDIN_THROTTLE_MIN_MS=1000 C360_LINKEDIN_PAGE_SIZE=2
export C360_CRM_GENERIC_ALLOW_HTTP=1
t_start_c360d c360d --config "$T_DIR/c360.json"
t_wait_http "$URL/readyz" 200 150
cl_ctl_setup "$URL" "$T_DIR/data"
OPKEY=$(cat "$T_DIR/op.key")
api() { t_api "$@"; } # lib.sh: sets CODE and BODY
want() { [ "$CODE" = "$1" ] || t_fail "$2: HTTP $CODE $BODY"; }

# tenant T OWNERS_CONFIG CRM_URL SIGNING_SECRET
tenant() {
    local t=$1 owners=$2 crm=$3 sign=$4
    cl_ctl tenants create "t$t" --name "Tenant $t"
    cl_ctl plugins enable linkedin --tenant "t$t"
    cl_ctl plugins enable crm_generic --tenant "t$t"
    cat >"$T_DIR/crm-$t.json" <<JSON
{"id":"crm-$t","plugin":"crm_generic","name":"CRM $t",
 "config":{"url":"$crm/leads","auth":{"type":"standard_webhooks"},"timeout_ms":5000}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/crm-$t.json"
    cl_secret "t$t" "crm-$t" signing_secret "$sign"
    cat >"$T_DIR/li-$t.json" <<JSON
{"id":"li-$t","plugin":"linkedin","name":"LinkedIn $t","interval_s":3600,
 "config":{"client_id":"$CID",$owners}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/li-$t.json"
    grep -q "\"webhook_url\":\"$HOOK\"" "$T_DIR/out" || t_fail "li-$t: app-level webhook URL: $(cat "$T_DIR/out")"
    cl_secret "t$t" "li-$t" client_secret "$CSEC"
    cl_ctl routes add "crm-$t" --tenant "t$t" --conn "li-$t"
    # OAuth connect as member m<T>: start, LinkedIn's consent (the fake's
    # 302), callback.
    lpost "/control?member=m$t"
    api POST "/v1/tenants/t$t/connections/li-$t/oauth/start" '{}'; want 200 "oauth start $t"
    local auth loc r
    auth=$(sed 's/.*"authorize_url":"\([^"]*\)".*/\1/' <<<"$BODY" | sed 's/\\u0026/\&/g; s/\\\//\//g')
    [[ $auth == "$L/oauth/v2/authorization?"* ]] || t_fail "authorize URL: $auth"
    grep -q 'r_marketing_leadgen_automation' <<<"$auth" || t_fail "scope: $auth"
    loc=$(curl -s -m 5 -o /dev/null -w '%{redirect_url}' "$auth")
    [[ $loc == "$URL/oauth/callback?"* ]] || t_fail "the consent did not send back: $loc"
    r=$(t_http GET "$loc")
    [[ $r == 200* ]] && grep -q '"connected":true' <<<"$r" || t_fail "oauth callback $t: $r"
    # The tick proves the owners with the new token (routing keys follow).
    cl_ctl conns sync "li-$t" --tenant "t$t"
}
tenant a '"sponsored_account_ids":["123"]' "$CRM_A" "$SIGN_A"
tenant b "\"organization_ids\":[\"456\"],\"webhook_url\":\"$HOOK\"" "$CRM_B" "$SIGN_B"
[ "$(lstat code)" = 2 ] || t_fail "code exchanges: $(curl -s "$L/stats")"
t_ok "setup: two tenants on one LinkedIn app, OAuth connected, each -> own crm_generic ($((SECONDS - T_START)) s)"

# --- proof of access -----------------------------------------------------------------------
# Tenant C lists A's sponsored account 123, connected as member mc (no admin of it).
tenant c '"sponsored_account_ids":["123"]' "$CRM_C" "$SIGN_C"
status() { cl_ctl status --tenant "$1" --conn "$2"; }
c_failing() { status tc li-c; grep -q '"state":"failing"' "$T_DIR/out" && grep -q 'LinkedIn owner 123: access not proven' "$T_DIR/out"; }
cl_wait_until 30 'C is not failing with the proof cause: $(cat "$T_DIR/out")' c_failing
[ "$(lstat forbidden)" -ge 1 ] || t_fail "no 403 for C's proof: $(curl -s "$L/stats")"
a_active() { status ta li-a; grep -q '"state":"active"' "$T_DIR/out"; }
cl_wait_until 30 'A is not active: $(cat "$T_DIR/out")' a_active
t_ok "C lists A's owner without access -> failing, cause names owner 123; A active"

# --- the challenge ---------------------------------------------------------------------
CODE_UUID=0f2c3a5e-1234-4bcd-9abc-0123456789ab
EXPECT=$(printf '%s' "$CODE_UUID" | "$FL" --hmac "$CSEC")
hs() { curl -s -m 5 -o "$T_DIR/hs.body" -w '%{http_code}' "$HOOK?challengeCode=$1" || true; }
hs_ok() { [ "$(hs "$CODE_UUID")" = 200 ]; }
cl_wait_until 20 'the challenge was never answered: $(cat "$T_DIR/hs.body")' hs_ok
[ "$(cat "$T_DIR/hs.body")" = "{\"challengeCode\":\"$CODE_UUID\",\"challengeResponse\":\"$EXPECT\"}" ] ||
    t_fail "challenge answer: $(cat "$T_DIR/hs.body"), want response $EXPECT"
[ "$(hs 'hmacsha256%3D%7B%7D')" = 400 ] || t_fail "a malformed challengeCode was answered: $(cat "$T_DIR/hs.body")"
[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$HOOK/li-a?challengeCode=$CODE_UUID")" = 200 ] ||
    t_fail "challenge on the connection's URL"
t_ok "challenge: JSON answer with the HMAC of the code; a malformed code -> 400"

# --- leads by webhook ------------------------------------------------------------------
# hook BODY [SIGNATURE|none]
hook() {
    local sig=${2:-$(printf '%s' "$1" | "$FL" --sign "$CSEC")}
    local h=(-H "X-LI-Signature: $sig")
    [ "$sig" = none ] && h=()
    curl -s -m 10 -o "$T_DIR/hook.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "${h[@]}" --data-binary "$1" "$HOOK" || true
}
delivered() { local n; n=$(curl -s -m 5 "$1/stats" | grep -o "\"$2\":[0-9]*" | head -n 1 | sed 's/.*://'); echo "${n:-0}"; }
has() { grep -qF -- "$2" "$T_DIR/rcv" || t_fail "$1: no $2 in $(cat "$T_DIR/rcv")"; }
status() { cl_ctl status --tenant "$1" --conn "$2"; }
count() { cl_num "$(cat "$T_DIR/out")" "$1"; }

response r-1001 "$SA" 77
N1=$(note r-1001 "$SA" 77 CREATED)
first() { [ "$(hook "$N1")" = 200 ]; }
cl_wait_until 15 'the first notification was not accepted: $(cat "$T_DIR/hook.body")' first
cl_wait_crm "$CRM_A" linkedin:lead:r-1001 200 20
for w in '"schema":"c360.lead.v1"' '"provider":"linkedin"' '"connection":"li-a"' \
         '"email":"leadr-1001@example.com"' '"first_name":"Annr-1001"' '"label":"What is your budget?"' \
         '"text":"Send me offers"' '"form":{"id":"77","name":"Spring offer"}' '"via":"webhook"' \
         '"sponsored_account_id":"123"' '"sig":"ok"'; do
    has "A's lead" "$w"
done
[ "$(cl_crm_stat "$CRM_B" requests)" = 0 ] || t_fail "B's CRM got A's lead: $(curl -s "$CRM_B/received")"
[ "$(hook "$N1")" = 200 ] || t_fail "the same notification again"
dup() { status ta li-a; [ "$(count duplicates)" = 1 ]; }
cl_wait_until 15 'the repeat was not dropped as a duplicate: $(cat "$T_DIR/out")' dup
[ "$(hook "$N1" "$(printf '%064d' 0)")" = 401 ] || t_fail "a bad signature was not refused"
[ "$(hook "$N1" "$(printf '%s' "$N1" | "$FL" --sign "wrong-$CSEC")")" = 401 ] || t_fail "another secret's signature was not refused"
[ "$(hook "$N1" none)" = 401 ] || t_fail "a missing signature was not refused"
[ "$(hook "$(note r-1 '{"sponsoredAccount":"urn:li:sponsoredAccount:999"}' 77 CREATED)")" = 404 ] ||
    t_fail "an owner nobody has was not refused: $(cat "$T_DIR/hook.body")"
response r-1002 "$SA" 77
[ "$(hook "$(note r-1002 "$SA" 77 CREATED)" "hmacsha256=$(printf '%s' "$(note r-1002 "$SA" 77 CREATED 5)" | "$FL" --sign "$CSEC")")" = 401 ] ||
    t_fail "a signature over another body was accepted"
N2=$(note r-1002 "$SA" 77 CREATED)
[ "$(hook "$N2" "hmacsha256=$(printf '%s' "$N2" | "$FL" --sign "$CSEC")")" = 200 ] || t_fail "prefixed signature: $(cat "$T_DIR/hook.body")"
cl_wait_crm "$CRM_A" linkedin:lead:r-1002 200 20
sleep 0.5
[ "$(delivered "$CRM_A" linkedin:lead:r-1001)" = 1 ] || t_fail "r-1001 delivered $(delivered "$CRM_A" linkedin:lead:r-1001) times"
[ "$(lstat bad_headers)" = 0 ] || t_fail "calls without the versioned headers: $(curl -s "$L/stats")"
t_ok "CREATED -> one lead at A's CRM, named answers; duplicate dropped; bad/missing signature 401; prefixed signature accepted"

response r-2001 "$ORG" 88
[ "$(hook "$(note r-2001 "$ORG" 88 CREATED)")" = 200 ] || t_fail "B's notification: $(cat "$T_DIR/hook.body")"
cl_wait_crm "$CRM_B" linkedin:lead:r-2001 200 20
has "B's lead" '"connection":"li-b"'
[ "$(delivered "$CRM_A" linkedin:lead:r-2001)" = 0 ] || t_fail "A's CRM got B's lead"
t_ok "B's lead (organization owner) reaches B's CRM only"

# --- DELETED -------------------------------------------------------------------------------
[ "$(hook "$(note r-1001 "$SA" 77 DELETED)")" = 200 ] || t_fail "DELETED notification"
cl_wait_crm "$CRM_A" linkedin:lead.deleted:r-1001 200 20
has "deletion" '"type":"lead.deleted"'
has "deletion" '"lead_record_id":"linkedin:lead:r-1001"'
has "deletion" '"schema":"c360.lead_deletion.v1"'
t_ok "DELETED -> a lead.deleted record at A's CRM"
sleep 1
[ "$(cl_crm_stat "$CRM_C" requests)" = 0 ] || t_fail "C's CRM got A's records: $(curl -s "$CRM_C/received")"
status tc li-c
[ "$(count events)" = 0 ] || t_fail "C received events of A's owner 123: $(cat "$T_DIR/out")"
t_ok "A's CREATED and DELETED reached A only: C's event count 0, C's CRM untouched"
# Straight to C's own URL (signed: C holds the same app's secret): processed, but owner
# 123 is not proven for C, so neither the deletion nor the lead becomes a record.
ND=$(note r-1001 "$SA" 77 DELETED)
NC=$(note r-1002 "$SA" 77 CREATED)
for b in "$ND" "$NC"; do
    r=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "X-LI-Signature: $(printf '%s' "$b" | "$FL" --sign "$CSEC")" --data-binary "$b" "$HOOK/li-c" || true)
    [ "$r" = 200 ] || t_fail "C's own URL: HTTP $r"
done
c_done() { status tc li-c; [ "$(count events)" -ge 2 ] 2>/dev/null; }
cl_wait_until 20 'C never processed its two events: $(cat "$T_DIR/out")' c_done
sleep 1
[ "$(cl_crm_stat "$CRM_C" requests)" = 0 ] || t_fail "C emitted records of A's owner: $(curl -s "$CRM_C/received")"
grep -q 'LinkedIn owner 123: access not proven for this connection; ignored' "$T_DIR/c360d.log" ||
    t_fail "no 'not proven' log line for C's events"
t_ok "events of owner 123 on C's own URL: processed and dropped (not proven for C)"

# --- throttling ------------------------------------------------------------------------------
lpost "/control?throttle=2"
response r-1003 "$SA" 77
[ "$(hook "$(note r-1003 "$SA" 77 CREATED)")" = 200 ] || t_fail "notification under throttling"
cl_wait_crm "$CRM_A" linkedin:lead:r-1003 200 30
[ "$(lstat throttled)" = 2 ] || t_fail "throttled calls: $(curl -s "$L/stats")"
cl_ctl logs sync --tenant ta --conn li-a
grep -q 'LinkedIn rate limit (HTTP 429)' "$T_DIR/out" || t_fail "no 429 backoff in the sync log: $(cat "$T_DIR/out")"
t_ok "429 twice -> backoff (sync log), the lead arrived"

# --- the catch-up poll -------------------------------------------------------------------------
# Three responses without webhooks (page size 2: two pages), plus the ones
# the webhooks delivered, which the poll must not emit again.
# Submitted 45 s ago: inside the poll's window (the cursor of the setup
# tick minus the overlap .. now minus the grace).
for id in r-1101 r-1102 r-1103; do response "$id" "$SA" 77 "$(( $(now_ms) - 45000 ))"; done
SEARCH0=$(lstat search)
cl_ctl conns sync li-a --tenant ta
for id in r-1101 r-1102 r-1103; do cl_wait_crm "$CRM_A" "linkedin:lead:$id" 200 30; done
has "poll lead" '"via":"poll"'
MISSED=$(redis-cli -p "$RPORT" --raw HGET "c360:{t:ta}:state:li-a:missed_webhooks" v)
[ "$MISSED" = 3 ] || t_fail "missed_webhooks = '$MISSED', want 3"
[ $(( $(lstat search) - SEARCH0 )) -ge 2 ] || t_fail "offset paging (3 responses, pages of 2): $(curl -s "$L/stats")"
for id in r-1002 r-1003; do
    [ "$(delivered "$CRM_A" "linkedin:lead:$id")" = 1 ] || t_fail "the poll emitted $id again"
done
t_ok "responses without webhooks -> caught by the catch-up poll (offset paging), missed_webhooks 3"

# --- refresh token expiry warning ------------------------------------------------------------------
OLD=$(( $(now_ms) - 355 * 86400000 ))
redis-cli -p "$RPORT" HSET "c360:{t:ta}:state:li-a:consent_at_ms" v "$OLD" >/dev/null
cl_ctl conns sync li-a --tenant ta
warned() { status ta li-a; grep -q 'LinkedIn authorisation expires on' "$T_DIR/out"; }
cl_wait_until 20 'no expiry warning: $(cat "$T_DIR/out")' warned
grep -q '"state":"active"' "$T_DIR/out" || t_fail "the warning changed the state: $(cat "$T_DIR/out")"
t_ok "refresh token within 14 days of its 365 -> warning cause on the active status"

# --- disconnect ----------------------------------------------------------------------------------
subbed() { [ "$(lstat sub_post)" -ge 1 ]; }
cl_ctl conns sync li-b --tenant tb # B's tick subscribes its organization (webhook_url)
cl_wait_until 20 'B never subscribed: $(curl -s "$L/stats")' subbed
api DELETE /v1/tenants/tb/connections/li-b; want 200 "disconnect B"
grep -q '"outcome":"ok"' <<<"$BODY" || t_fail "disconnect outcome: $BODY"
[ "$(lstat sub_delete)" = 1 ] && [ "$(lstat revoke)" = 1 ] || t_fail "disconnect calls: $(curl -s "$L/stats")"
t_ok "disconnect B -> lead notification subscription removed, token revoked"

# --- token death -----------------------------------------------------------------------------------
[ "$(lstat refresh)" -ge 1 ] || t_fail "no refresh happened (rotation): $(curl -s "$L/stats")"
lpost "/control?fail_refresh=invalid_grant"
sleep 5 # past the access token's half-life: the next call refreshes
cl_ctl conns sync li-a --tenant ta
reauth() { status ta li-a; grep -q '"state":"needs_reauth"' "$T_DIR/out"; }
cl_wait_until 30 'A is not needs_reauth: $(cat "$T_DIR/out"); $(curl -s "$L/stats")' reauth
[ "$(lstat refresh_failed)" -ge 1 ] || t_fail "refresh not refused: $(curl -s "$L/stats")"
t_ok "refresh answers invalid_grant -> A needs_reauth"

for s in "$CSEC" LI-AT- LI-RT-; do
    grep -qF -- "$s" "$T_DIR/c360d.log" && t_fail "a secret ($s...) is in the c360d log"
done
t_ok "no secret in the log ($((SECONDS - T_START)) s)"
