#!/usr/bin/env bash
# secrets_rotation.sh -- master-key rotation with real processes against a
# real redis-server:
#   1. N secrets are written under key kA (c360-secrets-load fill);
#   2. kB is added (first listed-but-inactive, then active);
#   3. `c360-keys rotate` runs while a load generator keeps reading (every
#      read checked against the latest value) and overwriting secrets;
#   4. afterwards: no failed read or write, status shows 0 under kA, and with
#      kA deleted from the keyring every secret opens with its latest value;
#   5. a keyring without kB names kB in its error; a loose key file is
#      refused; a second rotate has nothing to do;
#   6. no plaintext (raw, hex, base64) in any output, log, DUMP or RDB.
# Prints the figures (secrets rotated, reads/writes during rotation,
# failures, duration).
source "$(dirname "$0")/lib.sh"
: "${C360_BUILD_DIR:?}"
KEYS=${C360_KEYS:-$C360_BUILD_DIR/tools/keys/c360-keys}
LOAD=${C360_SECRETS_LOAD:-$C360_BUILD_DIR/tests/tools/c360-secrets-load}
N=${C360_ROTATION_SECRETS:-2000}
[ -x "$KEYS" ] || t_fail "c360-keys not built ($KEYS)"
[ -x "$LOAD" ] || t_fail "c360-secrets-load not built ($LOAD)"
# No keyring may come from the caller's environment.
unset C360_MASTER_KEY C360_REDIS_PASSWORD

RPORT=$(t_free_port)
t_start_redis "$RPORT"
R="redis://127.0.0.1:$RPORT"

# kv LINE KEY -- the value of KEY=... in a summary line.
kv() { sed -n "s/.*[ :]$2=\([^ ]*\).*/\1/p" <<<"$1" | head -n1; }
# count_for STATUS-OUTPUT KID -- the SECRETS column of KID ("" if absent).
count_for() { awk -v k="$2" '$1 == k { print $2 }' <<<"$1"; }

# --- keys and keyrings ---------------------------------------------------------
umask 077
"$KEYS" generate --id kA >"$T_DIR/kA.line" || t_fail "generate kA"
"$KEYS" generate --id kB >"$T_DIR/kB.line" || t_fail "generate kB"
grep -Eq '^kA:[0-9a-f]{64}$' "$T_DIR/kA.line" || t_fail "generate: $(cut -c1-3 "$T_DIR/kA.line")..."
gen=$("$KEYS" generate) || t_fail "generate without --id"
grep -Eq '^k[0-9]{8}T[0-9]{6}Z:[0-9a-f]{64}$' <<<"$gen" || t_fail "generate: time-based id"
set +e
"$KEYS" generate --id 'no good' >/dev/null 2>&1; rc=$?
"$KEYS" frobnicate >/dev/null 2>&1; rc2=$?
"$KEYS" rotate --keyring x >/dev/null 2>&1; rc3=$?
set -e
[ "$rc" = 2 ] && [ "$rc2" = 2 ] && [ "$rc3" = 2 ] || t_fail "usage errors exit 2 (got $rc $rc2 $rc3)"

cat "$T_DIR/kA.line" >"$T_DIR/ring-a.key"
{ echo "# step 1: kB deployed everywhere, not active yet"; cat "$T_DIR/kB.line" "$T_DIR/kA.line"; } >"$T_DIR/ring-ba.key"
{ echo "# step 2: kB active (last)"; cat "$T_DIR/kA.line" "$T_DIR/kB.line"; } >"$T_DIR/ring-ab.key"
{ echo "# step 5: kA retired"; cat "$T_DIR/kB.line"; } >"$T_DIR/ring-b.key"
chmod 600 "$T_DIR"/ring-*.key
[ "$("$KEYS" list --keyring "$T_DIR/ring-ab.key")" = "$(printf 'kA\nkB (active)')" ] || t_fail "list"
cp "$T_DIR/ring-ab.key" "$T_DIR/loose.key"
chmod 640 "$T_DIR/loose.key"
set +e
out=$("$KEYS" rotate --redis "$R" --keyring "$T_DIR/loose.key" 2>&1); rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'chmod 600' <<<"$out" || t_fail "a group-readable keyring must be refused: $rc $out"
t_ok "generate, list, usage errors, loose key file refused"

# --- N secrets under kA ----------------------------------------------------------
out=$("$LOAD" fill --redis "$R" --keyring "$T_DIR/ring-a.key" --count "$N" 2>"$T_DIR/fill.log") ||
    t_fail "fill: $out"
[ "$(kv "$out" writes)" = "$N" ] || t_fail "fill: $out"
st=$("$KEYS" status --redis "$R" --keyring "$T_DIR/ring-a.key" 2>"$T_DIR/status1.log") || t_fail "status: $st"
[ "$(count_for "$st" kA)" = "$N" ] || t_fail "status after fill: $st"
t_ok "$N secrets written under kA"

# Step 1 (kB listed, kA still active) writes under kA and reads everything.
"$LOAD" verify --redis "$R" --keyring "$T_DIR/ring-ba.key" --count "$N" >"$T_DIR/verify0.out" 2>&1 ||
    t_fail "verify with kB listed: $(cat "$T_DIR/verify0.out")"

# An interrupted rotate stops cleanly, says so, and leaves every secret
# under one key or the other (the full run below finishes the job).
"$KEYS" rotate --redis "$R" --keyring "$T_DIR/ring-ab.key" --batch 10 --pause-ms 50 \
    >"$T_DIR/rotate-int.out" 2>"$T_DIR/rotate-int.log" &
ipid=$!
sleep 0.5
kill -INT "$ipid"
irc=0
wait "$ipid" || irc=$?
iout=$(cat "$T_DIR/rotate-int.out")
[ "$irc" = 1 ] && grep -q 'interrupted: run it again' <<<"$iout" || t_fail "interrupted rotate: $irc $iout"
st=$("$KEYS" status --redis "$R" --keyring "$T_DIR/ring-ab.key" 2>/dev/null) || t_fail "status: $st"
[ $(( $(count_for "$st" kA) + $(count_for "$st" kB) )) = "$N" ] && [ "$(count_for "$st" kB)" -gt 0 ] ||
    t_fail "after an interrupted rotate: $st"
t_ok "interrupted rotate: $(kv "$iout" rotated) re-wrapped before SIGINT, exit 1"

# --- rotate under load ---------------------------------------------------------------
"$LOAD" run --redis "$R" --keyring "$T_DIR/ring-ab.key" --count "$N" --threads 4 \
    --write-pct 2 --state "$T_DIR/state" --stop-file "$T_DIR/stop" --ready-file "$T_DIR/ready" \
    --max-seconds 120 >"$T_DIR/load.out" 2>"$T_DIR/load.log" &
LOAD_PID=$!
T_PIDS+=("$LOAD_PID")
for _ in $(seq 200); do [ -e "$T_DIR/ready" ] && break; sleep 0.05; done
[ -e "$T_DIR/ready" ] || t_fail "load generator did not start"

t0=$(date +%s.%N)
set +e
"$KEYS" rotate --redis "$R" --keyring "$T_DIR/ring-ab.key" --batch 20 --pause-ms 20 \
    >"$T_DIR/rotate.out" 2>"$T_DIR/rotate.log"
rrc=$?
set -e
t1=$(date +%s.%N)
touch "$T_DIR/stop"
lrc=0
wait "$LOAD_PID" || lrc=$?
rot=$(cat "$T_DIR/rotate.out")
load=$(cat "$T_DIR/load.out")
[ "$rrc" = 0 ] || t_fail "rotate exit $rrc: $rot $(tail -n 5 "$T_DIR/rotate.log")"
[ "$lrc" = 0 ] || t_fail "load generator exit $lrc: $load $(head -n 20 "$T_DIR/load.log")"
[ "$(kv "$load" failures)" = 0 ] || t_fail "failures during rotation: $load"
[ "$(kv "$rot" failed)" = 0 ] || t_fail "rotate failures: $rot"
[ "$(kv "$rot" remaining)" = 0 ] || t_fail "secrets left under kA after rotate: $rot"
reads=$(kv "$load" reads); writes=$(kv "$load" writes)
[ "$reads" -gt 0 ] && [ "$writes" -gt 0 ] || t_fail "no load during rotation: $load"
rotated=$(kv "$rot" rotated)
# The load overwrites a few hundred secrets (under kB) first; rotate must
# still have done most of the work itself.
[ $(( rotated * 2 )) -ge "$N" ] || t_fail "rotate re-wrapped under half the secrets: $rot"
[ $(( rotated + $(kv "$rot" current) + $(kv "$rot" superseded) + $(kv "$rot" gone) )) = "$(kv "$rot" scanned)" ] ||
    t_fail "rotate counts do not add up: $rot"
[ "$(kv "$rot" scanned)" -ge "$N" ] || t_fail "rotate saw fewer than $N secrets: $rot"
t_ok "rotated under load: $rot"
t_ok "load during rotation: $load"
echo "figures: secrets=$N rotated=$rotated already-current=$(kv "$rot" current)" \
     "superseded-by-concurrent-puts=$(kv "$rot" superseded) reads=$reads writes=$writes" \
     "failures=0 rotate-seconds=$(kv "$rot" seconds) wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"

# --- afterwards ------------------------------------------------------------------------
st=$("$KEYS" status --redis "$R" --keyring "$T_DIR/ring-ab.key" 2>"$T_DIR/status2.log") || t_fail "status: $st"
[ "$(count_for "$st" kA)" = 0 ] || t_fail "status after rotate: $st"
[ "$(count_for "$st" kB)" = "$N" ] || t_fail "status after rotate: $st"
grep -q '^kA .* 0  yes$' <<<"$st" || t_fail "kA listed with 0: $st"
t_ok "status: 0 secrets under kA"

# kA retired: everything opens, with its latest value.
out=$("$LOAD" verify --redis "$R" --keyring "$T_DIR/ring-b.key" --count "$N" \
      --state "$T_DIR/state" 2>"$T_DIR/verify.log") || t_fail "verify after retiring kA: $out $(head "$T_DIR/verify.log")"
[ "$(kv "$out" verified)" = "$N" ] && [ "$(kv "$out" failures)" = 0 ] || t_fail "verify: $out"
t_ok "kA retired: all $N secrets open with their latest values"

# Idempotent: a second rotate has nothing to do.
out=$("$KEYS" rotate --redis "$R" --keyring "$T_DIR/ring-b.key" --pause-ms 0 2>"$T_DIR/rotate2.log") ||
    t_fail "second rotate: $out"
[ "$(kv "$out" rotated)" = 0 ] && [ "$(kv "$out" current)" = "$N" ] || t_fail "second rotate: $out"

# A host that never got kB: the error names the missing key, never a value.
set +e
out=$("$LOAD" verify --redis "$R" --keyring "$T_DIR/ring-a.key" --count 3 2>&1); rc=$?
set -e
[ "$rc" = 1 ] && grep -q "master key 'kB', which is not in this host's keyring" <<<"$out" ||
    t_fail "missing key not named: $out"
st=$("$KEYS" status --redis "$R" --keyring "$T_DIR/ring-a.key" 2>/dev/null) || true
grep -q '^kB .*NO: these secrets cannot be opened' <<<"$st" || t_fail "status must flag kB: $st"
t_ok "second rotate idempotent; a missing key is named"

# Redis ACL user and password file, as an operator runs it.
redis-cli -p "$RPORT" ACL SETUSER rotator on '>rot-pw-123' '~*' '+@all' >/dev/null
printf 'rot-pw-123\n' >"$T_DIR/redis.pw"
printf 'wrong\n' >"$T_DIR/wrong.pw"
st=$("$KEYS" status --redis "$R" --redis-user rotator --redis-password-file "$T_DIR/redis.pw" \
     --keyring "$T_DIR/ring-b.key" 2>"$T_DIR/status3.log") || t_fail "status with ACL user: $st"
[ "$(count_for "$st" kB)" = "$N" ] || t_fail "status with ACL user: $st"
set +e
out=$("$KEYS" status --redis "$R" --redis-user rotator --redis-password-file "$T_DIR/wrong.pw" 2>&1); rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'AUTH failed' <<<"$out" && ! grep -q wrong <<<"${out//wrong.pw/}" ||
    t_fail "bad password: $rc $out"
t_ok "Redis user and password file"

# --- no plaintext anywhere -----------------------------------------------------------------
redis-cli -p "$RPORT" CONFIG SET rdbcompression no >/dev/null
redis-cli -p "$RPORT" SET c360:control "leak-control-plain-value" >/dev/null
redis-cli -p "$RPORT" --scan | sed 's/^/DUMP /' | redis-cli -p "$RPORT" >"$T_DIR/dumps.bin"
redis-cli -p "$RPORT" SAVE | grep -q OK || t_fail "SAVE"
rdb="$T_DIR/redis-$RPORT/dump.rdb"
[ -s "$rdb" ] || t_fail "no RDB file"
# The control value, stored in the clear, must be found by the same search.
grep -aqF 'leak-control-plain-value' "$rdb" || t_fail "search does not see the RDB contents"
grep -aqF 'leak-control-plain-value' "$T_DIR/dumps.bin" || t_fail "search does not see the DUMP output"
redis-cli -p "$RPORT" DEL c360:control >/dev/null

# Every value starts "v|s<i>|gen=<g>|": look for that marker and for the
# heads of a few values in hex and base64 (three alignments, no padding).
patterns=("|gen=" "$(printf '|gen=' | od -An -tx1 | tr -d ' \n')")
for i in 0 1 2 $((N - 1)); do
    g=$(awk -v i="$i" '$1 == i { print $2 }' "$T_DIR/state")
    head="v|s$i|gen=$g|"
    patterns+=("$(printf '%s' "$head" | od -An -tx1 | tr -d ' \n')")
    for off in 0 1 2; do
        sub=${head:$off}
        sub=${sub:0:$(( ${#sub} / 3 * 3 ))}
        b=$(printf '%s' "$sub" | base64 -w0)
        patterns+=("$b" "$(tr '+/' '-_' <<<"$b")")
    done
done
files=("$T_DIR"/*.log "$T_DIR"/*.out "$T_DIR/dumps.bin" "$rdb")
for p in "${patterns[@]}"; do
    for f in "${files[@]}"; do
        if grep -aqF -- "$p" "$f"; then t_fail "plaintext form '$p' found in $f"; fi
    done
done
t_ok "no plaintext (raw, hex, base64) in ${#files[@]} logs/outputs, the DUMP of every key or the RDB"
echo "PASS secrets_rotation"
