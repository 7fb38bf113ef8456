#!/usr/bin/env bash
# admin_http.sh -- the admin API over the real listener: HTTPS from a
# configured certificate and key (plain HTTP refused on that port), the
# first operator key file, authentication and the request id on every
# answer, the error shape, a tenant and its key created over the wire, the
# tenant scope, the public OpenAPI document, failed authentications slowed
# down per address, and many concurrent requests answered while the admin
# threads work.
source "$(dirname "$0")/lib.sh"
: "${C360D:?}" "${C360_BUILD_DIR:?}"
command -v openssl >/dev/null || t_fail "openssl is not installed (scripts/deps installs it)"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" >/dev/null 2>&1 || t_fail "openssl req"
RPORT=$(t_free_port)
t_start_redis "$RPORT"
PORT=$(t_free_port)
cat > "$T_DIR/c360.json" <<JSON
{"listen":"127.0.0.1:$PORT","redis":{"url":"redis://127.0.0.1:$RPORT"},
 "plugin_dirs":["$C360_BUILD_DIR/tests/pipeline-plugins"],
 "data_dir":"$T_DIR/data","log_level":"info","shutdown_timeout_ms":2000,
 "http":{"tls_cert_file":"$T_DIR/cert.pem","tls_key_file":"$T_DIR/key.pem"},
 "admin":{"public_url":"https://c360.example.test","auth_fail_per_min":5},
 "pipeline":{"workers":0}}
JSON
export C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
t_start_c360d c360d --config "$T_DIR/c360.json"
URL=https://127.0.0.1:$PORT
C=(--cacert "$T_DIR/cert.pem")
for _ in $(seq 100); do
    [ "$(curl -s -m 2 "${C[@]}" -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
    sleep 0.1
done
[ "$(curl -s -m 2 "${C[@]}" -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] || t_fail "no HTTPS readyz"
grep -q '"url":"https://127.0.0.1' "$T_DIR/c360d.log" || t_fail "listening line does not say https"
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)
[ "$code" != 200 ] || t_fail "plain HTTP answered on the TLS port"
t_ok "HTTPS listener from the configured certificate; plain HTTP refused"

OPKEY=$(t_opkey "$T_DIR/data")
OP=(-H "Authorization: Bearer $OPKEY")
grep -qF "$OPKEY" "$T_DIR/c360d.log" && t_fail "the operator key is in the log"

hdr=$(curl -s -m 5 "${C[@]}" -D - -o "$T_DIR/body" "$URL/v1/me" "${OP[@]}" -H "X-Request-Id: trace-42")
grep -qi '^x-request-id: trace-42' <<<"$hdr" || t_fail "request id not echoed: $hdr"
grep -q '"role":"operator"' "$T_DIR/body" || t_fail "/v1/me: $(cat "$T_DIR/body")"
r=$(t_http GET "$URL/v1/me" "${C[@]}")
[[ $r == 401* ]] && grep -q '"code":"unauthenticated".*"request_id":"' <<<"$r" || t_fail "401 shape: $r"
r=$(t_http GET "$URL/v1/openapi.json" "${C[@]}")
[[ $r == 200* ]] && grep -q '"openapi":"3.0.3"' <<<"$r" || t_fail "openapi: ${r:0:200}"
r=$(t_http GET "$URL/v1/nothing-here" "${C[@]}" "${OP[@]}")
[[ $r == 404* ]] || t_fail "404: $r"
r=$(t_http PATCH "$URL/v1/me" "${C[@]}" "${OP[@]}")
[[ $r == 405* ]] || t_fail "405: $r"
t_ok "operator key from the 0600 file; request ids, error shape, public OpenAPI"

J=(-H "Content-Type: application/json")
r=$(t_http POST "$URL/v1/tenants" "${C[@]}" "${OP[@]}" "${J[@]}" -d '{"id":"acme","name":"Acme"}')
[[ $r == 201* ]] || t_fail "create tenant: $r"
r=$(t_http POST "$URL/v1/tenants" "${C[@]}" "${OP[@]}" "${J[@]}" -d '{"id":"other","name":"Other"}')
[[ $r == 201* ]] || t_fail "create tenant 2: $r"
r=$(t_http POST "$URL/v1/tenants" "${C[@]}" "${OP[@]}" "${J[@]}" -d '{"id":"acme","name":"Acme",')
[[ $r == 400* ]] && grep -q malformed_json <<<"$r" || t_fail "malformed: $r"
r=$(t_http POST "$URL/v1/tenants" "${C[@]}" "${OP[@]}" -H "Content-Type: text/plain" -d '{}')
[[ $r == 415* ]] || t_fail "415: $r"
r=$(t_http POST "$URL/v1/tenants/acme/keys" "${C[@]}" "${OP[@]}" "${J[@]}" -d '{"name":"ci","role":"tenant_admin"}')
[[ $r == 201* ]] || t_fail "tenant key: $r"
TKEY=$(sed 's/.*"key":"\([^"]*\)".*/\1/' <<<"$r")
[[ $TKEY == c360k_* ]] || t_fail "no key in $r"
TA=(-H "Authorization: Bearer $TKEY")
r=$(t_http GET "$URL/v1/tenants/acme" "${C[@]}" "${TA[@]}")
[[ $r == 200* ]] || t_fail "own tenant: $r"
r=$(t_http GET "$URL/v1/tenants/other" "${C[@]}" "${TA[@]}")
[[ $r == 403* ]] && grep -q forbidden_tenant <<<"$r" || t_fail "other tenant: $r"
r=$(t_http GET "$URL/v1/tenants" "${C[@]}" "${TA[@]}")
[[ $r == 403* ]] || t_fail "tenant list as tenant admin: $r"
t_ok "tenant and tenant key created over HTTPS; other tenant refused with 403"

# The end of an OAuth consent: a browser gets a page, a program JSON; a
# forged state never reaches anything.
hdr=$(curl -s -m 5 "${C[@]}" -D - -o "$T_DIR/page" -H "Accept: text/html" \
    "$URL/oauth/callback?state=forged.state&code=abc")
grep -q '^HTTP/1.1 400' <<<"$hdr" && grep -qi '^content-type: text/html' <<<"$hdr" || t_fail "callback page: $hdr"
grep -qi '<html' "$T_DIR/page" || t_fail "no page: $(head -c 200 "$T_DIR/page")"
grep -q 'abc' "$T_DIR/page" && t_fail "the code is echoed in the page"
r=$(t_http GET "$URL/oauth/callback?state=forged.state&code=abc" "${C[@]}")
[[ $r == 400* ]] && grep -q '"error":{"code":"' <<<"$r" || t_fail "callback JSON: $r"
t_ok "OAuth callback: HTML for browsers, JSON for programs, forged state refused"

# Many requests at once: all answered, none lost (4 admin threads).
pids=()
for i in $(seq 40); do
    curl -s -m 10 "${C[@]}" -o /dev/null -w '%{http_code}\n' "$URL/v1/tenants/acme" "${TA[@]}" \
        > "$T_DIR/code.$i" &
    pids+=($!)
done
wait "${pids[@]}"
cat "$T_DIR"/code.* > "$T_DIR/codes"
[ "$(grep -c '^200$' "$T_DIR/codes")" = 40 ] || t_fail "concurrent: $(sort "$T_DIR/codes" | uniq -c)"
t_ok "40 concurrent requests answered"

# Failed authentications from one address: 401 until the budget is spent,
# then 429 with Retry-After for bad keys; a good key still passes.
# 40 guesses: exactly auth_fail_per_min (5) are answered 401, the rest 429.
codes=""
for i in $(seq 40); do
    codes+=" $(curl -s -m 5 "${C[@]}" -o /dev/null -w '%{http_code}' "$URL/v1/me" \
        -H "Authorization: Bearer c360k_0000000000000000_nope$i")"
done
[ "$(grep -o 401 <<<"$codes" | wc -l)" = 5 ] && [ "$(grep -o 429 <<<"$codes" | wc -l)" = 35 ] ||
    t_fail "40 guesses answered:$codes"
hdr=$(curl -s -m 5 "${C[@]}" -D - -o /dev/null "$URL/v1/me" -H "Authorization: Bearer c360k_0000000000000000_nope")
grep -q '^HTTP/1.1 429' <<<"$hdr" && grep -qi '^retry-after: [0-9]' <<<"$hdr" || t_fail "bad key during block: $hdr"
r=$(t_http GET "$URL/v1/me" "${C[@]}" "${OP[@]}")
[[ $r == 200* ]] || t_fail "a good key must pass from a blocked address: $r"
# ...and the block is audited once in _system, naming the address.
r=$(t_http GET "$URL/v1/audit?action=auth.throttled" "${C[@]}" "${OP[@]}")
[[ $r == 200* ]] && [ "$(grep -o '"action":"auth.throttled"' <<<"$r" | wc -l)" = 1 ] &&
    grep -q '"target":"127.0.0.1"' <<<"$r" || t_fail "auth.throttled audit entry: $r"
t_ok "failed authentications slowed down per address: 5 x 401 then 35 x 429 with Retry-After, audited once, a good key passes"

kill -TERM "$C360D_PID"
rc=0; wait "$C360D_PID" || rc=$?
[ "$rc" = 0 ] || t_fail "c360d exit $rc"
t_ok "clean shutdown"
