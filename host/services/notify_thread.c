/* notify_thread.c -- the sender thread (see notify.h, ch_notify_start).
 *
 * Its own thread, not the maintenance thread's: a POST may take its whole
 * timeout, and the maintenance thread's scheduler claims must never wait
 * behind a customer's slow endpoint. One loop, three clocks: due outboxes
 * every period_ms; the dead-letter watch (one SSCAN page of the tenants
 * with an endpoint per turn) every watch_period_ms; the refresh-token pass
 * (one SCAN page per turn) every expiry_period_ms. */
#include "notify_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "cond.h"
#include "connector_api.h"
#include "httpc.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"

#define CLAIM_ROUNDS_MAX 5

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int started;
    int stop;
    ch_notify_settings s;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int stopping(void)
{
    pthread_mutex_lock(&g.mu);
    int s = g.stop;
    pthread_mutex_unlock(&g.mu);
    return s;
}

static int wait_until(int64_t deadline)
{
    pthread_mutex_lock(&g.mu);
    while (!g.stop && ch_cond_wait_ms(&g.cv, &g.mu, deadline - ch_monotonic_ms()) == 0) {
    }
    int stop = g.stop;
    pthread_mutex_unlock(&g.mu);
    return stop;
}

typedef struct pass {
    int active;
    char cursor[32];
} pass;

/* One SSCAN page of the tenants with an endpoint through the watch. */
static void watch_page(pass *p)
{
    redisReply *r = ch_rconn_command("SSCAN %s %s COUNT 100", CH_NOTIFY_TENANTS, p->cursor);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        if (r) freeReplyObject(r);
        p->active = 0;
        return;
    }
    snprintf(p->cursor, sizeof p->cursor, "%s", r->element[0]->str);
    const redisReply *m = r->element[1];
    for (size_t i = 0; i < m->elements && !stopping(); i++)
        if (m->element[i]->type == REDIS_REPLY_STRING && ch_id_valid(m->element[i]->str))
            ch_notify_watch_tenant(m->element[i]->str, NULL);
    if (strcmp(p->cursor, "0") == 0) p->active = 0;
    freeReplyObject(r);
}

static void expiry_page(pass *p, int64_t warn_ms)
{
    int done = 0;
    if (ch_notify_expiry_page(p->cursor, sizeof p->cursor, warn_ms, NULL, &done) != C360_OK ||
        done)
        p->active = 0;
}

static void start_pass(pass *p)
{
    p->active = 1;
    snprintf(p->cursor, sizeof p->cursor, "0");
}

static void *run(void *arg)
{
    (void)arg;
    const ch_notify_settings s = g.s;
    pass watch = {0}, expiry = {0};
    int64_t now = ch_monotonic_ms();
    int64_t next_send = now, next_watch = now + 5000, next_expiry = now + 60000;
    int down = 0;
    while (!stopping()) {
        now = ch_monotonic_ms();
        if (now >= next_send) {
            for (int round = 0; round < CLAIM_ROUNDS_MAX && !stopping(); round++) {
                size_t sent = 0;
                int32_t st = ch_notify_send_due(&s, &sent);
                if (st != C360_OK && !down) {
                    down = 1;
                    ch_log(CH_LOG_WARN, "notify: redis unavailable; retrying", NULL);
                } else if (st == C360_OK && down) {
                    down = 0;
                    ch_log(CH_LOG_INFO, "notify: redis back", NULL);
                }
                if (st != C360_OK || sent == 0) break;
            }
            next_send = ch_monotonic_ms() + s.period_ms;
        }
        if (s.watch_period_ms >= 0 && !watch.active && now >= next_watch) {
            start_pass(&watch);
            next_watch = now + s.watch_period_ms;
        }
        if (s.expiry_period_ms >= 0 && !expiry.active && now >= next_expiry) {
            start_pass(&expiry);
            next_expiry = now + s.expiry_period_ms;
        }
        if (watch.active) watch_page(&watch);
        if (expiry.active) expiry_page(&expiry, s.expiry_warn_ms);
        if (watch.active || expiry.active) continue;
        int64_t wake = next_send;
        if (s.watch_period_ms >= 0 && next_watch < wake) wake = next_watch;
        if (s.expiry_period_ms >= 0 && next_expiry < wake) wake = next_expiry;
        if (wait_until(wake)) break;
    }
    ch_rconn_thread_close();
    ch_httpc_thread_close();
    return NULL;
}

ch_err ch_notify_start(const ch_notify_settings *s)
{
    pthread_mutex_lock(&g.mu);
    if (g.started) {
        pthread_mutex_unlock(&g.mu);
        return CH_OK;
    }
    ch_notify_settings d;
    ch_notify_settings_default(&d);
    if (s) {
        /* Zero members take the defaults. */
        if (s->period_ms > 0) d.period_ms = s->period_ms;
        if (s->watch_period_ms) d.watch_period_ms = s->watch_period_ms;
        if (s->expiry_period_ms) d.expiry_period_ms = s->expiry_period_ms;
        if (s->expiry_warn_ms > 0) d.expiry_warn_ms = s->expiry_warn_ms;
        if (s->retry_base_ms > 0) d.retry_base_ms = s->retry_base_ms;
        if (s->max_attempts > 0) d.max_attempts = s->max_attempts;
        if (s->timeout_ms > 0) d.timeout_ms = s->timeout_ms;
        if (s->lease_ms > 0) d.lease_ms = s->lease_ms;
        if (s->tenants_per_claim > 0) d.tenants_per_claim = s->tenants_per_claim;
        if (s->sends_per_tenant > 0) d.sends_per_tenant = s->sends_per_tenant;
    }
    ch_cond_init_monotonic(&g.cv);
    g.s = d;
    g.stop = 0;
    int rc = pthread_create(&g.th, NULL, run, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&g.cv);
        pthread_mutex_unlock(&g.mu);
        ch_log(CH_LOG_ERROR, "notify: cannot start the sender thread", "error", strerror(rc), NULL);
        return CH_EIO;
    }
    g.started = 1;
    pthread_mutex_unlock(&g.mu);
    return CH_OK;
}

void ch_notify_stop(void)
{
    pthread_mutex_lock(&g.mu);
    if (!g.started) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    g.stop = 1;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.th, NULL);
    pthread_mutex_lock(&g.mu);
    pthread_cond_destroy(&g.cv);
    g.started = 0;
    pthread_mutex_unlock(&g.mu);
}
