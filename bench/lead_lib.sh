# shellcheck shell=bash
# lead_lib.sh -- what the Meta targets of run_ingress.sh and the lead
# pipeline benchmark run_lead_e2e.sh share (sourced after
# tests/integration/lib.sh and connectors_lib.sh, not run by itself):
# a c360d configured for the meta plugin against the lean Graph API
# (c360-bench-lead-graph), and the tenant "bench" set up through c360ctl
# as an operator would: one Meta app, LB_PAGES pages with their page
# tokens, optionally a crm_generic destination (c360-bench-lead-crm) and a
# route to it.
#
# Pages are 100001 .. 1000<LB_PAGES>, app id 1111, page tokens "PT-<page>"
# (the lean Graph answers GET /me with the page of such a token: the
# plugin's proof of access). Needs: $T_DIR, $RPORT (redis), $LB_BUILD,
# LB_SECRET (app secret), LB_PAGES.

LB_APP_ID=1111
LB_VT=bench-verify-token-0123456789

# lb_pages -- the page ids, comma-separated.
lb_pages() { local p s=; for p in $(seq "$LB_PAGES"); do s+="${s:+,}$((100000 + p))"; done; echo "$s"; }

# lb_start_c360d GRAPH_URL WORKERS THREADS -- a fresh c360d (fresh data
# dir; the caller flushed Redis) with the meta and crm_generic plugins;
# sets LB_PID, LB_URL. Its log is $T_DIR/c360d.log.
lb_start_c360d() {
    local graph=$1 workers=$2 threads=$3 port
    port=$(t_free_port)
    LB_URL=http://127.0.0.1:$port
    rm -rf "$T_DIR/data"
    local extra=
    [ -z "${LB_DCONC:-}" ] || extra=",\"delivery_concurrency\":$LB_DCONC"
    # C360_BENCH_PIPELINE='"share":32,...': more pipeline settings (tuning runs).
    [ -z "${C360_BENCH_PIPELINE:-}" ] || extra+=",$C360_BENCH_PIPELINE"
    cat >"$T_DIR/c360d.json" <<JSON
{"listen":"127.0.0.1:$port","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$LB_BUILD/plugins"],
 "data_dir":"$T_DIR/data","log_level":"${C360_BENCH_LOG_LEVEL:-warn}","shutdown_timeout_ms":2000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":10000},
 "admin":{"public_url":"$LB_URL"},
 "pipeline":{"workers":$workers,"worker_threads":$threads$extra}}
JSON
    C360_META_GRAPH_URL=$graph C360_META_WWW_URL=$graph C360_CRM_GENERIC_ALLOW_HTTP=1 \
        t_start_c360d c360d --config "$T_DIR/c360d.json"
    LB_PID=$C360D_PID
    t_wait_http "$LB_URL/readyz" 200 200
}

# lb_setup [CRM_URL SIGNING_SECRET BATCH RATE] -- the tenant, its meta
# connection (all pages) and, with a CRM, the crm_generic destination
# (batch.max_records BATCH, max_requests_per_s RATE) and the route.
lb_setup() {
    cl_ctl_setup "$LB_URL" "$T_DIR/data"
    cl_ctl tenants create bench --name Bench
    cl_ctl plugins enable meta --tenant bench
    if [ $# -gt 0 ]; then
        cl_ctl plugins enable crm_generic --tenant bench
        cat >"$T_DIR/crm.json" <<JSON
{"id":"crm","plugin":"crm_generic","name":"Bench CRM",
 "config":{"url":"$1/leads","auth":{"type":"standard_webhooks"},"timeout_ms":10000,
           "batch":{"max_records":$3},"max_requests_per_s":$4}}
JSON
        cl_ctl conns create --tenant bench --file "$T_DIR/crm.json"
        cl_secret bench crm signing_secret "$2"
    fi
    local pages p
    pages=$(lb_pages)
    cat >"$T_DIR/meta.json" <<JSON
{"id":"meta","plugin":"meta","name":"Bench leads","interval_s":3600,
 "config":{"app_id":"$LB_APP_ID","page_ids":["${pages//,/\",\"}"]}}
JSON
    cl_ctl conns create --tenant bench --file "$T_DIR/meta.json"
    # Page tokens first (as lead_e2e.sh): the instance opens as soon as
    # the app secret and verify token are there, and proves its pages then.
    for p in ${pages//,/ }; do cl_secret bench meta "page_token:$p" "PT-$p"; done
    cl_secret bench meta app_secret "$LB_SECRET"
    cl_secret bench meta verify_token "$LB_VT"
    if [ $# -gt 0 ]; then cl_ctl routes add crm --tenant bench --conn meta; fi
}

# lb_warm_up -- one signed leadgen webhook per page (leads 690000000000000
# and up, below every measured lead) until each is answered 200: every
# page is proven and routed. Sets LB_WARM to the number of warm-up leads.
lb_warm_up() {
    local k=0 p body sig code end
    for p in $(lb_pages | tr , ' '); do
        k=$((k + 1))
        body=$(printf '{"object":"page","entry":[{"id":"%s","time":%s,"changes":[{"field":"leadgen","value":{"leadgen_id":"%s","page_id":"%s","form_id":"555","created_time":%s}}]}]}' \
            "$p" "$(date +%s)" "$((690000000000000 + k))" "$p" "$(date +%s)")
        sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$LB_SECRET" | sed 's/^.*= //')
        end=$((SECONDS + 30))
        while :; do
            code=$(curl -s -m 5 -o "$T_DIR/warm.body" -w '%{http_code}' -X POST \
                -H 'Content-Type: application/json' -H "X-Hub-Signature-256: sha256=$sig" \
                --data-binary "$body" "$LB_URL/hooks/meta" || true)
            [ "$code" = 200 ] && break
            [ "$SECONDS" -ge "$end" ] && t_fail "page $p: the warm-up webhook was never accepted (last: $code $(cat "$T_DIR/warm.body"))"
            sleep 0.1
        done
    done
    LB_WARM=$k
}
