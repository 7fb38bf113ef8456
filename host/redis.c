/* redis.c -- see redis.h.
 *
 * hiredis ownership rules that shape this file: after the connect callback
 * reports failure, and after the disconnect callback returns, hiredis frees
 * the context itself -- we only forget our pointer. We free it ourselves
 * (redisAsyncFree) only when we give up on a live but unresponsive server. */
#include "redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#endif
#include <hiredis/adapters/libevent.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "call.h"
#include "log.h"
#include "util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PING_EVERY_MS 1000
#define HEALTH_TIMEOUT_MS 3000

typedef enum { R_IDLE, R_CONNECTING, R_HANDSHAKE, R_READY } rstate;

struct ch_redis {
    struct event_base *base;
    ch_redis_url url;
    char *username;
    char *password;
    redisAsyncContext *ac;
    rstate state;
    char status[160];
    int backoff_ms;
    struct event *retry_timer;
    struct event *ping_timer;
    int64_t ping_sent_ms;     /* 0 = no ping outstanding */
    unsigned long reconnects;
    int freeing;
    int keep_status;          /* a handshake error explains the drop */
};

static void schedule_retry(ch_redis *r);

static void set_status(ch_redis *r, const char *fmt, const char *detail)
{
    snprintf(r->status, sizeof r->status, fmt, detail ? detail : "");
}

static void became_unready(ch_redis *r, const char *why)
{
    int was_ready = r->state == R_READY;
    r->state = R_IDLE;
    r->ac = NULL;
    r->ping_sent_ms = 0;
    if (!r->keep_status) set_status(r, "%s", why);
    r->keep_status = 0;
    if (was_ready) {
        r->reconnects++;
        ch_log(CH_LOG_WARN, "redis connection lost", "reason", why, NULL);
    }
    if (!r->freeing) schedule_retry(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    ch_redis *r = ac->data;
    if (!r) return;
    char why[160];
    snprintf(why, sizeof why, "disconnected: %s",
             status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "error"));
    became_unready(r, why);
}

static void on_handshake_reply(redisAsyncContext *ac, void *reply_, void *priv)
{
    ch_redis *r = ac->data;
    redisReply *reply = reply_;
    const char *step = priv;
    if (!r || r->freeing) return;
    if (!reply) return; /* the context is going away; on_disconnect follows */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (r->keep_status) return; /* the first failed step is the cause */
        char why[160];
        /* Redis error text never echoes the password. */
        snprintf(why, sizeof why, "%s failed: %.100s", step, reply->str);
        ch_log(CH_LOG_ERROR, "redis handshake failed", "step", step,
               "error", reply->str, NULL);
        set_status(r, "%s", why);
        r->keep_status = 1;
        redisAsyncDisconnect(ac);
        return;
    }
    if (strcmp(step, "PING") == 0 && r->state == R_HANDSHAKE && !r->keep_status) {
        r->state = R_READY;
        r->backoff_ms = 0;
        set_status(r, "ready%s", "");
        ch_log(CH_LOG_INFO, "redis ready", NULL);
    }
}

static void on_ping(redisAsyncContext *ac, void *reply_, void *priv)
{
    (void)priv;
    ch_redis *r = ac->data;
    redisReply *reply = reply_;
    if (!r || !reply) return;
    r->ping_sent_ms = 0;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    ch_redis *r = ac->data;
    if (!r) return;
    if (status != REDIS_OK) {
        char why[160];
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr[0] ? ac->errstr : "error");
        became_unready(r, why); /* hiredis frees ac after we return */
        return;
    }
    redisAsyncContext *c = (redisAsyncContext *)ac;
    r->state = R_HANDSHAKE;
    set_status(r, "handshake%s", "");
    ch_redis_async_auth(c, on_handshake_reply, "AUTH", r->username, r->password);
    if (r->url.db) redisAsyncCommand(c, on_handshake_reply, "SELECT", "SELECT %d", r->url.db);
    redisAsyncCommand(c, on_handshake_reply, "PING", "PING");
}

static void connect_now(ch_redis *r)
{
    char why[128];
    redisAsyncContext *ac =
        ch_redis_async_open(r->base, &r->url, 0, r, on_connect, on_disconnect, why, sizeof why);
    if (!ac) {
        set_status(r, "connect failed: %s", why);
        schedule_retry(r);
        return;
    }
    r->ac = ac;
    r->state = R_CONNECTING;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    connect_now(arg);
}

static void schedule_retry(ch_redis *r) { ch_redis_backoff(&r->backoff_ms, r->retry_timer); }

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ch_redis *r = arg;
    if (r->state != R_READY || !r->ac) return;
    int64_t now = ch_monotonic_ms();
    if (r->ping_sent_ms && now - r->ping_sent_ms > HEALTH_TIMEOUT_MS) {
        /* Connected but silent: drop it. redisAsyncFree runs the pending
         * callbacks with NULL replies and then on_disconnect. */
        ch_log(CH_LOG_WARN, "redis not answering; reconnecting", NULL);
        ch_redis_async_drop(&r->ac);
        became_unready(r, "not answering PING");
        return;
    }
    if (!r->ping_sent_ms) {
        r->ping_sent_ms = now;
        redisAsyncCommand(r->ac, on_ping, NULL, "PING");
    }
}

ch_redis *ch_redis_new(struct event_base *base, const ch_redis_url *url,
                       const char *username, const char *password)
{
    ch_redis *r = ch_calloc(1, sizeof *r);
    r->base = base;
    r->url = *url;
    if (username) r->username = ch_strdup(username);
    r->password = ch_redis_password_copy(password);
    r->retry_timer = evtimer_new(base, on_retry, r);
    r->ping_timer = event_new(base, -1, EV_PERSIST, on_ping_timer, r);
    set_status(r, "not started%s", "");
    return r;
}

void ch_redis_start(ch_redis *r)
{
    struct timeval tv = {PING_EVERY_MS / 1000, (PING_EVERY_MS % 1000) * 1000};
    event_add(r->ping_timer, &tv);
    connect_now(r);
}

void ch_redis_free(ch_redis *r)
{
    if (!r) return;
    r->freeing = 1;
    ch_redis_async_drop(&r->ac);
    event_free(r->retry_timer);
    event_free(r->ping_timer);
    free(r->username);
    if (r->password) sodium_free(r->password); /* sodium_free wipes first */
    free(r);
}

int ch_redis_ready(const ch_redis *r) { return r && r->state == R_READY; }
const char *ch_redis_status(const ch_redis *r) { return r ? r->status : "not configured"; }
redisAsyncContext *ch_redis_context(ch_redis *r) { return r->state == R_READY ? r->ac : NULL; }
unsigned long ch_redis_reconnects(const ch_redis *r) { return r->reconnects; }

char *ch_redis_password_load(const char *file, const char **err)
{
    *err = NULL;
    char *pw = NULL;
    if (file) {
        struct stat st;
        if (stat(file, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
            ch_log(CH_LOG_WARN, "the Redis password file is readable by others (chmod 600)",
                   "file", file, NULL);
        size_t len;
        char *text = ch_read_file(file, 4096, &len);
        if (!text) { *err = strerror(errno); return NULL; }
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
        pw = text;
    } else {
        const char *env = getenv("C360_REDIS_PASSWORD");
        if (env && *env) pw = ch_strdup(env);
    }
    return pw;
}

void ch_secret_free(char *s)
{
    if (!s) return;
    sodium_memzero(s, strlen(s));
    free(s);
}

char *ch_redis_password_copy(const char *password)
{
    if (!password) return NULL;
    size_t n = strlen(password) + 1;
    char *p = sodium_malloc(n);
    if (!p) abort();
    memcpy(p, password, n);
    return p;
}

void ch_redis_backoff(int *backoff_ms, struct event *timer)
{
    /* Exponential with full jitter, capped. */
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : BACKOFF_MIN_MS;
    if (*backoff_ms > BACKOFF_MAX_MS) *backoff_ms = BACKOFF_MAX_MS;
    int delay = *backoff_ms / 2 + (int)randombytes_uniform((uint32_t)*backoff_ms / 2 + 1);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(timer, &tv);
}

redisAsyncContext *ch_redis_async_open(struct event_base *base, const ch_redis_url *url,
                                       int keepalive, void *data,
                                       redisConnectCallback *on_connect_cb,
                                       redisDisconnectCallback *on_disconnect_cb, char *why,
                                       size_t why_cap)
{
    redisAsyncContext *ac = url->is_unix ? redisAsyncConnectUnix(url->path)
                                         : redisAsyncConnect(url->host, url->port);
    if (!ac) {
        snprintf(why, why_cap, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(why, why_cap, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    /* Only TCP has keepalive; on failure hiredis marks the context bad,
     * so do not try it on a unix socket. */
    if (keepalive && !url->is_unix) redisEnableKeepAlive(&ac->c);
    ac->data = data;
    redisLibeventAttach(ac, base);
    redisAsyncSetConnectCallback(ac, on_connect_cb);
    redisAsyncSetDisconnectCallback(ac, on_disconnect_cb);
    return ac;
}

void ch_redis_async_auth(redisAsyncContext *ac, redisCallbackFn *fn, void *priv,
                         const char *username, const char *password)
{
    if (!password) return;
    if (username)
        redisAsyncCommand(ac, fn, priv, "AUTH %s %s", username, password);
    else
        redisAsyncCommand(ac, fn, priv, "AUTH %s", password);
}

void ch_redis_async_drop(redisAsyncContext **acp)
{
    redisAsyncContext *ac = *acp;
    if (!ac) return;
    *acp = NULL;
    ac->data = NULL;
    redisAsyncFree(ac);
}
