#!/usr/bin/env bash
# google.sh -- the google (Gmail) connector end to end: a real c360d and
# redis-server, tests/fakes/fake_gmail as Google (Gmail API, OAuth, OIDC
# keys), and per tenant a crm_generic destination posting to its own
# tests/fakes/fake_crm. Tenant A authenticates pushes with the push token
# and filters messages; tenant B also requires the OIDC token.
#
#   OAuth connect (access_type=offline, prompt=consent) -> the first tick
#     watches the mailbox (users.watch) and stores the history id
#   a push with the right token -> history.list (paged) -> messages.get
#     format=metadata -> an email record in A's CRM only, no body
#   wrong / missing token -> 401; the same messageId again -> dropped
#   filters: wrong sender domain or subject -> no record (counted)
#   B: no / wrong OIDC token -> 401; a signed one -> B's record only
#   history too old (404) -> resync with messages.list newer_than:7d
#   a message without a push -> the catch-up poll (tick), missed_webhooks
#   403 userRateLimitExceeded and 429 -> backoff, then the record
#   watch renewal under 2 days left; a refused renewal -> failing with
#   the cause, active again once it works
#   disconnect -> users.stop and the token revoked
#   invalid_grant on refresh -> needs_reauth
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/connectors_lib.sh"
FG=$C360_BUILD_DIR/tests/fakes/fake_gmail
for f in "$FG" "$CL_FAKE_CRM" "$C360_BUILD_DIR/plugins/google.so" \
         "$C360_BUILD_DIR/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done

CLIENT_SECRET="gcs-$(cl_rnd)"
PT_A="push-a-$(cl_rnd)"
PT_B="push-b-$(cl_rnd)"
SIGN_A=$(cl_whsec)
SIGN_B=$(cl_whsec)
SA=push@myproject.iam.gserviceaccount.com

# Tokens live 6 s: the host refreshes them every few seconds, so the
# refresh path (and invalid_grant) is exercised. History pages of 2.
cl_start_fake gmail "$FG" --port 0 --client-id gclient --client-secret "$CLIENT_SECRET" \
    --expires-in 6 --page-size 2
G=http://127.0.0.1:$PORT_OF
cl_start_fake crm-a "$CL_FAKE_CRM" --port 0 --secret "$SIGN_A"
CRM_A=http://127.0.0.1:$PORT_OF
cl_start_fake crm-b "$CL_FAKE_CRM" --port 0 --secret "$SIGN_B"
CRM_B=http://127.0.0.1:$PORT_OF

t_host_ports
t_host_config <<JSON
 "plugin_dirs":["$C360_BUILD_DIR/plugins"],
 "data_dir":"$T_DIR/data","log_level":"debug","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000},
 "admin":{"public_url":"$URL"},
 "ratelimit":{"default_pause_ms":1000},
 "pipeline":{"workers":1,"worker_threads":2,"tick_floor_s":1,"claim_idle_ms":3000,
             "callback_timeout_ms":15000}}
JSON
C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_MASTER_KEY
export C360_GOOGLE_GMAIL_URL=$G C360_GOOGLE_OAUTH_URL=$G C360_GOOGLE_ACCOUNTS_URL=$G \
       C360_GOOGLE_CERTS_URL=$G/oauth2/v3/certs C360_GOOGLE_THROTTLE_MIN_MS=1000
export C360_CRM_GENERIC_ALLOW_HTTP=1
t_start_c360d c360d --config "$T_DIR/c360.json"
t_wait_http "$URL/readyz" 200 150
cl_ctl_setup "$URL" "$T_DIR/data"
OPKEY=$(cat "$T_DIR/op.key")

api() { t_api "$@"; } # lib.sh: sets CODE and BODY
want() { [ "$CODE" = "$1" ] || t_fail "$2: HTTP $CODE $BODY"; }
status() { api GET "/v1/tenants/t$1/connections/gm-$1/status"; }
sync_now() { api POST "/v1/tenants/t$1/connections/gm-$1/sync"; want 202 "sync gm-$1"; }
rstate() { redis-cli -p "$RPORT" --raw HGET "c360:{t:t$1}:state:gm-$1:$2" v; }
gstat() { cl_num "$(curl -s -m 5 "$G/stats")" "$1"; }
gctl() { curl -s -m 5 -f -X POST "$G/control?$1" >/dev/null || t_fail "fake_gmail control $1"; }
# msg USER FROM SUBJECT [LABEL] -- a new message in USER's mailbox; sets MID, HID.
msg() {
    local out
    out=$(curl -s -m 5 -f -X POST "$G/control/message" --data-binary \
        "{\"user\":\"$1\",\"from\":\"$2\",\"to\":\"Sales <sales@acme.example>, bob@acme.example\",\"subject\":\"$3\",\"snippet\":\"snippet of $3\",\"body\":\"BODY-TEXT-$3\",\"labelIds\":[\"${4:-INBOX}\",\"UNREAD\"]}") ||
        t_fail "fake_gmail message"
    MID=$(sed 's/.*"id":"\([^"]*\)".*/\1/' <<<"$out")
    HID=$(sed 's/.*"historyId":"\([^"]*\)".*/\1/' <<<"$out")
}
# push CONN QUERY BODY [AUTH] -- a Pub/Sub push; prints the HTTP status.
push() {
    local h=()
    [ -n "${4:-}" ] && h=(-H "Authorization: Bearer $4")
    curl -s -m 10 -o "$T_DIR/push.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "${h[@]}" --data-binary "$3" "$URL/hooks/google/$1$2" || true
}
body() { "$FG" --push-body "$1" "$2" "$3"; }
crm_count() { # CRM ID -- requests with webhook-id ID answered 2xx
    curl -s -m 5 "$1/received?id=$2" | grep -o '"status":2[0-9][0-9]' | wc -l
}
delivered() { [ "$(crm_count "$1" "$2")" -ge 1 ] 2>/dev/null; }

# --- setup --------------------------------------------------------------------------------------
# tenant T CRM SIGN PUSH_TOKEN CONFIG_EXTRA
tenant() {
    local t=$1 crm=$2 sign=$3 pt=$4 extra=$5
    cl_ctl tenants create "t$t" --name "Tenant $t"
    cl_ctl plugins enable google --tenant "t$t"
    cl_ctl plugins enable crm_generic --tenant "t$t"
    cat >"$T_DIR/crm-$t.json" <<JSON
{"id":"crm-$t","plugin":"crm_generic","name":"CRM $t",
 "config":{"url":"$crm/emails","auth":{"type":"standard_webhooks"},"timeout_ms":5000}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/crm-$t.json"
    cl_secret "t$t" "crm-$t" signing_secret "$sign"
    cat >"$T_DIR/gm-$t.json" <<JSON
{"id":"gm-$t","plugin":"google","name":"Gmail $t","interval_s":3600,
 "config":{"client_id":"gclient","topic_name":"projects/myproject/topics/gmail"$extra}}
JSON
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/gm-$t.json"
    grep -q "\"webhook_url\":\"$URL/hooks/google/gm-$t\"" "$T_DIR/out" ||
        t_fail "gm-$t: webhook URL: $(cat "$T_DIR/out")"
    cl_secret "t$t" "gm-$t" client_secret "$CLIENT_SECRET"
    cl_secret "t$t" "gm-$t" push_token "$pt"
    cl_ctl routes add "crm-$t" --tenant "t$t" --conn "gm-$t"
}
tenant a "$CRM_A" "$SIGN_A" "$PT_A" \
    ',"filters":{"sender_domains":["leads.example.com"],"subject_regex":"^(new lead|enquiry)"}'
tenant b "$CRM_B" "$SIGN_B" "$PT_B" \
    ",\"oidc\":{\"audience\":\"$URL/hooks/google/gm-b\",\"service_account_email\":\"$SA\"}"
api POST /v1/tenants/ta/connections/validate '{"plugin":"google","config":{"client_id":"x","topic_name":"nope","resync_days":0}}'
want 422 "invalid google config"
for p in /config/topic_name /config/resync_days; do
    grep -q "$p" <<<"$BODY" || t_fail "no config error at $p: $BODY"
done
api POST /v1/tenants/ta/connections/validate '{"plugin":"google","config":{"client_id":"x","topic_name":"projects/myproject/topics/gmail","filters":{"subject_regex":"(","sender_domains":["bad domain"]}}}'
want 422 "invalid google filters"
for p in /config/filters/subject_regex /config/filters/sender_domains/0; do
    grep -q "$p" <<<"$BODY" || t_fail "no config error at $p: $BODY"
done

# OAuth connect, each tenant its own mailbox.
connect() { # T EMAIL
    gctl "login=$2"
    api POST "/v1/tenants/t$1/connections/gm-$1/oauth/start" '{}'; want 200 "oauth start $1"
    local auth loc r
    auth=$(sed 's/.*"authorize_url":"\([^"]*\)".*/\1/' <<<"$BODY" | sed 's/\\u0026/\&/g; s/\\\//\//g')
    [[ $auth == "$G/o/oauth2/v2/auth?"* ]] || t_fail "authorize URL: $auth"
    for p in access_type=offline prompt=consent gmail.readonly code_challenge=; do
        grep -q "$p" <<<"$auth" || t_fail "authorize URL lacks $p: $auth"
    done
    loc=$(curl -s -m 5 -o /dev/null -w '%{redirect_url}' "$auth")
    [[ $loc == "$URL/oauth/callback?"* ]] || t_fail "consent did not send back: $loc"
    r=$(t_http GET "$loc")
    [[ $r == 200* ]] && grep -q '"connected":true' <<<"$r" || t_fail "oauth callback: $r"
}
connect a a@example.com
connect b b@example.com
# The first tick watches the mailbox and keeps its history id.
for t in a b; do
    sync_now "$t"
done
has_hid() { [ -n "$(rstate "$1" history_id)" ] && [ -n "$(rstate "$1" watch_expiration)" ]; }
cl_wait_until 20 'no watch for gm-a: $(curl -s $G/stats)' has_hid a
cl_wait_until 20 'no watch for gm-b: $(curl -s $G/stats)' has_hid b
t_ok "setup: two tenants, google -> own crm_generic; OAuth connect (offline, consent); watch and history id stored ($SECONDS s)"

# --- a push with the right token --------------------------------------------------------------------
msg a@example.com '\"Web Forms\" <forms@leads.example.com>' "New lead: Joe"
M1=$MID
B1=$(body a@example.com "$HID" 7000001)
[ "$(push gm-a "?token=$PT_A" "$B1")" = 200 ] || t_fail "push: $(cat "$T_DIR/push.body")"
cl_wait_until 30 "google:email:$M1 not delivered to A" delivered "$CRM_A" "google:email:$M1"
cl_crm_received "$CRM_A" "id=google:email:$M1"
for w in '"schema":"c360.email.v1"' "\"id\":\"google:email:$M1\"" '"type":"email"' '"via":"webhook"' \
         '"subject":"New lead: Joe"' '"address":"forms@leads.example.com"' '"name":"Web Forms"' \
         '"address":"sales@acme.example"' '"labels":["INBOX","UNREAD"]' "\"thread_id\":\"$M1\"" \
         '"snippet":"snippet of New lead: Joe"' '"connection":"gm-a"' '"mailbox":"a@example.com"'; do
    grep -qF -- "$w" "$T_DIR/rcv" || t_fail "email record lacks $w: $(cat "$T_DIR/rcv")"
done
grep -q 'BODY-TEXT' "$T_DIR/rcv" && t_fail "a body was delivered without include_body"
[ "$(gstat get_full)" = 0 ] && [ "$(gstat get_metadata)" -ge 1 ] || t_fail "formats: $(curl -s "$G/stats")"
[ "$(cl_crm_stat "$CRM_B" requests)" = 0 ] || t_fail "tenant B's CRM got A's email"
t_ok "push with the right token -> metadata-only email record in A's CRM, nothing in B"

[ "$(push gm-a "?token=wrong-$PT_A" "$B1")" = 401 ] || t_fail "a wrong push token was not refused"
[ "$(push gm-a "" "$B1")" = 401 ] || t_fail "a push without token was not refused"
[ "$(push gm-a "?token=$PT_B" "$B1")" = 401 ] || t_fail "B's token on A's URL was not refused"
[ "$(push gm-a "?token=$PT_A" '{"message":{"data":"!!","messageId":"x"}}')" = 200 ] ||
    t_fail "a malformed but authentic push should be acknowledged"
status a; EV=$(cl_num "$BODY" events)
[ "$(push gm-a "?token=$PT_A" "$B1")" = 200 ] || t_fail "the same push again"
dup1() { status a; [ "$(cl_num "$BODY" duplicates)" = 1 ]; }
cl_wait_until 10 'the repeated messageId was not dropped: $BODY' dup1
sleep 1
status a
[ "$(cl_num "$BODY" events)" = "$EV" ] || t_fail "refused or repeated pushes were processed: $BODY"
[ "$(crm_count "$CRM_A" "google:email:$M1")" = 1 ] || t_fail "delivered more than once"
t_ok "wrong or missing token -> 401; the same messageId -> dropped as a duplicate"

# --- filters ----------------------------------------------------------------------------------------
msg a@example.com 'Spam <x@other.example>' "New lead: not really"
MF1=$MID
msg a@example.com 'Forms <forms@leads.example.com>' "Your invoice"
MF2=$MID
msg a@example.com 'Forms <forms@eu.leads.example.com>' "Enquiry from Ann"
M2=$MID
[ "$(push gm-a "?token=$PT_A" "$(body a@example.com "$HID" 7000002)")" = 200 ] || t_fail "push 2"
cl_wait_until 30 "google:email:$M2 not delivered" delivered "$CRM_A" "google:email:$M2"
filtered() { [ "$(rstate a filtered)" = 2 ]; }
cl_wait_until 10 'filtered = $(rstate a filtered), want 2' filtered
for m in "$MF1" "$MF2"; do
    [ "$(crm_count "$CRM_A" "google:email:$m")" = 0 ] || t_fail "filtered message $m delivered"
done
t_ok "filters: sender domain (subdomains too) and subject pattern; others counted, not delivered"

# --- B: OIDC ----------------------------------------------------------------------------------------
msg b@example.com 'Someone <s@x.example>' "Hello B"
MB=$MID
BB=$(body b@example.com "$HID" 8000001)
JWT=$(curl -s -m 5 "$G/control/jwt?aud=$URL/hooks/google/gm-b&email=$SA")
BADJWT=$(curl -s -m 5 "$G/control/jwt?aud=https://elsewhere/&email=$SA")
OLDJWT=$(curl -s -m 5 "$G/control/jwt?aud=$URL/hooks/google/gm-b&email=$SA&exp=-3600")
[ "$(push gm-b "?token=$PT_B" "$BB")" = 401 ] || t_fail "B: a push without OIDC token was accepted"
[ "$(push gm-b "?token=$PT_B" "$BB" "$BADJWT")" = 401 ] || t_fail "B: a wrong audience was accepted"
[ "$(push gm-b "?token=$PT_B" "$BB" "$OLDJWT")" = 401 ] || t_fail "B: an expired token was accepted"
[ "$(push gm-b "?token=$PT_A" "$BB" "$JWT")" = 401 ] || t_fail "B: A's push token was accepted"
[ "$(push gm-b "?token=$PT_B" "$BB" "$JWT")" = 200 ] || t_fail "B: signed push: $(cat "$T_DIR/push.body")"
cl_wait_until 30 "B's email not delivered" delivered "$CRM_B" "google:email:$MB"
[ "$(crm_count "$CRM_A" "google:email:$MB")" = 0 ] || t_fail "B's email reached A"
t_ok "B: OIDC token required (missing, wrong audience, expired -> 401); signed push -> B's CRM only"

# --- history too old -> resync ----------------------------------------------------------------------
gctl "expire_history=a@example.com"
msg a@example.com 'Forms <forms@leads.example.com>' "New lead: after resync"
M3=$MID
[ "$(push gm-a "?token=$PT_A" "$(body a@example.com "$HID" 7000003)")" = 200 ] || t_fail "push 3"
cl_wait_until 30 "google:email:$M3 not delivered after the resync" delivered "$CRM_A" "google:email:$M3"
[ "$(gstat history_404)" -ge 1 ] && [ "$(curl -s "$G/stats" | grep -o '"last_q":"[^"]*"')" = '"last_q":"newer_than:7d"' ] ||
    t_fail "no resync: $(curl -s "$G/stats")"
[ "$(rstate a resyncs)" = 1 ] || t_fail "resyncs = $(rstate a resyncs)"
[ "$(crm_count "$CRM_A" "google:email:$M1")" = 1 ] || t_fail "the resync delivered an old message again"
t_ok "history 404 -> resync of the last 7 days (messages.list), only the new message delivered"

# --- catch-up poll ----------------------------------------------------------------------------------
msg a@example.com 'Forms <forms@leads.example.com>' "New lead: no push"
M4=$MID
sync_now a
cl_wait_until 30 "the catch-up poll did not deliver $M4" delivered "$CRM_A" "google:email:$M4"
cl_crm_received "$CRM_A" "id=google:email:$M4"
grep -q '"via":"poll"' "$T_DIR/rcv" || t_fail "poll record: $(cat "$T_DIR/rcv")"
[ "$(rstate a missed_webhooks)" = 1 ] || t_fail "missed_webhooks = $(rstate a missed_webhooks)"
t_ok "a message without push found by the tick's history read (missed_webhooks 1)"

# --- throttling -------------------------------------------------------------------------------------
gctl "throttle=403&count=2"
msg a@example.com 'Forms <forms@leads.example.com>' "New lead: throttled"
M5=$MID
[ "$(push gm-a "?token=$PT_A" "$(body a@example.com "$HID" 7000005)")" = 200 ] || t_fail "push 5"
cl_wait_until 45 "google:email:$M5 not delivered after throttling" delivered "$CRM_A" "google:email:$M5"
gctl "throttle=429&count=1"
msg a@example.com 'Forms <forms@leads.example.com>' "New lead: 429"
M6=$MID
[ "$(push gm-a "?token=$PT_A" "$(body a@example.com "$HID" 7000006)")" = 200 ] || t_fail "push 6"
cl_wait_until 45 "google:email:$M6 not delivered after 429" delivered "$CRM_A" "google:email:$M6"
[ "$(gstat throttled)" = 3 ] || t_fail "throttled: $(curl -s "$G/stats")"
api GET "/v1/tenants/ta/connections/gm-a/sync-log?limit=100"
grep -q 'Gmail rate limit (HTTP 403 userRateLimitExceeded)' <<<"$BODY" &&
    grep -q 'Gmail rate limit (HTTP 429' <<<"$BODY" || t_fail "no backoff in the sync log: $BODY"
t_ok "403 userRateLimitExceeded and 429 -> backoff, then delivered"

# --- watch renewal ----------------------------------------------------------------------------------
W0=$(gstat watch); E0=$(rstate a watch_expiration)
gctl "watch_ttl_s=86400"   # the next watch lasts a day: under 2 days, renewed on every tick
redis-cli -p "$RPORT" HSET "c360:{t:ta}:state:gm-a:watch_expiration" v "$(( $(date +%s) * 1000 + 86400000 ))" >/dev/null
sync_now a
renewed() { retick; [ "$(gstat watch)" -gt "$W0" ] && [ "$(rstate a watch_renewals)" -ge 2 ]; }
cl_wait_until 20 'the watch was not renewed: $(curl -s $G/stats)' renewed
gctl "watch_fail=1"
sync_now a
N=0
# retick A -- another tick every 2 s while waiting (a tick may be waiting
# out the throttling pause of the step before).
retick() { N=$((N + 1)); [ $((N % 20)) = 0 ] && api POST /v1/tenants/ta/connections/gm-a/sync; return 0; }
failing() { retick; status a; grep -q '"state":"failing"' <<<"$BODY"; }
cl_wait_until 20 'a refused renewal is not shown: $BODY' failing
grep -q 'Gmail watch renewal failed (HTTP 403' <<<"$BODY" || t_fail "cause: $BODY"
gctl "watch_fail=0"
sync_now a
active() { retick; status a; grep -q '"state":"active"' <<<"$BODY"; }
cl_wait_until 20 'not active after a renewal: $BODY' active
t_ok "watch renewed when under 2 days remain (was $E0); a refused renewal -> failing with the cause; active again"

# --- disconnect -------------------------------------------------------------------------------------
api DELETE /v1/tenants/tb/connections/gm-b; want 200 "disconnect B"
grep -q '"outcome":"ok"' <<<"$BODY" || t_fail "disconnect outcome: $BODY"
[ "$(gstat stop)" = 1 ] && [ "$(gstat revoke)" = 1 ] || t_fail "disconnect calls: $(curl -s "$G/stats")"
t_ok "disconnect: users.stop and the token revoked"

# --- invalid_grant -> needs_reauth -------------------------------------------------------------------
gctl "invalid_grant=a@example.com"
sleep 4 # the access token (6 s) is due for a refresh
msg a@example.com 'Forms <forms@leads.example.com>' "New lead: dead token"
M7=$MID
[ "$(push gm-a "?token=$PT_A" "$(body a@example.com "$HID" 7000007)")" = 200 ] || t_fail "push 7"
reauth() { status a; grep -q '"state":"needs_reauth"' <<<"$BODY"; }
cl_wait_until 30 'invalid_grant did not give needs_reauth: $BODY' reauth
[ "$(crm_count "$CRM_A" "google:email:$M7")" = 0 ] || t_fail "delivered with a dead grant"
[ "$(gstat invalid_grant)" -ge 1 ] || t_fail "no refresh: $(curl -s "$G/stats")"
t_ok "invalid_grant on refresh -> needs_reauth"

for s in "$CLIENT_SECRET" "$PT_A" "$PT_B" "ya29.fake" "1//rt-"; do
    grep -qF -- "$s" "$T_DIR/c360d.log" && t_fail "a secret or token ($s) is in the c360d log"
done
t_ok "no secret or token in the log"
