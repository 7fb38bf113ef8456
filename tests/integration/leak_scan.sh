#!/usr/bin/env bash
# leak_scan.sh -- a full flow with canary secrets, then a search for them
# everywhere c360d writes or answers. Every secret is a distinct random
# string: the Meta app secret (also the OAuth client secret), the verify
# token, a pasted page token, the access tokens the fake OAuth server
# (fake_graph --token-prefix) issues during an OAuth connect, two CRM
# signing secrets, the notification secret (made by c360d), the API keys,
# the master key,
# and a wrong bearer token an attacker tries. The flow: tenants, keys,
# connections, secrets, routes, notifications; OAuth connect; webhooks
# (good, badly signed, wrong verify token); deliveries, a retry, a dead
# letter and its replay; a token error (needs_reauth, a notification);
# failed authentications; disconnect. Then every c360d log line, every
# API answer recorded during the test (except the two that hand a new key
# or secret out once), the audit chains through the API, the dead letters
# through the API, /metrics, and Redis after SAVE (the RDB file, written
# uncompressed, and the AOF: this Redis runs with appendonly yes) are
# searched for each canary in plain form, hex (both cases) and base64
# (standard and URL-safe, at the three alignments a substring can have).
# A hit fails the test, naming the canary and where, never its value. A
# control string that is stored on purpose (a lead's e-mail address) must
# be found by the same search in the same places.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/connectors_lib.sh"
for f in "$CL_FAKE_GRAPH" "$CL_FAKE_CRM" "$C360_BUILD_DIR/plugins/meta.so" \
         "$C360_BUILD_DIR/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
T_START=$SECONDS
canary() { echo "cnry$1$(cl_rnd)"; }
APP_ID=1111
APP_SECRET=$(canary app)
VT=$(canary vt)
PT_A=$(canary pta)
TOKPFX=$(canary tok | cut -c1-20)-
SIGN_A="whsec_$(head -c 24 /dev/urandom | base64)"
SIGN_B="whsec_$(head -c 24 /dev/urandom | base64)"
BADKEY="c360k_00000000deadbeef_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
MASTER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

cl_start_fake graph "$CL_FAKE_GRAPH" --port 0 --app-id "$APP_ID" --app-secret "$APP_SECRET" \
    --user-id 900001 --token-prefix "$TOKPFX"
G=http://127.0.0.1:$PORT_OF
cl_start_fake crm-a "$CL_FAKE_CRM" --port 0 --secret "$SIGN_A"
CRM_A=http://127.0.0.1:$PORT_OF
cl_start_fake crm-b "$CL_FAKE_CRM" --port 0 --secret "$SIGN_B"
CRM_B=http://127.0.0.1:$PORT_OF
cl_start_fake notify "$CL_FAKE_CRM" --port 0 --secret "$(cl_whsec)"
NOTIFY=http://127.0.0.1:$PORT_OF
cl_graph_post "$G" /control/page '{"id":"101","access_token":"'"$PT_A"'"}'
cl_graph_post "$G" /control/page '{"id":"202"}'
cl_graph_post "$G" /control/form '{"id":"555","page_id":"101","name":"A","questions":[]}'

# A Redis of its own: the AOF on (every write lands in it), the RDB
# uncompressed (a leak cannot hide in LZF).
RPORT=$(t_free_port)
t_start_redis "$RPORT" "$T_DIR/redis" --appendonly yes --appendfsync always --rdbcompression no
PORT=$(t_free_port)
URL=http://127.0.0.1:$PORT
HOOK=$URL/hooks/meta
cat >"$T_DIR/c360.json" <<JSON
{"listen":"127.0.0.1:$PORT","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$C360_BUILD_DIR/plugins"],
 "data_dir":"$T_DIR/data","log_level":"debug","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000},
 "admin":{"public_url":"$URL","auth_fail_per_min":3},
 "audit":{"file":"$T_DIR/audit.jsonl"},
 "pipeline":{"workers":1,"worker_threads":2,"tick_floor_s":1,"max_attempts":2,
             "callback_timeout_ms":15000}}
JSON
export C360_MASTER_KEY=$MASTER
export C360_META_GRAPH_URL=$G C360_META_WWW_URL=$G C360_META_THROTTLE_MIN_MS=1500
export C360_CRM_GENERIC_ALLOW_HTTP=1
t_start_c360d c360d --config "$T_DIR/c360.json"
t_wait_http "$URL/readyz" 200 150
cl_ctl_setup "$URL" "$T_DIR/data"
OPKEY=$(cat "$T_DIR/op.key")
# ctl ARGS -- c360ctl, its answer kept for the scan.
ctl() { cl_ctl "$@"; cat "$T_DIR/out" >>"$T_DIR/api.all"; echo >>"$T_DIR/api.all"; }
secret() { cl_secret "$@"; cat "$T_DIR/out" "$T_DIR/err" >>"$T_DIR/api.all"; }
# api METHOD PATH [curl args] -- a raw call as the operator, answer kept.
api() {
    local m=$1 p=$2; shift 2
    curl -s -m 10 -X "$m" -H "Authorization: Bearer $OPKEY" "$@" "$URL$p" >>"$T_DIR/api.all" || true
    echo >>"$T_DIR/api.all"
}

# --- the flow -------------------------------------------------------------------------------
for t in a b; do
    ctl tenants create "t$t" --name "Tenant $t"
    ctl plugins enable meta --tenant "t$t"
    ctl plugins enable crm_generic --tenant "t$t"
done
# Keys are handed out once: that answer is not scanned (the file is the key).
"$C360CTL" --json keys create --name adm --role tenant_admin --tenant ta --out-file "$T_DIR/ta.key" \
    >/dev/null 2>&1 || t_fail "keys create"
TKEY=$(head -n 1 "$T_DIR/ta.key")
mk() { # mk TENANT ID PLUGIN CONFIG
    printf '{"id":"%s","plugin":"%s","name":"%s","interval_s":3600,"config":%s}' "$2" "$3" "$2" "$4" >"$T_DIR/c.json"
    ctl conns create --tenant "$1" --file "$T_DIR/c.json"
}
mk ta crm-a crm_generic '{"url":"'"$CRM_A"'/leads","auth":{"type":"standard_webhooks"},"timeout_ms":5000}'
mk tb crm-b crm_generic '{"url":"'"$CRM_B"'/leads","auth":{"type":"standard_webhooks"},"timeout_ms":5000}'
secret ta crm-a signing_secret "$SIGN_A"
secret tb crm-b signing_secret "$SIGN_B"
mk ta meta-a meta '{"app_id":"'"$APP_ID"'","page_ids":["101"]}'
mk tb meta-b meta '{"app_id":"'"$APP_ID"'","page_ids":["202"]}'
secret ta meta-a page_token:101 "$PT_A"
for t in a b; do
    secret "t$t" "meta-$t" app_secret "$APP_SECRET"
    secret "t$t" "meta-$t" verify_token "$VT"
    ctl routes add "crm-$t" --tenant "t$t" --conn "meta-$t"
done
# c360d makes the notification secret; c360ctl writes it to the file only.
ctl notify set --tenant ta --endpoint "$NOTIFY/notify" --secret-file "$T_DIR/notify.secret"
NOTIFY_SECRET=$(head -n 1 "$T_DIR/notify.secret")
[[ $NOTIFY_SECRET == whsec_* ]] || t_fail "no notification secret in the file"
hs_ok() { [ "$(cl_meta_handshake "$HOOK" "$VT" 4242)" = 200 ]; }
cl_wait_until 20 'no handshake: $(cat "$T_DIR/hs.body")' hs_ok
t_ok "setup with canaries: tenants, keys, connections, secrets, routes, notifications ($((SECONDS - T_START)) s)"

# OAuth connect of B: the fake issues tokens carrying the canary prefix.
ctl oauth start --tenant tb --conn meta-b
AUTH=$(grep -o '"authorize_url":"[^"]*"' "$T_DIR/out" | cut -d'"' -f4 | sed 's/\\u0026/\&/g; s/\\\//\//g')
LOC=$(curl -s -m 5 -o /dev/null -w '%{redirect_url}' "$AUTH")
[[ $LOC == "$URL/oauth/callback?"* ]] || t_fail "no redirect to the callback: $LOC"
curl -s -m 10 "$LOC" >>"$T_DIR/api.all"
grep -q '"connected":true' "$T_DIR/api.all" || t_fail "OAuth callback: $(tail -c 300 "$T_DIR/api.all")"
ctl conns sync meta-b --tenant tb
exchanged() { [ "$(cl_graph_stat "$G" exchange)" -ge 1 ]; }
cl_wait_until 20 'no long-lived token exchange at the fake: $(curl -s "$G/stats")' exchanged
t_ok "OAuth connect of B: tokens ${TOKPFX:0:4}...SU-n and ...LL-n issued and stored"

hook() { cl_meta_hook "$HOOK" "$APP_SECRET" "$@"; }
lead() {
    cl_graph_lead "$G" "$1" 555 101 "$(date +%s)"
    [ "$(hook "$(cl_leadgen 101 "$1" 555)")" = 200 ] || t_fail "webhook of lead $1: $(cat "$T_DIR/hook.body")"
}
lead 8001001
cl_wait_crm "$CRM_A" meta:lead:8001001 200 30
cl_crm_control "$CRM_A" "mode=500&count=1"
lead 8001002
cl_wait_crm "$CRM_A" meta:lead:8001002 200 30
cl_crm_control "$CRM_A" "mode=400"
lead 8001003
cl_wait_crm "$CRM_A" meta:lead:8001003 400 30
DL=
has_dl() {
    "$C360CTL" --json dlq list --tenant ta --conn crm-a >"$T_DIR/dl" 2>/dev/null || return 1
    DL=$(grep -o '"id":"[0-9]*-[0-9]*","at_ms"' "$T_DIR/dl" | head -n 1 | cut -d'"' -f4); [ -n "$DL" ]
}
cl_wait_until 20 'no dead letter: $(cat "$T_DIR/dl")' has_dl
cat "$T_DIR/dl" >>"$T_DIR/api.all"
ctl dlq get "$DL" --tenant ta
cl_crm_control "$CRM_A" "mode=ok"
ctl dlq replay "$DL" --tenant ta
cl_wait_crm "$CRM_A" meta:lead:8001003 200 30
t_ok "webhooks delivered, a 500 retried, a 400 dead-lettered and replayed"

# Errors: bad signatures, a wrong verify token, guessed keys.
B=$(cl_leadgen 101 8001009 555)
[ "$(hook "$B" "sha256=$(printf '%064d' 0)")" = 401 ] || t_fail "bad signature accepted"
[ "$(hook "$B" "$(cl_meta_sign "$VT" "$B")")" = 401 ] || t_fail "signature by the verify token accepted"
cl_meta_handshake "$HOOK" "$APP_SECRET" 77 >/dev/null # the app secret as a verify token
for _ in 1 2 3 4 5; do
    curl -s -m 5 -H "Authorization: Bearer $BADKEY" "$URL/v1/me" >>"$T_DIR/api.all" || true
    curl -s -m 5 -H "Authorization: Bearer $APP_SECRET" "$URL/v1/me" >>"$T_DIR/api.all" || true
done
# A secret sent where a config goes (the schema refuses it; the error must not echo it).
printf '{"id":"meta-x","plugin":"meta","name":"x","config":{"app_id":"%s","page_ids":["101"]}}' "$APP_SECRET" >"$T_DIR/c.json"
"$C360CTL" --json conns create --tenant ta --file "$T_DIR/c.json" >>"$T_DIR/api.all" 2>&1 || true
# The token dies: needs_reauth, and a notification goes out.
cl_graph_post "$G" "/control?invalidate=1"
lead 8001004
reauth() { cl_ctl status --tenant ta --conn meta-a; grep -q '"state":"needs_reauth"' "$T_DIR/out"; }
cl_wait_until 30 'A never needs_reauth: $(cat "$T_DIR/out")' reauth
cat "$T_DIR/out" >>"$T_DIR/api.all"
notified() { [ "$(cl_crm_stat "$NOTIFY" requests)" -ge 1 ]; }
cl_wait_until 30 'no notification sent: $(curl -s "$NOTIFY/stats")' notified
cl_graph_post "$G" "/control?invalidate=0"
# Disconnect B (revokes its OAuth token at the fake).
ctl conns delete meta-b --tenant tb --yes
t_ok "errors: bad signatures, wrong verify token, guessed keys, a secret in a config, a dead token (needs_reauth, notified); B disconnected"

# --- what to search --------------------------------------------------------------------------
for t in ta tb; do
    for c in meta-a meta-b crm-a crm-b; do
        for w in status "logs sync" "logs deliveries"; do
            # shellcheck disable=SC2086
            "$C360CTL" --json $w --tenant "$t" --conn "$c" >>"$T_DIR/api.all" 2>&1 || true
        done
        "$C360CTL" --json secrets list --tenant "$t" --conn "$c" >>"$T_DIR/api.all" 2>&1 || true
        "$C360CTL" --json dlq list --tenant "$t" --conn "$c" >>"$T_DIR/api.all" 2>&1 || true
    done
    api GET "/v1/tenants/$t/connections"
    api GET "/v1/tenants/$t/notifications"
    api GET "/v1/tenants/$t/keys"
    api GET "/v1/tenants/$t/audit?limit=200" >/dev/null
    curl -s -m 10 -H "Authorization: Bearer $OPKEY" "$URL/v1/tenants/$t/audit?limit=200" >>"$T_DIR/audit.api"
done
curl -s -m 10 -H "Authorization: Bearer $OPKEY" "$URL/v1/audit?limit=200" >>"$T_DIR/audit.api"
curl -s -m 10 -H "Authorization: Bearer $TKEY" "$URL/v1/tenants/ta/dead-letters" >>"$T_DIR/api.all" || true
curl -s -m 10 "$URL/metrics" >"$T_DIR/metrics.txt"
grep -q '"action":"auth.throttled"' "$T_DIR/audit.api" || t_fail "no auth.throttled audit entry: $(head -c 500 "$T_DIR/audit.api")"
redis-cli -p "$RPORT" SAVE >/dev/null
kill -TERM "$C360D_PID"
rc=0; wait "$C360D_PID" || rc=$?
[ "$rc" = 0 ] || t_fail "c360d exit $rc"
redis-cli -p "$RPORT" SAVE >/dev/null
cat "$T_DIR"/redis/appendonlydir/* >"$T_DIR/aof.all" 2>/dev/null || cat "$T_DIR"/redis/*.aof >"$T_DIR/aof.all"

# forms NAME VALUE -- "NAME<TAB>form" lines: the value, its hex (both cases),
# and its base64 (standard, URL-safe) at the three alignments, padding off.
forms() {
    local n=$1 v=$2 off sub
    printf '%s\t%s\n' "$n" "$v"
    printf '%s\t%s\n' "$n" "$(printf '%s' "$v" | od -An -tx1 | tr -d ' \n')"
    printf '%s\t%s\n' "$n" "$(printf '%s' "$v" | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
    for off in 0 1 2; do
        sub=${v:$off}
        sub=${sub:0:$(( ${#sub} / 3 * 3 ))}
        b=$(printf '%s' "$sub" | base64 -w0 | tr -d '=')
        printf '%s\t%s\n%s\t%s\n' "$n" "$b" "$n" "$(tr '+/' '-_' <<<"$b")"
    done
}
# A whsec_ secret is base64 of the key bytes: also the bytes in hex.
whsec_forms() {
    forms "$1" "$2"; forms "$1" "${2#whsec_}"
    printf '%s\t%s\n' "$1" "$(printf '%s' "${2#whsec_}" | base64 -d 2>/dev/null | od -An -tx1 | tr -d ' \n')"
}
{
    forms app_secret "$APP_SECRET"; forms verify_token "$VT"; forms page_token "$PT_A"
    forms oauth_tokens "$TOKPFX"
    whsec_forms signing_secret_a "$SIGN_A"; whsec_forms signing_secret_b "$SIGN_B"
    whsec_forms notification_secret "$NOTIFY_SECRET"
    forms operator_key "$OPKEY"; forms operator_key_secret "${OPKEY##*_}"
    forms tenant_key "$TKEY"; forms tenant_key_secret "${TKEY##*_}"
    forms guessed_key "$BADKEY"; forms guessed_key_secret "${BADKEY##*_}"
    forms master_key "$MASTER"
    printf '%s\t%s\n' master_key_bytes_b64 "$(printf '%s' "$MASTER" | xxd -r -p 2>/dev/null | base64 -w0 | tr -d '=' || true)"
} | awk -F'\t' 'length($2) >= 12' >"$T_DIR/forms.tsv"
cut -f2 "$T_DIR/forms.tsv" >"$T_DIR/forms.txt"
SOURCES=("c360d.log:$T_DIR/c360d.log" "audit file:$T_DIR/audit.jsonl" "audit via the API:$T_DIR/audit.api"
         "API answers:$T_DIR/api.all" "/metrics:$T_DIR/metrics.txt" "Redis RDB:$T_DIR/redis/dump.rdb"
         "Redis AOF:$T_DIR/aof.all")
LEAKS=0 BYTES=0
for s in "${SOURCES[@]}"; do
    name=${s%%:*} f=${s#*:}
    [ -s "$f" ] || t_fail "nothing to search in $name ($f)"
    BYTES=$((BYTES + $(stat -c %s "$f")))
    while IFS= read -r hit; do
        echo "LEAK: $(awk -F'\t' -v h="$hit" '$2 == h {print $1; exit}' "$T_DIR/forms.tsv") found in $name" >&2
        LEAKS=$((LEAKS + 1))
    done < <(grep -a -o -F -f "$T_DIR/forms.txt" "$f" | sort -u)
done
[ "$LEAKS" = 0 ] || t_fail "$LEAKS canary form(s) found (see LEAK lines)"
# The control: stored on purpose, so the same search must see it.
for s in "c360d.log:$T_DIR/c360d.log" "Redis RDB:$T_DIR/redis/dump.rdb" "Redis AOF:$T_DIR/aof.all" \
         "API answers:$T_DIR/api.all"; do
    grep -a -q -F "meta-a" "${s#*:}" || t_fail "control: no connection id in ${s%%:*}"
done
for s in "Redis RDB:$T_DIR/redis/dump.rdb" "Redis AOF:$T_DIR/aof.all"; do
    grep -a -q -F "lead8001001@example.com" "${s#*:}" || t_fail "control: the lead's e-mail not in ${s%%:*}"
done
t_ok "no canary ($(cut -f1 "$T_DIR/forms.tsv" | sort -u | wc -l) secrets, $(wc -l <"$T_DIR/forms.txt") forms) in $BYTES bytes: $(wc -l <"$T_DIR/c360d.log") log lines, audit (file, API), API answers, /metrics, RDB, AOF; controls found"
t_ok "leak scan in $((SECONDS - T_START)) s"
