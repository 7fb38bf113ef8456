/* oauth.c -- see oauth.h. */
#include "oauth.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "call.h"
#include "connstatus.h"
#include "keys.h"
#include "log.h"
#include "oauth_grant.h"
#include "oauth_store.h"
#include "rconn.h"
#include "secrets.h"

#define PARAM_STR_MAX 8192  /* any one string of c360_oauth_params */
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 250

/* ------------------------------------------------------------------------ */
/* Settings                                                                  */
/* ------------------------------------------------------------------------ */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static ch_oauth_settings g_set;
static int g_set_done;

void ch_oauth_settings_default(ch_oauth_settings *s)
{
    s->refresh_margin_s = 300;
    s->lease_ms = 45000;
    s->wait_ms = 50000;
    s->invalid_grant_grace_ms = 2000;
    s->endpoint_timeout_ms = 30000;
    s->max_token_response = 64 * 1024;
}

void ch_oauth_configure(const ch_oauth_settings *s)
{
    ch_oauth_settings d, v;
    ch_oauth_settings_default(&d);
    v = s ? *s : d;
    if (!v.refresh_margin_s) v.refresh_margin_s = d.refresh_margin_s;
    if (!v.lease_ms) v.lease_ms = d.lease_ms;
    if (!v.wait_ms) v.wait_ms = d.wait_ms;
    /* A grace of 0 is a legitimate choice (tests of the dead path). */
    if (!v.endpoint_timeout_ms) v.endpoint_timeout_ms = d.endpoint_timeout_ms;
    if (!v.max_token_response) v.max_token_response = d.max_token_response;
    pthread_mutex_lock(&g_lock);
    g_set = v;
    g_set_done = 1;
    pthread_mutex_unlock(&g_lock);
}

static void settings_get(ch_oauth_settings *out)
{
    pthread_mutex_lock(&g_lock);
    if (!g_set_done) {
        ch_oauth_settings_default(&g_set);
        g_set_done = 1;
    }
    *out = g_set;
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------------------------ */
/* One call's context                                                        */
/* ------------------------------------------------------------------------ */

/* The version of the token this thread last handed out, for
 * ch_oauth_token_rejected: a plugin calls oauth_token and then, on the same
 * worker thread, reports the rejection. */
static _Thread_local struct {
    char tenant[CH_ID_MAX + 1], conn[CH_ID_MAX + 1], name[CH_OAUTH_NAME_MAX + 1];
    uint64_t version;
} t_last;

typedef struct ctx {
    const char *tenant, *conn, *plugin, *name;
    c360_oauth_params p;
    ch_oauth_settings set;
    int64_t margin_ms;
    char *err;
    size_t errcap;
    char ebuf[400];
} ctx;

static int32_t say(ctx *c, int32_t rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int32_t say(ctx *c, int32_t rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errcap, fmt, ap);
    va_end(ap);
    return rc;
}

static int str_ok(const char *s) { return !s || strnlen(s, PARAM_STR_MAX + 1) <= PARAM_STR_MAX; }

static int credentials_grant(int32_t g)
{
    return g == C360_GRANT_CLIENT_CREDENTIALS || g == C360_GRANT_ACCOUNT_CREDENTIALS;
}

/* Validates the scope and copies params (fields beyond the caller's
 * struct_size read as 0: an older plugin). */
static int32_t ctx_init(ctx *c, const char *tenant, const char *conn, const char *plugin,
                        const c360_oauth_params *in, const char *name, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    c->err = err && errcap ? err : c->ebuf;
    c->errcap = err && errcap ? errcap : sizeof c->ebuf;
    c->err[0] = '\0';
    c->tenant = tenant;
    c->conn = conn;
    c->plugin = plugin ? plugin : "";
    settings_get(&c->set);
    if (!ch_id_valid(tenant) || !ch_id_valid(conn))
        return say(c, C360_EINVAL, "invalid tenant or connection id");
    if (in) {
        if (in->struct_size < offsetof(c360_oauth_params, token_url) + sizeof in->token_url)
            return say(c, C360_EINVAL, "oauth params: struct_size too small");
        memcpy(&c->p, in, in->struct_size < sizeof c->p ? in->struct_size : sizeof c->p);
        name = c->p.token_name;
        const char *strs[] = {c->p.token_url, c->p.client_id, c->p.client_secret, c->p.scope,
                              c->p.code, c->p.redirect_uri, c->p.code_verifier, c->p.account_id};
        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
            if (!str_ok(strs[i])) return say(c, C360_EINVAL, "oauth params: a string is too long");
        if (c->p.grant < C360_GRANT_AUTHORIZATION_CODE || c->p.grant > C360_GRANT_ACCOUNT_CREDENTIALS)
            return say(c, C360_EINVAL, "oauth params: unknown grant %d", (int)c->p.grant);
        if (c->p.auth != C360_OAUTH_AUTH_BODY && c->p.auth != C360_OAUTH_AUTH_BASIC)
            return say(c, C360_EINVAL, "oauth params: unknown client auth %d", (int)c->p.auth);
        if (!c->p.token_url || !c->p.client_id)
            return say(c, C360_EINVAL, "oauth params: token_url and client_id are required");
    }
    c->name = name ? name : "default";
    if (!ch_oauth_name_valid(c->name))
        return say(c, C360_EINVAL, "invalid token name (1..64 of [A-Za-z0-9_-])");
    uint32_t m = in && c->p.refresh_margin_s ? c->p.refresh_margin_s : c->set.refresh_margin_s;
    c->margin_ms = (int64_t)m * 1000;
    return C360_OK;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Fresh: not within the margin of expiry. The margin is capped at half the
 * token's lifetime, or a token living less than the margin would be
 * refreshed on every call. */
static int is_fresh(const ctx *c, const ch_oauth_meta *m, int64_t now)
{
    if (!m->version) return 0;
    if (!m->expires_at_ms) return 1;
    int64_t margin = c->margin_ms;
    int64_t life = m->expires_at_ms - m->obtained_at_ms;
    if (life > 0 && margin > life / 2) margin = life / 2;
    return now < m->expires_at_ms - margin;
}

static int is_unexpired(const ch_oauth_meta *m, int64_t now)
{
    return m->version && (!m->expires_at_ms || now < m->expires_at_ms);
}

/* ------------------------------------------------------------------------ */
/* Handing out, and the dead path                                            */
/* ------------------------------------------------------------------------ */

static void remember(const ctx *c, uint64_t version)
{
    snprintf(t_last.tenant, sizeof t_last.tenant, "%s", c->tenant);
    snprintf(t_last.conn, sizeof t_last.conn, "%s", c->conn);
    snprintf(t_last.name, sizeof t_last.name, "%s", c->name);
    t_last.version = version;
}

/* Moves rec's access token to the caller. */
static int32_t give(ctx *c, uint64_t version, ch_oauth_record *rec, char **token, int64_t *exp)
{
    *token = rec->access_token;
    rec->access_token = NULL;
    if (exp) *exp = rec->expires_at_ms;
    remember(c, version);
    ch_oauth_record_clear(rec);
    return C360_OK;
}

/* Reads a blob; secrets' C360_EAUTH (does not open: tampered, or sealed
 * for something else) is a storage fault, not a dead grant. */
static int32_t read_blob(ctx *c, const ch_oauth_meta *m, ch_oauth_record *rec)
{
    char e[200] = "";
    int32_t rc = ch_oauth_blob_read(c->tenant, c->conn, c->name, m->sid, rec, e, sizeof e);
    if (rc == C360_EAUTH) return say(c, C360_ERROR, "stored token does not open: %s", e);
    if (rc != C360_OK && rc != C360_ENOTFOUND) return say(c, rc, "stored token: %s", e);
    return rc;
}

/* Hands out the token m points at. C360_ENOTFOUND: superseded meanwhile. */
static int32_t hand_out(ctx *c, const ch_oauth_meta *m, char **token, int64_t *exp)
{
    ch_oauth_record rec;
    int32_t rc = read_blob(c, m, &rec);
    if (rc != C360_OK) return rc;
    return give(c, m->version, &rec, token, exp);
}

static int32_t dead_answer(ctx *c, const ch_oauth_meta *m)
{
    return say(c, C360_EAUTH, "connection needs re-authorisation: %s",
               m->dead_cause[0] ? m->dead_cause : "token is dead");
}

/* Token outcomes go to the tenant's audit log: refreshes, exchanges, deaths
 * (ids and codes only, never a token). */
static void audit_oauth(const ctx *c, const char *actor, const char *action, const char *outcome)
{
    char target[CH_OAUTH_NAME_MAX + 8];
    snprintf(target, sizeof target, "oauth:%s", c->name);
    ch_audit_entry e = {.tenant = c->tenant, .actor = actor, .connection = c->conn,
                        .action = action, .target = target, .outcome = outcome};
    int32_t rc = ch_audit_append(&e, NULL);
    if (rc != C360_OK)
        ch_log(CH_LOG_ERROR, "oauth: audit append failed", "tenant", c->tenant, "connection",
               c->conn, "status", c360_strstatus(rc), NULL);
}

static void audit_dead(const ctx *c, const char *actor, const char *code)
{
    char outcome[CH_OAUTH_ERRCODE_MAX + 8];
    snprintf(outcome, sizeof outcome, "error:%s", code && code[0] ? code : "dead");
    audit_oauth(c, actor, "oauth.needs_reauth", outcome);
}

static void audit_status(const ctx *c, const char *action, int32_t rc)
{
    char outcome[64];
    if (rc == C360_OK) snprintf(outcome, sizeof outcome, "ok");
    else snprintf(outcome, sizeof outcome, "error:%s", c360_strstatus(rc));
    audit_oauth(c, "system", action, outcome);
}

/* Marks the token of version m->version dead. C360_EAUTH when done;
 * C360_ECONFLICT when a newer token arrived first (the caller uses it). */
static int32_t kill_token(ctx *c, const ch_oauth_meta *m, const char *cause, const char *code,
                          const char *actor)
{
    char cz[CH_OAUTH_CAUSE_MAX];
    snprintf(cz, sizeof cz, "%s", cause);
    int32_t rc = ch_oauth_mark_dead(c->tenant, c->conn, c->name, m->version, cz);
    if (rc == C360_ECONFLICT) return rc;
    if (rc != C360_OK) return say(c, rc, "cannot record the dead token: %s", ch_rconn_error());
    int32_t src = ch_connstatus_set(c->tenant, c->conn, CH_CONN_NEEDS_REAUTH, cz);
    if (src != C360_OK)
        ch_log(CH_LOG_ERROR, "oauth: connection status not updated", "tenant", c->tenant,
               "connection", c->conn, "status", c360_strstatus(src), NULL);
    audit_dead(c, actor, code);
    ch_log(CH_LOG_WARN, "oauth token needs re-authorisation", "tenant", c->tenant, "connection",
           c->conn, "plugin", c->plugin, "token", c->name, "cause", cz, NULL);
    return say(c, C360_EAUTH, "connection needs re-authorisation: %s", cz);
}

/* After kill_token lost to a newer token (or any "read what is there
 * now"): hands out the current token, or the dead answer. */
static int32_t current(ctx *c, char **token, int64_t *exp)
{
    for (int i = 0; i < 3; i++) {
        ch_oauth_meta m;
        if (ch_oauth_meta_read(c->tenant, c->conn, c->name, &m) != C360_OK)
            return say(c, C360_EIO, "token metadata: %s", ch_rconn_error());
        if (m.dead) return dead_answer(c, &m);
        if (!m.version) return say(c, C360_ENOTFOUND, "no token stored");
        int32_t rc = hand_out(c, &m, token, exp);
        if (rc != C360_ENOTFOUND) return rc;
    }
    return say(c, C360_RETRY, "token store kept changing");
}

/* The endpoint said the grant is dead. Another host may have rotated the
 * refresh token under us (a lease that expired mid-call): wait up to the
 * grace period for the version to move before declaring it dead. */
static int32_t grant_dead(ctx *c, const ch_oauth_meta *m, const char *code, char **token,
                          int64_t *exp)
{
    char cause[CH_OAUTH_CAUSE_MAX];
    snprintf(cause, sizeof cause, "%s", c->err);
    int64_t deadline = ch_monotonic_ms() + c->set.invalid_grant_grace_ms;
    for (;;) {
        ch_oauth_meta n;
        if (ch_oauth_meta_read(c->tenant, c->conn, c->name, &n) != C360_OK)
            return say(c, C360_EIO, "token metadata: %s", ch_rconn_error());
        if (n.dead) return dead_answer(c, &n);
        if (n.version != m->version) {
            ch_log(CH_LOG_INFO, "oauth: grant refused, but another host stored a new token",
                   "tenant", c->tenant, "connection", c->conn, "token", c->name, NULL);
            return current(c, token, exp);
        }
        int64_t left = deadline - ch_monotonic_ms();
        if (left <= 0) break;
        sleep_ms(left < 50 ? left : 50);
    }
    int32_t rc = kill_token(c, m, cause, code, "system");
    return rc == C360_ECONFLICT ? current(c, token, exp) : rc;
}

/* A transient failure: the current token while it still works, else rc. */
static int32_t fallback(ctx *c, const ch_oauth_meta *m, ch_oauth_record *cur, int32_t rc,
                        char **token, int64_t *exp)
{
    if (cur && cur->access_token && is_unexpired(m, ch_now_ms())) {
        ch_log(CH_LOG_WARN, "oauth refresh failed; the current token is still valid",
               "tenant", c->tenant, "connection", c->conn, "token", c->name, "error", c->err, NULL);
        c->err[0] = '\0';
        return give(c, m->version, cur, token, exp);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Refresh                                                                   */
/* ------------------------------------------------------------------------ */

static void grant_req_from(const ctx *c, ch_oauth_grant_req *g)
{
    memset(g, 0, sizeof *g);
    g->grant = c->p.grant;
    g->auth = c->p.auth;
    g->token_url = c->p.token_url;
    g->client_id = c->p.client_id;
    g->client_secret = c->p.client_secret;
    g->scope = c->p.scope;
    g->code = c->p.code;
    g->redirect_uri = c->p.redirect_uri;
    g->code_verifier = c->p.code_verifier;
    g->account_id = c->p.account_id;
    g->timeout_ms = c->set.endpoint_timeout_ms;
    g->max_response = c->set.max_token_response;
}

/* The record to store from an endpoint answer; prev is what was stored
 * (a refresh answer without refresh_token keeps the old one). Takes the
 * token strings from t. */
static void record_from(ch_oauth_tokens *t, ch_oauth_record *prev, ch_oauth_record *rec)
{
    int64_t now = ch_now_ms();
    memset(rec, 0, sizeof *rec);
    rec->access_token = t->access_token;
    t->access_token = NULL;
    if (t->refresh_token) {
        rec->refresh_token = t->refresh_token;
        t->refresh_token = NULL;
        rec->refresh_expires_at_ms = t->refresh_expires_in_s >= 0 ? now + t->refresh_expires_in_s * 1000 : 0;
    } else if (prev && prev->refresh_token) {
        rec->refresh_token = prev->refresh_token;
        prev->refresh_token = NULL;
        rec->refresh_expires_at_ms = t->refresh_expires_in_s >= 0 ? now + t->refresh_expires_in_s * 1000
                                                                  : prev->refresh_expires_at_ms;
    }
    snprintf(rec->token_type, sizeof rec->token_type, "%s", t->token_type);
    snprintf(rec->scope, sizeof rec->scope, "%s", t->scope);
    rec->obtained_at_ms = now;
    rec->expires_at_ms = t->expires_in_s >= 0 ? now + t->expires_in_s * 1000 : 0;
}

/* Commit, retried briefly on Redis errors: after a refresh the provider
 * has rotated the refresh token, and losing the new one costs the
 * customer a re-authorisation. */
static int32_t commit_retry(ctx *c, int64_t expected, const ch_oauth_record *rec,
                            ch_oauth_meta *after, int *was_dead)
{
    int32_t rc = C360_EIO;
    for (int i = 0; i < 3; i++) {
        char e[200] = "";
        rc = ch_oauth_commit(c->tenant, c->conn, c->name, expected, rec, after, was_dead, e, sizeof e);
        if (rc != C360_EIO) return rc;
        say(c, rc, "storing the token failed: %s", e);
        sleep_ms(100 << i);
    }
    return rc;
}

static void reactivate(const ctx *c)
{
    int changed = 0;
    ch_connstatus_transition(c->tenant, c->conn, CH_CONN_NEEDS_REAUTH, CH_CONN_ACTIVE,
                             "new authorisation stored", &changed);
}

/* Holding the lease: refresh once, commit against the version read here. */
static int32_t refresh_owned(ctx *c, char **token, int64_t *exp)
{
    ch_oauth_meta m;
    if (ch_oauth_meta_read(c->tenant, c->conn, c->name, &m) != C360_OK)
        return say(c, C360_EIO, "token metadata: %s", ch_rconn_error());
    if (m.dead) return dead_answer(c, &m);
    int64_t now = ch_now_ms();
    if (is_fresh(c, &m, now)) {
        int32_t rc = hand_out(c, &m, token, exp); /* refreshed before we got the lease */
        return rc == C360_ENOTFOUND ? current(c, token, exp) : rc;
    }
    ch_oauth_record cur = {0};
    if (m.version) {
        int32_t rc = read_blob(c, &m, &cur);
        if (rc == C360_ENOTFOUND) return current(c, token, exp);
        if (rc != C360_OK) return rc;
    }
    ch_oauth_grant_req g;
    grant_req_from(c, &g);
    if (!credentials_grant(c->p.grant)) {
        if (!m.version) return say(c, C360_ENOTFOUND, "no token stored: connect first");
        if (!cur.refresh_token) {
            if (is_unexpired(&m, now)) return give(c, m.version, &cur, token, exp);
            ch_oauth_record_clear(&cur);
            int32_t rc = kill_token(c, &m, "access token expired and there is no refresh token",
                                    "no_refresh_token", "system");
            return rc == C360_ECONFLICT ? current(c, token, exp) : rc;
        }
        if (m.refresh_expires_at_ms && now >= m.refresh_expires_at_ms) {
            ch_oauth_record_clear(&cur);
            int32_t rc = kill_token(c, &m, "refresh token expired", "refresh_token_expired", "system");
            return rc == C360_ECONFLICT ? current(c, token, exp) : rc;
        }
        g.grant = C360_GRANT_REFRESH_TOKEN;
        g.refresh_token = cur.refresh_token;
    }

    ch_oauth_tokens t;
    char code[CH_OAUTH_ERRCODE_MAX];
    int32_t rc = ch_oauth_grant_call(&g, &t, code, c->err, c->errcap);
    if (rc == C360_OK) {
        ch_oauth_record rec;
        record_from(&t, &cur, &rec);
        ch_oauth_tokens_clear(&t);
        ch_oauth_meta after;
        int was_dead = 0;
        rc = commit_retry(c, (int64_t)m.version, &rec, &after, &was_dead);
        ch_oauth_record_clear(&cur);
        if (rc == C360_OK) {
            if (was_dead) reactivate(c);
            ch_log(CH_LOG_DEBUG, "oauth token refreshed", "tenant", c->tenant, "connection",
                   c->conn, "token", c->name, NULL);
            audit_status(c, "oauth.refresh", C360_OK);
            return give(c, after.version, &rec, token, exp);
        }
        ch_oauth_record_clear(&rec);
        if (rc == C360_ECONFLICT) return current(c, token, exp); /* a newer write won */
        return rc;
    }
    if (rc == C360_EAUTH) {
        ch_oauth_record_clear(&cur);
        return grant_dead(c, &m, code, token, exp);
    }
    /* Transient or not, the others waiting on this refresh stop waiting. */
    ch_oauth_mark_failed(c->tenant, c->conn, c->name, m.version, rc);
    audit_status(c, "oauth.refresh", rc);
    rc = fallback(c, &m, &cur, rc, token, exp);
    ch_oauth_record_clear(&cur);
    return rc;
}

/* Takes the lease or waits for whoever has it. */
static int32_t refresh_flight(ctx *c, const ch_oauth_meta *seen_in, char **token, int64_t *exp)
{
    ch_oauth_meta seen = *seen_in;
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    char owner[33];
    sodium_bin2hex(owner, sizeof owner, rnd, sizeof rnd);
    int64_t start_wall = ch_now_ms();
    int64_t deadline = ch_monotonic_ms() + c->set.wait_ms;
    int64_t backoff = BACKOFF_MIN_MS;
    for (;;) {
        int got = ch_oauth_lease_take(c->tenant, c->conn, c->name, owner, c->set.lease_ms);
        if (got < 0) return say(c, C360_EIO, "refresh lease: %s", ch_rconn_error());
        if (got == 1) {
            int32_t rc = refresh_owned(c, token, exp);
            ch_oauth_lease_release(c->tenant, c->conn, c->name, owner);
            return rc;
        }
        int64_t left = deadline - ch_monotonic_ms();
        if (left <= 0) {
            say(c, C360_RETRY, "a token refresh on another host did not finish in %u ms",
                (unsigned)c->set.wait_ms);
            if (is_unexpired(&seen, ch_now_ms())) {
                int32_t rc = hand_out(c, &seen, token, exp);
                if (rc == C360_OK) c->err[0] = '\0';
                if (rc != C360_ENOTFOUND) return rc;
            }
            return C360_RETRY;
        }
        int64_t nap = backoff + (int64_t)randombytes_uniform((uint32_t)backoff / 2 + 1);
        sleep_ms(nap < left ? nap : left);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;

        ch_oauth_meta m;
        if (ch_oauth_meta_read(c->tenant, c->conn, c->name, &m) != C360_OK)
            return say(c, C360_EIO, "token metadata: %s", ch_rconn_error());
        if (m.dead) return dead_answer(c, &m);
        if (m.version && m.version != seen.version) {
            if (is_fresh(c, &m, ch_now_ms())) {
                int32_t rc = hand_out(c, &m, token, exp);
                if (rc != C360_ENOTFOUND) return rc;
                continue;
            }
            seen = m;
        }
        if (m.version == seen.version && m.fail_at_ms >= start_wall && m.fail_rc != C360_OK) {
            /* The owner tried after we started waiting and failed: its
             * answer is ours (no second endpoint call for the same
             * failure). */
            say(c, m.fail_rc, "token refresh failed on another host (%s)",
                c360_strstatus(m.fail_rc));
            if (is_unexpired(&m, ch_now_ms())) {
                int32_t rc = hand_out(c, &m, token, exp);
                if (rc == C360_OK) c->err[0] = '\0';
                if (rc != C360_ENOTFOUND) return rc;
            }
            return m.fail_rc;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

int32_t ch_oauth_token(const char *tenant, const char *conn, const char *plugin,
                       const c360_oauth_params *params, char **token,
                       int64_t *expires_at_ms, char *err, size_t errcap)
{
    ctx c;
    if (token) *token = NULL;
    if (expires_at_ms) *expires_at_ms = 0;
    if (!params || !token) {
        if (err && errcap) snprintf(err, errcap, "params and token are required");
        return C360_EINVAL;
    }
    int32_t rc = ctx_init(&c, tenant, conn, plugin, params, NULL, err, errcap);
    if (rc != C360_OK) return rc;
    for (int i = 0; i < 3; i++) {
        ch_oauth_meta m;
        if (ch_oauth_meta_read(tenant, conn, c.name, &m) != C360_OK)
            return say(&c, C360_EIO, "token metadata: %s", ch_rconn_error());
        if (m.dead) return dead_answer(&c, &m); /* no endpoint call for a dead grant */
        if (!m.version && !credentials_grant(c.p.grant))
            return say(&c, C360_ENOTFOUND, "no token stored: connect first");
        if (is_fresh(&c, &m, ch_now_ms())) {
            rc = hand_out(&c, &m, token, expires_at_ms);
            if (rc == C360_ENOTFOUND) continue; /* superseded while reading */
            return rc;
        }
        return refresh_flight(&c, &m, token, expires_at_ms);
    }
    return say(&c, C360_RETRY, "token store kept changing");
}

static int32_t store_record(ctx *c, ch_oauth_record *rec)
{
    ch_oauth_meta after;
    int was_dead = 0;
    int32_t rc = commit_retry(c, -1, rec, &after, &was_dead);
    if (rc != C360_OK) return rc;
    c->err[0] = '\0';
    reactivate(c);
    remember(c, after.version);
    return C360_OK;
}

int32_t ch_oauth_exchange(const char *tenant, const char *conn, const char *plugin,
                          const c360_oauth_params *params, char *err, size_t errcap)
{
    ctx c;
    if (!params) {
        if (err && errcap) snprintf(err, errcap, "params are required");
        return C360_EINVAL;
    }
    int32_t rc = ctx_init(&c, tenant, conn, plugin, params, NULL, err, errcap);
    if (rc != C360_OK) return rc;
    switch (c.p.grant) {
    case C360_GRANT_AUTHORIZATION_CODE:
        if (!c.p.code || !c.p.code[0] || !c.p.redirect_uri)
            return say(&c, C360_EINVAL, "authorization_code needs code and redirect_uri");
        break;
    case C360_GRANT_ACCOUNT_CREDENTIALS:
        if (!c.p.account_id || !c.p.account_id[0])
            return say(&c, C360_EINVAL, "account_credentials needs account_id");
        break;
    case C360_GRANT_CLIENT_CREDENTIALS:
        break;
    default:
        return say(&c, C360_EINVAL, "refresh_token is not a grant to exchange (oauth_token refreshes)");
    }
    ch_oauth_grant_req g;
    grant_req_from(&c, &g);
    ch_oauth_tokens t;
    char code[CH_OAUTH_ERRCODE_MAX];
    rc = ch_oauth_grant_call(&g, &t, code, c.err, c.errcap);
    if (rc != C360_OK) {
        audit_status(&c, "oauth.exchange", rc);
        return rc;
    }
    ch_oauth_record rec;
    record_from(&t, NULL, &rec);
    ch_oauth_tokens_clear(&t);
    rc = store_record(&c, &rec);
    ch_oauth_record_clear(&rec);
    audit_status(&c, "oauth.exchange", rc);
    return rc;
}

int32_t ch_oauth_store(const char *tenant, const char *conn, const char *token_name,
                       const char *access_token, const char *refresh_token,
                       int64_t expires_in_s, int64_t refresh_expires_in_s,
                       char *err, size_t errcap)
{
    ctx c;
    int32_t rc = ctx_init(&c, tenant, conn, NULL, NULL, token_name, err, errcap);
    if (rc != C360_OK) return rc;
    if (!access_token || !ch_oauth_token_valid(access_token, strnlen(access_token, CH_OAUTH_TOKEN_MAX + 1)) ||
        (refresh_token && !ch_oauth_token_valid(refresh_token, strnlen(refresh_token, CH_OAUTH_TOKEN_MAX + 1))))
        return say(&c, C360_EINVAL, "tokens must be 1..%d printable ASCII bytes", CH_OAUTH_TOKEN_MAX);
    ch_oauth_tokens t;
    memset(&t, 0, sizeof t);
    t.access_token = ch_oauth_strdup_guarded(access_token);
    t.refresh_token = ch_oauth_strdup_guarded(refresh_token);
    snprintf(t.token_type, sizeof t.token_type, "bearer");
    t.expires_in_s = expires_in_s;
    t.refresh_expires_in_s = refresh_expires_in_s;
    ch_oauth_record rec;
    record_from(&t, NULL, &rec);
    ch_oauth_tokens_clear(&t);
    rc = store_record(&c, &rec);
    ch_oauth_record_clear(&rec);
    return rc;
}

int32_t ch_oauth_token_rejected(const char *tenant, const char *conn, const char *plugin,
                                const char *token_name, const char *reason,
                                char *err, size_t errcap)
{
    ctx c;
    int32_t rc = ctx_init(&c, tenant, conn, plugin, NULL, token_name, err, errcap);
    if (rc != C360_OK) return rc;
    ch_oauth_meta m;
    if (ch_oauth_meta_read(tenant, conn, c.name, &m) != C360_OK)
        return say(&c, C360_EIO, "token metadata: %s", ch_rconn_error());
    if (m.dead) return dead_answer(&c, &m);
    if (!m.version) return say(&c, C360_ENOTFOUND, "no token stored");
    int known = strcmp(t_last.tenant, tenant) == 0 && strcmp(t_last.conn, conn) == 0 &&
                strcmp(t_last.name, c.name) == 0;
    uint64_t seen = known ? t_last.version : m.version;
    if (m.version > seen) return C360_OK; /* a newer token is stored: retry with it */
    char cause[CH_OAUTH_CAUSE_MAX], why[160];
    snprintf(why, sizeof why, "%s", reason && reason[0] ? reason : "no reason given");
    for (char *p = why; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) *p = ' ';
    snprintf(cause, sizeof cause, "the provider rejected the access token (%s)", why);
    char actor[CH_ID_MAX + 16] = "system";
    if (plugin && plugin[0]) snprintf(actor, sizeof actor, "plugin:%s", plugin);
    rc = kill_token(&c, &m, cause, "token_rejected", actor);
    if (rc == C360_ECONFLICT) {
        c.err[0] = '\0';
        return C360_OK; /* a newer token arrived meanwhile */
    }
    return rc;
}

int32_t ch_oauth_forget(const char *tenant, const char *conn, const char *token_name)
{
    ctx c;
    int32_t rc = ctx_init(&c, tenant, conn, NULL, NULL, token_name, NULL, 0);
    if (rc != C360_OK) return rc;
    return ch_oauth_store_delete(tenant, conn, c.name);
}

int32_t ch_oauth_forget_connection(const char *tenant, const char *conn)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(conn)) return C360_EINVAL;
    return ch_oauth_store_delete_connection(tenant, conn, NULL);
}
