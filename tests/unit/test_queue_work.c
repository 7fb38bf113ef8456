/* test_queue_work -- the worker side of the work streams (queue_work.h)
 * against a real redis-server, without any plugin: fetch (group creation,
 * shares, due retries), every outcome (records routed to two destinations,
 * a second OK that must not deliver twice, retry and hold, dead letters with
 * the original fields, drop, failed tick), taking over another consumer's
 * entries and one's own leftovers, consumer housekeeping, the poison
 * count, the delivery log and lease release, backoff bounds and consumer
 * names; the dedup step of webhook entries (first copy runs, later copies
 * are acknowledged and counted, a retry / takeover / replayed dead letter
 * of the same entry is not its own duplicate, replays and ticks bypass it,
 * several keys, more keys than EVALSHA takes) and its race: copies checked
 * at the same instant by several threads, exactly one runs. The state
 * writes a callback staged (ABI 1.6) go with an OK outcome, single or
 * batched, in order, as state.c writes them, and with nothing else. */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "check.h"
#include "queue_work.h"
#include "rconn.h"
#include "records.h"
#include "state.h"
#include "state_staged.h"
#include "pipeline_fixture.h"
#include "redis_fixture.h"

/* XADDs an event entry; returns its id in out. */
static void add_event(const char *tenant, const char *conn, const char *body, char out[CH_QW_ID_MAX])
{
    redisReply *r = pf_cmd("XADD c360:{t:%s}:ev * k wh c %s p wtp t 1700000000000 a 1 h {} b %s rid r1",
                        tenant, conn, body);
    snprintf(out, CH_QW_ID_MAX, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* The value of field `name` in entry `id` of a stream, or "(none)". */
static char *field_of(const char *stream, const char *id, const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "(none)");
    redisReply *r = pf_cmd("XRANGE %s %s %s", stream, id, id);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *f = r->element[0]->element[1];
        for (size_t i = 0; i + 1 < f->elements; i += 2)
            if (strcmp(f->element[i]->str, name) == 0) snprintf(buf, sizeof buf, "%s", f->element[i + 1]->str);
    }
    freeReplyObject(r);
    return buf;
}

/* The owner of a pending entry, or "(none)". */
static char *owner_of(const char *stream, const char *id)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "(none)");
    redisReply *r = pf_cmd("XPENDING %s w %s %s 1", stream, id, id);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        snprintf(buf, sizeof buf, "%s", r->element[0]->element[1]->str);
    freeReplyObject(r);
    return buf;
}

/* XREADGROUP calls Redis has run so far (INFO commandstats). */
static long long xreadgroup_calls(void)
{
    redisReply *r = pf_cmd("INFO commandstats");
    long long n = 0;
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmdstat_xreadgroup:calls=") : NULL;
    if (p) n = atoll(p + strlen("cmdstat_xreadgroup:calls="));
    freeReplyObject(r);
    return n;
}

static void test_fetch(void)
{
    ch_qbatch b;
    /* No stream: nothing, and no stream or group gets created. */
    CHECK(ch_qw_fetch("t1", "h-1-0", 4, &b) == C360_OK);
    CHECK(b.n == 0);
    ch_qbatch_free(&b);
    CHECK(pf_int("EXISTS c360:{t:t1}:ev") == 0);

    char ids[6][CH_QW_ID_MAX];
    for (int i = 0; i < 6; i++) add_event("t1", "src", "ok 1", ids[i]);
    /* The group is created at 0: entries stored before it are read. */
    CHECK(ch_qw_fetch("t1", "h-1-0", 4, &b) == C360_OK);
    CHECK(b.n == 4); /* the share */
    CHECK(b.items[0].kind == CH_Q_EV && b.items[0].valid);
    CHECK_STR(b.items[0].id, ids[0]);
    CHECK_STR(b.items[0].member, ids[0]);
    CHECK_STR(b.items[0].k, "wh");
    CHECK_STR(b.items[0].c, "src");
    CHECK_STR(b.items[0].b, "ok 1");
    CHECK_STR(b.items[0].h, "{}");
    CHECK(b.items[0].t == 1700000000000LL && b.items[0].a == 1 && b.items[0].att == 0);
    CHECK(ch_qitem_attempt(&b.items[0]) == 1);
    ch_qbatch_free(&b);
    CHECK_STR(owner_of("c360:{t:t1}:ev", ids[0]), "h-1-0");
    CHECK(ch_qw_fetch("t1", "h-1-1", 4, &b) == C360_OK);
    CHECK(b.n == 2);
    ch_qbatch_free(&b);
    /* Everything read (the group's lag is 0): an idle tenant's turn is the
     * script alone, no XREADGROUP; a new entry is read again. */
    long long x0 = xreadgroup_calls();
    CHECK(ch_qw_fetch("t1", "h-1-1", 4, &b) == C360_OK);
    CHECK(b.n == 0);
    ch_qbatch_free(&b);
    CHECK(xreadgroup_calls() == x0);
    char more[CH_QW_ID_MAX];
    add_event("t1", "src", "ok 1", more);
    CHECK(ch_qw_fetch("t1", "h-1-1", 4, &b) == C360_OK);
    CHECK(b.n == 1 && strcmp(b.items[0].id, more) == 0);
    ch_qbatch_free(&b);
    CHECK(xreadgroup_calls() > x0);
    CHECK(ch_qw_fetch("t:1", "h-1-1", 4, &b) == C360_EINVAL);
    CHECK(ch_qw_fetch("t1", "h-1-1", 0, &b) == C360_EINVAL);
}

static void test_outcome_ok(void)
{
    pf_do("DEL c360:{t:t2}:ev c360:{t:t2}:dl");
    pf_do("SADD c360:{t:t2}:routes:src dA dB");
    char id[CH_QW_ID_MAX];
    add_event("t2", "src", "ok 2", id);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t2", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 1);
    ch_records recs;
    ch_records_init(&recs);
    CHECK(ch_records_add(&recs, "lead", "r-1", "{\"a\":1}", 7) == C360_OK);
    CHECK(ch_records_add(&recs, "lead", "r-2", "{\"a\":\"x:y\"}", 11) == C360_OK);
    size_t len = 0;
    char *blob = ch_records_pack(&recs, &len);
    CHECK(blob && len > 0);
    ch_qoutcome o = {.mode = CH_QM_OK, .records = blob, .records_len = len, .nrec = 2};
    long long res = 0;
    CHECK(ch_qw_outcome("t2", &b.items[0], &o, &res) == C360_OK);
    CHECK(res == 4); /* 2 records x 2 destinations */
    CHECK(pf_int("XLEN c360:{t:t2}:dl") == 4);
    redisReply *p = pf_cmd("XPENDING c360:{t:t2}:ev w");
    CHECK(p->type == REDIS_REPLY_ARRAY && p->element[0]->integer == 0);
    freeReplyObject(p);
    /* The delivery entries: destination, source, record; the colon inside
     * the JSON survived the packing. */
    redisReply *r = pf_cmd("XRANGE c360:{t:t2}:dl - +");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    int seen_a = 0, seen_b = 0, seen_colon = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        const char *d = "", *s = "", *ri = "", *json = "", *et = "", *sp = "";
        for (size_t j = 0; j + 1 < f->elements; j += 2) {
            const char *n = f->element[j]->str, *v = f->element[j + 1]->str;
            if (!strcmp(n, "d")) d = v;
            if (!strcmp(n, "s")) s = v;
            if (!strcmp(n, "ri")) ri = v;
            if (!strcmp(n, "r")) json = v;
            if (!strcmp(n, "et")) et = v;
            if (!strcmp(n, "sp")) sp = v;
        }
        seen_a += !strcmp(d, "dA");
        seen_b += !strcmp(d, "dB");
        seen_colon += !strcmp(ri, "r-2") && !strcmp(json, "{\"a\":\"x:y\"}");
        CHECK_STR(s, "src");
        CHECK_STR(sp, "wtp");
        CHECK_STR(et, "1700000000000");
    }
    freeReplyObject(r);
    CHECK(seen_a == 2 && seen_b == 2 && seen_colon == 2);
    CHECK_STR(pf_str("HGET c360:{t:t2}:conn:src:stat events"), "1");
    CHECK_STR(pf_str("HGET c360:{t:t2}:conn:src:stat records"), "2");
    CHECK(strcmp(pf_str("HGET c360:{t:t2}:conn:src:stat last_ok_ms"), "(nil)") != 0);

    /* The same item finished again (another consumer raced us): nothing is
     * delivered twice. */
    CHECK(ch_qw_outcome("t2", &b.items[0], &o, &res) == C360_OK);
    CHECK(res == -1);
    CHECK(pf_int("XLEN c360:{t:t2}:dl") == 4);
    free(blob);
    ch_records_free(&recs);
    ch_qbatch_free(&b);

    /* No routes: the records are counted, nothing is enqueued. */
    add_event("t2", "lonely", "ok 1", id);
    /* The fetch also hands out the 4 deliveries enqueued above (events
     * first, then deliveries, each within the share). */
    CHECK(ch_qw_fetch("t2", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 5);
    CHECK(b.n == 5 && b.items[0].kind == CH_Q_EV && b.items[1].kind == CH_Q_DL);
    ch_records_init(&recs);
    ch_records_add(&recs, "lead", "r-9", "{}", 2);
    blob = ch_records_pack(&recs, &len);
    ch_qoutcome o2 = {.mode = CH_QM_OK, .records = blob, .records_len = len, .nrec = 1};
    CHECK(ch_qw_outcome("t2", &b.items[0], &o2, &res) == C360_OK);
    CHECK(res == 0);
    CHECK(pf_int("XLEN c360:{t:t2}:dl") == 4);
    CHECK_STR(pf_str("HGET c360:{t:t2}:conn:lonely:stat records"), "1");
    free(blob);
    ch_records_free(&recs);
    ch_qbatch_free(&b);
}

/* Several OK outcomes in one call (ch_qw_outcome_ok_events): per item
 * what ch_qw_outcome writes, the shared parts once. */
static void test_outcome_ok_batch(void)
{
    pf_do("SADD c360:{t:t9}:routes:src dA");
    char id[4][CH_QW_ID_MAX];
    add_event("t9", "src", "e1", id[0]);
    add_event("t9", "src", "e2", id[1]);
    add_event("t9", "other", "e3", id[2]);
    add_event("t9", "src", "e4", id[3]);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t9", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 4);
    if (b.n != 4) { ch_qbatch_free(&b); return; }
    /* Counters a retry or a crash left: forgotten with the outcome. */
    pf_do("HSET c360:{t:t9}:att %s 1", b.items[0].member);
    pf_do("HSET c360:{t:t9}:crash %s 1", b.items[1].member);
    /* Someone else finished e4 already: nothing of it is written. */
    pf_do("XACK c360:{t:t9}:ev w %s", id[3]);
    ch_records r1, r3;
    ch_records_init(&r1);
    ch_records_init(&r3);
    CHECK(ch_records_add(&r1, "lead", "r-1", "{\"a\":1}", 7) == C360_OK);
    CHECK(ch_records_add(&r1, "lead", "r-2", "{\"a\":\"x:y\"}", 11) == C360_OK);
    CHECK(ch_records_add(&r3, "lead", "r-3", "{}", 2) == C360_OK);
    size_t l1 = 0, l3 = 0;
    char *b1 = ch_records_pack(&r1, &l1), *b3 = ch_records_pack(&r3, &l3);
    ch_qok oks[4] = {
        {.it = &b.items[0], .records = b1, .records_len = l1, .nrec = 2, .latency_ms = 7},
        {.it = &b.items[1]},
        {.it = &b.items[2], .records = b3, .records_len = l3, .nrec = 1},
        {.it = &b.items[3], .records = b3, .records_len = l3, .nrec = 1},
    };
    long long res[4] = {9, 9, 9, 9};
    CHECK(ch_qw_outcome_ok_events("t9", oks, 4, res) == C360_OK);
    CHECK(res[0] == 2 && res[1] == 0 && res[2] == 0 && res[3] == -1);
    CHECK(pf_int("XLEN c360:{t:t9}:dl") == 2);
    redisReply *p = pf_cmd("XPENDING c360:{t:t9}:ev w");
    CHECK(p->type == REDIS_REPLY_ARRAY && p->element[0]->integer == 0);
    freeReplyObject(p);
    CHECK(pf_int("HLEN c360:{t:t9}:att") == 0);
    CHECK(pf_int("HLEN c360:{t:t9}:crash") == 0);
    CHECK_STR(pf_str("HGET c360:{t:t9}:conn:src:stat events"), "2");
    CHECK_STR(pf_str("HGET c360:{t:t9}:conn:src:stat records"), "2");
    CHECK(strcmp(pf_str("HGET c360:{t:t9}:conn:src:stat last_ok_ms"), "(nil)") != 0);
    CHECK_STR(pf_str("HGET c360:{t:t9}:conn:other:stat events"), "1");
    CHECK_STR(pf_str("HGET c360:{t:t9}:conn:other:stat records"), "1");
    /* The sync log: one "ok" entry per item written, as ch_qw_outcome. */
    CHECK(pf_int("XLEN c360:{t:t9}:synclog:src") == 2);
    CHECK(pf_int("XLEN c360:{t:t9}:synclog:other") == 1);
    redisReply *s = pf_cmd("XRANGE c360:{t:t9}:synclog:src - + COUNT 1");
    CHECK(s->type == REDIS_REPLY_ARRAY && s->elements == 1);
    if (s->type == REDIS_REPLY_ARRAY && s->elements == 1) {
        CHECK_STR(field_of("c360:{t:t9}:synclog:src", s->element[0]->element[0]->str, "entry"), id[0]);
        CHECK_STR(field_of("c360:{t:t9}:synclog:src", s->element[0]->element[0]->str, "status"), "ok");
        CHECK_STR(field_of("c360:{t:t9}:synclog:src", s->element[0]->element[0]->str, "kind"), "event");
        CHECK_STR(field_of("c360:{t:t9}:synclog:src", s->element[0]->element[0]->str, "records"), "2");
        CHECK_STR(field_of("c360:{t:t9}:synclog:src", s->element[0]->element[0]->str, "duration_ms"), "7");
        CHECK_STR(field_of("c360:{t:t9}:synclog:src", s->element[0]->element[0]->str, "request_id"), "r1");
        CHECK_STR(field_of("c360:{t:t9}:synclog:src", s->element[0]->element[0]->str, "attempt"), "1");
    }
    freeReplyObject(s);
    /* The delivery: as ch_qw_outcome writes it. */
    redisReply *d = pf_cmd("XRANGE c360:{t:t9}:dl - + COUNT 1");
    if (d->type == REDIS_REPLY_ARRAY && d->elements == 1) {
        const char *did = d->element[0]->element[0]->str;
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "d"), "dA");
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "s"), "src");
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "sp"), "wtp");
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "ri"), "r-1");
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "et"), "1700000000000");
    } else {
        CHECK(0);
    }
    freeReplyObject(d);
    /* The second record of the item, its json whole (the packed fields
     * are split in C: a ':' inside a value is data). */
    d = pf_cmd("XREVRANGE c360:{t:t9}:dl + - COUNT 1");
    if (d->type == REDIS_REPLY_ARRAY && d->elements == 1) {
        const char *did = d->element[0]->element[0]->str;
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "ri"), "r-2");
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "r"), "{\"a\":\"x:y\"}");
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "rt"), "lead");
        CHECK_STR(field_of("c360:{t:t9}:dl", did, "s"), "src");
    } else {
        CHECK(0);
    }
    freeReplyObject(d);
    /* A tick or a malformed item is refused whole. */
    ch_qitem bad = b.items[0];
    bad.c = "no/such";
    ch_qok badok = {.it = &bad};
    CHECK(ch_qw_outcome_ok_events("t9", &badok, 1, NULL) == C360_EINVAL);
    CHECK(ch_qw_outcome_ok_events("t9", oks, 0, NULL) == C360_EINVAL);
    free(b1);
    free(b3);
    ch_records_free(&r1);
    ch_records_free(&r3);
    ch_qbatch_free(&b);
}

/* A staged buffer's pack, for a ch_qoutcome / ch_qok. */
typedef struct spack {
    char *blob;
    size_t len, n;
    char **keys;
} spack;

static spack pack_of(ch_staged *s)
{
    spack p = {0};
    p.blob = ch_staged_pack(s, &p.len, &p.keys, &p.n);
    return p;
}

static long long pttl_of(const char *tenant, const char *conn, const char *key)
{
    return pf_int("PTTL c360:{t:%s}:state:%s:%s", tenant, conn, key);
}

/* The state writes staged by a callback (state_set_on_commit): applied with
 * an OK outcome in the order staged, versions from the connection's
 * counter, TTLs set or removed, deletes as state_delete; not when the item
 * was no longer pending, nor with any other outcome. */
/* Several items of one connection with staged writes in one batch: the
 * versions are those an INCR per set write would give, in item and
 * write order (the script moves the counter once per connection). A
 * packed blob that holds less than it claims is refused whole. */
static void test_outcome_ok_versions(void)
{
    uint64_t v0 = 0;
    CHECK(ch_state_set("t11", "vs", "b", "old", 3, 0, &v0) == C360_OK);
    char id[3][CH_QW_ID_MAX];
    add_event("t11", "vs", "x1", id[0]);
    add_event("t11", "vs", "x2", id[1]);
    add_event("t11", "vs", "x3", id[2]);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t11", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 3);
    if (b.n != 3) { ch_qbatch_free(&b); return; }
    ch_staged s;
    ch_staged_init(&s);
    CHECK(ch_staged_add(&s, "a", "A1", 2, 0, 1 << 20) == C360_OK);
    CHECK(ch_staged_add(&s, "b", NULL, 0, 0, 1 << 20) == C360_OK);
    CHECK(ch_staged_add(&s, "c", "12:34", 5, 90000, 1 << 20) == C360_OK);
    spack pa = pack_of(&s);
    ch_staged_reset(&s);
    CHECK(ch_staged_add(&s, "a", "A2", 2, 0, 1 << 20) == C360_OK);
    spack pb = pack_of(&s);
    ch_staged_reset(&s);
    /* The middle item is no longer pending: its write counts no version. */
    pf_do("XACK c360:{t:t11}:ev w %s", id[1]);
    ch_qok oks[3] = {
        {.it = &b.items[0], .state = pa.blob, .state_len = pa.len,
         .state_keys = (const char *const *)pa.keys, .nstate = pa.n},
        {.it = &b.items[1], .state = pb.blob, .state_len = pb.len,
         .state_keys = (const char *const *)pb.keys, .nstate = pb.n},
        {.it = &b.items[2], .state = pb.blob, .state_len = pb.len,
         .state_keys = (const char *const *)pb.keys, .nstate = pb.n},
    };
    long long rs[3] = {9, 9, 9};
    CHECK(ch_qw_outcome_ok_events("t11", oks, 3, rs) == C360_OK);
    CHECK(rs[0] == 0 && rs[1] == -1 && rs[2] == 0);
    uint8_t *v = NULL;
    size_t len = 0;
    uint64_t ver = 0;
    CHECK(ch_state_get("t11", "vs", "c", &v, &len, &ver) == C360_OK);
    CHECK(len == 5 && v && memcmp(v, "12:34", 5) == 0 && ver == v0 + 2);
    free(v);
    CHECK(pttl_of("t11", "vs", "c") > 60000);
    CHECK(ch_state_get("t11", "vs", "a", &v, &len, &ver) == C360_OK);
    CHECK(len == 2 && v && memcmp(v, "A2", 2) == 0 && ver == v0 + 3);
    free(v);
    CHECK(ch_state_get("t11", "vs", "b", &v, &len, NULL) == C360_ENOTFOUND);
    CHECK(atoll(pf_str("GET c360:{t:t11}:statever:vs")) == (long long)v0 + 3);
    /* A blob shorter than its count: nothing written. */
    add_event("t11", "vs", "x4", id[0]);
    ch_qbatch b2;
    CHECK(ch_qw_fetch("t11", "h-1-0", 8, &b2) == C360_OK);
    CHECK(b2.n == 1);
    if (b2.n == 1) {
        ch_qok bad = {.it = &b2.items[0], .state = pb.blob, .state_len = pb.len - 1,
                      .state_keys = (const char *const *)pb.keys, .nstate = pb.n};
        CHECK(ch_qw_outcome_ok_events("t11", &bad, 1, NULL) == C360_EINVAL);
        CHECK(pf_int("XLEN c360:{t:t11}:synclog:vs") == 2);
    }
    ch_qbatch_free(&b2);
    free(pa.blob); free(pa.keys);
    free(pb.blob); free(pb.keys);
    ch_staged_free(&s);
    ch_qbatch_free(&b);
}

static void test_outcome_state(void)
{
    /* Before: "b" with a TTL (a write without one removes it), "c" to be
     * deleted, the connection's counter somewhere. */
    uint64_t v0 = 0;
    CHECK(ch_state_set("t10", "src", "b", "old", 3, 600000, &v0) == C360_OK);
    CHECK(ch_state_set("t10", "src", "c", "old", 3, 0, NULL) == C360_OK);
    char id[3][CH_QW_ID_MAX];
    add_event("t10", "src", "s1", id[0]);
    add_event("t10", "src", "s2", id[1]);
    add_event("t10", "src", "s3", id[2]);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t10", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 3);
    if (b.n != 3) { ch_qbatch_free(&b); return; }

    ch_staged s;
    ch_staged_init(&s);
    CHECK(ch_staged_add(&s, "a", "1", 1, 60000, 1 << 20) == C360_OK);
    CHECK(ch_staged_add(&s, "b", "x:y\0z", 5, 0, 1 << 20) == C360_OK);
    CHECK(ch_staged_add(&s, "c", NULL, 0, 0, 1 << 20) == C360_OK);
    CHECK(ch_staged_add(&s, "a", "3", 1, 120000, 1 << 20) == C360_OK); /* wins */
    spack p = pack_of(&s);
    ch_staged_reset(&s);

    /* A retry carries none of it (only an OK applies staged writes). */
    ch_qoutcome r = {.mode = CH_QM_RETRY, .delay_ms = 60000, .state = p.blob, .state_len = p.len,
                     .state_keys = (const char *const *)p.keys, .nstate = p.n};
    CHECK(ch_qw_outcome("t10", &b.items[0], &r, NULL) == C360_OK);
    CHECK(pf_int("EXISTS c360:{t:t10}:state:src:a") == 0);
    CHECK_STR(pf_str("HGET c360:{t:t10}:state:src:c v"), "old");

    /* OK of a tick (the single-item script): applied, in order. */
    ch_qoutcome o = {.mode = CH_QM_OK, .tick = 1, .log_status = "ok", .state = p.blob,
                     .state_len = p.len, .state_keys = (const char *const *)p.keys, .nstate = p.n};
    long long res = 9;
    CHECK(ch_qw_outcome("t10", &b.items[1], &o, &res) == C360_OK);
    CHECK(res == 0);
    uint8_t *v = NULL;
    size_t len = 0;
    uint64_t ver = 0, verb = 0;
    CHECK(ch_state_get("t10", "src", "a", &v, &len, &ver) == C360_OK);
    CHECK(len == 1 && v && v[0] == '3');
    free(v);
    CHECK(ch_state_get("t10", "src", "b", &v, &len, &verb) == C360_OK);
    CHECK(len == 5 && v && memcmp(v, "x:y\0z", 5) == 0);
    free(v);
    /* Three writes after the two before (v0, v0 + 1): the counter's next
     * three; the later write of "a" holds the later version. */
    CHECK(verb == v0 + 3 && ver == v0 + 4);
    CHECK(pttl_of("t10", "src", "a") > 60000);
    CHECK(pttl_of("t10", "src", "b") == -1);
    CHECK(ch_state_get("t10", "src", "c", &v, &len, NULL) == C360_ENOTFOUND);
    CHECK(pf_int("XLEN c360:{t:t10}:synclog:src") == 1); /* the tick's "ok" */

    /* The same item again (someone else finished it): -1, nothing written. */
    ch_staged_add(&s, "d", "1", 1, 0, 1 << 20);
    spack p2 = pack_of(&s);
    ch_staged_reset(&s);
    ch_qoutcome o2 = {.mode = CH_QM_OK, .state = p2.blob, .state_len = p2.len,
                      .state_keys = (const char *const *)p2.keys, .nstate = p2.n};
    CHECK(ch_qw_outcome("t10", &b.items[1], &o2, &res) == C360_OK);
    CHECK(res == -1);
    CHECK(pf_int("EXISTS c360:{t:t10}:state:src:d") == 0);

    /* Batched (ch_qw_outcome_ok_events): per item, after its XACK. */
    pf_do("XACK c360:{t:t10}:ev w %s", id[0]); /* the retried one: done elsewhere */
    add_event("t10", "other", "s4", id[0]);
    ch_qbatch b2;
    CHECK(ch_qw_fetch("t10", "h-1-1", 8, &b2) == C360_OK);
    CHECK(b2.n == 1);
    ch_staged_add(&s, "e", "5", 1, 0, 1 << 20);
    ch_staged_add(&s, "f", NULL, 0, 0, 1 << 20);
    spack p3 = pack_of(&s);
    ch_staged_reset(&s);
    CHECK(ch_state_set("t10", "other", "f", "old", 3, 0, NULL) == C360_OK);
    if (b2.n == 1) {
        ch_qok oks[3] = {
            {.it = &b.items[2], .state = p2.blob, .state_len = p2.len,
             .state_keys = (const char *const *)p2.keys, .nstate = p2.n},
            {.it = &b.items[1], .state = p3.blob, .state_len = p3.len,   /* not pending */
             .state_keys = (const char *const *)p3.keys, .nstate = p3.n},
            {.it = &b2.items[0], .state = p3.blob, .state_len = p3.len,
             .state_keys = (const char *const *)p3.keys, .nstate = p3.n},
        };
        long long rs[3] = {9, 9, 9};
        CHECK(ch_qw_outcome_ok_events("t10", oks, 3, rs) == C360_OK);
        CHECK(rs[0] == 0 && rs[1] == -1 && rs[2] == 0);
        CHECK_STR(pf_str("HGET c360:{t:t10}:state:src:d v"), "1");
        CHECK(pf_int("EXISTS c360:{t:t10}:state:src:e") == 0);
        CHECK_STR(pf_str("HGET c360:{t:t10}:state:other:e v"), "5");
        CHECK(pf_int("EXISTS c360:{t:t10}:state:other:f") == 0);
        /* Each connection's own counter. */
        CHECK_STR(pf_str("GET c360:{t:t10}:statever:other"), "2");
        /* A staged list without its keys is refused whole. */
        ch_qok bad = {.it = &b.items[2], .state = p3.blob, .state_len = p3.len, .nstate = 2};
        CHECK(ch_qw_outcome_ok_events("t10", &bad, 1, NULL) == C360_EINVAL);
    }
    free(p.blob); free(p.keys);
    free(p2.blob); free(p2.keys);
    free(p3.blob); free(p3.keys);
    ch_staged_free(&s);
    ch_qbatch_free(&b2);
    ch_qbatch_free(&b);
}

static void test_retry_hold(void)
{
    char id[CH_QW_ID_MAX];
    add_event("t3", "src", "retry 5", id);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t3", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 1);
    ch_qoutcome o = {.mode = CH_QM_RETRY, .delay_ms = 300, .err = "retry later: slow down"};
    long long res = 0;
    CHECK(ch_qw_outcome("t3", &b.items[0], &o, &res) == C360_OK);
    CHECK(res == 1);
    CHECK_STR(owner_of("c360:{t:t3}:ev", id), "retry");
    CHECK_STR(pf_str("HGET c360:{t:t3}:att %s", id), "1");
    CHECK_STR(pf_str("HGET c360:{t:t3}:conn:src:stat retries"), "1");
    CHECK_STR(pf_str("HGET c360:{t:t3}:conn:src:stat last_err"), "retry later: slow down");
    ch_qbatch_free(&b);
    /* Not due yet. */
    CHECK(ch_qw_fetch("t3", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 0);
    ch_qbatch_free(&b);
    fx_sleep_ms(350);
    CHECK(ch_qw_fetch("t3", "h-1-7", 8, &b) == C360_OK);
    CHECK(b.n == 1);
    CHECK(b.n == 1 && b.items[0].att == 1 && ch_qitem_attempt(&b.items[0]) == 2);
    CHECK(pf_int("ZCARD c360:{t:t3}:retry") == 0);
    CHECK_STR(owner_of("c360:{t:t3}:ev", id), "h-1-7");

    /* Hold: back to `retry`, no attempt counted. */
    ch_qoutcome h = {.mode = CH_QM_HOLD, .delay_ms = 50};
    CHECK(ch_qw_outcome("t3", &b.items[0], &h, &res) == C360_OK && res == 1);
    CHECK_STR(pf_str("HGET c360:{t:t3}:att %s", id), "1");
    CHECK_STR(pf_str("HGET c360:{t:t3}:conn:src:stat retries"), "1");
    ch_qbatch_free(&b);
    fx_sleep_ms(80);
    CHECK(ch_qw_fetch("t3", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 1 && ch_qitem_attempt(&b.items[0]) == 2);
    /* Acknowledged meanwhile by someone else: a retry is refused (0) and
     * the attempt counter forgotten. */
    pf_do("XACK c360:{t:t3}:ev w %s", id);
    CHECK(ch_qw_outcome("t3", &b.items[0], &o, &res) == C360_OK && res == 0);
    CHECK(pf_int("HEXISTS c360:{t:t3}:att %s", id) == 0);
    CHECK(pf_int("ZCARD c360:{t:t3}:retry") == 0);
    ch_qbatch_free(&b);

    /* A due retry whose entry was trimmed away: dropped from the set. */
    pf_do("ZADD c360:{t:t3}:retry 1 1-1");
    pf_do("HSET c360:{t:t3}:att 1-1 3");
    CHECK(ch_qw_fetch("t3", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 0);
    CHECK(pf_int("ZCARD c360:{t:t3}:retry") == 0);
    CHECK(pf_int("HEXISTS c360:{t:t3}:att 1-1") == 0);
    ch_qbatch_free(&b);
}

/* A due retry counts in its kind's share: the reads of new entries that
 * follow the retries' script take only what is left, and the retry
 * comes first. */
static void test_fetch_shares(void)
{
    char id[6][CH_QW_ID_MAX];
    for (int i = 0; i < 3; i++) add_event("t12", "src", "s", id[i]);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t12", "h-1-0", 3, &b) == C360_OK);
    CHECK(b.n == 3);
    if (b.n != 3) { ch_qbatch_free(&b); return; }
    ch_qoutcome o = {.mode = CH_QM_RETRY, .delay_ms = 0, .err = "again"};
    CHECK(ch_qw_outcome("t12", &b.items[0], &o, NULL) == C360_OK);
    ch_qbatch_free(&b);
    for (int i = 3; i < 6; i++) add_event("t12", "src", "s", id[i]);
    CHECK(ch_qw_fetch2("t12", "h-1-1", 2, 5, &b) == C360_OK);
    CHECK(b.n == 2);
    if (b.n == 2) {
        CHECK_STR(b.items[0].id, id[0]);
        CHECK(b.items[0].att == 1);
        CHECK_STR(b.items[1].id, id[3]);
        CHECK(b.items[1].att == 0 && b.items[1].valid);
    }
    ch_qbatch_free(&b);
    CHECK(ch_qw_fetch("t12", "h-1-1", 8, &b) == C360_OK);
    CHECK(b.n == 2);
    ch_qbatch_free(&b);
}

static void test_dlq_drop_fail(void)
{
    char id[CH_QW_ID_MAX];
    add_event("t4", "src", "error", id);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t4", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 1);
    pf_do("HSET c360:{t:t4}:crash %s 1", id);
    ch_qoutcome o = {.mode = CH_QM_DLQ, .why = "error", .err = "permanent error: boom"};
    CHECK(ch_qw_outcome("t4", &b.items[0], &o, NULL) == C360_OK);
    CHECK(pf_int("XLEN c360:{t:t4}:dlq") == 1);
    redisReply *r = pf_cmd("XRANGE c360:{t:t4}:dlq - +");
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r->elements == 1) {
        char key[64];
        snprintf(key, sizeof key, "%s", r->element[0]->element[0]->str);
        CHECK_STR(field_of("c360:{t:t4}:dlq", key, "kind"), "ev");
        CHECK_STR(field_of("c360:{t:t4}:dlq", key, "why"), "error");
        CHECK_STR(field_of("c360:{t:t4}:dlq", key, "err"), "permanent error: boom");
        CHECK_STR(field_of("c360:{t:t4}:dlq", key, "orig"), id);
        CHECK_STR(field_of("c360:{t:t4}:dlq", key, "b"), "error");
        CHECK_STR(field_of("c360:{t:t4}:dlq", key, "t"), "1700000000000");
        CHECK_STR(field_of("c360:{t:t4}:dlq", key, "c"), "src");
    }
    freeReplyObject(r);
    CHECK_STR(owner_of("c360:{t:t4}:ev", id), "(none)");
    CHECK(pf_int("HEXISTS c360:{t:t4}:crash %s", id) == 0);
    CHECK_STR(pf_str("HGET c360:{t:t4}:conn:src:stat dlq"), "1");
    ch_qbatch_free(&b);

    /* Drop: acknowledged; counted only when asked (the connection exists). */
    add_event("t4", "src", "x", id);
    CHECK(ch_qw_fetch("t4", "h-1-0", 8, &b) == C360_OK);
    ch_qoutcome d = {.mode = CH_QM_DROP, .why = "disabled"};
    CHECK(b.n == 1 && ch_qw_outcome("t4", &b.items[0], &d, NULL) == C360_OK);
    CHECK_STR(owner_of("c360:{t:t4}:ev", id), "(none)");
    CHECK_STR(pf_str("HGET c360:{t:t4}:conn:src:stat dropped"), "1");
    ch_qbatch_free(&b);

    /* A failed tick: acknowledged, its error kept. */
    add_event("t4", "src", "tick", id);
    CHECK(ch_qw_fetch("t4", "h-1-0", 8, &b) == C360_OK);
    ch_qoutcome f = {.mode = CH_QM_FAIL, .err = "provider down", .tick = 1};
    CHECK(b.n == 1 && ch_qw_outcome("t4", &b.items[0], &f, NULL) == C360_OK);
    CHECK_STR(owner_of("c360:{t:t4}:ev", id), "(none)");
    CHECK_STR(pf_str("HGET c360:{t:t4}:conn:src:stat last_err"), "provider down");
    CHECK(pf_int("XLEN c360:{t:t4}:dlq") == 1);
    ch_qbatch_free(&b);

    /* A malformed item (no connection) still reaches the dead letters. */
    pf_do("XADD c360:{t:t4}:ev * k wh b junk");
    CHECK(ch_qw_fetch("t4", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 1);
    ch_qoutcome m = {.mode = CH_QM_DLQ, .why = "error", .err = "malformed"};
    CHECK(b.n == 1 && ch_qw_outcome("t4", &b.items[0], &m, NULL) == C360_OK);
    CHECK(pf_int("XLEN c360:{t:t4}:dlq") == 2);
    ch_qbatch_free(&b);
}

static void test_deliveries(void)
{
    pf_do("XADD c360:{t:t5}:dl * d dst s src sp wtp rt lead ri rec-1 r {} a 1 t 5 et 4");
    pf_do("ZADD c360:{t:t5}:lease:dst 99999999999999 tok-1");
    ch_qbatch b;
    CHECK(ch_qw_fetch("t5", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 1);
    CHECK(b.n == 1 && b.items[0].kind == CH_Q_DL);
    if (b.n != 1) return;
    ch_qitem *it = &b.items[0];
    CHECK_STR(it->d, "dst");
    CHECK_STR(it->ri, "rec-1");
    CHECK(it->et == 4 && it->t == 5);
    CHECK(strncmp(it->member, "dl:", 3) == 0);
    char longerr[600];
    memset(longerr, 'e', sizeof longerr - 1);
    longerr[sizeof longerr - 1] = '\0';
    ch_qoutcome o = {.mode = CH_QM_RETRY, .delay_ms = 10, .err = longerr, .status = C360_RETRY,
                     .latency_ms = 12, .lease_token = "tok-1"};
    CHECK(ch_qw_outcome("t5", it, &o, NULL) == C360_OK);
    CHECK(pf_int("ZCARD c360:{t:t5}:lease:dst") == 0);
    CHECK(pf_int("XLEN c360:{t:t5}:dlog:dst") == 1);
    redisReply *r = pf_cmd("XRANGE c360:{t:t5}:dlog:dst - +");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        char key[64];
        snprintf(key, sizeof key, "%s", r->element[0]->element[0]->str);
        CHECK_STR(field_of("c360:{t:t5}:dlog:dst", key, "ri"), "rec-1");
        CHECK_STR(field_of("c360:{t:t5}:dlog:dst", key, "st"), "1");
        CHECK_STR(field_of("c360:{t:t5}:dlog:dst", key, "ms"), "12");
        CHECK(strlen(field_of("c360:{t:t5}:dlog:dst", key, "err")) == CH_QW_DLOG_ERR_MAX);
    }
    freeReplyObject(r);
    CHECK(strlen(pf_str("HGET c360:{t:t5}:conn:dst:stat last_err")) == CH_QW_ERR_MAX);
    CHECK(strcmp(pf_str("ZSCORE c360:{t:t5}:retry %s", it->member), "(nil)") != 0);
    ch_qbatch_free(&b);
    fx_sleep_ms(30);
    CHECK(ch_qw_fetch("t5", "h-1-0", 8, &b) == C360_OK);
    CHECK(b.n == 1 && b.items[0].kind == CH_Q_DL && b.items[0].att == 1);
    ch_qoutcome ok = {.mode = CH_QM_OK, .status = 0, .latency_ms = 3};
    CHECK(b.n == 1 && ch_qw_outcome("t5", &b.items[0], &ok, NULL) == C360_OK);
    CHECK_STR(pf_str("HGET c360:{t:t5}:conn:dst:stat deliveries"), "1");
    CHECK(pf_int("XLEN c360:{t:t5}:dlog:dst") == 2);
    CHECK(pf_int("HLEN c360:{t:t5}:att") == 0);
    ch_qbatch_free(&b);

    /* The delivery log stays bounded. */
    for (int i = 0; i < 1300; i++) pf_do("XADD c360:{t:t5}:dl * d dst s src rt lead ri rec-%d r {} a 1 t 5", i);
    int n = 0;
    for (;;) {
        CHECK(ch_qw_fetch("t5", "h-1-0", 200, &b) == C360_OK);
        if (b.n == 0) { ch_qbatch_free(&b); break; }
        for (size_t i = 0; i < b.n; i++, n++) ch_qw_outcome("t5", &b.items[i], &ok, NULL);
        ch_qbatch_free(&b);
    }
    CHECK(n == 1300);
    long long dlog = pf_int("XLEN c360:{t:t5}:dlog:dst");
    CHECK(dlog >= 1000 && dlog < 1300);
}

static void test_claim(void)
{
    char id[4][CH_QW_ID_MAX];
    for (int i = 0; i < 4; i++) add_event("t6", "src", "ok 0", id[i]);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t6", "hostA-11-0", 3, &b) == C360_OK);
    CHECK(b.n == 3);
    ch_qbatch_free(&b);
    CHECK(ch_qw_fetch("t6", "hostA-12-0", 3, &b) == C360_OK);
    CHECK(b.n == 1);
    ch_qbatch_free(&b);

    ch_qconsumer cs[8];
    size_t n = 0;
    CHECK(ch_qw_consumers("t6", CH_Q_EV, cs, 8, &n) == C360_OK);
    CHECK(n == 2);
    CHECK(ch_qw_consumers("t6", CH_Q_DL, cs, 8, &n) == C360_OK && n == 0); /* no stream */

    /* Taking over a dead consumer: everything, then the consumer is gone. */
    CHECK(ch_qw_claim("t6", CH_Q_EV, "hostA-11-0", "hostB-5-1", 0, 2, &b) == C360_OK);
    CHECK(b.n == 2);
    ch_qbatch_free(&b);
    CHECK(ch_qw_consumers("t6", CH_Q_EV, cs, 8, &n) == C360_OK && n == 3);
    CHECK(ch_qw_claim("t6", CH_Q_EV, "hostA-11-0", "hostB-5-1", 0, 2, &b) == C360_OK);
    CHECK(b.n == 1);
    ch_qbatch_free(&b);
    CHECK(ch_qw_consumers("t6", CH_Q_EV, cs, 8, &n) == C360_OK);
    CHECK(n == 2); /* hostA-11-0 deleted once empty */
    CHECK_STR(owner_of("c360:{t:t6}:ev", id[0]), "hostB-5-1");

    /* Idle threshold: entries idle less than that stay where they are. */
    CHECK(ch_qw_claim("t6", CH_Q_EV, "hostA-12-0", "hostB-5-1", 60000, 10, &b) == C360_OK);
    CHECK(b.n == 0);
    ch_qbatch_free(&b);
    CHECK_STR(owner_of("c360:{t:t6}:ev", id[3]), "hostA-12-0");

    /* One's own leftovers come back in full. */
    CHECK(ch_qw_claim("t6", CH_Q_EV, "hostB-5-1", "hostB-5-1", 0, 10, &b) == C360_OK);
    CHECK(b.n == 3);
    CHECK(b.n == 3 && strcmp(b.items[0].b, "ok 0") == 0);
    ch_qbatch_free(&b);

    /* A consumer with pending entries is never forgotten. */
    CHECK(ch_qw_forget_consumer("t6", CH_Q_EV, "hostA-12-0") == C360_OK);
    CHECK(ch_qw_consumers("t6", CH_Q_EV, cs, 8, &n) == C360_OK && n == 2);
    pf_do("XACK c360:{t:t6}:ev w %s", id[3]);
    CHECK(ch_qw_forget_consumer("t6", CH_Q_EV, "hostA-12-0") == C360_OK);
    CHECK(ch_qw_consumers("t6", CH_Q_EV, cs, 8, &n) == C360_OK && n == 1);
    CHECK(n == 1 && strcmp(cs[0].name, "hostB-5-1") == 0 && cs[0].pending == 3);
}

static void test_poison(void)
{
    char id[CH_QW_ID_MAX];
    add_event("t7", "src", "crash", id);
    ch_qbatch b;
    CHECK(ch_qw_fetch("t7", "h-99-0", 8, &b) == C360_OK && b.n == 1);
    ch_qbatch_free(&b);
    long long n = -1;
    int p = -1;
    CHECK(ch_qw_poison("t7", CH_Q_EV, id, "src", "worker crashed (signal 11)", 2, &n, &p) == C360_OK);
    CHECK(n == 1 && p == 0);
    CHECK(pf_int("XLEN c360:{t:t7}:dlq") == 0);
    CHECK(ch_qw_poison("t7", CH_Q_EV, id, "src", "worker crashed (signal 11)", 2, &n, &p) == C360_OK);
    CHECK(n == 2 && p == 1);
    CHECK(pf_int("XLEN c360:{t:t7}:dlq") == 1);
    redisReply *r = pf_cmd("XRANGE c360:{t:t7}:dlq - +");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        char key[64];
        snprintf(key, sizeof key, "%s", r->element[0]->element[0]->str);
        CHECK_STR(field_of("c360:{t:t7}:dlq", key, "why"), "poison");
        CHECK_STR(field_of("c360:{t:t7}:dlq", key, "err"), "worker crashed (signal 11)");
    }
    freeReplyObject(r);
    CHECK_STR(owner_of("c360:{t:t7}:ev", id), "(none)");
    CHECK(pf_int("HEXISTS c360:{t:t7}:crash %s", id) == 0);
    CHECK_STR(pf_str("HGET c360:{t:t7}:conn:src:stat dlq"), "1");
    /* No longer pending: nothing counted. */
    CHECK(ch_qw_poison("t7", CH_Q_EV, id, "src", "x", 2, &n, &p) == C360_OK);
    CHECK(n == 0 && p == 0);
    CHECK(pf_int("XLEN c360:{t:t7}:dlq") == 1);
    CHECK(ch_qw_poison("t7", CH_Q_EV, "", "src", "x", 2, &n, &p) == C360_EINVAL);
}

/* XADDs a webhook entry of conn with dedup keys dk ("" = no dk field),
 * window dw ("" = no dw field) and extra fields (e.g. "orig <id>"). */
static void add_wh(const char *tenant, const char *kind, const char *conn, const char *dk,
                   const char *dw, const char *orig, char out[CH_QW_ID_MAX])
{
    const char *argv[32];
    int n = 0;
    char key[128];
    snprintf(key, sizeof key, "c360:{t:%s}:ev", tenant);
    const char *fixed[] = {"XADD", key, "*", "k", kind, "c", conn, "p", "wtp", "t", "1", "a", "1",
                           "h", "{}", "b", "x", "rid", "r1"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) argv[n++] = fixed[i];
    if (dk[0]) { argv[n++] = "dk"; argv[n++] = dk; }
    if (dw[0]) { argv[n++] = "dw"; argv[n++] = dw; }
    if (orig[0]) { argv[n++] = "orig"; argv[n++] = orig; }
    redisReply *r = redisCommandArgv(pf_raw, n, argv, NULL);
    snprintf(out, CH_QW_ID_MAX, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r) freeReplyObject(r);
}

/* Fetches exactly one item of the tenant into *b (checked). */
static ch_qitem *fetch_one(const char *tenant, ch_qbatch *b)
{
    CHECK(ch_qw_fetch(tenant, "h-1-0", 1, b) == C360_OK);
    CHECK(b->n == 1);
    return b->n == 1 ? &b->items[0] : NULL;
}

static ch_qdedup dedup_of(const char *tenant, const ch_qitem *it)
{
    ch_qdedup d = (ch_qdedup)-1;
    CHECK(it && ch_qw_dedup(tenant, it, &d) == C360_OK);
    return d;
}

static void test_dedup(void)
{
    char a[CH_QW_ID_MAX], idb[CH_QW_ID_MAX], id[CH_QW_ID_MAX];
    ch_qbatch ba, bb, b;
    add_wh("d1", "wh", "src", "lead-1", "100", "", a);
    add_wh("d1", "wh", "src", "lead-1", "100", "", idb);
    ch_qitem *ia = fetch_one("d1", &ba), *ib = fetch_one("d1", &bb);
    CHECK(ia && strcmp(ia->dk, "lead-1") == 0 && ia->dw == 100 && strcmp(ia->orig, "") == 0);

    /* The first copy runs and marks the key with its id, for the window. */
    CHECK(dedup_of("d1", ia) == CH_QD_RUN);
    CHECK_STR(pf_str("GET c360:{t:d1}:dd:src:lead-1"), a);
    long long ttl = pf_int("TTL c360:{t:d1}:dd:src:lead-1");
    CHECK(ttl > 90 && ttl <= 100);
    /* Checked again (a retry, a takeover): its own mark, it runs. */
    CHECK(dedup_of("d1", ia) == CH_QD_RUN);
    CHECK_STR(owner_of("c360:{t:d1}:ev", a), "h-1-0");

    /* The second copy is a duplicate: acknowledged, forgotten by the
     * retry set and the counters, counted. */
    pf_do("HSET c360:{t:d1}:att %s 2", idb);
    pf_do("HSET c360:{t:d1}:crash %s 1", idb);
    pf_do("ZADD c360:{t:d1}:retry 99999999999999 %s", idb);
    CHECK(dedup_of("d1", ib) == CH_QD_DUP);
    CHECK_STR(owner_of("c360:{t:d1}:ev", idb), "(none)");
    CHECK(pf_int("HEXISTS c360:{t:d1}:att %s", idb) == 0);
    CHECK(pf_int("HEXISTS c360:{t:d1}:crash %s", idb) == 0);
    CHECK(pf_int("ZCARD c360:{t:d1}:retry") == 0);
    CHECK_STR(pf_str("HGET c360:{t:d1}:conn:src:stat dup"), "1");
    CHECK_STR(pf_str("GET c360:{t:d1}:dd:src:lead-1"), a);
    /* Found again once acknowledged (by another consumer, say): nothing
     * done, nothing counted twice. */
    CHECK(dedup_of("d1", ib) == CH_QD_GONE);
    CHECK_STR(pf_str("HGET c360:{t:d1}:conn:src:stat dup"), "1");
    ch_qbatch_free(&bb);
    /* The first copy, done, still holds the key. */
    pf_do("XACK c360:{t:d1}:ev w %s", a);
    ch_qbatch_free(&ba);

    /* A dead letter of the first copy, replayed: a new entry naming its
     * first id (orig) -- the same event, so it runs. */
    add_wh("d1", "wh", "src", "lead-1", "100", a, id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    pf_do("XACK c360:{t:d1}:ev w %s", id);
    /* Replays (asked for) and ticks bypass dedup: no Redis change. */
    add_wh("d1", "replay", "src", "lead-1", "100", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    CHECK_STR(owner_of("c360:{t:d1}:ev", id), "h-1-0");
    ch_qbatch_free(&b);
    pf_do("XACK c360:{t:d1}:ev w %s", id);
    add_wh("d1", "tick", "src", "lead-1", "100", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    pf_do("XACK c360:{t:d1}:ev w %s", id);
    /* No keys, or nothing usable in dk: at least once, no key written. */
    add_wh("d1", "wh", "src", "", "", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    pf_do("XACK c360:{t:d1}:ev w %s", id);
    add_wh("d1", "wh", "src", "   ", "100", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    pf_do("XACK c360:{t:d1}:ev w %s", id);
    CHECK_STR(pf_str("HGET c360:{t:d1}:conn:src:stat dup"), "1");
    /* No window in the entry: the default (7 days). */
    add_wh("d1", "wh", "src", "lead-2", "", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ttl = pf_int("TTL c360:{t:d1}:dd:src:lead-2");
    CHECK(ttl > CH_QW_DEDUP_WINDOW_S - 10 && ttl <= CH_QW_DEDUP_WINDOW_S);
    ch_qbatch_free(&b);
    pf_do("XACK c360:{t:d1}:ev w %s", id);
    /* Keys are per connection. */
    add_wh("d1", "wh", "other", "lead-1", "100", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    pf_do("XACK c360:{t:d1}:ev w %s", id);

    /* Several keys (an app-level event reached the connection through
     * several routing keys): a duplicate only when every key is taken by
     * another entry, and every key is marked. */
    char e1[CH_QW_ID_MAX], e2[CH_QW_ID_MAX];
    add_wh("d1", "wh", "src", "m-1 m-2", "100", "", e1);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    CHECK_STR(pf_str("GET c360:{t:d1}:dd:src:m-1"), e1);
    CHECK_STR(pf_str("GET c360:{t:d1}:dd:src:m-2"), e1);
    add_wh("d1", "wh", "src", "m-2 m-3", "100", "", e2);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN); /* m-3 is new */
    ch_qbatch_free(&b);
    CHECK_STR(pf_str("GET c360:{t:d1}:dd:src:m-2"), e1);
    CHECK_STR(pf_str("GET c360:{t:d1}:dd:src:m-3"), e2);
    add_wh("d1", "wh", "src", "m-3 m-1", "100", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_DUP);
    ch_qbatch_free(&b);
    CHECK_STR(pf_str("HGET c360:{t:d1}:conn:src:stat dup"), "2");

    /* More keys than EVALSHA's argument list takes here: the same by
     * EVAL. */
    char many[64 * 8] = "", more[64 * 8 + 16];
    for (int i = 0; i < 30; i++) {
        size_t l = strlen(many);
        snprintf(many + l, sizeof many - l, "%sz-%d", i ? " " : "", i);
    }
    add_wh("d1", "wh", "src", many, "100", "", e1);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    CHECK_STR(pf_str("GET c360:{t:d1}:dd:src:z-29"), e1);
    add_wh("d1", "wh", "src", many, "100", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_DUP);
    ch_qbatch_free(&b);
    snprintf(more, sizeof more, "%s z-new", many);
    add_wh("d1", "wh", "src", more, "100", "", id);
    CHECK(dedup_of("d1", fetch_one("d1", &b)) == CH_QD_RUN);
    ch_qbatch_free(&b);
    CHECK_STR(pf_str("HGET c360:{t:d1}:conn:src:stat dup"), "3");

    ch_qdedup d;
    ch_qitem none;
    memset(&none, 0, sizeof none);
    CHECK(ch_qw_dedup("t:1", &none, &d) == C360_EINVAL);
}

/* The dedup steps of a turn at once (ch_qw_dedup_many): each item decided
 * as ch_qw_dedup decides it alone, the single-key SETs pipelined. */
static void test_dedup_many(void)
{
    enum { N = 40 };
    char id[N][CH_QW_ID_MAX];
    /* 0..29: one key each, all new but 10 and 11 share one (11 is a copy
     * of 10); 30: two keys; 31: a replay (no step); 32: no keys; 33..39
     * new single keys. A key already held by entry 0 before (a retry of
     * 0 is item 0 itself, seen again below). */
    for (int i = 0; i < N; i++) {
        char dk[32];
        if (i == 11) snprintf(dk, sizeof dk, "m-10");
        else if (i == 30) snprintf(dk, sizeof dk, "m-30 m-30b");
        else if (i == 32) dk[0] = '\0';
        else snprintf(dk, sizeof dk, "m-%d", i);
        add_wh("dm", i == 31 ? "replay" : "wh", "src", dk, "100", "", id[i]);
    }
    ch_qbatch b;
    CHECK(ch_qw_fetch("dm", "h-1-0", N, &b) == C360_OK);
    CHECK(b.n == N);
    if (b.n != N) { ch_qbatch_free(&b); return; }
    /* N + 1 slots: a NULL is skipped. */
    const ch_qitem *its[N + 1];
    for (int i = 0; i < N; i++) its[i] = &b.items[i];
    its[N] = NULL;
    ch_qdedup d[N + 1];
    int32_t st[N + 1];
    ch_qw_dedup_many("dm", its, N + 1, d, st);
    for (int i = 0; i < N; i++) {
        CHECK(st[i] == C360_OK);
        CHECK(d[i] == (i == 11 ? CH_QD_DUP : CH_QD_RUN));
    }
    CHECK(st[N] == C360_EINVAL && d[N] == CH_QD_RUN);
    CHECK_STR(pf_str("GET c360:{t:dm}:dd:src:m-10"), id[10]);
    CHECK_STR(pf_str("GET c360:{t:dm}:dd:src:m-30b"), id[30]);
    CHECK_STR(pf_str("GET c360:{t:dm}:dd:src:m-39"), id[39]);
    CHECK(pf_int("TTL c360:{t:dm}:dd:src:m-39") > 90);
    CHECK_STR(owner_of("c360:{t:dm}:ev", id[11]), "(none)");
    CHECK_STR(owner_of("c360:{t:dm}:ev", id[10]), "h-1-0");
    CHECK_STR(pf_str("HGET c360:{t:dm}:conn:src:stat dup"), "1");
    /* Again (retries, a takeover): every one finds its own mark and runs;
     * the duplicate, acknowledged, is no longer pending. */
    ch_qw_dedup_many("dm", its, N, d, st);
    for (int i = 0; i < N; i++) {
        CHECK(st[i] == C360_OK);
        CHECK(d[i] == (i == 11 ? CH_QD_GONE : CH_QD_RUN));
    }
    CHECK_STR(pf_str("HGET c360:{t:dm}:conn:src:stat dup"), "1");
    ch_qbatch_free(&b);
    ch_qw_dedup_many("no tenant", its, 1, d, st);
    CHECK(st[0] == C360_EINVAL);
}

/* --- the race: copies of one event checked at the same instant --------------- */

enum { RACERS = 8 };

typedef struct racer {
    pthread_barrier_t *go;
    const char *tenant;
    const ch_qitem *it;
    ch_qdedup verdict;
    int32_t st;
} racer;

static void *race_one(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    r->st = ch_qw_dedup(r->tenant, r->it, &r->verdict);
    ch_rconn_thread_close();
    return NULL;
}

static void test_dedup_race(void)
{
    int bad = 0;
    for (int round = 0; round < 40; round++) {
        /* Odd rounds: two keys, the script decides; even: one key, the
         * plain SET. */
        char tenant[32], dk[64], ids[RACERS][CH_QW_ID_MAX];
        snprintf(tenant, sizeof tenant, "race%d", round);
        snprintf(dk, sizeof dk, round % 2 ? "r-%d r2-%d" : "r-%d", round, round);
        for (int i = 0; i < RACERS; i++) add_wh(tenant, "wh", "src", dk, "100", "", ids[i]);
        ch_qbatch b;
        CHECK(ch_qw_fetch(tenant, "h-1-0", RACERS, &b) == C360_OK);
        CHECK(b.n == RACERS);
        if (b.n != RACERS) { ch_qbatch_free(&b); return; }
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS);
        racer rs[RACERS];
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) {
            rs[i] = (racer){.go = &go, .tenant = tenant, .it = &b.items[i], .st = -1};
            pthread_create(&th[i], NULL, race_one, &rs[i]);
        }
        int run = 0, dup = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(th[i], NULL);
            CHECK(rs[i].st == C360_OK);
            run += rs[i].verdict == CH_QD_RUN;
            dup += rs[i].verdict == CH_QD_DUP;
        }
        pthread_barrier_destroy(&go);
        if (run != 1 || dup != RACERS - 1) bad++;
        char want[16];
        snprintf(want, sizeof want, "%d", RACERS - 1);
        CHECK_STR(pf_str("HGET c360:{t:%s}:conn:src:stat dup", tenant), want);
        /* Exactly the winner is still pending, and it owns the key. */
        redisReply *p = pf_cmd("XPENDING c360:{t:%s}:ev w", tenant);
        CHECK(p->type == REDIS_REPLY_ARRAY && p->element[0]->integer == 1);
        freeReplyObject(p);
        for (int i = 0; i < RACERS; i++)
            if (rs[i].verdict == CH_QD_RUN) {
                char key[96];
                snprintf(key, sizeof key, "c360:{t:%s}:dd:src:r-%d", tenant, round);
                CHECK_STR(pf_str("GET %s", key), b.items[i].id);
            }
        ch_qbatch_free(&b);
    }
    CHECK(bad == 0);
}

static void test_helpers(void)
{
    for (int i = 0; i < 200; i++) {
        int64_t d = ch_qw_backoff_ms(1, 0, 1000, 600000);
        CHECK(d == 1000);
        d = ch_qw_backoff_ms(4, 0, 1000, 600000);
        CHECK(d >= 1000 && d <= 8000);
        d = ch_qw_backoff_ms(40, 0, 1000, 600000);
        CHECK(d >= 1000 && d <= 600000);
        d = ch_qw_backoff_ms(2, 5000, 1000, 600000);
        CHECK(d >= 5000 && d <= 5000); /* the plugin's wish wins when larger */
        d = ch_qw_backoff_ms(2, 3600000, 1000, 600000);
        CHECK(d == 3600000);       /* and is not capped */
    }
    int spread = 0;
    int64_t first = ch_qw_backoff_ms(10, 0, 1000, 600000);
    for (int i = 0; i < 20; i++) spread += ch_qw_backoff_ms(10, 0, 1000, 600000) != first;
    CHECK(spread > 0); /* jitter */

    char name[128], host[64];
    long pid = 0;
    ch_qw_consumer_name(name, sizeof name, "web_1.example", 4242, 3);
    CHECK_STR(name, "web_1.example-4242-3");
    CHECK(ch_qw_consumer_parse(name, host, sizeof host, &pid) == 0);
    CHECK_STR(host, "web_1.example");
    CHECK(pid == 4242);
    CHECK(ch_qw_consumer_parse("retry", host, sizeof host, &pid) == -1);
    CHECK(ch_qw_consumer_parse("a-b-c", host, sizeof host, &pid) == -1);
    CHECK(ch_qw_consumer_parse("-1-2", host, sizeof host, &pid) == -1);
    ch_qw_host_id(host, sizeof host);
    CHECK(host[0] && !strchr(host, '-'));
}

/* ch_qw_fetch_new: the new entries of both streams within their shares,
 * in one round trip and no script; a due retry stays for fetch2; a share
 * of 0 leaves its stream unread; a stream that does not exist is said so
 * (gone) and not created; fresh counts what was read per stream. */
static void test_fetch_new(void)
{
    ch_qbatch b;
    /* Neither stream exists: both gone, nothing created. */
    CHECK(ch_qw_fetch_new("t13", "h-1-0", 4, 4, &b) == C360_OK);
    CHECK(b.n == 0 && b.gone == 3 && b.fresh[0] == 0 && b.fresh[1] == 0);
    ch_qbatch_free(&b);
    CHECK(pf_int("EXISTS c360:{t:t13}:ev") == 0 && pf_int("EXISTS c360:{t:t13}:dl") == 0);

    char id[5][CH_QW_ID_MAX];
    for (int i = 0; i < 3; i++) add_event("t13", "src", "s", id[i]);
    for (int i = 0; i < 3; i++) pf_do("XADD c360:{t:t13}:dl * d dst s src rt lead ri rec-%d r {} a 1 t 5", i);
    CHECK(ch_qw_fetch_new("t13", "h-1-0", 2, 1, &b) == C360_OK);
    CHECK(b.n == 3 && b.fresh[0] == 2 && b.fresh[1] == 1 && b.gone == 0);
    if (b.n == 3) {
        CHECK(b.items[0].kind == CH_Q_EV && strcmp(b.items[0].id, id[0]) == 0);
        CHECK(b.items[2].kind == CH_Q_DL && b.items[2].valid);
        CHECK_STR(owner_of("c360:{t:t13}:ev", id[0]), "h-1-0");
    }
    /* A retry, due at once: fetch_new does not claim it. */
    ch_qoutcome o = {.mode = CH_QM_RETRY, .delay_ms = 0, .err = "again"};
    if (b.n == 3) CHECK(ch_qw_outcome("t13", &b.items[0], &o, NULL) == C360_OK);
    ch_qbatch_free(&b);
    /* Share 0: the event stream is not read. */
    long long x0 = xreadgroup_calls();
    CHECK(ch_qw_fetch_new("t13", "h-1-0", 0, 5, &b) == C360_OK);
    CHECK(b.n == 2 && b.fresh[0] == 0 && b.fresh[1] == 2);
    CHECK(xreadgroup_calls() == x0 + 1);
    ch_qbatch_free(&b);
    CHECK(ch_qw_fetch_new("t13", "h-1-0", 5, 5, &b) == C360_OK);
    CHECK(b.n == 1 && b.fresh[0] == 1 && strcmp(b.items[0].id, id[2]) == 0);
    ch_qbatch_free(&b);
    CHECK(pf_int("ZCARD c360:{t:t13}:retry") == 1);
    /* Nothing new: an empty batch (the retry is not among it). */
    CHECK(ch_qw_fetch_new("t13", "h-1-0", 5, 5, &b) == C360_OK);
    CHECK(b.n == 0 && b.gone == 0);
    ch_qbatch_free(&b);
    /* fetch2 claims the retry, and says retries were due. */
    CHECK(ch_qw_fetch2("t13", "h-1-1", 5, 5, &b) == C360_OK);
    CHECK(b.n == 1 && b.fresh[0] == 0 && b.n == 1 && strcmp(b.items[0].id, id[0]) == 0 &&
          b.items[0].att == 1);
    CHECK(b.due_found && b.gone == 0);
    ch_qbatch_free(&b);
    /* None due now: said so too. */
    CHECK(ch_qw_fetch2("t13", "h-1-1", 5, 5, &b) == C360_OK);
    CHECK(b.n == 0 && !b.due_found);
    ch_qbatch_free(&b);
    /* A tenant without streams: nothing, nothing due, nothing created. */
    CHECK(ch_qw_fetch2("t14", "h-1-1", 5, 5, &b) == C360_OK);
    CHECK(b.n == 0 && !b.due_found);
    ch_qbatch_free(&b);
    CHECK(pf_int("EXISTS c360:{t:t14}:ev") == 0 && pf_int("EXISTS c360:{t:t14}:dl") == 0);
    CHECK(ch_qw_fetch_new("t:13", "h-1-0", 1, 1, &b) == C360_EINVAL);
    CHECK(ch_qw_fetch_new("t13", "h-1-0", 0, 0, &b) == C360_EINVAL);
    CHECK(ch_qw_fetch_new("t13", "h-1-0", -1, 1, &b) == C360_EINVAL);
}

int main(void)
{
    int port = fx_redis_start();
    ch_redis_url u = {.port = port};
    snprintf(u.host, sizeof u.host, "127.0.0.1");
    ch_rconn_configure(&u, NULL, NULL, 2000);
    pf_raw_connect(port);
    test_fetch();
    test_outcome_ok();
    test_outcome_ok_batch();
    test_outcome_state();
    test_outcome_ok_versions();
    test_fetch_shares();
    test_fetch_new();
    test_retry_hold();
    test_dlq_drop_fail();
    test_deliveries();
    test_claim();
    test_poison();
    test_dedup();
    test_dedup_many();
    test_dedup_race();
    test_helpers();
    redisFree(pf_raw);
    ch_rconn_shutdown();
    CHECK_DONE();
}
