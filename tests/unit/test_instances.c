/* test_instances -- opened plugin instances (instances.h) with the
 * ingress_tp plugin and a real redis-server: open on demand, sharing,
 * one open for many concurrent acquirers, version swap (a new config
 * version opens a new instance while the old one stays usable until its
 * last user releases it, and is closed then), instance_route_keys from
 * instance_open reaching the routing-key index, a purged connection, a
 * failing open, peek at an exact version, the idle sweep, and closing at
 * free. Then the sweep's edges, each with a set of its own: Redis not
 * answering (kept, asked again once it is back), more idle instances than
 * one pipelined batch, and an instance acquired, used or invalidated
 * between the sweep's two passes (a scripted stand-in for Redis holds the
 * sweep between them). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "conns.h"
#include "instances.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "util.h"

static ch_instances *g_set;

static void put(const char *t, const char *c, const char *cfg)
{
    ch_conn_spec s = {.tenant = t, .id = c, .plugin = "ingress_tp", .config = cfg,
                      .config_len = strlen(cfg)};
    CHECK(ch_conn_put(&s, "system", NULL, NULL, NULL) == C360_OK);
}

static const char *tag(ch_inst *i) { return ((itp_inst *)ch_inst_data(i))->config_tag; }

typedef struct racer {
    ch_inst *got;
    int32_t st;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    r->st = ch_instance_acquire(g_set, "t1", "c2", &r->got, NULL, 0);
    ch_rconn_thread_close();
    return NULL;
}

/* ---- the sweep's edges ------------------------------------------------ */

static ch_instances_stats stats_of(ch_instances *set)
{
    ch_instances_stats st;
    ch_instances_get_stats(set, &st);
    return st;
}

/* Redis stops answering during a sweep: the idle instance is kept (no
 * answer is no reason to close), and that was no version check -- the
 * next sweep asks again, within the check time, and closes it once Redis
 * is back and has the connection changed. The check time is 1 s so the
 * restart (a fork and a load of the dump) falls within it: were a failed
 * ask counted as a check, the second sweep would not ask. */
#define AWAY_CHECK_MS 1000
static void test_sweep_redis_away(ch_loader *ld)
{
    ch_instances_opts o = {.recheck_ms = 60000};
    ch_instances *set = ch_instances_new(ld, &o);
    put("t1", "away1", "{\"token\":\"a\",\"tag\":\"r1\"}");
    ch_inst *h = NULL;
    CHECK(ch_instance_acquire(set, "t1", "away1", &h, NULL, 0) == C360_OK);
    ch_instance_release(h);
    /* Changed meanwhile: stale, for the sweep that can ask. Saved, so the
     * restarted server has it (the fixture restarts in the same dir). */
    put("t1", "away1", "{\"token\":\"a\",\"tag\":\"r2\"}");
    pf_do("SAVE");
    fx_sleep_ms(AWAY_CHECK_MS + 50);
    fx_redis_kill();
    CHECK(ch_instances_sweep(set, AWAY_CHECK_MS, 3600000) == 0);
    ch_instances_stats st = stats_of(set);
    CHECK(st.open == 1 && st.closed == 0);
    CHECK(ch_instances_sweep(set, AWAY_CHECK_MS, 3600000) == 0); /* still away */
    int64_t t0 = ch_monotonic_ms();
    fx_redis_start();
    CHECK(ch_instances_sweep(set, AWAY_CHECK_MS, 3600000) == 1); /* asked again */
    if (ch_monotonic_ms() - t0 >= AWAY_CHECK_MS)
        fprintf(stderr, "note: the restart took over %d ms; the last sweep could not tell "
                        "a failed ask from a check\n", AWAY_CHECK_MS);
    st = stats_of(set);
    CHECK(st.open == 0 && st.closed == 1);
    CHECK(ch_instance_acquire(set, "t1", "away1", &h, NULL, 0) == C360_OK);
    if (h) {
        CHECK_STR(tag(h), "r2");
        ch_instance_release(h);
    }
    ch_instances_free(set);
}

/* More idle instances than one pipelined batch (SWEEP_BATCH, 128, in
 * instances.c): 300, every third changed in Redis, spread over the three
 * batches in the table's order. Exactly the changed ones are closed. Some
 * are opened at version 2, so that an answer compared with another
 * instance's version would be noticed. */
#define MANY 300
static uint64_t many_version(int i) { return i % 5 == 1 ? 2 : 1; }
static void test_sweep_many(ch_loader *ld)
{
    ch_instances_opts o = {.recheck_ms = 60000};
    ch_instances *set = ch_instances_new(ld, &o);
    char id[16];
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "m%03d", i);
        for (uint64_t v = 0; v < many_version(i); v++)
            put("t1", id, "{\"token\":\"m\",\"tag\":\"m1\"}");
        ch_inst *h = NULL;
        CHECK(ch_instance_acquire(set, "t1", id, &h, NULL, 0) == C360_OK);
        ch_instance_release(h);
    }
    int changed = 0;
    for (int i = 0; i < MANY; i += 3, changed++) {
        snprintf(id, sizeof id, "m%03d", i);
        put("t1", id, "{\"token\":\"m\",\"tag\":\"m2\"}");
    }
    CHECK(stats_of(set).open == MANY);
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(set, 20, 3600000) == (size_t)changed);
    ch_instances_stats st = stats_of(set);
    CHECK(st.open == (uint64_t)(MANY - changed) && st.closed == (uint64_t)changed);
    /* Which ones: the kept are still current at the version they were
     * opened at, the others are not open at all. */
    int wrong = 0;
    for (int i = 0; i < MANY; i++) {
        snprintf(id, sizeof id, "m%03d", i);
        ch_inst *p = ch_instance_peek(set, "t1", id, many_version(i));
        if ((p != NULL) != (i % 3 != 0)) wrong++;
        ch_instance_release(p);
        if (i % 3 == 0 && ch_instance_peek(set, "t1", id, many_version(i) + 1) != NULL) wrong++;
    }
    CHECK(wrong == 0);
    ch_instances_free(set);
}

/* Between the sweep's two passes. The sweep asks Redis outside the table's
 * lock and retires an instance only if it is still the one it found, and
 * still unused. To act between the passes deterministically, the sweeping
 * thread's Redis is a listening socket of this test (ch_rconn_configure,
 * set while no other thread runs): once the HMGET has arrived the first
 * pass is over, and the second cannot begin before the test answers --
 * with a version Redis never had, so every instance asked about is stale
 * and would be closed but for the guards. */
typedef struct sweeper {
    ch_instances *set;
    size_t closed;
} sweeper;

static void *sweep_thread(void *arg)
{
    sweeper *s = arg;
    s->closed = ch_instances_sweep(s->set, 20, 3600000);
    ch_rconn_thread_close();
    return NULL;
}

static int fake_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        perror("fake redis");
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Accepts the sweeper's connection and reads its one HMGET (the last
 * argument is "state"); the socket, or -1 after 5 s without it. */
static int fake_take_hmget(int lfd)
{
    struct pollfd pf = {lfd, POLLIN, 0};
    if (poll(&pf, 1, 5000) != 1) return -1;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) return -1;
    char buf[512];
    size_t n = 0;
    static const char tail[] = "$5\r\nstate\r\n";
    while (n < sizeof tail - 1 || memcmp(buf + n - (sizeof tail - 1), tail, sizeof tail - 1)) {
        struct pollfd q = {fd, POLLIN, 0};
        ssize_t k = poll(&q, 1, 5000) == 1 ? read(fd, buf + n, sizeof buf - n) : -1;
        if (k <= 0 || n + (size_t)k >= sizeof buf) {
            close(fd);
            return -1;
        }
        n += (size_t)k;
    }
    return strstr(buf, "HMGET") ? fd : (close(fd), -1);
}

enum { W_NONE, W_HOLD, W_USE, W_INVALIDATE };

/* One sweep of `set` with `what` done between its passes to connection
 * "btw1"; the sweep's count. *held gets the instance W_HOLD acquired. */
static size_t sweep_between(ch_instances *set, int lfd, int port, int what, ch_inst **held)
{
    ch_redis_url u = {.port = port};
    snprintf(u.host, sizeof u.host, "127.0.0.1");
    ch_rconn_configure(&u, NULL, NULL, 2000);
    sweeper s = {set, 99};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, sweep_thread, &s) == 0);
    int fd = fake_take_hmget(lfd);
    CHECK(fd >= 0);
    if (fd >= 0) {
        /* The first pass is over; the second waits for the answer. None
         * of these touch Redis (recheck_ms is a minute). */
        ch_inst *h = NULL;
        if (what == W_HOLD || what == W_USE)
            CHECK(ch_instance_acquire(set, "t1", "btw1", &h, NULL, 0) == C360_OK);
        if (what == W_USE) ch_instance_release(h);
        if (what == W_HOLD) *held = h;
        if (what == W_INVALIDATE) ch_instances_invalidate(set, "btw1");
        static const char stale_answer[] = "*2\r\n$2\r\n99\r\n$6\r\nactive\r\n";
        CHECK(write(fd, stale_answer, sizeof stale_answer - 1) == sizeof stale_answer - 1);
    }
    pthread_join(th, NULL);
    if (fd >= 0) close(fd);
    fx_rconn_configure(2000);
    return s.closed;
}

static void test_sweep_between_passes(ch_loader *ld)
{
    ch_instances_opts o = {.recheck_ms = 60000};
    ch_instances *set = ch_instances_new(ld, &o);
    int port = 0;
    int lfd = fake_listen(&port);
    put("t1", "btw1", "{\"token\":\"b\",\"tag\":\"b1\"}");
    ch_inst *x = NULL, *h = NULL, *p;
    CHECK(ch_instance_acquire(set, "t1", "btw1", &x, NULL, 0) == C360_OK);
    if (!x) return;
    ch_instance_release(x);
    uint64_t ver = ch_inst_version(x);

    /* Acquired between the passes and still held at the second: kept,
     * and still the current instance (not retired under its user). (The
     * sweep's refs check alone cannot be seen failing here: an acquire
     * also moves used_ms on, which the next check sees -- unless it falls
     * in the very millisecond of the use the first pass saw, which needs
     * check_ms 0 and a clock this test does not control.) */
    fx_sleep_ms(30);
    CHECK(sweep_between(set, lfd, port, W_HOLD, &h) == 0);
    CHECK(h == x);
    p = ch_instance_peek(set, "t1", "btw1", ver);
    CHECK(p == x);
    ch_instance_release(p);
    ch_instance_release(h);
    CHECK(stats_of(set).closed == 0);

    /* Acquired and released between the passes (unused again, but used
     * since the first): kept. */
    fx_sleep_ms(30);
    CHECK(sweep_between(set, lfd, port, W_USE, NULL) == 0);
    p = ch_instance_peek(set, "t1", "btw1", ver);
    CHECK(p == x);
    ch_instance_release(p);
    CHECK(stats_of(set).closed == 0);

    /* Invalidated (closed, freed) between the passes: not touched again
     * (ASan sees a use after free otherwise); one close, invalidate's. */
    fx_sleep_ms(30);
    CHECK(sweep_between(set, lfd, port, W_INVALIDATE, NULL) == 0);
    CHECK(stats_of(set).closed == 1 && stats_of(set).open == 0);

    /* The control: nothing between the passes, and the same answer closes
     * the instance -- so the zeros above are the guards' doing. */
    CHECK(ch_instance_acquire(set, "t1", "btw1", &x, NULL, 0) == C360_OK);
    ch_instance_release(x);
    fx_sleep_ms(30);
    CHECK(sweep_between(set, lfd, port, W_NONE, NULL) == 1);
    CHECK(stats_of(set).closed == 2 && stats_of(set).open == 0);
    close(lfd);
    ch_instances_free(set);
}

int main(void)
{
    pf_raw_connect(fx_rconn_start(2000));
    ch_loader *ld = pf_load_plugins();
    ch_instances_opts o = {.recheck_ms = 100};
    g_set = ch_instances_new(ld, &o);
    ch_instances_stats st;

    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v1\",\"route_keys\":[\"page:1\",\"page:2\"]}");
    ch_inst *a = NULL;
    char err[256];
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &a, err, sizeof err) == C360_OK);
    CHECK(a != NULL);
    if (!a) CHECK_DONE();
    CHECK_STR(tag(a), "v1");
    CHECK(ch_inst_version(a) == 1);
    CHECK_STR(ch_inst_conn(a)->tenant, "t1");
    CHECK_STR(ch_inst_instance(a)->connection, "c1");
    CHECK_STR(ch_plugin_name(ch_inst_plugin(a)), "ingress_tp");
    /* instance_open registered its routing keys through the host table. */
    redisReply *r = pf_cmd("HGET c360:{idx}:rk:ingress_tp page:2");
    CHECK(r->type == REDIS_REPLY_STRING && strstr(r->str, "t1") && strstr(r->str, "c1"));
    freeReplyObject(r);

    ch_inst *a2 = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &a2, NULL, 0) == C360_OK);
    CHECK(a2 == a);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == 1 && st.open == 1);
    ch_instance_release(a2);

    /* Eight threads at once on a new connection: one instance_open. */
    put("t1", "c2", "{\"token\":\"b\",\"tag\":\"x\"}");
    racer rc[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, race, &rc[i]);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        CHECK(rc[i].st == C360_OK);
        CHECK(rc[i].got == rc[0].got);
        ch_instance_release(rc[i].got);
    }
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == 2);

    /* Peek: only at the exact version, and never blocking. */
    ch_inst *p = ch_instance_peek(g_set, "t1", "c1", 1);
    CHECK(p == a);
    ch_instance_release(p);
    CHECK(ch_instance_peek(g_set, "t1", "c1", 2) == NULL);
    CHECK(ch_instance_peek(g_set, "t2", "c1", 1) == NULL);
    CHECK(ch_instance_peek(g_set, "t1", "zz", 1) == NULL);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.peek_miss == 3);

    /* Version swap while `a` is in use: the next acquire (after the
     * recheck period) gets a new instance; `a` stays valid and is closed
     * when released. */
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v2\",\"route_keys\":[\"page:3\"]}");
    fx_sleep_ms(150);
    ch_inst *b = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &b, NULL, 0) == C360_OK);
    CHECK(b && b != a);
    if (b) {
        CHECK_STR(tag(b), "v2");
        CHECK(ch_inst_version(b) == 2);
    }
    CHECK_STR(tag(a), "v1"); /* still readable: not closed under its user */
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 0 && st.open == 3);
    ch_instance_release(a);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 1 && st.open == 2);
    ch_instance_release(b);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 1); /* the table keeps the current one */
    r = pf_cmd("HEXISTS c360:{idx}:rk:ingress_tp page:1");
    CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    freeReplyObject(r);

    /* Invalidate retires at once (no recheck wait). */
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v3\"}");
    ch_instances_invalidate(g_set, "c1");
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == 2);
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &b, NULL, 0) == C360_OK);
    if (b) {
        CHECK_STR(tag(b), "v3");
        ch_instance_release(b);
    }

    /* A purged connection: its instance goes, acquire says not found. */
    CHECK(ch_conn_purge("t1", "c2", "system", NULL) == C360_OK);
    fx_sleep_ms(150);
    ch_inst *g = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c2", &g, err, sizeof err) == C360_ENOTFOUND);
    CHECK(g == NULL);
    CHECK(ch_instance_acquire(g_set, "t1", "never", &g, err, sizeof err) == C360_ENOTFOUND);
    CHECK_CONTAINS(err, "not found");

    /* The idle sweep: an instance somebody holds stays however old; an
     * idle one stays while Redis has its connection as it was opened, and
     * goes once it changed, was disabled, or was idle past the maximum;
     * the next acquire opens it again. */
    ch_inst *h = NULL;
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    ch_instances_get_stats(g_set, &st);
    uint64_t closed0 = st.closed, opened0 = st.opened;
    CHECK(ch_instances_sweep(g_set, 60000, 3600000) == 0); /* nothing idle */
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 20) == 0);          /* c1 is held */
    if (h) {
        CHECK_STR(tag(h), "v3");
        ch_instance_release(h);
    }
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 0);     /* idle, unchanged */
    CHECK(ch_instances_sweep(g_set, 20, 20) == 1);          /* idle past the max */
    ch_instances_get_stats(g_set, &st);
    CHECK(st.closed == closed0 + 1 && st.open == 0);
    CHECK(ch_instances_sweep(g_set, 0, 0) == 0);
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == opened0 + 1 && st.open == 1);
    if (h) {
        CHECK_STR(tag(h), "v3");
        /* Acquiring counts as use: not idle right after. */
        ch_instance_release(h);
        CHECK(ch_instances_sweep(g_set, 1000, 1000) == 0);
    }
    /* Changed in Redis (a new version) while idle: closed at the check. */
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v4\"}");
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 1);
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    if (h) {
        CHECK_STR(tag(h), "v4");
        ch_instance_release(h);
    }
    /* Disabled while idle: closed at the check too. */
    CHECK(ch_conn_close("t1", "c1", "test", "system", NULL) == C360_OK);
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 1);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.open == 0);
    /* The next acquire opens the connection as Redis has it now. */
    opened0 = st.opened;
    put("t1", "c1", "{\"token\":\"a\",\"tag\":\"v5\"}");
    CHECK(ch_instance_acquire(g_set, "t1", "c1", &h, NULL, 0) == C360_OK);
    ch_instances_get_stats(g_set, &st);
    CHECK(st.opened == opened0 + 1);
    if (h) {
        CHECK_STR(tag(h), "v5");
        ch_instance_release(h);
    }
    CHECK(ch_instances_sweep(g_set, 0, 0) == 1); /* (c1 is still disabled) */

    /* Redis is asked about an idle instance at most once per check time:
     * a change right after a check is found at the next one. */
    /* (A check time of 300 ms: the second sweep must come within it even
     * on a slow, instrumented run.) */
    put("t1", "c4", "{\"token\":\"d\",\"tag\":\"w1\"}");
    CHECK(ch_instance_acquire(g_set, "t1", "c4", &h, NULL, 0) == C360_OK);
    ch_instance_release(h);
    fx_sleep_ms(350);
    CHECK(ch_instances_sweep(g_set, 300, 3600000) == 0); /* asked: as opened */
    put("t1", "c4", "{\"token\":\"d\",\"tag\":\"w2\"}");
    CHECK(ch_instances_sweep(g_set, 300, 3600000) == 0); /* not asked again yet */
    fx_sleep_ms(350);
    CHECK(ch_instances_sweep(g_set, 300, 3600000) == 1); /* asked: changed */
    /* A connection purged while idle: closed at the check. */
    put("t1", "c5", "{\"token\":\"e\",\"tag\":\"p1\"}");
    CHECK(ch_instance_acquire(g_set, "t1", "c5", &h, NULL, 0) == C360_OK);
    ch_instance_release(h);
    CHECK(ch_conn_purge("t1", "c5", "system", NULL) == C360_OK);
    fx_sleep_ms(30);
    CHECK(ch_instances_sweep(g_set, 20, 3600000) == 1);

    /* A failing instance_open: its status and error text come back. */
    put("t1", "c3", "{\"open_fail\":true}");
    CHECK(ch_instance_acquire(g_set, "t1", "c3", &g, err, sizeof err) == C360_RETRY);
    CHECK_CONTAINS(err, "open_fail");
    ch_instances_get_stats(g_set, &st);
    CHECK(st.open_failed == 1);
    CHECK(ch_instance_acquire(g_set, "t1", "c3", &g, NULL, 0) == C360_RETRY);

    ch_instances_get_stats(g_set, &st);
    uint64_t opened = st.opened;
    ch_instances_free(g_set);
    /* Every instance opened was closed exactly once: the plugin frees its
     * data in instance_close, so ASan/valgrind would see a leak or a double
     * close. */
    CHECK(opened == 9);

    test_sweep_between_passes(ld);
    test_sweep_many(ld);
    test_sweep_redis_away(ld); /* last: it restarts the server */
    ch_loader_free(ld);
    redisFree(pf_raw);
    ch_rconn_thread_close();
    ch_rconn_shutdown();
    CHECK_DONE();
}
