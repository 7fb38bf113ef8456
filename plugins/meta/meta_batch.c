/* meta_batch.c -- one Graph batch request of lead reads (meta.h,
 * "meta_batch.c"): its form body, its answer read operation by operation
 * (the lead, the operation's own usage headers, its error class), and how
 * many requests a number of operations takes. Pure and bounded, so
 * tests/test_meta_batch.c checks all of it without a host.
 *
 * The form is written by hand rather than through Jansson: it carries page
 * tokens, and every byte of it is in the one buffer that
 * meta_batch_form_free wipes (no copy is left in memory Jansson freed).
 * No escaping is needed inside the JSON: a relative_url is made of ids,
 * percent-encoded values and the characters ?&=, none of which JSON
 * escapes. The form is sized exactly first (a dry run of the same writer),
 * then written. Operations may carry different pages' tokens: each one's
 * token and proof are in its own relative_url. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define PROOF_LEN 64

/* A writer that only counts while b is NULL. */
typedef struct wbuf {
    char *b;
    size_t n;
} wbuf;

static void put(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    if (w->b != NULL) memcpy(w->b + w->n, s, n);
    w->n += n;
}

/* s[0..n) percent-encoded; with w->b NULL (the sizing pass) only its
 * length. */
static void put_enc_n(wbuf *w, const char *s, size_t n)
{
    w->n += c360kit_urlenc_n(s, n, w->b != NULL ? w->b + w->n : NULL);
}

/* s percent-encoded. */
static void put_enc(wbuf *w, const char *s) { put_enc_n(w, s, strlen(s)); }

static bool token_ok(const char *t)
{
    size_t n = t != NULL ? strnlen(t, META_TOKEN_MAX + 1) : 0;
    if (n == 0 || n > META_TOKEN_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f) return false;
    return true;
}

static bool proof_ok(const char *p)
{
    if (p == NULL || strnlen(p, PROOF_LEN + 1) != PROOF_LEN) return false;
    for (size_t i = 0; i < PROOF_LEN; i++)
        if (c360kit_hexval(p[i]) < 0) return false;
    return true;
}

/* One operation's relative_url, raw (before the form's encoding), into a
 * wbuf of its own: "<id>?fields=<enc>&access_token=<enc>&appsecret_proof=<hex>". */
static void rel_url(wbuf *w, const meta_batch_op *op)
{
    put(w, op->lead_id);
    put(w, "?fields=");
    put_enc(w, META_LEAD_FIELDS);
    put(w, "&access_token=");
    put_enc(w, op->token);
    put(w, "&appsecret_proof=");
    put(w, op->proof);
}

/* The whole form; with w->b NULL, only its length. scratch has room for
 * the longest relative_url, which is written there first. */
static void write_form(wbuf *w, const meta_batch_op *ops, size_t n, char *scratch)
{
    put(w, "batch=");
    put_enc(w, "[");
    for (size_t i = 0; i < n; i++) {
        put_enc(w, i == 0 ? "{\"method\":\"GET\",\"relative_url\":\""
                          : ",{\"method\":\"GET\",\"relative_url\":\"");
        wbuf u = {scratch, 0};
        rel_url(&u, &ops[i]);
        /* Already URL-safe inside: each byte once more, for the form. */
        put_enc_n(w, scratch, u.n);
        put_enc(w, "\"}");
    }
    put_enc(w, "]");
    /* Each operation's headers: its usage, reported to its own page. */
    put(w, "&include_headers=true&access_token=");
    put_enc(w, ops[0].token);
    put(w, "&appsecret_proof=");
    put(w, ops[0].proof);
}

static void wipe_free(char *b, size_t n)
{
    if (b == NULL) return;
    volatile char *s = b;
    for (size_t i = 0; i < n; i++) s[i] = 0;
    free(b);
}

char *meta_batch_form(const meta_batch_op *ops, size_t n, size_t *len)
{
    if (ops == NULL || n == 0 || n > META_BATCH_MAX) return NULL;
    size_t url_max = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].lead_id == NULL || !meta_id_valid(ops[i].lead_id, false) ||
            !token_ok(ops[i].token) || !proof_ok(ops[i].proof))
            return NULL;
        wbuf c = {NULL, 0};
        rel_url(&c, &ops[i]);
        if (c.n > url_max) url_max = c.n;
    }
    char *scratch = malloc(url_max + 1);
    if (scratch == NULL) return NULL;
    /* A dry run sizes the form exactly. */
    wbuf dry = {NULL, 0};
    write_form(&dry, ops, n, scratch);
    char *form = dry.n < META_BATCH_FORM_MAX ? malloc(dry.n + 1) : NULL;
    if (form != NULL) {
        wbuf w = {form, 0};
        write_form(&w, ops, n, scratch);
        form[w.n] = '\0';
        if (len != NULL) *len = w.n;
    }
    wipe_free(scratch, url_max + 1);
    return form;
}

void meta_batch_form_free(char *form)
{
    if (form == NULL) return;
    volatile char *w = form;
    for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    free(form);
}

bool meta_batch_hdr_name(const char *s, size_t nl, char out[META_BATCH_HDR_NAME_MAX + 1])
{
    if (nl == 0 || nl > META_BATCH_HDR_NAME_MAX) return false;
    for (size_t k = 0; k < nl; k++) {
        unsigned char ch = (unsigned char)s[k];
        if (ch <= 0x20 || ch >= 0x7f || ch == ':') return false;
        out[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    out[nl] = '\0';
    return true;
}

/* An operation's "headers" ([{"name":..,"value":..},..]) read as a single
 * answer's: names lowercased (the host gives them so), bounded. */
static void op_usage(const json_t *headers, meta_usage *u)
{
    c360_header h[META_BATCH_HDRS_MAX];
    char names[META_BATCH_HDRS_MAX][META_BATCH_HDR_NAME_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(headers) && i < META_BATCH_HDRS_MAX; i++) {
        const json_t *e = json_array_get(headers, i);
        const json_t *name = json_object_get(e, "name"), *value = json_object_get(e, "value");
        if (!json_is_string(name) || !json_is_string(value) ||
            json_string_length(value) > META_BATCH_HDR_VALUE_MAX)
            continue;
        const char *s = json_string_value(name);
        size_t nl = json_string_length(name);
        if (strlen(s) != nl || !meta_batch_hdr_name(s, nl, names[n])) continue; /* a NUL inside */
        h[n] = (c360_header){names[n], json_string_value(value)};
        n++;
    }
    meta_usage_parse(h, n, u);
}

int meta_batch_op_end(meta_batch_res *r, const meta_batch_op *op, const char *body, size_t len)
{
    if (r->code == 0) {
        /* Not answered: no more known than of a request that timed out. */
        r->err.cls = META_ERR_TRANSIENT;
        snprintf(r->err.msg, sizeof r->err.msg, "no answer to the operation");
        return 0;
    }
    json_t *j = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    meta_err_classify_json(r->code, j, op->token, &r->err);
    meta_id id;
    if (r->code != 200 || r->err.cls != META_ERR_NONE || !json_is_object(j) ||
        json_object_get(j, "error") != NULL || !meta_id_from_json(json_object_get(j, "id"), false, id) ||
        strcmp(id, op->lead_id) != 0) {
        json_decref(j);
        return 0;
    }
    r->lead = j;
    return 1;
}

/* The "id" of the lead bytes in L is op's lead id, and there is no
 * "error": what meta_batch_op_end requires of the tree. -1: unsure. */
static int lead_ok(meta_lead *L, const meta_batch_op *op)
{
    meta_lv root = meta_lead_root(L);
    meta_id id;
    bool ok = meta_lead_get(L, root, "error").b == NULL &&
              meta_lead_id(L, meta_lead_get(L, root, "id"), false, id) &&
              strcmp(id, op->lead_id) == 0;
    return L->unsure ? -1 : ok;
}

int meta_batch_op_end_bytes(meta_batch_res *r, const meta_batch_op *op, const char *body,
                            size_t len)
{
    /* Only a lead's answer is taken here: an error, or anything the bytes
     * leave unsure, goes meta_batch_op_end's way, whose outcome it is. */
    if (r->code != 200 || body == NULL ||
        meta_json_check((const uint8_t *)body, len) != META_SCAN_OK)
        return meta_batch_op_end(r, op, body, len);
    meta_lead L;
    if (!meta_lead_of_bytes(&L, (const uint8_t *)body, len) || lead_ok(&L, op) != 1)
        return meta_batch_op_end(r, op, body, len);
    char *copy = malloc(len + 1);
    if (copy == NULL) return meta_batch_op_end(r, op, body, len); /* Jansson's says */
    memcpy(copy, body, len);
    copy[len] = '\0';
    /* An object without "error" under 200: what classifying its tree
     * gives. */
    meta_err_classify_json(r->code, NULL, op->token, &r->err);
    r->body = copy;
    r->body_len = len;
    return 1;
}

int meta_batch_parse(const json_t *answer, const meta_batch_op *ops, size_t n,
                     meta_batch_res *res)
{
    if (n > META_BATCH_MAX || !json_is_array(answer) || json_array_size(answer) != n) return -1;
    int got = 0;
    for (size_t i = 0; i < n; i++) {
        meta_batch_res *r = &res[i];
        memset(r, 0, sizeof *r);
        /* null (Meta timed the operation out) and anything but an object
         * have no code, headers or body: json_object_get gives NULL. */
        const json_t *e = json_array_get(answer, i);
        const json_t *code = json_object_get(e, "code");
        if (json_is_integer(code) && json_integer_value(code) >= 100 &&
            json_integer_value(code) <= 599)
            r->code = (int)json_integer_value(code);
        op_usage(json_object_get(e, "headers"), &r->usage);
        const json_t *body = json_object_get(e, "body");
        bool ok = json_is_string(body) && json_string_length(body) <= META_BATCH_BODY_MAX;
        got += meta_batch_op_end(r, &ops[i], ok ? json_string_value(body) : NULL,
                                 ok ? json_string_length(body) : 0);
    }
    return got;
}

size_t meta_batch_split(size_t n, size_t *size)
{
    size_t k = (n + META_BATCH_MAX - 1) / META_BATCH_MAX;
    for (size_t i = 0; i < k; i++) size[i] = n / k + (i < n % k ? 1 : 0);
    return k;
}
