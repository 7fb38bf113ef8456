#!/usr/bin/env bash
# isolation.sh -- three tenants on one c360d, each trying to reach the
# others. Tenants A, B and C share one Meta app (the app-level webhook URL
# /hooks/meta) and each owns a page (101, 202, 303 at the fake Graph API)
# routed by its meta connection to its own crm_generic destination (its
# own fake CRM). C also names A's page 101 in its config, with a token of
# its own making. Then:
#
#   1. every route of the served OpenAPI document that names a tenant,
#      called with each tenant's admin key on each other tenant (the
#      other's real connection ids in the path): 403 forbidden_tenant and
#      none of the other's data, 3 x 2 x every route; the operator-only
#      routes refuse tenant keys (403 forbidden)
#   2. a lead for each page on the app-level URL: it reaches its owner's
#      CRM and no other; A's lead never reaches C, which named A's page
#      but cannot prove access to it
#   3. A's lead posted to B's and C's per-connection webhook URLs, and to
#      the destinations' URLs: no record, no delivery outside A
#   4. Redis: no delivery of A's leads in B's or C's streams; each CRM
#      holds exactly its own tenant's leads
# The unit-level matrix of every route x role for two tenants is
# test_api_matrix; this is the end-to-end version with three.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
source "$(dirname "$0")/connectors_lib.sh"
ABUSE=$C360_BUILD_DIR/tests/tools/c360-abuse
for f in "$CL_FAKE_GRAPH" "$CL_FAKE_CRM" "$ABUSE" "$C360_BUILD_DIR/plugins/meta.so" \
         "$C360_BUILD_DIR/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
T_START=$SECONDS
TENANTS=(a b c)
declare -A PAGE=([a]=101 [b]=202 [c]=303) FORM=([a]=555 [b]=666 [c]=777)
declare -A PT SIGN CRM KEY
APP_ID=1111
APP_SECRET="appsecret-$(cl_rnd)"
VT="verify-$(cl_rnd)"

cl_start_fake graph "$CL_FAKE_GRAPH" --port 0 --app-id "$APP_ID" --app-secret "$APP_SECRET" --user-id 900001
G=http://127.0.0.1:$PORT_OF
for t in "${TENANTS[@]}"; do
    PT[$t]="PT-$t-$(cl_rnd)"
    SIGN[$t]=$(cl_whsec)
    cl_start_fake "crm-$t" "$CL_FAKE_CRM" --port 0 --secret "${SIGN[$t]}"
    CRM[$t]=http://127.0.0.1:$PORT_OF
    cl_graph_post "$G" /control/page '{"id":"'"${PAGE[$t]}"'","access_token":"'"${PT[$t]}"'"}'
    cl_graph_post "$G" /control/form '{"id":"'"${FORM[$t]}"'","page_id":"'"${PAGE[$t]}"'","name":"Form '"$t"'","questions":[]}'
done

RPORT=$(t_free_port)
t_start_redis "$RPORT"
PORT=$(t_free_port)
URL=http://127.0.0.1:$PORT
HOOK=$URL/hooks/meta
cat >"$T_DIR/c360.json" <<JSON
{"listen":"127.0.0.1:$PORT","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$C360_BUILD_DIR/plugins"],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000},
 "admin":{"public_url":"$URL","key_rate_per_s":0},
 "pipeline":{"workers":1,"worker_threads":2,"tick_floor_s":1,"callback_timeout_ms":15000}}
JSON
C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_MASTER_KEY
export C360_META_GRAPH_URL=$G C360_META_WWW_URL=$G C360_META_THROTTLE_MIN_MS=1500
export C360_CRM_GENERIC_ALLOW_HTTP=1
t_start_c360d c360d --config "$T_DIR/c360.json"
t_wait_http "$URL/readyz" 200 150
cl_ctl_setup "$URL" "$T_DIR/data"

# tenant T PAGES_JSON -- tenant tT: crm-T -> its CRM, meta-T on PAGES_JSON
# (each page's token secret from PT, or a made-up one), route meta -> crm,
# and a tenant_admin key in KEY[T].
tenant() {
    local t=$1 pages=$2 p
    cl_ctl tenants create "t$t" --name "Tenant $t"
    cl_ctl plugins enable meta --tenant "t$t"
    cl_ctl plugins enable crm_generic --tenant "t$t"
    printf '{"id":"crm-%s","plugin":"crm_generic","name":"CRM %s","config":{"url":"%s/leads","auth":{"type":"standard_webhooks"},"timeout_ms":5000}}' \
        "$t" "$t" "${CRM[$t]}" >"$T_DIR/crm-$t.json"
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/crm-$t.json"
    cl_secret "t$t" "crm-$t" signing_secret "${SIGN[$t]}"
    printf '{"id":"meta-%s","plugin":"meta","name":"Facebook %s","interval_s":3600,"config":{"app_id":"%s","page_ids":%s}}' \
        "$t" "$t" "$APP_ID" "$pages" >"$T_DIR/meta-$t.json"
    cl_ctl conns create --tenant "t$t" --file "$T_DIR/meta-$t.json"
    for p in $(grep -o '[0-9][0-9]*' <<<"$pages"); do
        if [ "$p" = "${PAGE[$t]}" ]; then cl_secret "t$t" "meta-$t" "page_token:$p" "${PT[$t]}"
        else cl_secret "t$t" "meta-$t" "page_token:$p" "guessed-$(cl_rnd)"; fi
    done
    cl_secret "t$t" "meta-$t" app_secret "$APP_SECRET"
    cl_secret "t$t" "meta-$t" verify_token "$VT"
    cl_ctl routes add "crm-$t" --tenant "t$t" --conn "meta-$t" \
        --mapping '{"id":{"from":"/id"},"email":{"from":"/contact/email"},"lead_id":{"from":"/provider_ids/lead_id"}}'
    cl_ctl keys create --name "admin-$t" --role tenant_admin --tenant "t$t" --out-file "$T_DIR/key-$t"
    KEY[$t]=$(head -n 1 "$T_DIR/key-$t")
    [[ ${KEY[$t]} == c360k_* ]] || t_fail "no key for t$t: $(cat "$T_DIR/out")"
}
tenant a '["101"]'
tenant b '["202"]'
tenant c '["303","101"]' # A's page, without A's token
hs_ok() { [ "$(cl_meta_handshake "$HOOK" "$VT" 42)" = 200 ]; }
cl_wait_until 20 'the handshake never succeeded: $(cat "$T_DIR/hs.body")' hs_ok
t_ok "setup: three tenants on one Meta app, pages 101/202/303, C also naming 101; three CRMs ($((SECONDS - T_START)) s)"

# --- 1. every tenant route, with every other tenant's key ---------------------------------------
curl -s -m 5 "$URL/v1/openapi.json" | "$ABUSE" routes >"$T_DIR/routes" || t_fail "no OpenAPI document"
grep '{tenant}' "$T_DIR/routes" >"$T_DIR/troutes" || true
NR=$(wc -l <"$T_DIR/troutes")
[ "$NR" -ge 30 ] || t_fail "only $NR tenant routes in the OpenAPI document: $(cat "$T_DIR/routes")"
# fill PATTERN VICTIM -- the victim's real ids in every parameter, so that a
# missing check would find data.
fill() {
    local v=$2
    sed -e "s/{tenant}/t$v/g" -e "s/{dst}/crm-$v/g" -e "s/{plugin}/meta/g" -e "s/{name}/app_secret/g" \
        -e "s/{dl}/1-1/g" -e "s/{key}/0000000000000001/g" -e "s/{[a-z_]*}/meta-$v/g" <<<"$1"
}
N=0 NFT=0 NOP=0
for x in "${TENANTS[@]}"; do
    for y in "${TENANTS[@]}"; do
        [ "$x" = "$y" ] && continue
        # One curl for all the routes of this pair (a config of transfers,
        # kept-alive connection): each body in its own file.
        : >"$T_DIR/curl.cfg"
        i=0
        while read -r m p; do
            i=$((i + 1))
            printf 'url = "%s"\nrequest = "%s"\nheader = "Authorization: Bearer %s"\noutput = "%s"\nwrite-out = "%%{http_code} %s %s\\n"\nmax-time = 5\n' \
                "$URL$(fill "$p" "$y")" "$m" "${KEY[$x]}" "$T_DIR/b.$i" "$m" "$(fill "$p" "$y")" >>"$T_DIR/curl.cfg"
            if [[ $m == POST || $m == PUT || $m == PATCH ]]; then
                printf 'header = "Content-Type: application/json"\ndata = "{}"\n' >>"$T_DIR/curl.cfg"
            fi
            printf 'next\n' >>"$T_DIR/curl.cfg"
        done <"$T_DIR/troutes"
        curl -s -K "$T_DIR/curl.cfg" >"$T_DIR/codes" || true
        [ "$(wc -l <"$T_DIR/codes")" = "$i" ] || t_fail "t$x on t$y: $(wc -l <"$T_DIR/codes") answers of $i"
        i=0
        while read -r code m path; do
            i=$((i + 1))
            N=$((N + 1))
            # 403 forbidden_tenant; forbidden where the route is the
            # operator's (the role is checked first).
            [ "$code" = 403 ] || t_fail "t$x's key on $m $path: HTTP $code $(head -c 300 "$T_DIR/b.$i")"
            if grep -q '"code":"forbidden_tenant"' "$T_DIR/b.$i"; then NFT=$((NFT + 1))
            elif grep -q '"code":"forbidden"' "$T_DIR/b.$i"; then NOP=$((NOP + 1))
            else t_fail "t$x's key on $m $path: $(head -c 300 "$T_DIR/b.$i")"; fi
        done <"$T_DIR/codes"
        grep -l "meta-$y\|crm-$y\|${PAGE[$y]}\|${CRM[$y]}" "$T_DIR"/b.* >/dev/null 2>&1 &&
            t_fail "t$x's key on t$y's routes: an answer names t$y's data: $(grep -l "meta-$y\|crm-$y" "$T_DIR"/b.*)"
        rm -f "$T_DIR"/b.*
    done
    # Its own tenant works (the key is not simply broken)...
    code=$(curl -s -m 5 -o "$T_DIR/body" -w '%{http_code}' -H "Authorization: Bearer ${KEY[$x]}" \
        "$URL/v1/tenants/t$x/connections")
    [ "$code" = 200 ] && grep -q "\"meta-$x\"" "$T_DIR/body" || t_fail "t$x on its own connections: $code"
    # ...and the tenant list, the _system audit chain and key listing across
    # tenants are the operator's.
    for p in /v1/tenants /v1/audit; do
        code=$(curl -s -m 5 -o "$T_DIR/body" -w '%{http_code}' -H "Authorization: Bearer ${KEY[$x]}" "$URL$p")
        [ "$code" = 403 ] || t_fail "t$x's key on GET $p: $code $(head -c 200 "$T_DIR/body")"
    done
done
t_ok "1. $N calls ($NR tenant routes of the OpenAPI document x 3 keys x 2 other tenants): all 403 ($NFT forbidden_tenant, $NOP forbidden: operator routes), no foreign data; /v1/tenants and /v1/audit refused ($((SECONDS - T_START)) s)"

# --- 2. a lead per page on the app-level URL ----------------------------------------------------
lead() { # lead ID TENANT_OF_PAGE
    local t=$2
    cl_graph_lead "$G" "$1" "${FORM[$t]}" "${PAGE[$t]}" "$(date +%s)"
    B=$(cl_leadgen "${PAGE[$t]}" "$1" "${FORM[$t]}")
}
got() { curl -s -m 5 "$1/stats" | grep -o "\"meta:lead:$2\":[0-9]*" | cut -d: -f4; }
declare -A LEADS=([a]="9101001" [b]="9202001" [c]="9303001")
for t in "${TENANTS[@]}"; do
    lead "${LEADS[$t]}" "$t"
    ok_hook() { [ "$(cl_meta_hook "$HOOK" "$APP_SECRET" "$B")" = 200 ]; }
    cl_wait_until 20 "the webhook for ${PAGE[$t]} was not accepted: \$(cat \"$T_DIR/hook.body\")" ok_hook
done
for t in "${TENANTS[@]}"; do cl_wait_crm "${CRM[$t]}" "meta:lead:${LEADS[$t]}" 200 30; done
t_ok "2. each page's lead reached its owner's CRM ($((SECONDS - T_START)) s)"

# --- 3. A's lead through the others' URLs ---------------------------------------------------------
lead 9101002 a
A2=$B
declare -A CODES
for u in "$URL/hooks/meta/meta-b" "$URL/hooks/meta/meta-c" "$URL/hooks/crm_generic/crm-b" \
         "$URL/hooks/crm_generic/crm-a" "$URL/hooks/meta/meta-a/../meta-b" "$URL/hooks/meta/meta-b?page=101"; do
    CODES[$u]=$(cl_meta_hook "$u" "$APP_SECRET" "$A2")
done
# ...and the handshake of the per-connection URLs never echoes for a foreign token.
code=$(cl_meta_handshake "$URL/hooks/meta/meta-b" "wrong-$VT" 77)
[ "$(cat "$T_DIR/hs.body")" = 77 ] && t_fail "B's per-connection URL echoed a handshake with a wrong token"
# Then A's second lead through A's own URL: the reference for "had time to arrive".
[ "$(cl_meta_hook "$HOOK" "$APP_SECRET" "$A2")" = 200 ] || t_fail "A's second lead on the app URL"
cl_wait_crm "${CRM[a]}" meta:lead:9101002 200 30
sleep 1 # what else could come has had as long as A's own delivery
t_ok "3. A's lead posted to B's/C's webhook URLs and the destinations' URLs: $(for u in "${!CODES[@]}"; do printf '%s ' "${u#"$URL"}=${CODES[$u]}"; done)"

# --- 4. nothing of A outside A ---------------------------------------------------------------------
for t in b c; do
    for id in 9101001 9101002; do
        [ "$(got "${CRM[$t]}" "$id")" = "" ] || t_fail "A's lead $id reached t$t's CRM: $(curl -s "${CRM[$t]}/stats")"
        redis-cli -p "$RPORT" --raw XRANGE "c360:{t:t$t}:dl" - + | grep -q "$id" &&
            t_fail "A's lead $id has a delivery in t$t's stream"
    done
done
for t in "${TENANTS[@]}"; do
    ids=$(curl -s -m 5 "${CRM[$t]}/received" | grep -o '"webhook-id":"meta:lead:[0-9]*"' | sort -u | grep -o '[0-9]*' | tr '\n' ' ')
    want=${LEADS[$t]}
    [ "$t" = a ] && want="9101001 9101002"
    [ "$ids" = "$want " ] || t_fail "t$t's CRM received leads '$ids', want '$want '"
done
t_ok "4. each CRM holds exactly its tenant's leads; no delivery of A's leads in B's or C's streams ($((SECONDS - T_START)) s)"
kill -TERM "$C360D_PID"
rc=0; wait "$C360D_PID" || rc=$?
[ "$rc" = 0 ] || t_fail "c360d exit $rc"
t_sanitizers_clean
t_ok "isolation in $((SECONDS - T_START)) s"
