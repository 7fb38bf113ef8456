#!/usr/bin/env bash
# valgrind.sh -- c360d under valgrind memcheck (a build without sanitizers):
# start with good and refused plugins, serve requests, lose and regain
# Redis, reload, and stop on SIGTERM with zero errors and no definite leaks.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}" "${C360_TEST_PLUGIN_DIR:?}"
command -v valgrind >/dev/null || t_fail "valgrind is not installed (scripts/deps installs it)"

RPORT=$(t_free_port)
t_start_redis "$RPORT"
PORT=$(t_free_port)
C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_MASTER_KEY
echo "{\"log_level\":\"info\"}" > "$T_DIR/c360.json"
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --track-fds=no --log-file="$T_DIR/valgrind.txt" \
    "$C360D" --config "$T_DIR/c360.json" --listen "127.0.0.1:$PORT" --redis "redis://127.0.0.1:$RPORT" \
    --plugin-dir "$C360_BUILD_DIR/plugins" --plugin-dir "$C360_TEST_PLUGIN_DIR" \
    --data-dir "$T_DIR/data" >"$T_DIR/c360d.log" 2>&1 &
PID=$!
T_PIDS+=("$PID")
URL=http://127.0.0.1:$PORT
t_wait_http "$URL/readyz" 200 600
for path in /healthz /readyz /v1/plugins /nope; do t_http GET "$URL$path" >/dev/null; done
OPKEY=$(t_opkey "$T_DIR/data")
for path in /v1/me /v1/plugins /v1/openapi.json /v1/tenants; do
    t_http GET "$URL$path" -H "Authorization: Bearer $OPKEY" >/dev/null
done
t_http POST "$URL/readyz" >/dev/null
t_stop_pid "$REDIS_PID"
t_wait_http "$URL/readyz" 503 200
t_start_redis "$RPORT"
t_wait_http "$URL/readyz" 200 300
echo '{"log_level":"debug"}' > "$T_DIR/c360.json"
kill -HUP "$PID"
for _ in $(seq 100); do grep -q 'configuration reloaded' "$T_DIR/c360d.log" && break; sleep 0.1; done
t_http GET "$URL/healthz" >/dev/null
kill -TERM "$PID"
rc=0; wait "$PID" || rc=$?
cat "$T_DIR/valgrind.txt"
[ "$rc" = 0 ] || t_fail "c360d under valgrind exited $rc (99 = memcheck errors or definite leaks)"
[ ! -s "$T_DIR/valgrind.txt" ] || t_fail "valgrind reported something"
echo "valgrind: clean shutdown, 0 errors, no definite leaks"
