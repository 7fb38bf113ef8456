#!/usr/bin/env bash
# oauth_refresh.sh -- single-flight OAuth refresh across processes.
#
# Two c360-oauth-hammer processes with 10 threads each (20 callers, the
# same as 20 workers on two hosts) ask for one connection's token at the
# same wall-clock moment, while the stored token is inside its refresh
# window (fake_oauth issues 4 s tokens: the margin is capped at half the
# lifetime, so from 2 s of age on every caller wants a refresh). The fake
# token endpoint counts refresh calls and rotates the refresh token on each
# one (a second refresh with the old token would be invalid_grant).
# Three rounds, one per expiry: exactly one refresh call per round, and all
# 20 callers of a round end with the token the fake issued last.
source "$(dirname "$0")/lib.sh"

FAKE="$C360_BUILD_DIR/tests/fakes/fake_oauth"
HAMMER="$C360_BUILD_DIR/tests/tools/c360-oauth-hammer"
[ -x "$FAKE" ] || t_fail "missing $FAKE (tests/fakes not built)"
[ -x "$HAMMER" ] || t_fail "missing $HAMMER (tests/tools not built)"

# Both processes must open what the other sealed: one shared master key.
C360_MASTER_KEY="k1:$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
export C360_MASTER_KEY

RPORT=$(t_free_port)
t_start_redis "$RPORT"

"$FAKE" --expires-in 4 >"$T_DIR/fake.out" 2>"$T_DIR/fake.log" &
T_PIDS+=("$!")
FPORT=""
for _ in $(seq 100); do
    FPORT=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$T_DIR/fake.out")
    [ -n "$FPORT" ] && break
    sleep 0.05
done
[ -n "$FPORT" ] || t_fail "fake_oauth did not start"

stat_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"; }
stat_str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$2"; }
now_ms() { date +%s%3N; }

H=(--redis "redis://127.0.0.1:$RPORT" --token-url "http://127.0.0.1:$FPORT/token"
   --tenant t1 --conn c1)
"$HAMMER" exchange "${H[@]}" 2>"$T_DIR/exchange.log" || t_fail "exchange failed"

# Round r starts 2.5 s after the token was issued (inside the window,
# 1.5 s before expiry); the next one 3 s later, after the refresh.
start=$(( $(now_ms) + 2500 ))
prev=""
for round in 1 2 3; do
    "$HAMMER" race "${H[@]}" --threads 10 --start-ms "$start" \
        >"$T_DIR/r$round.a" 2>"$T_DIR/r$round.a.log" &
    pa=$!
    "$HAMMER" race "${H[@]}" --threads 10 --start-ms "$start" \
        >"$T_DIR/r$round.b" 2>"$T_DIR/r$round.b.log" &
    pb=$!
    T_PIDS+=("$pa" "$pb")
    wait "$pa" || t_fail "round $round: process A had failed calls: $(grep -v '^token' "$T_DIR/r$round.a" | head -3)"
    wait "$pb" || t_fail "round $round: process B had failed calls: $(grep -v '^token' "$T_DIR/r$round.b" | head -3)"

    stats=$(curl -s -m 5 "http://127.0.0.1:$FPORT/stats")
    refreshes=$(stat_num refresh_token "$stats")
    last=$(stat_str last_access_token "$stats")
    callers=$(cat "$T_DIR/r$round.a" "$T_DIR/r$round.b" | grep -c '^token ' || true)
    distinct=$(cat "$T_DIR/r$round.a" "$T_DIR/r$round.b" | sort -u)
    echo "round $round: refresh calls so far $refreshes, callers with a token $callers/20"
    [ "$refreshes" = "$round" ] || t_fail "round $round: $refreshes refresh calls in total, want $round"
    [ "$callers" = 20 ] || t_fail "round $round: $callers of 20 callers got a token"
    [ "$distinct" = "token $last" ] || t_fail "round $round: callers hold other tokens than the fake's last one"
    [ "$last" != "$prev" ] || t_fail "round $round: no new token"
    prev=$last
    start=$(( start + 3000 ))
done
stats=$(curl -s -m 5 "http://127.0.0.1:$FPORT/stats")
[ "$(stat_num invalid_grant "$stats")" = 0 ] || t_fail "a refresh used a rotated refresh token"
t_ok "3 expiries, 3 refresh calls, 20/20 callers with the new token each round"
