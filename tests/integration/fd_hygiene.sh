#!/usr/bin/env bash
# fd_hygiene.sh -- the master's sockets stay the master's. (Sockets that
# existed when the first zygote was forked -- a plugin's init may open
# some, shared by every process by design -- are kept in every zygote.)
#
# c360d's event loop folds epoll changes (libevent's changelist, daemon.c):
# a socket it watches must not have a copy in another process that
# outlives its close in the master, or the deferred delete would miss the
# registration and the peer would never see the close. So no zygote or
# worker process may hold a socket of the master: not at start, and not
# after the zygote died and was forked again from the running master (which
# then holds client connections, its Redis connections and the listener).
#
#  1. at start: no socket of the master (by inode) open in the zygote or a
#     worker;
#  2. with 20 idle keep-alive connections open on the master, the zygote is
#     killed (-9); once the supervisor has forked a new one and its workers,
#     the same holds, and an event is still delivered;
#  3. the idle connections are closed by the master at http.timeout_s, and
#     their clients see the close (EOF), while the master's loop stays
#     idle (CPU time grows by less than 1 s in 3 s).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipeline_lib.sh"
source "$(dirname "$0")/faults_lib.sh"

t_host_ports
p_start_sink
S=fd-hygiene-secret
p_pair tF "$S"
p_config "$T_DIR/c360.json" "$PORT" '"workers":2,"worker_threads":2'
# Idle keep-alive connections are closed after 3 s (http.timeout_s).
sed -i 's/"log_level":"info",/"log_level":"info","http":{"timeout_s":3},/' "$T_DIR/c360.json"
p_start_host c360d "$T_DIR/c360.json"
HOOK=$HOST_URL/hooks/tsrc/s1

# socket_inodes PID -- the inodes of PID's open sockets, one per line.
socket_inodes() {
    find "/proc/$1/fd" -maxdepth 1 -type l -printf '%l\n' 2>/dev/null |
        sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | sort -u
}
# shared_with_children -- the master's socket inodes any descendant holds.
shared_with_children() {
    local m kids k
    m=$(socket_inodes "$HOST_PID")
    kids=$(p_descendants "$HOST_PID")
    [ -n "$kids" ] || t_fail "c360d has no zygote or worker process"
    for k in $kids; do comm -12 <(echo "$m") <(socket_inodes "$k"); done | sort -u
}
# (ps exits 1 when the master has no child: between the zygote's death and
# its new fork. That is an answer, not an error, under set -e/pipefail.)
zygote_of() { { ps -o pid= --ppid "$HOST_PID" || true; } | tr -d ' ' | head -n 1; }
wait_children() {
    local want=$1 n=0
    for _ in $(seq 150); do
        n=$(p_descendants "$HOST_PID" | wc -l)
        [ "$n" -ge "$want" ] && return 0
        sleep 0.1
    done
    t_fail "$n processes below c360d, want $want"
}
wait_children 3 # the zygote and 2 workers

f_warm_up

# --- 1. at start -----------------------------------------------------------
shared=$(shared_with_children)
[ -z "$shared" ] || t_fail "sockets of the master held by its children at start: $shared"
t_ok "no socket of the master in the zygote or the workers ($(socket_inodes "$HOST_PID" | wc -l) master sockets)"

# --- 2. the zygote forked again from the running master ---------------------
# 20 idle keep-alive connections: each sent one request and keeps the
# socket open, reading (fd 3 of a background shell).
for i in $(seq 20); do
    (
        exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
        printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&3
        # Reads until the master closes the connection (a FIN, or a reset:
        # either way the peer saw it close); records that.
        cat <&3 >/dev/null || true
        echo eof >"$T_DIR/idle-$i.eof"
    ) &
    T_PIDS+=("$!")
done
sleep 0.5
old=$(zygote_of)
[ -n "$old" ] || t_fail "no zygote"
kill -KILL "$old"
for _ in $(seq 150); do
    z=$(zygote_of)
    [ -n "$z" ] && [ "$z" != "$old" ] && break
    sleep 0.1
done
[ -n "$z" ] && [ "$z" != "$old" ] || t_fail "the zygote was not forked again after kill -9 of $old"
wait_children 3
sleep 0.5
# The check means something only while the idle connections are open.
idle=$(find "$T_DIR" -maxdepth 1 -name 'idle-*.eof' | wc -l)
[ "$idle" = 0 ] || t_fail "$idle idle connections were closed before the check (machine too slow for http.timeout_s 3)"
for k in $(p_descendants "$HOST_PID"); do
    [ -r "/proc/$k/fd" ] || t_fail "cannot read /proc/$k/fd"
done
shared=$(shared_with_children)
[ -z "$shared" ] || t_fail "sockets of the master held by the new zygote or its workers: $shared"
t_ok "zygote $old killed, $z forked again from the running master: it and its workers hold none of the master's $(socket_inodes "$HOST_PID" | wc -l) sockets"
[ "$(p_post "$HOOK" "$S" '{"id":"after-1"}')" = 200 ] || t_fail "event after the new zygote not accepted"
p_wait_distinct after-1 1 30
t_ok "an event is delivered by the new workers"

# --- 3. the master closes the idle connections, and they see it -----------
cpu0=$(awk '{print $14 + $15}' "/proc/$HOST_PID/stat")
for _ in $(seq 100); do
    n=$(find "$T_DIR" -maxdepth 1 -name 'idle-*.eof' | wc -l)
    [ "$n" -ge 20 ] && break
    sleep 0.1
done
[ "$n" -ge 20 ] || t_fail "only $n of 20 idle connections saw the master close them"
sleep 3
cpu1=$(awk '{print $14 + $15}' "/proc/$HOST_PID/stat")
ticks=$(getconf CLK_TCK)
[ $((cpu1 - cpu0)) -lt "$ticks" ] ||
    t_fail "the master used $(( (cpu1 - cpu0) * 1000 / ticks )) ms of CPU while idle (a stale epoll registration spinning?)"
t_ok "20 idle connections closed at http.timeout_s and seen closed; master idle ($(( (cpu1 - cpu0) * 1000 / ticks )) ms CPU in the 3 s after)"
