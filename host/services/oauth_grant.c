/* oauth_grant.c -- see oauth_grant.h. */
#include "oauth_grant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "httpc.h"

#define DEFAULT_MAX_RESPONSE (64 * 1024)

char *ch_oauth_strdup_guarded(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = sodium_malloc(n);
    if (!p) abort(); /* the host's out-of-memory policy */
    memcpy(p, s, n);
    return p;
}

void ch_oauth_tokens_clear(ch_oauth_tokens *t)
{
    if (!t) return;
    if (t->access_token) sodium_free(t->access_token);
    if (t->refresh_token) sodium_free(t->refresh_token);
    memset(t, 0, sizeof *t);
    t->expires_in_s = t->refresh_expires_in_s = -1;
}

int ch_oauth_token_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > CH_OAUTH_TOKEN_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return 0;
    return 1;
}

/* --- the form body, in guarded memory ----------------------------------- */

typedef struct form {
    char *p;
    size_t len, cap;
} form;

static size_t enc_len(const char *v) { return v ? 3 * strlen(v) : 0; }

static void form_add(form *f, const char *key, const char *v)
{
    if (!v) return;
    if (f->len) f->p[f->len++] = '&';
    size_t kl = strlen(key);
    memcpy(f->p + f->len, key, kl);
    f->len += kl;
    f->p[f->len++] = '=';
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            f->p[f->len++] = (char)*c;
        } else if (*c == ' ') {
            f->p[f->len++] = '+';
        } else {
            f->p[f->len++] = '%';
            f->p[f->len++] = hex[*c >> 4];
            f->p[f->len++] = hex[*c & 15];
        }
    }
    f->p[f->len] = '\0';
}

static const char *grant_type_name(int32_t g)
{
    switch (g) {
    case C360_GRANT_AUTHORIZATION_CODE: return "authorization_code";
    case C360_GRANT_REFRESH_TOKEN: return "refresh_token";
    case C360_GRANT_CLIENT_CREDENTIALS: return "client_credentials";
    case C360_GRANT_ACCOUNT_CREDENTIALS: return "account_credentials";
    default: return NULL;
    }
}

/* Builds the body. Basic auth keeps the client credentials out of it. */
static void build_form(const ch_oauth_grant_req *g, form *f)
{
    int in_body = g->auth != C360_OAUTH_AUTH_BASIC;
    f->cap = 64 + enc_len(g->code) + enc_len(g->redirect_uri) + enc_len(g->code_verifier) +
             enc_len(g->refresh_token) + enc_len(g->scope) + enc_len(g->account_id) +
             enc_len(g->client_id) + enc_len(g->client_secret) + 200 /* key names */;
    f->p = sodium_malloc(f->cap);
    if (!f->p) abort();
    f->len = 0;
    f->p[0] = '\0';
    form_add(f, "grant_type", grant_type_name(g->grant));
    switch (g->grant) {
    case C360_GRANT_AUTHORIZATION_CODE:
        form_add(f, "code", g->code);
        form_add(f, "redirect_uri", g->redirect_uri);
        form_add(f, "code_verifier", g->code_verifier);
        break;
    case C360_GRANT_REFRESH_TOKEN:
        form_add(f, "refresh_token", g->refresh_token);
        form_add(f, "scope", g->scope);
        break;
    case C360_GRANT_CLIENT_CREDENTIALS:
        form_add(f, "scope", g->scope);
        break;
    case C360_GRANT_ACCOUNT_CREDENTIALS:
        form_add(f, "account_id", g->account_id);
        break;
    }
    if (in_body) {
        form_add(f, "client_id", g->client_id);
        form_add(f, "client_secret", g->client_secret);
    }
}

/* "Basic base64(urlenc(id):urlenc(secret))" in guarded memory. */
static char *basic_header(const ch_oauth_grant_req *g)
{
    form id = {0}, sec = {0};
    id.cap = enc_len(g->client_id) + 16;
    sec.cap = enc_len(g->client_secret) + 16;
    id.p = sodium_malloc(id.cap);
    sec.p = sodium_malloc(sec.cap);
    if (!id.p || !sec.p) abort();
    /* form_add writes "k=v"; use the value part only. */
    form_add(&id, "x", g->client_id ? g->client_id : "");
    form_add(&sec, "x", g->client_secret ? g->client_secret : "");
    size_t plain_len = (id.len - 2) + 1 + (sec.len - 2);
    char *plain = sodium_malloc(plain_len + 1);
    if (!plain) abort();
    memcpy(plain, id.p + 2, id.len - 2);
    plain[id.len - 2] = ':';
    memcpy(plain + id.len - 1, sec.p + 2, sec.len - 2);
    plain[plain_len] = '\0';
    size_t b64 = sodium_base64_encoded_len(plain_len, sodium_base64_VARIANT_ORIGINAL);
    char *h = sodium_malloc(6 + b64);
    if (!h) abort();
    memcpy(h, "Basic ", 6);
    sodium_bin2base64(h + 6, b64, (const unsigned char *)plain, plain_len,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_free(plain);
    sodium_free(id.p);
    sodium_free(sec.p);
    return h;
}

/* --- the answer ---------------------------------------------------------- */

static void copy_code(char *out, const char *s)
{
    size_t n = 0;
    for (; s && *s && n < CH_OAUTH_ERRCODE_MAX - 1; s++) {
        char c = *s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-' || c == '.')
            out[n++] = c;
    }
    out[n] = '\0';
}

/* A provider's error_description, printable and short, with anything we
 * sent that is secret cut out (some providers echo the bad token). */
static void safe_description(const char *d, const ch_oauth_grant_req *g, char *out, size_t cap)
{
    size_t n = 0;
    for (; d && *d && n + 1 < cap && n < 160; d++)
        out[n++] = ((unsigned char)*d < 0x20 || (unsigned char)*d > 0x7e) ? ' ' : *d;
    out[n] = '\0';
    const char *secrets[] = {g->refresh_token, g->client_secret, g->code, g->code_verifier};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (!secrets[i] || strlen(secrets[i]) < 4) continue;
        char *hit;
        while ((hit = strstr(out, secrets[i])) != NULL)
            memset(hit, '*', strlen(secrets[i]));
    }
}

static int64_t json_seconds(json_t *v)
{
    long long s = -1;
    if (json_is_integer(v)) s = json_integer_value(v);
    else if (json_is_real(v)) s = (long long)json_real_value(v);
    else if (json_is_string(v)) {
        char *end;
        const char *str = json_string_value(v);
        s = strtoll(str, &end, 10);
        if (end == str || *end) s = -1;
    } else {
        return -1;
    }
    if (s < 1) s = 1; /* a given but non-positive lifetime: expired at once */
    if (s > 10LL * 365 * 86400) s = 10LL * 365 * 86400;
    return s;
}

static int32_t parse_success(const c360_http_response *r, ch_oauth_tokens *out, char *err,
                             size_t errcap)
{
    json_t *j = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
    int32_t rc = C360_RETRY;
    if (!json_is_object(j)) {
        snprintf(err, errcap, "token endpoint answered %d with a body that is not a JSON object",
                 (int)r->status);
        goto done;
    }
    json_t *at = json_object_get(j, "access_token");
    if (!json_is_string(at) || !ch_oauth_token_valid(json_string_value(at), json_string_length(at))) {
        snprintf(err, errcap, "token endpoint answered %d without a usable access_token",
                 (int)r->status);
        goto done;
    }
    json_t *rt = json_object_get(j, "refresh_token");
    if (rt && !json_is_null(rt) &&
        (!json_is_string(rt) || !ch_oauth_token_valid(json_string_value(rt), json_string_length(rt)))) {
        snprintf(err, errcap, "token endpoint answered with a malformed refresh_token");
        goto done;
    }
    out->access_token = ch_oauth_strdup_guarded(json_string_value(at));
    if (json_is_string(rt)) out->refresh_token = ch_oauth_strdup_guarded(json_string_value(rt));
    json_t *tt = json_object_get(j, "token_type");
    copy_code(out->token_type, json_is_string(tt) ? json_string_value(tt) : "");
    json_t *sc = json_object_get(j, "scope");
    if (json_is_string(sc)) snprintf(out->scope, sizeof out->scope, "%s", json_string_value(sc));
    for (char *p = out->scope; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) *p = ' ';
    out->expires_in_s = json_seconds(json_object_get(j, "expires_in"));
    out->refresh_expires_in_s = json_seconds(json_object_get(j, "refresh_token_expires_in"));
    rc = C360_OK;
done:
    json_decref(j);
    return rc;
}

/* Which OAuth errors mean the connection's grant is dead. */
static int dead_error(const char *code, int32_t grant)
{
    if (strcmp(code, "invalid_grant") == 0) return 1;
    if (grant == C360_GRANT_CLIENT_CREDENTIALS || grant == C360_GRANT_ACCOUNT_CREDENTIALS)
        return strcmp(code, "invalid_client") == 0 || strcmp(code, "unauthorized_client") == 0 ||
               strcmp(code, "access_denied") == 0;
    return strcmp(code, "access_denied") == 0;
}

static int32_t classify_failure(const c360_http_response *r, const ch_oauth_grant_req *g,
                                char *code, char *err, size_t errcap)
{
    char desc[200] = "";
    json_t *j = json_loadb((const char *)r->body, r->body_len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    if (json_is_string(e)) {
        copy_code(code, json_string_value(e));
        json_t *d = json_object_get(j, "error_description");
        if (json_is_string(d)) safe_description(json_string_value(d), g, desc, sizeof desc);
    }
    json_decref(j);
    const char *sep = desc[0] ? ": " : "";
    if (code[0] && dead_error(code, g->grant)) {
        snprintf(err, errcap, "token endpoint refused the grant (%d %s%s%s)", (int)r->status, code,
                 sep, desc);
        return C360_EAUTH;
    }
    if (r->status >= 500 || r->status == 429 || strcmp(code, "temporarily_unavailable") == 0 ||
        strcmp(code, "server_error") == 0) {
        snprintf(err, errcap, "token endpoint unavailable (%d%s%s)", (int)r->status,
                 code[0] ? " " : "", code);
        return C360_RETRY;
    }
    snprintf(err, errcap, "token endpoint refused the request (%d %s%s%s)", (int)r->status,
             code[0] ? code : "no error code", sep, desc);
    return C360_ERROR;
}

int32_t ch_oauth_grant_call(const ch_oauth_grant_req *g, ch_oauth_tokens *out,
                            char *oauth_error, char *err, size_t errcap)
{
    char code[CH_OAUTH_ERRCODE_MAX] = "";
    char ebuf[400] = "";
    if (!err) { err = ebuf; errcap = sizeof ebuf; }
    err[0] = '\0';
    if (oauth_error) oauth_error[0] = '\0';
    memset(out, 0, sizeof *out);
    out->expires_in_s = out->refresh_expires_in_s = -1;
    if (!grant_type_name(g->grant) || !g->token_url) {
        snprintf(err, errcap, "unknown grant or no token_url");
        return C360_EINVAL;
    }

    form f;
    build_form(g, &f);
    char *basic = g->auth == C360_OAUTH_AUTH_BASIC ? basic_header(g) : NULL;
    c360_header h[3] = {{"Content-Type", "application/x-www-form-urlencoded"},
                        {"Accept", "application/json"},
                        {"Authorization", basic}};
    c360_http_request req = {
        .struct_size = sizeof req, .header_count = basic ? 3 : 2, .method = "POST",
        .url = g->token_url, .headers = h, .body = (const uint8_t *)f.p, .body_len = f.len,
        .timeout_ms = g->timeout_ms,
        .max_response_bytes = g->max_response ? g->max_response : DEFAULT_MAX_RESPONSE};
    c360_http_response *r = NULL;
    char herr[256];
    int32_t rc = ch_httpc_request(&req, &r, herr, sizeof herr);
    sodium_free(f.p);
    if (basic) sodium_free(basic);
    if (rc != C360_OK) {
        snprintf(err, errcap, "token endpoint: %s", herr);
        return rc == C360_ETOOBIG ? C360_RETRY : rc;
    }
    if (r->status >= 200 && r->status < 300)
        rc = parse_success(r, out, err, errcap);
    else
        rc = classify_failure(r, g, code, err, errcap);
    /* The body held the tokens. */
    sodium_memzero((void *)r->body, r->body_len);
    ch_http_response_free(r);
    if (oauth_error) memcpy(oauth_error, code, sizeof code);
    if (rc != C360_OK) ch_oauth_tokens_clear(out);
    return rc;
}
