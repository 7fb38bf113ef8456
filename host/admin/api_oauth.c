/* api_oauth.c -- OAuth connect (docs/api/oauth.md):
 *
 *   POST /v1/tenants/{tenant}/connections/{conn}/oauth/start   tenant_admin
 *   GET  /oauth/callback                                       public
 *
 * start asks the connection's plugin (oauth_connect, ABI 1.3) where its
 * provider's authorisation endpoint is, makes a signed single-use state
 * and answers the URL to send the customer to. The provider sends the
 * customer back to the callback with a code (or an error) and the state;
 * the callback checks and uses up the state, exchanges the code through
 * the OAuth service (which seals the tokens), reactivates the connection
 * and audits the outcome. The callback's answers never hold a token, a
 * code, a secret or an internal error; pages escape everything they show.
 * The mechanics are in oauth_connect.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "apikeys.h"
#include "audit.h"
#include "conns.h"
#include "loader.h"
#include "log.h"
#include "oauth.h"
#include "oauth_connect.h"
#include "util.h"

#define CODE_MAX 4096        /* an authorisation code, as received */
#define PROVIDER_ERROR_MAX 64

/* ---- answers of the callback --------------------------------------------- */

/* Whether the caller wants a page rather than JSON. api.h does not carry
 * the request's Accept header (yet): until it does, every answer is JSON.
 * Browsers reach the callback through a provider's redirect and send
 * "Accept: text/html,..."; with the header this becomes
 * strstr(accept, "text/html") != NULL. */
/* A browser at the end of a consent gets a page; a program gets JSON. */
static int wants_html(const ch_actx *x)
{
    return x->accept && strstr(x->accept, "text/html") != NULL;
}

typedef struct sbuf {
    char *p;
    size_t len;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    b->p = ch_realloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_s(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* s with & < > " ' escaped: safe in element content and attributes. */
static void put_html(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': put_s(b, "&amp;"); break;
        case '<': put_s(b, "&lt;"); break;
        case '>': put_s(b, "&gt;"); break;
        case '"': put_s(b, "&quot;"); break;
        case '\'': put_s(b, "&#39;"); break;
        default: put(b, s, 1); break;
        }
    }
}

/* A short page: a title and one sentence, both escaped; nothing loaded
 * from anywhere (the URL of this page holds the code until it is used). */
static void page(ch_actx *x, int status, const char *title, const char *text)
{
    sbuf b = {0};
    put_s(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
              "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    put_html(&b, title);
    put_s(&b, "</title></head>\n<body style=\"font-family:sans-serif;max-width:36em;"
              "margin:3em auto\"><h1>");
    put_html(&b, title);
    put_s(&b, "</h1>\n<p>");
    put_html(&b, text);
    put_s(&b, "</p>\n</body></html>\n");
    ch_aheader(x, "Content-Security-Policy",
               "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    ch_areply_raw(x, status, "text/html; charset=utf-8", b.p, b.len);
    free(b.p);
}

/* Every callback answer: never cached, and the URL (which holds the code)
 * never sent on as a Referer. (Pages also forbid framing, in their CSP.) */
static void callback_headers(ch_actx *x)
{
    ch_aheader(x, "Cache-Control", "no-store");
    ch_aheader(x, "Referrer-Policy", "no-referrer");
}

/* A failed callback: a page or the error JSON. */
static void fail(ch_actx *x, int status, const char *code, const char *msg)
{
    callback_headers(x);
    if (wants_html(x)) {
        char text[700];
        snprintf(text, sizeof text, "%s (request %s)", msg, x->request_id ? x->request_id : "-");
        page(x, status, "Connection failed", text);
        return;
    }
    ch_aerr(x, status, code, "%s", msg);
}

/* 303 to the customer's page with the outcome in its query. */
static void back_to(ch_actx *x, const char *return_url, const char *status, const char *conn,
                    const char *error)
{
    char *loc = ch_oc_return_url_with(return_url, status, conn, error);
    callback_headers(x);
    ch_aheader(x, "Location", loc);
    free(loc);
    ch_areply(x, 303, NULL);
}

/* The OAuth error code a provider sent, cut to [A-Za-z0-9_.-]. */
static void clean_code(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 1 < cap; in++)
        if ((*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
            (*in >= '0' && *in <= '9') || *in == '_' || *in == '-' || *in == '.')
            out[n++] = *in;
    out[n] = '\0';
    if (!n) snprintf(out, cap, "unknown");
}

/* Audits the callback's outcome in the state's tenant, as the key that
 * started the flow (the callback itself is unauthenticated). */
static void audit_connect(ch_actx *x, const ch_oc_state *st, const char *token_name,
                          const char *outcome)
{
    char target[CH_ID_MAX + 8];
    snprintf(target, sizeof target, "oauth:%s", token_name ? token_name : "default");
    ch_audit_entry e = {.tenant = st->tenant, .actor = st->actor, .connection = st->conn,
                        .action = "oauth.connect", .target = target, .outcome = outcome,
                        .request_id = x->request_id};
    int32_t rc = ch_audit_append(&e, NULL);
    if (rc != C360_OK)
        ch_log(CH_LOG_ERROR, "oauth connect: cannot write the audit entry", "tenant", st->tenant,
               "connection", st->conn, "status", c360_strstatus(rc), "req", x->request_id, NULL);
}

/* ---- POST .../oauth/start ------------------------------------------------- */

static void start_plugin_error(ch_actx *x, int32_t st, const char *conn, const char *err)
{
    switch (st) {
    case C360_EUNSUPPORTED:
        ch_aerr(x, 422, "oauth_not_supported", "%s", err);
        return;
    case C360_ENOTFOUND:
        ch_aerr(x, 404, "not_found", "connection %s not found", conn);
        return;
    case C360_EINVAL:
        ch_aerr(x, 422, "oauth_not_ready", "%s", err);
        return;
    case C360_RETRY:
    case C360_EIO:
    case C360_ETIMEOUT:
        ch_aheader(x, "Retry-After", "1");
        ch_aerr(x, 503, "unavailable", "%s", err);
        return;
    default:
        ch_aerr(x, 500, "plugin_error", "%s", err);
        return;
    }
}

static void oauth_start(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"return_url", CH_AF_STRING, 0, CH_OC_RETURN_URL_MAX},
        {NULL, 0, 0, 0},
    };
    const char *cid = ch_aparam(x, "conn");
    json_t *body = NULL;
    const char *return_url = NULL;
    if (x->body_len > 0) {
        if (!(body = ch_abody(x, fields))) return;
        return_url = json_string_value(json_object_get(body, "return_url"));
        const char *why = NULL;
        if (return_url && !ch_oc_return_url_valid(return_url, &why)) {
            char msg[160];
            snprintf(msg, sizeof msg, "return_url %s", why);
            ch_aerr_details(x, 422, "validation", "the request body is invalid",
                            json_pack("[{s:s, s:s}]", "path", "/return_url", "message", msg));
            json_decref(body);
            return;
        }
    }

    ch_conn *c = NULL;
    int32_t st = ch_conn_get(x->tenant, cid, &c);
    if (st != C360_OK) {
        char what[CH_ID_MAX + 16];
        snprintf(what, sizeof what, "connection %s", cid);
        ch_aerr_status(x, st, what);
        json_decref(body);
        return;
    }
    if (strcmp(c->state, CH_CONN_STATE_DISABLED) == 0) {
        ch_aerr(x, 409, "connection_disabled", "connection %s is disabled", cid);
        goto out;
    }

    if (!ch_loader_find(ch_admin_loader(x->admin), c->plugin)) {
        ch_aheader(x, "Retry-After", "60");
        ch_aerr(x, 503, "plugin_unavailable", "plugin %s is not loaded on this host", c->plugin);
        goto out;
    }

    ch_oc_conf conf;
    char err[700];
    st = ch_oc_conf_get(x->admin, c, x->request_id, &conf, err, sizeof err);
    if (st != C360_OK) {
        if (st != C360_EUNSUPPORTED && st != C360_ENOTFOUND) {
            char outcome[64];
            snprintf(outcome, sizeof outcome, "error:%s", c360_strstatus(st));
            for (char *p = outcome; *p; p++)
                if (*p == ' ') *p = '_';
            ch_aaudit(x, x->tenant, cid, "oauth.start", "oauth:default", outcome);
        }
        start_plugin_error(x, st, cid, err);
        goto out;
    }

    char state[CH_OC_STATE_MAX + 1], challenge[CH_OC_VERIFIER_LEN + 1];
    int64_t expires_ms = 0;
    st = ch_oc_state_new(x->tenant, cid, x->who.actor, conf.pkce, return_url, state, sizeof state,
                         challenge, sizeof challenge, &expires_ms);
    if (st != C360_OK) {
        ch_oc_conf_clear(&conf);
        if (st == C360_EUNSUPPORTED) {
            ch_aerr(x, 503, "unavailable", "OAuth connect is not configured on this host (no keyring)");
        } else {
            ch_aerr_status(x, st, "the OAuth state");
        }
        goto out;
    }
    char *redirect = ch_oc_redirect_uri(x->admin);
    char *url = ch_oc_authorize_url(&conf, redirect, state, challenge);
    char target[CH_ID_MAX + 8];
    snprintf(target, sizeof target, "oauth:%s", ch_oc_conf_token_name(&conf));
    ch_aaudit(x, x->tenant, cid, "oauth.start", target, "ok");
    ch_aheader(x, "Cache-Control", "no-store");
    ch_areply(x, 200, json_pack("{s:s, s:I}", "authorize_url", url, "state_expires_ms",
                                (json_int_t)expires_ms));
    free(url);
    free(redirect);
    ch_oc_conf_clear(&conf);
out:
    ch_conn_free(c);
    json_decref(body);
}

/* ---- GET /oauth/callback ----------------------------------------------- */

/* The key that started the flow must still be valid: a revoked key's flow
 * does not complete. 0 ok, else answered. */
static int actor_still_valid(ch_actx *x, const ch_oc_state *st)
{
    if (strncmp(st->actor, "apikey:", 7) != 0) return 0;
    ch_apikey_info k;
    int32_t rc = ch_apikey_get(st->actor + 7, &k);
    if (rc == C360_OK && k.revoked_ms == 0) return 0;
    if (rc == C360_EIO) {
        fail(x, 503, "unavailable", "The service is unavailable; please try connecting again later.");
        return -1;
    }
    audit_connect(x, st, NULL, "denied:key_revoked");
    fail(x, 403, "forbidden", "The API key that started this connection is no longer valid.");
    return -1;
}

/* After the state is used up: the connection, the plugin's token endpoint,
 * the exchange, the connection's state. Answers. */
static void finish(ch_actx *x, const ch_oc_state *st, const char *code, const char *verifier,
                   const char *return_url)
{
    ch_conn *c = NULL;
    int32_t rc = ch_conn_get(st->tenant, st->conn, &c);
    if (rc != C360_OK) {
        audit_connect(x, st, NULL, rc == C360_ENOTFOUND ? "error:connection_gone" : "error:store");
        if (return_url[0]) {
            back_to(x, return_url, "error", st->conn, rc == C360_ENOTFOUND ? "not_found" : "unavailable");
        } else if (rc == C360_ENOTFOUND) {
            fail(x, 404, "not_found", "The connection no longer exists.");
        } else {
            fail(x, 503, "unavailable", "The service is unavailable; please try connecting again later.");
        }
        return;
    }

    /* A disabled connection is being disconnected (or was): no tokens for
     * it, they would outlive its purge. */
    if (strcmp(c->state, CH_CONN_STATE_DISABLED) == 0) {
        audit_connect(x, st, NULL, "error:connection_disabled");
        if (return_url[0]) back_to(x, return_url, "error", st->conn, "disabled");
        else fail(x, 409, "connection_disabled", "The connection is disabled.");
        ch_conn_free(c);
        return;
    }

    ch_oc_conf conf;
    char err[700];
    rc = ch_oc_conf_get(x->admin, c, x->request_id, &conf, err, sizeof err);
    if (rc != C360_OK) {
        char outcome[64];
        snprintf(outcome, sizeof outcome, "error:plugin_%d", (int)rc);
        audit_connect(x, st, NULL, outcome);
        if (return_url[0])
            back_to(x, return_url, "error", st->conn, "plugin_error");
        else
            fail(x, 502, "plugin_error",
                 "The connector could not complete the connection; please try again later.");
        ch_conn_free(c);
        return;
    }

    char *redirect = ch_oc_redirect_uri(x->admin);
    c360_oauth_params p = conf.token;
    p.grant = C360_GRANT_AUTHORIZATION_CODE;
    p.code = code;
    p.redirect_uri = redirect;
    p.code_verifier = verifier[0] ? verifier : NULL;
    char xerr[400] = "";
    rc = ch_oauth_exchange(st->tenant, st->conn, c->plugin, &p, xerr, sizeof xerr);
    free(redirect);
    char token_name[CH_ID_MAX + 1];
    snprintf(token_name, sizeof token_name, "%s", ch_oc_conf_token_name(&conf));
    ch_oc_conf_clear(&conf);
    if (rc != C360_OK) {
        ch_log(CH_LOG_WARN, "oauth connect: the code exchange failed", "tenant", st->tenant,
               "connection", st->conn, "status", c360_strstatus(rc), "error", xerr, "req",
               x->request_id, NULL);
        char outcome[64];
        snprintf(outcome, sizeof outcome, "error:exchange_%s",
                 rc == C360_EAUTH ? "refused" : rc == C360_ERROR ? "rejected" : "unavailable");
        audit_connect(x, st, token_name, outcome);
        if (return_url[0]) {
            back_to(x, return_url, "error", st->conn, "exchange_failed");
        } else {
            char msg[600];
            if (rc == C360_EAUTH)
                snprintf(msg, sizeof msg, "The provider refused the authorisation code (it may "
                                          "have expired or been used already). Please connect again.");
            else if (rc == C360_ERROR)
                snprintf(msg, sizeof msg, "The provider refused the token request: %s", xerr);
            else
                snprintf(msg, sizeof msg, "The provider could not be reached; please connect "
                                          "again later.");
            fail(x, 502, "oauth_exchange_failed", msg);
        }
        ch_conn_free(c);
        return;
    }

    /* A disconnect that began while the code was exchanged has purged (or
     * is purging) the connection: the tokens just stored must not outlive
     * it. */
    ch_conn *now = NULL;
    int32_t nrc = ch_conn_get(st->tenant, st->conn, &now);
    if (nrc == C360_ENOTFOUND || (nrc == C360_OK && strcmp(now->state, CH_CONN_STATE_DISABLED) == 0)) {
        ch_conn_free(now);
        (void)ch_oauth_forget_connection(st->tenant, st->conn);
        audit_connect(x, st, token_name, "error:connection_disabled");
        if (return_url[0]) back_to(x, return_url, "error", st->conn, "disabled");
        else fail(x, 409, "connection_disabled", "The connection was disconnected meanwhile.");
        ch_conn_free(c);
        return;
    }
    ch_conn_free(now);

    /* Connected: a connection waiting for (re-)authorisation, or failing,
     * is active again. A paused or disabled one keeps its state: the
     * customer paused it, and a disabled one is being deleted. */
    int reactivate = strcmp(c->state, CH_CONN_STATE_NEEDS_REAUTH) == 0 ||
                     strcmp(c->state, CH_CONN_STATE_FAILING) == 0 ||
                     (strcmp(c->state, CH_CONN_STATE_ACTIVE) == 0 && c->cause[0]);
    if (reactivate) {
        rc = ch_conn_set_state(st->tenant, st->conn, CH_CONN_STATE_ACTIVE, "", st->actor,
                               x->request_id);
        if (rc != C360_OK)
            ch_log(CH_LOG_ERROR, "oauth connect: tokens stored, but the connection was not "
                                 "reactivated", "tenant", st->tenant, "connection", st->conn,
                   "status", c360_strstatus(rc), "req", x->request_id, NULL);
    }
    audit_connect(x, st, token_name, "ok");
    ch_log(CH_LOG_INFO, "oauth connect: connected", "tenant", st->tenant, "connection", st->conn,
           "plugin", c->plugin, "req", x->request_id, NULL);
    ch_conn_free(c);

    if (return_url[0]) {
        back_to(x, return_url, "connected", st->conn, NULL);
        return;
    }
    callback_headers(x);
    if (wants_html(x)) {
        char text[300];
        snprintf(text, sizeof text, "The connection %s is connected. You can close this window.",
                 st->conn);
        page(x, 200, "Connected", text);
        return;
    }
    ch_areply(x, 200, json_pack("{s:b, s:s, s:s}", "connected", 1, "tenant", st->tenant,
                                "connection", st->conn));
}

static void oauth_callback(ch_actx *x)
{
    char state_text[CH_OC_STATE_MAX + 1], perr[PROVIDER_ERROR_MAX + 1], raw_err[256];
    char *code = sodium_malloc(CODE_MAX + 1);
    if (!code) abort();
    int hs = ch_aquery(x, "state", state_text, sizeof state_text);
    int hc = ch_aquery(x, "code", code, CODE_MAX + 1);
    int he = ch_aquery(x, "error", raw_err, sizeof raw_err);
    if (hs < 0 || hc < 0 || he < 0) {
        fail(x, 400, "bad_query", "The request is malformed (a parameter is badly encoded or too long).");
        goto out;
    }
    if (he > 0) clean_code(raw_err, perr, sizeof perr);

    if (hs == 0 || !state_text[0]) {
        if (he > 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "The authorisation was not granted (%s). Nothing was changed.", perr);
            fail(x, 400, "oauth_denied", msg);
        } else {
            fail(x, 400, "invalid_state", "The request has no state: start connecting again.");
        }
        goto out;
    }

    ch_oc_state st;
    switch (ch_oc_state_check(state_text, &st)) {
    case CH_OC_OK:
        break;
    case CH_OC_EXPIRED:
        audit_connect(x, &st, NULL, "error:state_expired");
        fail(x, 400, "state_expired", "This authorisation request has expired: start connecting again.");
        goto out;
    case CH_OC_UNAVAILABLE:
        fail(x, 503, "unavailable", "The service is unavailable; please try connecting again later.");
        goto out;
    default:
        ch_log(CH_LOG_WARN, "oauth connect: a callback with a bad state", "ip",
               x->remote_ip ? x->remote_ip : "-", "req", x->request_id, NULL);
        fail(x, 400, "invalid_state", "The state of this request is not valid: start connecting again.");
        goto out;
    }

    char verifier[CH_OC_VERIFIER_LEN + 1], return_url[CH_OC_RETURN_URL_MAX + 1];
    switch (ch_oc_state_take(&st, verifier, sizeof verifier, return_url, sizeof return_url)) {
    case CH_OC_OK:
        break;
    case CH_OC_USED:
        audit_connect(x, &st, NULL, "error:state_used");
        fail(x, 400, "state_used", "This authorisation request was already used: start connecting again.");
        goto out;
    case CH_OC_UNAVAILABLE:
        fail(x, 503, "unavailable", "The service is unavailable; please try connecting again later.");
        goto out;
    default:
        fail(x, 400, "invalid_state", "The state of this request is not valid: start connecting again.");
        goto out;
    }

    /* From here the state is used up: whatever happens, the customer
     * starts again for another try. */
    if (he > 0) {
        char outcome[PROVIDER_ERROR_MAX + 16];
        snprintf(outcome, sizeof outcome, "error:%s", perr);
        audit_connect(x, &st, NULL, outcome);
        if (return_url[0]) {
            back_to(x, return_url, "error", st.conn, perr);
        } else {
            char msg[200];
            snprintf(msg, sizeof msg, "The authorisation was not granted (%s). The connection is unchanged.", perr);
            fail(x, 400, "oauth_denied", msg);
        }
    } else if (hc == 0 || !code[0]) {
        audit_connect(x, &st, NULL, "error:missing_code");
        if (return_url[0])
            back_to(x, return_url, "error", st.conn, "missing_code");
        else
            fail(x, 400, "missing_code", "The provider sent no authorisation code: start connecting again.");
    } else if (actor_still_valid(x, &st) == 0) {
        finish(x, &st, code, verifier, return_url);
    }
    sodium_memzero(verifier, sizeof verifier);
out:
    sodium_free(code);
}

const ch_aroute ch_api_oauth_routes[] = {
    {"POST", "/v1/tenants/{tenant}/connections/{conn}/oauth/start", CH_ROLE_TENANT_ADMIN,
     oauth_start, 0, "Start connecting a connection by OAuth: the provider's authorisation URL"},
    {"GET", "/oauth/callback", CH_ROLE_NONE, oauth_callback, CH_AR_PUBLIC,
     "Where the provider sends the customer back after an OAuth authorisation"},
    {0},
};
