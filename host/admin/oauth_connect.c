/* oauth_connect.c -- the plugin's side of OAuth connect: runs its
 * oauth_connect callback and copies the answer; and the URLs of the flow
 * (oauth_connect.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "call.h"
#include "conns.h"
#include "instances.h"
#include "loader.h"
#include "log.h"
#include "oauth_connect.h"
#include "oauth_grant.h"
#include "secrets.h"
#include "util.h"

#define PARAM_STR_MAX 8192  /* as oauth.c: any one string of the params */
#define CLIENT_ID_MAX 512
#define SCOPE_MAX 1024
#define EXTRA_MAX 1024

/* ---- copying the answer ------------------------------------------------- */

void ch_oc_conf_clear(ch_oc_conf *c)
{
    if (!c) return;
    free(c->authorize_url);
    free(c->client_id);
    free(c->scope);
    free(c->extra);
    free((char *)c->token.token_url);
    free((char *)c->token.client_id);
    free((char *)c->token.token_name);
    if (c->token.client_secret) sodium_free((char *)c->token.client_secret);
    memset(c, 0, sizeof *c);
}

const char *ch_oc_conf_token_name(const ch_oc_conf *c)
{
    return c->token.token_name ? c->token.token_name : "default";
}

static int bad(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && cap) vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* 1 if s (a NUL-terminated string of the plugin) is at most max bytes of
 * printable ASCII (spaces allowed when spaces). */
static int text_ok(const char *s, size_t max, int spaces)
{
    size_t n = strnlen(s, max + 1);
    if (n > max) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || (c == ' ' && !spaces)) return 0;
    }
    return 1;
}

static int is_loopback_host(const char *h, size_t n)
{
    return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
           (n == 5 && strncmp(h, "[::1]", 5) == 0) ||
           (n >= 9 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n);
}

/* An absolute http(s) URL with a host and no fragment, userinfo, spaces or
 * control characters. With https_only, http:// is refused unless the host
 * is a loopback name (tests, a provider's local emulator). */
static const char *url_problem(const char *u, size_t max, int https_only)
{
    if (!u || !u[0]) return "is missing";
    if (!text_ok(u, max, 0)) return "is too long or has spaces or control characters";
    size_t skip;
    int https = strncasecmp(u, "https://", 8) == 0;
    if (https) skip = 8;
    else if (strncasecmp(u, "http://", 7) == 0) skip = 7;
    else return "is not an absolute http:// or https:// URL";
    const char *h = u + skip;
    size_t hl = strcspn(h, "/?#");
    if (hl == 0) return "has no host";
    if (memchr(h, '@', hl)) return "must not carry user information";
    if (strchr(u, '#')) return "must not have a fragment";
    if (!https && https_only) {
        size_t name = hl;
        if (h[0] == '[') {
            const char *rb = memchr(h, ']', hl);
            name = rb ? (size_t)(rb - h) + 1 : hl;
        } else {
            const char *colon = memchr(h, ':', hl);
            if (colon) name = (size_t)(colon - h);
        }
        if (!is_loopback_host(h, name)) return "must be https:// (http:// only for a loopback host)";
    }
    return NULL;
}

/* The extra query parameters: name=value pairs joined by '&', already
 * percent-encoded, none of them one the host sets. */
static const char *extra_problem(const char *e)
{
    static const char *const reserved[] = {"response_type", "client_id", "redirect_uri", "scope",
                                           "state", "code_challenge", "code_challenge_method"};
    if (!text_ok(e, EXTRA_MAX, 0)) return "is too long or has spaces or control characters";
    const char *p = e;
    while (*p) {
        size_t len = strcspn(p, "&");
        size_t nl = strcspn(p, "=&");
        if (len == 0 || nl == 0) return "has an empty parameter or name";
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == '%') {
                if (i + 2 >= len || !isxdigit((unsigned char)p[i + 1]) ||
                    !isxdigit((unsigned char)p[i + 2]))
                    return "has a bad percent-escape";
                i += 2;
            } else if (!isalnum(c) && !strchr("-._~!$'()*+,;=:@/?", c)) {
                return "has a character that must be percent-encoded";
            }
        }
        for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
            if (strlen(reserved[i]) == nl && strncmp(p, reserved[i], nl) == 0)
                return "repeats a parameter the host sets";
        p += len;
        if (*p == '&') {
            p++;
            if (!*p) return "ends with '&'";
        }
    }
    return NULL;
}

int ch_oc_answer_check(const c360_oauth_connect *o, char *err, size_t cap)
{
    const char *why;
    if ((why = url_problem(o->authorize_url, CH_OC_URL_MAX, 1)))
        return bad(err, cap, "oauth_connect: authorize_url %s", why);
    if (!o->client_id || !o->client_id[0] || !text_ok(o->client_id, CLIENT_ID_MAX, 0))
        return bad(err, cap, "oauth_connect: client_id must be 1..%d printable bytes", CLIENT_ID_MAX);
    if (o->scope && !text_ok(o->scope, SCOPE_MAX, 1))
        return bad(err, cap, "oauth_connect: scope is longer than %d bytes or not printable", SCOPE_MAX);
    if (o->extra_params && o->extra_params[0] && (why = extra_problem(o->extra_params)))
        return bad(err, cap, "oauth_connect: extra_params %s", why);
    if ((why = url_problem(o->token_url, CH_OC_URL_MAX, 1)))
        return bad(err, cap, "oauth_connect: token_url %s", why);
    if (o->auth != C360_OAUTH_AUTH_BODY && o->auth != C360_OAUTH_AUTH_BASIC)
        return bad(err, cap, "oauth_connect: auth %d is unknown", (int)o->auth);
    if (o->client_secret && strnlen(o->client_secret, PARAM_STR_MAX + 1) > PARAM_STR_MAX)
        return bad(err, cap, "oauth_connect: client_secret is longer than %d bytes", PARAM_STR_MAX);
    if (o->token_name && !ch_id_valid(o->token_name))
        return bad(err, cap, "oauth_connect: token_name must be 1..64 of [A-Za-z0-9_-]");
    return 0;
}

/* Checks the plugin's answer and copies it into c (o is the host's own, so
 * every member is there). */
static int32_t copy_answer(const c360_oauth_connect *o, ch_oc_conf *c, char *err, size_t cap)
{
    if (ch_oc_answer_check(o, err, cap) != 0) return C360_ERROR;
    memset(c, 0, sizeof *c);
    c->authorize_url = ch_strdup(o->authorize_url);
    c->client_id = ch_strdup(o->client_id);
    c->scope = o->scope && o->scope[0] ? ch_strdup(o->scope) : NULL;
    c->extra = o->extra_params && o->extra_params[0] ? ch_strdup(o->extra_params) : NULL;
    c->pkce = o->pkce != 0;
    c->token.struct_size = sizeof c->token;
    c->token.grant = C360_GRANT_AUTHORIZATION_CODE;
    c->token.auth = o->auth;
    c->token.refresh_margin_s = o->refresh_margin_s;
    c->token.token_url = ch_strdup(o->token_url);
    c->token.client_id = ch_strdup(o->client_id);
    c->token.client_secret = o->client_secret ? ch_oauth_strdup_guarded(o->client_secret) : NULL;
    c->token.token_name = o->token_name ? ch_strdup(o->token_name) : NULL;
    return C360_OK;
}

/* The statuses of ch_oc_conf_get: the plugin's own EINVAL (the connection
 * lacks something), EUNSUPPORTED and the transient ones pass; any other
 * failure is C360_ERROR for the caller. */
static int32_t caller_status(int32_t st)
{
    switch (st) {
    case C360_OK: case C360_EINVAL: case C360_EUNSUPPORTED: case C360_ENOTFOUND:
    case C360_RETRY: case C360_EIO: case C360_ETIMEOUT:
        return st;
    default:
        return C360_ERROR;
    }
}

int32_t ch_oc_conf_get(ch_admin *a, const ch_conn *conn, const char *request_id,
                       ch_oc_conf *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (err && errcap) err[0] = '\0';
    const ch_plugin *pl = ch_loader_find(ch_admin_loader(a), conn->plugin);
    if (!pl) {
        if (err && errcap) snprintf(err, errcap, "plugin %s is not loaded", conn->plugin);
        return C360_ENOTFOUND;
    }
    if (!ch_plugin_ops_get(pl)->oauth_connect) {
        if (err && errcap)
            snprintf(err, errcap, "plugin %s does not offer OAuth connect", conn->plugin);
        return C360_EUNSUPPORTED;
    }
    ch_instances *set = ch_admin_instances(a);
    if (!set) {
        if (err && errcap) snprintf(err, errcap, "no plugin instances on this host");
        return C360_EIO;
    }
    ch_inst *inst = NULL;
    char ierr[CH_CALL_ERROR_MAX] = "";
    int32_t st = ch_instance_acquire(set, conn->tenant, conn->id, &inst, ierr, sizeof ierr);
    if (st != C360_OK) {
        if (err && errcap)
            snprintf(err, errcap, "the plugin could not open the connection: %s",
                     ierr[0] ? ierr : c360_strstatus(st));
        return caller_status(st);
    }
    /* The instance's plugin: the connection could have been re-created
     * with another plugin since it was read (ids are global, plugins fixed,
     * but be exact). */
    const ch_plugin *ip = ch_inst_plugin(inst);
    const ch_plugin_ops *ops = ch_plugin_ops_get(ip);
    if (!ops->oauth_connect) {
        ch_instance_release(inst);
        if (err && errcap)
            snprintf(err, errcap, "plugin %s does not offer OAuth connect", ch_plugin_name(ip));
        return C360_EUNSUPPORTED;
    }

    c360_oauth_connect o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    c360_call call;
    ch_call_init(&call, ch_plugin_name(ip), ch_inst_instance(inst), request_id,
                 ch_admin_callback_timeout_ms(a));
    st = ch_status_normalise(ops->oauth_connect(&call, ch_plugin_data(ip), ch_inst_data(inst), &o));
    /* Copy right away, before the instance can be released and closed:
     * the strings may live in its instance_data. */
    if (st == C360_OK) {
        st = copy_answer(&o, out, err, errcap);
    } else if (err && errcap) {
        if (st == C360_EUNSUPPORTED)
            snprintf(err, errcap, "plugin %s does not connect this connection by OAuth%s%s",
                     ch_plugin_name(ip), call.error[0] ? ": " : "", call.error);
        else
            snprintf(err, errcap, "oauth_connect: %s%s%s", c360_strstatus(st),
                     call.error[0] ? ": " : "", call.error);
    }
    /* Handed back by the plugin (ABI: a host->secret_get value, released
     * by the host whatever the callback returned). */
    if (o.host_secret) ch_secret_value_free(o.host_secret);
    sodium_memzero(&o, sizeof o);
    ch_call_done(&call);
    ch_instance_release(inst);
    if (st != C360_OK) {
        ch_log(CH_LOG_WARN, "oauth connect: the plugin gave no usable answer", "tenant",
               conn->tenant, "connection", conn->id, "plugin", conn->plugin, "status",
               c360_strstatus(st), "error", err && errcap ? err : "", "req", request_id, NULL);
        ch_oc_conf_clear(out);
    }
    return caller_status(st);
}

/* ---- URLs --------------------------------------------------------------- */

static void append(char **buf, size_t *len, const char *s, size_t n)
{
    *buf = ch_realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void append_s(char **buf, size_t *len, const char *s) { append(buf, len, s, strlen(s)); }

void ch_oc_url_append_enc(char **buf, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    *buf = ch_realloc(*buf, *len + 3 * n + 1);
    char *w = *buf + *len;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            *w++ = (char)*c;
        } else {
            *w++ = '%';
            *w++ = hex[*c >> 4];
            *w++ = hex[*c & 15];
        }
    }
    *w = '\0';
    *len = (size_t)(w - *buf);
}

static void param(char **buf, size_t *len, const char *name, const char *value)
{
    append_s(buf, len, "&");
    append_s(buf, len, name);
    append_s(buf, len, "=");
    ch_oc_url_append_enc(buf, len, value);
}

char *ch_oc_redirect_uri(const ch_admin *a)
{
    return ch_asprintf("%s%s", ch_admin_public_url(a), CH_OC_CALLBACK_PATH);
}

/* The separator that starts our parameters after base: '?' if it has no
 * query yet, nothing if it ends in '?' or '&', else '&'. */
static const char *query_sep(const char *base)
{
    size_t n = strlen(base);
    if (!strchr(base, '?')) return "?";
    return n && (base[n - 1] == '?' || base[n - 1] == '&') ? "" : "&";
}

char *ch_oc_authorize_url(const ch_oc_conf *c, const char *redirect_uri, const char *state,
                          const char *challenge)
{
    char *buf = NULL;
    size_t len = 0;
    append_s(&buf, &len, c->authorize_url);
    append_s(&buf, &len, query_sep(c->authorize_url));
    append_s(&buf, &len, "response_type=code");
    param(&buf, &len, "client_id", c->client_id);
    param(&buf, &len, "redirect_uri", redirect_uri);
    if (c->scope) param(&buf, &len, "scope", c->scope);
    param(&buf, &len, "state", state);
    if (challenge && challenge[0]) {
        param(&buf, &len, "code_challenge", challenge);
        param(&buf, &len, "code_challenge_method", "S256");
    }
    if (c->extra) {
        append_s(&buf, &len, "&");
        append_s(&buf, &len, c->extra);
    }
    return buf;
}

int ch_oc_return_url_valid(const char *u, const char **why)
{
    /* Plain http is the customer's choice for its own page (an intranet
     * tool): allowed, unlike for a provider's endpoints. */
    const char *w = url_problem(u, CH_OC_RETURN_URL_MAX, 0);
    if (why) *why = w;
    return w == NULL;
}

char *ch_oc_return_url_with(const char *u, const char *status, const char *conn,
                            const char *error)
{
    char *buf = NULL;
    size_t len = 0;
    append_s(&buf, &len, u);
    append_s(&buf, &len, query_sep(u));
    append_s(&buf, &len, "status=");
    ch_oc_url_append_enc(&buf, &len, status);
    param(&buf, &len, "connection", conn);
    if (error && error[0]) param(&buf, &len, "error", error);
    return buf;
}
