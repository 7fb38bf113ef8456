/* fh_oauth.c -- host->oauth_* without a provider. Parameters are checked
 * as host/services/oauth.c checks them (struct_size, grant, client auth,
 * token_url and client_id required, string lengths, token name, and for an
 * exchange the grant's own fields); then oauth_token hands out the fake
 * token FH_OAUTH_TOKEN in guarded memory (host->secret_free, fh_mem.h),
 * valid for an hour; oauth_exchange and oauth_token_rejected answer ok.
 *
 * The trace shows the grant, token URL, client id and token name; never
 * the client secret, code or code verifier.
 *
 * ABI 1.3's oauth_connect is a callback, not a service: after it returns,
 * fh_oauth_connect_answer does what c360d's admin API does with the answer
 * (the same check, ch_oc_answer_check, and the release of host_secret). */
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "fh_internal.h"
#include "fh_mem.h"
#include "oauth_connect.h"
#include "oauth_store.h"

#define FH_OAUTH_TOKEN "c360-plugin-check-token"
#define FH_OAUTH_TTL_MS (60 * 60 * 1000)
/* oauth.c's bound on any one string of the params. */
#define FH_PARAM_STR_MAX 8192

static const char *fh_grant_name(int32_t g)
{
    switch (g) {
    case C360_GRANT_AUTHORIZATION_CODE: return "authorization_code";
    case C360_GRANT_REFRESH_TOKEN: return "refresh_token";
    case C360_GRANT_CLIENT_CREDENTIALS: return "client_credentials";
    case C360_GRANT_ACCOUNT_CREDENTIALS: return "account_credentials";
    default: return NULL;
    }
}

static bool fh_str_ok(const char *s)
{
    return s == NULL || strnlen(s, FH_PARAM_STR_MAX + 1) <= FH_PARAM_STR_MAX;
}

/* Copies what the plugin's struct_size covers; false if too short to hold
 * token_url. */
static bool fh_copy_params(const c360_oauth_params *in, c360_oauth_params *p)
{
    memset(p, 0, sizeof(*p));
    if (in == NULL || in->struct_size < offsetof(c360_oauth_params, token_url) +
                                            sizeof(in->token_url))
        return false;
    memcpy(p, in, in->struct_size < sizeof(*p) ? in->struct_size : sizeof(*p));
    return true;
}

static void fh_params_args(json_t *e, const c360_oauth_params *p)
{
    const char *g = fh_grant_name(p->grant);
    if (g != NULL)
        fh_named_str(e, "grant", g);
    else
        fh_named_int(e, "grant", p->grant);
    fh_named_str(e, "token_url", p->token_url);
    fh_named_str(e, "client_id", p->client_id);
    fh_named_str(e, "token_name", p->token_name != NULL ? p->token_name
                                                        : "default");
}

/* NULL if the host would accept the params (ctx_init in oauth.c), else
 * why not. */
static const char *fh_params_problem(bool sized, const c360_oauth_params *p)
{
    if (!sized)
        return "params are NULL or their struct_size too small";
    const char *strs[] = {p->token_url, p->client_id, p->client_secret,
                          p->scope, p->code, p->redirect_uri,
                          p->code_verifier, p->account_id};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (!fh_str_ok(strs[i]))
            return "a string of the params is over 8192 bytes";
    if (fh_grant_name(p->grant) == NULL)
        return "unknown grant";
    if (p->auth != C360_OAUTH_AUTH_BODY && p->auth != C360_OAUTH_AUTH_BASIC)
        return "unknown client auth";
    if (p->token_url == NULL || p->client_id == NULL)
        return "token_url and client_id are required";
    if (!fh_http_url_ok(p->token_url))
        return "token_url is not a valid http:// or https:// URL";
    if (!ch_oauth_name_valid(p->token_name != NULL ? p->token_name
                                                   : "default"))
        return "invalid token name (1..64 of [A-Za-z0-9_-])";
    return NULL;
}

/* Refuses with EINVAL and the reason in the call's error, as oauth.c. */
static int32_t fh_refuse(json_t *e, const char *fn, c360_call *call,
                         const char *why)
{
    fh_call_reason_locked(call, "oauth: %s", why);
    return fh_invalid_locked(e, fn, why);
}

static int32_t fh_token_locked(json_t *e, c360_call *call, bool sized,
                               const c360_oauth_params *p, char **token,
                               int64_t *expires_at_ms)
{
    if (token == NULL)
        return fh_invalid_locked(e, "oauth_token", "token is required");
    *token = NULL;
    int32_t st = fh_gate_locked(e, "oauth_token", call);
    if (st != C360_OK)
        return st;
    /* Past the gate hostapi.c always writes the expiry: 0 on failure. */
    if (expires_at_ms != NULL)
        *expires_at_ms = 0;
    const char *why = fh_params_problem(sized, p);
    if (why != NULL)
        return fh_refuse(e, "oauth_token", call, why);
    char *t = fh_mem_alloc_locked(FH_MEM_SECRET, sizeof(FH_OAUTH_TOKEN),
                                  "oauth_token");
    memcpy(t, FH_OAUTH_TOKEN, sizeof(FH_OAUTH_TOKEN));
    *token = t;
    if (expires_at_ms != NULL)
        *expires_at_ms = ch_now_ms() + FH_OAUTH_TTL_MS;
    fh_detail(e, "the fake token (%zu bytes), expires in 3600 s",
              sizeof(FH_OAUTH_TOKEN) - 1);
    return fh_status(e, C360_OK);
}

int32_t fh_oauth_token(c360_call *call, const c360_oauth_params *params,
                       char **token, int64_t *expires_at_ms)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("oauth_token");
    c360_oauth_params p;
    bool sized = fh_copy_params(params, &p);
    if (sized)
        fh_params_args(e, &p);
    int32_t st = fh_token_locked(e, call, sized, &p, token, expires_at_ms);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

/* The fields each grant needs at exchange time (ch_oauth_exchange). */
static const char *fh_exchange_problem(const c360_oauth_params *p)
{
    switch (p->grant) {
    case C360_GRANT_AUTHORIZATION_CODE:
        if (p->code == NULL || p->code[0] == '\0' || p->redirect_uri == NULL)
            return "authorization_code needs code and redirect_uri";
        return NULL;
    case C360_GRANT_ACCOUNT_CREDENTIALS:
        if (p->account_id == NULL || p->account_id[0] == '\0')
            return "account_credentials needs account_id";
        return NULL;
    case C360_GRANT_CLIENT_CREDENTIALS:
        return NULL;
    default:
        return "refresh_token is not a grant to exchange (oauth_token "
               "refreshes)";
    }
}

int32_t fh_oauth_exchange(c360_call *call, const c360_oauth_params *params)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("oauth_exchange");
    c360_oauth_params p;
    bool sized = fh_copy_params(params, &p);
    if (sized)
        fh_params_args(e, &p);
    int32_t st = fh_gate_locked(e, "oauth_exchange", call);
    if (st == C360_OK) {
        const char *why = fh_params_problem(sized, &p);
        if (why == NULL)
            why = fh_exchange_problem(&p);
        if (why != NULL) {
            st = fh_refuse(e, "oauth_exchange", call, why);
        } else {
            fh_detail(e, "tokens stored (fake: no token endpoint called)");
            st = fh_status(e, C360_OK);
        }
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

int32_t fh_oauth_token_rejected(c360_call *call, const char *token_name,
                                const char *reason)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("oauth_token_rejected");
    const char *name = token_name != NULL ? token_name : "default";
    fh_named_str(e, "token_name", name);
    fh_named_str(e, "reason", reason);
    int32_t st = fh_gate_locked(e, "oauth_token_rejected", call);
    if (st == C360_OK && !ch_oauth_name_valid(name)) {
        st = fh_refuse(e, "oauth_token_rejected", call,
                       "invalid token name (1..64 of [A-Za-z0-9_-])");
    } else if (st == C360_OK) {
        /* The answer "a newer token is stored: retry with it", so that the
         * plugin's retry path runs; c360d may answer C360_EAUTH instead. */
        fh_detail(e, "noted; retry with a fresh oauth_token");
        st = fh_status(e, C360_OK);
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

json_t *fh_oauth_connect_answer(const c360_oauth_connect *o, int32_t st)
{
    json_t *sum = fh_need(json_object());
    pthread_mutex_lock(&fh_lock);
    if (st == C360_OK) {
        char why[400];
        if (ch_oc_answer_check(o, why, sizeof(why)) != 0) {
            static const char pre[] = "oauth_connect: ";
            const char *w = strncmp(why, pre, sizeof(pre) - 1) == 0
                                ? why + sizeof(pre) - 1 : why;
            fh_problem_locked("c360d refuses the answer (the admin API "
                              "answers 500 plugin_error): %s", w);
        }
        json_object_set_new(sum, "authorize_url", fh_json_text(o->authorize_url));
        json_object_set_new(sum, "client_id", fh_json_text(o->client_id));
        if (o->scope != NULL)
            json_object_set_new(sum, "scope", fh_json_text(o->scope));
        if (o->extra_params != NULL)
            json_object_set_new(sum, "extra_params",
                                fh_json_text(o->extra_params));
        json_object_set_new(sum, "pkce", json_boolean(o->pkce != 0));
        json_object_set_new(sum, "token_url", fh_json_text(o->token_url));
        json_object_set_new(sum, "auth",
                            fh_need(json_string(o->auth == C360_OAUTH_AUTH_BASIC
                                                    ? "basic" : "body")));
        json_object_set_new(sum, "token_name",
                            fh_json_text(o->token_name != NULL ? o->token_name
                                                               : "default"));
        json_object_set_new(sum, "client_secret",
                            json_boolean(o->client_secret != NULL));
        if (o->client_secret != NULL && o->host_secret == NULL)
            fh_warning_locked("client_secret is set without host_secret: fine "
                              "if it lives in plugin_data or instance_data, "
                              "but a host->secret_get value must be handed "
                              "back in host_secret (it cannot be freed "
                              "before the host has copied it)");
    }
    if (o->host_secret != NULL) {
        /* c360d frees it whatever the callback returned. */
        json_t *e = fh_entry_named("secret_free");
        fh_named_str(e, "by", "the host (host_secret of oauth_connect)");
        fh_mem_release_locked(o->host_secret, FH_MEM_SECRET, e);
        fh_record_locked(e);
    }
    pthread_mutex_unlock(&fh_lock);
    return sum;
}
