/* queue_ingest.h -- the ingress's writes of accepted webhooks: one plain
 * XADD per event and connection on the master's ASYNC Redis connection
 * (redis.h), from the event loop (docs/pipeline.md, "Events").
 *
 *   XADD c360:{t:T}:ev * k wh c <c> p <p> t <ms> a 1 h <json> b <body>
 *        rid <id> [dk <dedup keys> dw <window s>]
 *
 * No script and no dedup SET on this path: Redis does the least work per
 * event that still makes it durable (a Lua script that also SET the dedup
 * keys cost Redis about 8 times the CPU of the XADD, and Redis shares the
 * machine with the HTTP server). Deduplication is the workers' first step
 * instead (queue_work.h, ch_qw_dedup): the entry carries the plugin's
 * dedup keys in `dk` (space-separated: a key is printable ASCII without
 * space) and this host's dedup window in `dw`, so a duplicate is stored,
 * then acknowledged unprocessed and counted by the worker that finds it.
 *
 * Commands go out pipelined: hiredis queues each one and writes whatever
 * the loop turn queued in one go; each event has its own reply, so a
 * request is answered as soon as its own writes are acknowledged. The
 * consumer group `w` is created by the workers on NOGROUP at id 0
 * (queue_work.h), so entries stored before it exists are read too. All of
 * this runs on the loop thread: no locking. */
#ifndef CH_QUEUE_INGEST_H
#define CH_QUEUE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>

#include "keys.h"

#define CH_QI_DEDUP_MAX 64 /* dedup keys per event and connection (the
                              workers read no more: CH_QW_DEDUP_MAX) */

/* One event for one connection. Everything is copied by ch_qi_send. */
typedef struct ch_qi_event {
    const char *conn;
    const char *plugin;
    const char *const *dedup;  /* dedup keys (printable ASCII without
                                  space, <= 200 bytes: as hostapi.c and
                                  route_sink.c accept them) */
    size_t ndedup;             /* 0 = no dedup: no dk / dw fields */
    int dedup_window_s;        /* dw; <= 0 = 7 days */
    int64_t received_ms;       /* wall clock */
    const char *headers_json;  /* the kept headers, a JSON object */
    size_t headers_len;
    const uint8_t *body;
    size_t body_len;
    const char *request_id;
} ch_qi_event;

/* Queues the XADD of ev to tenant's event stream with fn(ac, reply,
 * privdata) as its callback. Returns 0, or -1 if hiredis refused the
 * command (the context is going away: fn is not called). */
int ch_qi_send(redisAsyncContext *ac, const char *tenant, const ch_qi_event *ev,
               redisCallbackFn *fn, void *privdata);

/* 1 when a callback's reply says the entry was added; 0 for an error
 * reply, an unexpected one or NULL (connection lost). Failures with a
 * reply are logged, at most once a second (a failing Redis fails every
 * request). */
int ch_qi_stored(const redisReply *reply);

/* Wakes idle workers for these tenants: one LPUSH c360:{idx}:wake with
 * every tenant, then LTRIM the list to its newest 1000 entries (fire and
 * forget: a lost wake only delays pickup until a worker's BLPOP times
 * out). The ingress calls it once per loop turn with the tenants whose
 * events Redis acknowledged in that turn. */
void ch_qi_wake(redisAsyncContext *ac, const char *const *tenants, size_t n);

/* Frees the assembly buffer (at exit; the next send allocates again). */
void ch_qi_shutdown(void);

#endif
