/* c360_sched_host.c -- a scheduler host for tests/integration/scheduler.sh:
 * the real maintenance thread (maint.h: claims, gauges) and GET /metrics
 * (metrics.h) on a libevent loop, plus minimal tick workers standing in for
 * the worker processes: they read the tenants' streams, take over entries a
 * dead host left pending (XAUTOCLAIM after 2 s, as workers do after
 * claim_idle_ms), "run" each tick by logging it, acknowledge it and call
 * ch_sched_tick_done. Two of these on one redis-server are two hosts.
 *
 *   c360-sched-host --redis redis://127.0.0.1:PORT --http-port N
 *       [--name A] [--threads 2] [--lease-ms 3000] [--floor-s 1]
 *
 * Each tick run is RPUSHed to test:ticklog as "<entry id> <T>/<c> <t> <name>".
 * Runs until SIGTERM/SIGINT, then stops everything and frees it all (the
 * shutdown path is what valgrind checks). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "connector_api.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "maint.h"
#include "metrics.h"
#include "rconn.h"
#include "redis_url.h"
#include "scheduler.h"

#define MAX_THREADS 16
#define LOG_KEY "test:ticklog"

static atomic_int g_stop;
static const char *g_name = "A";

static const char *field(const redisReply *f, const char *name)
{
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, name) == 0 &&
            f->element[i + 1]->type == REDIS_REPLY_STRING)
            return f->element[i + 1]->str;
    return NULL;
}

/* Runs the entries of one XREADGROUP/XAUTOCLAIM entry array. */
static int run_entries(const char *tenant, const redisReply *es)
{
    int n = 0;
    for (size_t i = 0; es && es->type == REDIS_REPLY_ARRAY && i < es->elements; i++) {
        const redisReply *e = es->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const char *id = e->element[0]->str, *k = field(e->element[1], "k");
        const char *c = field(e->element[1], "c"), *t = field(e->element[1], "t");
        if (k && c && t && strcmp(k, "tick") == 0) {
            /* One list element per run (hiredis splits a format at spaces). */
            char line[256];
            snprintf(line, sizeof line, "%s %s/%s %s %s", id, tenant, c, t, g_name);
            redisReply *r = ch_rconn_command("RPUSH %s %s", LOG_KEY, line);
            if (r) freeReplyObject(r);
        }
        redisReply *r = ch_rconn_command("XACK c360:{t:%s}:ev w %s", tenant, id);
        if (r) freeReplyObject(r);
        if (k && c && strcmp(k, "tick") == 0) ch_sched_tick_done(tenant, c, C360_OK, 0);
        n++;
    }
    return n;
}

static int work_tenant(const char *tenant, const char *me)
{
    int n = 0;
    redisReply *r = ch_rconn_command("XAUTOCLAIM c360:{t:%s}:ev w %s 2000 0-0 COUNT 20", tenant, me);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2) n += run_entries(tenant, r->element[1]);
    if (r) freeReplyObject(r);
    r = ch_rconn_command("XREADGROUP GROUP w %s COUNT 20 STREAMS c360:{t:%s}:ev >", me, tenant);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        n += run_entries(tenant, r->element[0]->element[1]);
    if (r) freeReplyObject(r);
    return n;
}

static void *worker(void *arg)
{
    char me[96];
    snprintf(me, sizeof me, "%s-%d", g_name, (int)(intptr_t)arg);
    while (!atomic_load(&g_stop)) {
        int n = 0;
        redisReply *ts = ch_rconn_command("SMEMBERS c360:{idx}:tenants");
        for (size_t i = 0; ts && ts->type == REDIS_REPLY_ARRAY && i < ts->elements; i++)
            if (ch_id_valid(ts->element[i]->str)) n += work_tenant(ts->element[i]->str, me);
        if (ts) freeReplyObject(ts);
        if (!n) {
            /* Idle: wait for a wake-up (bounded, so stop is noticed). */
            redisReply *r = ch_rconn_command("BLPOP %s 0.2", CH_SCHED_WAKE_KEY);
            if (r) freeReplyObject(r);
        }
    }
    ch_rconn_thread_close();
    return NULL;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *redis = NULL;
    int port = 0, threads = 2, lease_ms = 3000, floor_s = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--redis") == 0) redis = argv[i + 1];
        else if (strcmp(argv[i], "--http-port") == 0) port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--name") == 0) g_name = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--lease-ms") == 0) lease_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--floor-s") == 0) floor_s = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (!redis || port <= 0 || threads < 1 || threads > MAX_THREADS || !ch_id_valid(g_name)) {
        fprintf(stderr, "usage: c360-sched-host --redis URL --http-port N [--name A] [--threads 2]"
                        " [--lease-ms 3000] [--floor-s 1]\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    ch_redis_url url;
    char err[256];
    if (ch_redis_url_parse(redis, &url, err, sizeof err) != 0) {
        fprintf(stderr, "--redis: %s\n", err);
        return 2;
    }
    ch_rconn_configure(&url, NULL, NULL, 5000);
    if (ch_metrics_init(0) != 0) return 1;

    struct event_base *base = event_base_new();
    ch_http_limits lim = {.max_body = 65536, .max_headers = 8192, .timeout_s = 5};
    ch_http *h = ch_http_new(base, &lim);
    if (ch_http_listen(h, "127.0.0.1", port, err, sizeof err) != CH_OK) {
        fprintf(stderr, "listen: %s\n", err);
        return 1;
    }
    ch_metrics_register_http(h, NULL);
    struct event *sterm = evsignal_new(base, SIGTERM, on_signal, base);
    struct event *sint = evsignal_new(base, SIGINT, on_signal, base);
    event_add(sterm, NULL);
    event_add(sint, NULL);

    ch_sched_settings ss = {.tick_floor_s = floor_s, .lease_ms = lease_ms};
    ch_sched_configure(&ss);
    ch_maint_settings ms = {.claim_period_ms = CH_SCHED_PERIOD_MS, .sample_period_ms = 1000};
    if (ch_maint_start_with(&ms) != CH_OK) return 1;
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    ch_log(CH_LOG_INFO, "sched host ready", "name", g_name, NULL);

    event_base_dispatch(base);

    ch_maint_stop();
    atomic_store(&g_stop, 1);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    event_free(sterm);
    event_free(sint);
    ch_http_free(h);
    event_base_free(base);
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    ch_metrics_shutdown();
    ch_log(CH_LOG_INFO, "sched host stopped", "name", g_name, NULL);
    return 0;
}
