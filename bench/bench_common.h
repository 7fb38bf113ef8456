/* bench_common.h -- what the benchmark servers share: listening on
 * 127.0.0.1 with evhttp, announcing the bound port as "port N" on stdout
 * (so the runner can use port 0), and stopping on SIGTERM/SIGINT.
 * Header-only: each server stays one .c file with nothing else linked. */
#ifndef C360_BENCH_COMMON_H
#define C360_BENCH_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>

static struct event_base *bench_base;
static struct event *bench_sigs[2];

static void bench_on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    event_base_loopbreak(bench_base);
}

static int bench_port_arg(const char *s)
{
    char *end;
    long p = strtol(s, &end, 10);
    if (!*s || *end || p < 0 || p > 65535) {
        fprintf(stderr, "bad port %s\n", s);
        exit(2);
    }
    return (int)p;
}

/* Binds 127.0.0.1:port, prints "port N", installs the stop signals. The
 * server dies with the runner that started it (PDEATHSIG), so an
 * interrupted benchmark leaves nothing behind. */
static void bench_listen(struct evhttp *http, int port)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
    if (!bs) {
        fprintf(stderr, "cannot bind 127.0.0.1:%d\n", port);
        exit(1);
    }
    /* Inherited by accepted sockets: an answer over libevent's 16 KiB
     * write (a Graph batch of 28 leads) would otherwise end in a segment
     * Nagle holds for the client's delayed ACK, 40 ms (host/http.c). */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len) != 0) {
        perror("getsockname");
        exit(1);
    }
    printf("port %d\n", ntohs(sin.sin_port));
    fflush(stdout);
    bench_sigs[0] = evsignal_new(bench_base, SIGTERM, bench_on_signal, NULL);
    bench_sigs[1] = evsignal_new(bench_base, SIGINT, bench_on_signal, NULL);
    event_add(bench_sigs[0], NULL);
    event_add(bench_sigs[1], NULL);
}

static void bench_close(void)
{
    for (int i = 0; i < 2; i++)
        if (bench_sigs[i]) event_free(bench_sigs[i]);
}

#endif
