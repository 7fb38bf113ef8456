/* test_ratelimit.c -- rate-limit buckets against a real redis-server: burst
 * then throttle, the accuracy of wait_ms, scope isolation, provider reports
 * (slowdown, pause, Retry-After), key expiry, refused arguments, threads
 * sharing one budget, and Redis going away. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "connector_api.h"
#include "keys.h"
#include "ratelimit.h"
#include "rconn.h"
#include "redis_fixture.h"

#define P "meta"

static c360_rl_limit lim_of(uint32_t limit, uint32_t period_ms, uint32_t burst)
{
    c360_rl_limit l = {sizeof l, limit, period_ms, burst};
    return l;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long pttl(const char *plugin, const char *tenant, const char *conn, int32_t scope,
                      const char *bucket)
{
    char *k = ch_ratelimit_key(plugin, tenant, conn, scope, bucket);
    redisReply *r = ch_rconn_command("PTTL %s", k);
    free(k);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -100;
    if (r) freeReplyObject(r);
    return v;
}

/* Takes until refused; returns how many were allowed (at most max). */
static int drain(const char *tenant, const char *conn, int32_t scope, const char *bucket,
                 const c360_rl_limit *l, int max, uint32_t *wait)
{
    int n = 0;
    while (n < max && ch_ratelimit_take(P, tenant, conn, scope, bucket, l, 1, wait) == C360_OK) n++;
    return n;
}

typedef struct hammer {
    const c360_rl_limit *lim;
    int64_t until;
    int allowed;
    int errors;
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *h = arg;
    while (mono_ms() < h->until) {
        uint32_t w = 0;
        int32_t st = ch_ratelimit_take(P, "tH", NULL, C360_RL_TENANT, "shared", h->lim, 1, &w);
        if (st == C360_OK) h->allowed++;
        else if (st == C360_RETRY) fx_sleep_ms((int)w);
        else h->errors++;
    }
    ch_rconn_thread_close();
    return NULL;
}

int main(void)
{
    fx_rconn_start(2000);
    uint32_t w = 0;

    /* --- refused arguments ------------------------------------------------ */
    c360_rl_limit ok = lim_of(10, 1000, 5);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", NULL, 1, &w) == C360_EINVAL);
    c360_rl_limit bad = ok;
    bad.struct_size = 12;
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &bad, 1, &w) == C360_EINVAL);
    bad = lim_of(0, 1000, 5);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &bad, 1, &w) == C360_EINVAL);
    bad = lim_of(10, 0, 5);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &bad, 1, &w) == C360_EINVAL);
    bad = lim_of(10, CH_RL_MAX_PERIOD_MS + 1, 5);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &bad, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &ok, 0, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &ok, 6, &w) == C360_EINVAL);
    bad = lim_of(10, 1000, 0); /* burst 0 = limit: a cost of 10 is fine, 11 is not */
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b0", &bad, 11, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b0", &bad, 10, &w) == C360_OK);
    bad = lim_of(1, CH_RL_MAX_PERIOD_MS, 2); /* two days to refill */
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &bad, 1, &w) == C360_EINVAL);
    bad = lim_of(10, 1000, UINT32_MAX);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b", &bad, 1, &w) == C360_EINVAL);
    bad = lim_of(10, 1000, 864000); /* exactly a day: fine */
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "b1", &bad, 1, &w) == C360_OK);
    CHECK(ch_ratelimit_take(P, "tA", "c1", 3, "b", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c1", -1, "b", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "has space", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, NULL, &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take("bad:plugin", "tA", "c1", C360_RL_CONNECTION, "b", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "t:A", "c1", C360_RL_TENANT, "b", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", "c}1", C360_RL_CONNECTION, "b", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_take(P, "tA", NULL, C360_RL_CONNECTION, "b", &ok, 1, &w) == C360_EINVAL);
    CHECK(ch_ratelimit_report(P, NULL, NULL, C360_RL_TENANT, "b", 50, 0) == C360_EINVAL);
    CHECK(ch_ratelimit_feed_response(P, "tA", NULL, C360_RL_TENANT, "b", NULL) == C360_EINVAL);
    {
        char longname[CH_NAME_MAX + 2];
        memset(longname, 'x', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, longname, &ok, 1, &w) == C360_EINVAL);
    }
    /* APP scope needs neither tenant nor connection. */
    CHECK(ch_ratelimit_take(P, NULL, NULL, C360_RL_APP, "app", &ok, 1, &w) == C360_OK && w == 0);
    ch_rl_settings s;
    ch_ratelimit_defaults(&s);
    CHECK(s.slowdown_pct == 90 && s.pause_pct == 95 && s.default_pause_ms == 60000 && s.floor_pct == 10);
    ch_rl_settings sb = s;
    sb.slowdown_pct = 0;
    CHECK(ch_ratelimit_configure(&sb) == C360_EINVAL);
    sb = s;
    sb.floor_pct = 101;
    CHECK(ch_ratelimit_configure(&sb) == C360_EINVAL);
    sb = s;
    sb.default_pause_ms = 0;
    CHECK(ch_ratelimit_configure(&sb) == C360_EINVAL);
    CHECK(ch_ratelimit_configure(NULL) == C360_EINVAL);

    /* --- key scheme: tenant hash tags, scopes kept apart ------------------- */
    char *k = ch_ratelimit_key(P, "tA", "c1", C360_RL_APP, "calls");
    CHECK_STR(k, "c360:{p:meta}:rl:calls");
    free(k);
    k = ch_ratelimit_key(P, "tA", "c1", C360_RL_TENANT, "c1:calls");
    CHECK_STR(k, "c360:{t:tA}:rl:t:meta:c1:calls");
    free(k);
    k = ch_ratelimit_key(P, "tA", "c1", C360_RL_CONNECTION, "calls");
    CHECK_STR(k, "c360:{t:tA}:rl:c:meta:c1:calls");
    free(k);

    /* --- burst, then throttle with an exact wait ----------------------------
     * 10 per second (a unit every 100 ms), burst 5. */
    CHECK(drain("tA", "c1", C360_RL_CONNECTION, "burst", &ok, 20, &w) == 5);
    CHECK(w >= 70 && w <= 100);
    /* Refusals spend nothing: asking again right away gives the same wait. */
    uint32_t w2 = 0;
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "burst", &ok, 1, &w2) == C360_RETRY);
    CHECK(w2 <= w && w2 + 10 >= w);
    /* A cost of 3 waits for 3 units to come back. */
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "burst", &ok, 3, &w2) == C360_RETRY);
    CHECK(w2 >= 260 && w2 <= 300);
    fx_sleep_ms((int)w + 2);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "burst", &ok, 1, &w) == C360_OK);
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "burst", &ok, 1, &w) == C360_RETRY);
    CHECK(w >= 70 && w <= 100);

    /* wait_ms is neither early nor late: one unit per second, burst 1. */
    {
        c360_rl_limit slow = lim_of(1, 1000, 1);
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "acc", &slow, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "acc", &slow, 1, &w) == C360_RETRY);
        CHECK(w >= 950 && w <= 1000);
        int64_t t0 = mono_ms();
        fx_sleep_ms(600);
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "acc", &slow, 1, &w2) == C360_RETRY);
        int64_t spent = mono_ms() - t0;
        /* What is left is what was promised minus what passed (+-30 ms for
         * scheduling under sanitizers). */
        CHECK((int64_t)w2 >= (int64_t)w - spent - 30 && (int64_t)w2 <= (int64_t)w - spent + 30);
        fx_sleep_ms((int)w2 + 2);
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "acc", &slow, 1, &w) == C360_OK);
    }

    /* --- scopes are isolated ------------------------------------------------ */
    {
        c360_rl_limit one = lim_of(1, 60000, 1);
        /* Tenant A's tenant-wide bucket drained ... */
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_TENANT, "api", &one, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tA", "c2", C360_RL_TENANT, "api", &one, 1, &w) == C360_RETRY);
        /* ... tenant B's bucket of the same name is not. */
        CHECK(ch_ratelimit_take(P, "tB", "c1", C360_RL_TENANT, "api", &one, 1, &w) == C360_OK);
        /* Connections are apart from each other and from the tenant bucket. */
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "api", &one, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "api", &one, 1, &w) == C360_RETRY);
        CHECK(ch_ratelimit_take(P, "tA", "c2", C360_RL_CONNECTION, "api", &one, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tB", "c1", C360_RL_CONNECTION, "api", &one, 1, &w) == C360_OK);
        /* A tenant bucket named like a connection's key stays apart. */
        CHECK(ch_ratelimit_take(P, "tA", "x", C360_RL_TENANT, "c3:api", &one, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tA", "c3", C360_RL_CONNECTION, "api", &one, 1, &w) == C360_OK);
        /* The app bucket is its own, per plugin. */
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_APP, "api", &one, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tB", "c9", C360_RL_APP, "api", &one, 1, &w) == C360_RETRY);
        CHECK(ch_ratelimit_take("zoom", "tA", "c1", C360_RL_APP, "api", &one, 1, &w) == C360_OK);
        /* Reports follow the same scoping. */
        CHECK(ch_ratelimit_report(P, "tA", "c1", C360_RL_CONNECTION, "rep", 100, 5000) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "rep", &one, 1, &w) == C360_RETRY);
        CHECK(ch_ratelimit_take(P, "tA", "c2", C360_RL_CONNECTION, "rep", &one, 1, &w) == C360_OK);
    }

    /* --- expiry: a key lives until its bucket is full again ----------------- */
    {
        c360_rl_limit fast = lim_of(10, 200, 10);
        CHECK(drain("tA", "c1", C360_RL_CONNECTION, "exp", &fast, 50, &w) == 10);
        long long t = pttl(P, "tA", "c1", C360_RL_CONNECTION, "exp");
        CHECK(t > 120 && t <= 200);
        fx_sleep_ms(260);
        CHECK(pttl(P, "tA", "c1", C360_RL_CONNECTION, "exp") == -2); /* gone */
        /* ... and is refilled in full. */
        CHECK(drain("tA", "c1", C360_RL_CONNECTION, "exp", &fast, 50, &w) == 10);
        /* A report keeps the key for its pause and slowdown. */
        CHECK(ch_ratelimit_report(P, "tA", "c1", C360_RL_CONNECTION, "exp2", 0, 30000) == C360_OK);
        t = pttl(P, "tA", "c1", C360_RL_CONNECTION, "exp2");
        CHECK(t > 29000 && t <= 30000);
        CHECK(ch_ratelimit_report(P, "tA", "c1", C360_RL_CONNECTION, "exp3", 92, 0) == C360_OK);
        t = pttl(P, "tA", "c1", C360_RL_CONNECTION, "exp3");
        CHECK(t > 59000 && t <= 60000);
        /* A low report on a bucket with nothing in force leaves no key. */
        CHECK(ch_ratelimit_report(P, "tA", "c1", C360_RL_CONNECTION, "exp4", 20, 0) == C360_OK);
        CHECK(pttl(P, "tA", "c1", C360_RL_CONNECTION, "exp4") == -2);
    }

    /* --- provider reports: slowdown, then pause, then recovery -------------- */
    {
        ch_rl_settings cfg;
        ch_ratelimit_defaults(&cfg);
        cfg.default_pause_ms = 1500;
        CHECK(ch_ratelimit_configure(&cfg) == C360_OK);
        ch_rl_settings got;
        ch_ratelimit_settings_get(&got);
        CHECK(got.default_pause_ms == 1500);
        /* 10 per second, burst 1: a unit every 100 ms. */
        c360_rl_limit l = lim_of(10, 1000, 1);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 70 && w <= 100);
        fx_sleep_ms((int)w + 2);
        /* 94 % is above slowdown (90) and below pause (95): the rate falls
         * linearly, 100 - (94-90)*90/10 = 64 % -> a unit every 156.25 ms. */
        CHECK(ch_ratelimit_report(P, "tR", "c1", C360_RL_CONNECTION, "r", 94, 0) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 125 && w <= 157);
        /* 100 %: a pause of the default length, whatever the budget says. */
        CHECK(ch_ratelimit_report(P, "tR", "c1", C360_RL_CONNECTION, "r", 100, 0) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 1400 && w <= 1500);
        /* A shorter explicit pause does not cut it short. */
        CHECK(ch_ratelimit_report(P, "tR", "c1", C360_RL_CONNECTION, "r", 100, 200) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w2) == C360_RETRY);
        CHECK(w2 >= 1350 && w2 <= w);
        fx_sleep_ms((int)w2 + 5);
        /* After the pause the slowdown of 100 % is still in force: 10 % of
         * the rate, a unit per second. */
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 920 && w <= 1000);
        /* Usage back down: the slowdown is lifted. The debt taken at the
         * slow rate is still owed (it is time, not units), so wait it out,
         * then the normal step applies. */
        CHECK(ch_ratelimit_report(P, "tR", "c1", C360_RL_CONNECTION, "r", 30, 0) == C360_OK);
        fx_sleep_ms((int)w + 2);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c1", C360_RL_CONNECTION, "r", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 70 && w <= 100);

        /* A slowdown ends by itself after slowdown_hold_ms. */
        cfg.slowdown_hold_ms = 300;
        CHECK(ch_ratelimit_configure(&cfg) == C360_OK);
        CHECK(ch_ratelimit_report(P, "tR", "c2", C360_RL_CONNECTION, "h", 100, 1) == C360_OK);
        fx_sleep_ms(350);
        CHECK(ch_ratelimit_take(P, "tR", "c2", C360_RL_CONNECTION, "h", &l, 1, &w) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c2", C360_RL_CONNECTION, "h", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 70 && w <= 100);

        /* Thresholds come from the settings. */
        cfg.slowdown_pct = 50;
        cfg.pause_pct = 60;
        CHECK(ch_ratelimit_configure(&cfg) == C360_OK);
        CHECK(ch_ratelimit_report(P, "tR", "c3", C360_RL_CONNECTION, "t", 61, 0) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tR", "c3", C360_RL_CONNECTION, "t", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 1400 && w <= 1500);
        ch_ratelimit_defaults(&cfg);
        CHECK(ch_ratelimit_configure(&cfg) == C360_OK);
    }

    /* --- Retry-After from a response pauses the bucket ---------------------- */
    {
        c360_rl_limit l = lim_of(100, 1000, 10);
        c360_header h[] = {{"content-type", "application/json"}, {"retry-after", "3"}};
        c360_http_response r = {sizeof r, 429, 2, 0, h, NULL, 0, 0};
        CHECK(ch_ratelimit_feed_response(P, "tZ", "c1", C360_RL_TENANT, "z", &r) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tZ", "c1", C360_RL_TENANT, "z", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 2900 && w <= 3000);
        /* A response without signals changes nothing and touches no key. */
        c360_header plain[] = {{"content-type", "application/json"}};
        c360_http_response ok200 = {sizeof ok200, 200, 1, 0, plain, NULL, 0, 0};
        CHECK(ch_ratelimit_feed_response(P, "tZ", "c1", C360_RL_TENANT, "none", &ok200) == C360_OK);
        CHECK(pttl(P, "tZ", "c1", C360_RL_TENANT, "none") == -2);
        /* Meta's app usage at 97 % (no explicit wait): default pause. */
        c360_header meta[] = {{"x-app-usage", "{\"call_count\":97,\"total_cputime\":3,\"total_time\":4}"}};
        c360_http_response m = {sizeof m, 200, 1, 0, meta, NULL, 0, 0};
        CHECK(ch_ratelimit_feed_response(P, NULL, NULL, C360_RL_APP, "meta_app", &m) == C360_OK);
        CHECK(ch_ratelimit_take(P, "tQ", "c7", C360_RL_APP, "meta_app", &l, 1, &w) == C360_RETRY);
        CHECK(w >= 59000 && w <= 60000);
    }

    /* --- threads share one budget ------------------------------------------
     * 100 per second, burst 10, 4 threads for 2 s: burst + 200 allowed. */
    {
        c360_rl_limit l = lim_of(100, 1000, 10);
        hammer hs[4];
        pthread_t th[4];
        int64_t start = mono_ms();
        for (int i = 0; i < 4; i++) {
            hs[i] = (hammer){&l, start + 2000, 0, 0};
            pthread_create(&th[i], NULL, hammer_thread, &hs[i]);
        }
        int total = 0, errors = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            total += hs[i].allowed;
            errors += hs[i].errors;
        }
        double rate = (total - 10) / 2.0;
        printf("threads: %d allowed in 2 s (burst 10): %.1f/s for a limit of 100/s\n", total, rate);
        CHECK(errors == 0);
        CHECK(rate >= 95.0 && rate <= 105.0);
    }

    /* --- Redis gone: an error, not a crash and not a silent allow ----------- */
    fx_redis_kill();
    CHECK(ch_ratelimit_take(P, "tA", "c1", C360_RL_CONNECTION, "gone", &ok, 1, &w) == C360_EIO);
    CHECK(ch_ratelimit_report(P, "tA", "c1", C360_RL_CONNECTION, "gone", 99, 0) == C360_EIO);

    ch_rconn_shutdown();
    CHECK_DONE();
}
