/* crm_config.c -- a crm_generic connection's config: the JSON Schema the
 * admin API applies first, and the checks the schema cannot express (URL
 * shape, header names, credentials where config is the wrong place),
 * each reported at its JSON Pointer. Pure: no host service, no I/O.
 *
 * The checks do not trust that the schema ran: instance_open parses the
 * stored config with the same function, and a stored config may predate
 * a stricter schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "crm.h"

#define S_(x) #x
#define S(x) S_(x)

/* RFC 9110 token characters: what a header name may be made of. */
#define CRM_TOKEN_PATTERN "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"

const char crm_config_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"crm_generic\","
    "\"description\":\"Delivers records to your own HTTP endpoint (a CRM, a "
      "webhook receiver). Secrets (token, username, password, api_key, "
      "signing_secret) are stored with the connection's secrets, never here.\","
    "\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"url\"],"
    "\"properties\":{"
      "\"url\":{\"type\":\"string\",\"minLength\":10,"
        "\"maxLength\":" S(CRM_URL_MAX) ",\"pattern\":\"^https?://\","
        "\"description\":\"The endpoint, https://. No user:password@ and no "
        "credentials in the query: use auth and secrets.\"},"
      "\"method\":{\"enum\":[\"POST\",\"PUT\"],\"default\":\"POST\"},"
      "\"body\":{\"enum\":[\"record\",\"envelope\"],\"default\":\"record\","
        "\"description\":\"record: the record (as the route's field mapping "
        "shapes it); envelope: {type, timestamp, data} (Standard Webhooks)\"},"
      "\"auth\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"type\"],\"properties\":{"
        "\"type\":{\"enum\":[\"none\",\"bearer\",\"basic\",\"header\","
          "\"standard_webhooks\"],\"default\":\"none\"},"
        "\"header_name\":{\"type\":\"string\",\"minLength\":1,"
          "\"maxLength\":" S(CRM_HEADER_NAME_MAX) ","
          "\"pattern\":\"" CRM_TOKEN_PATTERN "\","
          "\"description\":\"type header: the header that carries the "
          "api_key secret, e.g. X-Api-Key\"}}},"
      "\"batch\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"properties\":{"
        "\"max_records\":{\"type\":\"integer\",\"minimum\":1,"
          "\"maximum\":" S(CRM_BATCH_MAX) ",\"default\":1,"
          "\"description\":\"records per request; 1 = no batching\"},"
        "\"array_body\":{\"type\":\"boolean\",\"default\":true,"
          "\"description\":\"batches as a JSON array (true) or as "
          "{\\\"records\\\":[...]} (false)\"}}},"
      "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":" S(CRM_TIMEOUT_MIN) ","
        "\"maximum\":" S(CRM_TIMEOUT_MAX) ",\"default\":" S(CRM_TIMEOUT_DEFAULT) "},"
      "\"max_requests_per_s\":{\"type\":\"integer\",\"minimum\":1,"
        "\"maximum\":" S(CRM_RPS_MAX) ",\"default\":" S(CRM_RPS_DEFAULT) ","
        "\"description\":\"requests per second to the endpoint, shared by "
        "every worker\"},"
      "\"headers\":{\"type\":\"object\",\"maxProperties\":" S(CRM_HEADERS_MAX) ","
        "\"additionalProperties\":{\"type\":\"string\","
          "\"maxLength\":" S(CRM_HEADER_VALUE_MAX) "},"
        "\"description\":\"extra static headers (never credentials)\"}"
    "}}";

/* Header names crm_generic sets itself, or that only the HTTP layer may
 * set: a static header must not override them. */
static const char *const crm_reserved_headers[] = {
    "host", "content-type", "content-length", "transfer-encoding",
    "connection", "keep-alive", "upgrade", "te", "trailer", "expect",
    "proxy-authorization", "authorization", "cookie", "user-agent",
    "idempotency-key", NULL};

/* Fragments of names that carry credentials (the list the host's ingress
 * uses for stored headers, plus "signature" and "pwd"). Broad on purpose:
 * a false alarm costs a rename, a miss puts a credential in clear text. */
static const char *const crm_secret_words[] = {
    "token", "secret", "key", "auth", "password", "passwd", "pwd", "cookie",
    "credential", "session", "signature", "sig", "code", "hash", "access", NULL};

bool crm_name_looks_secret(const char *name, size_t len)
{
    char low[CRM_URL_MAX + 1];
    if (len > CRM_URL_MAX)
        return true; /* nobody names a parameter like that */
    for (size_t i = 0; i < len; i++)
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    low[len] = '\0';
    for (int i = 0; crm_secret_words[i]; i++)
        if (strstr(low, crm_secret_words[i]))
            return true;
    return false;
}

static bool crm_token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+.^_`|~-", c));
}

static bool crm_token(const char *s, size_t len)
{
    if (len == 0 || len > CRM_HEADER_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!crm_token_char((unsigned char)s[i]))
            return false;
    return true;
}

static bool crm_reserved(const char *name)
{
    if (strncasecmp(name, "webhook-", 8) == 0)
        return true;
    for (int i = 0; crm_reserved_headers[i]; i++)
        if (strcasecmp(name, crm_reserved_headers[i]) == 0)
            return true;
    return false;
}

static char *crm_lower_dup(const char *s)
{
    char *d = strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
    return d;
}

/* "/headers/<name>" with the name escaped as one JSON Pointer token. */
static void crm_pointer(char *out, size_t cap, const char *prefix, const char *key)
{
    size_t n = (size_t)snprintf(out, cap, "%s/", prefix);
    for (const char *k = key; *k && n + 3 < cap; k++) {
        if (*k == '~') {
            out[n++] = '~';
            out[n++] = '0';
        } else if (*k == '/') {
            out[n++] = '~';
            out[n++] = '1';
        } else {
            out[n++] = *k;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

typedef struct crm_chk {
    crm_report_fn report;
    void *ctx;
    int errors;
    bool oom;
} crm_chk;

static void bad(crm_chk *k, const char *ptr, const char *msg)
{
    k->errors++;
    if (k->report)
        k->report(k->ctx, ptr, msg);
}

/* The query string's parameter names must not look like credentials. */
static bool crm_query_ok(const char *q)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        size_t name = strcspn(q, "=&");
        if (name > len)
            name = len;
        if (crm_name_looks_secret(q, name))
            return false;
        q += len;
        if (*q == '&')
            q++;
    }
    return true;
}

static void check_url(crm_chk *k, const char *url, size_t len, bool allow_http)
{
    size_t skip;
    if (len > CRM_URL_MAX) {
        bad(k, "/url", "must be at most " S(CRM_URL_MAX) " bytes");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            bad(k, "/url", "must not contain spaces, control or non-ASCII "
                           "characters (percent-encode them)");
            return;
        }
    }
    if (strncmp(url, "https://", 8) == 0) {
        skip = 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        if (!allow_http) {
            bad(k, "/url", "must be an https:// URL (plain http:// only when "
                           "the operator allows it)");
            return;
        }
        skip = 7;
    } else {
        bad(k, "/url", "must start with https://");
        return;
    }
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0) {
        bad(k, "/url", "has no host");
        return;
    }
    if (memchr(auth, '@', alen)) {
        bad(k, "/url", "must not carry user:password@ (config is not secret: "
                       "use auth with the username and password secrets)");
        return;
    }
    if (strchr(url, '#')) {
        bad(k, "/url", "must not have a #fragment");
        return;
    }
    const char *q = strchr(url, '?');
    if (q && !crm_query_ok(q + 1))
        bad(k, "/url", "has a query parameter that looks like a credential "
                       "(config is not secret: use auth and secrets)");
}

static void check_auth(crm_chk *k, json_t *v, crm_cfg *cfg)
{
    if (!json_is_object(v)) {
        bad(k, "/auth", "must be an object");
        return;
    }
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m) {
        if (strcmp(key, "type") != 0 && strcmp(key, "header_name") != 0) {
            char ptr[128];
            crm_pointer(ptr, sizeof ptr, "/auth", key);
            bad(k, ptr, "is not allowed (unknown field)");
        }
    }
    json_t *t = json_object_get(v, "type");
    const char *ts = json_string_value(t);
    if (!t) {
        bad(k, "/auth/type", "is required");
        return;
    }
    if (!ts) {
        bad(k, "/auth/type", "must be a string");
        return;
    }
    if (strcmp(ts, "none") == 0)
        cfg->auth = CRM_AUTH_NONE;
    else if (strcmp(ts, "bearer") == 0)
        cfg->auth = CRM_AUTH_BEARER;
    else if (strcmp(ts, "basic") == 0)
        cfg->auth = CRM_AUTH_BASIC;
    else if (strcmp(ts, "header") == 0)
        cfg->auth = CRM_AUTH_HEADER;
    else if (strcmp(ts, "standard_webhooks") == 0)
        cfg->auth = CRM_AUTH_STANDARD_WEBHOOKS;
    else {
        bad(k, "/auth/type", "must be none, bearer, basic, header or "
                             "standard_webhooks");
        return;
    }
    json_t *h = json_object_get(v, "header_name");
    if (cfg->auth != CRM_AUTH_HEADER) {
        if (h)
            bad(k, "/auth/header_name", "is only used with type header");
        return;
    }
    if (!h) {
        bad(k, "/auth/header_name", "is required with type header");
        return;
    }
    const char *hn = json_string_value(h);
    if (!hn || !crm_token(hn, json_string_length(h))) {
        bad(k, "/auth/header_name", "must be a header name of 1.."
                                    S(CRM_HEADER_NAME_MAX) " token characters");
        return;
    }
    /* Authorization is fine here ("Authorization: Token abc"): the value
     * is the api_key secret. What crm_generic sets itself is not. */
    if (strcasecmp(hn, "authorization") != 0 && crm_reserved(hn)) {
        bad(k, "/auth/header_name", "is a header crm_generic or HTTP sets "
                                    "itself");
        return;
    }
    if (!(cfg->auth_header = crm_lower_dup(hn))) {
        k->errors++;
        k->oom = true;
    }
}

static void check_batch(crm_chk *k, json_t *v, crm_cfg *cfg)
{
    if (!json_is_object(v)) {
        bad(k, "/batch", "must be an object");
        return;
    }
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m) {
        if (strcmp(key, "max_records") == 0) {
            json_int_t n = json_integer_value(m);
            if (!json_is_integer(m) || n < 1 || n > CRM_BATCH_MAX)
                bad(k, "/batch/max_records", "must be an integer from 1 to "
                                             S(CRM_BATCH_MAX));
            else
                cfg->max_records = (uint32_t)n;
        } else if (strcmp(key, "array_body") == 0) {
            if (!json_is_boolean(m))
                bad(k, "/batch/array_body", "must be a boolean");
            else
                cfg->array_body = json_is_true(m);
        } else {
            char ptr[128];
            crm_pointer(ptr, sizeof ptr, "/batch", key);
            bad(k, ptr, "is not allowed (unknown field)");
        }
    }
}

static void check_headers(crm_chk *k, json_t *v, crm_cfg *cfg)
{
    if (!json_is_object(v)) {
        bad(k, "/headers", "must be an object");
        return;
    }
    if (json_object_size(v) > CRM_HEADERS_MAX) {
        bad(k, "/headers", "must have at most " S(CRM_HEADERS_MAX) " headers");
        return;
    }
    cfg->headers = calloc(json_object_size(v) + 1, sizeof *cfg->headers);
    if (!cfg->headers) {
        k->errors++;
        k->oom = true;
        return;
    }
    const char *name;
    json_t *m;
    json_object_foreach(v, name, m) {
        char ptr[CRM_HEADER_NAME_MAX * 2 + 32];
        crm_pointer(ptr, sizeof ptr, "/headers", name);
        size_t nlen = strlen(name);
        if (!crm_token(name, nlen)) {
            bad(k, ptr, "is not a header name (1.." S(CRM_HEADER_NAME_MAX)
                        " token characters)");
            continue;
        }
        if (crm_reserved(name)) {
            bad(k, ptr, "is set by crm_generic or HTTP itself");
            continue;
        }
        if (crm_name_looks_secret(name, nlen)) {
            bad(k, ptr, "looks like a credential: config is shown in clear; "
                        "use auth type header with the api_key secret");
            continue;
        }
        const char *val = json_string_value(m);
        if (!val) {
            bad(k, ptr, "must be a string");
            continue;
        }
        size_t vlen = json_string_length(m);
        bool ok = vlen <= CRM_HEADER_VALUE_MAX;
        for (size_t i = 0; ok && i < vlen; i++)
            ok = (unsigned char)val[i] >= 0x20 && (unsigned char)val[i] < 0x7f;
        if (!ok) {
            bad(k, ptr, "must be at most " S(CRM_HEADER_VALUE_MAX)
                        " bytes of printable ASCII");
            continue;
        }
        for (size_t i = 0; i < cfg->nheaders; i++) {
            if (strcasecmp(cfg->headers[i].name, name) == 0) {
                bad(k, ptr, "is given twice (names are case-insensitive)");
                ok = false;
                break;
            }
        }
        if (!ok)
            continue;
        crm_kv *kv = &cfg->headers[cfg->nheaders];
        kv->name = crm_lower_dup(name);
        kv->value = strdup(val);
        if (!kv->name || !kv->value) {
            free(kv->name);
            free(kv->value);
            kv->name = kv->value = NULL;
            k->errors++;
            k->oom = true;
            continue;
        }
        cfg->nheaders++;
    }
}

static void check_int(crm_chk *k, json_t *v, const char *ptr, json_int_t lo,
                      json_int_t hi, uint32_t *out, const char *msg)
{
    json_int_t n = json_integer_value(v);
    if (!json_is_integer(v) || n < lo || n > hi)
        bad(k, ptr, msg);
    else
        *out = (uint32_t)n;
}

void crm_cfg_free(crm_cfg *cfg)
{
    if (!cfg)
        return;
    free(cfg->url);
    free(cfg->auth_header);
    for (size_t i = 0; i < cfg->nheaders; i++) {
        free(cfg->headers[i].name);
        free(cfg->headers[i].value);
    }
    free(cfg->headers);
    memset(cfg, 0, sizeof *cfg);
}

int32_t crm_cfg_parse(const char *json, size_t len, bool allow_http,
                      crm_report_fn report, void *ctx, crm_cfg *out)
{
    crm_chk k = {report, ctx, 0, false};
    memset(out, 0, sizeof *out);
    out->method = "POST";
    out->max_records = 1;
    out->array_body = true;
    out->timeout_ms = CRM_TIMEOUT_DEFAULT;
    out->max_rps = CRM_RPS_DEFAULT;

    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return C360_ENOMEM;
        bad(&k, "", "is not valid JSON");
        return C360_EINVAL;
    }
    if (!json_is_object(doc)) {
        bad(&k, "", "must be a JSON object");
        json_decref(doc);
        return C360_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "url") == 0) {
            const char *u = json_string_value(v);
            if (!u) {
                bad(&k, "/url", "must be a string");
                continue;
            }
            int before = k.errors;
            check_url(&k, u, json_string_length(v), allow_http);
            if (k.errors == before && !(out->url = strdup(u))) {
                k.errors++;
                k.oom = true;
            }
        } else if (strcmp(key, "method") == 0) {
            const char *m = json_string_value(v);
            if (m && strcmp(m, "POST") == 0)
                out->method = "POST";
            else if (m && strcmp(m, "PUT") == 0)
                out->method = "PUT";
            else
                bad(&k, "/method", "must be POST or PUT");
        } else if (strcmp(key, "body") == 0) {
            const char *b = json_string_value(v);
            if (b && strcmp(b, "record") == 0)
                out->body = CRM_BODY_RECORD;
            else if (b && strcmp(b, "envelope") == 0)
                out->body = CRM_BODY_ENVELOPE;
            else
                bad(&k, "/body", "must be record or envelope");
        } else if (strcmp(key, "auth") == 0) {
            check_auth(&k, v, out);
        } else if (strcmp(key, "batch") == 0) {
            check_batch(&k, v, out);
        } else if (strcmp(key, "timeout_ms") == 0) {
            check_int(&k, v, "/timeout_ms", CRM_TIMEOUT_MIN, CRM_TIMEOUT_MAX,
                      &out->timeout_ms, "must be an integer from "
                      S(CRM_TIMEOUT_MIN) " to " S(CRM_TIMEOUT_MAX));
        } else if (strcmp(key, "max_requests_per_s") == 0) {
            check_int(&k, v, "/max_requests_per_s", 1, CRM_RPS_MAX,
                      &out->max_rps, "must be an integer from 1 to "
                      S(CRM_RPS_MAX));
        } else if (strcmp(key, "headers") == 0) {
            check_headers(&k, v, out);
        } else {
            char ptr[256];
            crm_pointer(ptr, sizeof ptr, "", key);
            bad(&k, ptr, "is not allowed (unknown field)");
        }
    }
    if (!json_object_get(doc, "url"))
        bad(&k, "/url", "is required");
    json_decref(doc);
    if (k.errors) {
        crm_cfg_free(out);
        return k.oom ? C360_ENOMEM : C360_EINVAL;
    }
    return C360_OK;
}
