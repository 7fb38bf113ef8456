/* queue_ingest.h -- the ingress's writes of accepted webhooks: one Lua
 * script per tenant and loop turn on the master's ASYNC Redis connection
 * (redis.h), from the event loop (docs/pipeline.md, "Events").
 *
 * The events a tenant received during one turn of the loop are collected
 * in a batch and written by a single EVALSHA (keys of one tenant only, so
 * legal in a cluster). For each event, in order, the script:
 *   - dedup: SET NX EX window each dedup key given
 *     (c360:{t:T}:dd:<c>:<key>); if none was new, the event is a
 *     duplicate: HINCRBY c360:{t:T}:conn:<c>:stat dup 1, nothing stored;
 *   - otherwise XADD c360:{t:T}:ev * k wh c <c> p <p> t <ms> a 1 h <json>
 *     b <body> rid <id>. (The XADD cannot fail once a SET succeeded: Redis
 *     refuses a script for memory before it starts, and '*' ids never
 *     collide -- so a dedup key never outlives a failed write and turns the
 *     provider's retry into a "duplicate".) The consumer group `w` is
 *     created by the workers on NOGROUP at id 0 (queue_work.h), so entries
 *     stored before it exists are read too.
 * The reply is an array with, per event, its entry id (stored) or 0
 * (duplicate). Batching amortises the script call, the reply and the
 * system calls over every webhook of the turn; each request is still
 * answered only after the reply that covers its own event.
 *
 * The script goes by EVALSHA once its SHA is known (SCRIPT LOAD is sent
 * with the first batch), by EVAL before. A NOSCRIPT reply (Redis restarted
 * or failed over) fails that batch -- its requests get 503 and the provider
 * retries -- and the next batch loads the script again. All of this runs
 * on the loop thread: no locking. */
#ifndef CH_QUEUE_INGEST_H
#define CH_QUEUE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>

#include "keys.h"

#define CH_QI_DEDUP_MAX 64          /* dedup keys per event and connection */
#define CH_QI_BATCH_EVENTS 128      /* events per script call, at most */
#define CH_QI_BATCH_BYTES (1u << 20) /* bodies per script call: sent early
                                       beyond this, so one call never holds
                                       Redis for long */

/* One event for one connection. Everything is copied by ch_qi_batch_add. */
typedef struct ch_qi_event {
    const char *conn;
    const char *plugin;
    const char *const *dedup;  /* dedup keys (printable, <= 200 bytes) */
    size_t ndedup;             /* 0 = no dedup */
    int64_t received_ms;       /* wall clock */
    const char *headers_json;  /* the kept headers, a JSON object */
    size_t headers_len;
    const uint8_t *body;
    size_t body_len;
    const char *request_id;
} ch_qi_event;

typedef enum ch_qi_result {
    CH_QI_STORED = 0,     /* acknowledged: an entry was added */
    CH_QI_DUPLICATE,      /* every dedup key was seen: nothing stored */
    CH_QI_FAILED          /* Redis error, NOSCRIPT, wrong reply, connection
                             lost */
} ch_qi_result;

/* One tenant's events of a loop turn, encoded as they are added. */
typedef struct ch_qi_batch ch_qi_batch;

ch_qi_batch *ch_qi_batch_new(void);
void ch_qi_batch_free(ch_qi_batch *b);
/* Empties the batch and gives it to tenant (kept buffers are reused). */
void ch_qi_batch_reset(ch_qi_batch *b, const char *tenant);
const char *ch_qi_batch_tenant(const ch_qi_batch *b);
size_t ch_qi_batch_count(const ch_qi_batch *b);
/* 1 when another event should go to a new call (count or bytes limit). */
int ch_qi_batch_full(const ch_qi_batch *b);
/* Appends one event (copied). */
void ch_qi_batch_add(ch_qi_batch *b, const ch_qi_event *ev);
/* Sends the batch as one script call with fn(ac, reply, privdata) as its
 * callback, and empties it. Returns 0, or -1 if hiredis refused the
 * command (the context is going away: fn is not called). */
int ch_qi_batch_send(redisAsyncContext *ac, ch_qi_batch *b, int dedup_window_s,
                     redisCallbackFn *fn, void *privdata);

/* The outcome of event i of a batch of n from the callback's reply (NULL
 * = connection lost). */
ch_qi_result ch_qi_result_of(const redisReply *reply, size_t i, size_t n);

/* Wakes idle workers for these tenants: LPUSH c360:{idx}:wake T per
 * tenant, then LTRIM the list to its newest 1000 entries (fire and forget:
 * a lost wake only delays pickup until a worker's BLPOP times out). The
 * ingress calls it once per loop turn with the tenants that stored events
 * in that turn. */
void ch_qi_wake(redisAsyncContext *ac, const char *const *tenants, size_t n);

/* Forgets the script SHA (tests: a Redis restarted under us). */
void ch_qi_reset(void);
/* Frees the assembly buffer (at exit; the next send allocates again). */
void ch_qi_shutdown(void);

#endif
