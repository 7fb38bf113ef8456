/* ingress_store.c -- the accepted event's way into Redis. Each target
 * connection's copy of the event joins its tenant's batch for this loop
 * turn (queue_ingest.h); when the turn's callbacks are done the batches go
 * out, one script call each. A request is answered once every one of its
 * targets has been acknowledged (200) or any failed (503). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "ingress_int.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

struct ing_pending;

typedef struct ing_target {
    struct ing_pending *p;
    char tenant[CH_ID_MAX + 1];
} ing_target;

/* One request waiting for Redis. */
typedef struct ing_pending {
    ch_ingress *ing;
    ch_req *req;
    size_t outstanding;
    size_t stored, dups;
    int failed;
    ing_target t[]; /* one per target connection */
} ing_pending;

/* One script call in flight: the targets of its events, in order. */
typedef struct ing_inflight {
    ch_ingress *ing;
    size_t n;
    ing_target *t[];
} ing_inflight;

void ing_error(ch_req *req, int status, const char *code, const char *message)
{
    if (status == 503) ch_req_add_header(req, "Retry-After", "1");
    ch_req_error(req, status, code, message);
}

static void finish(ing_pending *p)
{
    ch_ingress *ing = p->ing;
    ing->st.pending--;
    if (p->failed) {
        ing->st.unavailable++;
        ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
        ing_error(p->req, 503, "store_unavailable", "the event could not be stored; retry");
    } else if (p->stored) {
        static const char ok[] = "{\"ok\":true}";
        ing->st.accepted++;
        ch_metrics_inc(CH_M_EVENTS_ACCEPTED, 1);
        if (p->dups) ch_metrics_inc(CH_M_EVENTS_DUPLICATE, p->dups);
        ch_req_reply(p->req, 200, "application/json", ok, sizeof ok - 1);
    } else {
        static const char dup[] = "{\"ok\":true,\"duplicate\":true}";
        ing->st.duplicates++;
        ch_metrics_inc(CH_M_EVENTS_DUPLICATE, 1);
        ch_req_reply(p->req, 200, "application/json", dup, sizeof dup - 1);
    }
    free(p);
    ing_unref(ing);
}

static void target_done(ing_target *t, ch_qi_result res)
{
    ing_pending *p = t->p;
    if (res == CH_QI_STORED) {
        p->stored++;
        p->ing->st.stored++;
    } else if (res == CH_QI_DUPLICATE) {
        p->dups++;
    } else {
        p->failed = 1;
    }
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
    for (size_t i = 0; i < ing->nwake; i++)
        if (strcmp(ing->wake[i], tenant) == 0) return;
    if (ing->nwake == CH_INGRESS_WAKE_MAX) wake_flush(ing, ac);
    snprintf(ing->wake[ing->nwake], sizeof ing->wake[0], "%s", tenant);
    if (ing->nwake++ == 0) event_active(ing->wake_ev, EV_TIMEOUT, 1);
}

/* --- batches ------------------------------------------------------------------ */

static void on_batch(redisAsyncContext *ac, void *reply, void *priv)
{
    ing_inflight *f = priv;
    ch_ingress *ing = f->ing;
    char tenant[CH_ID_MAX + 1]; /* the targets may be freed by their replies */
    memcpy(tenant, f->t[0]->tenant, sizeof tenant);
    int stored = 0;
    for (size_t i = 0; i < f->n; i++) {
        ch_qi_result r = ch_qi_result_of(reply, i, f->n);
        stored |= r == CH_QI_STORED;
        target_done(f->t[i], r);
    }
    if (stored && reply) ing_wake(ing, ac, tenant);
    free(f);
    ing_unref(ing); /* the batch's own reference */
}

/* Sends one slot's batch (or fails its targets when Redis is away). */
static void send_slot(ch_ingress *ing, ing_slot *s, redisAsyncContext *ac)
{
    if (s->n == 0) return;
    ing_inflight *f = ch_malloc(sizeof *f + s->n * sizeof f->t[0]);
    f->ing = ing;
    f->n = s->n;
    memcpy(f->t, s->t, s->n * sizeof f->t[0]);
    s->n = 0;
    ing->refs++;
    if (!ac || ch_qi_batch_send(ac, s->b, ing->dedup_window_s, on_batch, f) != 0) {
        ch_qi_batch_reset(s->b, NULL);
        for (size_t i = 0; i < f->n; i++) target_done(f->t[i], CH_QI_FAILED);
        free(f);
        ing_unref(ing);
    }
}

void ing_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ch_ingress *ing = arg;
    redisAsyncContext *ac = ch_redis_context(ing->redis);
    ing->refs++; /* a failing batch may finish the last request */
    for (size_t i = 0; i < ing->nslots; i++) send_slot(ing, &ing->slots[i], ac);
    ing->nslots = 0;
    ing_unref(ing);
}

/* The slot of tenant in this turn (a new one if needed). */
static ing_slot *slot_for(ch_ingress *ing, const char *tenant)
{
    for (size_t i = 0; i < ing->nslots; i++)
        if (strcmp(ch_qi_batch_tenant(ing->slots[i].b), tenant) == 0) return &ing->slots[i];
    if (ing->nslots == CH_INGRESS_BATCH_TENANTS) {
        /* Many tenants this turn: send what we have, start over. */
        redisAsyncContext *ac = ch_redis_context(ing->redis);
        for (size_t i = 0; i < ing->nslots; i++) send_slot(ing, &ing->slots[i], ac);
        ing->nslots = 0;
    }
    ing_slot *s = &ing->slots[ing->nslots++];
    if (!s->b) s->b = ch_qi_batch_new();
    ch_qi_batch_reset(s->b, tenant);
    s->n = 0;
    if (ing->nslots == 1) event_active(ing->flush_ev, EV_TIMEOUT, 1);
    return s;
}

void ing_store(ch_ingress *ing, ch_req *req, const char *plugin, const ing_tin *tin, size_t n,
               int64_t received_ms)
{
    if (!ch_redis_context(ing->redis)) {
        ing->st.unavailable++;
        ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
        ing_error(req, 503, "store_unavailable", "the event store is unreachable; retry");
        return;
    }
    ing_pending *p = ch_malloc(sizeof *p + n * sizeof p->t[0]);
    memset(p, 0, sizeof *p);
    p->ing = ing;
    p->req = ch_req_defer(req);
    /* One extra count while queueing, so that a batch failing at once
     * cannot finish (and free) the request under this loop. */
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
        ing_slot *s = slot_for(ing, t->tenant);
        ch_qi_event ev = {.conn = tin[i].id, .plugin = plugin, .dedup = tin[i].dd,
                          .ndedup = tin[i].ndd, .received_ms = received_ms,
                          .headers_json = ing->hjson, .headers_len = ing->hjson_len,
                          .body = body, .body_len = len, .request_id = ch_req_id(p->req)};
        ch_qi_batch_add(s->b, &ev);
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 32;
            s->t = ch_realloc(s->t, s->cap * sizeof *s->t);
        }
        s->t[s->n++] = t;
        /* A full batch goes now; the turn's flush sends the rest. */
        if (ch_qi_batch_full(s->b)) {
            send_slot(ing, s, ch_redis_context(ing->redis));
            ch_qi_batch_reset(s->b, t->tenant);
        }
    }
    if (--p->outstanding == 0) finish(p);
}
