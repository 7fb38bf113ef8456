#!/usr/bin/env bash
# plugin_check.sh -- c360-plugin-check against the bundled hello plugin:
#   1. a valid config: exit 0, the descriptor and a trace of every callback
#      (hello's ABI 1.1 path, state_incr, included), and the info line that
#      its app-level URL answers 404 (it has no webhook_route);
#   2. the same as --json: one JSON document that says ok;
#   3. invalid configs (--config and --config-file): exit 1, and the JSON
#      Pointer of each bad field is named in a problem line;
#   4. the default config {}: exit 1 (greeting is required);
#   5. a file that does not exist, and a file that is not a plugin: exit 1,
#      "refused: dlopen_failed";
#   6. usage errors: exit 2;
# and against svc_user (tests/plugins/svcplugin.c), which uses every ABI 1.1
# service and the ABI 1.2 pipeline services of a polling source:
#   7. a good config: exit 0, every service call in the trace (1.2:
#      instance_route_keys in instance_open; record_emit and
#      connection_status in tick, with the records listed by type and id),
#      no secret, token, header value or record content in the output;
#   8. each misbehave mode (leak, wrong_free, block_in_verify, bad_record):
#      exit 1 with exactly the one matching problem -- a record the host
#      refuses is a problem, not a warning, because the plugin ignoring the
#      C360_EINVAL would lose it silently;
#   9. --http-status runs its error paths (401: token rejected, 503: retry,
#      connection reported failing) and still finds no problem.
#
# Exact exit codes are checked, not just "non-zero": in a sanitizer build a
# leak or a UBSan report changes the code, and that must fail the test too.
#
# Env: C360_PLUGIN_CHECK (the tool), C360_BUILD_DIR (the CMake build
# directory, with the bundled plugins in plugins/ and svc_user in
# tests/svcplugins/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"

: "${C360_PLUGIN_CHECK:?set C360_PLUGIN_CHECK to the c360-plugin-check binary}"
: "${C360_BUILD_DIR:?set C360_BUILD_DIR to the CMake build directory}"

HELLO=$C360_BUILD_DIR/plugins/hello.so
SVC=$C360_BUILD_DIR/tests/svcplugins/svc_user.so
[ -x "$C360_PLUGIN_CHECK" ] || t_fail "no executable $C360_PLUGIN_CHECK"
[ -f "$HELLO" ] || t_fail "no $HELLO (is the hello plugin built?)"
[ -f "$SVC" ] || t_fail "no $SVC (tests/plugins/CMakeLists.txt needs add_subdirectory(svc))"

GOOD='{"greeting":"Hello from the test","interval_s":30,"webhook_token":"0123456789abcdef"}'

# run NAME WANT_EXIT ARGS... -- runs the tool with ARGS, keeps stdout in
# $T_DIR/NAME.out and stderr in $T_DIR/NAME.err, and fails unless it exited
# with WANT_EXIT.
run() {
    local name=$1 want=$2 rc=0
    shift 2
    "$C360_PLUGIN_CHECK" "$@" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err" || rc=$?
    if [ "$rc" != "$want" ]; then
        echo "--- stdout" >&2; cat "$T_DIR/$name.out" >&2
        echo "--- stderr" >&2; cat "$T_DIR/$name.err" >&2
        t_fail "$name: exit $rc, want $want (c360-plugin-check $*)"
    fi
}

# has NAME TEXT -- fails unless the output of run NAME contains the line
# fragment TEXT (fixed string).
has() {
    grep -qF -- "$2" "$T_DIR/$1.out" || {
        cat "$T_DIR/$1.out" >&2
        t_fail "$1: output lacks: $2"
    }
}
lacks() {
    if grep -qF -- "$2" "$T_DIR/$1.out"; then
        cat "$T_DIR/$1.out" >&2
        t_fail "$1: output has: $2"
    fi
}

# --- 1. a valid config ---------------------------------------------------------
run valid 0 --config "$GOOD" "$HELLO"
has valid "name: hello"
has valid "abi: 1.0"
has valid "capabilities: 0x7 (source_tick, source_webhook, destination)"
has valid '"interval_s": {'                      # the schema, pretty-printed
has valid "host.log[info] Hello from the test"   # tick greeted, via host->log
has valid 'host.state_incr(key="greetings", delta=1) -> ok: 1'  # its 1.1 path
has valid "webhook_verify (GET handshake, connection URL):"
has valid "webhook_verify (POST without signature, app-level URL):"
has valid "-> reject (2): 401"                   # no x-hello-token: rejected
has valid "host.log[info] deliver lead rec_plugin_check_1"
has valid "instance_close:"
# ABI 1.2: hello has no webhook_route, so c360d's app-level URL is a 404 for
# it, and nothing is handed to webhook_route.
has valid "info: webhook_route: not offered: c360d answers 404 on the app-level URL /hooks/hello"
lacks valid "webhook_route (app-level URL):"
has valid "result: ok"
lacks valid "problem:"
t_ok "valid config: exit 0, every callback ran"

# --- 2. --json -------------------------------------------------------------------
run json 0 --json --config "$GOOD" "$HELLO"
has json '"ok": true'
has json '"name": "hello"'
has json '"problems": []'
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] is True' \
        <"$T_DIR/json.out" || t_fail "json: not one JSON document with ok=true"
fi
t_ok "--json: one document, ok"

# --- 3. invalid configs ------------------------------------------------------------
run invalid 1 --config '{"greeting":"hi","interval_s":5,"greting":"typo"}' "$HELLO"
has invalid "problem: validate_config: config /interval_s: must be between 10 and 86400"
has invalid "problem: validate_config: config /greting: unknown setting"
has invalid "instance_open: skipped"
has invalid "result: 2 problems"
t_ok "invalid config: exit 1, /interval_s and /greting named"

printf '%s' '{"greeting":"hi","webhook_token":"short"}' >"$T_DIR/bad-config.json"
run invalid_file 1 --config-file "$T_DIR/bad-config.json" "$HELLO"
has invalid_file "config error: /webhook_token:"
t_ok "invalid --config-file: exit 1, /webhook_token named"

# --- 4. the default config -------------------------------------------------------------
run default 1 "$HELLO"
has default "problem: validate_config: config /greeting: is required"
t_ok "default config {}: exit 1, /greeting is required"

# --- 5. not a plugin ---------------------------------------------------------------
run missing 1 "$T_DIR/no-such-plugin.so"
has missing "refused: dlopen_failed:"
t_ok "nonexistent file: exit 1, refused"

printf 'not an ELF file\n' >"$T_DIR/garbage.so"
run garbage 1 "$T_DIR/garbage.so"
has garbage "refused: dlopen_failed:"
t_ok "garbage file: exit 1, refused"

# --- 6. usage errors ------------------------------------------------------------------
run usage_none 2
run usage_both 2 --config '{}' --config-file "$T_DIR/bad-config.json" "$HELLO"
run usage_notobject 2 --config '[1]' "$HELLO"
run usage_option 2 --no-such-option "$HELLO"
run usage_status 2 --http-status 600 "$HELLO"
run usage_status_text 2 --http-status ok "$HELLO"
t_ok "usage errors: exit 2"

# --- 7. svc_user: every ABI 1.1 service --------------------------------------------
run svc 0 --config '{}' "$SVC"
has svc "name: svc_user"
has svc "capabilities: 0x5 (source_tick, destination)"
has svc 'host.oauth_exchange(grant="client_credentials", token_url="https://example.invalid/oauth/token"'
has svc 'host.state_set(key="cursor", len=6, ttl_ms=0) -> ok: version 1'
has svc 'host.state_get(key="cursor") -> ok: 6 bytes, version 1'
has svc 'host.free(ptr="heap buffer from state_get (tick)")'
has svc 'host.state_cas(key="cursor", len=6, expected=1, ttl_ms=0) -> ok: version 2'
has svc 'host.state_cas(key="cursor", len=6, expected=1, ttl_ms=0) -> conflict'
has svc 'host.state_cas(key="lock", len=1, expected=0, ttl_ms=30000) -> ok'
has svc 'host.state_incr(key="ticks", delta=1) -> ok: 1'
has svc 'host.state_incr(key="cursor", delta=1) -> invalid argument'
has svc 'host.state_delete(key="lock") -> ok: deleted'
has svc 'host.secret_put(name="signing_key", len=20) -> ok'
has svc 'host.secret_get(name="signing_key") -> ok: 20 bytes (value not shown)'
has svc 'host.secret_free(ptr="secret (guarded memory) from secret_get (tick)")'
has svc 'host.sha256(len=3)'
has svc 'host.hex_encode(len=32)'
has svc 'host.hmac_sha256(key_len=20, msg_len=7)'
has svc 'host.base64_encode(len=32, variant="urlsafe_nopad")'
has svc 'host.base64_decode(text_len=43, variant="urlsafe_nopad") -> ok: 32 bytes'
has svc 'host.ct_equal(len=32) -> equal'
has svc 'host.random_bytes(len=16)'
has svc 'host.ratelimit_take(scope="connection", bucket="api", limit=10, period_ms=1000, burst=0, cost=1) -> ok'
has svc 'host.oauth_token(grant="client_credentials"'
has svc 'host.secret_free(ptr="secret (guarded memory) from oauth_token (tick)")'
has svc 'host.http(method="GET", url="https://example.invalid/x", header_names=["accept", "authorization"], body_len=0) -> ok: status 200'
has svc 'host.ratelimit_feed_response(scope="connection", bucket="api", resp_status=200) -> ok'
has svc 'host.http_free(ptr="HTTP response from http (tick)")'
has svc 'host.audit(action="sync.tick", target="plugin-check-conn", outcome="ok") -> ok'
has svc "host.log[info] svc_user tick: every service kept its contract"
has svc 'host.http(method="POST", url="https://example.invalid/records", header_names=["content-type", "idempotency-key"], body_len=49)'
has svc 'host.ratelimit_report(scope="tenant", bucket="deliveries", usage_pct=10, pause_ms=0) -> ok'
has svc 'host.secret_delete(name="signing_key") -> ok: deleted'
# ABI 1.2: routing keys from instance_open (the duplicate ignored), one
# record and the connection's status from tick.
has svc 'host.instance_route_keys(count=3, keys=["svc:account:acct-1", "svc:account:acct-2", "svc:account:acct-1"]) -> ok: 2 keys registered for plugin-check-conn (1 duplicate ignored), replacing 0'
has svc "routing keys registered: 2: svc:account:acct-1, svc:account:acct-2"
has svc "info: instance_open: registered routing keys, but the plugin has no webhook_route"
has svc 'host.record_emit(type="sync_page", id="page-2", json_len=39) -> ok: record 1 of this call'
has svc "records: 1 emitted, 39 bytes (sync_page x1)"
has svc "    sync_page page-2 (39 bytes)"
has svc 'host.connection_status(state="active", cause="last sync ok") -> ok: plugin-check-conn is now active'
has svc 'connection status: active ("last sync ok")'
has svc "result: ok, 0 warnings"
lacks svc "problem:"
# Secrets, tokens and header values never reach the output.
lacks svc "svc-user-signing-key"
lacks svc "not-a-real-client-secret"
lacks svc "c360-plugin-check-token"
lacks svc "Bearer"
# A record's JSON is customer data: only its size is shown.
lacks svc '"source":"svc_user"'
t_ok "svc_user: exit 0, every service in the trace, no secret shown"

run svc_json 0 --json --config '{}' "$SVC"
has svc_json '"ok": true'
has svc_json '"problems": []'
has svc_json '"fn": "secret_get"'
has svc_json '"fn": "record_emit"'
has svc_json '"fn": "instance_route_keys"'
has svc_json '"record_count": 1'
lacks svc_json "svc-user-signing-key"
lacks svc_json '\"source\":\"svc_user\"'   # the record's JSON, escaped
t_ok "svc_user --json: ok"

# --- 8. one mistake each --------------------------------------------------------------
run svc_leak 1 --config '{"misbehave":"leak"}' "$SVC"
has svc_leak "problem: plugin leaked 1 host buffer: state_get x1 (tick, release with host->free)"
has svc_leak "result: 1 problem"
t_ok "misbehave leak: exit 1, the leaked state_get buffer named"

run svc_wrong_free 1 --config '{"misbehave":"wrong_free"}' "$SVC"
has svc_wrong_free "problem: tick: host.free was given a secret (guarded memory) from secret_get (handed out in tick); release it with host->secret_free"
has svc_wrong_free "result: 1 problem"
t_ok "misbehave wrong_free: exit 1, the secret released with host->free named"

run svc_block 1 --config '{"misbehave":"block_in_verify"}' "$SVC"
has svc_block 'host.state_get(key="cursor") -> denied by policy'
has svc_block "problem: validate_config called blocking service state_get"
has svc_block "result: 1 problem"
t_ok "misbehave block_in_verify: exit 1, refused with C360_EDENIED and named"

run svc_bad_record 1 --config '{"misbehave":"bad_record"}' "$SVC"
has svc_bad_record 'host.record_emit(type="sync_page", id="page-2", json_len=10) -> invalid argument: json must be a JSON object, not an array'
has svc_bad_record "records: none emitted, 1 refused"
has svc_bad_record "problem: tick: host.record_emit: json must be a JSON object, not an array (C360_EINVAL)"
has svc_bad_record "result: 1 problem"
lacks svc_bad_record '["page-2"]'
t_ok "misbehave bad_record: exit 1, the refused record is a problem"

run svc_badmode 1 --config '{"misbehave":"explode"}' "$SVC"
has svc_badmode "problem: validate_config: config /misbehave:"
t_ok "unknown misbehave mode: exit 1, /misbehave named"

# --- 9. HTTP error paths -----------------------------------------------------------
run svc_503 0 --http-status 503 "$SVC"
has svc_503 "status 503, 2 bytes of body (canned: no network call)"
has svc_503 "-> retry later (1), retry after 30000 ms"
has svc_503 "error: provider answered 503"
has svc_503 'host.connection_status(state="failing", cause="last sync failed") -> ok'
lacks svc_503 "records:"                       # the tick fetched nothing
lacks svc_503 "problem:"
t_ok "--http-status 503: tick and deliver retry, no problem"

run svc_401 0 --http-status 401 "$SVC"
has svc_401 'host.oauth_token_rejected(token_name="default", reason="http 401") -> ok'
has svc_401 "error: token rejected; retrying with a newer one"
lacks svc_401 "problem:"
t_ok "--http-status 401: token rejected, retried, no problem"

t_ok "c360-plugin-check"
