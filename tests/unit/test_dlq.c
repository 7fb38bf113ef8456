/* test_dlq.c -- dead letters: list with filters and paging, replay (one and
 * by filter) back to the right work stream with the original fields, and
 * discard. Dead letters are written the way workers write them
 * (docs/pipeline.md, Dead letters), with explicit ids so that the time
 * filters are exact. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "connector_api.h"
#include "dlq.h"
#include "metrics.h"
#include "pipeline_fixture.h"
#include "rconn.h"
#include "redis_fixture.h"

static const char body[] = {'\x00', '\xff', 'a', '\x80', 'z'}; /* binary, not UTF-8 */

static void add_ev(const char *id, const char *conn, const char *why)
{
    const char *argv[] = {"XADD", "c360:{t:tA}:dlq", id, "kind", "ev", "why", why, "err",
                          "upstream said no", "k", "wh", "c", conn, "p", "src", "t", "1111",
                          "a", "8", "h", "{\"x-sig\":\"abc\"}", "b", body, "rid", "req-1",
                          "orig", "1-1"};
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++) lens[i] = strlen(argv[i]);
    lens[22] = sizeof body;
    redisReply *r = ch_rconn_argv((int)(sizeof argv / sizeof argv[0]), argv, lens);
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r) freeReplyObject(r);
}

static void add_dl(const char *id, const char *dest, const char *why, const char *ri)
{
    redisReply *r = ch_rconn_command(
        "XADD c360:{t:tA}:dlq %s kind dl why %s err %s d %s s src1 rt lead ri %s r %s a 8 t 2222",
        id, why, "timeout", dest, ri, "{\"name\":\"x\"}");
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r) freeReplyObject(r);
}

static size_t items(json_t *page) { return json_array_size(json_object_get(page, "items")); }

static const char *item_str(json_t *page, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(page, "items"), i), key));
}

static long long llen(const char *key)
{
    redisReply *r = ch_rconn_command("XLEN %s", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

/* The newest entry of a stream as a hiredis reply (free it). */
static redisReply *newest(const char *key)
{
    return ch_rconn_command("XREVRANGE %s + - COUNT 1", key);
}

/* Field `name` of the only entry of a one-entry XRANGE/XREVRANGE reply. */
static const redisReply *field(const redisReply *entry_list, const char *name)
{
    if (!entry_list || entry_list->type != REDIS_REPLY_ARRAY || entry_list->elements != 1) return NULL;
    return pf_entry_field(entry_list->element[0], name);
}

static void test_list(void)
{
    add_ev("1000-0", "c1", "attempts");
    add_ev("2000-0", "c2", "poison");
    add_dl("3000-0", "c1", "error", "rec-1");
    add_dl("4000-0", "c3", "attempts", "rec-2");
    add_ev("5000-0", "c1", "error");

    json_t *p = NULL;
    CHECK(ch_dlq_list("tA", NULL, NULL, 0, &p) == C360_OK);
    CHECK(items(p) == 5);
    CHECK_STR(item_str(p, 0, "id"), "5000-0"); /* newest first */
    CHECK_STR(item_str(p, 4, "id"), "1000-0");
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_t *it = json_array_get(json_object_get(p, "items"), 4);
    CHECK_STR(json_string_value(json_object_get(it, "kind")), "ev");
    CHECK_STR(json_string_value(json_object_get(it, "why")), "attempts");
    CHECK_STR(json_string_value(json_object_get(it, "err")), "upstream said no");
    CHECK(json_integer_value(json_object_get(it, "at_ms")) == 1000);
    CHECK(json_integer_value(json_object_get(it, "body_bytes")) == sizeof body);
    json_t *f = json_object_get(it, "fields");
    CHECK_STR(json_string_value(json_object_get(f, "c")), "c1");
    CHECK_STR(json_string_value(json_object_get(f, "rid")), "req-1");
    CHECK(json_object_get(f, "b") == NULL);      /* raw body never listed */
    CHECK(json_object_get(f, "kind") == NULL);   /* lifted out of fields */
    json_decref(p);

    /* Filters. A delivery's connection is its destination. */
    ch_dlq_filter fc = {.conn = "c1"};
    CHECK(ch_dlq_list("tA", &fc, NULL, 0, &p) == C360_OK);
    CHECK(items(p) == 3);
    json_decref(p);
    ch_dlq_filter fk = {.kind = "dl"};
    CHECK(ch_dlq_list("tA", &fk, NULL, 0, &p) == C360_OK);
    CHECK(items(p) == 2 && strcmp(item_str(p, 0, "id"), "4000-0") == 0);
    json_decref(p);
    ch_dlq_filter fw = {.why = "poison"};
    CHECK(ch_dlq_list("tA", &fw, NULL, 0, &p) == C360_OK);
    CHECK(items(p) == 1 && strcmp(item_str(p, 0, "id"), "2000-0") == 0);
    json_decref(p);
    ch_dlq_filter ft = {.from_ms = 2000, .to_ms = 4000};
    CHECK(ch_dlq_list("tA", &ft, NULL, 0, &p) == C360_OK);
    CHECK(items(p) == 2 && strcmp(item_str(p, 0, "id"), "3000-0") == 0 &&
          strcmp(item_str(p, 1, "id"), "2000-0") == 0);
    json_decref(p);
    ch_dlq_filter fall = {.conn = "c1", .kind = "ev", .why = "error", .from_ms = 1};
    CHECK(ch_dlq_list("tA", &fall, NULL, 0, &p) == C360_OK);
    CHECK(items(p) == 1 && strcmp(item_str(p, 0, "id"), "5000-0") == 0);
    json_decref(p);

    /* Paging: 2 per page, cursor from the previous page. */
    CHECK(ch_dlq_list("tA", NULL, NULL, 2, &p) == C360_OK);
    CHECK(items(p) == 2);
    char cur[64];
    snprintf(cur, sizeof cur, "%s", json_string_value(json_object_get(p, "next_cursor")));
    CHECK_STR(cur, "4000-0");
    json_decref(p);
    CHECK(ch_dlq_list("tA", NULL, cur, 2, &p) == C360_OK);
    CHECK(items(p) == 2 && strcmp(item_str(p, 0, "id"), "3000-0") == 0);
    snprintf(cur, sizeof cur, "%s", json_string_value(json_object_get(p, "next_cursor")));
    json_decref(p);
    CHECK(ch_dlq_list("tA", NULL, cur, 2, &p) == C360_OK);
    CHECK(items(p) == 1 && strcmp(item_str(p, 0, "id"), "1000-0") == 0);
    CHECK(json_is_null(json_object_get(p, "next_cursor")));
    json_decref(p);

    /* Refusals. */
    ch_dlq_filter bad = {.kind = "xx"};
    CHECK(ch_dlq_list("tA", &bad, NULL, 0, &p) == C360_EINVAL && p == NULL);
    ch_dlq_filter badr = {.from_ms = 5, .to_ms = 5};
    CHECK(ch_dlq_list("tA", &badr, NULL, 0, &p) == C360_EINVAL);
    CHECK(ch_dlq_list("t{A}", NULL, NULL, 0, &p) == C360_EINVAL);
    CHECK(ch_dlq_list("tA", NULL, "12-x", 0, &p) == C360_EINVAL);
    CHECK(ch_dlq_list("tA", NULL, NULL, CH_DLQ_LIMIT_MAX + 1, &p) == C360_EINVAL);
    /* Another tenant sees nothing. */
    CHECK(ch_dlq_list("tB", NULL, NULL, 0, &p) == C360_OK && items(p) == 0);
    json_decref(p);
}

static void test_replay_one(void)
{
    uint64_t replayed0 = ch_metrics_get(CH_M_REPLAYED);
    /* A delivery goes back to the dl stream with its record id. */
    CHECK(ch_dlq_replay("tA", "3000-0") == C360_OK);
    CHECK(llen("c360:{t:tA}:dl") == 1);
    redisReply *r = newest("c360:{t:tA}:dl");
    const redisReply *v;
    CHECK((v = field(r, "ri")) && strcmp(v->str, "rec-1") == 0);
    CHECK((v = field(r, "d")) && strcmp(v->str, "c1") == 0);
    CHECK((v = field(r, "r")) && strcmp(v->str, "{\"name\":\"x\"}") == 0);
    CHECK((v = field(r, "t")) && strcmp(v->str, "2222") == 0);
    CHECK((v = field(r, "a")) && strcmp(v->str, "1") == 0);
    CHECK(field(r, "kind") == NULL && field(r, "why") == NULL && field(r, "err") == NULL);
    if (r) freeReplyObject(r);
    CHECK(ch_dlq_replay("tA", "3000-0") == C360_ENOTFOUND); /* moved, not copied */
    CHECK(llen("c360:{t:tA}:dlq") == 4);

    /* An event goes back to the ev stream, body byte for byte, as a fresh
     * attempt (a = 1) that still names its first entry (orig). */
    CHECK(ch_dlq_replay("tA", "1000-0") == C360_OK);
    r = newest("c360:{t:tA}:ev");
    CHECK((v = field(r, "b")) && v->len == sizeof body && memcmp(v->str, body, sizeof body) == 0);
    CHECK((v = field(r, "k")) && strcmp(v->str, "wh") == 0);
    CHECK((v = field(r, "a")) && strcmp(v->str, "1") == 0);
    CHECK((v = field(r, "h")) && strcmp(v->str, "{\"x-sig\":\"abc\"}") == 0);
    CHECK((v = field(r, "orig")) && strcmp(v->str, "1-1") == 0);
    if (r) freeReplyObject(r);
    CHECK(ch_metrics_get(CH_M_REPLAYED) == replayed0 + 2);
    /* Both streams have the workers' group, and a worker was woken. */
    r = ch_rconn_command("XINFO GROUPS c360:{t:tA}:dl");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r) freeReplyObject(r);
    r = ch_rconn_command("LINDEX c360:{idx}:wake 0");
    CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "tA") == 0);
    if (r) freeReplyObject(r);

    CHECK(ch_dlq_replay("tA", "bad") == C360_EINVAL);
    CHECK(ch_dlq_replay("tA", "9-9") == C360_ENOTFOUND);
    /* An entry of unknown kind stays put (nowhere right to send it). */
    redisReply *x = ch_rconn_command("XADD c360:{t:tA}:dlq 6000-0 kind zz why error");
    if (x) freeReplyObject(x);
    CHECK(ch_dlq_replay("tA", "6000-0") == C360_ENOTFOUND);
    CHECK(ch_dlq_discard("tA", "6000-0") == C360_OK);
    CHECK(ch_dlq_discard("tA", "6000-0") == C360_ENOTFOUND);
}

static void test_bulk(void)
{
    /* Left from before: 2000 (ev poison), 4000 (dl attempts), 5000 (ev error). */
    size_t n = 0;
    int more = -1;
    ch_dlq_filter fw = {.why = "poison"};
    CHECK(ch_dlq_replay_filter("tA", &fw, 0, &n, &more) == C360_OK && n == 1 && more == 0);
    ch_dlq_filter fk = {.kind = "dl"};
    CHECK(ch_dlq_discard_filter("tA", &fk, 0, &n, &more) == C360_OK && n == 1 && more == 0);
    CHECK(llen("c360:{t:tA}:dlq") == 1);

    /* More than one call's limit: 1200 dead letters of c9. */
    for (int i = 0; i < 1200; i++) {
        char id[32], ri[16];
        snprintf(id, sizeof id, "%d-0", 10000 + i);
        snprintf(ri, sizeof ri, "r%d", i);
        add_dl(id, "c9", "attempts", ri);
    }
    long long dl0 = llen("c360:{t:tA}:dl");
    ch_dlq_filter f9 = {.conn = "c9"};
    CHECK(ch_dlq_replay_filter("tA", &f9, 0, &n, &more) == C360_OK && n == 1000 && more == 1);
    CHECK(ch_dlq_replay_filter("tA", &f9, 0, &n, &more) == C360_OK && n == 200 && more == 0);
    CHECK(llen("c360:{t:tA}:dl") == dl0 + 1200);
    /* Oldest first: the first of them went first. */
    redisReply *r = ch_rconn_command("XRANGE c360:{t:tA}:dl - + COUNT %lld", dl0 + 1);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)dl0 + 1);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)dl0 + 1) {
        const redisReply *v = pf_entry_field(r->element[dl0], "ri");
        CHECK(v && strcmp(v->str, "r0") == 0);
    }
    if (r) freeReplyObject(r);

    for (int i = 0; i < 30; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d-0", 20000 + i);
        add_dl(id, "c8", i < 10 ? "error" : "attempts", "x");
    }
    ch_dlq_filter f8 = {.conn = "c8", .why = "attempts"};
    CHECK(ch_dlq_discard_filter("tA", &f8, 15, &n, &more) == C360_OK && n == 15 && more == 1);
    CHECK(ch_dlq_discard_filter("tA", &f8, 15, &n, &more) == C360_OK && n == 5);
    json_t *p;
    ch_dlq_filter f8all = {.conn = "c8"};
    CHECK(ch_dlq_list("tA", &f8all, NULL, 0, &p) == C360_OK && items(p) == 10);
    json_decref(p);
    CHECK(ch_dlq_replay_filter("tA", &f8all, CH_DLQ_LIMIT_MAX + 1, &n, &more) == C360_EINVAL);
}

static void test_redis_down(void)
{
    fx_redis_kill();
    json_t *p = NULL;
    CHECK(ch_dlq_list("tA", NULL, NULL, 0, &p) == C360_EIO && p == NULL);
    CHECK(ch_dlq_replay("tA", "5000-0") == C360_EIO);
    size_t n;
    CHECK(ch_dlq_discard_filter("tA", NULL, 0, &n, NULL) == C360_EIO && n == 0);
    fx_redis_start();
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    fx_rconn_start(2000);
    CHECK(ch_metrics_init(0) == 0);

    test_list();
    test_replay_one();
    test_bulk();
    test_redis_down();

    ch_rconn_thread_close();
    ch_rconn_shutdown();
    ch_metrics_shutdown();
    CHECK_DONE();
}
