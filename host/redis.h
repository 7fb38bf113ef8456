/* redis.h -- the master's Redis connection: hiredis's async API on the
 * libevent loop, with reconnect and capped, jittered backoff.
 *
 * Readiness follows Redis: the connection is ready only after connect, AUTH
 * (when a password is configured), SELECT and a PING have succeeded, and it
 * stays ready while a PING every second is answered within the health
 * timeout. A Redis that stops answering (crashed, frozen, partitioned) is
 * dropped and reconnected without restarting c360d. */
#ifndef CH_REDIS_H
#define CH_REDIS_H

#include <event2/event.h>

#include "err.h"
#include "redis_url.h"

typedef struct ch_redis ch_redis;
struct redisAsyncContext;

/* `password` may be NULL; it is copied into locked memory and wiped on free. */
ch_redis *ch_redis_new(struct event_base *base, const ch_redis_url *url,
                       const char *username, const char *password);
/* Starts connecting (and keeps reconnecting until freed). */
void ch_redis_start(ch_redis *r);
void ch_redis_free(ch_redis *r);

int ch_redis_ready(const ch_redis *r);
/* Why it is not ready ("connecting", "connection refused", ...); "ready"
 * otherwise. Never contains credentials. */
const char *ch_redis_status(const ch_redis *r);
/* The live context for commands, or NULL when not ready. */
struct redisAsyncContext *ch_redis_context(ch_redis *r);
/* Times a ready connection was lost (for logs and metrics). */
unsigned long ch_redis_reconnects(const ch_redis *r);

/* Reads the Redis password: the file if given (trailing newline dropped),
 * else $C360_REDIS_PASSWORD, else none. Returns NULL with *err set on a
 * read failure. The caller wipes and frees the result with ch_secret_free. */
char *ch_redis_password_load(const char *file, const char **err);
void ch_secret_free(char *s);

/* --- Pieces shared with the other connections to the same Redis
 * (pipeline/conncache_sub.c's subscription, services/rconn.c). --- */

/* A copy of password in guarded memory (sodium_malloc; release it with
 * sodium_free, which wipes it first), or NULL for NULL. Aborts when out of
 * memory. */
char *ch_redis_password_copy(const char *password);

/* Arms timer for the next reconnect attempt: *backoff_ms doubles from
 * 100 ms up to 5 s (reset it to 0 once connected), and the delay is
 * jittered within [backoff/2, backoff] so that many hosts losing one Redis
 * do not come back in lockstep. */
void ch_redis_backoff(int *backoff_ms, struct event *timer);

/* Starts an async connection to url on base (TCP keepalive on when asked
 * and the URL is not a unix socket), with ac->data = data and the connect
 * and disconnect callbacks set. NULL when it cannot even start, with the
 * reason in why (hiredis's text or "out of memory"; never credentials). */
struct redisAsyncContext *ch_redis_async_open(
    struct event_base *base, const ch_redis_url *url, int keepalive, void *data,
    void (*on_connect)(const struct redisAsyncContext *, int),
    void (*on_disconnect)(const struct redisAsyncContext *, int), char *why, size_t why_cap);

/* Queues AUTH (with the username when there is one) when a password is
 * configured; the reply goes to fn with priv. */
void ch_redis_async_auth(struct redisAsyncContext *ac,
                         void (*fn)(struct redisAsyncContext *, void *, void *), void *priv,
                         const char *username, const char *password);

/* Frees the context *acp (when set) ourselves and forgets it: for giving
 * up on a live connection, or at free. The teardown runs the pending
 * callbacks with NULL replies, then the disconnect callback, all with
 * ac->data NULL: they must ignore such calls. */
void ch_redis_async_drop(struct redisAsyncContext **acp);

#endif
