#!/usr/bin/env bash
# run_ingress.sh -- the ingress benchmark of issues 4 and 8 (scenario 1; see
# docs/benchmarks.md and bench/README.md).
#
# wrk (distinct signed bodies, bench/signed.lua) against, in turn:
#   bare          c360-bench-bare: evhttp answering 200 (the ceiling)
#   min_ingress_meta  c360-bench-min-ingress checking Meta's signature
#                 (X-Hub-Signature-256) over the same Meta leadgen bodies
#                 c360d gets: HMAC + async XADD, 200 after ack
#   c360d_meta    c360d, Meta's app-level URL /hooks/meta, one active meta
#                 connection of tenant "bench" (set up through c360ctl,
#                 bench/lead_lib.sh) whose --pages pages are proven
#                 against the lean Graph API (c360-bench-lead-graph);
#                 distinct signed leadgen webhooks; the workers fetch the
#                 leads meanwhile (no route: the records go nowhere)
#   c360d_meta_ingress  the same with the workers frozen (as c360d_ingress)
#   min_ingress   c360-bench-min-ingress: HMAC + async XADD, 200 after ack
#   c360d         c360d, webhook endpoint /hooks/tsrc/<conn> of an active
#                 tsrc connection: ingress plus the workers processing the
#                 events at the same time, on the same cores
#   c360d_ingress the same with c360d's worker processes frozen (SIGSTOP)
#                 for the run: the master's ingress alone, like for like
#                 with min_ingress. Its runs last at most 8 s, below the
#                 supervisor's 10 s heartbeat timeout (frozen workers
#                 would be replaced after it); rates and percentiles are
#                 comparable, counts are not
# each run REPS times in rotation (so a slow phase of the machine hits all
# of them), every server freshly started, all against one redis-server.
# Prints a JSON line per run and a summary (medians, ratios, accepted vs
# stored) at the end; with --out FILE also writes the JSON lines there.
#
#   bench/run_ingress.sh [--build DIR] [--duration S] [--connections C]
#       [--threads T] [--reps N] [--count N] [--targets "bare min_ingress ..."]
#       [--workers N] [--worker-threads N] [--pages P] [--out FILE]
#   bench/run_ingress.sh --smoke --build DIR     (ctest bench_smoke: 1 s each,
#       a few connections, checks that every server answers and that what
#       was accepted was stored; exit 77 when wrk is missing)
#
# Build for the real figures (Release, no sanitizers):
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DC360_BENCH=ON
#   cmake --build build-bench -j2
#   bench/run_ingress.sh --build build-bench
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BUILD=$root/build-bench
DURATION=10
CONNS=64
THREADS=2
REPS=3
COUNT=0          # 0: sized from the duration
TARGETS="bare min_ingress_meta c360d_meta c360d_meta_ingress min_ingress c360d c360d_ingress"
PAGES=8
WORKERS=2
WORKER_THREADS=2
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
        --targets) TARGETS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --worker-threads) WORKER_THREADS=$2; shift ;;
        --pages) PAGES=$2; shift ;;
        --out) OUT=$2; shift ;;
        --smoke) SMOKE=1 ;;
        -h|--help) sed -n '2,42p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run_ingress.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMOKE" = 1 ]; then
    DURATION=1; CONNS=4; THREADS=1; REPS=1; COUNT=60000
    TARGETS="bare min_ingress_meta c360d_meta c360d_meta_ingress min_ingress c360d c360d_ingress"
    WORKERS=1; WORKER_THREADS=1; PAGES=2
fi
command -v wrk >/dev/null || { echo "run_ingress.sh: wrk is not installed (apt-get install wrk)"; exit 77; }

# The integration tests' helpers: a temporary directory, a private
# redis-server, free ports, and a trap that stops every process started.
export C360D=$BUILD/host/c360d C360_BUILD_DIR=$BUILD
: "${C360CTL:=$BUILD/tools/ctl/c360ctl}"
export C360CTL
source "$root/tests/integration/lib.sh"
source "$root/tests/integration/connectors_lib.sh"
source "$root/bench/bench_lib.sh"
source "$root/bench/lead_lib.sh"

BARE=$BUILD/bench/c360-bench-bare
MIN=$BUILD/bench/c360-bench-min-ingress
GEN=$BUILD/bench/c360-bench-gen
SEED=$BUILD/tests/tools/c360-seed
PLUGINS=${C360_PIPELINE_PLUGIN_DIR:-$BUILD/tests/pipeline-plugins}
LUA=$root/bench/signed.lua
SECRET=bench-signing-secret-0123456789
TENANT=bench
for f in "$BARE" "$MIN" "$GEN"; do
    [ -x "$f" ] || t_fail "missing $f: build the target c360-bench (or configure with -DC360_BENCH=ON)"
done
case " $TARGETS " in *" c360d "*|*" c360d_ingress "*)
    for f in "$C360D" "$SEED" "$PLUGINS/tsrc.so"; do [ -e "$f" ] || t_fail "missing $f"; done ;;
esac
GRAPH=$BUILD/bench/c360-bench-lead-graph
LB_BUILD=$BUILD
LB_SECRET=bench-app-secret-0123456789
LB_PAGES=$PAGES
case " $TARGETS " in *" c360d_meta"*)
    for f in "$C360D" "$C360CTL" "$GRAPH" "$BUILD/plugins/meta.so"; do [ -e "$f" ] || t_fail "missing $f"; done ;;
esac

RPORT=$(t_free_port)
t_start_redis "$RPORT"
REDIS_URL=redis://127.0.0.1:$RPORT
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Distinct bodies: enough for the fastest server for the whole run (wrk
# starts a file over when it runs out, and reports it as a wrap). Each
# c360d run posts to a connection of its own, so the same files serve every
# run without a body ever being a duplicate for c360d's dedup.
if [ "$COUNT" = 0 ]; then COUNT=$((DURATION * 80000)); fi
"$GEN" --secret "$SECRET" --count "$COUNT" --files "$THREADS" --out "$T_DIR/req" >/dev/null ||
    t_fail "c360-bench-gen"
"$GEN" --secret "$SECRET" --count 1 --files 1 --prefix warm- --out "$T_DIR/warm" >/dev/null
WARM_SIG=$(cut -d' ' -f1 "$T_DIR/warm.0")
WARM_BODY=$(cut -d' ' -f2- "$T_DIR/warm.0")
# The Meta bodies: leads 700000000000000.. on the pages in turn, signed
# with the app secret. Every c360d_meta run starts from a flushed Redis, so
# the same files serve every run.
case " $TARGETS " in *_meta*)
    "$GEN" --meta --app "$LB_SECRET:$(lb_pages)" --count "$COUNT" --files "$THREADS" --out "$T_DIR/mreq" \
        >/dev/null || t_fail "c360-bench-gen --meta"
    "$GEN" --meta --app "$LB_SECRET:$(lb_pages)" --count 1 --files 1 --lead-base 680000000000000 \
        --out "$T_DIR/mwarm" >/dev/null
    MWARM_SIG=$(cut -d' ' -f1 "$T_DIR/mwarm.0")
    MWARM_BODY=$(cut -d' ' -f2- "$T_DIR/mwarm.0") ;;
esac
export C360_META_BUDGET_SCALE=${C360_META_BUDGET_SCALE:-100}

# start_server NAME CMD... -- runs a bench server with port 0; sets SRV_PID
# and SRV_PORT from its "port N" line.
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

# A POST of the warm-up body until it is answered 200: the server (and for
# c360d the connection's instance) is ready.
warm_up() {
    local url=$1 code= h="X-Tsrc-Signature: $WARM_SIG" b=$WARM_BODY
    if [ -n "${2:-}" ]; then h="X-Hub-Signature-256: $MWARM_SIG"; b=$MWARM_BODY; fi
    for _ in $(seq 100); do
        code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' -X POST -H "$h" \
                    --data-binary "$b" "$url" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    t_fail "$url never answered 200 (last: $code)"
}

xlen() { redis-cli -p "$RPORT" XLEN "$1"; }

start_c360d() {
    local conn=$1 port
    "$SEED" --redis "$REDIS_URL" conn "$TENANT" "$conn" tsrc "{\"secret\":\"$SECRET\"}" \
        --ticks 0 >/dev/null || t_fail "c360-seed conn $conn"
    port=$(t_free_port)
    cat >"$T_DIR/c360d.json" <<JSON
{"listen":"127.0.0.1:$port","redis":{"url":"$REDIS_URL"},"plugin_dirs":["$PLUGINS"],
 "data_dir":"$T_DIR/data","log_level":"warn","shutdown_timeout_ms":2000,
 "pipeline":{"workers":$WORKERS,"worker_threads":$WORKER_THREADS}}
JSON
    t_start_c360d "c360d-$conn" --config "$T_DIR/c360d.json"
    SRV_PID=$C360D_PID
    SRV_PORT=$port
    t_wait_http "http://127.0.0.1:$port/readyz" 200 150
}

# run_one TARGET REP -- one measurement; appends a JSON line to $T_DIR/runs.
run_one() {
    local target=$1 rep=$2 url stream= before=0 after=0 conn req=$T_DIR/req hdr= meta= gpid=
    case "$target" in
        bare)
            start_server bare "$BARE"
            url=http://127.0.0.1:$SRV_PORT/hooks/tsrc/bench ;;
        min_ingress)
            stream=bench:min:$rep
            start_server min "$MIN" --secret "$SECRET" --redis "127.0.0.1:$RPORT" --stream "$stream"
            url=http://127.0.0.1:$SRV_PORT/hooks/tsrc/bench ;;
        min_ingress_meta)
            stream=bench:minmeta:$rep; meta=1
            start_server min "$MIN" --secret "$LB_SECRET" --header X-Hub-Signature-256 \
                --redis "127.0.0.1:$RPORT" --stream "$stream"
            url=http://127.0.0.1:$SRV_PORT/hooks/meta ;;
        c360d_meta|c360d_meta_ingress)
            meta=1
            redis-cli -p "$RPORT" FLUSHALL >/dev/null
            start_server graph "$GRAPH" --apps "$LB_APP_ID"
            gpid=$SRV_PID
            lb_start_c360d "http://127.0.0.1:$SRV_PORT" "$WORKERS" "$WORKER_THREADS"
            lb_setup
            lb_warm_up
            SRV_PID=$LB_PID
            stream="c360:{t:bench}:ev"
            url=$LB_URL/hooks/meta ;;
        c360d|c360d_ingress)
            conn=$target-$rep
            start_c360d "$conn"
            stream="c360:{t:$TENANT}:ev"
            url=http://127.0.0.1:$SRV_PORT/hooks/tsrc/$conn ;;
        *) t_fail "unknown target $target" ;;
    esac
    warm_up "$url" $meta
    if [ -n "$meta" ]; then req=$T_DIR/mreq; hdr=X-Hub-Signature-256; fi
    [ -n "$stream" ] && before=$(xlen "$stream")
    local secs=$DURATION frozen=
    if [ "$target" = c360d_ingress ] || [ "$target" = c360d_meta_ingress ]; then
        # The worker processes: the children of c360d's zygote (its child).
        for z in $(ps -o pid= --ppid "$SRV_PID"); do frozen+=" $(ps -o pid= --ppid "$z" | tr '\n' ' ')"; done
        [ -n "${frozen// /}" ] || t_fail "c360d has no worker processes to freeze"
        kill -STOP $frozen
        T_PIDS+=($frozen) # if the run fails now, the cleanup kills them
        [ "$secs" -gt 8 ] && secs=8
    fi
    # CPU of the server (c360d: its master, the process that answers) and
    # of Redis over the load alone, per request answered: where a ratio of
    # rates moves, these say which process's work moved it.
    local scpu0 rcpu0 scpu1 rcpu1
    scpu0=$(b_cpu_sum "$SRV_PID"); rcpu0=$(b_cpu_sum "$REDIS_PID")
    # Opt-in, C360_BENCH_CMDSTATS=FILE: Redis's calls and usec per command
    # over the load, appended to FILE after a "# TARGET rep N requests R"
    # line (as run_lead_e2e.sh): which commands the difference is made of.
    [ -z "${C360_BENCH_CMDSTATS:-}" ] || redis-cli -p "$RPORT" CONFIG RESETSTAT >/dev/null
    wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency -s "$LUA" "$url" -- "$req" $hdr \
        >"$T_DIR/wrk.out" 2>&1 || t_fail "wrk against $target: $(tail -n 5 "$T_DIR/wrk.out")"
    scpu1=$(b_cpu_sum "$SRV_PID"); rcpu1=$(b_cpu_sum "$REDIS_PID")
    [ -z "${C360_BENCH_CMDSTATS:-}" ] || redis-cli -p "$RPORT" INFO commandstats >"$T_DIR/cmdstats"
    [ -n "$frozen" ] && kill -CONT $frozen
    # Replies in flight when wrk stopped may still be stored: let them land.
    sleep 0.5
    [ -n "$stream" ] && after=$(xlen "$stream")
    t_stop_pid "$SRV_PID"
    [ -n "$gpid" ] && t_stop_pid "$gpid"
    local w
    w=$(sed -n 's/^WRKJSON //p' "$T_DIR/wrk.out")
    [ -n "$w" ] || t_fail "no WRKJSON from wrk: $(tail -n 5 "$T_DIR/wrk.out")"
    local n non2xx dur errs p50 p99 max wraps rps accepted stored
    n=$(b_jnum "$w" requests); non2xx=$(b_jnum "$w" non2xx); dur=$(b_jnum "$w" duration_us)
    errs=$(( $(b_jnum "$w" connect_err) + $(b_jnum "$w" read_err) + $(b_jnum "$w" write_err) + $(b_jnum "$w" timeouts) ))
    p50=$(b_jnum "$w" p50_us); p99=$(b_jnum "$w" p99_us); max=$(b_jnum "$w" max_us); wraps=$(b_jnum "$w" wraps)
    rps=$(awk -v n="$n" -v d="$dur" 'BEGIN{printf "%.0f", n / (d / 1e6)}')
    accepted=$((n - non2xx))
    if [ -n "$stream" ]; then stored=$((after - before)); else stored=null; fi
    [ -z "${C360_BENCH_CMDSTATS:-}" ] ||
        { echo "# $target rep $rep requests $n"; cat "$T_DIR/cmdstats"; } >>"$C360_BENCH_CMDSTATS"
    local line cpu_s cpu_r
    cpu_s=$(b_us_per "$scpu0" "$scpu1" "$n")
    cpu_r=$(b_us_per "$rcpu0" "$rcpu1" "$n")
    line=$(printf '{"target":"%s","rep":%d,"rps":%s,"p50_ms":%s,"p99_ms":%s,"max_ms":%s,"requests":%d,"accepted":%d,"non2xx":%d,"socket_errors":%d,"stored":%s,"wraps":%d,"connections":%d,"threads":%d,"duration_s":%d,"cpu_us_server":%s,"cpu_us_redis":%s}' \
        "$target" "$rep" "$rps" "$(b_ms "$p50")" "$(b_ms "$p99")" "$(b_ms "$max")" "$n" "$accepted" "$non2xx" \
        "$errs" "$stored" "$wraps" "$CONNS" "$THREADS" "$secs" "$cpu_s" "$cpu_r")
    echo "$line" | tee -a "$T_DIR/runs"
}


for rep in $(seq "$REPS"); do
    for target in $TARGETS; do run_one "$target" "$rep"; done
done
[ -n "$OUT" ] && cp "$T_DIR/runs" "$OUT"

# --- summary --------------------------------------------------------------
field() { grep "\"target\":\"$1\"" "$T_DIR/runs" | grep -o "\"$2\":[0-9.]*" | cut -d: -f2; }
declare -A RPS P50 P99
echo
printf '%-20s %10s %9s %9s %12s %12s %7s %10s %9s\n' target "req/s" "p50 ms" "p99 ms" accepted stored wraps \
    "server us" "redis us"
for target in $TARGETS; do
    RPS[$target]=$(field "$target" rps | b_median)
    P50[$target]=$(field "$target" p50_ms | b_median)
    P99[$target]=$(field "$target" p99_ms | b_median)
    acc=$(field "$target" accepted | awk '{s+=$1} END{print s+0}')
    if [ "$target" = bare ]; then sto=-; else sto=$(field "$target" stored | awk '{s+=$1} END{print s+0}'); fi
    wr=$(field "$target" wraps | awk '{s+=$1} END{print s+0}')
    printf '%-20s %10s %9s %9s %12s %12s %7s %10s %9s\n' "$target" "${RPS[$target]}" "${P50[$target]}" \
        "${P99[$target]}" "$acc" "$sto" "$wr" "$(field "$target" cpu_us_server | b_median)" \
        "$(field "$target" cpu_us_redis | b_median)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.3f", a / b; else print "nan"}'; }
echo
summary='{"summary":true'
if [ -n "${RPS[min_ingress]:-}" ] && [ -n "${RPS[bare]:-}" ]; then
    r=$(ratio "${RPS[min_ingress]}" "${RPS[bare]}"); echo "min_ingress / bare (req/s):     $r"
    summary+=",\"min_ingress_over_bare\":$r"
fi
for t in c360d_meta c360d_meta_ingress c360d c360d_ingress; do
    m=min_ingress
    [ "${t#c360d_meta}" != "$t" ] && m=min_ingress_meta
    if [ -n "${RPS[$t]:-}" ] && [ -n "${RPS[$m]:-}" ]; then
        r=$(ratio "${RPS[$t]}" "${RPS[$m]}"); echo "$t / $m (req/s): $r   (aim >= 0.9)"
        p=$(ratio "${P99[$t]}" "${P99[$m]}"); echo "$t / $m (p99):   $p   (aim <= 2)"
        summary+=",\"${t}_over_min_rps\":$r,\"${t}_over_min_p99\":$p"
    fi
done
summary+="}"
echo "$summary"
[ -n "$OUT" ] && echo "$summary" >>"$OUT"

# Every accepted request must have been stored (stored may exceed accepted
# by the requests in flight when wrk stopped, at most one per connection).
status=0
while read -r line; do
    t=$(grep -o '"target":"[a-z_0-9]*"' <<<"$line" | cut -d'"' -f4)
    [ "$t" = bare ] && continue
    a=$(b_jnum "$line" accepted); s=$(b_jnum "$line" stored); n=$(b_jnum "$line" requests)
    if [ "$(b_jnum "$line" wraps)" != 0 ] && [ "${t#c360d}" != "$t" ]; then
        # Bodies were sent twice: c360d rightly stored each once.
        echo "INVALID: $t ran out of bodies (wraps): rerun with a larger --count" >&2; status=1
    elif [ "$s" -lt "$a" ]; then echo "LOST: $t accepted $a but stored $s" >&2; status=1; fi
    if [ "$s" -gt $((a + CONNS)) ]; then echo "ODD: $t stored $s > accepted $a + $CONNS in flight" >&2; status=1; fi
    if [ "$SMOKE" = 1 ] && { [ "$n" -lt 1 ] || [ "$(b_jnum "$line" non2xx)" != 0 ]; }; then
        echo "SMOKE: $t: $n requests, $(b_jnum "$line" non2xx) not 2xx" >&2; status=1
    fi
done <"$T_DIR/runs"
if [ "$SMOKE" = 1 ]; then
    n=$(field bare requests); [ "${n:-0}" -ge 1 ] || { echo "SMOKE: bare answered nothing" >&2; status=1; }
fi
exit "$status"
