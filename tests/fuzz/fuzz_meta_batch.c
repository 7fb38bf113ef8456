/* fuzz_meta_batch.c -- the meta connector's Graph batch answer
 * (plugins/meta/meta_batch.c) read operation by operation, without a host:
 * the shortest way from fuzz bytes to meta_batch_parse, each operation's
 * headers (meta_usage_parse), its error class and message, and the reports
 * they call for (meta_answer_reports, merged per bucket as the look ahead
 * merges them). fuzz_meta_api reaches the same code through event_prefetch,
 * behind a webhook, a budget and a form; this target spends every input on
 * the answer.
 *
 * Input: one byte, then the answer's body as Graph would send it.
 *   byte & 63: operations - 1 (1..META_BATCH_MAX, more wrap to 50), lead
 *   ids 1001, 1002, ..., the even ones of page 101 with token A, the odd
 *   ones of page 102 with token B (a batch over two pages, as
 *   meta_prefetch.c writes it).
 *
 * The answer is read as the look ahead reads it, from its bytes
 * (meta_batch_read: meta_batch_scan.c's scanner, Jansson where it is
 * unsure), and, as the oracle, the way it replaces: json_loadb of the
 * whole answer and meta_batch_parse. The two must agree on everything:
 * the result (leads, -1, -2 for no JSON), and per operation the code, the
 * usage, the error (class, codes, message) and the lead (json_equal).
 * A lead the scanner kept as bytes (meta_batch_op_end_bytes) is the tree
 * Jansson's path kept, and the record written from those bytes
 * (meta_lead_src.c, meta_lead_record_of) is byte for byte the record of
 * that tree (meta_lead_record), for a form and a webhook hint or none.
 *
 * Oracles, besides ASan and UBSan: a lead is a JSON object whose id is its
 * operation's; an answer with no lead has code 0 or an error class or a
 * body that is not the lead; a message is NUL-terminated within its buffer
 * and holds no token of its own operation; the merged reports stay within
 * META_REPORTS_MAX. The form of the same operations is built once per
 * input too (its bounds on every size up to META_BATCH_MAX). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define TOK_A "EAAB-page-101-token"
#define TOK_B "EAAB-page-102-token"
#define PROOF "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void fail(const char *what, size_t i)
{
    fprintf(stderr, "fuzz_meta_batch: operation %zu: %s\n", i, what);
    abort();
}

/* The lead's record from its kept bytes and from Jansson's tree of them:
 * the same bytes, id and reason to skip, with and without form and hint. */
static void records_agree(const char *body, size_t len, const json_t *tree, size_t i)
{
    static json_t *form, *hint;
    if (form == NULL) {
        form = json_loads("{\"id\":\"900\",\"name\":\"F\",\"questions\":[{\"key\":\"budget\","
                          "\"label\":\"Budget\"},{\"key\":\"q\",\"label\":\"Q\"}],"
                          "\"checkboxes\":[{\"key\":\"optin\",\"text\":\"Offers\"}]}", 0, NULL);
        hint = json_loads("{\"form_id\":\"900\",\"ad_id\":5,\"created_time\":1440120384}", 0,
                          NULL);
        if (form == NULL || hint == NULL) abort();
    }
    meta_rec_ctx x = {"fb-fuzz", "webhook", "101", 1795943702113};
    for (int k = 0; k < 2; k++) {
        char id1[128] = "", id2[128] = "";
        const char *why1 = NULL, *why2 = NULL;
        meta_jw w1, w2;
        meta_jw_init(&w1, NULL, 0);
        meta_jw_init(&w2, NULL, 0);
        meta_lead L;
        meta_lead_of_bytes(&L, (const uint8_t *)body, len);
        bool m1 = meta_lead_record_of(&L, k ? form : NULL, k ? hint : NULL, &x, &w1, id1,
                                      sizeof id1, &why1);
        meta_lead_done(&L);
        bool m2 = meta_lead_record(tree, k ? form : NULL, k ? hint : NULL, &x, &w2, id2,
                                   sizeof id2, &why2);
        if (m1 != m2 || meta_jw_failed(&w1) || meta_jw_failed(&w2) || w1.len != w2.len ||
            (w1.len > 0 && memcmp(w1.buf, w2.buf, w1.len) != 0) ||
            (m1 ? strcmp(id1, id2) != 0
                : why1 == NULL || why2 == NULL || strcmp(why1, why2) != 0))
            fail("the record of the kept bytes is not the tree's", i);
        meta_jw_free(&w1);
        meta_jw_free(&w2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = (size_t)(data[0] & 63) + 1;
    if (n > META_BATCH_MAX) n = META_BATCH_MAX;
    char ids[META_BATCH_MAX][12];
    meta_batch_op ops[META_BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%zu", 1001 + i);
        ops[i] = (meta_batch_op){ids[i], i % 2 ? TOK_B : TOK_A, PROOF};
    }
    size_t flen = 0;
    char *form = meta_batch_form(ops, n, &flen);
    if (form == NULL || flen != strlen(form)) fail("no form", n);
    meta_batch_form_free(form);
    size_t sizes[META_BATCH_MAX / META_BATCH_MAX + 1], sum = 0;
    size_t k = meta_batch_split(n, sizes);
    for (size_t i = 0; i < k; i++) sum += sizes[i];
    if (k != 1 || sum != n) fail("split", n);

    /* Read as the look ahead reads an answer. */
    meta_batch_res *res = calloc(META_BATCH_MAX, sizeof *res);
    meta_batch_res *jres = calloc(META_BATCH_MAX, sizeof *jres);
    if (res == NULL || jres == NULL) abort();
    int got = meta_batch_read(data + 1, size - 1, ops, n, res);
    /* The oracle: the whole answer parsed by Jansson, then read. */
    json_t *ans = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    int jgot = ans != NULL ? meta_batch_parse(ans, ops, n, jres) : -2;
    json_decref(ans);
    if (got != jgot) fail("the scanner's result is not Jansson's", n);
    for (size_t i = 0; got >= 0 && i < n; i++) {
        const meta_batch_res *a = &res[i], *b = &jres[i];
        if (a->code != b->code) fail("code differs", i);
        if (memcmp(&a->usage, &b->usage, sizeof a->usage) != 0) fail("usage differs", i);
        if (memcmp(&a->err, &b->err, sizeof a->err) != 0) fail("error differs", i);
        meta_batch_res *r = &res[i];
        if (r->body != NULL) {
            /* Kept as bytes: Jansson's tree of them is the lead. */
            if (r->lead != NULL || r->body[r->body_len] != '\0') fail("bytes and a tree", i);
            r->lead = json_loadb(r->body, r->body_len, 0, NULL);
            if (r->lead == NULL) fail("kept bytes that Jansson refuses", i);
            if (b->lead != NULL) records_agree(r->body, r->body_len, b->lead, i);
            free(r->body);
            r->body = NULL;
        }
        if ((a->lead == NULL) != (b->lead == NULL) ||
            (a->lead != NULL && !json_equal(a->lead, b->lead)))
            fail("lead differs", i);
        json_decref(jres[i].lead);
    }
    free(jres);
    if (got < 0) {
        free(res);
        return 0;
    }
    meta_reports merged = {.n = 0};
    int leads = 0;
    for (size_t i = 0; i < n; i++) {
        meta_batch_res *r = &res[i];
        if (memchr(r->err.msg, '\0', sizeof r->err.msg) == NULL) fail("message not terminated", i);
        if (strstr(r->err.msg, ops[i].token) != NULL) fail("its token in the message", i);
        if (r->lead != NULL) {
            meta_id id;
            if (!json_is_object(r->lead) || r->code != 200 || r->err.cls != META_ERR_NONE ||
                !meta_id_from_json(json_object_get(r->lead, "id"), false, id) ||
                strcmp(id, ops[i].lead_id) != 0)
                fail("a lead that is not the operation's", i);
            leads++;
        }
        if (r->code == 0 && r->err.cls != META_ERR_TRANSIENT) fail("no answer, no class", i);
        const char *page = i % 2 ? "102" : "101";
        meta_report rep[META_ANSWER_REPORTS];
        uint32_t wait = 0;
        size_t nr = meta_answer_reports(&r->usage, &r->err, page, 100, rep, &wait);
        if (nr > META_ANSWER_REPORTS) fail("too many reports", i);
        if (r->err.cls == META_ERR_THROTTLE && wait < 100) fail("a throttle without a pause", i);
        for (size_t j = 0; j < nr; j++) {
            if (!rep[j].app && strlen(rep[j].id) == 0) fail("a report without a bucket", i);
            /* Full: sent (here: dropped) and started again, as
             * meta_graph_gather does. */
            if (!meta_reports_merge(&merged, &rep[j])) {
                merged.n = 0;
                if (!meta_reports_merge(&merged, &rep[j])) fail("merge into nothing", i);
            }
            if (merged.n > META_REPORTS_MAX) fail("merged past the bound", i);
        }
        json_decref(r->lead);
    }
    if (leads != got) fail("lead count", n);
    free(res);
    return 0;
}
