#!/usr/bin/env bash
# daemon.sh -- c360d against a real redis-server: health, readiness that
# follows Redis, the plugin list with refusals, config errors, SIGHUP,
# SIGTERM, the development default and Redis authentication.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}" "${C360_TEST_PLUGIN_DIR:?}"

# --- command line -----------------------------------------------------------
"$C360D" --version | grep -Eq '^c360d [0-9.]+ \(connector ABI 1\.[0-9]+\)$' || t_fail "--version"
help=$("$C360D" --help)
for opt in --config --listen --redis --redis-user --redis-password-file --plugin-dir \
           --data-dir --master-key-file --log-level --shutdown-timeout-ms --check-config --version; do
    grep -q -- "$opt" <<<"$help" || t_fail "--help does not document $opt"
done
t_ok "version and help"

# --- bad configuration is refused with the key's path -------------------------
echo '{"listen":"127.0.0.1:1","redis":{"url":"redis://127.0.0.1:6379","passwd":"x"}}' > "$T_DIR/bad.json"
set +e
out=$("$C360D" --config "$T_DIR/bad.json" 2>&1); rc=$?
set -e
[ "$rc" = 2 ] || t_fail "bad config: exit $rc, want 2"
grep -q '/redis: unknown key \\\?"passwd' <<<"$out" || t_fail "bad config message: $out"
set +e
out=$("$C360D" --check-config --shutdown-timeout-ms soon 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && grep -q '/shutdown_timeout_ms: must be an integer' <<<"$out" || t_fail "bad flag: $rc $out"
"$C360D" --check-config --listen 127.0.0.1:9 | grep -q 'configuration ok' || t_fail "--check-config ok"
t_ok "bad configuration refused with its path"

# --- start against a real Redis, with good and bad plugins --------------------
RPORT=$(t_free_port)
t_start_redis "$RPORT"
PORT=$(t_free_port)
cat > "$T_DIR/c360.json" <<JSON
{"listen":"127.0.0.1:$PORT","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$C360_BUILD_DIR/plugins","$C360_TEST_PLUGIN_DIR"],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":2000}
JSON
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
t_start_c360d c360d --config "$T_DIR/c360.json"
URL=http://127.0.0.1:$PORT
t_wait_http "$URL/healthz" 200
t_wait_http "$URL/readyz" 200
PID=$C360D_PID
t_ok "healthz and readyz"

OPKEY=$(t_opkey "$T_DIR/data")
AUTH=(-H "Authorization: Bearer $OPKEY")
grep -q 'operator key written.*operator.key' "$T_DIR/c360d.log" || t_fail "key file not announced"
grep -qF "$OPKEY" "$T_DIR/c360d.log" && t_fail "the operator key is in the log"
[ "$(stat -c %a "$T_DIR/data/operator.key")" = 600 ] || t_fail "operator.key is not 0600"
r=$(t_http GET "$URL/v1/plugins")
[[ $r == 401* ]] || t_fail "/v1/plugins without a key: $r"
r=$(t_http GET "$URL/v1/plugins" "${AUTH[@]}")
[[ $r == 200* ]] || t_fail "/v1/plugins: $r"
for want in '"name":"hello"' '"name":"good"' '"host_abi":"1\.[0-9]*"' '"abi_major_mismatch"' \
            'plugin built for ABI 2.0, host speaks 1.x' '"missing_entry_symbol"' '"init_failed"' \
            '"duplicate_name"' '"config_schema":{' '"capabilities":\['; do
    grep -q "$want" <<<"$r" || t_fail "/v1/plugins lacks $want: $r"
done
grep -q 'plugin refused.*t04_major.so.*abi_major_mismatch' "$T_DIR/c360d.log" || t_fail "refusal not logged with file"
# ... and audited, with loads, in the "_system" chain.
"$C360_AUDIT" --redis "redis://127.0.0.1:$RPORT" list --tenant _system --json > "$T_DIR/audit.json" ||
    t_fail "c360-audit list"
grep -q '"action":"plugin.refuse","target":"t04_major.so","outcome":"refused:abi_major_mismatch"' "$T_DIR/audit.json" ||
    t_fail "refusal not audited: $(head -c 300 "$T_DIR/audit.json")"
grep -q '"plugin.load"' "$T_DIR/audit.json" || t_fail "load not audited"
"$C360_AUDIT" --redis "redis://127.0.0.1:$RPORT" verify --tenant _system >/dev/null || t_fail "_system chain does not verify"
t_ok "plugins listed, refusals listed with reasons, host runs on"

r=$(t_http GET "$URL/nope")
[[ $r == 404* ]] && grep -q '"error":{"code":"not_found"' <<<"$r" || t_fail "404: $r"
r=$(t_http POST "$URL/healthz")
[[ $r == 405* ]] && grep -q '"method_not_allowed"' <<<"$r" || t_fail "405: $r"
curl -s -D - -o /dev/null -X POST "$URL/healthz" | grep -qi '^allow: GET, HEAD' || t_fail "Allow header"
grep -q '"code":"bad_descriptor".*description must be printable UTF-8' <<<"$(t_http GET "$URL/v1/plugins" "${AUTH[@]}")" || t_fail "bad UTF-8 not refused"
hdr=$(curl -s -D - -o /dev/null -H 'X-Request-Id: trace-abc-123' "$URL/healthz")
grep -qi '^x-request-id: trace-abc-123' <<<"$hdr" || t_fail "request id not echoed"
hdr=$(curl -s -D - -o /dev/null -H 'X-Request-Id: bad id"' "$URL/healthz")
grep -Eqi '^x-request-id: [0-9a-f]{32}' <<<"$hdr" || t_fail "bad request id not replaced"
t_ok "errors are JSON, request ids"

# --- readiness follows Redis -------------------------------------------------
t_stop_pid "$REDIS_PID"
t_wait_http "$URL/readyz" 503 100
r=$(t_http GET "$URL/readyz")
grep -q '"component":"redis"' <<<"$r" || t_fail "503 without the redis reason: $r"
t_wait_http "$URL/healthz" 200 10
t_start_redis "$RPORT"
t_wait_http "$URL/readyz" 200 150
kill -0 "$PID" || t_fail "c360d restarted"
t_ok "redis down -> 503, back -> 200, same process"

# --- SIGHUP re-reads the configuration ---------------------------------------
sed -i 's/"log_level":"info"/"log_level":"debug"/' "$T_DIR/c360.json"
kill -HUP "$PID"
for _ in $(seq 50); do grep -q '"key":"/log_level"' "$T_DIR/c360d.log" && break; sleep 0.1; done
grep -q '"msg":"config changed","key":"/log_level","applied":"now"' "$T_DIR/c360d.log" || t_fail "SIGHUP change not logged"
echo '{"listen": 5}' > "$T_DIR/c360.json.bad" && cp "$T_DIR/c360.json" "$T_DIR/good.json" && cp "$T_DIR/c360.json.bad" "$T_DIR/c360.json"
kill -HUP "$PID"
for _ in $(seq 50); do grep -q 'new configuration refused' "$T_DIR/c360d.log" && break; sleep 0.1; done
grep -q 'new configuration refused.*/listen' "$T_DIR/c360d.log" || t_fail "bad reload not refused"
t_wait_http "$URL/readyz" 200 10
# A key that needs a restart is reported on every SIGHUP until the restart.
cp "$T_DIR/good.json" "$T_DIR/c360.json"
sed -i 's/"shutdown_timeout_ms":2000/"shutdown_timeout_ms":2000,"http":{"timeout_s":7}/' "$T_DIR/c360.json"
for round in 1 2; do
    kill -HUP "$PID"
    for _ in $(seq 50); do
        [ "$(grep -c '"key":"/http".*after restart' "$T_DIR/c360d.log")" -ge "$round" ] && break
        sleep 0.1
    done
done
[ "$(grep -c '"key":"/http".*after restart' "$T_DIR/c360d.log")" -ge 2 ] || t_fail "restart-needed key not reported on each SIGHUP"
t_ok "SIGHUP applies and logs changes, refuses a bad file and runs on"

# --- SIGTERM: exit 0 ---------------------------------------------------------
kill -TERM "$PID"
rc=0; wait "$PID" || rc=$?
[ "$rc" = 0 ] || t_fail "SIGTERM exit status $rc"
grep -q '"msg":"stopped"' "$T_DIR/c360d.log" || t_fail "no stopped line"
t_ok "SIGTERM exits 0"

# --- Redis with a password (ACL user) -----------------------------------------
APORT=$(t_free_port)
mkdir -p "$T_DIR/redis-auth"
SECRET="s3cret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$T_DIR/redis-auth/redis.conf" <<CONF
port $APORT
bind 127.0.0.1
save ""
dir $T_DIR/redis-auth
user default off
user c360 on >$SECRET ~* &* +@all
CONF
redis-server "$T_DIR/redis-auth/redis.conf" >"$T_DIR/redis-auth.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$APORT" ping 2>/dev/null | grep -q NOAUTH && break; sleep 0.05; done
printf '%s\n' "$SECRET" > "$T_DIR/pw"; chmod 600 "$T_DIR/pw"
P2=$(t_free_port)
t_start_c360d auth --listen "127.0.0.1:$P2" --redis "redis://127.0.0.1:$APORT" --redis-user c360 \
    --redis-password-file "$T_DIR/pw" --plugin-dir "$C360_BUILD_DIR/plugins" --data-dir "$T_DIR/data2"
t_wait_http "http://127.0.0.1:$P2/readyz" 200
t_stop_pid "$C360D_PID"
printf 'wrong\n' > "$T_DIR/pw"
t_start_c360d authbad --listen "127.0.0.1:$P2" --redis "redis://127.0.0.1:$APORT" --redis-user c360 \
    --redis-password-file "$T_DIR/pw" --plugin-dir "$C360_BUILD_DIR/plugins" --data-dir "$T_DIR/data2"
t_wait_http "http://127.0.0.1:$P2/healthz" 200
for _ in $(seq 50); do
    r=$(t_http GET "http://127.0.0.1:$P2/readyz")
    grep -q 'AUTH failed' <<<"$r" && break
    sleep 0.1
done
[[ $r == 503* ]] && grep -q 'AUTH failed' <<<"$r" || t_fail "wrong password: $r"
t_stop_pid "$C360D_PID"
! grep -rq "$SECRET" "$T_DIR"/*.log || t_fail "the Redis password appears in a log"
t_ok "Redis ACL user + password file; wrong password -> 503 with cause; password never logged"

# --- development default: private Redis, dev key ------------------------------
unset C360_MASTER_KEY
P3=$(t_free_port)
t_start_c360d dev --listen "127.0.0.1:$P3" --plugin-dir "$C360_BUILD_DIR/plugins" --data-dir "$T_DIR/dev"
t_wait_http "http://127.0.0.1:$P3/readyz" 200
grep -q 'DEVELOPMENT DEFAULT' "$T_DIR/dev.log" || t_fail "dev default not announced"
[ "$(stat -c %a "$T_DIR/dev/master.key")" = 600 ] || t_fail "dev master key mode"
[ -S "$T_DIR/dev/redis/redis.sock" ] || t_fail "no private redis socket"
RPID=$(pgrep -f "redis-server.*$T_DIR/dev/redis/redis.sock" | head -n1 || true)
[ -n "$RPID" ] || t_fail "private redis-server not running"
# One c360d per data directory.
set +e
"$C360D" --listen "127.0.0.1:$(t_free_port)" --plugin-dir "$C360_BUILD_DIR/plugins" --data-dir "$T_DIR/dev" >"$T_DIR/dev2.log" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'data directory is in use by another c360d' "$T_DIR/dev2.log" || t_fail "second c360d on one data dir: $rc"
# The private Redis is supervised: killed, it comes back by itself.
kill -KILL "$RPID"
t_wait_http "http://127.0.0.1:$P3/readyz" 503 100
t_wait_http "http://127.0.0.1:$P3/readyz" 200 150
grep -q 'private redis-server exited; restarting it' "$T_DIR/dev.log" || t_fail "no restart logged"
RPID=$(pgrep -f "redis-server.*$T_DIR/dev/redis/redis.sock" | head -n1 || true)
[ -n "$RPID" ] || t_fail "private redis-server not running after restart"
kill -TERM "$C360D_PID"
rc=0; wait "$C360D_PID" || rc=$?
[ "$rc" = 0 ] || t_fail "dev SIGTERM exit $rc"
for _ in $(seq 50); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$RPID" 2>/dev/null || t_fail "private redis-server outlived c360d"
[ -s "$T_DIR/dev/redis/appendonly.aof" ] || ls "$T_DIR/dev/redis/appendonlydir" >/dev/null 2>&1 || t_fail "AOF not on"
# A world-readable key file is refused.
chmod 644 "$T_DIR/dev/master.key"
set +e
"$C360D" --listen "127.0.0.1:$P3" --plugin-dir "$C360_BUILD_DIR/plugins" --data-dir "$T_DIR/dev" >"$T_DIR/devbad.log" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && grep -q 'refusing a key readable by others' "$T_DIR/devbad.log" || t_fail "world-readable key accepted ($rc)"
t_ok "development default: private redis with AOF (supervised), 0600 dev key, data dir lock, clean stop"
echo "daemon: all passed"
