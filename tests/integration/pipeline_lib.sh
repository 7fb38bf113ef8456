# pipeline_lib.sh -- shared helpers of the pipeline end-to-end tests
# (pipeline_*.sh; sourced after lib.sh, not a test itself).
#
# The cast: a real redis-server, one or more real c360d with the pipeline
# test plugins (tests/plugins/pipeline: tsrc, tdst, tnop), the delivery
# sink (tests/fakes/fake_sink) standing in for the customer's system,
# c360-seed to create connections and routes through the registry, and
# c360-hook-load to send signed events and record exactly which were
# answered 200. The invariant every test checks in some form: each event
# answered 200 reaches the sink (by its idempotency key) at least once.
: "${C360D:?}" "${C360_BUILD_DIR:?}"
P_SEED=$C360_BUILD_DIR/tests/tools/c360-seed
P_LOAD=$C360_BUILD_DIR/tests/tools/c360-hook-load
P_SINK=$C360_BUILD_DIR/tests/fakes/fake_sink
P_PLUGINS=${C360_PIPELINE_PLUGIN_DIR:-$C360_BUILD_DIR/tests/pipeline-plugins}
for f in "$P_SEED" "$P_LOAD" "$P_SINK" "$P_PLUGINS/tsrc.so" "$P_PLUGINS/tdst.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done
export C360_MASTER_KEY=${C360_MASTER_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}

# p_seed ARGS... -- c360-seed against the test's Redis; fails the test on
# error.
p_seed() {
    "$P_SEED" --redis "redis://127.0.0.1:$RPORT" "$@" >>"$T_DIR/seed.log" 2>&1 ||
        t_fail "c360-seed $*: $(tail -n 3 "$T_DIR/seed.log")"
}

# p_start_sink -- starts the sink; sets SINK_URL and SINK_PID.
p_start_sink() {
    "$P_SINK" --port 0 >"$T_DIR/sink.out" 2>"$T_DIR/sink.log" &
    SINK_PID=$!
    T_PIDS+=("$SINK_PID")
    for _ in $(seq 100); do grep -q '^port ' "$T_DIR/sink.out" 2>/dev/null && break; sleep 0.05; done
    SINK_URL=http://127.0.0.1:$(awk '/^port /{print $2}' "$T_DIR/sink.out")
    [ "$SINK_URL" != "http://127.0.0.1:" ] || t_fail "sink did not start"
}

# p_config FILE PORT [PIPELINE_MEMBERS] -- a c360d config on PORT with the
# test plugins, delivering to 127.0.0.1 (the sink) allowed, and short
# timings; PIPELINE_MEMBERS ('"workers":1,"poison_threshold":2') replace
# or add "pipeline" keys (flat values only).
p_config() {
    local file=$1 port=$2 extra=${3:-}
    declare -A pipe=([workers]=2 [worker_threads]=2 [tick_floor_s]=1 [claim_idle_ms]=3000
                     [callback_timeout_ms]=3000)
    local kv k members="" sep=""
    local -a kvs=()
    [ -n "$extra" ] && IFS=',' read -ra kvs <<<"$extra"
    for kv in "${kvs[@]}"; do
        k=${kv%%:*}; k=${k//\"/}
        pipe[$k]=${kv#*:}
    done
    for k in "${!pipe[@]}"; do members+="$sep\"$k\":${pipe[$k]}"; sep=","; done
    cat >"$file" <<JSON
{"listen":"127.0.0.1:$port","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$P_PLUGINS"],
 "data_dir":"$T_DIR/data-$port","log_level":"info","shutdown_timeout_ms":3000,
 "outbound_http":{"allow":["127.0.0.1/32"],"timeout_ms":5000},
 "pipeline":{$members}}
JSON
}

# p_start_host NAME CONFIG -- starts c360d and waits until it is ready;
# sets HOST_PID (also C360D_PID) and HOST_URL from the config's listen.
p_start_host() {
    local name=$1 cfg=$2
    t_start_c360d "$name" --config "$cfg"
    HOST_PID=$C360D_PID
    HOST_URL=http://$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' "$cfg")
    t_wait_http "$HOST_URL/readyz" 200 150
}

# p_sign SECRET BODY -- the x-tsrc-signature value.
p_sign() { "$P_LOAD" --sign "$1" "$2"; }

# p_post URL SECRET BODY [REQUEST_ID] -- POSTs one signed event; prints the
# status. REQUEST_ID goes in X-Request-Id (stored with the event as rid,
# which is how a dead letter can be recognised: its body is not listed).
p_post() {
    curl -s -m 10 -o "$T_DIR/post.body" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' -H "X-Tsrc-Signature: $(p_sign "$2" "$3")" \
        ${4:+-H "X-Request-Id: $4"} --data-binary "$3" "$1" || true
}

# p_stats [QUERY] -- the sink's /stats (QUERY e.g. "prefix=a-&keys=0").
p_stats() { curl -s -m 10 "$SINK_URL/stats${1:+?$1}"; }

# p_num JSON FIELD -- the first integer value of "FIELD" in flat JSON text.
p_num() { grep -o "\"$2\":-\?[0-9]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# p_key_count KEY -- how many 2xx deliveries the sink saw for KEY (0 if none).
# KEY may hold ':' ("meta:lead:<id>"): the count is what follows the last.
p_key_count() {
    local s n
    s=$(p_stats "prefix=$1")
    n=$(grep -o "\"$1\":[0-9]*" <<<"$s" | head -n 1 | sed 's/.*://')
    echo "${n:-0}"
}

# p_wait_distinct PREFIX N SECONDS [soft] -- waits until the sink has N
# distinct keys starting with PREFIX delivered; fails the test with the
# count otherwise (with "soft": returns 1 instead).
p_wait_distinct() {
    local prefix=$1 want=$2 secs=$3 soft=${4:-} got=0
    local end=$((SECONDS + secs))
    while [ "$SECONDS" -le "$end" ]; do
        got=$(p_num "$(p_stats "prefix=$prefix&keys=0")" distinct)
        [ "${got:-0}" -ge "$want" ] && return 0
        sleep 0.2
    done
    [ -n "$soft" ] && return 1
    t_fail "sink: $got of $want distinct '$prefix' deliveries after ${secs}s"
}

# p_check_all_delivered OKFILE PREFIX SECONDS -- every id in OKFILE (the
# events answered 200) is delivered; waits up to SECONDS; names the missing.
# (Events refused with 503 may be delivered too -- Redis can store a write
# whose acknowledgement never reached c360d -- so the sink may hold more.)
p_check_all_delivered() {
    local okfile=$1 prefix=$2 secs=$3 want missing=0
    local end=$((SECONDS + secs))
    want=$(wc -l <"$okfile")
    sort "$okfile" >"$T_DIR/ok.sorted"
    while :; do
        p_stats "prefix=$prefix" | { grep -o "\"$prefix[^\"]*\":" || true; } | tr -d '":' |
            sort >"$T_DIR/delivered.txt"
        missing=$(comm -23 "$T_DIR/ok.sorted" "$T_DIR/delivered.txt" | wc -l)
        [ "$missing" = 0 ] && return 0
        [ "$SECONDS" -gt "$end" ] && break
        sleep 0.3
    done
    t_fail "$missing of $want events answered 200 were never delivered, e.g. $(comm -23 "$T_DIR/ok.sorted" "$T_DIR/delivered.txt" | head -n 5 | tr '\n' ' ')"
}

# p_source TENANT ID SECRET [CONFIG_EXTRA_MEMBERS] [SEED_ARGS...] -- a tsrc
# connection; p_dest TENANT ID -- a tdst connection to the sink; p_route.
p_source() {
    local t=$1 id=$2 secret=$3 extra=${4:-}
    shift $(($# < 4 ? $# : 4))
    p_seed conn "$t" "$id" tsrc "{\"secret\":\"$secret\"${extra:+,$extra}}" "$@"
}
p_dest() { p_seed conn "$1" "$2" tdst "{\"url\":\"$SINK_URL/deliver/$1/$2\",\"timeout_ms\":5000}"; }
p_route() { p_seed route "$1" "$2" "$3"; }
# p_pair TENANT SECRET -- the usual scenario: source s1 (SECRET) routed to
# destination d1, in TENANT.
p_pair() { p_source "$1" s1 "$2"; p_dest "$1" d1; p_route "$1" s1 d1; }

# p_redis ARGS... -- redis-cli against the test's Redis.
p_redis() { redis-cli -p "$RPORT" "$@"; }

# p_workers_of LOG -- the worker processes of the c360d logging to LOG: the
# latest pid the supervisor logged for each worker index.
p_workers_of() {
    sed -n 's/.*"msg":"supervisor: worker started","worker":"\([0-9]*\)","pid":"\([0-9]*\)".*/\1 \2/p' "$1" |
        awk '{p[$1] = $2} END {for (w in p) print p[w]}' | sort
}

# p_descendants PID -- every process below PID (c360d's zygote and the
# workers the zygote forked).
p_descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1"); do echo "$c"; p_descendants "$c"; done
}

# p_kill_host PID -- kill -9 of a c360d master; its zygote and workers must
# follow it within 5 s (they would otherwise keep working for a master
# that is gone). Any that do not are killed and the test fails.
p_kill_host() {
    local pid=$1 kids alive w
    kids=$(p_descendants "$pid")
    [ -n "$kids" ] || t_fail "c360d $pid has no worker processes"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        alive=0
        for w in $kids; do kill -0 "$w" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
    for w in $kids; do
        if kill -0 "$w" 2>/dev/null; then
            kill -KILL "$w" 2>/dev/null || true
            t_fail "process $w (zygote or worker) outlived its master $pid by 5 s"
        fi
    done
}
