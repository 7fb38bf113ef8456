/* test_meta_event_scan.c -- event_run's byte path (meta_event.c) against
 * its tree path. event_run reads a body from its bytes only when
 * meta_event_plan says META_EVENT_BYTES; it then walks meta_payload_scan's
 * changes instead of meta_payload_walk's over json_loadb's tree, reads each
 * lead's hint with meta_scan_hint instead of meta_hint_of_tree, and writes
 * records with meta_lead_record_h. For every body (a table, generated
 * webhooks, mutations of both), whenever the plan says bytes:
 *
 *   - the scan is sure, and its changes are the tree walk's, in order
 *     (kind, instagram, owner, entry time, dedup), all leads;
 *   - each change's value bytes are its tree value (json_dumps of
 *     json_loadb(span) == json_dumps(value));
 *   - each hint read from the bytes is the tree's, and the record of a
 *     lead (several leads, with and without each hint field, with and
 *     without a form) with either hint is the same, byte for byte, as the
 *     record meta_lead_record writes with the value's tree;
 *   - the walk's result (found) is the same;
 *
 * and the plan says tree whenever Jansson refuses the body, or the body is
 * not a page/instagram webhook, or holds a comment.
 *
 *   test_meta_event_scan            the checks
 *   test_meta_event_scan N          N generated and N mutated bodies
 *   test_meta_event_scan bench N    N reads of a bench/gen_requests.c lead
 *                                   body each way, as event_run reads it
 *                                   (for callgrind: bench_tree, bench_bytes) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "meta.h"
#include "meta_test_util.h"

#define MAXC 64 /* changes compared per body (the rest: counted) */

typedef struct chg {
    int kind;
    bool instagram;
    meta_id owner;
    int64_t entry_time;
    char dedup[META_DEDUP_MAX];
    bool hint_ok;
    meta_hint hint;
    char *value; /* json_dumps of the value (tree, or json_loadb of its bytes) */
} chg;

typedef struct coll {
    chg c[MAXC];
    int n;
    bool bytes;      /* the scan side: value_b/value_e expected, value NULL */
    bool bad_fields; /* a scan change with a value tree, or without bytes */
} coll;

static void hint_clear(meta_hint *h)
{
    memset(h, 0, sizeof *h);
    h->created_time = -1;
}

static int collect(void *arg, const meta_change *c)
{
    coll *u = arg;
    if (u->bytes ? c->value != NULL || c->value_b == NULL || c->value_e <= c->value_b
                 : c->value == NULL || c->value_b != NULL)
        u->bad_fields = true;
    if (u->n < MAXC) {
        chg *g = &u->c[u->n];
        memset(g, 0, sizeof *g);
        g->kind = c->kind;
        g->instagram = c->instagram;
        memcpy(g->owner, c->owner, sizeof g->owner);
        g->entry_time = c->entry_time;
        memcpy(g->dedup, c->dedup, sizeof g->dedup);
        hint_clear(&g->hint);
        if (u->bytes) {
            g->hint_ok = meta_scan_hint(c->value_b, c->value_e, &g->hint);
            json_t *v = json_loadb((const char *)c->value_b, (size_t)(c->value_e - c->value_b),
                                   0, NULL);
            g->value = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            json_decref(v);
        } else {
            g->hint_ok = true;
            meta_hint_of_tree(&g->hint, c->value);
            g->value = json_dumps(c->value, JSON_COMPACT | JSON_ENCODE_ANY);
        }
    }
    u->n++;
    return 0;
}

static void coll_free(coll *u)
{
    for (int i = 0; i < u->n && i < MAXC; i++) free(u->c[i].value);
    u->n = 0;
}

static bool hint_eq(const meta_hint *a, const meta_hint *b)
{
    if (a->created_time != b->created_time) return false;
    for (int i = 0; i < META_HINT_IDS; i++)
        if (a->has[i] != b->has[i] || (a->has[i] && strcmp(a->id[i], b->id[i]) != 0))
            return false;
    return true;
}

/* ---- records with either hint ---------------------------------------- */

/* Leads as Graph gives them: every hint field present, none, some. */
static const char *const LEADS[] = {
    "{\"id\":\"900000000001\",\"created_time\":\"2026-01-01T00:00:00+0000\",\"form_id\":\"77\","
    "\"ad_id\":\"31\",\"adset_id\":\"32\",\"campaign_id\":\"33\",\"ad_name\":\"A\",\"field_data\":"
    "[{\"name\":\"email\",\"values\":[\"a@b.c\"]},{\"name\":\"full_name\",\"values\":[\"A B\"]}]}",
    "{\"id\":\"900000000002\",\"field_data\":[{\"name\":\"email\",\"values\":[\"x@y.z\"]}]}",
    "{\"id\":\"900000000003\",\"created_time\":1767225600,\"ad_id\":\"41\","
    "\"platform\":\"ig\",\"field_data\":[]}",
    "{\"id\":\"900000000004\",\"campaign_id\":\"51\",\"campaign_name\":\"C\"}",
};
static json_t *g_leads[4], *g_form;

static char *record(const json_t *lead, const json_t *form, const meta_hint *h,
                    const json_t *treehint, bool *made)
{
    meta_rec_ctx x = {"conn-1", "webhook", "101", 1767225600123};
    meta_jw w;
    meta_jw_init(&w, NULL, 0);
    char id[128];
    const char *why = NULL;
    if (h != NULL) {
        meta_lead L;
        meta_lead_of_tree(&L, lead);
        *made = meta_lead_record_h(&L, form, h, &x, &w, id, sizeof id, &why);
        meta_lead_done(&L);
    } else {
        *made = meta_lead_record(lead, form, treehint, &x, &w, id, sizeof id, &why);
    }
    char *s = NULL;
    if (*made && !meta_jw_failed(&w)) {
        s = malloc(w.len + 1);
        if (s != NULL) {
            memcpy(s, w.buf, w.len);
            s[w.len] = '\0';
        }
    }
    meta_jw_free(&w);
    return s;
}

/* The records of every lead with the bytes' hint and with the value's
 * tree (the old API: json_object_get of the hint), equal. */
static void records_agree(const meta_hint *hb, const char *value_dump)
{
    json_t *tv = json_loads(value_dump, 0, NULL);
    CHECK(tv != NULL);
    for (size_t i = 0; i < sizeof LEADS / sizeof LEADS[0]; i++)
        for (int f = 0; f < 2; f++) {
            bool m1 = false, m2 = false;
            char *a = record(g_leads[i], f ? g_form : NULL, hb, NULL, &m1);
            char *b = record(g_leads[i], f ? g_form : NULL, NULL, tv, &m2);
            CHECK(m1 == m2);
            if (m1 && m2) {
                CHECK(a != NULL && b != NULL);
                if (a != NULL && b != NULL && strcmp(a, b) != 0) {
                    CHECK_STR(a, b);
                }
            }
            free(a);
            free(b);
        }
    json_decref(tv);
}

/* ---- one body both ways ---------------------------------------------- */

static coll g_tree, g_scan;
static long n_bytes, n_tree, n_records;
static int shown;

static void show(const char *why, const uint8_t *b, size_t len)
{
    show_body(&shown, why, b, len);
}

/* Returns the plan. with_records: the records too (slower). */
static int compare(const uint8_t *body, size_t len, bool with_records)
{
    /* An exact-size copy: a read past the body trips ASan. */
    uint8_t *b = malloc(len ? len : 1);
    if (b == NULL) abort();
    if (len) memcpy(b, body, len);
    int before = check_failures;
    meta_change kept[4];
    size_t nkept = 0;
    int plan = meta_event_plan(b, len, kept, 4, &nkept);
    json_t *root = json_loadb((const char *)b, len, 0, NULL);
    if (plan == META_EVENT_TREE) {
        n_tree++;
        json_decref(root);
        free(b);
        return plan;
    }
    n_bytes++;
    CHECK(root != NULL);
    g_tree.bytes = false;
    g_tree.bad_fields = false;
    int fj = root != NULL ? meta_payload_walk(root, collect, &g_tree) : -2;
    g_scan.bytes = true;
    g_scan.bad_fields = false;
    int fs = 99;
    int sc = meta_payload_scan(b, len, collect, &g_scan, &fs);
    CHECK(sc == META_SCAN_OK);
    CHECK(fj >= 0);
    CHECK(fs == fj);
    CHECK(g_scan.n == g_tree.n);
    CHECK(!g_scan.bad_fields && !g_tree.bad_fields);
    /* What the plan kept is what a second scan gives (event_run replays
     * it instead of scanning again). */
    CHECK(nkept == (size_t)g_scan.n);
    if (nkept <= 4) {
        coll again = {.n = 0, .bytes = true};
        for (size_t i = 0; i < nkept; i++) collect(&again, &kept[i]);
        CHECK(again.n == g_scan.n && !again.bad_fields);
        for (int i = 0; i < again.n && i < g_scan.n; i++) {
            const chg *k = &again.c[i], *s = &g_scan.c[i];
            CHECK(k->kind == s->kind && k->instagram == s->instagram &&
                  k->entry_time == s->entry_time && k->hint_ok == s->hint_ok);
            CHECK_STR(k->owner, s->owner);
            CHECK_STR(k->dedup, s->dedup);
            CHECK(hint_eq(&k->hint, &s->hint));
            CHECK(k->value != NULL && s->value != NULL);
            if (k->value != NULL && s->value != NULL) CHECK_STR(k->value, s->value);
        }
        coll_free(&again);
    }
    for (int i = 0; i < g_scan.n && i < g_tree.n && i < MAXC; i++) {
        const chg *s = &g_scan.c[i], *t = &g_tree.c[i];
        CHECK(t->kind == META_LEAD && s->kind == META_LEAD);
        CHECK(s->instagram == t->instagram);
        CHECK_STR(s->owner, t->owner);
        CHECK(s->entry_time == t->entry_time);
        CHECK_STR(s->dedup, t->dedup);
        CHECK(s->hint_ok);
        CHECK(hint_eq(&s->hint, &t->hint));
        CHECK(s->value != NULL && t->value != NULL);
        if (s->value != NULL && t->value != NULL) CHECK_STR(s->value, t->value);
        if (with_records && t->value != NULL && s->hint_ok) {
            records_agree(&s->hint, t->value);
            n_records++;
        }
    }
    if (check_failures != before) show("bytes and tree differ", b, len);
    coll_free(&g_tree);
    coll_free(&g_scan);
    json_decref(root);
    free(b);
    return plan;
}

static int compare_s(const char *s, bool with_records)
{
    return compare((const uint8_t *)s, strlen(s), with_records);
}

/* ---- the table -------------------------------------------------------- */

#define BENCH_BODY                                                                           \
    "{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"time\":1767225600,\"changes\":[{"       \
    "\"field\":\"leadgen\",\"value\":{\"leadgen_id\":\"900000000001\",\"page_id\":\"101\","     \
    "\"form_id\":\"77\",\"adgroup_id\":\"31\",\"ad_id\":\"31\",\"created_time\":1767225600}}]}]}"

typedef struct row {
    const char *body;
    int plan;
} row;

static const row ROWS[] = {
    {BENCH_BODY, META_EVENT_BYTES},
    /* Every hint field, as strings and as numbers; none. */
    {"{\"object\":\"page\",\"entry\":[{\"id\":101,\"time\":1,\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":5551,\"form_id\":77,\"ad_id\":\"31\",\"adset_id\":32,"
     "\"campaign_id\":\"33\",\"created_time\":\"2026-01-02T03:04:05+0000\"}},{\"field\":"
     "\"leadgen\",\"value\":{\"leadgen_id\":\"5552\"}}]}]}", META_EVENT_BYTES},
    /* Several entries and pages, duplicates of keys (the last counts). */
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":\"1\",\"form_id\":\"7\",\"form_id\":\"8\",\"ad_id\":null}}]},"
     "{\"id\":\"102\",\"time\":\"1767225600\",\"changes\":[{\"field\":\"leadgen\",\"value\":"
     "{\"leadgen_id\":\"2\",\"created_time\":5,\"created_time\":\"x\",\"campaign_id\":\"1_2\"}},"
     "{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":\"1\",\"adset_id\":-0}}]}]}",
     META_EVENT_BYTES},
    /* Nested values, escapes and Unicode in values the hint does not read. */
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":\"3\",\"x\":{\"form_id\":\"9\",\"y\":[1,{\"ad_id\":2}]},"
     "\"note\":\"a\\\"b\\u00e9\\ud83d\\ude00 h\xc3\xa9\",\"ad_id\":\"4\"}}]}],"
     "\"x\":{\"\\u0041\":1}}", META_EVENT_BYTES},
    /* Other fields and objects of no interest, mixed with leads. */
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"changes\":[{\"field\":\"feed\","
     "\"value\":{\"item\":\"reaction\",\"verb\":\"add\"}},{\"field\":\"leadgen\",\"value\":"
     "{\"leadgen_id\":\"5\",\"form_id\":\"6\"}},{\"field\":\"leadgen\",\"value\":[]}]}]}",
     META_EVENT_BYTES},
    /* Instagram: no leads there (a "leadgen" field is not of interest). */
    {"{\"object\":\"instagram\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":\"1\"}}]}]}", META_EVENT_BYTES},
    {"{\"object\":\"page\",\"entry\":[]}", META_EVENT_BYTES},
    /* A comment: the tree. */
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"time\":1,\"changes\":[{\"field\":"
     "\"leadgen\",\"value\":{\"leadgen_id\":\"5\"}},{\"field\":\"feed\",\"value\":{\"item\":"
     "\"comment\",\"verb\":\"add\",\"comment_id\":\"1_2\"}}]}]}", META_EVENT_TREE},
    {"{\"object\":\"instagram\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"comments\","
     "\"value\":{\"id\":\"1790\"}}]}]}", META_EVENT_TREE},
    /* Hints the bytes cannot be sure of: an escaped hint id, a real, an
     * escaped key (it might be form_id), an escaped time. */
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":\"5\",\"form_id\":\"\\u0037\"}}]}]}", META_EVENT_TREE},
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":\"5\",\"ad_id\":1.0}}]}]}", META_EVENT_TREE},
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":\"5\",\"form\\u005fid\":\"7\"}}]}]}", META_EVENT_TREE},
    {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"changes\":[{\"field\":\"leadgen\","
     "\"value\":{\"leadgen_id\":\"5\",\"created_time\":\"\\u0031\"}}]}]}", META_EVENT_TREE},
    /* Not JSON, not a webhook. */
    {"{\"object\":\"page\",\"entry\":[", META_EVENT_TREE},
    {"", META_EVENT_TREE},
    {"{\"object\":\"user\",\"entry\":[]}", META_EVENT_TREE},
    {"[]", META_EVENT_TREE},
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) {
        int plan = compare_s(ROWS[i].body, true);
        if (plan != ROWS[i].plan) {
            fprintf(stderr, "row %zu: plan %d, want %d\n", i, plan, ROWS[i].plan);
            CHECK(plan == ROWS[i].plan);
        }
    }
    /* The hint readers alone, on the bench body's value. */
    const char *v = "{\"leadgen_id\":\"900000000001\",\"page_id\":\"101\",\"form_id\":\"77\","
                    "\"adgroup_id\":\"31\",\"ad_id\":31,\"created_time\":1767225600}";
    meta_hint hb, ht;
    CHECK(meta_scan_hint((const uint8_t *)v, (const uint8_t *)v + strlen(v), &hb));
    json_t *t = json_loads(v, 0, NULL);
    meta_hint_of_tree(&ht, t);
    json_decref(t);
    CHECK(hint_eq(&hb, &ht));
    CHECK(hb.has[META_HINT_FORM] && strcmp(hb.id[META_HINT_FORM], "77") == 0);
    CHECK(hb.has[META_HINT_AD] && strcmp(hb.id[META_HINT_AD], "31") == 0);
    CHECK(!hb.has[META_HINT_ADSET] && !hb.has[META_HINT_CAMPAIGN]);
    CHECK(hb.created_time == 1767225600);
    CHECK(!meta_scan_hint(NULL, NULL, &hb));
}

/* ---- generated and mutated bodies -------------------------------------- */


#define BODY_MAX 8192

typedef struct buf {
    char b[BODY_MAX];
    size_t n;
} buf;

static void put(buf *o, const char *s)
{
    size_t k = strlen(s);
    if (o->n + k < BODY_MAX) {
        memcpy(o->b + o->n, s, k);
        o->n += k;
    }
}

static void ws(buf *o)
{
    static const char *const W[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    put(o, W[rn(sizeof W / sizeof W[0])]);
}

/* An id-ish value as the hint may carry it. */
static void id_value(buf *o)
{
    static const char *const V[] = {
        "\"77\"", "\"900000000001\"", "31", "0", "-0", "-5", "\"1_2\"", "\"a\"", "null",
        "true", "{}", "[]", "\"\"", "\"123456789012345678901234567890123\"",
        "9223372036854775807", "1.5", "\"\\u0037\"", "\"7\\n\"", "{\"id\":\"7\"}", "\"\xc3\xa9\""};
    /* Mostly plain: the interesting cases are the ones that stay bytes. */
    put(o, V[rn(8) < 6 ? rn(9) : rn(sizeof V / sizeof V[0])]);
}

static void time_value(buf *o)
{
    static const char *const V[] = {
        "1767225600", "\"1767225600\"", "\"2026-01-02T03:04:05+0000\"", "\"2015-02-28T08:49:14Z\"",
        "0", "-1", "\"x\"", "null", "9999999999999", "\"\"", "1.0", "\"\\u0031\""};
    put(o, V[rn(8) < 6 ? rn(10) : rn(sizeof V / sizeof V[0])]);
}

static void member(buf *o, bool *first, const char *key)
{
    if (!*first) put(o, ",");
    *first = false;
    ws(o);
    put(o, "\"");
    put(o, key);
    put(o, "\"");
    ws(o);
    put(o, ":");
    ws(o);
}

static void lead_value(buf *o)
{
    static const char *const KEYS[] = {"leadgen_id", "form_id", "ad_id", "adset_id",
                                       "campaign_id", "created_time", "page_id", "adgroup_id",
                                       "note", "form\\u005fid"};
    put(o, "{");
    bool first = true;
    size_t nm = rn(9);
    bool lead_id = false;
    for (size_t i = 0; i < nm; i++) {
        size_t k = rn(8) == 0 ? rn(sizeof KEYS / sizeof KEYS[0]) : rn(8);
        if (rn(6) == 0 && !lead_id) k = 0;
        member(o, &first, KEYS[k]);
        if (k == 0) lead_id = true;
        if (k == 5) time_value(o);
        else if (k == 8) put(o, rn(2) ? "\"a\\\"b\\u00e9\"" : "{\"form_id\":\"1\",\"x\":[1,2]}");
        else id_value(o);
    }
    if (!lead_id || rn(4) == 0) {
        member(o, &first, "leadgen_id");
        put(o, rn(3) ? "\"900000000042\"" : "900000000043");
    }
    ws(o);
    put(o, "}");
}

static void change(buf *o)
{
    put(o, "{\"field\":");
    switch (rn(10)) {
    case 0:
        put(o, "\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"add\",\"comment_id\":\"1_2\","
               "\"created_time\":7}}");
        return;
    case 1:
        put(o, "\"feed\",\"value\":{\"item\":\"reaction\",\"verb\":\"add\"}}");
        return;
    case 2:
        put(o, "\"comments\",\"value\":{\"id\":\"1790\"}}");
        return;
    default:
        put(o, "\"leadgen\",");
        ws(o);
        put(o, "\"value\":");
        lead_value(o);
        if (rn(10) == 0) put(o, ",\"field\":\"leadgen\"");
        put(o, "}");
    }
}

static size_t gen(char *out)
{
    buf o = {.n = 0};
    put(&o, "{");
    ws(&o);
    put(&o, rn(10) == 0 ? "\"object\":\"instagram\"," : "\"object\":\"page\",");
    put(&o, "\"entry\":[");
    size_t ne = 1 + rn(3);
    for (size_t e = 0; e < ne; e++) {
        if (e) put(&o, ",");
        ws(&o);
        put(&o, rn(2) ? "{\"id\":\"101\"," : "{\"id\":102,");
        if (rn(3)) put(&o, rn(2) ? "\"time\":1767225600," : "\"time\":\"1767225600\",");
        put(&o, "\"changes\":[");
        size_t nc = 1 + rn(3);
        for (size_t c = 0; c < nc; c++) {
            if (c) put(&o, ",");
            ws(&o);
            change(&o);
        }
        put(&o, "]}");
    }
    put(&o, "]");
    if (rn(8) == 0) put(&o, ",\"x\":{\"y\":[1,2,{\"z\":null}]}");
    put(&o, "}");
    memcpy(out, o.b, o.n);
    return o.n;
}

static const char *const TOKENS[] = {
    "\"", "\\", "\\u00e9", "{", "}", "[", "]", ",", ":", " ", "1e999", "-0", "0.5", "01",
    "12345", "null", "\"form_id\":\"9\",", "\"ad_id\":31,", "\"created_time\":1767225600,",
    "\"campaign_id\":\"1_2\",", "\"adset_id\":\"\\u0031\",", "\"leadgen_id\":\"8\",",
    "{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":1}},", "\xc3\xa9", "\x01",
};
static const char JSONISH[] = "{}[],:\"\\ 0123456789-+.eEtrufalsn\t\n_";

static size_t mutate(uint8_t *b, size_t len)
{
    int steps = 1 + (int)rn(3);
    for (int s = 0; s < steps; s++) {
        switch (rn(3)) {
        case 0:
            if (len == 0) break;
            b[rn(len)] = rn(2) ? (uint8_t)JSONISH[rn(sizeof JSONISH - 1)] : (uint8_t)rnd();
            break;
        case 1: {
            if (len == 0) break;
            size_t at = rn(len), k = 1 + rn(8);
            if (k > len - at) k = len - at;
            memmove(b + at, b + at + k, len - at - k);
            len -= k;
            break;
        }
        default: {
            const char *t = TOKENS[rn(sizeof TOKENS / sizeof TOKENS[0])];
            size_t k = strlen(t), at = rn(len + 1);
            if (len + k > BODY_MAX) break;
            memmove(b + at + k, b + at, len - at);
            memcpy(b + at, t, k);
            len += k;
            break;
        }
        }
    }
    return len;
}

static void test_generated(long iters)
{
    static char b[BODY_MAX];
    long bytes0 = n_bytes, tree0 = n_tree;
    int before = check_failures;
    for (long i = 0; i < iters && check_failures - before < 20; i++) {
        size_t n = gen(b);
        compare((const uint8_t *)b, n, i % 4 == 0);
    }
    long gb = n_bytes - bytes0, gt = n_tree - tree0;
    printf("generated: %ld bodies: %ld bytes, %ld tree\n", iters, gb, gt);
    CHECK(gb * 4 >= iters); /* the byte path is taken by many */
    CHECK(gt * 20 >= iters); /* and the tree by some (comments, unsure) */
    bytes0 = n_bytes, tree0 = n_tree;
    for (long i = 0; i < iters && check_failures - before < 20; i++) {
        size_t n = gen(b);
        n = mutate((uint8_t *)b, n);
        compare((const uint8_t *)b, n, i % 4 == 0);
    }
    printf("mutated: %ld bodies: %ld bytes, %ld tree\n", iters, n_bytes - bytes0,
           n_tree - tree0);
    CHECK((n_bytes - bytes0) * 20 >= iters);
}

/* ---- bench ------------------------------------------------------------ */

/* What event_run's on_change reads of a lead change (the rest of the
 * event, Graph and the record, is the same on both paths). */
static int bench_change(void *arg, const meta_change *c)
{
    long *sum = arg;
    meta_hint h;
    if (c->value != NULL) meta_hint_of_tree(&h, c->value);
    else if (!meta_scan_hint(c->value_b, c->value_e, &h)) return 1;
    *sum += h.created_time + (long)c->dedup[5];
    return 0;
}

static int bench_phase0(void *arg, const meta_change *c)
{
    (void)arg;
    return c->kind != META_LEAD; /* phase 0: comments only */
}

/* The tree path: json_loadb, phase 0 and phase 1 walks, json_decref. */
__attribute__((noinline)) static long bench_tree(const char *b, size_t len, long n)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        json_t *root = json_loadb(b, len, 0, NULL);
        if (meta_payload_walk(root, bench_phase0, &sum) >= 0)
            meta_payload_walk(root, bench_change, &sum);
        json_decref(root);
    }
    return sum;
}

/* The byte path: meta_event_plan, then phase 1 over the changes it kept. */
__attribute__((noinline)) static long bench_bytes(const char *b, size_t len, long n)
{
    long sum = 0;
    for (long i = 0; i < n; i++) {
        meta_change kept[8];
        size_t nkept = 0;
        if (meta_event_plan((const uint8_t *)b, len, kept, 8, &nkept) == META_EVENT_BYTES)
            for (size_t k = 0; k < nkept && k < 8; k++)
                if (bench_change(&sum, &kept[k]) != 0) break;
    }
    return sum;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "bench") == 0) {
        long n = atol(argv[2]);
        const char *b = BENCH_BODY;
        long a = bench_tree(b, strlen(b), n), c = bench_bytes(b, strlen(b), n);
        printf("bench: %ld bodies each way (%s)\n", n, a == c ? "same" : "DIFFERENT");
        return a == c ? 0 : 1;
    }
    long iters = argc > 1 ? atol(argv[1]) : 3000;
    for (size_t i = 0; i < sizeof LEADS / sizeof LEADS[0]; i++) {
        g_leads[i] = json_loads(LEADS[i], 0, NULL);
        CHECK(g_leads[i] != NULL);
    }
    g_form = json_loads("{\"id\":\"77\",\"name\":\"Form\",\"questions\":[{\"key\":\"email\","
                        "\"label\":\"E-mail\"}],\"checkboxes\":[]}", 0, NULL);
    CHECK(g_form != NULL);
    test_table();
    test_generated(iters);
    printf("records compared: %ld changes x %zu leads x 2 forms\n", n_records,
           sizeof LEADS / sizeof LEADS[0]);
    CHECK(n_records > 0);
    for (size_t i = 0; i < sizeof LEADS / sizeof LEADS[0]; i++) json_decref(g_leads[i]);
    json_decref(g_form);
    CHECK_DONE();
}
