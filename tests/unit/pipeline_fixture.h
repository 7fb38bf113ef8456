/* pipeline_fixture.h -- shared by the P1 pipeline unit tests
 * (test_conncache, test_instances, test_ingress): loading the ingress test
 * plugin, a raw Redis view, pumping the event loop until a condition
 * holds, and a minimal blocking HTTP/1.1 client. Header-only, like
 * redis_fixture.h, so each test stays one executable. */
#ifndef C360_TEST_PIPELINE_FIXTURE_H
#define C360_TEST_PIPELINE_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "call.h"
#include "hostapi.h"
#include "loader.h"

/* The instance data of ingress_tp (tests/plugins/pipeline/ingress_tp.c). */
typedef struct itp_inst {
    char token[128];
    char config_tag[64];
} itp_inst;

/* Loads ingress_tp and ingress_tp_nowh from the build tree; exits when
 * they are missing (the build must have made them). */
static inline ch_loader *pf_load_plugins(void)
{
    const char *bd = getenv("C360_BUILD_DIR");
    char path[1024];
    ch_loader *ld = ch_loader_new(ch_host_api());
    const char *names[] = {"ingress_tp", "ingress_tp_nowh"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/tests/pipeline-plugins/%s.so", bd ? bd : ".", names[i]);
        if (ch_loader_load_file(ld, path) != CH_OK) {
            fprintf(stderr, "cannot load %s (built with the tests?)\n", path);
            exit(1);
        }
    }
    return ld;
}

static redisContext *pf_raw;

static inline redisReply *pf_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(pf_raw, fmt, ap);
    va_end(ap);
    if (!r) {
        /* The fixture may have been restarted: one reconnect. */
        redisReconnect(pf_raw);
        va_start(ap, fmt);
        r = redisvCommand(pf_raw, fmt, ap);
        va_end(ap);
    }
    if (!r) {
        fprintf(stderr, "raw redis: %s\n", pf_raw->errstr);
        exit(1);
    }
    return r;
}

static inline long long pf_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(pf_raw, fmt, ap);
    va_end(ap);
    if (!r) {
        redisReconnect(pf_raw);
        va_start(ap, fmt);
        r = redisvCommand(pf_raw, fmt, ap);
        va_end(ap);
    }
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
    if (r) freeReplyObject(r);
    return v;
}

/* Runs the loop until cond(arg) holds or timeout_ms passed; returns
 * whether it held. */
static inline int pf_pump_until(struct event_base *base, int (*cond)(void *), void *arg,
                                int timeout_ms)
{
    int64_t end = ch_monotonic_ms() + timeout_ms;
    while (ch_monotonic_ms() < end) {
        if (cond(arg)) return 1;
        event_base_loop(base, EVLOOP_NONBLOCK);
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return cond(arg);
}

typedef struct pf_resp {
    int status;
    char head[8192];
    char body[16384];
    size_t body_len;
    int64_t ms;
} pf_resp;

/* Sends one request on a fresh connection ("Connection: close") without
 * reading the answer; extra_headers are complete lines ("Name: value\r\n
 * ..."). Returns the socket, or -1. */
static inline int pf_http_send(int port, const char *method, const char *target,
                               const char *extra_headers, const void *body, size_t blen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char head[32768];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     method, target, blen, extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof head) {
        close(fd);
        return -1;
    }
    /* Send errors are ignored: a server refusing early (413) may close
     * before the body is written; the response is still there to read. */
    (void)!send(fd, head, (size_t)n, MSG_NOSIGNAL);
    size_t off = 0;
    while (off < blen) {
        ssize_t w = send(fd, (const char *)body + off, blen - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    return fd;
}

/* Reads the whole answer on fd (until the server closes) and closes it.
 * Returns 0 when a response was read (status 0 if unparsable), else -1. */
static inline int pf_http_recv(int fd, pf_resp *out)
{
    static char buf[1 << 20];
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof buf - 1) break;
    }
    close(fd);
    buf[got] = '\0';
    if (got == 0) return -1;
    sscanf(buf, "HTTP/1.%*d %d", &out->status);
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep) return 0;
    size_t hl = (size_t)(sep - buf);
    if (hl >= sizeof out->head) hl = sizeof out->head - 1;
    memcpy(out->head, buf, hl);
    out->head[hl] = '\0';
    size_t bl = got - (size_t)(sep + 4 - buf);
    if (bl >= sizeof out->body) bl = sizeof out->body - 1;
    memcpy(out->body, sep + 4, bl);
    out->body[bl] = '\0';
    out->body_len = bl;
    return 0;
}

/* One request and its answer; out->ms is the time they took. */
static inline int pf_http(int port, const char *method, const char *target,
                          const char *extra_headers, const void *body, size_t blen, pf_resp *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = ch_monotonic_ms();
    int fd = pf_http_send(port, method, target, extra_headers, body, blen);
    if (fd < 0) return -1;
    int rc = pf_http_recv(fd, out);
    out->ms = ch_monotonic_ms() - t0;
    return rc;
}

#endif
