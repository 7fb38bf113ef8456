#!/usr/bin/env bash
# abuse_http.sh -- c360d's one listener (webhooks, admin API, probes and
# /metrics share it) against hostile clients, in its two forms: plain HTTP
# and HTTPS (two c360d on one Redis). c360d must never crash, must answer
# or close, and must keep serving real requests with normal latency:
#
#   1. slow-loris: 300 connections sending a header a byte every 300 ms
#      (which resets the idle timeout for ever) are closed by the request
#      deadline (http.request_timeout_s), while /healthz keeps its latency;
#      the same over TLS with a ClientHello that never completes
#   2. 3000 idle connections held open: the server keeps answering, its
#      descriptors go back to where they were once they are gone
#   3. the connection cap (http.max_connections) on the TLS listener: the
#      excess waits in the backlog and is served once slots free; the
#      descriptor count never passes the cap
#   4. oversized request line, headers, header count and bodies (declared
#      and chunked): bounded 4xx answers (libevent answers some in HTML);
#      for a body, a 413 or a reset mid-upload, nothing stored, the
#      listener still answering
#   5. malformed HTTP: garbage request lines, invalid methods and
#      versions, NUL bytes, broken chunked encoding, conflicting lengths,
#      random bytes: an error answer or a close, never a crash
#   6. no sanitizer report, clean shutdown of both
# The admin API's brute-force protection is in admin_http.sh.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}"
ABUSE=$C360_BUILD_DIR/tests/tools/c360-abuse
[ -x "$ABUSE" ] || t_fail "missing $ABUSE (build the tree first)"
command -v openssl >/dev/null || t_fail "openssl is not installed"
T_START=$SECONDS
N_LORIS=300 N_HELD=3000 TLS_CAP=200 N_OVERCAP=250
# The client needs a descriptor per held connection.
[ "$(ulimit -n)" -ge $((N_HELD + 200)) ] || ulimit -n $((N_HELD + 200)) 2>/dev/null ||
    N_HELD=$(( $(ulimit -n) - 200 ))

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" >/dev/null 2>&1 || t_fail "openssl req"
RPORT=$(t_free_port)
t_start_redis "$RPORT"
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# config NAME PORT HTTP_EXTRA -- a c360d config with a short request
# deadline and small limits, so that the test sees them quickly.
config() {
    cat >"$T_DIR/$1.json" <<JSON
{"listen":"127.0.0.1:$2","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$C360_BUILD_DIR/tests/pipeline-plugins"],
 "data_dir":"$T_DIR/data-$1","log_level":"info","shutdown_timeout_ms":2000,
 "http":{"request_timeout_s":2,"timeout_s":5,"max_header_bytes":8192,"max_body_bytes":65536$3},
 "pipeline":{"workers":0}}
JSON
}
PORT=$(t_free_port)
TPORT=$(t_free_port)
config plain "$PORT" ""
config tls "$TPORT" ",\"max_connections\":$TLS_CAP,\"tls_cert_file\":\"$T_DIR/cert.pem\",\"tls_key_file\":\"$T_DIR/key.pem\""
t_start_c360d c360d-plain --config "$T_DIR/plain.json"
PLAIN_PID=$C360D_PID
t_start_c360d c360d-tls --config "$T_DIR/tls.json"
TLS_PID=$C360D_PID
URL=http://127.0.0.1:$PORT
TURL=https://127.0.0.1:$TPORT
C=(--cacert "$T_DIR/cert.pem")
t_wait_http "$URL/readyz" 200 150
for _ in $(seq 150); do
    [ "$(curl -s -m 2 "${C[@]}" -o /dev/null -w '%{http_code}' "$TURL/readyz")" = 200 ] && break
    sleep 0.1
done

fds() { ls "/proc/$1/fd" | wc -l; }
alive() {
    kill -0 "$PLAIN_PID" 2>/dev/null || t_fail "c360d (plain) died"
    kill -0 "$TLS_PID" 2>/dev/null || t_fail "c360d (TLS) died"
    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] || t_fail "plain /healthz after $1"
    [ "$(curl -s -m 5 "${C[@]}" -o /dev/null -w '%{http_code}' "$TURL/healthz")" = 200 ] ||
        t_fail "TLS /healthz after $1"
}
# field LINE NAME -- the number after NAME in a c360-abuse result line.
field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$1"; }
# fds_back PID BASE -- waits until PID has at most BASE + 8 descriptors.
fds_back() {
    local n
    for _ in $(seq 50); do n=$(fds "$1"); [ "$n" -le $(($2 + 8)) ] && return 0; sleep 0.1; done
    t_fail "descriptors of $1: $n, were $2 before (a leak)"
}
alive start
FD0=$(fds "$PLAIN_PID")
TFD0=$(fds "$TLS_PID")
BASE=$("$ABUSE" lat "$PORT" 50)
t_ok "two listeners up: plain $PORT ($FD0 fds), TLS $TPORT ($TFD0 fds); /healthz alone: $BASE"

# --- 1. slow-loris ------------------------------------------------------------------------------------
"$ABUSE" hold "$PORT" "$N_LORIS" 8 300 http >"$T_DIR/loris" 2>&1 &
LP=$!
for _ in $(seq 100); do grep -q '^established' "$T_DIR/loris" && break; sleep 0.05; done
grep -q "^established $N_LORIS" "$T_DIR/loris" || t_fail "slow-loris: $(cat "$T_DIR/loris")"
UNDER=$("$ABUSE" lat "$PORT" 100)
wait "$LP" || t_fail "slow-loris client: $(cat "$T_DIR/loris")"
R=$(tail -n 1 "$T_DIR/loris")
[ "$(field "$R" closed)" = "$N_LORIS" ] || t_fail "slow-loris connections not all closed by the server: $R"
[ "$(field "$R" first_close_ms)" -ge 1800 ] && [ "$(field "$R" last_close_ms)" -le 4500 ] ||
    t_fail "slow-loris closes outside [request_timeout_s, +2.5 s]: $R"
# Normal latency: the loop is never blocked by the attack (a blocked loop
# shows as the 2 s deadline or a 5 s timeout for most requests). Loose
# bounds on p50 and p90: this machine is shared with other tests, whose
# load shows in the tail.
[ "$(field "$UNDER" ok)" = 100 ] && [ "$(field "$UNDER" p50_ms)" -le 100 ] &&
    [ "$(field "$UNDER" p90_ms)" -le 500 ] ||
    t_fail "/healthz under slow-loris: $UNDER"
fds_back "$PLAIN_PID" "$FD0"
t_ok "1. slow-loris: $N_LORIS connections trickling a header byte every 300 ms: $R; /healthz meanwhile: $UNDER"

"$ABUSE" hold "$TPORT" 100 8 300 tls >"$T_DIR/tloris" 2>&1 || t_fail "TLS slow-loris client: $(cat "$T_DIR/tloris")"
R=$(tail -n 1 "$T_DIR/tloris")
[ "$(field "$R" closed)" = 100 ] && [ "$(field "$R" last_close_ms)" -le 4500 ] ||
    t_fail "TLS slow-loris (ClientHello a byte at a time) not closed by the deadline: $R"
fds_back "$TLS_PID" "$TFD0"
t_ok "1. TLS slow-loris: 100 never-ending ClientHellos: $R"

# --- 2. thousands of connections held open --------------------------------------------------------
"$ABUSE" hold "$PORT" "$N_HELD" 8 >"$T_DIR/held" 2>&1 &
HP=$!
for _ in $(seq 200); do grep -q '^established' "$T_DIR/held" && break; sleep 0.05; done
grep -q "^established $N_HELD" "$T_DIR/held" || t_fail "held: $(cat "$T_DIR/held")"
# "established" is the client's view: the kernel finished the handshakes,
# and up to the listen backlog (2048) may still wait for c360d's accept,
# which on a loaded machine takes a moment. Wait for the server to hold
# them (the client keeps them open for 8 s).
PEAK=0
for _ in $(seq 60); do
    PEAK=$(fds "$PLAIN_PID")
    [ "$PEAK" -ge $((FD0 + N_HELD - 50)) ] && break
    sleep 0.05
done
UNDER=$("$ABUSE" lat "$PORT" 50)
M=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/metrics")
wait "$HP" || t_fail "held client: $(cat "$T_DIR/held")"
R=$(tail -n 1 "$T_DIR/held")
[ "$PEAK" -ge $((FD0 + N_HELD - 50)) ] || t_fail "the server did not hold the connections: $PEAK fds"
[ "$(field "$UNDER" ok)" = 50 ] && [ "$(field "$UNDER" p50_ms)" -le 100 ] &&
    [ "$(field "$UNDER" p90_ms)" -le 500 ] && [ "$M" = 200 ] ||
    t_fail "requests while $N_HELD connections are held: $UNDER, /metrics $M"
[ "$(field "$R" closed)" = "$N_HELD" ] || t_fail "idle connections were not closed by the server: $R"
fds_back "$PLAIN_PID" "$FD0"
t_ok "2. $N_HELD idle connections held (server at $PEAK fds): /healthz $UNDER, /metrics 200; all closed by the server ($R); fds back to $(fds "$PLAIN_PID") (were $FD0)"

# --- 3. the connection cap (TLS listener) -------------------------------------------------------------
"$ABUSE" hold "$TPORT" "$N_OVERCAP" 10 >"$T_DIR/cap" 2>&1 &
CP=$!
for _ in $(seq 100); do grep -q '^established' "$T_DIR/cap" && break; sleep 0.05; done
sleep 0.3
CPEAK=$(fds "$TLS_PID")
T0=$(date +%s%3N)
code=$(curl -s -m 8 "${C[@]}" -o /dev/null -w '%{http_code}' "$TURL/healthz" || true)
WAITED=$(( $(date +%s%3N) - T0 ))
wait "$CP" || t_fail "cap client: $(cat "$T_DIR/cap")"
R=$(tail -n 1 "$T_DIR/cap")
[ "$CPEAK" -le $((TFD0 + TLS_CAP + 8)) ] || t_fail "the TLS server holds $CPEAK fds, over the cap $TLS_CAP (+$TFD0)"
[ "$code" = 200 ] || t_fail "a request while at the cap: $code after $WAITED ms"
[ "$(field "$R" closed)" = "$N_OVERCAP" ] || t_fail "connections over the cap were never served: $R"
grep -q 'connection limit reached' "$T_DIR/c360d-tls.log" || t_fail "no log line for the cap"
fds_back "$TLS_PID" "$TFD0"
t_ok "3. cap $TLS_CAP on the TLS listener, $N_OVERCAP connections: server at most $CPEAK fds; a request waited $WAITED ms for a slot, then 200; the excess served after ($R)"
alive "held connections"

# --- 4. oversized -------------------------------------------------------------------------------------
# status METHOD URL [curl args] -- the status curl saw ("000": closed).
status() { curl -s -m 10 -o "$T_DIR/obody" -w '%{http_code}' -X "$@" || true; }
is4xx() { [[ $2 == 4?? ]] || t_fail "$1: HTTP $2 $(head -c 200 "$T_DIR/obody")"; }
big() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }
# stored -- what a request could have stored: every stream (events, dead
# letters, audit...) with its length, and how many tenant keys there are.
stored() {
    local k
    redis-cli -p "$RPORT" --scan --type stream | sort | while read -r k; do
        echo "$k:$(redis-cli -p "$RPORT" XLEN "$k")"
    done
    echo "tenant keys: $(redis-cli -p "$RPORT" --scan --pattern 'c360:{t:*' | wc -l)"
}
# oversize NAME BASE_URL METHOD URL [curl args] -- a body over
# max_body_bytes is refused with 413 -- or, when the server has answered
# 413 and closed before curl finished sending (a race the TLS listener
# lost once: curl saw a reset and reported 000), with the connection
# reset or closed by the server mid-upload: curl exit 52 (nothing
# received), 55 (send failed) or 56 (receive failed), no status. Not a
# timeout, a refused connection or any other answer. Either way nothing
# is stored and the listener answers the next request.
N_UPLOAD_RESETS=0
oversize() {
    local name=$1 base=$2 before code rc=0
    shift 2
    before=$(stored)
    code=$(curl -sS -m 10 -o "$T_DIR/obody" -w '%{http_code}' -X "$@" 2>"$T_DIR/oerr") || rc=$?
    if [ "$code" = 413 ]; then
        :
    elif [ "$code" = 000 ] && [[ $rc == 52 || $rc == 55 || $rc == 56 ]]; then
        N_UPLOAD_RESETS=$((N_UPLOAD_RESETS + 1))
        echo "  $name: closed mid-upload (curl exit $rc: $(head -c 120 "$T_DIR/oerr"))"
    else
        t_fail "$name: HTTP $code, curl exit $rc $(head -c 200 "$T_DIR/oerr") $(head -c 200 "$T_DIR/obody")"
    fi
    code=$(curl -s -m 5 "${C[@]}" -o /dev/null -w '%{http_code}' "$base/healthz" || true)
    [ "$code" = 200 ] || t_fail "$name: the next request (/healthz) got $code"
    [ "$(stored)" = "$before" ] || t_fail "$name: something was stored: $(diff <(echo "$before") <(stored) | head -5)"
}
for u in "$URL" "$TURL"; do
    is4xx "long request line $u" "$(status GET "$u/$(big 20000)" "${C[@]}")"
    is4xx "long path $u" "$(status GET "$u/hooks/tsrc/$(big 300)" "${C[@]}")"
    is4xx "big header $u" "$(status GET "$u/healthz" "${C[@]}" -H "X-Big: $(big 9000)")"
    H=(); for i in $(seq 120); do H+=(-H "X-H$i: v"); done
    is4xx "120 small headers on a webhook $u" "$(status POST "$u/hooks/tsrc/c1" "${C[@]}" "${H[@]}" -d x)"
    big 70000 >"$T_DIR/bigbody"
    oversize "body over max_body_bytes $u" "$u" POST "$u/hooks/tsrc/c1" "${C[@]}" \
        --data-binary @"$T_DIR/bigbody"
    oversize "chunked body over max_body_bytes $u" "$u" POST "$u/v1/tenants" "${C[@]}" \
        -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary @"$T_DIR/bigbody"
done
# A declared length far over the limit is refused before the body comes.
R=$(printf 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n' | "$ABUSE" send "$PORT" 2000)
[[ $R == "HTTP/1.1 4"* ]] || t_fail "a 100 GB Content-Length: $R"
alive "oversized requests"
t_ok "4. oversized request line, path, header, header count, body (declared, chunked, 100 GB announced) on both listeners: 4xx ($N_UPLOAD_RESETS oversized uploads closed by the server before an answer was read), nothing stored"

# --- 5. malformed HTTP --------------------------------------------------------------------------------
# raw NAME PRINTF_FORMAT -- sends the bytes to the plain listener; the
# answer must be an HTTP error status or a close (some need the idle
# timeout first: "silent" within 1.5 s is accepted only where the input
# is a request still incomplete by the rules, marked "wait").
N_RAW=0
raw() {
    local name=$1 fmt=$2 ok=${3:-}
    local r
    # shellcheck disable=SC2059
    r=$(printf "$fmt" | "$ABUSE" send "$PORT" 1500)
    N_RAW=$((N_RAW + 1))
    case $r in
        "HTTP/1."[01]" "[45]??*|closed) ;;
        silent) [ "$ok" = wait ] || t_fail "malformed ($name): no answer within 1.5 s" ;;
        "HTTP/1.1 200"*) [ "$ok" = 200ok ] || t_fail "malformed ($name): accepted: $r" ;;
        *) t_fail "malformed ($name): $r" ;;
    esac
    echo "  $name: $r"
}
raw "garbage request line" 'GARBAGE\r\n\r\n'
raw "method only" 'GET\r\n\r\n'
raw "no version" 'GET /healthz\r\n\r\n'
raw "bad version" 'GET /healthz HTTP/9.9\r\n\r\n'
raw "version garbage" 'GET /healthz HTTX/1.1\r\n\r\n'
raw "unknown method" 'BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
raw "OPTIONS" 'OPTIONS /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
raw "TRACE" 'TRACE / HTTP/1.1\r\nHost: x\r\n\r\n'
raw "CONNECT" 'CONNECT 127.0.0.1:6379 HTTP/1.1\r\nHost: x\r\n\r\n'
raw "lower-case method" 'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
raw "NUL in the path" 'GET /heal\0thz HTTP/1.1\r\nHost: x\r\n\r\n'
raw "NUL in a header" 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n' 200ok
raw "NUL in a header name" 'GET /healthz HTTP/1.1\r\nHost: x\r\nX\0A: ab\r\n\r\n' 200ok
raw "header without colon" 'GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n'
raw "folded header" 'GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n' 200ok
raw "absolute URI elsewhere" 'GET http://169.254.169.254/latest HTTP/1.1\r\nHost: x\r\n\r\n'
raw "bad chunk size" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n'
raw "chunk size overflow" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n'
raw "negative chunk" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n'
raw "chunk longer than said" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n' wait
raw "unknown transfer-encoding" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc' wait
raw "negative length" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabc'
raw "length not a number" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\nabc'
raw "two lengths" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc' wait
raw "length and chunked" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
raw "truncated body" 'POST /hooks/tsrc/c1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc' wait
raw "bare LF lines" 'GET /healthz HTTP/1.1\nHost: x\n\n' 200ok
raw "CR only" 'GET /healthz HTTP/1.1\rHost: x\r\r' wait
raw "control bytes in path" 'GET /\x01\x02\x7f HTTP/1.1\r\nHost: x\r\n\r\n'
raw "percent garbage" 'GET /hooks/%%zz/%%00 HTTP/1.1\r\nHost: x\r\n\r\n'
raw "bad request id" 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: \xff\xfe<script>\r\n\r\n' 200ok
raw "TLS to the plain port" '\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00' wait
for i in 1 2 3; do
    R=$(head -c 4096 /dev/urandom | "$ABUSE" send "$PORT" 1500)
    case $R in "HTTP/1."[01]" "[45]??*|closed|silent) ;; *) t_fail "random bytes: $R" ;; esac
    N_RAW=$((N_RAW + 1))
done
# 50 requests pipelined in one write: all answered, in order.
R=$("$ABUSE" pipe "$PORT" 50)
[ "$R" = "ok 50 of 50" ] || t_fail "50 pipelined requests: $R"
# The same garbage over TLS: curl speaks TLS, so raw sockets are not needed.
code=$(status OPTIONS "$TURL/healthz" "${C[@]}")
[ "$code" = 501 ] || t_fail "TLS: OPTIONS: $code"
code=$(status GET "$TURL/healthz" "${C[@]}" -H 'Transfer-Encoding: chunked' -H 'Content-Length: 5')
[[ $code == 4?? || $code == 200 ]] || t_fail "TLS: length and chunked: $code"
alive "malformed requests"
t_ok "5. $N_RAW malformed requests (request lines, methods, NUL bytes, chunked encoding, lengths, random bytes): error answers or closes; 50 pipelined requests answered"

# --- 6. no sanitizer report, clean shutdown ----------------------------------------------------------
for pid in "$PLAIN_PID" "$TLS_PID"; do
    kill -TERM "$pid"
    rc=0; wait "$pid" || rc=$?
    [ "$rc" = 0 ] || t_fail "c360d $pid exit $rc"
done
t_sanitizers_clean
t_ok "6. both c360d stopped cleanly, no sanitizer report; abuse_http in $((SECONDS - T_START)) s"
