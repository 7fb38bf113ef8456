/* ingress.h -- webhook ingress on the master's event loop
 * (docs/pipeline.md, "Ingress").
 *
 *   POST|GET /hooks/{plugin}/{connection}   per-connection URL
 *   POST|GET /hooks/{plugin}                app-level URL (one for every
 *                                           tenant): the plugin's
 *                                           webhook_route names the
 *                                           connections
 *
 * For each request: find the plugin (404 if unknown or without
 * C360_CAP_SOURCE_WEBHOOK) and, per connection, the cached connection
 * (conncache.h: 404 if unknown or of another plugin, 410 if disabled or
 * disconnected -- a tombstone, conns.h ch_conn_gone_mark; a
 * paused, failing or needs_reauth connection still stores its events so
 * that nothing is lost) and its open instance (instances.h: 503 with
 * Retry-After: 1 while the opener has not opened it yet). The plugin's
 * webhook_verify runs with the raw body and the lower-cased headers:
 *
 *   REPLIED -> the plugin's reply is sent, nothing stored;
 *   REJECT  -> 401 or 403 (reply->status when it is one of those), JSON
 *              error, nothing stored; anything else a plugin returns
 *              counts as REJECT;
 *   ACCEPT  -> one XADD per target connection (queue_ingest.h: plain,
 *              pipelined on the async Redis connection, the plugin's
 *              dedup keys stored in the entry); 200 only after Redis
 *              acknowledged the write of every target connection, 503
 *              (Retry-After: 1) if Redis is unreachable or any write
 *              failed -- never 200 without a stored event. The ingress
 *              does not deduplicate: a duplicate is stored and answered
 *              200 like any event, and the worker that picks it up
 *              acknowledges it unprocessed and counts it (queue_work.h,
 *              ch_qw_dedup).
 *
 * App-level: webhook_verify runs with instance_data NULL, then
 * webhook_route, whose route_event calls name routing keys (with dedup
 * keys); each key is resolved in the cache to the connections that
 * registered it (of this plugin, not disabled). The event is stored once
 * per connection (with every dedup key that led to it, field dk). An event that
 * reaches no connection is refused with 404 {"error":{"code":"unrouted"}}
 * and counted; there is no default tenant. A plugin without webhook_route
 * answers 404 on the app-level URL; webhook_route returning an error gives
 * 400.
 *
 * Limits: the body (http.max_body_bytes -> 413) and header block size are
 * enforced by evhttp before routing, as is the read timeout (slow
 * clients); more than CH_INGRESS_MAX_HEADERS headers -> 431. Stored with
 * the event are only the headers that matter: content-type, user-agent
 * and any x-* or webhook-* header, at most CH_INGRESS_KEEP_HEADERS of them
 * and CH_INGRESS_KEEP_BYTES of JSON.
 *
 * Before the connection cache's first full load every request gets 503:
 * an unknown connection then cannot be told from one not loaded yet.
 *
 * Counters: CH_M_EVENTS_ACCEPTED / _REJECTED / _UNROUTED (metrics.h) and
 * ch_ingress_get_stats (duplicates are counted by the workers:
 * CH_M_EVENTS_DUPLICATE and the connection's stat `dup`). No log line per
 * request above debug, and once warm no allocation of the ingress's own
 * per request (its scratch and request records are reused). */
#ifndef CH_INGRESS_H
#define CH_INGRESS_H

#include <stdint.h>

#include "conncache.h"
#include "http.h"
#include "instances.h"
#include "loader.h"
#include "redis.h"

#define CH_INGRESS_MAX_HEADERS 100 /* request headers; more -> 431 */
#define CH_INGRESS_KEEP_HEADERS 32 /* kept with the event */
#define CH_INGRESS_KEEP_BYTES 8192 /* JSON of the kept headers */
#define CH_INGRESS_MAX_TARGETS 256 /* connections one app-level event reaches */

typedef struct ch_ingress ch_ingress;

typedef struct ch_ingress_opts {
    int dedup_window_s; /* config pipeline.dedup_window_s; 0 = 7 days:
                           written into each entry (dw) for the workers */
} ch_ingress_opts;

/* Registers the routes on http (base is its loop). Every pointer must
 * stay valid until ch_ingress_free. Call on the loop thread, before it
 * runs. */
ch_ingress *ch_ingress_new(struct event_base *base, ch_http *http, ch_redis *redis,
                           ch_conncache *cache, ch_instances *instances, const ch_loader *ld,
                           const ch_ingress_opts *opts);
/* Frees the ingress once the loop no longer dispatches requests (it
 * stopped, or ch_http_free ran). Requests still waiting for Redis keep
 * what they need alive until their replies arrive (or the Redis connection
 * is freed, which answers them 503); call it before event_base_free. Loop
 * thread. */
void ch_ingress_free(ch_ingress *ing);

typedef struct ch_ingress_stats {
    uint64_t requests;    /* handled by the ingress */
    uint64_t accepted;    /* answered 200: every target's entry stored */
    uint64_t stored;      /* stream entries written */
    uint64_t replied;     /* handshakes answered by the plugin */
    uint64_t rejected;    /* 401/403 from webhook_verify */
    uint64_t not_found;   /* 404 unknown plugin / connection */
    uint64_t gone;        /* 410 disabled or disconnected connection */
    uint64_t unrouted;    /* 404 app-level event that reached nobody */
    uint64_t unavailable; /* 503: Redis, cache not loaded, instance */
    uint64_t pending;     /* requests waiting for Redis now */
} ch_ingress_stats;
/* Loop thread (or any thread, with torn reads of single counters). */
void ch_ingress_get_stats(const ch_ingress *ing, ch_ingress_stats *out);

#endif
