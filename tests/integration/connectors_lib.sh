# shellcheck shell=bash
# connectors_lib.sh -- shared helpers of the connector end-to-end tests
# (sourced after lib.sh, not a test itself): starting the fake providers,
# c360ctl as the operator, the fake Graph API (tests/fakes/fake_graph) as
# Meta and the fake CRM (tests/fakes/fake_crm) as a customer's endpoint.
#
# Helpers take the fake's base URL as an argument, so that a test can run
# several of each (two tenants, two CRMs). They write scratch output under
# $T_DIR and fail the test (t_fail) with what they saw.
: "${C360_BUILD_DIR:?}"
CL_FAKE_GRAPH=$C360_BUILD_DIR/tests/fakes/fake_graph
export CL_FAKE_CRM=$C360_BUILD_DIR/tests/fakes/fake_crm # for the tests that start it

# cl_host_config PLUGIN [DIR] -- a redis-server of the test and the c360d
# config the connector tests share ($T_DIR/c360.json: the bundled plugins,
# and DIR's if given, loopback allowed for the fakes, short pauses and tick
# floor, one worker of two threads); sets RPORT, PORT, URL and HOOK
# (PLUGIN's app-level URL).
cl_host_config() {
    t_host_ports
    HOOK=$URL/hooks/$1
    t_host_config <<JSON
 "plugin_dirs":["$C360_BUILD_DIR/plugins"${2:+,\"$2\"}],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000},
 "admin":{"public_url":"$URL"},
 "ratelimit":{"default_pause_ms":1500},
 "pipeline":{"workers":1,"worker_threads":2,"tick_floor_s":1,"claim_idle_ms":3000,
             "callback_timeout_ms":15000}}
JSON
}

# cl_rnd -- 24 random hex digits, for secrets and tokens.
cl_rnd() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# cl_whsec -- a fresh Standard Webhooks secret (whsec_ + base64 of 24 bytes).
cl_whsec() { echo "whsec_$(head -c 24 /dev/urandom | base64)"; }

# cl_start_fake NAME CMD... -- starts a fake that prints "port N" on
# stdout once listening; sets PORT_OF and PID_OF. Its stderr is
# $T_DIR/NAME.log (shown by t_fail).
cl_start_fake() {
    local name=$1; shift
    "$@" >"$T_DIR/$name.out" 2>"$T_DIR/$name.log" &
    PID_OF=$!
    T_PIDS+=("$PID_OF")
    for _ in $(seq 100); do grep -q '^port ' "$T_DIR/$name.out" 2>/dev/null && break; sleep 0.05; done
    PORT_OF=$(awk '/^port /{print $2}' "$T_DIR/$name.out")
    [ -n "$PORT_OF" ] || t_fail "$name did not start"
}

# cl_wait_until SECONDS WHAT CMD... -- runs CMD every 0.1 s until it
# succeeds; after SECONDS fails the test with WHAT, which is expanded
# then (pass it in single quotes to show the last output: '$(cat ...)').
cl_wait_until() {
    local secs=$1 what=$2; shift 2
    local end=$((SECONDS + secs))
    while :; do
        "$@" && return 0
        [ "$SECONDS" -ge "$end" ] && t_fail "$(eval "echo \"$what\"") (waited ${secs} s)"
        sleep 0.1
    done
}

# --- c360ctl ------------------------------------------------------------------------
# cl_ctl_setup URL DATA_DIR -- c360ctl talks to URL with the operator key
# c360d wrote into DATA_DIR; no user config is read.
cl_ctl_setup() {
    : "${C360CTL:?}"
    unset C360_URL C360_KEY C360_CONFIG C360_CACERT C360_TIMEOUT
    export HOME="$T_DIR/home" XDG_CONFIG_HOME="" C360_URL=$1
    mkdir -p "$HOME"
    t_opkey "$2" >"$T_DIR/op.key"
    chmod 600 "$T_DIR/op.key"
    export C360_KEY_FILE=$T_DIR/op.key
}

# cl_ctl ARGS... -- c360ctl --json into $T_DIR/out; fails the test unless
# it exits 0. cl_ctl_try: the same, returning its exit status.
cl_ctl_try() { "$C360CTL" --json "$@" >"$T_DIR/out" 2>"$T_DIR/err"; }
cl_ctl() { cl_ctl_try "$@" || t_fail "c360ctl $*: $(cat "$T_DIR/err" "$T_DIR/out")"; }

# cl_secret TENANT CONN NAME VALUE -- stores a connection secret (stdin).
cl_secret() {
    printf '%s\n' "$4" | "$C360CTL" secrets put "$3" --tenant "$1" --conn "$2" \
        >"$T_DIR/out" 2>"$T_DIR/err" || t_fail "secrets put $3 of $1/$2: $(cat "$T_DIR/err")"
}

# cl_num TEXT FIELD -- the first integer value of "FIELD" in JSON text.
cl_num() { grep -o "\"$2\":-\?[0-9]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# --- the fake Graph API (Meta) --------------------------------------------------------
# cl_graph_post GRAPH_URL PATH [JSON] -- a control call of fake_graph.
cl_graph_post() {
    curl -s -m 5 -f -X POST "$1$2" ${3:+--data-binary "$3"} >/dev/null || t_fail "fake_graph POST $2"
}
# cl_graph_stat GRAPH_URL COUNTER -- one counter of fake_graph's /stats.
cl_graph_stat() { cl_num "$(curl -s -m 5 "$1/stats")" "$2"; }

# cl_graph_lead GRAPH_URL ID FORM PAGE [CREATED] -- a lead on Meta's side
# (email lead<ID>@example.com, full name "Lead <ID>", a custom answer and
# a consent). CREATED (Unix s) defaults to two minutes ago.
cl_graph_lead() {
    cl_graph_post "$1" /control/lead "{\"id\":\"$2\",\"form_id\":\"$3\",\"page_id\":\"$4\",\"created_time\":${5:-$(( $(date +%s) - 120 ))},\"ad_id\":\"31\",\"ad_name\":\"Ad 31\",\"campaign_id\":\"41\",\"campaign_name\":\"Spring\",\"platform\":\"fb\",\"field_data\":[{\"name\":\"email\",\"values\":[\"lead$2@example.com\"]},{\"name\":\"full_name\",\"values\":[\"Lead $2\"]},{\"name\":\"budget\",\"values\":[\"10k-50k\"]}],\"custom_disclaimer_responses\":[{\"checkbox_key\":\"optin\",\"is_checked\":\"1\"}]}"
}

# cl_leadgen PAGE LEAD FORM -- the body of Meta's leadgen webhook (ids as
# numbers, as Meta sends some).
cl_leadgen() {
    local now; now=$(date +%s)
    printf '{"object":"page","entry":[{"id":"%s","time":%s,"changes":[{"field":"leadgen","value":{"leadgen_id":%s,"page_id":%s,"form_id":"%s","adgroup_id":"31","ad_id":"31","created_time":%s}}]}]}' \
        "$1" "$now" "$2" "$1" "$3" "$now"
}

# cl_meta_sign APP_SECRET BODY -- the X-Hub-Signature-256 value.
cl_meta_sign() { printf '%s' "$2" | "$CL_FAKE_GRAPH" --sign "$1"; }

# cl_meta_hook URL APP_SECRET BODY [SIGNATURE] -- POSTs a Meta webhook to
# URL; prints the HTTP status, the answer in $T_DIR/hook.body. SIGNATURE
# replaces the right one; "none" sends no signature header.
cl_meta_hook() {
    local sig=${4:-$(cl_meta_sign "$2" "$3")}
    local h=(-H "X-Hub-Signature-256: $sig")
    [ "$sig" = none ] && h=()
    curl -s -m 10 -o "$T_DIR/hook.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "${h[@]}" --data-binary "$3" "$1" || true
}

# cl_meta_handshake URL VERIFY_TOKEN CHALLENGE -- Meta's GET handshake;
# prints the status, the answer in $T_DIR/hs.body.
cl_meta_handshake() {
    curl -s -m 5 -o "$T_DIR/hs.body" -w '%{http_code}' \
        "$1?hub.mode=subscribe&hub.challenge=$3&hub.verify_token=$2" || true
}

# --- the fake CRM (Standard Webhooks endpoint) ------------------------------------------
# cl_crm_received CRM_URL QUERY -- its /received?QUERY into $T_DIR/rcv.
cl_crm_received() { curl -s -m 5 "$1/received?$2" >"$T_DIR/rcv" || t_fail "fake_crm $1 /received"; }
# cl_crm_control CRM_URL QUERY -- sets its mode (mode=500&count=1, ...).
cl_crm_control() {
    curl -s -m 5 "$1/control?$2" | grep -q '"mode"' || t_fail "fake_crm $1 control $2"
}
# cl_crm_stat CRM_URL COUNTER -- one counter of its /stats (requests, ok, ...).
cl_crm_stat() { cl_num "$(curl -s -m 5 "$1/stats")" "$2"; }
# cl_crm_statuses -- the statuses of the requests in $T_DIR/rcv, in order,
# space-separated ("500 200").
cl_crm_statuses() { grep -o '"status":[0-9]*' "$T_DIR/rcv" | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//'; }

# cl_wait_crm CRM_URL ID STATUS [SECONDS] -- until the CRM answered STATUS
# to a request whose webhook-id is ID; leaves those requests in $T_DIR/rcv.
cl_wait_crm() {
    local url=$1 id=$2 want=$3 end=$((SECONDS + ${4:-15}))
    while :; do
        cl_crm_received "$url" "id=$id"
        grep -q "\"status\":$want" "$T_DIR/rcv" && return 0
        [ "$SECONDS" -ge "$end" ] && break
        sleep 0.1
    done
    t_fail "$url never answered $want to webhook-id $id within ${4:-15} s: $(cat "$T_DIR/rcv")"
}
