/* ingress_int.h -- shared by ingress.c (routing, verify), ingress_headers.c
 * and ingress_store.c (the async write). Not an API: ingress.h is. */
#ifndef CH_INGRESS_INT_H
#define CH_INGRESS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <hiredis/async.h>

#include "connector_api.h"
#include "ingress.h"
#include "queue_ingest.h"
#include "route_sink.h"

#define CH_INGRESS_WAKE_MAX 64
#define CH_INGRESS_BATCH_TENANTS 16 /* tenants batched per loop turn */

struct ing_target; /* ingress_store.c */

/* The events one tenant received this loop turn, and whom to tell. */
typedef struct ing_slot {
    ch_qi_batch *b;
    struct ing_target **t;
    size_t n, cap;
} ing_slot;

typedef struct ing_plugin {
    const ch_plugin *p;
    const char *name;
    const ch_plugin_ops *ops;
    void *data;
    size_t idx;          /* loader index: the metrics slot */
    int webhook;         /* C360_CAP_SOURCE_WEBHOOK */
} ing_plugin;

/* One connection an accepted event goes to, with its dedup keys (pointers
 * valid during ing_store only). */
typedef struct ing_tin {
    char tenant[CH_ID_MAX + 1];
    char id[CH_ID_MAX + 1];
    const char *dd[CH_QI_DEDUP_MAX];
    size_t ndd;
} ing_tin;

struct ch_ingress {
    ch_http *http;
    ch_redis *redis;
    ch_conncache *cache;
    ch_instances *instances;
    int dedup_window_s;
    ing_plugin *plugins;
    size_t nplugins;

    /* Scratch of the loop thread, reused by every request: no allocation
     * on the hot path once warm. */
    c360_header hv[CH_INGRESS_MAX_HEADERS];
    size_t nhv;
    char *names;         /* lower-cased header names */
    size_t names_cap;
    char hjson[CH_INGRESS_KEEP_BYTES + 8];
    size_t hjson_len;
    ch_route_sink sink;
    ch_cc_target found[CH_INGRESS_MAX_TARGETS];
    ing_tin tin[CH_INGRESS_MAX_TARGETS];

    /* This turn's accepted events, one script call per tenant when the
     * turn's callbacks are done (flush_ev). */
    ing_slot slots[CH_INGRESS_BATCH_TENANTS];
    size_t nslots;
    struct event *flush_ev;

    /* Tenants that stored events in this loop turn: one wake-up each,
     * sent when the turn's replies have all been handled. */
    struct event *wake_ev;
    char wake[CH_INGRESS_WAKE_MAX][CH_ID_MAX + 1];
    size_t nwake;

    ch_ingress_stats st;
    size_t refs;         /* 1 (the owner) + requests waiting for Redis */
};

/* Collects the request's headers into ing->hv with lower-cased names.
 * Returns 0, or -1 when there are more than CH_INGRESS_MAX_HEADERS. */
int ing_collect_headers(ch_ingress *ing, const ch_req *req);
/* Writes the kept headers of ing->hv as a JSON object into ing->hjson. */
void ing_kept_headers_json(ch_ingress *ing);

/* Stores the event for tin[0..n) and answers the request when Redis has
 * acknowledged every write (the request is deferred here). */
void ing_store(ch_ingress *ing, ch_req *req, const char *plugin, const ing_tin *tin, size_t n,
               int64_t received_ms);

/* Owes tenant a wake-up at the end of this loop turn. */
void ing_wake(ch_ingress *ing, redisAsyncContext *ac, const char *tenant);
/* The wake event's callback (sends what is owed). */
void ing_wake_cb(evutil_socket_t fd, short what, void *arg);
/* The flush event's callback (sends this turn's batches). */
void ing_flush_cb(evutil_socket_t fd, short what, void *arg);

/* Drops a reference; the last one frees the ingress. */
void ing_unref(ch_ingress *ing);

/* Sends a JSON error, with Retry-After: 1 for 503. */
void ing_error(ch_req *req, int status, const char *code, const char *message);

#endif
