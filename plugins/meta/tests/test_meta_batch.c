/* test_meta_batch.c -- the Graph batch request of event_prefetch
 * (meta_batch.c) without a host: the form body read back the way Meta
 * reads it (form fields, the batch as JSON, each relative_url as a URL),
 * its bounds, and answers read operation by operation -- good, too short,
 * too long, not an array, null operations, failed operations, bodies that
 * are not JSON, not an object, another lead, or too big. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "meta.h"

#define PROOF_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PROOF_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* A form field, decoded into a malloc'd string (NULL if absent). */
static char *field(const char *form, const char *name)
{
    size_t cap = strlen(form) + 1;
    char *out = malloc(cap);
    if (out == NULL || !meta_query_get(form, name, out, cap, NULL)) {
        free(out);
        return NULL;
    }
    return out;
}

/* The i-th operation's relative_url of a form's batch, checked to be a
 * GET; into out. */
static bool op_url(const json_t *batch, size_t i, char *out, size_t cap)
{
    const json_t *op = json_array_get(batch, i);
    const char *m = meta_str(op, "method"), *u = meta_str(op, "relative_url");
    if (m == NULL || strcmp(m, "GET") != 0 || u == NULL || json_object_size(op) != 2) return false;
    snprintf(out, cap, "%s", u);
    return true;
}

static void check_op(const json_t *batch, size_t i, const char *id, const char *tok,
                     const char *proof)
{
    char url[20000], v[8192];
    CHECK(op_url(batch, i, url, sizeof url));
    char *q = strchr(url, '?');
    CHECK(q != NULL);
    if (q == NULL) return;
    *q++ = '\0';
    CHECK_STR(url, id);
    CHECK(meta_query_get(q, "fields", v, sizeof v, NULL));
    CHECK_STR(v, META_LEAD_FIELDS);
    CHECK(meta_query_get(q, "access_token", v, sizeof v, NULL));
    CHECK_STR(v, tok);
    CHECK(meta_query_get(q, "appsecret_proof", v, sizeof v, NULL));
    CHECK_STR(v, proof);
}

static void test_form(void)
{
    /* A token with every character a URL or a form would misread. */
    const char *odd = "EAAB&x=1%2B+y/z?#\"\\;,";
    meta_batch_op ops[2] = {{"7001001", odd, PROOF_A}, {"7001002", "PT-202", PROOF_B}};
    size_t len = 0;
    char *form = meta_batch_form(ops, 2, &len);
    CHECK(form != NULL);
    if (form == NULL) return;
    CHECK(len == strlen(form));
    /* The form holds only form-safe bytes: no raw quote, brace or space. */
    CHECK(strpbrk(form, " \"{}[]\\+#") == NULL);
    char *b = field(form, "batch"), *ih = field(form, "include_headers");
    char *at = field(form, "access_token"), *ap = field(form, "appsecret_proof");
    CHECK_STR(ih, "false");
    CHECK_STR(at, odd);
    CHECK_STR(ap, PROOF_A);
    json_error_t err;
    json_t *batch = b != NULL ? json_loads(b, JSON_REJECT_DUPLICATES, &err) : NULL;
    CHECK(json_is_array(batch) && json_array_size(batch) == 2);
    check_op(batch, 0, "7001001", odd, PROOF_A);
    check_op(batch, 1, "7001002", "PT-202", PROOF_B);
    json_decref(batch);
    free(b);
    free(ih);
    free(at);
    free(ap);
    meta_batch_form_free(form);

    /* META_BATCH_MAX operations in one form; one more is refused. */
    meta_batch_op many[META_BATCH_MAX + 1];
    char ids[META_BATCH_MAX + 1][16];
    for (size_t i = 0; i <= META_BATCH_MAX; i++) {
        snprintf(ids[i], sizeof ids[i], "%zu", 9000000 + i);
        many[i] = (meta_batch_op){ids[i], "PT-101", PROOF_A};
    }
    form = meta_batch_form(many, META_BATCH_MAX, &len);
    CHECK(form != NULL);
    b = form != NULL ? field(form, "batch") : NULL;
    batch = b != NULL ? json_loads(b, 0, NULL) : NULL;
    CHECK(json_array_size(batch) == META_BATCH_MAX);
    check_op(batch, META_BATCH_MAX - 1, ids[META_BATCH_MAX - 1], "PT-101", PROOF_A);
    json_decref(batch);
    free(b);
    meta_batch_form_free(form);
    CHECK(meta_batch_form(many, META_BATCH_MAX + 1, &len) == NULL);
    CHECK(meta_batch_form(many, 0, &len) == NULL);
    CHECK(meta_batch_form(NULL, 1, &len) == NULL);

    /* Unusable ids, tokens and proofs write no form. */
    static const char *const bad_ids[] = {"", "12a", "1_2", "123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        meta_batch_op o[2] = {{"1", "PT", PROOF_A}, {bad_ids[i], "PT", PROOF_A}};
        CHECK(meta_batch_form(o, 2, &len) == NULL);
    }
    static const char *const bad_toks[] = {"", "a b", "a\nb", "\x7f", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_toks / sizeof bad_toks[0]; i++) {
        meta_batch_op o[1] = {{"1", bad_toks[i], PROOF_A}};
        CHECK(meta_batch_form(o, 1, &len) == NULL);
    }
    meta_batch_op o1[1] = {{"1", NULL, PROOF_A}};
    CHECK(meta_batch_form(o1, 1, &len) == NULL);
    static const char *const bad_proofs[] = {"", "abc", PROOF_A "0",
        "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    for (size_t i = 0; i < sizeof bad_proofs / sizeof bad_proofs[0]; i++) {
        meta_batch_op o[1] = {{"1", "PT", bad_proofs[i]}};
        CHECK(meta_batch_form(o, 1, &len) == NULL);
    }
    /* A token longer than any the plugin reads (4096) is refused; the
     * longest, each byte escaped, still fits one operation, but fifty of
     * them pass META_BATCH_FORM_MAX: no form rather than a cut one. */
    char *big = malloc(4098);
    memset(big, '!', 4097);
    big[4097] = '\0';
    meta_batch_op ob[1] = {{"1", big, PROOF_A}};
    CHECK(meta_batch_form(ob, 1, &len) == NULL);
    big[4096] = '\0';
    form = meta_batch_form(ob, 1, &len);
    CHECK(form != NULL && len < META_BATCH_FORM_MAX);
    at = form != NULL ? field(form, "access_token") : NULL;
    CHECK_STR(at, big);
    free(at);
    meta_batch_form_free(form);
    for (size_t i = 0; i < META_BATCH_MAX; i++) many[i].token = big;
    CHECK(meta_batch_form(many, META_BATCH_MAX, &len) == NULL);
    free(big);
}

/* A lead answer body as Meta's batch carries it: a JSON string. */
static json_t *op(int code, const char *body)
{
    return json_pack("{s:i,s:s}", "code", code, "body", body);
}

static void test_parse(void)
{
    meta_batch_op ops[3] = {{"7001", "PT", PROOF_A}, {"7002", "PT", PROOF_A},
                            {"7003", "PT", PROOF_A}};
    json_t *leads[3];
    int codes[3];

    /* All three good: objects with their ids (a number is an id too). */
    json_t *a = json_pack("[o,o,o]", op(200, "{\"id\":\"7001\",\"form_id\":\"555\"}"),
                          op(200, "{\"id\":\"7002\",\"field_data\":[]}"),
                          op(200, "{\"id\":7003}"));
    CHECK(meta_batch_parse(a, ops, 3, leads, codes) == 3);
    CHECK(codes[0] == 200 && codes[1] == 200 && codes[2] == 200);
    CHECK_STR(meta_str(leads[0], "id"), "7001");
    CHECK_STR(meta_str(leads[0], "form_id"), "555");
    CHECK(json_is_array(json_object_get(leads[1], "field_data")));
    CHECK(json_integer_value(json_object_get(leads[2], "id")) == 7003);
    for (size_t i = 0; i < 3; i++) json_decref(leads[i]);
    json_decref(a);

    /* The answer as a whole: not an array, or not one element per op. */
    leads[0] = leads[1] = leads[2] = (json_t *)&codes; /* must stay untouched */
    json_t *bad[] = {json_object(), json_string("[]"), json_pack("[n,n]"),
                     json_pack("[n,n,n,n]"), NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        CHECK(meta_batch_parse(bad[i], ops, 3, leads, codes) == -1);
        json_decref(bad[i]);
    }
    CHECK(meta_batch_parse(NULL, ops, 3, leads, codes) == -1);
    CHECK(leads[0] == (json_t *)&codes);
    json_t *empty = json_array();
    CHECK(meta_batch_parse(empty, ops, 0, leads, codes) == 0);
    json_decref(empty);

    /* Op by op: a null op (Meta timed it out), errors, unusable bodies. */
    char *huge = malloc(META_BATCH_BODY_MAX + 64);
    int n = snprintf(huge, 64, "{\"id\":\"7003\",\"pad\":\"");
    memset(huge + n, 'x', META_BATCH_BODY_MAX);
    strcpy(huge + n + META_BATCH_BODY_MAX, "\"}");
    struct {
        json_t *el;
        int code;
    } cases[] = {
        {json_null(), 0},
        {op(400, "{\"error\":{\"message\":\"(#100) no\",\"code\":100,\"error_subcode\":33}}"), 400},
        {op(500, "{\"id\":\"7001\"}"), 500},           /* a lead, but not a 200 */
        {op(200, "{\"id\":\"7001\""), 200},            /* cut JSON */
        {op(200, "[{\"id\":\"7001\"}]"), 200},          /* not an object */
        {op(200, "{\"id\":\"7999\"}"), 200},           /* another lead */
        {op(200, "{\"id\":\"7001x\"}"), 200},          /* not an id */
        {op(200, "{\"name\":\"no id\"}"), 200},
        {op(200, "{\"id\":\"7001\",\"error\":{\"code\":1}}"), 200},
        {op(200, ""), 200},
        {json_pack("{s:i,s:{s:s}}", "code", 200, "body", "id", "7001"), 200}, /* body no string */
        {json_pack("{s:i}", "code", 200), 200},
        {json_pack("{s:s,s:s}", "code", "200", "body", "{\"id\":\"7001\"}"), 0},
        {json_pack("{s:i,s:s}", "code", 99999, "body", "{\"id\":\"7001\"}"), 0},
        {json_integer(200), 0},
        {json_string("{\"id\":\"7001\"}"), 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* The case as op 0, a good lead as op 1, the huge body as op 2. */
        json_t *ans = json_pack("[o,o,o]", cases[i].el, op(200, "{\"id\":\"7002\"}"),
                                op(200, huge));
        int got = meta_batch_parse(ans, ops, 3, leads, codes);
        CHECK(got == 1);
        CHECK(leads[0] == NULL && leads[2] == NULL && codes[2] == 200);
        if (codes[0] != cases[i].code) fprintf(stderr, "case %zu: code %d\n", i, codes[0]);
        CHECK(codes[0] == cases[i].code);
        CHECK_STR(meta_str(leads[1], "id"), "7002");
        json_decref(leads[1]);
        json_decref(ans);
    }
    /* Just within the bound, the same body is a lead. */
    huge[n + META_BATCH_BODY_MAX - 40] = '\0';
    strcat(huge, "\"}");
    json_t *ans = json_pack("[n,n,o]", op(200, huge));
    CHECK(meta_batch_parse(ans, ops, 3, leads, codes) == 1);
    CHECK(leads[2] != NULL && codes[0] == 0 && codes[1] == 0);
    json_decref(leads[2]);
    json_decref(ans);
    free(huge);
    /* More ops than a batch holds are never read. */
    meta_batch_op many[META_BATCH_MAX + 1];
    json_t *ml[META_BATCH_MAX + 1];
    int mc[META_BATCH_MAX + 1];
    json_t *arr = json_array();
    for (size_t i = 0; i <= META_BATCH_MAX; i++) {
        many[i] = (meta_batch_op){"7001", "PT", PROOF_A};
        json_array_append_new(arr, json_null());
    }
    CHECK(meta_batch_parse(arr, many, META_BATCH_MAX + 1, ml, mc) == -1);
    json_decref(arr);
}

int main(void)
{
    test_form();
    test_parse();
    CHECK_DONE();
}
