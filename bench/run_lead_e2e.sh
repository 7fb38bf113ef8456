#!/usr/bin/env bash
# run_lead_e2e.sh -- the lead pipeline end to end (issue 8, scenario 2; see
# docs/benchmarks.md). The load of the ingress benchmark (wrk, distinct
# signed Meta leadgen webhooks at the app-level URL /hooks/meta) drives
# c360d's whole lead pipeline: ingress -> worker -> meta plugin fetches the
# lead (and once its form) from the lean Graph API (c360-bench-lead-graph)
# -> record -> route -> crm_generic delivers it, signed, to the lean CRM
# (c360-bench-lead-crm), which notes when each lead arrived.
#
# Each rep, in this order, every server freshly started, one redis-server:
#   bare    c360-bench-bare under the same wrk load: the machine's ceiling
#   graph   the lean Graph API alone (wrk, a lead fetch): its capacity
#   crm     the lean CRM alone (wrk, a signed batch of --batch records)
#   e2e     c360d (Redis flushed, set up through c360ctl: one tenant, one
#           Meta app, --pages pages, crm_generic with a route), warmed up
#           (one lead per page delivered), then wrk for --duration; then
#           the drain: until every stored lead is delivered (or nothing
#           moved for --stall s, or --drain s passed)
# Per e2e run: accepted (2xx), stored (lead webhooks in the tenant's event
# stream), delivered (distinct leads at the CRM), duplicates, lost (stored
# but never delivered: must be 0, the script exits 1 otherwise), e2e
# throughput = delivered / (last first-delivery - first request),
# event-to-delivery latency p50/p99 (CRM arrival - the event's stream
# entry time, both this machine's clock), peak RSS (VmHWM) of every c360d
# process, and CPU time per delivered lead (us, from the load's start to
# the drain's end) of the master, of the other c360d processes and of
# Redis: a figure the machine's noise moves less than the rates. Prints a
# JSON line per rep and a summary of medians; --out FILE
# writes them there too.
#
#   bench/run_lead_e2e.sh [--build DIR] [--duration S] [--connections C]
#       [--threads T] [--reps N] [--count N] [--pages P] [--workers N]
#       [--worker-threads N] [--batch B] [--crm-rate R] [--budget-scale K]
#       [--drain S] [--stall S] [--out FILE]
#   bench/run_lead_e2e.sh --smoke --build DIR  (ctest bench_lead_smoke: 2 s,
#       4 connections; checks that nothing is lost; exit 77 without wrk)
#
# Defaults: 10 s, 64 connections, 2 threads, 3 reps, 8 pages, workers 2 x
# 2 threads, crm_generic batches of 20 at up to 1000 requests/s,
# C360_META_BUDGET_SCALE 100 (the meta plugin's own Graph budget, 100
# calls/s per app and 20/s per page, would otherwise be all this measures).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BUILD=$root/build-bench
DURATION=10
CONNS=64
THREADS=2
REPS=3
COUNT=0
PAGES=8
WORKERS=2
WORKER_THREADS=2
BATCH=20
CRM_RATE=1000
SCALE=100
DRAIN=600
STALL=30
PROBE=3
OUT=
SMOKE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$(cd "$2" && pwd); shift ;;
        --duration) DURATION=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --threads) THREADS=$2; shift ;;
        --reps) REPS=$2; shift ;;
        --count) COUNT=$2; shift ;;
        --pages) PAGES=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --worker-threads) WORKER_THREADS=$2; shift ;;
        --batch) BATCH=$2; shift ;;
        --crm-rate) CRM_RATE=$2; shift ;;
        --budget-scale) SCALE=$2; shift ;;
        --drain) DRAIN=$2; shift ;;
        --stall) STALL=$2; shift ;;
        --out) OUT=$2; shift ;;
        --smoke) SMOKE=1 ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        *) echo "run_lead_e2e.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMOKE" = 1 ]; then
    DURATION=2; CONNS=4; THREADS=1; REPS=1; PAGES=2; COUNT=20000
    WORKERS=1; WORKER_THREADS=2; PROBE=1; DRAIN=40; STALL=15
fi
command -v wrk >/dev/null || { echo "run_lead_e2e.sh: wrk is not installed (apt-get install wrk)"; exit 77; }

export C360D=$BUILD/host/c360d C360_BUILD_DIR=$BUILD
: "${C360CTL:=$BUILD/tools/ctl/c360ctl}"
export C360CTL
source "$root/tests/integration/lib.sh"
source "$root/tests/integration/connectors_lib.sh"
source "$root/bench/bench_lib.sh"
source "$root/bench/lead_lib.sh"

BARE=$BUILD/bench/c360-bench-bare
GEN=$BUILD/bench/c360-bench-gen
GRAPH=$BUILD/bench/c360-bench-lead-graph
CRM=$BUILD/bench/c360-bench-lead-crm
LUA=$root/bench/signed.lua
PROBE_LUA=$root/bench/lead_probe.lua
LB_BUILD=$BUILD
LB_SECRET=bench-app-secret-0123456789
LB_PAGES=$PAGES
LEAD_BASE=700000000000000
for f in "$BARE" "$GEN" "$GRAPH" "$CRM" "$C360D" "$C360CTL" "$BUILD/plugins/meta.so" \
         "$BUILD/plugins/crm_generic.so"; do
    [ -e "$f" ] || t_fail "missing $f: build the target c360-bench and the default target"
done
export C360_META_BUDGET_SCALE=$SCALE

RPORT=$(t_free_port)
t_start_redis "$RPORT"
C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_MASTER_KEY
WHSEC="whsec_$(head -c 24 /dev/urandom | base64)"

# The same bodies for every rep (each e2e run starts from a flushed Redis).
if [ "$COUNT" = 0 ]; then COUNT=$((DURATION * 60000)); fi
"$GEN" --meta --app "$LB_SECRET:$(lb_pages)" --count "$COUNT" --files "$THREADS" \
    --lead-base "$LEAD_BASE" --out "$T_DIR/req" >/dev/null || t_fail "c360-bench-gen --meta"

# start_server NAME CMD... -- a bench server on port 0; sets SRV_PID, SRV_PORT.
start_server() {
    local name=$1; shift
    "$@" --port 0 >"$T_DIR/$name.out" 2>"$T_DIR/$name.log" &
    SRV_PID=$!
    T_PIDS+=("$SRV_PID")
    # Up to 20 s: on a loaded machine a server's start can take seconds;
    # one that exited is said at once.
    for _ in $(seq 400); do
        grep -q '^port ' "$T_DIR/$name.out" 2>/dev/null && break
        kill -0 "$SRV_PID" 2>/dev/null || t_fail "$name exited at start: $(tail -n 5 "$T_DIR/$name.log")"
        sleep 0.05
    done
    SRV_PORT=$(awk '/^port /{print $2}' "$T_DIR/$name.out")
    [ -n "$SRV_PORT" ] || t_fail "$name did not start"
}

# run_wrk URL SECONDS -- the signed Meta load; the WRKJSON line in $W.
run_wrk() {
    wrk -t"$THREADS" -c"$CONNS" -d"$2s" --latency -s "$LUA" "$1" -- "$T_DIR/req" X-Hub-Signature-256 \
        >"$T_DIR/wrk.out" 2>&1 || t_fail "wrk against $1: $(tail -n 5 "$T_DIR/wrk.out")"
    W=$(sed -n 's/^WRKJSON //p' "$T_DIR/wrk.out")
    [ -n "$W" ] || t_fail "no WRKJSON from wrk: $(tail -n 5 "$T_DIR/wrk.out")"
}
rate() { awk -v n="$1" -v d="$2" 'BEGIN{printf "%.0f", n / (d / 1e6)}'; }

# probe NAME URL METHOD [BODY] -- wrk with one request again and again
# (headers from $T_DIR/probe.h); prints requests per second.
probe() {
    wrk -t"$THREADS" -c"$CONNS" -d"${PROBE}s" -s "$PROBE_LUA" "$2" -- "$3" "$T_DIR/probe.h" ${4:+"$4"} \
        >"$T_DIR/probe.out" 2>&1 || t_fail "probe $1: $(tail -n 5 "$T_DIR/probe.out")"
    local w; w=$(sed -n 's/^WRKJSON //p' "$T_DIR/probe.out")
    [ "$(b_jnum "$w" non2xx)" = 0 ] || t_fail "probe $1: $(b_jnum "$w" non2xx) answers not 2xx"
    rate "$(b_jnum "$w" requests)" "$(b_jnum "$w" duration_us)"
}

# A delivery as crm_generic makes it: BATCH records (each about the size
# of a real lead record) in an array, signed with Standard Webhooks.
crm_probe_body() {
    local i s=
    for i in $(seq "$BATCH"); do
        s+="${s:+,}"
        s+='{"schema":"c360.lead.v1","id":"meta:lead:1'"$i"'","type":"lead","provider":"facebook","source":{"plugin":"meta","connection":"meta"},"via":"webhook","created_at":"2026-11-29T09:15:00Z","created_at_ms":1795943700000,"received_at_ms":1795943702113,"contact":{"email":"lead1@example.com","full_name":"Lead 1"},"answers":[{"key":"budget","label":"What is your budget?","values":["10k-50k"]}],"consents":[{"key":"optin","text":"Send me offers","accepted":true}],"form":{"id":"555","name":"Bench form"},"ad":{"id":"31","name":"Ad 31"},"ad_set":{"id":"21","name":"Set 21"},"campaign":{"id":"41","name":"Spring"},"page":{"id":"100001"},"provider_ids":{"lead_id":"1","form_id":"555","ad_id":"31","adset_id":"21","campaign_id":"41","page_id":"100001"}}'
    done
    printf '[%s]' "$s" >"$T_DIR/crm.body"
    local ts key sig
    ts=$(date +%s)
    key=$(printf '%s' "${WHSEC#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
    sig=$( { printf 'batch_probe.%s.' "$ts"; cat "$T_DIR/crm.body"; } |
          openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)
    printf 'Content-Type: application/json\nwebhook-id: batch_probe\nwebhook-timestamp: %s\nwebhook-signature: v1,%s\n' \
        "$ts" "$sig" >"$T_DIR/probe.h"
}

crm_stats() { curl -s -m 5 "http://127.0.0.1:$CRM_PORT/stats"; }

# stream_leads -- "lead_id entry_ms" for every lead webhook of the run in
# the tenant's event stream (the entry id is Redis's time when the ingress
# stored the event).
stream_leads() {
    local key='c360:{t:bench}:ev' from=- n
    : >"$T_DIR/stream"
    while :; do
        redis-cli -p "$RPORT" --raw XRANGE "$key" "$from" + COUNT 20000 >"$T_DIR/chunk"
        awk -v base="$LEAD_BASE" '
            /^[0-9]+-[0-9]+$/ { split($0, a, "-"); cur = a[1]; last = $0; next }
            match($0, /"leadgen_id":"[0-9]+"/) {
                id = substr($0, RSTART + 14, RLENGTH - 15)
                if (id + 0 >= base) print id, cur
            }
            END { print "LAST", last }' "$T_DIR/chunk" >"$T_DIR/chunk.ids"
        grep -v '^LAST' "$T_DIR/chunk.ids" >>"$T_DIR/stream" || true
        n=$(grep -c '^[0-9]*-[0-9]*$' "$T_DIR/chunk" || true)
        [ "${n:-0}" -lt 20000 ] && break
        from="($(awk '/^LAST/{print $2}' "$T_DIR/chunk.ids")"
    done
}

run_rep() {
    local rep=$1
    # --- bare: the ceiling of this machine under this load
    start_server bare "$BARE"
    run_wrk "http://127.0.0.1:$SRV_PORT/hooks/meta" "$DURATION"
    t_stop_pid "$SRV_PID"
    local bare_rps; bare_rps=$(rate "$(b_jnum "$W" requests)" "$(b_jnum "$W" duration_us)")

    # --- the fakes' own capacity
    start_server graph "$GRAPH" --apps "$LB_APP_ID"
    printf 'Authorization: Bearer PT-100001\n' >"$T_DIR/probe.h"
    local graph_rps crm_rps
    graph_rps=$(probe graph "http://127.0.0.1:$SRV_PORT/v25.0/700000000000001?fields=created_time,id,ad_id,form_id,field_data&appsecret_proof=00" GET)
    t_stop_pid "$SRV_PID"
    start_server crm "$CRM" --secret "$WHSEC"
    crm_probe_body
    crm_rps=$(probe crm "http://127.0.0.1:$SRV_PORT/leads" POST "$T_DIR/crm.body")
    t_stop_pid "$SRV_PID"

    # --- the pipeline
    redis-cli -p "$RPORT" FLUSHALL >/dev/null
    start_server graph "$GRAPH" --apps "$LB_APP_ID"
    local gpid=$SRV_PID gport=$SRV_PORT
    start_server crm "$CRM" --secret "$WHSEC"
    local cpid=$SRV_PID
    CRM_PORT=$SRV_PORT
    lb_start_c360d "http://127.0.0.1:$gport" "$WORKERS" "$WORKER_THREADS"
    lb_setup "http://127.0.0.1:$CRM_PORT" "$WHSEC" "$BATCH" "$CRM_RATE"
    lb_warm_up
    local end=$((SECONDS + 60)) d
    while :; do
        d=$(b_jnum "$(crm_stats)" distinct)
        [ "${d:-0}" -ge "$LB_WARM" ] && break
        [ "$SECONDS" -ge "$end" ] && t_fail "the warm-up leads were not delivered: $(crm_stats)"
        sleep 0.1
    done
    # CPU time from here to the end of the drain: per delivered lead, of
    # the master, of the other c360d processes (zygote, workers) and of
    # Redis (a process that was replaced meanwhile counts from its start).
    b_cpu $(b_tree_pids "$LB_PID") "$REDIS_PID" "$gpid" "$cpid" >"$T_DIR/cpu0"
    # Opt-in, C360_BENCH_CMDSTATS=FILE: Redis's calls and usec per command
    # over the same window (those run by scripts included), appended to
    # FILE after a "# rep N delivered D" line: Redis's work per lead.
    [ -z "${C360_BENCH_CMDSTATS:-}" ] || redis-cli -p "$RPORT" CONFIG RESETSTAT >/dev/null
    # Opt-in, C360_BENCH_SLOWLOG=FILE: every command and script Redis ran
    # during the load (SLOWLOG at threshold 0, up to 500 000 kept; the
    # logging slows Redis: not for the figures), appended to FILE as
    # "usec command" lines (bench/slowlog.awk) after a "# rep N" line:
    # which script costs Redis what.
    if [ -n "${C360_BENCH_SLOWLOG:-}" ]; then
        redis-cli -p "$RPORT" CONFIG SET slowlog-max-len 500000 >/dev/null
        redis-cli -p "$RPORT" SLOWLOG RESET >/dev/null
        redis-cli -p "$RPORT" CONFIG SET slowlog-log-slower-than 0 >/dev/null
    fi
    local t0 t1 len0 len1
    len0=$(redis-cli -p "$RPORT" XLEN 'c360:{t:bench}:ev')
    t0=$(b_now_ms)
    run_wrk "$LB_URL/hooks/meta" "$DURATION"
    t1=$(b_now_ms)
    if [ -n "${C360_BENCH_SLOWLOG:-}" ]; then
        redis-cli -p "$RPORT" CONFIG SET slowlog-log-slower-than 10000 >/dev/null
        echo "# rep $rep" >>"$C360_BENCH_SLOWLOG"
        redis-cli --no-raw -p "$RPORT" SLOWLOG GET 500000 |
            awk -f "$root/bench/slowlog.awk" >>"$C360_BENCH_SLOWLOG"
    fi
    sleep 0.5 # replies in flight when wrk stopped may still be stored
    # The drain waits for as many leads as the run added entries to the
    # stream (each body is a distinct lead; a run that wrapped round its
    # bodies is invalid anyway). Reading the stream itself for the exact
    # leads is left until after the drain: its XRANGEs, awk and sort took
    # some 8 % of the machine while the pipeline was being measured. A
    # scheduled tick of the connection is an entry too: once every
    # accepted lead is in, two quiet seconds end the drain as well.
    len1=$(redis-cli -p "$RPORT" XLEN 'c360:{t:bench}:ev')
    local want=$((len1 - len0))
    local acc=$(( $(b_jnum "$W" requests) - $(b_jnum "$W" non2xx) ))
    # The drain: until the CRM has every stored lead, or nothing moves.
    local last=-1 moved=$SECONDS dend=$((SECONDS + DRAIN)) got
    while :; do
        got=$(( $(b_jnum "$(crm_stats)" distinct) - LB_WARM ))
        [ "$got" -ge "$want" ] && break
        [ "$got" -ge "$acc" ] && [ "$got" = "$last" ] && [ $((SECONDS - moved)) -ge 2 ] && break
        if [ "$got" != "$last" ]; then last=$got; moved=$SECONDS; fi
        [ $((SECONDS - moved)) -ge "$STALL" ] && break
        [ "$SECONDS" -ge "$dend" ] && break
        sleep 0.2
    done
    # Peak RSS of every c360d process (master, zygote, workers), before
    # they stop.
    local pids p rss_list='' rss_master rss_sum=0 h
    pids=$(b_tree_pids "$LB_PID")
    for p in $pids; do
        h=$(b_hwm "$p")
        rss_list+="${rss_list:+,}{\"pid\":$p,\"comm\":\"$(cat "/proc/$p/comm" 2>/dev/null || echo gone)\",\"vmhwm_kb\":$h}"
        rss_sum=$((rss_sum + h))
    done
    rss_master=$(b_hwm "$LB_PID")
    b_cpu $pids "$REDIS_PID" "$gpid" "$cpid" >"$T_DIR/cpu1"
    [ -z "${C360_BENCH_CMDSTATS:-}" ] || redis-cli -p "$RPORT" INFO commandstats >"$T_DIR/cmdstats"
    stream_leads
    local stored; stored=$(sort -u -k1,1 "$T_DIR/stream" | wc -l)
    curl -s -m 30 "http://127.0.0.1:$CRM_PORT/dump" >"$T_DIR/dump" || t_fail "lead_crm /dump"
    local cs; cs=$(crm_stats)
    t_stop_pid "$LB_PID"
    t_stop_pid "$cpid"
    t_stop_pid "$gpid"

    # --- figures
    awk -v base="$LEAD_BASE" '$1 >= base' "$T_DIR/dump" >"$T_DIR/dump.run"
    local delivered dups first_del last_del lost p50 p99 missing
    delivered=$(wc -l <"$T_DIR/dump.run")
    dups=$(awk '{d += $3 - 1} END{print d + 0}' "$T_DIR/dump.run")
    last_del=$(awk 'BEGIN{m=0} $2 > m {m = $2} END{print m}' "$T_DIR/dump.run")
    # Stored leads never delivered (the ones that count), and, for the
    # record, delivered leads that were not in the stream (must be none).
    sort -u -k1,1 "$T_DIR/stream" >"$T_DIR/stream.s"
    sort -k1,1 "$T_DIR/dump.run" >"$T_DIR/dump.s"
    lost=$(join -v1 "$T_DIR/stream.s" "$T_DIR/dump.s" | wc -l)
    missing=$(join -v2 "$T_DIR/stream.s" "$T_DIR/dump.s" | wc -l)
    join "$T_DIR/stream.s" "$T_DIR/dump.s" | awk '{print $3 - $2}' | sort -n >"$T_DIR/lat"
    # Opt-in, C360_BENCH_TIMELINE=FILE: leads stored and delivered per
    # 100 ms from the first request, appended to FILE after a "# rep N"
    # line: where the run's time went (a slow tail, a stall).
    if [ -n "${C360_BENCH_TIMELINE:-}" ]; then
        { echo "# rep $rep  t_ms stored delivered"
          join "$T_DIR/stream.s" "$T_DIR/dump.s" | awk -v t0="$t0" '
            { s = int(($2 - t0) / 100); d = int(($3 - t0) / 100); st[s]++; dl[d]++
              if (s > m) m = s; if (d > m) m = d }
            END { for (i = 0; i <= m; i++) printf "%6d %6d %6d\n", i * 100, st[i], dl[i] }'
        } >>"$C360_BENCH_TIMELINE"
    fi
    p50=$(awk '{v[NR]=$1} END{if (NR) print v[int((NR - 1) * 0.50) + 1]; else print 0}' "$T_DIR/lat")
    p99=$(awk '{v[NR]=$1} END{if (NR) print v[int((NR - 1) * 0.99) + 1]; else print 0}' "$T_DIR/lat")
    local n non2xx accepted rps e2e span
    n=$(b_jnum "$W" requests); non2xx=$(b_jnum "$W" non2xx)
    accepted=$((n - non2xx))
    rps=$(rate "$n" "$(b_jnum "$W" duration_us)")
    span=$((last_del - t0))
    e2e=$(awk -v d="$delivered" -v s="$span" 'BEGIN{ if (s > 0) printf "%.0f", d / (s / 1000); else print 0}')
    # us of CPU per delivered lead: master, the other c360d processes,
    # Redis, and the two fakes together (they share the machine: what they
    # use is not c360d's, but it is not the pipeline's either).
    local cpu_m cpu_w cpu_r cpu_f
    read -r cpu_m cpu_w cpu_r cpu_f < <(awk -v m="$LB_PID" -v r="$REDIS_PID" -v g="$gpid" \
        -v c="$cpid" -v d="$delivered" -v hz="$(getconf CLK_TCK)" '
        FNR == NR { t0[$1] = $2; next }
        { u = ($2 - ($1 in t0 ? t0[$1] : 0)) * 1e6 / hz
          if ($1 == m) cm += u; else if ($1 == r) cr += u
          else if ($1 == g || $1 == c) cf += u; else cw += u }
        END { if (d < 1) d = 1; printf "%.1f %.1f %.1f %.1f\n", cm / d, cw / d, cr / d, cf / d }' \
        "$T_DIR/cpu0" "$T_DIR/cpu1")
    [ -z "${C360_BENCH_CMDSTATS:-}" ] ||
        { echo "# rep $rep delivered $delivered"; cat "$T_DIR/cmdstats"; } >>"$C360_BENCH_CMDSTATS"
    local line
    line=$(printf '{"scenario":"lead_e2e","rep":%d,"bare_rps":%s,"graph_capacity_rps":%s,"crm_capacity_rps":%s,"crm_capacity_records_s":%s,"ingress_rps":%s,"ingress_p50_ms":%s,"ingress_p99_ms":%s,"sent":%s,"accepted":%d,"non2xx":%d,"stored":%d,"delivered":%d,"duplicates":%d,"lost":%d,"delivered_not_stored":%d,"e2e_leads_s":%s,"e2e_over_bare":%s,"first_request_ms":%s,"last_request_ms":%s,"last_delivery_ms":%s,"latency_p50_ms":%s,"latency_p99_ms":%s,"rss_master_kb":%s,"rss_total_kb":%s,"rss":[%s],"cpu_us_per_lead_master":%s,"cpu_us_per_lead_workers":%s,"cpu_us_per_lead_redis":%s,"cpu_us_per_lead_fakes":%s,"crm":%s,"wraps":%s,"connections":%d,"threads":%d,"duration_s":%d,"pages":%d,"workers":%d,"worker_threads":%d,"batch":%d,"crm_rate":%d,"budget_scale":%d}' \
        "$rep" "$bare_rps" "$graph_rps" "$crm_rps" "$((crm_rps * BATCH))" "$rps" "$(b_ms "$(b_jnum "$W" p50_us)")" \
        "$(b_ms "$(b_jnum "$W" p99_us)")" "$(b_jnum "$W" sent)" "$accepted" "$non2xx" "$stored" "$delivered" "$dups" \
        "$lost" "$missing" "$e2e" "$(awk -v a="$e2e" -v b="$bare_rps" 'BEGIN{printf "%.3f", (b > 0) ? a / b : 0}')" \
        "$t0" "$t1" "$last_del" "$p50" "$p99" "$rss_master" "$rss_sum" "$rss_list" "$cpu_m" "$cpu_w" "$cpu_r" "$cpu_f" "$cs" "$(b_jnum "$W" wraps)" \
        "$CONNS" "$THREADS" "$DURATION" "$PAGES" "$WORKERS" "$WORKER_THREADS" "$BATCH" "$CRM_RATE" "$SCALE")
    echo "$line" | tee -a "$T_DIR/runs"
}

for rep in $(seq "$REPS"); do run_rep "$rep"; done
[ -n "$OUT" ] && cp "$T_DIR/runs" "$OUT"

# --- summary --------------------------------------------------------------
col() { grep -o "\"$1\":[0-9.]*" "$T_DIR/runs" | cut -d: -f2; }
sum() { col "$1" | awk '{s+=$1} END{print s+0}'; }
echo
printf '%-34s %12s\n' "lead pipeline (median of $REPS)" value
for k in bare_rps graph_capacity_rps crm_capacity_records_s ingress_rps ingress_p99_ms e2e_leads_s \
         e2e_over_bare latency_p50_ms latency_p99_ms rss_master_kb rss_total_kb \
         cpu_us_per_lead_master cpu_us_per_lead_workers cpu_us_per_lead_redis cpu_us_per_lead_fakes; do
    printf '%-34s %12s\n' "$k" "$(col "$k" | b_median)"
done
printf '%-34s %12s\n' "accepted (all reps)" "$(sum accepted)"
printf '%-34s %12s\n' "stored (all reps)" "$(sum stored)"
printf '%-34s %12s\n' "delivered (all reps)" "$(sum delivered)"
printf '%-34s %12s\n' "duplicates (all reps)" "$(sum duplicates)"
printf '%-34s %12s\n' "lost (all reps, must be 0)" "$(sum lost)"
summary=$(printf '{"summary":true,"scenario":"lead_e2e","reps":%d,"bare_rps":%s,"e2e_leads_s":%s,"e2e_over_bare":%s,"latency_p50_ms":%s,"latency_p99_ms":%s,"graph_capacity_rps":%s,"crm_capacity_records_s":%s,"rss_total_kb":%s,"cpu_us_per_lead_master":%s,"cpu_us_per_lead_workers":%s,"cpu_us_per_lead_redis":%s,"cpu_us_per_lead_fakes":%s,"lost":%s,"aim_e2e_over_bare":0.2}' \
    "$REPS" "$(col bare_rps | b_median)" "$(col e2e_leads_s | b_median)" "$(col e2e_over_bare | b_median)" \
    "$(col latency_p50_ms | b_median)" "$(col latency_p99_ms | b_median)" "$(col graph_capacity_rps | b_median)" \
    "$(col crm_capacity_records_s | b_median)" "$(col rss_total_kb | b_median)" \
    "$(col cpu_us_per_lead_master | b_median)" "$(col cpu_us_per_lead_workers | b_median)" \
    "$(col cpu_us_per_lead_redis | b_median)" "$(col cpu_us_per_lead_fakes | b_median)" "$(sum lost)")
echo "$summary"
[ -n "$OUT" ] && echo "$summary" >>"$OUT"

status=0
while read -r line; do
    r=$(b_jnum "$line" rep)
    [ "$(b_jnum "$line" lost)" = 0 ] || { echo "LOST: rep $r: $(b_jnum "$line" lost) stored leads never delivered" >&2; status=1; }
    [ "$(b_jnum "$line" stored)" -ge "$(b_jnum "$line" accepted)" ] ||
        { echo "LOST: rep $r: accepted $(b_jnum "$line" accepted) > stored $(b_jnum "$line" stored)" >&2; status=1; }
    [ "$(b_jnum "$line" delivered_not_stored)" = 0 ] ||
        { echo "ODD: rep $r: $(b_jnum "$line" delivered_not_stored) leads delivered that no stored webhook named" >&2; status=1; }
    [ "$(b_jnum "$line" wraps)" = 0 ] || { echo "INVALID: rep $r ran out of bodies: rerun with a larger --count" >&2; status=1; }
    grep -q '"sig_bad":0[,}]' <<<"$line" || { echo "ODD: rep $r: the CRM refused signatures" >&2; status=1; }
    if [ "$SMOKE" = 1 ] && { [ "$(b_jnum "$line" accepted)" -lt 1 ] || [ "$(b_jnum "$line" non2xx)" != 0 ]; }; then
        echo "SMOKE: $(b_jnum "$line" accepted) accepted, $(b_jnum "$line" non2xx) not 2xx" >&2; status=1
    fi
done < <(grep -v '"summary"' "$T_DIR/runs")
exit "$status"
