/* pipeline_fixture.h -- shared by the pipeline unit tests (test_conncache,
 * test_instances, test_ingress, test_conns, test_worker, test_worker_cap,
 * test_supervisor, test_dlq, test_sched, test_sched_race): loading the
 * pipeline test plugins, a raw Redis view of the private redis-server
 * (redis_fixture.h) and seeding helpers (connections, events, the keys
 * workers and plugins write), pumping the event loop until a condition
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
#include "conns.h"
#include "hostapi.h"
#include "loader.h"
#include "redis_fixture.h"

/* The instance data of ingress_tp (tests/plugins/pipeline/ingress_tp.c). */
typedef struct itp_inst {
    char token[128];
    char config_tag[64];
} itp_inst;

/* Loads tests/pipeline-plugins/<name>.so from the build tree into ld;
 * exits when it is missing (the build must have made it). */
static inline void pf_load_into(ch_loader *ld, const char *name)
{
    const char *bd = getenv("C360_BUILD_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/pipeline-plugins/%s.so", bd ? bd : ".", name);
    if (ch_loader_load_file(ld, path) != CH_OK) {
        fprintf(stderr, "cannot load %s (built with the tests?)\n", path);
        exit(1);
    }
}

/* A new loader holding the one pipeline test plugin `name`. */
static inline ch_loader *pf_load_plugin(const char *name)
{
    ch_loader *ld = ch_loader_new(ch_host_api());
    pf_load_into(ld, name);
    return ld;
}

/* A new loader holding ingress_tp and ingress_tp_nowh. */
static inline ch_loader *pf_load_plugins(void)
{
    ch_loader *ld = pf_load_plugin("ingress_tp");
    pf_load_into(ld, "ingress_tp_nowh");
    return ld;
}

/* The test's own plain connection to the fixture, beside the host's. */
static redisContext *pf_raw;

/* Opens pf_raw; exits when the fixture cannot be reached. */
static inline void pf_raw_connect(int port)
{
    pf_raw = redisConnect("127.0.0.1", port);
    if (!pf_raw || pf_raw->err) {
        fprintf(stderr, "cannot connect to the fixture\n");
        exit(1);
    }
}

/* A command on pf_raw; NULL when Redis cannot be reached. The fixture may
 * have been restarted: one reconnect. */
static inline redisReply *pf_vcmd(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    redisReply *r = redisvCommand(pf_raw, fmt, ap);
    if (!r) {
        redisReconnect(pf_raw);
        r = redisvCommand(pf_raw, fmt, again);
    }
    va_end(again);
    return r;
}

/* The reply (free it); exits when Redis cannot be reached. */
static inline redisReply *pf_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = pf_vcmd(fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "raw redis: %s\n", pf_raw->errstr);
        exit(1);
    }
    return r;
}

/* A command whose reply is not needed; exits when Redis cannot be reached. */
static inline void pf_do(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = pf_vcmd(fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "raw redis: %s\n", pf_raw->errstr);
        exit(1);
    }
    freeReplyObject(r);
}

/* An integer reply, or -999. */
static inline long long pf_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = pf_vcmd(fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
    if (r) freeReplyObject(r);
    return v;
}

/* A string reply, or "(nil)"; in a static buffer (the next call
 * overwrites it). */
static inline char *pf_str(const char *fmt, ...)
{
    static char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = pf_vcmd(fmt, ap);
    va_end(ap);
    snprintf(buf, sizeof buf, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
    if (r) freeReplyObject(r);
    return buf;
}

/* Field `name` of a stream entry (an element of an XRANGE reply), or
 * NULL. */
static inline const redisReply *pf_entry_field(const redisReply *entry, const char *name)
{
    const redisReply *f = entry->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (strcmp(f->element[i]->str, name) == 0) return f->element[i + 1];
    return NULL;
}

/* --- Seeding and reading the pipeline's keys (docs/pipeline.md) ------------ */

/* Creates (or updates) a connection through the registry; exits when that
 * fails. */
static inline void pf_conn_put(const char *tenant, const char *id, const char *plugin,
                               const char *cfg, int interval_s, int ticks)
{
    ch_conn_spec s = {.tenant = tenant, .id = id, .plugin = plugin, .config = cfg,
                      .config_len = strlen(cfg), .interval_s = interval_s, .ticks = ticks};
    if (ch_conn_put(&s, "system", NULL, NULL, NULL) != C360_OK) {
        fprintf(stderr, "conn put %s failed\n", id);
        exit(1);
    }
}

/* XADDs an event of kind k (wh, tick...) for conn of the wtp plugin, the
 * way ingress writes one: headers (a JSON object) may be NULL for none.
 * The new entry's id goes to id_out (cap bytes; "" on failure) unless it
 * is NULL. */
static inline void pf_add_event(const char *tenant, const char *conn, const char *k,
                                const char *headers, const char *body, char *id_out, size_t cap)
{
    long long now = (long long)ch_now_ms();
    redisReply *r =
        headers ? redisCommand(pf_raw, "XADD c360:{t:%s}:ev * k %s c %s p wtp t %lld a 1 h %s b %s",
                               tenant, k, conn, now, headers, body)
                : redisCommand(pf_raw, "XADD c360:{t:%s}:ev * k %s c %s p wtp t %lld a 1 b %s",
                               tenant, k, conn, now, body);
    if (id_out) snprintf(id_out, cap, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r) freeReplyObject(r);
}

/* A number a plugin stored with state_incr (0 if absent). */
static inline long long pf_state_num(const char *tenant, const char *conn, const char *key)
{
    const char *v = pf_str("HGET c360:{t:%s}:state:%s:%s v", tenant, conn, key);
    return v[0] == '(' ? 0 : atoll(v);
}

/* A field of a connection's stats hash (0 if absent). */
static inline long long pf_stat_num(const char *tenant, const char *conn, const char *field)
{
    return atoll(pf_str("HGET c360:{t:%s}:conn:%s:stat %s", tenant, conn, field));
}

/* How many entries of c360:{t:<tenant>}:<stream> the workers' group has
 * read and not acknowledged; -1 when there is no such group. */
static inline int pf_pending(const char *tenant, const char *stream)
{
    redisReply *r = redisCommand(pf_raw, "XPENDING c360:{t:%s}:%s w", tenant, stream);
    int n = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                    r->element[0]->type == REDIS_REPLY_INTEGER ? (int)r->element[0]->integer : -1;
    if (r) freeReplyObject(r);
    return n;
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
