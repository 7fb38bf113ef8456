/* maint.c -- the maintenance thread (see maint.h). One loop, three clocks:
 * the claim every 100 ms comes first; sampling and trimming are passes
 * over the tenants done one page per turn, so neither ever holds up a due
 * tick by more than one page's work. */
#include "maint.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "call.h"
#include "cond.h"
#include "connector_api.h"
#include "log.h"
#include "maint_int.h"
#include "maint_retention.h"
#include "rconn.h"
#include "scheduler.h"

#define CLAIM_ROUNDS_MAX 20 /* full claims back to back before yielding */
#define DAY_MS 86400000LL

typedef struct pass {
    int active;
    char cursor[CH_MAINT_CURSOR_MAX];
    ch_metrics_gauges acc; /* sampling pass only */
    uint64_t removed;      /* trimming pass only */
} pass;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int started;
    int stop;
    ch_maint_settings s;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Logs the first failure of an outage and the recovery, not every 100 ms. */
static int g_redis_down;

static void redis_state(int ok, const char *what)
{
    if (!ok && !g_redis_down) {
        g_redis_down = 1;
        ch_log(CH_LOG_WARN, "maint: redis unavailable; retrying", "op", what, NULL);
    } else if (ok && g_redis_down) {
        g_redis_down = 0;
        ch_log(CH_LOG_INFO, "maint: redis back", NULL);
    }
}

static void claim(void)
{
    for (int round = 0; round < CLAIM_ROUNDS_MAX; round++) {
        ch_sched_claim_stats st;
        int32_t rc = ch_sched_claim(&st);
        redis_state(rc == C360_OK, "claim");
        /* A full batch means more may be due: claim again at once so that
         * a backlog (after downtime) drains at Redis speed, not 500 per
         * 100 ms. */
        if (rc != C360_OK || st.claimed < CH_SCHED_BATCH) return;
    }
}

static void sample_page(pass *p)
{
    char **ts;
    size_t n;
    int done;
    if (ch_maint_tenants_page(p->cursor, &ts, &n, &done) != C360_OK) {
        redis_state(0, "sample");
        p->active = 0; /* start over at the next period */
        return;
    }
    for (size_t i = 0; i < n; i++) ch_maint_sample_tenant(ts[i], &p->acc);
    ch_maint_tenants_free(ts, n);
    if (done) {
        p->acc.sampled_at_ms = ch_now_ms();
        ch_metrics_set_gauges(&p->acc);
        p->active = 0;
    }
}

static void trim_page(pass *p, int retention_days)
{
    char **ts;
    size_t n;
    int done;
    if (ch_maint_tenants_page(p->cursor, &ts, &n, &done) != C360_OK) {
        redis_state(0, "trim");
        p->active = 0;
        return;
    }
    int64_t now = ch_now_ms();
    int64_t cutoff = now - (int64_t)retention_days * DAY_MS;
    for (size_t i = 0; i < n; i++) {
        uint64_t removed = 0, audit_removed = 0;
        /* A tenant's own retention_days replaces the default for its
         * events (maint_retention.h). */
        int64_t c = ch_retention_cutoff(ts[i], now, cutoff);
        if (ch_maint_trim_tenant(ts[i], c, &removed) == C360_OK) p->removed += removed;
        /* C360_ERROR: a broken audit chain; audit.c logged it and keeps the
         * evidence. Nothing to add here. */
        ch_audit_trim_retention(ts[i], &audit_removed);
    }
    ch_maint_tenants_free(ts, n);
    if (done) {
        /* The system chain (plugin loads and refusals) belongs to no tenant
         * with connections, so the tenants index never names it. */
        uint64_t sys_removed = 0;
        ch_audit_trim_retention("_system", &sys_removed);
        char buf[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)p->removed);
        ch_log(CH_LOG_INFO, "maint: retention trim done", "entries_removed", buf, NULL);
        p->active = 0;
    }
}

static void start_pass(pass *p)
{
    memset(p, 0, sizeof *p);
    p->active = 1;
    snprintf(p->cursor, sizeof p->cursor, "0");
}

/* Waits until deadline (monotonic ms) or stop; returns 1 when stopping. */
static int wait_until(int64_t deadline)
{
    pthread_mutex_lock(&g.mu);
    while (!g.stop && ch_cond_wait_ms(&g.cv, &g.mu, deadline - ch_monotonic_ms()) == 0) {
    }
    int stop = g.stop;
    pthread_mutex_unlock(&g.mu);
    return stop;
}

static int stopping(void)
{
    pthread_mutex_lock(&g.mu);
    int s = g.stop;
    pthread_mutex_unlock(&g.mu);
    return s;
}

static void *run(void *arg)
{
    (void)arg;
    const ch_maint_settings s = g.s;
    pass sample = {0}, trim = {0};
    /* Per-tenant retention: a pass over the tenant registry in step with
     * the trim pass (maint_retention.h). */
    ch_retention_pass ret = {0};
    int64_t now = ch_monotonic_ms();
    int64_t next_claim = now;
    /* First sample soon after start (a fresh host shows real gauges
     * within a second), the first trim later (start-up is busy enough). */
    int64_t next_sample = now + 1000;
    int64_t next_trim = now + s.trim_first_ms;
    while (!stopping()) {
        now = ch_monotonic_ms();
        if (s.claim_period_ms > 0 && now >= next_claim) {
            claim();
            next_claim = now + s.claim_period_ms;
        }
        if (s.sample_period_ms > 0 && !sample.active && now >= next_sample) {
            start_pass(&sample);
            next_sample = now + s.sample_period_ms;
        }
        if (s.trim_period_ms > 0 && !trim.active && now >= next_trim) {
            start_pass(&trim);
            if (!ret.active) ch_retention_pass_start(&ret);
            next_trim = now + s.trim_period_ms;
        }
        /* One page of each running pass per turn, between claims. */
        if (sample.active) sample_page(&sample);
        if (trim.active) trim_page(&trim, s.retention_days);
        if (ret.active) ch_retention_pass_page(&ret, ch_now_ms());
        /* Pages left: the next turn comes at once (each page is Redis
         * work, not a spin), with the claim first when it is due. */
        if (sample.active || trim.active || ret.active) continue;
        int64_t wake = INT64_MAX;
        if (s.claim_period_ms > 0 && next_claim < wake) wake = next_claim;
        if (s.sample_period_ms > 0 && next_sample < wake) wake = next_sample;
        if (s.trim_period_ms > 0 && next_trim < wake) wake = next_trim;
        if (wake == INT64_MAX) wake = ch_monotonic_ms() + 60000;
        if (wait_until(wake)) break;
    }
    ch_rconn_thread_close();
    return NULL;
}

ch_err ch_maint_start_with(const ch_maint_settings *s)
{
    pthread_mutex_lock(&g.mu);
    if (g.started) {
        pthread_mutex_unlock(&g.mu);
        return CH_OK;
    }
    ch_cond_init_monotonic(&g.cv);
    g.s = *s;
    g.stop = 0;
    int rc = pthread_create(&g.th, NULL, run, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&g.cv);
        pthread_mutex_unlock(&g.mu);
        ch_log(CH_LOG_ERROR, "maint: cannot start thread", "error", strerror(rc), NULL);
        return CH_EIO;
    }
    g.started = 1;
    pthread_mutex_unlock(&g.mu);
    return CH_OK;
}

ch_err ch_maint_start(const ch_config *cfg)
{
    ch_sched_settings ss = {.tick_floor_s = cfg->tick_floor_s,
                            .callback_timeout_ms = cfg->callback_timeout_ms};
    ch_sched_configure(&ss);
    ch_maint_settings s = {.claim_period_ms = CH_SCHED_PERIOD_MS,
                           .sample_period_ms = 10000,
                           .trim_period_ms = 3600000,
                           .trim_first_ms = 60000,
                           .retention_days = cfg->retention_days};
    return ch_maint_start_with(&s);
}

void ch_maint_stop(void)
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
