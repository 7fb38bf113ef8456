/* api_status.c -- a connection's status, its sync log and its delivery
 * attempts (docs/api/status.md).
 *
 * Everything here is read from what the pipeline already writes, never
 * from a plugin: the connection hash and its connstatus mirror (state,
 * cause, since), the stat hash c360:{t:T}:conn:<c>:stat (times and
 * counters: docs/pipeline.md, "Status and metrics"), the OAuth metadata
 * hash of its "default" token (never the token), the sync log the workers
 * append to (worker_exec.c: c360:{t:T}:synclog:<c>) and the delivery log
 * of the outcome script (c360:{t:T}:dlog:<c>). Both logs are capped
 * streams (about the last 1000 entries), paged newest first with the
 * stream ids as cursors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_logutil.h"
#include "connector_api.h"
#include "conns.h"
#include "connstatus.h"
#include "keys.h"
#include "oauth_store.h"
#include "rconn.h"
#include "sched_int.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 200

/* ---- helpers ------------------------------------------------------------ */

static json_t *ms_or_null(int64_t ms) { return ms > 0 ? json_integer(ms) : json_null(); }

static int64_t num(const redisReply *v)
{
    return v && v->type == REDIS_REPLY_STRING ? strtoll(v->str, NULL, 10) : 0;
}

/* A string field as JSON ("" and absent -> null); stored text is the
 * workers' and always valid UTF-8, but a Redis value is checked anyway. */
static json_t *text_or_null(const redisReply *v)
{
    if (!v || v->type != REDIS_REPLY_STRING || v->len == 0) return json_null();
    json_t *s = json_stringn(v->str, v->len);
    return s ? s : json_null();
}

/* ---- GET .../connections/{conn}/status ------------------------------------ */

static json_t *token_json(const ch_oauth_meta *m)
{
    if (!m->version) return json_null();
    json_t *t = json_pack("{s:s, s:o, s:o, s:b}", "name", "default", "expires_ms",
                          ms_or_null(m->expires_at_ms), "obtained_ms",
                          ms_or_null(m->obtained_at_ms), "needs_reauth", m->dead);
    if (m->refresh_expires_at_ms > 0)
        json_object_set_new(t, "refresh_expires_ms", json_integer(m->refresh_expires_at_ms));
    if (m->dead && m->dead_cause[0]) json_object_set_new(t, "reauth_cause", json_string(m->dead_cause));
    return t;
}

static void get_status(ch_actx *x)
{
    const char *id = ch_aparam(x, "conn");
    ch_conn *c = NULL;
    int32_t st = ch_conn_get(x->tenant, id, &c);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connection");
        return;
    }
    ch_connstatus cs;
    int32_t cst = ch_connstatus_get(x->tenant, id, &cs);
    ch_oauth_meta om;
    int32_t ost = ch_oauth_meta_read(x->tenant, id, "default", &om);
    char *skey = ch_key_tenant(x->tenant, "conn:%s:stat", id);
    redisReply *r = ch_rconn_command(
        "HMGET %s last_tick_ms last_ok_ms last_err_ms last_err events records deliveries "
        "retries dlq dropped dup", skey);
    free(skey);
    if ((cst != C360_OK && cst != C360_ENOTFOUND) || ost != C360_OK || !r ||
        r->type != REDIS_REPLY_ARRAY || r->elements != 11) {
        if (r) freeReplyObject(r);
        ch_conn_free(c);
        ch_aerr_status(x, C360_EIO, "connection status");
        return;
    }
    redisReply **e = r->element;
    /* The connstatus record is what customers see (an OAuth grant that
     * died is recorded there before the plugin reports it); without one,
     * the registry's state. */
    json_t *o = json_object();
    json_object_set_new(o, "connection", json_string(c->id));
    json_object_set_new(o, "plugin", json_string(c->plugin));
    json_object_set_new(o, "state", json_string(cst == C360_OK ? cs.state : c->state));
    json_object_set_new(o, "cause", json_string(cst == C360_OK ? cs.cause : c->cause));
    json_object_set_new(o, "since_ms", ms_or_null(cst == C360_OK ? cs.since_ms : 0));
    json_object_set_new(o, "last_tick_ms", ms_or_null(num(e[0])));
    json_object_set_new(o, "last_success_ms", ms_or_null(num(e[1])));
    json_object_set_new(o, "last_error_ms", ms_or_null(num(e[2])));
    json_object_set_new(o, "last_error", text_or_null(e[3]));
    json_object_set_new(o, "token", token_json(&om));
    int64_t retries = num(e[7]), dlq = num(e[8]);
    json_object_set_new(o, "counts",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                                  "events", (json_int_t)num(e[4]), "records", (json_int_t)num(e[5]),
                                  "delivered", (json_int_t)num(e[6]), "failed",
                                  (json_int_t)(retries + dlq), "retries", (json_int_t)retries,
                                  "dead_letters", (json_int_t)dlq, "dropped",
                                  (json_int_t)num(e[9]), "duplicates", (json_int_t)num(e[10])));
    freeReplyObject(r);
    /* Sources count what their catch-up polls found that no webhook
     * delivered in the state key "missed_webhooks" (docs/plugin-abi.md): a
     * health signal the customer sees. */
    char *mk = ch_key_tenant(x->tenant, "state:%s:missed_webhooks", id);
    redisReply *m = ch_rconn_command("HGET %s v", mk);
    free(mk);
    json_t *counts = json_object_get(o, "counts");
    if (m && m->type == REDIS_REPLY_STRING)
        json_object_set_new(counts, "missed_webhooks", json_integer(num(m)));
    else
        json_object_set_new(counts, "missed_webhooks", json_integer(0));
    if (m) freeReplyObject(m);
    ch_conn_free(c);
    ch_areply(x, 200, o);
}

/* ---- GET .../connections/{conn}/sync-log ---------------------------------- */

static const char *const sync_statuses[] = {"ok", "retry", "dead_letter", "error", NULL};
static const char *const sync_kinds[] = {"tick", "event", NULL};

typedef struct sync_filter {
    unsigned status, kind;
} sync_filter;

static int word_in(const redisReply *v, const char *const *words, unsigned set)
{
    if (!set) return 1;
    if (!v) return 0;
    for (unsigned i = 0; words[i]; i++)
        if ((set & (1u << i)) && strlen(words[i]) == v->len && memcmp(words[i], v->str, v->len) == 0)
            return 1;
    return 0;
}

static json_t *sync_item(const char *id, const redisReply *f, void *arg)
{
    const sync_filter *flt = arg;
    const redisReply *kind = ch_alog_field(f, "kind"), *status = ch_alog_field(f, "status");
    if (!word_in(status, sync_statuses, flt->status) || !word_in(kind, sync_kinds, flt->kind))
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "at_ms", json_integer(ch_stream_id_ms(id)));
    json_object_set_new(o, "kind", text_or_null(kind));
    json_object_set_new(o, "status", text_or_null(status));
    json_object_set_new(o, "error", text_or_null(ch_alog_field(f, "error")));
    json_object_set_new(o, "records", json_integer(num(ch_alog_field(f, "records"))));
    json_object_set_new(o, "duration_ms", json_integer(num(ch_alog_field(f, "duration_ms"))));
    json_object_set_new(o, "request_id", text_or_null(ch_alog_field(f, "request_id")));
    json_object_set_new(o, "entry", text_or_null(ch_alog_field(f, "entry")));
    json_object_set_new(o, "attempt", json_integer(num(ch_alog_field(f, "attempt"))));
    return o;
}

/* The common part of both logs: the connection, the range, the page. */
static int log_request(ch_actx *x, int64_t *since, int64_t *until, ch_apage *pg)
{
    if (ch_alog_conn(x, ch_aparam(x, "conn")) != 0) return -1;
    if (ch_alog_query_range(x, since, until) != 0) return -1;
    if (ch_apage_parse(x, PAGE_DEFAULT, PAGE_MAX, pg) != 0) return -1;
    return ch_alog_cursor(x, pg->cursor);
}

static void send_page(ch_actx *x, const char *what, const char *fmt, int64_t since, int64_t until,
                      const ch_apage *pg, ch_alog_item_fn fn, void *arg)
{
    char *key = ch_key_tenant(x->tenant, fmt, ch_aparam(x, "conn"));
    json_t *items;
    char next[CH_ALOG_ID_MAX];
    int32_t st = ch_alog_stream_page(key, since, until, pg->cursor, (size_t)pg->limit, fn, arg,
                                     &items, next);
    free(key);
    if (st != C360_OK) {
        ch_aerr_status(x, st, what);
        return;
    }
    ch_areply(x, 200, ch_alist(items, next));
}

static void get_sync_log(ch_actx *x)
{
    int64_t since, until;
    ch_apage pg;
    sync_filter f;
    if (log_request(x, &since, &until, &pg) != 0) return;
    if (ch_alog_query_words(x, "status", sync_statuses, &f.status) != 0) return;
    if (ch_alog_query_words(x, "kind", sync_kinds, &f.kind) != 0) return;
    send_page(x, "sync log", "synclog:%s", since, until, &pg, sync_item, &f);
}

/* ---- GET .../connections/{conn}/deliveries -------------------------------- */

static const char *const delivery_statuses[] = {"ok", "retry", "error", NULL};

/* The SDK status of an attempt, by the name of its enum constant. */
static const char *code_name(long long st)
{
    static const char *const names[] = {"ok",       "retry",        "error",   "einval",
                                        "enomem",   "enotfound",    "eunsupported",
                                        "etoobig",  "econflict",    "eauth",   "etimeout",
                                        "eio",      "edenied"};
    return st >= 0 && st < (long long)(sizeof names / sizeof names[0]) ? names[st] : "unknown";
}

/* The statuses the workers retry (worker.h): the attempt that failed with
 * one was tried again unless it was the last allowed, which went to the
 * dead letters. */
static int retried(long long st)
{
    return st == C360_RETRY || st == C360_EIO || st == C360_ENOMEM || st == C360_ETIMEOUT ||
           st == C360_EAUTH;
}

static json_t *delivery_item(const char *id, const redisReply *f, void *arg)
{
    const unsigned *want = arg;
    const redisReply *stv = ch_alog_field(f, "st");
    long long st = stv ? strtoll(stv->str, NULL, 10) : C360_ERROR;
    const char *status = st == C360_OK ? "ok" : retried(st) ? "retry" : "error";
    unsigned bit = st == C360_OK ? 1u : retried(st) ? 2u : 4u;
    if (*want && !(*want & bit)) return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "at_ms", json_integer(ch_stream_id_ms(id)));
    json_object_set_new(o, "record_id", text_or_null(ch_alog_field(f, "ri")));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "code", json_string(code_name(st)));
    json_object_set_new(o, "duration_ms", json_integer(num(ch_alog_field(f, "ms"))));
    json_object_set_new(o, "error", text_or_null(ch_alog_field(f, "err")));
    return o;
}

static void get_deliveries(ch_actx *x)
{
    int64_t since, until;
    ch_apage pg;
    unsigned want;
    if (log_request(x, &since, &until, &pg) != 0) return;
    if (ch_alog_query_words(x, "status", delivery_statuses, &want) != 0) return;
    send_page(x, "delivery log", "dlog:%s", since, until, &pg, delivery_item, &want);
}

const ch_aroute ch_api_status_routes[] = {
    {"GET", "/v1/tenants/{tenant}/connections/{conn}/status", CH_ROLE_TENANT_VIEWER, get_status, 0,
     "A connection's state, last tick, success and error, token expiry and counters"},
    {"GET", "/v1/tenants/{tenant}/connections/{conn}/sync-log", CH_ROLE_TENANT_VIEWER, get_sync_log,
     0, "The connection's sync log: one entry per tick and event outcome, newest first"},
    {"GET", "/v1/tenants/{tenant}/connections/{conn}/deliveries", CH_ROLE_TENANT_VIEWER,
     get_deliveries, 0, "Delivery attempts to the connection, newest first"},
    {0},
};
