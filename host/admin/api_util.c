/* api_util.c -- the helpers handlers answer and read requests with (api.h). */
#include <errno.h>
#include <stdint.h>
#include <strings.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "conns.h"
#include "connector_api.h"
#include "log.h"
#include "tenants.h"
#include "util.h"

const char *ch_role_name(ch_role r)
{
    switch (r) {
    case CH_ROLE_TENANT_VIEWER: return "tenant_viewer";
    case CH_ROLE_TENANT_ADMIN: return "tenant_admin";
    case CH_ROLE_OPERATOR: return "operator";
    case CH_ROLE_NONE: break;
    }
    return "none";
}

ch_role ch_role_parse(const char *name)
{
    if (!name) return CH_ROLE_NONE;
    if (strcmp(name, "tenant_viewer") == 0) return CH_ROLE_TENANT_VIEWER;
    if (strcmp(name, "tenant_admin") == 0) return CH_ROLE_TENANT_ADMIN;
    if (strcmp(name, "operator") == 0) return CH_ROLE_OPERATOR;
    return CH_ROLE_NONE;
}

/* ---- answering ---------------------------------------------------------- */

static void reset_answer(ch_actx *x)
{
    if (x->resp) json_decref(x->resp);
    x->resp = NULL;
    free(x->raw);
    x->raw = NULL;
}

void ch_areply(ch_actx *x, int status, json_t *body)
{
    reset_answer(x);
    x->status = status;
    x->resp = body;
}

void ch_areply_raw(ch_actx *x, int status, const char *content_type, const void *body,
                   size_t len)
{
    reset_answer(x);
    x->status = status;
    x->raw = ch_malloc(len + 1);
    if (len) memcpy(x->raw, body, len);
    x->raw[len] = '\0';
    x->raw_len = len;
    x->raw_type = content_type;
}

void ch_aerr_details(ch_actx *x, int status, const char *code, const char *message,
                     json_t *details)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "code", code, "message", message ? message : "",
                          "request_id", x->request_id ? x->request_id : "");
    if (details) json_object_set_new(e, "details", details);
    ch_areply(x, status, json_pack("{s:o}", "error", e));
}

void ch_aerr(ch_actx *x, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ch_aerr_details(x, status, code, msg, NULL);
}

void ch_aerr_status(ch_actx *x, int32_t st, const char *what)
{
    const char *w = what ? what : "the resource";
    switch (st) {
    case C360_EINVAL: ch_aerr(x, 422, "invalid", "%s: invalid", w); return;
    case C360_ENOTFOUND: ch_aerr(x, 404, "not_found", "%s not found", w); return;
    case C360_ECONFLICT: ch_aerr(x, 409, "conflict", "%s: conflicting change", w); return;
    case C360_ETOOBIG: ch_aerr(x, 413, "too_large", "%s: too large", w); return;
    case C360_EDENIED: ch_aerr(x, 403, "forbidden", "%s: not allowed", w); return;
    case C360_EUNSUPPORTED: ch_aerr(x, 422, "unsupported", "%s: not supported", w); return;
    case C360_EAUTH: ch_aerr(x, 502, "provider_auth", "%s: the provider rejected the credentials", w); return;
    case C360_EIO:
    case C360_ETIMEOUT:
    case C360_RETRY:
        ch_aheader(x, "Retry-After", "1");
        ch_aerr(x, 503, "unavailable", "%s: the store or provider is unavailable (%s)", w,
                c360_strstatus(st));
        return;
    default:
        ch_log(CH_LOG_ERROR, "admin request failed", "what", w, "status", c360_strstatus(st),
               "req", x->request_id, NULL);
        ch_aerr(x, 500, "internal", "%s: internal error", w);
        return;
    }
}

void ch_aheader(ch_actx *x, const char *name, const char *value)
{
    for (size_t i = 0; i < x->nheaders; i++)
        if (strcasecmp(x->hname[i], name) == 0) {
            free(x->hval[i]);
            x->hval[i] = ch_strdup(value);
            return;
        }
    if (x->nheaders >= CH_AHEADERS_MAX) return;
    x->hname[x->nheaders] = ch_strdup(name);
    x->hval[x->nheaders] = ch_strdup(value);
    x->nheaders++;
}

void ch_aetag(ch_actx *x, uint64_t version)
{
    char v[32];
    snprintf(v, sizeof v, "\"%llu\"", (unsigned long long)version);
    ch_aheader(x, "ETag", v);
}

/* ---- reading ------------------------------------------------------------ */

const char *ch_aparam(const ch_actx *x, const char *name)
{
    for (size_t i = 0; i < x->nparams; i++)
        if (strcmp(x->pname[i], name) == 0) return x->pval[i];
    return NULL;
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ch_aquery(const ch_actx *x, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = x->query ? x->query : "";
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t w = 0;
            for (size_t i = nl + 1; i < len; i++) {
                int c = (unsigned char)p[i];
                if (c == '+') c = ' ';
                else if (c == '%') {
                    if (i + 2 >= len) return -1;
                    int h = hexv((unsigned char)p[i + 1]), l = hexv((unsigned char)p[i + 2]);
                    if (h < 0 || l < 0) return -1;
                    c = h * 16 + l;
                    i += 2;
                    if (c == 0) return -1;
                }
                if (w + 1 >= cap) return -1;
                buf[w++] = (char)c;
            }
            buf[w] = '\0';
            return 1;
        }
        if (len == nl && strncmp(p, name, nl) == 0) {
            if (cap) buf[0] = '\0';
            return 1;
        }
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

int ch_aquery_int(ch_actx *x, const char *name, int64_t min, int64_t max, int64_t dflt,
                  int64_t *out)
{
    char buf[32];
    int r = ch_aquery(x, name, buf, sizeof buf);
    if (r == 0) {
        *out = dflt;
        return 0;
    }
    long long v;
    if (r < 0 || ch_parse_ll(buf, min, max, &v) != 0) {
        ch_aerr(x, 400, "bad_query", "query parameter %s must be an integer in [%lld, %lld]", name,
                (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static const char *type_name(ch_aftype t)
{
    switch (t) {
    case CH_AF_STRING: return "a string";
    case CH_AF_INT: return "an integer";
    case CH_AF_BOOL: return "a boolean";
    case CH_AF_OBJECT: return "an object";
    case CH_AF_ARRAY: return "an array";
    case CH_AF_ANY: break;
    }
    return "a value";
}

static int type_ok(const json_t *v, ch_aftype t)
{
    switch (t) {
    case CH_AF_STRING: return json_is_string(v);
    case CH_AF_INT: return json_is_integer(v);
    case CH_AF_BOOL: return json_is_boolean(v);
    case CH_AF_OBJECT: return json_is_object(v);
    case CH_AF_ARRAY: return json_is_array(v);
    case CH_AF_ANY: return 1;
    }
    return 0;
}

static void detail(json_t *details, const char *field, const char *msg)
{
    char *path = ch_asprintf("/%s", field);
    json_array_append_new(details, json_pack("{s:s, s:s}", "path", path, "message", msg));
    free(path);
}

static int is_json_type(const char *ct)
{
    if (!ct) return 0;
    while (*ct == ' ') ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' ||
                                                           ct[n] == ' ');
}

json_t *ch_abody(ch_actx *x, const ch_afield *fields)
{
    if (x->body_len == 0) {
        ch_aerr(x, 400, "malformed_json", "a JSON object body is required");
        return NULL;
    }
    if (!is_json_type(x->content_type)) {
        ch_aerr(x, 415, "unsupported_media_type", "the body must be application/json");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)x->body, x->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        /* Position only: jansson's text quotes the bytes near the error,
         * which may be a secret. */
        ch_aerr(x, 400, "malformed_json", "the body is not valid JSON (line %d, column %d)",
                je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        ch_aerr(x, 400, "malformed_json", "the body must be a JSON object");
        return NULL;
    }
    json_t *details = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        const ch_afield *f = fields;
        while (f->name && strcmp(f->name, k) != 0) f++;
        if (!f->name) {
            /* Field names are echoed in the path: bounded and sanitised. */
            char safe[72];
            size_t i = 0;
            for (; i < 64 && k[i]; i++) safe[i] = (k[i] >= 0x20 && k[i] < 0x7f) ? k[i] : '?';
            safe[i] = '\0';
            detail(details, safe, "unknown field");
            continue;
        }
        if (!type_ok(v, f->type)) {
            char m[64];
            snprintf(m, sizeof m, "must be %s", type_name(f->type));
            detail(details, f->name, m);
            continue;
        }
        if (f->max_len && json_is_string(v) && json_string_length(v) > f->max_len) {
            char m[64];
            snprintf(m, sizeof m, "longer than %zu bytes", f->max_len);
            detail(details, f->name, m);
        } else if (f->max_len && json_is_array(v) && json_array_size(v) > f->max_len) {
            char m[64];
            snprintf(m, sizeof m, "more than %zu items", f->max_len);
            detail(details, f->name, m);
        } else if (f->type == CH_AF_STRING && strlen(json_string_value(v)) !=
                                                  json_string_length(v)) {
            detail(details, f->name, "must not contain NUL characters");
        }
    }
    for (const ch_afield *f = fields; f->name; f++)
        if (f->required && !json_object_get(o, f->name)) detail(details, f->name, "required");
    if (json_array_size(details) > 0) {
        json_decref(o);
        ch_aerr_details(x, 422, "validation", "the body has invalid fields", details);
        return NULL;
    }
    json_decref(details);
    return o;
}

int ch_aexpected_version(ch_actx *x, json_t *body, uint64_t *expected)
{
    if (x->if_match && *x->if_match) {
        const char *p = x->if_match;
        if (strncmp(p, "W/", 2) == 0) p += 2;
        long long v;
        char num[32];
        size_t n = strlen(p);
        if (n < 3 || n > 22 || p[0] != '"' || p[n - 1] != '"') goto bad;
        memcpy(num, p + 1, n - 2);
        num[n - 2] = '\0';
        if (ch_parse_ll(num, 1, INT64_MAX, &v) != 0) goto bad;
        *expected = (uint64_t)v;
        return 1;
    }
    if (body) {
        json_t *v = json_object_get(body, "version");
        if (v) {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                ch_aerr_details(x, 422, "validation", "the body has invalid fields",
                                json_pack("[{s:s, s:s}]", "path", "/version", "message",
                                          "must be an integer >= 1"));
                return -1;
            }
            *expected = (uint64_t)json_integer_value(v);
            return 1;
        }
    }
    return 0;
bad:
    ch_aerr(x, 400, "bad_if_match", "If-Match must be a quoted version, e.g. \"3\"");
    return -1;
}

int ch_apage_parse(ch_actx *x, int64_t dflt, int64_t max, ch_apage *out)
{
    memset(out, 0, sizeof *out);
    if (ch_aquery_int(x, "limit", 1, max, dflt, &out->limit) != 0) return -1;
    int r = ch_aquery(x, "cursor", out->cursor, sizeof out->cursor);
    if (r < 0) {
        ch_aerr(x, 400, "bad_cursor", "cursor is malformed or too long");
        return -1;
    }
    return 0;
}

void ch_apage_ids(char **ids, size_t n, const ch_apage *pg, json_t **page, char *next,
                  size_t cap)
{
    json_t *a = json_array();
    size_t i = 0;
    if (pg->cursor[0])
        while (i < n && strcmp(ids[i], pg->cursor) <= 0) i++;
    size_t taken = 0;
    for (; i < n && taken < (size_t)pg->limit; i++, taken++)
        json_array_append_new(a, json_string(ids[i]));
    if (i < n && taken > 0) snprintf(next, cap, "%s", ids[i - 1]);
    else if (cap) next[0] = '\0';
    *page = a;
}

json_t *ch_alist(json_t *items, const char *next)
{
    return json_pack("{s:o, s:o}", "items", items, "next_cursor",
                     next && *next ? json_string(next) : json_null());
}

void ch_aaudit(ch_actx *x, const char *tenant, const char *conn, const char *action,
               const char *target, const char *outcome)
{
    ch_audit_entry e = {
        .tenant = tenant && *tenant ? tenant : "_system",
        .actor = x->who.actor[0] ? x->who.actor : "public",
        .connection = conn,
        .action = action,
        .target = target && *target ? target : "-",
        .outcome = outcome,
        .request_id = x->request_id,
    };
    int32_t st = ch_audit_append(&e, NULL);
    if (st != C360_OK)
        ch_log(CH_LOG_ERROR, "cannot write an admin audit entry", "action", action,
               "status", c360_strstatus(st), "req", x->request_id, NULL);
}

int ch_atenant_found(ch_actx *x)
{
    int e = ch_tenant_exists(x->tenant);
    if (e < 0) ch_aerr_status(x, C360_EIO, "tenant");
    else if (e == 0) ch_aerr(x, 404, "tenant_not_found", "no tenant %s", x->tenant);
    return e == 1;
}

ch_conn *ch_aconn_get(ch_actx *x, const char *id, const char *what)
{
    ch_conn *c = NULL;
    int32_t st = ch_conn_get(x->tenant, id, &c);
    if (st == C360_OK) return c;
    /* A missing connection of a missing tenant is the tenant's 404: the
     * caller learns which part of the path is wrong. */
    if (st == C360_ENOTFOUND) {
        if (ch_atenant_found(x))
            ch_aerr(x, 404, "not_found", "no %s%sconnection %s", what ? what : "", what ? " " : "", id);
    } else {
        ch_aerr_status(x, st, "connection");
    }
    return NULL;
}
