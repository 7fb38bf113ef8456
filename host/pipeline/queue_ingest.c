/* queue_ingest.c -- see queue_ingest.h.
 *
 * The ingress's hot path, written for Redis's CPU as much as ours: one
 * script call per tenant and loop turn, two redis.call()s per new event,
 * constant field names inside the script rather than on the wire, and the
 * command encoded straight into reused buffers (no per-argument
 * formatting). */
#include "queue_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "call.h"
#include "log.h"
#include "util.h"

/* KEYS[1] the tenant's ev stream, then per event: its connection's stat
 * hash and its dedup keys. ARGV[1] dedup window (s), ARGV[2] the number
 * of events, then per event 7 values: number of dedup keys, connection,
 * plugin, receive time, kept headers, body, request id. */
static const char k_script[] =
    "local w = ARGV[1]\n"
    "local out = {}\n"
    "local ki, ai = 2, 3\n"
    "for e = 1, tonumber(ARGV[2]) do\n"
    "  local nd = tonumber(ARGV[ai])\n"
    "  local fresh = nd == 0\n"
    "  for i = 1, nd do\n"
    "    if redis.call('SET', KEYS[ki + i], '1', 'NX', 'EX', w) then fresh = true end\n"
    "  end\n"
    "  if fresh then\n"
    "    out[e] = redis.call('XADD', KEYS[1], '*', 'k', 'wh', 'c', ARGV[ai + 1],\n"
    "                        'p', ARGV[ai + 2], 't', ARGV[ai + 3], 'a', '1',\n"
    "                        'h', ARGV[ai + 4], 'b', ARGV[ai + 5], 'rid', ARGV[ai + 6])\n"
    "  else\n"
    "    redis.call('HINCRBY', KEYS[ki], 'dup', 1)\n"
    "    out[e] = 0\n"
    "  end\n"
    "  ki = ki + 1 + nd\n"
    "  ai = ai + 7\n"
    "end\n"
    "return out\n";

/* --- RESP encoding -------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_need(buf *b, size_t more)
{
    if (b->len + more <= b->cap) return;
    b->cap = (b->len + more) * 2;
    b->p = ch_realloc(b->p, b->cap);
}

static void put_raw(buf *b, const void *s, size_t n)
{
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_num(buf *b, size_t n)
{
    char tmp[24];
    size_t i = 0;
    do { tmp[i++] = (char)('0' + n % 10); n /= 10; } while (n);
    while (i) b->p[b->len++] = tmp[--i];
}

/* One bulk string: $<len>\r\n<bytes>\r\n. */
static void put_arg(buf *b, const void *s, size_t n)
{
    buf_need(b, n + 32);
    b->p[b->len++] = '$';
    put_num(b, n);
    put_raw(b, "\r\n", 2);
    put_raw(b, s, n);
    put_raw(b, "\r\n", 2);
}

/* A bulk string made of parts (keys: "c360:{t:" T "}:ev"...). */
static void put_parts(buf *b, const char *const *parts, size_t nparts)
{
    size_t n = 0, l[8];
    for (size_t i = 0; i < nparts; i++) n += (l[i] = strlen(parts[i]));
    buf_need(b, n + 32);
    b->p[b->len++] = '$';
    put_num(b, n);
    put_raw(b, "\r\n", 2);
    for (size_t i = 0; i < nparts; i++) put_raw(b, parts[i], l[i]);
    put_raw(b, "\r\n", 2);
}

static void put_int_arg(buf *b, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    put_arg(b, tmp, (size_t)n);
}

struct ch_qi_batch {
    char tenant[CH_ID_MAX + 1];
    buf keys;          /* the per-event keys, encoded */
    buf args;          /* the per-event values, encoded */
    size_t nkeys;      /* encoded in keys (without the stream key) */
    size_t nevents;
    size_t body_bytes;
};

/* Loop-thread state: the script's SHA once known, the assembly buffer. */
static char g_sha[41];
static int g_loading;
static buf g_out;

void ch_qi_reset(void)
{
    g_sha[0] = '\0';
    g_loading = 0;
}

void ch_qi_shutdown(void)
{
    free(g_out.p);
    memset(&g_out, 0, sizeof g_out);
}

ch_qi_batch *ch_qi_batch_new(void) { return ch_calloc(1, sizeof(ch_qi_batch)); }

void ch_qi_batch_free(ch_qi_batch *b)
{
    if (!b) return;
    free(b->keys.p);
    free(b->args.p);
    free(b);
}

void ch_qi_batch_reset(ch_qi_batch *b, const char *tenant)
{
    snprintf(b->tenant, sizeof b->tenant, "%s", tenant ? tenant : "");
    b->keys.len = b->args.len = 0;
    b->nkeys = b->nevents = b->body_bytes = 0;
}

const char *ch_qi_batch_tenant(const ch_qi_batch *b) { return b->tenant; }
size_t ch_qi_batch_count(const ch_qi_batch *b) { return b->nevents; }

int ch_qi_batch_full(const ch_qi_batch *b)
{
    return b->nevents >= CH_QI_BATCH_EVENTS || b->body_bytes >= CH_QI_BATCH_BYTES;
}

void ch_qi_batch_add(ch_qi_batch *b, const ch_qi_event *ev)
{
    size_t ndd = ev->ndedup > CH_QI_DEDUP_MAX ? CH_QI_DEDUP_MAX : ev->ndedup;
    const char *stat[] = {"c360:{t:", b->tenant, "}:conn:", ev->conn, ":stat"};
    put_parts(&b->keys, stat, 5);
    for (size_t i = 0; i < ndd; i++) {
        const char *dd[] = {"c360:{t:", b->tenant, "}:dd:", ev->conn, ":", ev->dedup[i]};
        put_parts(&b->keys, dd, 6);
    }
    b->nkeys += 1 + ndd;
    put_int_arg(&b->args, (long long)ndd);
    put_arg(&b->args, ev->conn, strlen(ev->conn));
    put_arg(&b->args, ev->plugin, strlen(ev->plugin));
    put_int_arg(&b->args, (long long)ev->received_ms);
    put_arg(&b->args, ev->headers_json, ev->headers_len);
    put_arg(&b->args, ev->body, ev->body_len);
    put_arg(&b->args, ev->request_id, strlen(ev->request_id));
    b->nevents++;
    b->body_bytes += ev->body_len;
}

static void on_script_load(redisAsyncContext *ac, void *reply_, void *priv)
{
    (void)ac;
    (void)priv;
    redisReply *r = reply_;
    g_loading = 0;
    if (r && r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(g_sha, r->str, 40);
        g_sha[40] = '\0';
    } else if (r) {
        ch_log(CH_LOG_WARN, "ingress: SCRIPT LOAD failed", "error",
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply", NULL);
    }
}

int ch_qi_batch_send(redisAsyncContext *ac, ch_qi_batch *b, int dedup_window_s,
                     redisCallbackFn *fn, void *privdata)
{
    if (!g_sha[0] && !g_loading) {
        if (redisAsyncCommand(ac, on_script_load, NULL, "SCRIPT LOAD %b", k_script,
                              sizeof k_script - 1) == REDIS_OK)
            g_loading = 1;
    }
    int eval = !g_sha[0];
    size_t nargs = 3 + 1 + b->nkeys + 2 + 7 * b->nevents;
    g_out.len = 0;
    buf_need(&g_out, 64 + sizeof k_script + b->keys.len + b->args.len + 256);
    g_out.p[g_out.len++] = '*';
    put_num(&g_out, nargs);
    put_raw(&g_out, "\r\n", 2);
    if (eval) {
        put_arg(&g_out, "EVAL", 4);
        put_arg(&g_out, k_script, sizeof k_script - 1);
    } else {
        put_arg(&g_out, "EVALSHA", 7);
        put_arg(&g_out, g_sha, 40);
    }
    put_int_arg(&g_out, (long long)(1 + b->nkeys));
    const char *ev[] = {"c360:{t:", b->tenant, "}:ev"};
    put_parts(&g_out, ev, 3);
    buf_need(&g_out, b->keys.len);
    put_raw(&g_out, b->keys.p, b->keys.len);
    put_int_arg(&g_out, dedup_window_s > 0 ? dedup_window_s : 604800);
    put_int_arg(&g_out, (long long)b->nevents);
    buf_need(&g_out, b->args.len);
    put_raw(&g_out, b->args.p, b->args.len);
    ch_qi_batch_reset(b, NULL);
    return redisAsyncFormattedCommand(ac, fn, privdata, g_out.p, g_out.len) == REDIS_OK ? 0 : -1;
}

ch_qi_result ch_qi_result_of(const redisReply *r, size_t i, size_t n)
{
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == n && i < n) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING) return CH_QI_STORED;
        if (e->type == REDIS_REPLY_INTEGER && e->integer == 0) return CH_QI_DUPLICATE;
    }
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
        g_sha[0] = '\0'; /* the next batch loads it again */
    /* At most one line a second: a failing Redis fails every request. */
    static int64_t last_log_ms;
    int64_t now = ch_monotonic_ms();
    if (r && now - last_log_ms >= 1000) {
        last_log_ms = now;
        ch_log(CH_LOG_WARN, "ingress: storing events failed", "error",
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply", NULL);
    }
    return CH_QI_FAILED;
}

void ch_qi_wake(redisAsyncContext *ac, const char *const *tenants, size_t n)
{
    if (n == 0) return;
    for (size_t i = 0; i < n; i++)
        redisAsyncCommand(ac, NULL, NULL, "LPUSH c360:{idx}:wake %s", tenants[i]);
    redisAsyncCommand(ac, NULL, NULL, "LTRIM c360:{idx}:wake 0 999");
}
