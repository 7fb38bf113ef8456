/* queue_ingest.c -- see queue_ingest.h.
 *
 * The ingress's hot path, written for Redis's CPU as much as ours: a plain
 * XADD per event, encoded straight into one reused buffer (constant parts
 * as literals, numbers by hand: no printf and no per-argument allocation),
 * then handed to hiredis, which copies it into its output buffer. */
#include "queue_ingest.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "call.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

/* --- RESP encoding -------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

/* Loop-thread state: the assembly buffer, kept between calls. */
static buf g_out;

static void buf_need(buf *b, size_t more)
{
    if (b->len + more <= b->cap) return;
    b->cap = (b->len + more) * 2;
    b->p = ch_realloc(b->p, b->cap);
}

/* The callers reserve room first (buf_need): these only copy. */
static void put_raw(buf *b, const void *s, size_t n)
{
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define PUT_LIT(b, s) put_raw((b), (s), sizeof(s) - 1)

static void put_num(buf *b, uint64_t n)
{
    /* Most numbers here are bulk lengths of one or two digits. */
    if (n < 10) {
        b->p[b->len++] = (char)('0' + n);
        return;
    }
    if (n < 100) {
        b->p[b->len++] = (char)('0' + n / 10);
        b->p[b->len++] = (char)('0' + n % 10);
        return;
    }
    char tmp[24];
    size_t i = 0;
    do { tmp[i++] = (char)('0' + n % 10); n /= 10; } while (n);
    while (i) b->p[b->len++] = tmp[--i];
}

/* $<len>\r\n: the header of a bulk string. */
static void put_hdr(buf *b, size_t n)
{
    b->p[b->len++] = '$';
    put_num(b, n);
    PUT_LIT(b, "\r\n");
}

/* One bulk string: $<len>\r\n<bytes>\r\n. */
static void put_arg(buf *b, const void *s, size_t n)
{
    put_hdr(b, n);
    put_raw(b, s, n);
    PUT_LIT(b, "\r\n");
}

/* A non-negative number as a bulk string. */
static void put_num_arg(buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = 0;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    put_hdr(b, i);
    while (i) b->p[b->len++] = tmp[--i];
    PUT_LIT(b, "\r\n");
}

/* Room for every fixed part of the XADD: array and bulk headers, the
 * constant arguments, the key's affixes, the numbers. Generous. */
#define XADD_FIXED 256

int ch_qi_send(redisAsyncContext *ac, const char *tenant, const ch_qi_event *ev,
               redisCallbackFn *fn, void *privdata)
{
    size_t ndd = ev->ndedup > CH_QI_DEDUP_MAX ? CH_QI_DEDUP_MAX : ev->ndedup;
    size_t tl = strlen(tenant), cl = strlen(ev->conn), pl = strlen(ev->plugin);
    size_t rl = strlen(ev->request_id);
    size_t ddl = 0, dlen[CH_QI_DEDUP_MAX];
    for (size_t i = 0; i < ndd; i++) ddl += (dlen[i] = strlen(ev->dedup[i])) + (i ? 1 : 0);

    buf *o = &g_out;
    o->len = 0;
    buf_need(o, XADD_FIXED + tl + cl + pl + rl + ev->headers_len + ev->body_len + ddl);
    /* 19 arguments: XADD key * and 8 field/value pairs; dk and dw add 4. */
    if (ndd) PUT_LIT(o, "*23\r\n$4\r\nXADD\r\n");
    else PUT_LIT(o, "*19\r\n$4\r\nXADD\r\n");
    put_hdr(o, sizeof "c360:{t:" - 1 + tl + sizeof "}:ev" - 1);
    PUT_LIT(o, "c360:{t:");
    put_raw(o, tenant, tl);
    PUT_LIT(o, "}:ev\r\n");
    PUT_LIT(o, "$1\r\n*\r\n$1\r\nk\r\n$2\r\nwh\r\n$1\r\nc\r\n");
    put_arg(o, ev->conn, cl);
    PUT_LIT(o, "$1\r\np\r\n");
    put_arg(o, ev->plugin, pl);
    PUT_LIT(o, "$1\r\nt\r\n");
    put_num_arg(o, ev->received_ms > 0 ? (uint64_t)ev->received_ms : 0);
    PUT_LIT(o, "$1\r\na\r\n$1\r\n1\r\n$1\r\nh\r\n");
    put_arg(o, ev->headers_json, ev->headers_len);
    PUT_LIT(o, "$1\r\nb\r\n");
    put_arg(o, ev->body, ev->body_len);
    PUT_LIT(o, "$3\r\nrid\r\n");
    put_arg(o, ev->request_id, rl);
    if (ndd) {
        PUT_LIT(o, "$2\r\ndk\r\n");
        put_hdr(o, ddl);
        for (size_t i = 0; i < ndd; i++) {
            if (i) o->p[o->len++] = ' ';
            put_raw(o, ev->dedup[i], dlen[i]);
        }
        PUT_LIT(o, "\r\n$2\r\ndw\r\n");
        put_num_arg(o, ev->dedup_window_s > 0 ? (uint64_t)ev->dedup_window_s : 7 * 86400);
    }
    return redisAsyncFormattedCommand(ac, fn, privdata, o->p, o->len) == REDIS_OK ? 0 : -1;
}

int ch_qi_stored(const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_STRING) return 1; /* the new entry's id */
    /* At most one line a second: a failing Redis fails every request. */
    static int64_t last_log_ms;
    int64_t now = ch_monotonic_ms();
    if (r && now - last_log_ms >= 1000) {
        last_log_ms = now;
        ch_log(CH_LOG_WARN, "ingress: storing events failed", "error",
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply", NULL);
    }
    return 0;
}

void ch_qi_wake(redisAsyncContext *ac, const char *const *tenants, size_t n)
{
    /* LTRIM <key> 0 <max - 1>, encoded once. */
    static const char trim[] = "*4\r\n$5\r\nLTRIM\r\n$15\r\n" CH_SCHED_WAKE_KEY "\r\n$1\r\n0\r\n$3\r\n999\r\n";
    _Static_assert(sizeof CH_SCHED_WAKE_KEY - 1 == 15 && CH_SCHED_WAKE_MAX == 1000,
                   "the LTRIM literal spells the wake key and its bound");
    if (n == 0) return;
    buf *o = &g_out;
    o->len = 0;
    size_t need = 64;
    for (size_t i = 0; i < n; i++) need += strlen(tenants[i]) + 32;
    buf_need(o, need);
    o->p[o->len++] = '*';
    put_num(o, n + 2);
    PUT_LIT(o, "\r\n$5\r\nLPUSH\r\n$15\r\n" CH_SCHED_WAKE_KEY "\r\n");
    for (size_t i = 0; i < n; i++) put_arg(o, tenants[i], strlen(tenants[i]));
    /* Fire and forget (no callback): a failed wake costs a worker's BLPOP
     * timeout, nothing else. */
    redisAsyncFormattedCommand(ac, NULL, NULL, o->p, o->len);
    redisAsyncFormattedCommand(ac, NULL, NULL, trim, sizeof trim - 1);
}

void ch_qi_shutdown(void)
{
    free(g_out.p);
    memset(&g_out, 0, sizeof g_out);
}
