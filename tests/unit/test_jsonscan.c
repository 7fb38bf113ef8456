/* test_jsonscan -- the fast record check (host/jsonscan.c) never says
 * "object" where Jansson would refuse, and says it for the records the
 * bundled connectors emit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "jsonscan.h"

static int jansson_object(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &e);
    int ok = json_is_object(j);
    json_decref(j);
    return ok;
}

static int fast(const char *s) { return ch_jsonscan_object(s, strlen(s)) == CH_JSONSCAN_OBJECT; }

static void test_yes(void)
{
    static const char *yes[] = {
        "{}", " {} \n", "{\"a\":1}", "{\"a\":-0.5,\"b\":[1,2,{\"c\":null}],\"d\":true,\"e\":false}",
        "{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", "{\"q\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
        "{\"a\":[],\"b\":{},\"c\":[[]]}", "{\"n\":123456789012345}",
        "{\"schema\":\"c360.lead/1\",\"id\":\"meta:lead:1\",\"contact\":{\"email\":\"a@b.c\"},"
        "\"answers\":[{\"q\":\"x\",\"a\":[\"y\"]}],\"created_at_ms\":1764412345678}",
    };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        CHECK(fast(yes[i]));
        CHECK(jansson_object(yes[i], strlen(yes[i])));
    }
}

static void test_unsure(void)
{
    /* Malformed, or valid but outside the subset: never a fast yes. */
    static const char *no[] = {
        "", "[]", "1", "\"s\"", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
        "{\"a\":1}x", "{\"a\":1}{}", "{a:1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}",
        "{\"a\":1e5}", "{\"a\":1234567890123456}", "{\"a\":\"\\u0041\"}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\x01\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\"}", "{\"a\":tru}", "{\"a\":nul}",
        "{\"a\":[1 2]}", "{\"a\":[1,]}", "{\"a\":[}", "{\"a\":{]}", "{\"a\":\"x}",
    };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) CHECK(!fast(no[i]));
    CHECK(ch_jsonscan_object(NULL, 0) == CH_JSONSCAN_UNSURE);
    CHECK(ch_jsonscan_object("{}\0", 3) == CH_JSONSCAN_UNSURE); /* a NUL after the object */

    /* Deeper than the stack: unsure (Jansson decides). */
    char deep[2 * CH_JSONSCAN_DEPTH + 16];
    size_t n = 0;
    deep[n++] = '{', deep[n++] = '"', deep[n++] = 'a', deep[n++] = '"', deep[n++] = ':';
    for (int i = 0; i < CH_JSONSCAN_DEPTH; i++) deep[n++] = '[';
    for (int i = 0; i < CH_JSONSCAN_DEPTH; i++) deep[n++] = ']';
    deep[n++] = '}';
    CHECK(ch_jsonscan_object(deep, n) == CH_JSONSCAN_UNSURE);
    CHECK(jansson_object(deep, n));
}

/* One random edit of buf[0..*m) (capacity cap): a byte of alphabet put in
 * place of one, a byte deleted, or one inserted. */
static void mutate(char *buf, size_t *m, size_t cap, uint32_t *seed, const char *alphabet,
                   size_t alen)
{
    *seed = *seed * 1103515245u + 12345u;
    size_t at = (*seed >> 8) % *m;
    *seed = *seed * 1103515245u + 12345u;
    char c = alphabet[(*seed >> 8) % alen];
    *seed = *seed * 1103515245u + 12345u;
    switch ((*seed >> 8) % 3) {
    case 0: buf[at] = c; break;                                          /* replace */
    case 1: memmove(buf + at, buf + at + 1, *m - at - 1), (*m)--; break; /* delete */
    default:
        if (*m + 1 < cap) memmove(buf + at + 1, buf + at, *m - at), buf[at] = c, (*m)++;
    }
}

/* rounds mutants of base (1 .. max_edits edits each) through judge, which
 * answers 1 (the fast path answered, and as Jansson would), -1 (it left
 * the input to Jansson) or 0 (it answered otherwise than Jansson: the
 * input is shown and the run stops). Returns how many judge answered 1. */
static int mutations(const char *base, const char *alphabet, size_t alen, uint32_t seed,
                     int rounds, int max_edits, int (*judge)(const char *, size_t))
{
    size_t n = strlen(base);
    char buf[256];
    int answered = 0;
    for (int round = 0; round < rounds; round++) {
        memcpy(buf, base, n);
        size_t m = n;
        int edits = 1 + (int)(seed % (uint32_t)max_edits);
        for (int k = 0; k < edits; k++) mutate(buf, &m, sizeof buf, &seed, alphabet, alen);
        int r = judge(buf, m);
        if (r == 0) {
            CHECK(!"the fast path and Jansson differ");
            fprintf(stderr, "  input: %.*s\n", (int)m, buf);
            break;
        }
        answered += r == 1;
    }
    return answered;
}

static int judge_object(const char *buf, size_t m)
{
    if (ch_jsonscan_object(buf, m) != CH_JSONSCAN_OBJECT) return -1;
    return jansson_object(buf, m) ? 1 : 0;
}

/* Mutations of valid records: whenever the scan says yes, Jansson agrees. */
static void test_mutations(void)
{
    static const char alphabet[] = "{}[]:,\"\\ 0123456789.-+eEtrufalsn\x01\xc3\xa9\xff";
    int yes = mutations("{\"schema\":\"c360.lead/1\",\"id\":\"meta:lead:9\",\"n\":-12.5,\"ok\":true,"
                        "\"x\":null,\"a\":[1,{\"b\":\"caf\xc3\xa9\\n\"}],\"e\":{}}",
                        alphabet, sizeof alphabet - 1, 12345, 200000, 3, judge_object);
    CHECK(yes > 1000); /* the mutations do reach the fast path */
}

/* ch_jsonscan_flat against Jansson: when the flat decoder answers, its
 * members are Jansson's, in the same order, as NUL-terminated strings. */
static int flat_matches(const char *buf, size_t m, size_t max)
{
    /* Exactly the len + 1 bytes the contract asks: ASan sees a write past. */
    char *copy = malloc(m + 1);
    const char *names[8], *values[8];
    size_t n = 0;
    if (!copy || ch_jsonscan_flat(buf, m, copy, names, values, max, &n) != CH_JSONSCAN_OBJECT) {
        free(copy);
        return -1;
    }
    json_t *j = json_loadb(buf, m, 0, NULL);
    int ok = json_is_object(j) && json_object_size(j) == n;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (!ok || i >= n) break;
        ok = json_is_string(v) && strcmp(k, names[i]) == 0 &&
             strcmp(json_string_value(v), values[i]) == 0;
        i++;
    }
    json_decref(j);
    free(copy);
    return ok && i == n;
}

static int judge_flat(const char *buf, size_t m) { return flat_matches(buf, m, 8); }

static void test_flat(void)
{
    static const char *const yes[] = {
        "{}", "{\"content-type\":\"application/json\"}",
        "{\"content-type\":\"application/json\",\"user-agent\":\"facebookexternalua\","
        "\"x-hub-signature-256\":\"sha256=00ff\"}",
        "{\"\":\"\"}", "{\"a\":\"x y:z,{}[]\"}",
    };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) CHECK(flat_matches(yes[i], strlen(yes[i]), 8) == 1);
    /* The full parser's cases: escapes, other bytes, whitespace, other
     * values, a repeated name, too many, not an object. */
    static const char *const unsure[] = {
        "", "{", "}", "{ }", "{\"a\":\"b\\n\"}", "{\"a\":\"caf\xc3\xa9\"}", "{\"a\":1}",
        "{\"a\": \"b\"}", "{\"a\":\"b\",\"a\":\"c\"}", "{\"a\":\"b\",}", "{,\"a\":\"b\"}",
        "{\"a\":\"b\"", "[\"a\"]", "{\"a\":\"b}", "{\"a\"}", "{\"a\":\"\t\"}",
    };
    for (size_t i = 0; i < sizeof unsure / sizeof *unsure; i++)
        CHECK(flat_matches(unsure[i], strlen(unsure[i]), 8) == -1);
    CHECK(flat_matches("{\"a\":\"1\",\"b\":\"2\"}", 17, 2) == 1);
    CHECK(flat_matches("{\"a\":\"1\",\"b\":\"2\"}", 17, 1) == -1); /* over max */
    CHECK(flat_matches("{}", 2, 0) == 1);
    CHECK(flat_matches("{}x", 3, 8) == -1 && flat_matches("x{}", 3, 8) == -1);
    CHECK(flat_matches("{\"a\":\"\x7f\"}", 9, 8) == -1);
    /* Mutations of a stored header object: every answer is Jansson's. */
    static const char alphabet[] = "{}:,\"\\ ab~\x01\x7f\xc3";
    int answered = mutations("{\"content-type\":\"application/json\",\"x-a\":\"b\",\"x-c\":\"\"}",
                             alphabet, sizeof alphabet - 1, 777, 100000, 1, judge_flat);
    CHECK(answered > 1000);
}

int main(void)
{
    test_yes();
    test_unsure();
    test_mutations();
    test_flat();
    CHECK_DONE();
}
