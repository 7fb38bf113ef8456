/* ingress_store.c -- the accepted event's way into Redis. Each target
 * connection's copy of the event is one XADD, queued at once on the async
 * connection (queue_ingest.h; hiredis writes what the loop turn queued in
 * one go). A request is answered once every one of its targets has been
 * acknowledged (200) or any failed (503). */
#include <stdlib.h>
#include <string.h>

#include "ingress_int.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* One XADD in flight: the callback's privdata. */
typedef struct ing_target {
    struct ing_pending *p;
    char tenant[CH_ID_MAX + 1];
} ing_target;

/* One request waiting for Redis; pooled (ing->pool) once finished. */
typedef struct ing_pending {
    ch_ingress *ing;
    ch_req *req;
    struct ing_pending *next; /* in the pool */
    size_t cap;               /* targets this record has room for */
    size_t outstanding;
    int failed;
    ing_target t[];           /* one per target connection */
} ing_pending;

void ing_error(ch_req *req, int status, const char *code, const char *message)
{
    if (status == 503) ch_req_add_header(req, "Retry-After", "1");
    ch_req_error(req, status, code, message);
}

/* --- request records ---------------------------------------------------------- */

static ing_pending *pending_get(ch_ingress *ing, size_t n)
{
    ing_pending *p = ing->pool;
    if (p && p->cap >= n) {
        ing->pool = p->next;
        ing->npool--;
        return p;
    }
    /* Empty pool, or a record too small for an app-level event reaching
     * many connections: a fresh one (it joins the pool afterwards). */
    size_t cap = n > 1 ? n : 1;
    p = ch_malloc(sizeof *p + cap * sizeof p->t[0]);
    p->cap = cap;
    return p;
}

static void pending_put(ch_ingress *ing, ing_pending *p)
{
    /* Bounded: a burst of slow replies must not pin its peak forever. */
    if (ing->npool >= CH_INGRESS_POOL_MAX) {
        free(p);
        return;
    }
    p->next = ing->pool;
    ing->pool = p;
    ing->npool++;
}

void ing_pool_free(ch_ingress *ing)
{
    while (ing->pool) {
        ing_pending *p = ing->pool;
        ing->pool = p->next;
        free(p);
    }
    ing->npool = 0;
}

static void finish(ing_pending *p)
{
    ch_ingress *ing = p->ing;
    ing->st.pending--;
    if (p->failed) {
        ing->st.unavailable++;
        ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
        ing_error(p->req, 503, "store_unavailable", "the event could not be stored; retry");
    } else {
        /* Also for a duplicate: the ingress cannot tell (the workers
         * deduplicate), and the provider must stop resending anyway. */
        static const char ok[] = "{\"ok\":true}";
        ing->st.accepted++;
        ch_metrics_inc(CH_M_EVENTS_ACCEPTED, 1);
        ch_req_reply(p->req, 200, "application/json", ok, sizeof ok - 1);
    }
    pending_put(ing, p);
    ing_unref(ing);
}

static void target_done(ing_target *t, int stored)
{
    ing_pending *p = t->p;
    if (stored) p->ing->st.stored++;
    else p->failed = 1;
    if (--p->outstanding == 0) finish(p);
}

/* --- wake-ups: once per tenant and loop turn -------------------------------- */

static void wake_flush(ch_ingress *ing, redisAsyncContext *ac)
{
    const char *t[CH_INGRESS_WAKE_MAX];
    for (size_t i = 0; i < ing->nwake; i++) t[i] = ing->wake[i];
    if (ac) ch_qi_wake(ac, t, ing->nwake);
    ing->nwake = 0;
}

void ing_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ch_ingress *ing = arg;
    wake_flush(ing, ch_redis_context(ing->redis));
}

void ing_wake(ch_ingress *ing, redisAsyncContext *ac, const char *tenant)
{
    /* Most turns store for one tenant or a few: a short scan. */
    for (size_t i = 0; i < ing->nwake; i++)
        if (strcmp(ing->wake[i], tenant) == 0) return;
    if (ing->nwake == CH_INGRESS_WAKE_MAX) wake_flush(ing, ac);
    size_t n = strnlen(tenant, CH_ID_MAX);
    memcpy(ing->wake[ing->nwake], tenant, n);
    ing->wake[ing->nwake][n] = '\0';
    if (ing->nwake++ == 0) event_active(ing->wake_ev, EV_TIMEOUT, 1);
}

/* --- the writes ---------------------------------------------------------------- */

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv)
{
    ing_target *t = priv;
    int stored = ch_qi_stored(reply);
    /* Before target_done, which may recycle t with its request. */
    if (stored) ing_wake(t->p->ing, ac, t->tenant);
    target_done(t, stored);
}

void ing_store(ch_ingress *ing, ch_req *req, const char *plugin, const ing_tin *tin, size_t n,
               int64_t received_ms)
{
    redisAsyncContext *ac = ch_redis_context(ing->redis);
    if (!ac) {
        ing->st.unavailable++;
        ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
        ing_error(req, 503, "store_unavailable", "the event store is unreachable; retry");
        return;
    }
    ing_pending *p = pending_get(ing, n);
    p->ing = ing;
    p->req = ch_req_defer(req);
    p->failed = 0;
    /* One extra count while queueing, so that a refused write cannot
     * finish (and recycle) the request under this loop. */
    p->outstanding = n + 1;
    ing->refs++;
    ing->st.pending++;
    size_t len;
    const uint8_t *body = ch_req_body(p->req, &len);
    ing_kept_headers_json(ing);
    for (size_t i = 0; i < n; i++) {
        ing_target *t = &p->t[i];
        t->p = p;
        memcpy(t->tenant, tin[i].tenant, sizeof t->tenant);
        ch_qi_event ev = {.conn = tin[i].id, .plugin = plugin, .dedup = tin[i].dd,
                          .ndedup = tin[i].ndd, .dedup_window_s = ing->dedup_window_s,
                          .received_ms = received_ms, .headers_json = ing->hjson,
                          .headers_len = ing->hjson_len, .body = body, .body_len = len,
                          .request_id = ch_req_id(p->req)};
        if (ch_qi_send(ac, t->tenant, &ev, on_xadd, t) != 0) target_done(t, 0);
    }
    if (--p->outstanding == 0) finish(p);
}
