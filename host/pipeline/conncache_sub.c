/* conncache_sub.c -- the cache's subscription to c360:conn-changed: an
 * async hiredis connection of its own on the event loop (a subscribed
 * connection can carry nothing else), reconnecting with redis.c's capped,
 * jittered backoff. Messages are only queued here; the refresher
 * thread does the Redis reads. Every successful SUBSCRIBE asks for a full
 * load: what was published while we were away is lost.
 *
 * Liveness: a subscribed RESP2 connection cannot be PINGed usefully with
 * hiredis 0.14 (the reply is routed to no callback), so TCP keepalive
 * finds a vanished server, and the periodic full load bounds staleness
 * meanwhile. hiredis ownership rules as in redis.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "conncache_int.h"
#include "log.h"
#include "redis.h"
#include "util.h"

struct cc_sub {
    ch_conncache *cc;
    struct event_base *base;
    ch_redis_url url;
    char *username;
    char *password;        /* sodium_malloc'd */
    redisAsyncContext *ac;
    struct event *retry_timer;
    int backoff_ms;
    int freeing;
    int subscribed;        /* logged once per connection */
};

static void sub_retry(struct cc_sub *s)
{
    if (s->freeing) return;
    ch_redis_backoff(&s->backoff_ms, s->retry_timer);
}

static void sub_lost(struct cc_sub *s, const char *why)
{
    if (s->subscribed)
        ch_log(CH_LOG_WARN, "conncache: subscription lost", "reason", why, NULL);
    s->subscribed = 0;
    s->ac = NULL;
    sub_retry(s);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct cc_sub *s = ac->data;
    if (!s) return;
    sub_lost(s, status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "error"));
}

static void on_auth(redisAsyncContext *ac, void *reply_, void *priv)
{
    (void)priv;
    struct cc_sub *s = ac->data;
    redisReply *r = reply_;
    if (!s || !r || s->freeing) return;
    if (r->type == REDIS_REPLY_ERROR) {
        ch_log(CH_LOG_ERROR, "conncache: subscription AUTH failed", "error", r->str, NULL);
        redisAsyncDisconnect(ac);
    }
}

/* "T/c" -> a queued refresh; anything else is ignored (the channel is
 * ours, but a stray publisher must not crash or mislead us). */
static void on_message(struct cc_sub *s, const char *msg, size_t len)
{
    const char *slash = memchr(msg, '/', len);
    if (!slash || slash == msg || (size_t)(slash - msg) > CH_ID_MAX ||
        len - (size_t)(slash - msg) - 1 > CH_ID_MAX)
        return;
    char tenant[CH_ID_MAX + 1], id[CH_ID_MAX + 1];
    memcpy(tenant, msg, (size_t)(slash - msg));
    tenant[slash - msg] = '\0';
    size_t idlen = len - (size_t)(slash - msg) - 1;
    memcpy(id, slash + 1, idlen);
    id[idlen] = '\0';
    cc_enqueue(s->cc, tenant, id);
}

static void on_sub(redisAsyncContext *ac, void *reply_, void *priv)
{
    struct cc_sub *s = priv;
    redisReply *r = reply_;
    if (!r || !s || s->freeing || ac->data != s) return;
    if (r->type == REDIS_REPLY_ERROR) {
        ch_log(CH_LOG_ERROR, "conncache: SUBSCRIBE failed", "error", r->str, NULL);
        redisAsyncDisconnect(ac);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        s->subscribed = 1;
        s->backoff_ms = 0;
        atomic_fetch_add(&s->cc->subscribed, 1);
        cc_want_reload(s->cc);
    } else if (strcmp(kind, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        on_message(s, r->element[2]->str, r->element[2]->len);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct cc_sub *s = ac->data;
    if (!s) return;
    if (status != REDIS_OK) {
        sub_lost(s, ac->errstr[0] ? ac->errstr : "connect failed"); /* hiredis frees ac */
        return;
    }
    redisAsyncContext *c = (redisAsyncContext *)ac;
    ch_redis_async_auth(c, on_auth, NULL, s->username, s->password);
    /* Channels are not per database: no SELECT. */
    redisAsyncCommand(c, on_sub, s, "SUBSCRIBE %s", CH_CONN_CHANNEL);
}

static void sub_connect(struct cc_sub *s)
{
    char why[128];
    /* Keepalive: the only liveness check a subscribed connection has. */
    s->ac = ch_redis_async_open(s->base, &s->url, 1, s, on_connect, on_disconnect, why, sizeof why);
    if (!s->ac) {
        ch_log(CH_LOG_DEBUG, "conncache: subscription connect failed", "error", why, NULL);
        sub_retry(s);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sub_connect(arg);
}

struct cc_sub *cc_sub_new(ch_conncache *cc, struct event_base *base, const ch_redis_url *url,
                          const char *username, const char *password)
{
    struct cc_sub *s = ch_calloc(1, sizeof *s);
    s->cc = cc;
    s->base = base;
    s->url = *url;
    if (username) s->username = ch_strdup(username);
    s->password = ch_redis_password_copy(password);
    s->retry_timer = evtimer_new(base, on_retry, s);
    return s;
}

void cc_sub_start(struct cc_sub *s) { sub_connect(s); }

void cc_sub_free(struct cc_sub *s)
{
    if (!s) return;
    s->freeing = 1;
    ch_redis_async_drop(&s->ac); /* its teardown callbacks are ignored */
    event_free(s->retry_timer);
    free(s->username);
    if (s->password) sodium_free(s->password);
    free(s);
}
