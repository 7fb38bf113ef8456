/* test_replay.c -- raw-event replay by tenant, connection and time range,
 * and the retention trim of the raw-event store, which must never remove
 * an entry that is still pending or unread. Entries get explicit ids so
 * the ranges are exact. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "connector_api.h"
#include "maint.h"
#include "metrics.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "replay.h"

static const char body[] = {'{', '\x00', '\xfe', '}'};

static void add(const char *key, const char *id, const char *k, const char *conn)
{
    const char *argv[] = {"XADD", key, id, "k", k, "c", conn, "p", "src", "t", "777",
                          "a", "3", "h", "{}", "b", body, "rid", "rq", "orig", "1-0"};
    size_t n = sizeof argv / sizeof argv[0], lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i < n; i++) lens[i] = strlen(argv[i]);
    lens[16] = sizeof body;
    redisReply *r = ch_rconn_argv((int)n, argv, lens);
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r) freeReplyObject(r);
}

static long long xlen(const char *key)
{
    redisReply *r = ch_rconn_command("XLEN %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

static const redisReply *efield(const redisReply *entry, const char *name)
{
    const redisReply *f = entry->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (strcmp(f->element[i]->str, name) == 0) return f->element[i + 1];
    return NULL;
}

#define EV "c360:{t:tR}:ev"

static void test_raw_replay(void)
{
    add(EV, "1000-0", "wh", "c1");
    add(EV, "2000-0", "wh", "c2");
    add(EV, "3000-0", "tick", "c1");
    add(EV, "4000-0", "wh", "c1");
    add(EV, "5000-0", "replay", "c1");
    add(EV, "6000-0", "wh", "c1");

    size_t n = 99;
    char cur[CH_DLQ_ID_MAX];
    uint64_t m0 = ch_metrics_get(CH_M_REPLAYED);
    /* c1's webhooks received in [1000, 4500): 1000-0 and 4000-0; ticks and
     * replays are not raw events. */
    ch_replay_range rg = {.conn = "c1", .from_ms = 1000, .to_ms = 4500};
    CHECK(ch_replay_raw("tR", &rg, 0, &n, cur) == C360_OK && n == 2 && cur[0] == '\0');
    CHECK(xlen(EV) == 8);
    CHECK(ch_metrics_get(CH_M_REPLAYED) == m0 + 2);
    redisReply *r = ch_rconn_command("XREVRANGE %s + - COUNT 2", EV);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        for (int i = 0; i < 2; i++) {
            const redisReply *e = r->element[i], *v;
            CHECK((v = efield(e, "k")) && strcmp(v->str, "replay") == 0);
            CHECK((v = efield(e, "c")) && strcmp(v->str, "c1") == 0);
            CHECK((v = efield(e, "a")) && strcmp(v->str, "1") == 0);
            CHECK((v = efield(e, "t")) && strcmp(v->str, "777") == 0); /* receive time kept */
            CHECK((v = efield(e, "rid")) && strcmp(v->str, "rq") == 0);
            CHECK((v = efield(e, "b")) && v->len == sizeof body && memcmp(v->str, body, sizeof body) == 0);
            CHECK(efield(e, "orig") == NULL);
        }
    }
    if (r) freeReplyObject(r);
    r = ch_rconn_command("LINDEX c360:{idx}:wake 0");
    CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "tR") == 0);
    if (r) freeReplyObject(r);

    /* Every connection, no upper bound: 4 webhooks; the two replays just
     * added (ids after now) are not replayed again. */
    ch_replay_range all = {.from_ms = 0};
    CHECK(ch_replay_raw("tR", &all, 0, &n, cur) == C360_OK && n == 4 && cur[0] == '\0');
    CHECK(xlen(EV) == 12);

    /* Bounded batches with a cursor. */
    ch_replay_range b = {.from_ms = 0, .to_ms = 7000};
    CHECK(ch_replay_raw("tR", &b, 1, &n, cur) == C360_OK && n == 1);
    CHECK_STR(cur, "1000-0");
    b.cursor = cur;
    char cur2[CH_DLQ_ID_MAX];
    CHECK(ch_replay_raw("tR", &b, 2, &n, cur2) == C360_OK && n == 2);
    CHECK_STR(cur2, "4000-0");
    b.cursor = cur2;
    CHECK(ch_replay_raw("tR", &b, 2, &n, cur) == C360_OK && n == 1 && cur[0] == '\0');

    /* Many entries: more than one script batch (another tenant: tR's
     * stream now holds ids of the present). */
    for (int i = 0; i < 260; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d-0", 100000 + i);
        add("c360:{t:tR2}:ev", id, i % 2 ? "wh" : "tick", i % 4 == 1 ? "c8" : "c7");
    }
    ch_replay_range big = {.conn = "c7", .from_ms = 100000, .to_ms = 200000};
    CHECK(ch_replay_raw("tR2", &big, 0, &n, cur) == C360_OK && n == 65 && cur[0] == '\0');
    big.conn = NULL;
    CHECK(ch_replay_raw("tR2", &big, 100, &n, cur) == C360_OK && n == 100 && cur[0] != '\0');
    big.cursor = cur;
    CHECK(ch_replay_raw("tR2", &big, 100, &n, cur2) == C360_OK && n == 30 && cur2[0] == '\0');
    CHECK(xlen("c360:{t:tR2}:ev") == 260 + 65 + 130);

    /* Refusals. */
    ch_replay_range bad = {.from_ms = 10, .to_ms = 10};
    CHECK(ch_replay_raw("tR", &bad, 0, &n, cur) == C360_EINVAL);
    ch_replay_range badc = {.cursor = "x-1"};
    CHECK(ch_replay_raw("tR", &badc, 0, &n, cur) == C360_EINVAL);
    ch_replay_range badconn = {.conn = "a:b"};
    CHECK(ch_replay_raw("tR", &badconn, 0, &n, cur) == C360_EINVAL);
    CHECK(ch_replay_raw("tR", &all, CH_REPLAY_LIMIT_MAX + 1, &n, cur) == C360_EINVAL);
    /* A tenant with no stream: nothing, done. */
    CHECK(ch_replay_raw("tEmpty", &all, 0, &n, cur) == C360_OK && n == 0 && cur[0] == '\0');
}

/* Retention: 600 old entries (ids at ms 1..600, far past any retention),
 * of which one is pending (read, not acked) and everything from #500 on
 * was never read. The trim must keep the pending one and all after it. */
static void test_trim_keeps_pending(void)
{
    const char *key = "c360:{t:tT}:ev";
    for (int i = 1; i <= 600; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d-0", i);
        add(key, id, "wh", "c1");
    }
    freeReplyObject(ch_rconn_command("XGROUP CREATE %s w 0", key));
    /* Read 499 entries, ack all but #300: it stays pending (a worker is on
     * it, or its retry is scheduled). */
    redisReply *r = ch_rconn_command("XREADGROUP GROUP w w1 COUNT 499 STREAMS %s >", key);
    CHECK(r && r->type == REDIS_REPLY_ARRAY);
    if (r) freeReplyObject(r);
    for (int i = 1; i <= 499; i++)
        if (i != 300) freeReplyObject(ch_rconn_command("XACK %s w %d-0", key, i));

    uint64_t removed = 0;
    CHECK(ch_maint_trim_tenant("tT", 1700000000000LL, &removed) == C360_OK);
    /* Nothing below the pending #300 may remain... approximately (MINID ~
     * trims whole nodes of 10 entries here), and #300 and later must all
     * remain exactly. */
    r = ch_rconn_command("XRANGE %s - + COUNT 1", key);
    long long first = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        first = strtoll(r->element[0]->element[0]->str, NULL, 10);
    if (r) freeReplyObject(r);
    CHECK(first > 200 && first <= 300);
    CHECK(removed == (uint64_t)(first - 1));
    r = ch_rconn_command("XRANGE %s 300-0 300-0", key);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r) freeReplyObject(r);
    CHECK(xlen(key) == 600 - (long long)removed);
    printf("trim: 600 expired entries, #300 pending, #500.. unread: removed %" PRIu64
           ", oldest kept #%lld\n", removed, first);

    /* Once #300 is acknowledged, the bound is the first unread (#500). */
    freeReplyObject(ch_rconn_command("XACK %s w 300-0", key));
    CHECK(ch_maint_trim_tenant("tT", 1700000000000LL, &removed) == C360_OK);
    r = ch_rconn_command("XRANGE %s - + COUNT 1", key);
    first = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        first = strtoll(r->element[0]->element[0]->str, NULL, 10);
    if (r) freeReplyObject(r);
    CHECK(first > 400 && first <= 500);

    /* The retention cutoff itself: 100 entries, all read and acknowledged,
     * cutoff ms 50: entries 50.. stay, exactly. */
    const char *kv = "c360:{t:tV}:ev";
    for (int i = 1; i <= 100; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d-0", i);
        add(kv, id, "wh", "c1");
    }
    freeReplyObject(ch_rconn_command("XGROUP CREATE %s w 0", kv));
    freeReplyObject(ch_rconn_command("XREADGROUP GROUP w w1 COUNT 100 STREAMS %s >", kv));
    for (int i = 1; i <= 100; i++) freeReplyObject(ch_rconn_command("XACK %s w %d-0", kv, i));
    CHECK(ch_maint_trim_tenant("tV", 50, &removed) == C360_OK && removed >= 40 && removed <= 49);
    CHECK(xlen(kv) == 100 - (long long)removed);
    r = ch_rconn_command("XRANGE %s 50-0 + COUNT 1", kv);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
          strcmp(r->element[0]->element[0]->str, "50-0") == 0);
    if (r) freeReplyObject(r);

    /* A stream no group reads is never trimmed; a missing one is fine. */
    add("c360:{t:tU}:ev", "1-0", "wh", "c1");
    CHECK(ch_maint_trim_tenant("tU", 1700000000000LL, &removed) == C360_OK && removed == 0);
    CHECK(xlen("c360:{t:tU}:ev") == 1);
    CHECK(ch_maint_trim_tenant("tNone", 1700000000000LL, &removed) == C360_OK && removed == 0);
    CHECK(ch_maint_trim_tenant("t:x", 1, &removed) == C360_EINVAL);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    /* Small stream nodes so that the approximate trim (~) is visible with
     * hundreds of entries rather than tens of thousands. */
    const char *const extra[] = {"--stream-node-max-entries", "10", NULL};
    fx_redis_start_args(extra);
    fx_rconn_configure(2000);
    CHECK(ch_metrics_init(0) == 0);

    test_raw_replay();
    test_trim_keeps_pending();

    ch_rconn_thread_close();
    ch_rconn_shutdown();
    ch_metrics_shutdown();
    CHECK_DONE();
}
