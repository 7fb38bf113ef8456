/* ingress_int.h -- shared by ingress.c (routing, verify), ingress_headers.c
 * and ingress_store.c (the async writes). Not an API: ingress.h is. */
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
#define CH_INGRESS_POOL_MAX 1024 /* request records kept for reuse */
#define CH_INGRESS_MEMO 32       /* header names whose keep verdict is remembered */
#define CH_INGRESS_MEMO_NAME 47  /* longest name remembered */

struct ing_pending; /* ingress_store.c */

/* A header name's verdict (kept with the event or not), remembered: a
 * provider sends the same few names with every request, and the verdict
 * costs a dozen string searches (ingress_headers.c). */
typedef struct ing_memo {
    uint32_t hash;
    uint8_t len;         /* 0 = empty slot */
    uint8_t keep;
    char name[CH_INGRESS_MEMO_NAME + 1];
} ing_memo;

typedef struct ing_plugin {
    const ch_plugin *p;
    const char *name;
    size_t name_len;     /* matched against the URL without strlen */
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
    size_t name_off[CH_INGRESS_MAX_HEADERS]; /* hv[i].name in names */
    char *names;         /* lower-cased header names */
    size_t names_cap;
    char hjson[CH_INGRESS_KEEP_BYTES + 8];
    size_t hjson_len;
    ing_memo memo[CH_INGRESS_MEMO];
    ch_route_sink sink;
    ch_cc_target found[CH_INGRESS_MAX_TARGETS];
    ing_tin tin[CH_INGRESS_MAX_TARGETS];

    /* Records of finished requests, reused (a webhook is answered
     * asynchronously, so its record outlives the callback): no malloc
     * per request once warm. */
    struct ing_pending *pool;
    size_t npool;

    /* Tenants whose events Redis acknowledged in this loop turn: pushed
     * once each (one LPUSH for all), when the turn's replies have all
     * been handled. */
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

/* Stores the event for tin[0..n) (one pipelined XADD each) and answers
 * the request when Redis has acknowledged every write (the request is
 * deferred here). */
void ing_store(ch_ingress *ing, ch_req *req, const char *plugin, const ing_tin *tin, size_t n,
               int64_t received_ms);

/* Owes tenant a wake-up at the end of this loop turn. */
void ing_wake(ch_ingress *ing, redisAsyncContext *ac, const char *tenant);
/* The wake event's callback (sends what is owed). */
void ing_wake_cb(evutil_socket_t fd, short what, void *arg);
/* Frees the pooled request records (with the ingress). */
void ing_pool_free(ch_ingress *ing);

/* Drops a reference; the last one frees the ingress. */
void ing_unref(ch_ingress *ing);

/* Sends a JSON error, with Retry-After: 1 for 503. */
void ing_error(ch_req *req, int status, const char *code, const char *message);

#endif
