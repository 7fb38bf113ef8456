/* test_supervisor -- forked worker processes under the supervisor
 * (supervisor.h), with a real redis-server and the wtp test plugin, driven
 * by a real libevent loop (the master's):
 *  - an event that crashes its worker (SIGSEGV) is charged, the worker is
 *    restarted with backoff, and after poison_threshold crashes the event is
 *    a dead letter (why=poison) -- while the other events keep flowing and
 *    are all processed and delivered;
 *  - an event whose callback hangs gets its worker killed after the
 *    deadline + grace, and is poisoned the same way;
 *  - kill -9 of the workers during a steady load loses nothing: every
 *    event is processed and every record delivered (at least once; the
 *    duplicates, from items in flight at the kill, are counted and shown);
 *  - a drain stops every worker gracefully;
 *  - a worker whose threads stop beating (SIGSTOP) is replaced, nobody
 *    blamed; workers = 0 runs the threads inside this process;
 *  - the loop keeps running its other timers throughout (it never blocks
 *    on the supervision). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "call.h"
#include "check.h"
#include "conns.h"
#include "hostapi.h"
#include "loader.h"
#include "metrics.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "supervisor.h"

static struct event_base *g_base;
static ch_loader *g_ld;

static void put(const char *tenant, const char *id, const char *cfg)
{
    pf_conn_put(tenant, id, "wtp", cfg, 0, 0);
}

static void xadd(const char *tenant, const char *conn, const char *body, char *id_out)
{
    pf_add_event(tenant, conn, "wh", NULL, body, id_out, 48);
}

/* The loop runs until cond(arg) holds or timeout_ms passes; on every
 * check a counter proves the loop itself kept turning. */
typedef struct waiter {
    int (*cond)(void *);
    void *arg;
    int64_t until;
    int met;
    long ticks;
    int64_t last_ms, max_gap_ms; /* longest time the loop did not turn */
    struct event *ev;
} waiter;

static int64_t g_max_gap_ms;

static void on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    waiter *w = arg;
    w->ticks++;
    int64_t now = ch_monotonic_ms();
    if (w->last_ms && now - w->last_ms > w->max_gap_ms) w->max_gap_ms = now - w->last_ms;
    w->last_ms = now;
    if (w->cond(w->arg)) { w->met = 1; event_base_loopbreak(g_base); return; }
    if (ch_monotonic_ms() > w->until) event_base_loopbreak(g_base);
}

static int run_until(int (*cond)(void *), void *arg, int timeout_ms, long *ticks)
{
    waiter w = {cond, arg, ch_monotonic_ms() + timeout_ms, 0, 0, 0, 0, NULL};
    w.ev = event_new(g_base, -1, EV_PERSIST, on_check, &w);
    struct timeval tv = {0, 50 * 1000};
    event_add(w.ev, &tv);
    event_base_dispatch(g_base);
    event_free(w.ev);
    g_max_gap_ms = w.max_gap_ms;
    if (ticks) *ticks = w.ticks;
    return w.met;
}

static ch_supervisor_conf base_conf(int workers, int threshold)
{
    ch_supervisor_conf sc;
    memset(&sc, 0, sizeof sc);
    ch_worker_conf_defaults(&sc.worker);
    sc.worker.loader = g_ld;
    sc.worker.threads = 2;
    sc.worker.callback_timeout_ms = 400;
    sc.worker.retry_base_ms = 50;
    sc.worker.claim_idle_ms = 1000;
    sc.worker.tenants_refresh_ms = 100;
    sc.worker.conn_cache_ms = 100;
    sc.worker.shutdown_timeout_ms = 2000;
    sc.workers = workers;
    sc.poison_threshold = threshold;
    sc.hang_grace_ms = 300;
    sc.backoff_min_ms = 50;
    sc.backoff_max_ms = 400;
    return sc;
}

/* --- poison: crash ---------------------------------------------------------- */

typedef struct pctx { const char *tenant; const char *bad; int n_ok; } pctx;

static int poisoned_and_flowed(void *arg)
{
    pctx *p = arg;
    redisReply *r = redisCommand(pf_raw, "XRANGE c360:{t:%s}:dlq - +", p->tenant);
    int found = 0;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *orig = pf_entry_field(r->element[i], "orig");
            const redisReply *wy = pf_entry_field(r->element[i], "why");
            if (!strcmp(orig ? orig->str : "", p->bad) && !strcmp(wy ? wy->str : "", "poison"))
                found = 1;
        }
    }
    if (r) freeReplyObject(r);
    char src[32], dst[32];
    snprintf(src, sizeof src, "%s-src", p->tenant);
    snprintf(dst, sizeof dst, "%s-d1", p->tenant);
    return found && pf_stat_num(p->tenant, src, "events") >= p->n_ok &&
           pf_state_num(p->tenant, dst, "delivered") >= p->n_ok;
}

static void test_poison(const char *tenant, const char *badbody, int expect_hang)
{
    /* Connection ids are global: one pair per tenant. */
    char src[32], dst[32];
    snprintf(src, sizeof src, "%s-src", tenant);
    snprintf(dst, sizeof dst, "%s-d1", tenant);
    put(tenant, src, "{}");
    put(tenant, dst, "{}");
    CHECK(ch_conn_route_add(tenant, src, dst, "system", NULL) == C360_OK);
    char bad[48];
    for (int i = 0; i < 10; i++) xadd(tenant, src, "ok 1", NULL);
    xadd(tenant, src, badbody, bad);
    for (int i = 0; i < 10; i++) xadd(tenant, src, "ok 1", NULL);

    ch_supervisor_conf sc = base_conf(1, 2);
    ch_supervisor *s = ch_supervisor_new(g_base, &sc);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(ch_supervisor_start(s) == 0);
    pctx p = {tenant, bad, 20};
    long ticks = 0;
    int64_t t0 = ch_monotonic_ms();
    int ok = run_until(poisoned_and_flowed, &p, 40000, &ticks);
    int64_t took = ch_monotonic_ms() - t0;
    CHECK(ok);
    ch_supervisor_stats st;
    ch_supervisor_get_stats(s, &st);
    printf("%s: poisoned after %lld ms; spawned %llu, restarts %llu, crashes %llu, hangs %llu, "
           "suspects %llu, poisoned %llu; loop ticked %ld times\n",
           badbody, (long long)took, (unsigned long long)st.spawned, (unsigned long long)st.restarts,
           (unsigned long long)st.crashes, (unsigned long long)st.hangs,
           (unsigned long long)st.suspects, (unsigned long long)st.poisoned, ticks);
    CHECK(st.poisoned == 1);
    CHECK(st.suspects >= 2);
    CHECK(st.restarts >= 2);
    if (expect_hang) CHECK(st.hangs >= 2);
    else CHECK(st.crashes >= 2);
    /* The loop never stalled while workers crashed and hung: its 50 ms
     * check timer never waited more than a second (a blocking waitpid or
     * Redis call on the loop would show as seconds). */
    printf("longest loop gap: %lld ms\n", (long long)g_max_gap_ms);
    CHECK(g_max_gap_ms < 1000);
    CHECK(pf_int("XLEN c360:{t:%s}:dlq", tenant) == 1); /* only the bad one */
    CHECK(pf_stat_num(tenant, src, "events") == 20);
    CHECK(pf_int("HLEN c360:{t:%s}:crash", tenant) == 0);
    CHECK(pf_pending(tenant, "ev") == 0);
    ch_supervisor_drain(s);
    CHECK(ch_supervisor_active(s) <= 1);
    ch_supervisor_free(s);
}

/* --- kill -9 under load ------------------------------------------------------ */

typedef struct lctx { const char *tenant; char (*ids)[48]; int n; ch_supervisor *s; } lctx;

static int all_done(void *arg)
{
    lctx *l = arg;
    ch_supervisor_stats st;
    ch_supervisor_get_stats(l->s, &st);
    if (st.restarts < 3) return 0; /* every killed worker replaced */
    if (pf_stat_num(l->tenant, "src", "events") < l->n) return 0;
    if (pf_state_num(l->tenant, "d1", "delivered") < l->n) return 0;
    return pf_pending(l->tenant, "ev") == 0 && pf_pending(l->tenant, "dl") == 0;
}

typedef struct killer { ch_supervisor *s; int kills; int64_t next; } killer;

static void on_kill(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    killer *k = arg;
    if (k->kills >= 3 || ch_monotonic_ms() < k->next) return;
    pid_t pid = ch_supervisor_worker_pid(k->s, k->kills % 2);
    if (pid > 0) {
        kill(pid, SIGKILL);
        k->kills++;
        k->next = ch_monotonic_ms() + 300;
    }
}

static void test_kill9(void)
{
    const char *tenant = "tl";
    put(tenant, "src", "{}");
    put(tenant, "d1", "{\"deliver_sleep_ms\":2}");
    CHECK(ch_conn_route_add(tenant, "src", "d1", "system", NULL) == C360_OK);
    enum { N = 600 };
    static char ids[N][48];
    ch_supervisor_conf sc = base_conf(2, 3);
    ch_supervisor *s = ch_supervisor_new(g_base, &sc);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(ch_supervisor_start(s) == 0);
    /* A steady load: the events arrive while the workers run and die. */
    for (int i = 0; i < N; i++) xadd(tenant, "src", "sleep 8", ids[i]);
    killer k = {s, 0, ch_monotonic_ms() + 300};
    struct event *kev = event_new(g_base, -1, EV_PERSIST, on_kill, &k);
    struct timeval tv = {0, 20 * 1000};
    event_add(kev, &tv);
    lctx l = {tenant, ids, N, s};
    int64_t t0 = ch_monotonic_ms();
    int ok = run_until(all_done, &l, 50000, NULL);
    event_free(kev);
    CHECK(ok);
    CHECK(k.kills == 3);
    int lost_ev = 0, lost_rec = 0, dup_ev = 0, dup_rec = 0;
    for (int i = 0; i < N; i++) {
        char key[96];
        snprintf(key, sizeof key, "ev:%.47s", ids[i]);
        long long e = pf_state_num(tenant, "src", key);
        snprintf(key, sizeof key, "d:%.47s-0", ids[i]);
        long long d = pf_state_num(tenant, "d1", key);
        lost_ev += e == 0;
        lost_rec += d == 0;
        dup_ev += e > 1;
        dup_rec += d > 1;
    }
    ch_supervisor_stats st;
    ch_supervisor_get_stats(s, &st);
    printf("kill -9 x%d under load: %d events in %lld ms; lost events %d, lost records %d; "
           "run twice: %d events, %d deliveries; restarts %llu\n",
           k.kills, N, (long long)(ch_monotonic_ms() - t0), lost_ev, lost_rec, dup_ev, dup_rec,
           (unsigned long long)st.restarts);
    CHECK(lost_ev == 0);
    CHECK(lost_rec == 0);
    CHECK(st.restarts >= 3);
    CHECK(pf_int("XLEN c360:{t:%s}:dlq", tenant) == 0);
    /* Duplicates only for what was in flight at the three kills: per
     * thread the item running and the successes it keeps for one batched
     * acknowledgement (CH_WOK_WINDOW_MS of callbacks: one 8 ms item). */
    CHECK(dup_ev <= 3 * 2 * 2 * 2 + 6);

    /* Drain: every worker stops by itself. */
    ch_supervisor_drain(s);
    int64_t t1 = ch_monotonic_ms();
    while (ch_supervisor_active(s) > 0 && ch_monotonic_ms() - t1 < 5000) {
        struct timeval once = {0, 20 * 1000};
        event_base_loopexit(g_base, &once);
        event_base_dispatch(g_base);
    }
    CHECK(ch_supervisor_active(s) == 0);
    printf("drain: workers stopped %lld ms after SIGTERM\n", (long long)(ch_monotonic_ms() - t1));
    ch_supervisor_free(s);
}

/* --- a worker that stops beating; workers = 0 ------------------------------ */

typedef struct sctx { ch_supervisor *s; } sctx;

static int stalled_and_replaced(void *arg)
{
    sctx *c = arg;
    ch_supervisor_stats st;
    ch_supervisor_get_stats(c->s, &st);
    return st.stalls >= 1 && st.restarts >= 1 && ch_supervisor_worker_pid(c->s, 0) > 0;
}

static void test_stall(void)
{
    ch_supervisor_conf sc = base_conf(1, 3);
    sc.heartbeat_timeout_ms = 1000;
    ch_supervisor *s = ch_supervisor_new(g_base, &sc);
    CHECK(s && ch_supervisor_start(s) == 0);
    if (!s) return;
    /* Up and beating first. */
    int64_t t0 = ch_monotonic_ms();
    while (ch_supervisor_worker_pid(s, 0) <= 0 && ch_monotonic_ms() - t0 < 5000) {
        struct timeval once = {0, 20 * 1000};
        event_base_loopexit(g_base, &once);
        event_base_dispatch(g_base);
    }
    pid_t frozen = ch_supervisor_worker_pid(s, 0);
    CHECK(frozen > 0);
    fx_sleep_ms(300);
    kill(frozen, SIGSTOP); /* alive, but every thread is silent */
    sctx c = {s};
    t0 = ch_monotonic_ms();
    CHECK(run_until(stalled_and_replaced, &c, 10000, NULL));
    int64_t took = ch_monotonic_ms() - t0;
    CHECK(ch_supervisor_worker_pid(s, 0) != frozen);
    CHECK(kill(frozen, 0) != 0); /* killed and reaped */
    ch_supervisor_stats st;
    ch_supervisor_get_stats(s, &st);
    printf("stall: a SIGSTOPped worker was replaced %lld ms later (heartbeat timeout 1000 ms); "
           "suspects %llu\n", (long long)took, (unsigned long long)st.suspects);
    CHECK(st.suspects == 0); /* nobody blamed */
    ch_supervisor_free(s);
}

static int inproc_done(void *arg)
{
    (void)arg;
    return pf_stat_num("ti", "ti-src", "events") >= 5 && pf_state_num("ti", "ti-d1", "delivered") >= 5;
}

static void test_inproc(void)
{
    put("ti", "ti-src", "{}");
    put("ti", "ti-d1", "{}");
    CHECK(ch_conn_route_add("ti", "ti-src", "ti-d1", "system", NULL) == C360_OK);
    for (int i = 0; i < 5; i++) xadd("ti", "ti-src", "ok 1", NULL);
    ch_supervisor_conf sc = base_conf(0, 3);
    ch_supervisor *s = ch_supervisor_new(g_base, &sc);
    CHECK(s && ch_supervisor_start(s) == 0);
    if (!s) return;
    CHECK(ch_supervisor_worker_pid(s, 0) == 0); /* no process: threads here */
    CHECK(run_until(inproc_done, NULL, 10000, NULL));
    CHECK(ch_supervisor_active(s) == 2);
    ch_supervisor_drain(s);
    int64_t t0 = ch_monotonic_ms();
    while (ch_supervisor_active(s) > 0 && ch_monotonic_ms() - t0 < 3000) fx_sleep_ms(20);
    CHECK(ch_supervisor_active(s) == 0);
    ch_supervisor_free(s);
}

int main(void)
{
    pf_raw_connect(fx_rconn_start(2000));
    g_ld = pf_load_plugin("worker_tp");
    CHECK(ch_metrics_init(ch_loader_count(g_ld)) == 0);
    g_base = event_base_new();

    test_poison("tp", "crash", 0);
    test_poison("th", "hang", 1);
    test_kill9();
    test_stall();
    test_inproc();

    /* Counted by the workers (children) and the supervisor (master) in the
     * shared metrics. */
    CHECK(ch_metrics_get(CH_M_WORKER_RESTARTS) >= 7);
    CHECK(ch_metrics_get(CH_M_DEAD_LETTERS) >= 2);
    CHECK(ch_metrics_get(CH_M_DELIVERIES_OK) >= 640);

    event_base_free(g_base);
    ch_metrics_shutdown();
    ch_loader_free(g_ld);
    redisFree(pf_raw);
    ch_rconn_shutdown();
    CHECK_DONE();
}
