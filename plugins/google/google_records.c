/* google_records.c -- c360.email.v1 records from Gmail messages
 * (docs/connectors/google.md has the schema), the connection's filters,
 * and the classes of Gmail API errors. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "google.h"

#define MAX_HEADERS 500
#define MAX_TO 100
#define HDR_MAX 8192             /* a header value kept */
#define BODY_MAX (512u * 1024u)  /* bytes of each body kept */
#define MAX_PARTS 200
#define MAX_DEPTH 10

static const char *header(const json_t *payload, const char *name)
{
    const json_t *hs = json_object_get(payload, "headers");
    for (size_t i = 0; i < json_array_size(hs) && i < MAX_HEADERS; i++) {
        const json_t *h = json_array_get(hs, i);
        const char *n = g_str(h, "name");
        if (n != NULL && strcasecmp(n, name) == 0) return g_str(h, "value");
    }
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* One mailbox "Name <addr>" / "addr" / "\"Name, X\" <addr>" -> object. */
static json_t *mailbox(char *part)
{
    char *s = trim(part);
    if (*s == '\0') return NULL;
    char *lt = strrchr(s, '<'), *gt = lt != NULL ? strchr(lt, '>') : NULL;
    json_t *o = json_object();
    if (lt != NULL && gt != NULL) {
        *gt = '\0';
        char *addr = trim(lt + 1);
        *lt = '\0';
        char *name = trim(s);
        size_t nl = strlen(name);
        if (nl >= 2 && name[0] == '"' && name[nl - 1] == '"') {
            name[nl - 1] = '\0';
            name++;
        }
        if (*addr != '\0') json_object_set_new(o, "address", json_string(addr));
        if (*name != '\0') json_object_set_new(o, "name", json_string(name));
    } else {
        json_object_set_new(o, "address", json_string(s));
    }
    if (json_object_size(o) == 0 || json_object_get(o, "address") == NULL) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Splits an address list at commas outside quotes and angle brackets. */
static json_t *address_list(const char *v)
{
    json_t *arr = json_array();
    if (v == NULL) return arr;
    size_t n = strlen(v);
    if (n > HDR_MAX) n = HDR_MAX;
    char *buf = malloc(n + 1);
    if (buf == NULL) return arr;
    memcpy(buf, v, n);
    buf[n] = '\0';
    bool q = false;
    int angle = 0;
    char *start = buf;
    for (char *p = buf;; p++) {
        if (*p == '"') q = !q;
        else if (!q && *p == '<') angle++;
        else if (!q && *p == '>' && angle > 0) angle--;
        if (*p == '\0' || (*p == ',' && !q && angle == 0)) {
            bool end = *p == '\0';
            *p = '\0';
            json_t *m = json_array_size(arr) < MAX_TO ? mailbox(start) : NULL;
            if (m != NULL) json_array_append_new(arr, m);
            if (end) break;
            start = p + 1;
        }
    }
    free(buf);
    return arr;
}

bool g_addr_of(const char *in, char *out, size_t cap)
{
    json_t *l = address_list(in);
    const char *a = g_str(json_array_get(l, 0), "address");
    bool ok = a != NULL && strlen(a) < cap;
    if (ok) snprintf(out, cap, "%s", a);
    json_decref(l);
    return ok;
}

typedef struct bodies {
    json_t *text, *html;
    bool truncated;
    int nodes;
} bodies;

static void walk_parts(const json_t *part, int depth, bodies *b)
{
    if (part == NULL || depth > MAX_DEPTH || b->nodes++ > MAX_PARTS) return;
    const char *mt = g_str(part, "mimeType");
    const json_t *body = json_object_get(part, "body");
    const char *data = g_str(body, "data");
    const char *fname = g_str(part, "filename");
    bool attachment = fname != NULL && fname[0] != '\0';
    if (mt != NULL && data != NULL && !attachment) {
        json_t **slot = strcasecmp(mt, "text/plain") == 0  ? &b->text
                        : strcasecmp(mt, "text/html") == 0 ? &b->html
                                                           : NULL;
        if (slot != NULL && *slot == NULL) {
            size_t dl = 0, n = strlen(data);
            if ((n / 4) * 3 > BODY_MAX) {
                n = (BODY_MAX / 3) * 4;
                b->truncated = true;
            }
            uint8_t *d = g_b64_decode(data, n, BODY_MAX + 3, &dl);
            if (d != NULL) {
                /* Cut at a UTF-8 boundary if truncated; invalid UTF-8 is
                 * left out rather than sent on. */
                while (b->truncated && dl > 0 && (d[dl - 1] & 0xC0) == 0x80) dl--;
                if (b->truncated && dl > 0 && d[dl - 1] >= 0xC0) dl--;
                *slot = json_stringn((const char *)d, dl);
                free(d);
            }
        }
    }
    const json_t *parts = json_object_get(part, "parts");
    for (size_t i = 0; i < json_array_size(parts); i++)
        walk_parts(json_array_get(parts, i), depth + 1, b);
}

static void set_str(json_t *o, const char *k, const char *v, size_t max)
{
    if (v == NULL || *v == '\0') return;
    size_t n = strlen(v);
    if (n > max) n = max;
    while (n > 0 && n < strlen(v) && ((unsigned char)v[n] & 0xC0) == 0x80) n--;
    json_t *s = json_stringn(v, n);
    if (s != NULL) json_object_set_new(o, k, s); /* NULL: not UTF-8, left out */
}

json_t *g_email_record(const json_t *msg, const g_rec_ctx *x, char *id, size_t idcap,
                       const char **why)
{
    const char *mid = g_str(msg, "id"), *tid = g_str(msg, "threadId");
    const json_t *payload = json_object_get(msg, "payload");
    if (!g_id_ok(mid)) {
        *why = "a message without a usable id";
        return NULL;
    }
    snprintf(id, idcap, "google:email:%s", mid);
    json_t *r = json_object();
    json_object_set_new(r, "schema", json_string("c360.email.v1"));
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "type", json_string("email"));
    json_object_set_new(r, "provider", json_string("google"));
    json_object_set_new(r, "source", json_pack("{s:s,s:s}", "plugin", "google", "connection",
                                               x->connection));
    json_object_set_new(r, "via", json_string(x->via));
    if (x->mailbox != NULL && x->mailbox[0] != '\0') set_str(r, "mailbox", x->mailbox, 255);

    int64_t created = -1;
    const char *idate = g_str(msg, "internalDate");
    if (idate != NULL && g_digits_ok(idate)) created = strtoll(idate, NULL, 10);
    else if (json_is_integer(json_object_get(msg, "internalDate")))
        created = json_integer_value(json_object_get(msg, "internalDate"));
    if (created < 0) created = x->received_at_ms;
    char ts[32];
    g_rfc3339_ms(created, ts);
    json_object_set_new(r, "created_at", json_string(ts));
    json_object_set_new(r, "created_at_ms", json_integer(created));
    json_object_set_new(r, "received_at_ms", json_integer(x->received_at_ms));

    json_t *from = address_list(header(payload, "From"));
    if (json_array_size(from) > 0) json_object_set(r, "from", json_array_get(from, 0));
    json_decref(from);
    json_t *to = address_list(header(payload, "To"));
    json_object_set_new(r, "to", to);
    json_t *cc = address_list(header(payload, "Cc"));
    if (json_array_size(cc) > 0) json_object_set_new(r, "cc", cc);
    else json_decref(cc);
    set_str(r, "subject", header(payload, "Subject"), 2000);
    set_str(r, "date", header(payload, "Date"), 200);
    json_t *labels = json_array();
    const json_t *ls = json_object_get(msg, "labelIds");
    for (size_t i = 0; i < json_array_size(ls) && i < 200; i++)
        if (json_is_string(json_array_get(ls, i)))
            json_array_append(labels, json_array_get(ls, i));
    json_object_set_new(r, "labels", labels);
    set_str(r, "snippet", g_str(msg, "snippet"), 1000);
    if (x->include_body) {
        bodies b = {NULL, NULL, false, 0};
        walk_parts(payload, 0, &b);
        json_t *body = json_object();
        if (b.text != NULL) json_object_set_new(body, "text", b.text);
        if (b.html != NULL) json_object_set_new(body, "html", b.html);
        if (b.truncated) json_object_set_new(body, "truncated", json_true());
        json_object_set_new(r, "body", body);
    }
    json_t *pids = json_object();
    json_object_set_new(pids, "message_id", json_string(mid));
    if (g_id_ok(tid)) json_object_set_new(pids, "thread_id", json_string(tid));
    const char *hid = g_str(msg, "historyId");
    if (g_digits_ok(hid)) json_object_set_new(pids, "history_id", json_string(hid));
    const char *rfc = header(payload, "Message-ID");
    if (rfc == NULL) rfc = header(payload, "Message-Id");
    set_str(pids, "rfc822_message_id", rfc, 998);
    json_object_set_new(r, "provider_ids", pids);
    return r;
}

static bool domain_match(const char *addr, const char *dom)
{
    const char *at = strrchr(addr, '@');
    if (at == NULL) return false;
    const char *d = at + 1;
    size_t dl = strlen(d), wl = strlen(dom);
    if (dl == wl) return strcasecmp(d, dom) == 0;
    return dl > wl && d[dl - wl - 1] == '.' && strcasecmp(d + dl - wl, dom) == 0;
}

bool g_filter_match(const g_cfg *cfg, const regex_t *re, const json_t *rec)
{
    if (cfg->nf_labels > 0) {
        bool any = false;
        const json_t *ls = json_object_get(rec, "labels");
        for (size_t i = 0; i < json_array_size(ls) && !any; i++)
            for (size_t j = 0; j < cfg->nf_labels && !any; j++)
                any = strcmp(json_string_value(json_array_get(ls, i)), cfg->f_labels[j]) == 0;
        if (!any) return false;
    }
    if (cfg->nf_domains > 0) {
        const char *a = g_str(json_object_get(rec, "from"), "address");
        bool any = false;
        for (size_t j = 0; a != NULL && j < cfg->nf_domains && !any; j++)
            any = domain_match(a, cfg->f_domains[j]);
        if (!any) return false;
    }
    if (re != NULL) {
        const char *s = g_str(rec, "subject");
        if (s == NULL || regexec(re, s, 0, NULL, 0) != 0) return false;
    }
    return true;
}

void g_err_classify(int st, const char *body, size_t len, g_err *e)
{
    memset(e, 0, sizeof *e);
    e->http_status = st;
    json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *err = json_object_get(root, "error");
    const char *reason = g_str(json_array_get(json_object_get(err, "errors"), 0), "reason");
    if (reason == NULL) reason = g_str(err, "status");
    if (reason == NULL) reason = json_string_value(err); /* OAuth style */
    if (reason != NULL) g_excerpt(reason, strlen(reason), e->reason, sizeof e->reason);
    const char *m = g_str(err, "message");
    if (m != NULL) g_excerpt(m, strlen(m), e->msg, sizeof e->msg);
    else if (body != NULL && root == NULL) g_excerpt(body, len < 150 ? len : 150, e->msg, sizeof e->msg);
    json_decref(root);
    if (st >= 200 && st < 300) e->cls = G_ERR_NONE;
    else if (st == 429 || (st == 403 && (strcmp(e->reason, "userRateLimitExceeded") == 0 ||
                                         strcmp(e->reason, "rateLimitExceeded") == 0 ||
                                         strcmp(e->reason, "RESOURCE_EXHAUSTED") == 0)))
        e->cls = G_ERR_THROTTLE;
    else if (st == 401) e->cls = G_ERR_AUTH;
    else if (st == 404) e->cls = G_ERR_NOTFOUND;
    else if (st >= 500 || st == 408) e->cls = G_ERR_TRANSIENT;
    else e->cls = G_ERR_PERMANENT;
}
