#!/usr/bin/env bash
# ctl.sh -- c360ctl against a real c360d and redis-server: the first-start
# operator key, tenants, plugins per tenant, tenant keys, a connection from
# a JSON file (validate, create, list, pause, resume, sync, update), status
# and logs, a secret from stdin that never shows in any output, routes,
# notifications, data-subject requests, dead letters and replay, the audit
# chain, deletion, and the exit codes of usage (2), API (1), network and
# TLS (3) and local (4) errors. c360d listens with TLS: c360ctl checks its
# certificate with --cacert (or "cacert" in the config file).
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360CTL:?}" "${C360_BUILD_DIR:?}"
command -v openssl >/dev/null || t_fail "openssl is not installed (scripts/deps installs it)"

# No config file or key from the environment of whoever runs the test.
unset C360_URL C360_KEY C360_KEY_FILE C360_CONFIG C360_CACERT C360_TIMEOUT
export HOME="$T_DIR/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"

OUT="$T_DIR/out" ERR="$T_DIR/err" ALL="$T_DIR/all-output"
# ctl ARGS... -- runs c360ctl; rc in $rc, stdout in $OUT, stderr in $ERR;
# both are also appended to $ALL, where the secret must never appear.
# stdout is not a terminal, so --json prints compact JSON: grep reads it.
ctl() {
    rc=0
    "$C360CTL" "$@" >"$OUT" 2>"$ERR" || rc=$?
    { echo "## c360ctl $*"; cat "$OUT" "$ERR"; } >>"$ALL"
}
# want RC WHAT -- fails with the output unless the last ctl exited RC.
want() {
    [ "$rc" = "$1" ] && return 0
    t_fail "$2: exit $rc, want $1
stdout: $(cat "$OUT")
stderr: $(cat "$ERR")"
}
out_has() { grep -q -- "$1" "$OUT" || t_fail "$2: stdout lacks '$1': $(cat "$OUT")"; }
err_has() { grep -q -- "$1" "$ERR" || t_fail "$2: stderr lacks '$1': $(cat "$ERR")"; }

# --- without a server -----------------------------------------------------------
ctl --version; want 0 "--version"
grep -Eq '^c360ctl [0-9]+\.[0-9]+\.[0-9]+$' "$OUT" || t_fail "--version: $(cat "$OUT")"
ctl --help; want 0 "--help"
for w in tenants plugins keys conns secrets routes status logs oauth dlq replay audit notify dsr \
         me --key-file --url --json 'Exit codes'; do
    out_has "$w" "--help"
done
ctl conns create --help; want 0 "command help"
out_has "usage: c360ctl conns create" "command help"
ctl help secrets; want 0 "help GROUP"
out_has "secrets put" "help GROUP"
ctl; want 2 "no command"
ctl frobnicate; want 2 "unknown command"
ctl tenants; want 2 "group without subcommand"
err_has "tenants list" "group help on a missing subcommand"
ctl tenants list --bogus; want 2 "unknown option"
ctl tenants get; want 2 "missing argument"
err_has "usage: c360ctl tenants get" "usage line"
ctl tenants list --key c360k_0123456789abcdef_notakey; want 2 "--key refused"
err_has "shell history" "--key refusal says why"
grep -q c360k_0123456789abcdef_notakey "$ERR" && t_fail "--key refusal echoes the key"
ctl --url ftp://x me; want 2 "bad URL"
ctl me --url http://127.0.0.1:1; want 2 "no key configured"
err_has "--key-file" "no key message"
ctl me --key-file "$T_DIR/nonexistent"; want 4 "key file unreadable"
mkdir -p "$HOME/.config/c360"
echo '{"url":' > "$HOME/.config/c360/ctl.json"
ctl me; want 4 "bad config file"
rm "$HOME/.config/c360/ctl.json"
NOPORT=$(t_free_port)
echo "c360k_0000000000000000_nothing" > "$T_DIR/fake.key"
ctl me --url "http://127.0.0.1:$NOPORT" --key-file "$T_DIR/fake.key"; want 3 "connection refused"
err_has "request id: ctl-" "network error with the request id"
t_ok "command line, help, usage (2), local (4) and network (3) errors"

# --- c360d ----------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$T_DIR/tls.key" -out "$T_DIR/tls.crt" >/dev/null 2>&1 || t_fail "openssl req"
RPORT=$(t_free_port)
t_start_redis "$RPORT"
PORT=$(t_free_port)
cat > "$T_DIR/c360.json" <<JSON
{"listen":"127.0.0.1:$PORT","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$C360_BUILD_DIR/plugins"],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":2000,
 "http":{"tls_cert_file":"$T_DIR/tls.crt","tls_key_file":"$T_DIR/tls.key"}}
JSON
C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_MASTER_KEY
t_start_c360d c360d --config "$T_DIR/c360.json"
URL=https://127.0.0.1:$PORT
for _ in $(seq 100); do
    [ "$(curl -s -m 2 --cacert "$T_DIR/tls.crt" -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
    sleep 0.1
done
[ "$(curl -s -m 2 --cacert "$T_DIR/tls.crt" -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] ||
    t_fail "c360d not ready on $URL"

# The first start writes the operator key to a 0600 file and logs its path.
KEYFILE=
for _ in $(seq 100); do
    KEYFILE=$(grep -o '"msg":"operator key written[^}]*' "$T_DIR/c360d.log" |
              grep -o '"file":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
    [ -z "$KEYFILE" ] && [ -s "$T_DIR/data/operator.key" ] && KEYFILE=$T_DIR/data/operator.key
    [ -n "$KEYFILE" ] && [ -s "$KEYFILE" ] && break
    sleep 0.1
done
[ -n "$KEYFILE" ] && [ -s "$KEYFILE" ] || t_fail "no operator key file (log: operator key written)"
grep -q "\"msg\":\"operator key written.*$KEYFILE" "$T_DIR/c360d.log" || t_fail "the log does not name $KEYFILE"
[ "$(stat -c %a "$KEYFILE")" = 600 ] || t_fail "operator key file mode $(stat -c %a "$KEYFILE")"
grep -q "$(cat "$KEYFILE")" "$T_DIR/c360d.log" && t_fail "the operator key is in the log"
# The settings from a config file, the key from the environment.
echo "{\"url\":\"$URL\",\"cacert\":\"$T_DIR/tls.crt\"}" > "$HOME/.config/c360/ctl.json"
echo "{\"url\":\"$URL\"}" > "$T_DIR/nocert.json"
export C360_KEY_FILE=$KEYFILE

ctl --config "$T_DIR/nocert.json" me; want 3 "self-signed certificate without --cacert"
err_has "request id: ctl-" "TLS error with the request id"
ctl --config "$T_DIR/nocert.json" --cacert "$T_DIR/tls.crt" me; want 0 "--cacert"
ctl --cacert "$T_DIR/nonexistent.pem" me; want 4 "missing CA file"

ctl me; want 0 "me"
out_has "operator" "me shows the role"
ctl --json me; want 0 "me --json"
out_has '"role":"operator"' "me --json"
ctl plugins list; want 0 "plugins list"
out_has "hello" "plugins list"
out_has "NAME" "plugins list header"
t_ok "operator key from the first start; me; plugins"

# --- tenants ----------------------------------------------------------------------
ctl tenants create acme --name "Acme Inc" --retention-days 30; want 0 "tenants create"
out_has "Acme Inc" "tenants create shows the tenant"
ctl tenants create acme --name "Again"; want 1 "duplicate tenant"
err_has "error 409" "duplicate: status"
err_has "request id: " "API error with the request id"
ctl tenants create 'bad id!' --name x; want 1 "bad tenant id"
err_has "error 4" "bad tenant id: 4xx"
ctl tenants list; want 0 "tenants list"
out_has "acme" "tenants list"
out_has "ID" "tenants list header"
ctl --json tenants get acme; want 0 "tenants get"
out_has '"name":"Acme Inc"' "tenants get"
out_has '"retention_days":30' "tenants get"
ver=$(grep -o '"version":[0-9]*' "$OUT" | cut -d: -f2)
ctl tenants update acme --name "Acme" --version 999999; want 1 "stale version"
err_has "409" "stale version: 409"
ctl tenants update acme --name "Acme" --version "$ver"; want 0 "tenants update"
for t in b1 b2 b3; do ctl tenants create "$t" --name "$t"; want 0 "tenant $t"; done
ctl tenants list --limit 2; want 0 "one page"
[ "$(grep -c . "$OUT")" = 3 ] || t_fail "one page of 2 + header: $(cat "$OUT")"
err_has "--all" "more pages hint"
ctl --json tenants list --limit 1 --all; want 0 "every page"
[ "$(grep -o '"id":"[^"]*"' "$OUT" | wc -l)" = 4 ] || t_fail "--all: $(cat "$OUT")"
for t in b1 b2 b3; do ctl tenants delete "$t" --yes; want 0 "delete $t"; done
t_ok "tenants: create, duplicate (409), list, paging, get, update with version"

# --- plugins per tenant, tenant keys ------------------------------------------------
ctl plugins enable hello --tenant acme --max-connections 5; want 0 "plugins enable"
ctl plugins list --tenant acme; want 0 "tenant plugins"
out_has "hello" "tenant plugins list"
ctl keys create --name ci --role tenant_admin --tenant acme --out-file "$T_DIR/acme.key"
want 0 "keys create --out-file"
[ "$(stat -c %a "$T_DIR/acme.key")" = 600 ] || t_fail "tenant key file mode"
grep -q "$(cat "$T_DIR/acme.key")" "$OUT" "$ERR" && t_fail "--out-file key also printed"
ctl keys create --name view --role tenant_viewer --tenant acme; want 0 "keys create"
out_has "key: c360k_" "the key is printed once"
err_has "only once" "the warning to store it"
VIEWKEY=$(grep -o 'c360k_[A-Za-z0-9_-]*' "$OUT")
ctl keys list --tenant acme; want 0 "keys list"
out_has "ci" "keys list"
grep -q "$(cat "$T_DIR/acme.key")" "$OUT" && t_fail "keys list shows a key text"
ctl keys create --name x --role tenant_admin; want 2 "tenant key without --tenant"
t_ok "plugins enabled per tenant; tenant keys (file 0600, printed once)"

# From here on, the tenant's own admin key.
export C360_KEY_FILE=$T_DIR/acme.key
ctl me; want 0 "tenant me"
out_has "acme" "tenant key's tenant"
cp "$T_DIR/acme.key" "$T_DIR/open.key" && chmod 644 "$T_DIR/open.key"
ctl me --key-file "$T_DIR/open.key"; want 0 "key file readable by others"
err_has "chmod 600" "warning on a key file others can read"
ctl tenants list; want 1 "tenant admin lists tenants"
err_has "403" "forbidden"
ctl conns list --tenant other; want 1 "other tenant"
err_has "403" "forbidden tenant"
C360_KEY=$VIEWKEY ctl conns list --tenant acme; want 0 "viewer key from C360_KEY"
echo "c360k_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" > "$T_DIR/bad.key"
ctl me --key-file "$T_DIR/bad.key"; want 1 "unknown key"
err_has "401" "unknown key: 401"
err_has "hint" "401 hint"

# --- connections ------------------------------------------------------------------
cat > "$T_DIR/conn.json" <<'JSON'
{"id":"hello1","plugin":"hello","name":"Greeter","config":{"greeting":"hi"},"interval_s":60}
JSON
echo '{"plugin":"hello","name":"Bad","config":{"greeting":5}}' > "$T_DIR/bad-conn.json"
ctl conns validate --tenant acme --file "$T_DIR/conn.json"; want 0 "validate good"
out_has "valid" "validate good"
ctl conns validate --tenant acme --file "$T_DIR/bad-conn.json"; want 1 "validate bad"
err_has "/config/greeting" "field-by-field errors"
ctl conns validate --tenant acme --file "$T_DIR/nonexistent.json"; want 4 "unreadable file"
echo '{"plugin":' > "$T_DIR/broken.json"
ctl conns validate --tenant acme --file "$T_DIR/broken.json"; want 4 "file not JSON"
ctl conns create --tenant acme --file "$T_DIR/bad-conn.json"; want 1 "create bad"
ctl conns create --tenant acme --file "$T_DIR/conn.json"; want 0 "conns create"
out_has "hello1" "conns create shows it"
out_has "webhook_url" "the webhook URL is part of it"
ctl conns create --tenant acme --file - --id hello2 --name Second < "$T_DIR/conn.json"
want 0 "conns create from stdin with overrides"
ctl conns list --tenant acme; want 0 "conns list"
out_has "hello1" "conns list"
out_has "hello2" "conns list"
out_has "STATE" "conns list header"
ctl --json conns get hello1 --tenant acme; want 0 "conns get"
out_has '"plugin":"hello","name":"Greeter"' "conns get"
ctl conns pause hello1 --tenant acme; want 0 "pause"
ctl --json conns get hello1 --tenant acme
out_has '"state":"paused"' "paused"
ctl conns resume hello1 --tenant acme; want 0 "resume"
ctl --json conns get hello1 --tenant acme
out_has '"state":"active"' "active again"
# The scheduler may pick a new connection up a moment after its creation.
for _ in $(seq 50); do
    ctl conns sync hello1 --tenant acme
    [ "$rc" = 0 ] && break
    sleep 0.2
done
want 0 "sync"
echo '{"name":"Greeter 2"}' > "$T_DIR/change.json"
ctl conns update hello1 --tenant acme --file "$T_DIR/change.json" --version 999999; want 1 "stale update"
err_has "409" "stale update: 409"
ctl conns update hello1 --tenant acme --file "$T_DIR/change.json"; want 0 "update"
out_has "Greeter 2" "update shows the change"
ctl status --tenant acme --conn hello1; want 0 "status"
out_has "state" "status"
ctl logs sync --tenant acme --conn hello1 --since -1h; want 0 "sync log"
ctl logs deliveries --tenant acme --conn hello1 --since -1h --until now; want 0 "deliveries"
ctl logs sync --tenant acme --conn hello1 --since yesterday; want 2 "bad time"
t_ok "connections: validate, create (file, stdin), list, get, pause, resume, sync, update, status, logs"

# --- secrets ----------------------------------------------------------------------
SECRET="s3cr3t-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$SECRET" > "$T_DIR/secret.txt"
rc=0
printf '%s\n' "$SECRET" | "$C360CTL" --verbose secrets put api_token --tenant acme --conn hello1 \
    >"$OUT" 2>"$ERR" || rc=$?
{ echo "## secrets put (stdin)"; cat "$OUT" "$ERR"; } >>"$ALL"
want 0 "secrets put from stdin"
ctl --json secrets put other --tenant acme --conn hello1 --from-file "$T_DIR/secret.txt"
want 0 "secrets put --from-file"
ctl secrets put api_token argv-value-0451 --tenant acme --conn hello1; want 2 "secret in argv refused"
err_has "never taken from the command line" "argv refusal says why"
grep -q argv-value-0451 "$ERR" "$OUT" && t_fail "the refused argv value is echoed"
ctl secrets list --tenant acme --conn hello1; want 0 "secrets list"
out_has "api_token" "secrets list"
out_has "other" "secrets list"
ctl --json secrets list --tenant acme --conn hello1; want 0 "secrets list --json"
ctl secrets delete other --tenant acme --conn hello1; want 0 "secrets delete"
ctl --json status --tenant acme --conn hello1
grep -q -- "$SECRET" "$ALL" && t_fail "the secret value appears in c360ctl output"
grep -q -- "$SECRET" "$T_DIR/c360d.log" && t_fail "the secret value appears in the c360d log"
t_ok "secrets: stdin and file, never in argv, never in any output"

# --- routes, OAuth, notifications, data-subject requests ----------------------------
ctl routes add hello2 --tenant acme --conn hello1 --mapping '{"greeting":{"from":"/text"}}'; want 0 "routes add"
ctl routes list --tenant acme --conn hello1; want 0 "routes list"
out_has "hello2" "routes list"
ctl routes add hello2 --tenant acme --conn hello1 --mapping '[1]'; want 2 "mapping not an object"
ctl routes remove hello2 --tenant acme --conn hello1; want 0 "routes remove"
ctl oauth start --tenant acme --conn hello1; want 1 "oauth start on a plugin without OAuth"
err_has "request id: " "oauth refusal"
ctl notify set --tenant acme --endpoint https://notify.example.invalid/c360 \
    --secret-file "$T_DIR/notify.secret"; want 0 "notify set"
[ "$(stat -c %a "$T_DIR/notify.secret")" = 600 ] || t_fail "signing secret file mode"
grep -q "$(cat "$T_DIR/notify.secret")" "$OUT" "$ERR" && t_fail "signing secret also printed"
ctl --json notify get --tenant acme; want 0 "notify get"
out_has '"url":"https://notify.example.invalid/c360"' "notify get"
grep -q "$(cat "$T_DIR/notify.secret")" "$OUT" && t_fail "notify get shows the signing secret"
ctl notify set --tenant acme --endpoint ftp://x; want 1 "notify set bad URL"
err_has "/url" "notify URL detail"
ctl notify test --tenant acme --timeout 30; [ "$rc" = 0 ] || [ "$rc" = 1 ] || want 1 "notify test"
ctl notify log --tenant acme; want 0 "notify log"
ctl notify delete --tenant acme; want 0 "notify delete"
ctl dsr export --tenant acme --email ann@example.com; want 0 "dsr export"
out_has '"counts":{' "dsr export"
ctl dsr export --tenant acme; want 2 "dsr without a subject"
ctl dsr erase --tenant acme --email ann@example.com < /dev/null; want 2 "erase without --yes"
ctl dsr erase --tenant acme --email ann@example.com --yes; want 0 "dsr erase"
t_ok "routes, OAuth refusal, notifications (secret to a file), data-subject export and erase"

# --- dead letters, replay, audit --------------------------------------------------
ctl dlq list --tenant acme; want 0 "dlq list"
ctl --json dlq list --tenant acme --since -1d; want 0 "dlq list --json"
out_has '"items":\[' "dlq list --json"
ctl dlq replay --tenant acme; want 2 "bulk replay without filter"
ctl dlq replay --tenant acme --conn hello1; want 0 "bulk replay"
out_has "replayed" "bulk replay count"
ctl dlq get nosuch --tenant acme; want 1 "no such dead letter"
ctl replay --tenant acme --since -1h --until now --conn hello1; want 0 "raw replay"
ctl replay --tenant acme --since -1h; want 2 "raw replay needs --until"
ctl audit list --tenant acme; want 0 "audit list"
out_has "connection" "audit list shows connection actions"
ctl audit list --tenant acme --action connection.create --json; want 0 "audit list filtered"
[ "$(grep -o '"action":"[^"]*"' "$OUT" | sort -u)" = '"action":"connection.create"' ] ||
    t_fail "audit filter: $(cat "$OUT")"
ctl audit verify --tenant acme; want 0 "audit verify"
t_ok "dead letters, raw replay, audit list and verify"

# --- deletion ---------------------------------------------------------------------
ctl conns delete hello1 --tenant acme < /dev/null; want 2 "delete without --yes"
ctl conns delete hello1 --tenant acme --yes; want 0 "conns delete"
ctl conns get hello1 --tenant acme; want 1 "deleted connection"
err_has "404" "deleted connection: 404"
export C360_KEY_FILE=$KEYFILE
ctl plugins get hello; want 0 "plugins get"
out_has "config_schema" "plugins get shows the schema"
ctl plugins disable hello --tenant acme; want 0 "plugins disable"
ctl --json plugins list --tenant acme
out_has '"plugin":"hello","enabled":false' "plugin disabled"
VIEWID=$(echo "$VIEWKEY" | cut -d_ -f2)
ctl keys revoke "$VIEWID" --tenant acme; want 0 "keys revoke"
C360_KEY=$VIEWKEY ctl me; want 1 "revoked key"
ctl keys list; want 0 "operator keys"
out_has "operator" "operator keys list"
ctl tenants delete acme; want 2 "tenant delete without --yes"
ctl tenants delete acme --yes; want 0 "tenants delete"
ctl tenants get acme; want 1 "deleted tenant"
ctl audit verify; want 0 "system audit verify"
t_ok "connection and tenant deleted"

# --- the network going away ------------------------------------------------------
# A stopped process still has its socket: connections are accepted by the
# kernel and never answered.
kill -STOP "$C360D_PID"
ctl me --timeout 0.5; want 3 "timeout"
err_has "request id: ctl-" "timeout with the request id"
kill -CONT "$C360D_PID"
t_stop_pid "$C360D_PID"
ctl me; want 3 "c360d stopped"
t_ok "TLS with --cacert and from the config file; network and TLS errors exit 3"
