#!/usr/bin/env bash
# workers.sh -- the execution side under abuse, through c360-workers (the
# supervisor and its worker processes, as c360d's master runs them, without
# the HTTP side; events are written straight into the tenant's stream):
#
#  1. kill -9 of a worker, twice, during a steady load: every stored event
#     is processed and every record delivered -- at least once; the
#     duplicates (items in flight at a kill) are counted and shown, and can
#     only repeat a record id (the destination's idempotency key);
#  2. an event that crashes its worker (SIGSEGV) ends in the dead letters as
#     poison after --poison (3) crashes, while the other events keep flowing;
#  3. an event whose callback hangs gets its worker killed after the
#     deadline and is poisoned the same way;
#  4. SIGTERM: a graceful stop within the shutdown timeout.
source "$(dirname "$0")/lib.sh"
: "${C360_BUILD_DIR:?}"
WORKERS=$C360_BUILD_DIR/tests/tools/c360-workers
SEED=$C360_BUILD_DIR/tests/tools/c360-seed
PLUGINS=${C360_PIPELINE_PLUGIN_DIR:-$C360_BUILD_DIR/tests/pipeline-plugins}
for f in "$WORKERS" "$SEED" "$PLUGINS/worker_tp.so"; do
    [ -e "$f" ] || t_fail "missing $f (build the tree first)"
done

RPORT=$(t_free_port)
t_start_redis "$RPORT"
R() { redis-cli -p "$RPORT" "$@"; }
seed() { "$SEED" --redis "redis://127.0.0.1:$RPORT" "$@" >>"$T_DIR/seed.log" 2>&1 || t_fail "seed $*"; }

# Only wtp in the plugin directory the workers load.
mkdir -p "$T_DIR/plugins"
cp "$PLUGINS/worker_tp.so" "$T_DIR/plugins/"

T=wk
seed conn "$T" wsrc wtp '{}' --ticks 0
seed conn "$T" wdst wtp '{"deliver_sleep_ms":1}' --ticks 0
seed route "$T" wsrc wdst

"$WORKERS" --redis "redis://127.0.0.1:$RPORT" --plugins "$T_DIR/plugins" --workers 2 --threads 2 \
    --callback-timeout-ms 1000 --hang-grace-ms 500 --poison 3 --claim-idle-ms 2000 \
    --shutdown-ms 3000 --retry-base-ms 100 >"$T_DIR/workers.out" 2>"$T_DIR/workers.log" &
WPID=$!
T_PIDS+=("$WPID")

# The worker processes: children of the zygote, itself the only child of
# c360-workers (c360-workers starts no other process).
worker_pids() {
    local z
    z=$(pgrep -P "$WPID" | head -n 1)
    [ -n "$z" ] && pgrep -P "$z" || true
}
for _ in $(seq 100); do [ "$(worker_pids | wc -l)" -ge 2 ] && break; sleep 0.05; done
[ "$(worker_pids | wc -l)" -ge 2 ] || t_fail "workers did not start"
t_ok "2 worker processes up: $(worker_pids | tr '\n' ' ')"

# add N BODY -- XADDs N events of wsrc with BODY, in one pipe.
add() {
    local n=$1 body=$2 now
    now=$(date +%s%3N)
    for _ in $(seq "$n"); do
        printf 'XADD c360:{t:%s}:ev * k wh c wsrc p wtp t %s a 1 b "%s"\n' "$T" "$now" "$body"
    done | R >/dev/null
}
delivered() { R HGET "c360:{t:$T}:state:wdst:delivered" v | sed 's/^$/0/'; }
events_done() { R HGET "c360:{t:$T}:conn:wsrc:stat" events | sed 's/^$/0/'; }

# --- 1. kill -9 under a steady load --------------------------------------
TOTAL=0
loader() {
    for _ in $(seq 30); do add 40 "sleep 2"; sleep 0.1; done
}
loader &
LOADER=$!
T_PIDS+=("$LOADER")
sleep 1
victim=$(worker_pids | head -n 1)
kill -9 "$victim"
t_ok "killed worker $victim (kill -9) under load"
sleep 1.2
victim=$(worker_pids | tail -n 1)
kill -9 "$victim"
t_ok "killed worker $victim (kill -9) under load"
wait "$LOADER"
TOTAL=1200
for _ in $(seq 300); do
    [ "$(delivered)" -ge "$TOTAL" ] && [ "$(events_done)" -ge "$TOTAL" ] && break
    sleep 0.1
done
[ "$(R XLEN "c360:{t:$T}:ev")" = "$TOTAL" ] || t_fail "expected $TOTAL stored events"

# Every stored event processed, every record delivered: counted in Redis
# by the plugin (state ev:<id> and d:<id>-0), checked for all in one script.
# (delivered counts duplicates too, so it can reach TOTAL while a record
# whose worker was killed still waits for its claim: poll the exact check.)
lost_counts() { R EVAL "
local ev = redis.call('XRANGE', KEYS[1], '-', '+')
local le, lr, de, dr = 0, 0, 0, 0
for _, e in ipairs(ev) do
  local a = tonumber(redis.call('HGET', KEYS[2] .. 'wsrc:ev:' .. e[1], 'v') or '0')
  local d = tonumber(redis.call('HGET', KEYS[2] .. 'wdst:d:' .. e[1] .. '-0', 'v') or '0')
  if a == 0 then le = le + 1 end
  if d == 0 then lr = lr + 1 end
  if a > 1 then de = de + 1 end
  if d > 1 then dr = dr + 1 end
end
return le .. ' ' .. lr .. ' ' .. de .. ' ' .. dr" 2 "c360:{t:$T}:ev" "c360:{t:$T}:state:"; }
for _ in $(seq 150); do
    read -r lost_ev lost_rec dup_ev dup_rec < <(lost_counts)
    [ "$lost_ev" = 0 ] && [ "$lost_rec" = 0 ] && break
    sleep 0.2
done
echo "kill -9 x2 under load: $TOTAL events; lost events $lost_ev, lost records $lost_rec;" \
     "run twice $dup_ev events, delivered twice $dup_rec records (same record id)"
[ "$lost_ev" = 0 ] && [ "$lost_rec" = 0 ] || t_fail "lost work: events $lost_ev, records $lost_rec"
[ "$(R XLEN "c360:{t:$T}:dlq")" = 0 ] || t_fail "dead letters after kills: $(R XLEN "c360:{t:$T}:dlq")"
pend=$(R XPENDING "c360:{t:$T}:ev" w | head -n 1)
[ "$pend" = 0 ] || t_fail "$pend events still pending"
t_ok "nothing lost across two kill -9 (duplicates: $dup_ev events, $dup_rec deliveries)"

# --- 2. poison: a crashing event among others ------------------------------
before=$(events_done)
add 50 "sleep 5"
crash_id=$(R XADD "c360:{t:$T}:ev" '*' k wh c wsrc p wtp t 1 a 1 b crash)
add 50 "sleep 5"
for _ in $(seq 300); do
    [ "$(R XLEN "c360:{t:$T}:dlq")" -ge 1 ] && [ "$(events_done)" -ge $((before + 100)) ] && break
    sleep 0.1
done
dl=$(R XRANGE "c360:{t:$T}:dlq" - + | tr '\n' ' ')
grep -q "orig $crash_id" <<<"$dl" || t_fail "crash event $crash_id not dead-lettered: $dl"
grep -q "why poison" <<<"$dl" || t_fail "not poison: $dl"
[ "$(events_done)" -ge $((before + 100)) ] || t_fail "other events stalled: $(events_done) of $((before + 100))"
t_ok "crashing event dead-lettered as poison while 100 others were processed"

# --- 3. poison: a hanging callback -----------------------------------------
before=$(events_done)
hang_id=$(R XADD "c360:{t:$T}:ev" '*' k wh c wsrc p wtp t 1 a 1 b hang)
add 20 "sleep 5"
start=$(date +%s%3N)
for _ in $(seq 200); do
    R XRANGE "c360:{t:$T}:dlq" - + | grep -q "^$hang_id$" && break
    R XRANGE "c360:{t:$T}:dlq" - + | tr '\n' ' ' | grep -q "orig $hang_id" && break
    sleep 0.1
done
R XRANGE "c360:{t:$T}:dlq" - + | tr '\n' ' ' | grep -q "orig $hang_id" || t_fail "hang not poisoned"
t_ok "hanging event killed its worker 3 times and was poisoned after $(( $(date +%s%3N) - start )) ms"
for _ in $(seq 100); do [ "$(events_done)" -ge $((before + 20)) ] && break; sleep 0.1; done
[ "$(events_done)" -ge $((before + 20)) ] || t_fail "events stalled around the hang"

# --- 4. graceful stop -------------------------------------------------------
kill -TERM "$WPID"
for _ in $(seq 100); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$WPID" 2>/dev/null && t_fail "c360-workers did not stop on SIGTERM"
wait "$WPID" || t_fail "c360-workers exited with $?"
cat "$T_DIR/workers.out"
grep -q "poisoned=2" "$T_DIR/workers.out" || t_fail "supervisor counters: $(cat "$T_DIR/workers.out")"
t_ok "graceful stop"
