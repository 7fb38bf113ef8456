/* c360_workers.c -- c360-workers: the pipeline's execution side on its own,
 * for tests/integration/workers.sh until c360d runs it: loads the plugins
 * of a directory, maps the shared metrics, and runs the supervisor (zygote,
 * worker processes, crash/hang accounting) on a libevent loop, exactly as
 * the master does, without the HTTP side. Events are written to the
 * streams by the test itself.
 *
 *   c360-workers --redis URL --plugins DIR [--workers N] [--threads N]
 *                [--share N] [--max-attempts N] [--callback-timeout-ms N]
 *                [--hang-grace-ms N] [--poison N] [--claim-idle-ms N]
 *                [--shutdown-ms N] [--retry-base-ms N]
 *
 * SIGTERM/SIGINT: graceful stop (workers finish in-flight callbacks within
 * --shutdown-ms), then a line of supervisor counters on stdout, exit 0.
 * The Redis password, if any, comes from C360_REDIS_PASSWORD. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>

#include "call.h"
#include "hostapi.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "redis_url.h"
#include "supervisor.h"
#include "util.h"

typedef struct app {
    struct event_base *base;
    ch_supervisor *sup;
    struct event *poll;
    int64_t deadline;
    int stopping;
} app;

static void usage(void)
{
    fputs("usage: c360-workers --redis URL --plugins DIR [--workers N] [--threads N] [--share N]\n"
          "         [--max-attempts N] [--callback-timeout-ms N] [--hang-grace-ms N] [--poison N]\n"
          "         [--claim-idle-ms N] [--shutdown-ms N] [--retry-base-ms N]\n", stderr);
    exit(2);
}

static int num(const char *s, long long lo, long long hi)
{
    long long v;
    if (ch_parse_ll(s, lo, hi, &v) != 0) usage();
    return (int)v;
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    app *a = arg;
    if (ch_supervisor_active(a->sup) == 0 || ch_monotonic_ms() > a->deadline)
        event_base_loopexit(a->base, NULL);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    app *a = arg;
    if (a->stopping) return;
    a->stopping = 1;
    ch_supervisor_drain(a->sup);
    a->deadline = ch_monotonic_ms() + 60000;
    struct timeval tv = {0, 50 * 1000};
    event_add(a->poll, &tv);
}

int main(int argc, char **argv)
{
    const char *redis = NULL, *dir = NULL;
    ch_supervisor_conf sc;
    memset(&sc, 0, sizeof sc);
    ch_worker_conf_defaults(&sc.worker);
    sc.workers = 2;
    sc.poison_threshold = 3;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--redis")) redis = v;
        else if (!strcmp(k, "--plugins")) dir = v;
        else if (!strcmp(k, "--workers")) sc.workers = num(v, 1, 64);
        else if (!strcmp(k, "--threads")) sc.worker.threads = num(v, 1, 256);
        else if (!strcmp(k, "--share")) sc.worker.share = num(v, 1, 1000);
        else if (!strcmp(k, "--max-attempts")) sc.worker.max_attempts = num(v, 1, 100);
        else if (!strcmp(k, "--callback-timeout-ms")) sc.worker.callback_timeout_ms = num(v, 100, 3600000);
        else if (!strcmp(k, "--hang-grace-ms")) sc.hang_grace_ms = num(v, 1, 600000);
        else if (!strcmp(k, "--poison")) sc.poison_threshold = num(v, 1, 100);
        else if (!strcmp(k, "--claim-idle-ms")) sc.worker.claim_idle_ms = num(v, 100, 3600000);
        else if (!strcmp(k, "--shutdown-ms")) sc.worker.shutdown_timeout_ms = num(v, 0, 600000);
        else if (!strcmp(k, "--retry-base-ms")) sc.worker.retry_base_ms = num(v, 1, 600000);
        else usage();
    }
    if (!redis || !dir) usage();
    ch_redis_url url;
    char err[256];
    if (ch_redis_url_parse(redis, &url, err, sizeof err) != CH_OK) {
        fprintf(stderr, "c360-workers: %s\n", err);
        return 2;
    }
    if (sodium_init() < 0) return 1;
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    ch_rconn_configure(&url, NULL, getenv("C360_REDIS_PASSWORD"), 5000);

    ch_loader *ld = ch_loader_new(ch_host_api());
    ch_loader_load_dir(ld, dir);
    if (ch_metrics_init(ch_loader_count(ld)) != 0) return 1;
    sc.worker.loader = ld;

    app a = {0};
    a.base = event_base_new();
    if (!a.base) abort();
    struct event *term = evsignal_new(a.base, SIGTERM, on_stop, &a);
    struct event *intr = evsignal_new(a.base, SIGINT, on_stop, &a);
    event_add(term, NULL);
    event_add(intr, NULL);
    a.poll = event_new(a.base, -1, EV_PERSIST, on_poll, &a);
    ch_hostapi_set_loop_thread();
    a.sup = ch_supervisor_new(a.base, &sc);
    if (!a.sup || ch_supervisor_start(a.sup) != 0) {
        fprintf(stderr, "c360-workers: the supervisor did not start\n");
        return 1;
    }
    event_base_dispatch(a.base);

    ch_supervisor_stats st;
    ch_supervisor_get_stats(a.sup, &st);
    printf("spawned=%llu restarts=%llu crashes=%llu hangs=%llu stalls=%llu suspects=%llu poisoned=%llu\n",
           (unsigned long long)st.spawned, (unsigned long long)st.restarts,
           (unsigned long long)st.crashes, (unsigned long long)st.hangs,
           (unsigned long long)st.stalls, (unsigned long long)st.suspects,
           (unsigned long long)st.poisoned);
    fflush(stdout);
    ch_supervisor_free(a.sup);
    event_free(a.poll);
    event_free(term);
    event_free(intr);
    event_base_free(a.base);
    ch_metrics_shutdown();
    ch_loader_free(ld);
    ch_rconn_shutdown();
    libevent_global_shutdown();
    return 0;
}
