# lib.sh -- shared helpers for the integration tests (sourced, bash).
#
# Every test gets its own temporary directory, its own redis-server on a
# free port, and its own c360d; an EXIT trap stops every process the test
# started, whatever happens. Tests never touch a system Redis.
set -euo pipefail

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/c360-it.XXXXXX")
T_PIDS=()

# C360_VALGRIND=1 (the "valgrind" registrations in CMakeLists.txt): every
# c360d started with t_start_c360d runs under memcheck, its forked zygote
# and workers too (one report file per process); a process that reports
# anything -- an error or a definite leak at its exit -- fails the test
# here, once everything has stopped. T_SLOW scales the waits meanwhile.
T_SLOW=1
[ "${C360_VALGRIND:-0}" = 1 ] && T_SLOW=${C360_VALGRIND_SLOW:-5}

t_cleanup() {
    local rc=$? pid f
    for pid in "${T_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${T_PIDS[@]}"; do
        for _ in $(seq $((50 * T_SLOW))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "${C360_VALGRIND:-0}" = 1 ]; then
        for f in "$T_DIR"/memcheck.*.txt; do
            [ -s "$f" ] || continue
            echo "FAIL: memcheck report in $f:" >&2; cat "$f" >&2; rc=1
        done
    fi
    if [ "${T_KEEP:-0}" = 1 ]; then echo "kept $T_DIR"; else rm -rf "$T_DIR"; fi
    exit "$rc"
}
trap t_cleanup EXIT

t_fail() { echo "FAIL: $*" >&2; for f in "$T_DIR"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }; done; exit 1; }
t_ok() { echo "ok: $*"; }

# t_sanitizers_clean -- fails the test if any of its logs ($T_DIR/*.log:
# c360d and its workers, the fakes, redis-server) holds an AddressSanitizer,
# LeakSanitizer or UndefinedBehaviorSanitizer report (LeakSanitizer's only
# once a process has exited).
t_sanitizers_clean() {
    local hits
    hits=$(grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T_DIR"/*.log 2>/dev/null || true)
    [ -z "$hits" ] || t_fail "sanitizer report in: $hits"
}

# A TCP port nobody listens on right now. Below the kernel's ephemeral range
# (32768+), where the tests' own outgoing connections would collide with it,
# and apart from the C fixtures' range (25000-32699).
t_free_port() {
    local p
    for _ in $(seq 100); do
        p=$(( (RANDOM % 15000) + 10000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    t_fail "no free port"
}

# t_start_redis PORT [DIR [REDIS-ARGS...]] -- starts redis-server on
# 127.0.0.1:PORT; sets REDIS_PID. Later arguments override the defaults
# (e.g. --appendonly yes); DIR defaults to $T_DIR/redis-PORT.
t_start_redis() {
    local port=$1 dir=${2:-$T_DIR/redis-$1}
    shift $(( $# > 1 ? 2 : 1 ))
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --daemonize no "$@" >>"$T_DIR/redis-$port.log" 2>&1 &
    REDIS_PID=$!
    T_PIDS+=("$REDIS_PID")
    # A PONG alone could come from another test's server that drew the same
    # port (ours then fails to bind): the answer must carry our pid.
    local id
    for _ in $(seq 100); do
        id=$(redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p' || true)
        [ "$id" = "$REDIS_PID" ] && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || t_fail "redis-server on $port exited (port taken?)"
        sleep 0.05
    done
    t_fail "redis-server on $port did not start"
}

# t_host_ports -- a redis-server for the test's c360d (RPORT), and the
# port and URL that c360d will listen on (PORT, URL).
t_host_ports() {
    RPORT=$(t_free_port)
    t_start_redis "$RPORT"
    PORT=$(t_free_port)
    URL=http://127.0.0.1:$PORT
}

# t_host_config <<JSON -- writes $T_DIR/c360.json: listening on PORT, Redis
# on RPORT (t_host_ports), then the test's own members from stdin (the
# rest of the object, its closing brace included).
t_host_config() {
    { printf '{"listen":"127.0.0.1:%s","redis":{"url":"redis://127.0.0.1:%s"},\n' "$PORT" "$RPORT"; cat; } \
        >"$T_DIR/c360.json"
}

t_stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
}

# t_start_c360d LOGNAME ARGS... -- starts c360d ($C360D) with ARGS; sets
# C360D_PID. The caller waits for readiness with t_wait_http.
t_start_c360d() {
    local name=$1; shift
    local -a wrap=()
    if [ "${C360_VALGRIND:-0}" = 1 ]; then
        # Workers are forked, not exec'd: memcheck follows them without
        # --trace-children. %p: one file per process.
        wrap=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
              --show-leak-kinds=definite --track-fds=no --log-file="$T_DIR/memcheck.$name.%p.txt")
    fi
    "${wrap[@]}" "$C360D" "$@" >"$T_DIR/$name.log" 2>&1 &
    C360D_PID=$!
    T_PIDS+=("$C360D_PID")
}

# t_http METHOD URL [curl args] -- prints "STATUS BODY" (body on one line).
t_http() {
    local method=$1 url=$2; shift 2
    local out
    out=$(curl -s -m 5 -X "$method" -o "$T_DIR/body" -w '%{http_code}' "$@" "$url" || true)
    echo "$out $(tr -d '\n' < "$T_DIR/body" 2>/dev/null)"
}

# t_api METHOD PATH [JSON] -- the admin API of the test's c360d ($URL) with
# its key ($OPKEY); sets CODE (the HTTP status) and BODY.
t_api() {
    local args=(-s -m 20 -o "$T_DIR/api.body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $OPKEY")
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    CODE=$(curl "${args[@]}" "$URL$2" || true)
    BODY=$(cat "$T_DIR/api.body" 2>/dev/null || true)
}

# t_api_want METHOD PATH JSON STATUS -- t_api, failing the test unless the
# answer has STATUS.
t_api_want() {
    t_api "$1" "$2" "${3:-}"
    [ "$CODE" = "$4" ] || t_fail "$1 $2: HTTP $CODE $BODY"
}

# t_opkey DATA_DIR -- prints the operator key c360d wrote on its first
# start (DATA_DIR/operator.key), waiting for it a little.
t_opkey() {
    local f=$1/operator.key
    for _ in $(seq 100); do [ -s "$f" ] && { head -n1 "$f"; return 0; }; sleep 0.05; done
    t_fail "no operator key in $f"
}

# t_wait_http URL STATUS [tries] -- waits until URL answers STATUS.
t_wait_http() {
    local url=$1 want=$2 tries=$(( ${3:-100} * T_SLOW )) got
    for _ in $(seq "$tries"); do
        got=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url" || true)
        [ "$got" = "$want" ] && return 0
        sleep 0.1
    done
    t_fail "$url: wanted $want, last got ${got:-nothing}"
}
