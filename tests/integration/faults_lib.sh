# shellcheck shell=bash
# faults_lib.sh -- shared steps of the fault-injection tests (faults_*.sh;
# sourced after lib.sh, not a test itself).
#
# Each scenario runs load, injects one fault, and then accounts for every
# event that was answered 200 (its key is in an "ok file"): it was
# delivered (the destination answered 2xx to its idempotency key) or it
# is in the tenant's dead letters with a cause; anything else is lost.
# The scenario then checks that c360d recovered by itself, and prints one
# row, also appended to the suite's table ($C360_FAULTS_TABLE, printed by
# the integration_faults_summary test):
#
#   FAULT | <fault> | accepted N | delivered N | dlq N (cause) | lost 0 | recovered yes
#
# The caller sets RPORT (its Redis) before calling these.
: "${C360_BUILD_DIR:?}"
F_TABLE=${C360_FAULTS_TABLE:-$C360_BUILD_DIR/faults-table.txt}

# Every dead letter of a tenant as "key<TAB>kind<TAB>why<TAB>err", read
# from the dlq stream in one script: a delivery's key is its idempotency
# key (ri); an event's key is its body's "id" (tsrc), or one line per
# Meta lead it carries ("meta:lead:<leadgen_id>").
F_DLQ_LUA='
local out = {}
for _, e in ipairs(redis.call("XRANGE", KEYS[1], "-", "+")) do
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  local keys = {}
  if f.ri then keys[1] = f.ri
  elseif f.b then
    local ok, j = pcall(cjson.decode, f.b)
    if ok and type(j) == "table" then
      if j.id then keys[1] = tostring(j.id) end
      if type(j.entry) == "table" then
        for _, en in ipairs(j.entry) do
          for _, c in ipairs(type(en.changes) == "table" and en.changes or {}) do
            if type(c.value) == "table" and c.value.leadgen_id then
              keys[#keys + 1] = "meta:lead:" .. tostring(c.value.leadgen_id)
            end
          end
        end
      end
    end
  end
  if #keys == 0 then keys[1] = "?" .. e[1] end
  local err = string.gsub(f.err or "", "[\t\r\n]", " ")
  for _, k in ipairs(keys) do
    out[#out + 1] = k .. "\t" .. (f.kind or "?") .. "\t" .. (f.why or "?") .. "\t" .. err
  end
end
return out'

# f_dlq_dump TENANT FILE -- the tenant's dead letters into FILE.
f_dlq_dump() {
    redis-cli -p "$RPORT" --raw EVAL "$F_DLQ_LUA" 1 "c360:{t:$1}:dlq" >"$2" 2>"$2.err" || : >"$2"
    grep -q '	' "$2" || : >"$2" # an empty answer prints one empty line
}

# f_account FAULT OKFILE TENANT SECONDS DELIVERED_FN -- waits up to
# SECONDS until every key of OKFILE (the events answered 200) is
# delivered or dead-lettered. DELIVERED_FN FILE writes the delivered keys
# into FILE. Sets F_ACC, F_DEL, F_DLQ, F_LOST, F_CAUSE and leaves the
# lost keys in $T_DIR/lost.txt, the dead-lettered ones in $T_DIR/dlq-keys.txt.
f_account() {
    local fault=$1 okfile=$2 tenant=$3 secs=$4 fn=$5
    local end=$((SECONDS + secs))
    sort -u "$okfile" >"$T_DIR/acc.ok"
    while :; do
        "$fn" "$T_DIR/acc.del.raw"
        sort -u "$T_DIR/acc.del.raw" >"$T_DIR/acc.del"
        f_dlq_dump "$tenant" "$T_DIR/acc.dlq"
        cut -f1 "$T_DIR/acc.dlq" | sort -u >"$T_DIR/acc.dlqkeys"
        comm -23 "$T_DIR/acc.ok" "$T_DIR/acc.del" >"$T_DIR/acc.undelivered"
        comm -12 "$T_DIR/acc.undelivered" "$T_DIR/acc.dlqkeys" >"$T_DIR/dlq-keys.txt"
        comm -23 "$T_DIR/acc.undelivered" "$T_DIR/acc.dlqkeys" >"$T_DIR/lost.txt"
        [ -s "$T_DIR/lost.txt" ] || break
        [ "$SECONDS" -ge "$end" ] && break
        sleep 0.3
    done
    F_ACC=$(wc -l <"$T_DIR/acc.ok")
    F_DEL=$(comm -12 "$T_DIR/acc.ok" "$T_DIR/acc.del" | wc -l)
    F_DLQ=$(wc -l <"$T_DIR/dlq-keys.txt")
    F_LOST=$(wc -l <"$T_DIR/lost.txt")
    # The causes: each dead letter's why, and the first error of each why.
    F_CAUSE=$(awk -F'\t' 'NR == FNR { want[$1] = 1; next }
                          ($1 in want) && !seen[$1]++ { n[$3]++; if (!($3 in err)) err[$3] = $4 }
                          END { s = ""; for (w in n) s = s (s ? "; " : "") w " x" n[w] ": " substr(err[w], 1, 70); print s }' \
                  "$T_DIR/dlq-keys.txt" "$T_DIR/acc.dlq")
    [ "$F_LOST" = 0 ] || echo "lost ($fault): $(head -n 10 "$T_DIR/lost.txt" | tr '\n' ' ')" >&2
}

# f_row FAULT RECOVERED -- prints the scenario's row and appends it to the
# table; fails the test if anything was lost or c360d did not recover.
f_row() {
    local fault=$1 rec=$2 cause=${F_CAUSE:-}
    local row="FAULT | $fault | accepted $F_ACC | delivered $F_DEL | dlq $F_DLQ (${cause:--}) | lost $F_LOST | recovered $rec"
    echo "$row"
    echo "$row" >>"$F_TABLE"
    echo "  (at ${SECONDS} s of the test)"
    [ "$F_LOST" = 0 ] || t_fail "$fault: $F_LOST accepted event(s) neither delivered nor dead-lettered: $(head -n 10 "$T_DIR/lost.txt" | tr '\n' ' ')"
    [ "$rec" = yes ] || t_fail "$fault: c360d did not recover by itself"
}

# f_ready URL [SECONDS] -- /healthz and /readyz both answer 200 within
# SECONDS (default 15); returns 1 otherwise.
f_ready() {
    local url=$1 end=$((SECONDS + ${2:-15}))
    while :; do
        [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url/healthz" || true)" = 200 ] &&
            [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url/readyz" || true)" = 200 ] && return 0
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# The pipeline faults (faults_procs.sh, faults_redis.sh) drive one tsrc
# source s1 at $HOOK with secret $S (pipeline_lib.sh):
# f_warm_up -- one event accepted and delivered before the faults.
f_warm_up() {
    for _ in $(seq 100); do [ "$(p_post "$HOOK" "$S" '{"id":"warm-1"}')" = 200 ] && break; sleep 0.1; done
    p_wait_distinct warm-1 1 20
}
# f_sink_keys PREFIX FILE -- the keys the sink answered 2xx, of PREFIX.
f_sink_keys() { p_stats "prefix=$1" | { grep -o "\"$1[^\"]*\":[1-9]" || true; } | cut -d'"' -f2 >"$2"; }
# f_load PREFIX COUNT RATE -- c360-hook-load in the background; LOAD_PID.
f_load() {
    "$P_LOAD" --url "$HOOK" --secret "$S" --count "$2" --rate "$3" --concurrency 8 --prefix "$1" \
        --timeout-ms 3000 --ok-file "$T_DIR/ok-$1.txt" >"$T_DIR/load-$1.json" 2>"$T_DIR/load-$1.log" &
    LOAD_PID=$!
    T_PIDS+=("$LOAD_PID")
}
# f_after ID [TRIES] -- a new event is accepted (within TRIES tenths of a
# second, default 100) and delivered within 20 s.
f_after() {
    local code=
    for _ in $(seq "${2:-100}"); do code=$(p_post "$HOOK" "$S" "{\"id\":\"$1\"}"); [ "$code" = 200 ] && break; sleep 0.1; done
    [ "$code" = 200 ] && p_wait_distinct "$1" 1 20 soft
}

# f_alive PID -- the process still runs (no restart by hand was needed).
f_alive() { kill -0 "$1" 2>/dev/null; }

# f_start_redis_aof PORT DIR -- a redis-server with appendfsync always
# (a write Redis acknowledged survives its kill -9, as the pipeline's
# promise requires of production Redis) and DEBUG allowed from loopback;
# sets REDIS_PID. Called again after a stop, it reloads the same AOF.
f_start_redis_aof() {
    t_start_redis "$1" "$2" --appendonly yes --appendfsync always --enable-debug-command local
}

