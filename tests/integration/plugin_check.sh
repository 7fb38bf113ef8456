#!/usr/bin/env bash
# plugin_check.sh -- c360-plugin-check against the bundled hello plugin:
#   1. a valid config: exit 0, the descriptor and a trace of every callback;
#   2. the same as --json: one JSON document that says ok;
#   3. invalid configs (--config and --config-file): exit 1, and the JSON
#      Pointer of each bad field is named in a problem line;
#   4. the default config {}: exit 1 (greeting is required);
#   5. a file that does not exist, and a file that is not a plugin: exit 1,
#      "refused: dlopen_failed";
#   6. usage errors: exit 2.
#
# Exact exit codes are checked, not just "non-zero": in a sanitizer build a
# leak or a UBSan report changes the code, and that must fail the test too.
#
# Env: C360_PLUGIN_CHECK (the tool), C360_BUILD_DIR (the CMake build
# directory, with the bundled plugins in plugins/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"

: "${C360_PLUGIN_CHECK:?set C360_PLUGIN_CHECK to the c360-plugin-check binary}"
: "${C360_BUILD_DIR:?set C360_BUILD_DIR to the CMake build directory}"

HELLO=$C360_BUILD_DIR/plugins/hello.so
[ -x "$C360_PLUGIN_CHECK" ] || t_fail "no executable $C360_PLUGIN_CHECK"
[ -f "$HELLO" ] || t_fail "no $HELLO (is the hello plugin built?)"

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
has valid "webhook_verify (GET handshake, connection URL):"
has valid "webhook_verify (POST without signature, app-level URL):"
has valid "-> reject (2): 401"                   # no x-hello-token: rejected
has valid "host.log[info] deliver lead rec_plugin_check_1"
has valid "instance_close:"
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
t_ok "usage errors: exit 2"

t_ok "c360-plugin-check"
