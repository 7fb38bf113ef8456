/* li_api.c -- one LinkedIn REST call, the way every call of the plugin is
 * made:
 *
 *  1. budgets: the app's bucket (C360_RL_APP "app:<client id>": LinkedIn's
 *     per-app daily limit is shared by every tenant of the app) and the
 *     connection's (C360_RL_TENANT "member:<connection>": the per-member
 *     limit of its token). A short wait is slept, a long one is given back
 *     with C360_RETRY.
 *  2. the request: {api}/rest/{path}?{query} with the OAuth token in
 *     Authorization (never in the URL), LinkedIn-Version: <api_version>
 *     and X-Restli-Protocol-Version: 2.0.0 on every call.
 *  3. the outcome: 429 backs off, doubling from throttle_min_ms per 429 in
 *     a row (state "throttle_n"), and after LI_PERSISTENT_429 in a row
 *     waits for the next UTC midnight (the daily limit is spent); the pause
 *     goes to the member bucket, so every call of the connection waits. 401
 *     goes to li_token_rejected; 5xx retries; the rest is permanent with an
 *     excerpt of LinkedIn's message (never a token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "li.h"

#define URL_MAX 4096
#define MAX_BYTES (4u << 20)

/* Local guards only: LinkedIn publishes no rate headers. */
static const c360_rl_limit app_budget = {sizeof(c360_rl_limit), 3000, 60000, 100};
static const c360_rl_limit member_budget = {sizeof(c360_rl_limit), 600, 60000, 30};

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static int32_t take(li_ctx *x, int32_t scope, const char *bucket, const c360_rl_limit *lim)
{
    const c360_host_api *h = x->host;
    for (int tries = 0;; tries++) {
        uint32_t wait = 0;
        int32_t st = h->ratelimit_take(x->call, scope, bucket, lim, 1, &wait);
        if (st != C360_RETRY) return st;
        if (tries < 3 && wait <= 1500 && h->call_time_left_ms(x->call) > wait + 5000) {
            sleep_ms(wait);
            continue;
        }
        h->call_retry_after(x->call, wait);
        h->call_error(x->call, "waiting %u ms for the LinkedIn rate budget (%s)", wait,
                      scope == C360_RL_APP ? "app" : "member");
        return C360_RETRY;
    }
}

static const char *resp_header(const c360_http_response *r, const char *name)
{
    for (uint32_t i = 0; i < r->header_count; i++)
        if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

/* LinkedIn's error text: {"message":..,"status":..,"serviceErrorCode":..}
 * or OAuth's {"error","error_description"}. */
static void err_text(const c360_http_response *resp, const char *cut, char *out, size_t cap)
{
    json_t *j = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
    const char *m = li_str(j, "message");
    if (m == NULL) m = li_str(j, "error_description");
    if (m == NULL) m = li_str(j, "error");
    li_excerpt(m != NULL ? m : "", cut, out, cap);
    json_decref(j);
}

int32_t li_api(li_ctx *x, const li_req *r, json_t **out, char *restli_id, size_t cap)
{
    const c360_host_api *h = x->host;
    li_conn *c = x->c;
    char app_bucket[96], member_bucket[96];
    int32_t st;
    *out = NULL;
    if (restli_id != NULL && cap > 0) restli_id[0] = '\0';
    li_key(app_bucket, sizeof app_bucket, "app:", c->cfg.client_id);
    li_key(member_bucket, sizeof member_bucket, "member:", h->instance_connection(c->inst));
    if ((st = take(x, C360_RL_APP, app_bucket, &app_budget)) != C360_OK) return st;
    if ((st = take(x, C360_RL_TENANT, member_bucket, &member_budget)) != C360_OK) return st;

    char *tok = NULL;
    const char *token = r->token;
    if (token == NULL) {
        if ((st = li_token(x, &tok)) == C360_ENOTFOUND) {
            /* Not connected (yet): the work waits for OAuth connect. */
            h->call_retry_after(x->call, 60000);
            return C360_RETRY;
        }
        if (st != C360_OK) return st;
        token = tok;
    }
    char *url = malloc(URL_MAX);
    size_t al = strlen(token) + sizeof "Bearer ";
    char *auth = malloc(al);
    if (url == NULL || auth == NULL) {
        free(url);
        free(auth);
        li_token_free(x, tok);
        return C360_ENOMEM;
    }
    int n = snprintf(url, URL_MAX, "%s/rest/%s%s%s", x->p->api_url, r->path,
                     r->query != NULL ? "?" : "", r->query != NULL ? r->query : "");
    if (n <= 0 || n >= URL_MAX) {
        free(url);
        free(auth); /* nothing written in it yet */
        li_token_free(x, tok);
        h->call_error(x->call, "LinkedIn API URL too long");
        return C360_ERROR;
    }
    snprintf(auth, al, "Bearer %s", token);
    li_token_free(x, tok);
    /* The whole token, for the message check (c360kit_excerpt): auth
     * holds it after "Bearer ", and lives until the answer is read. */
    const char *cut = auth + sizeof "Bearer " - 1;
    c360_header hdr[5];
    uint32_t nh = 0;
    hdr[nh++] = (c360_header){"accept", "application/json"};
    hdr[nh++] = (c360_header){"authorization", auth};
    hdr[nh++] = (c360_header){"linkedin-version", c->cfg.api_version};
    hdr[nh++] = (c360_header){"x-restli-protocol-version", "2.0.0"};
    if (r->json != NULL) hdr[nh++] = (c360_header){"content-type", "application/json"};
    c360_http_request req = {
        .struct_size = sizeof req,
        .header_count = nh,
        .method = r->method != NULL ? r->method : "GET",
        .url = url,
        .headers = hdr,
        .body = (const uint8_t *)r->json,
        .body_len = r->json != NULL ? strlen(r->json) : 0,
        .timeout_ms = 30000,
        .max_response_bytes = MAX_BYTES,
    };
    c360_http_response *resp = NULL;
    st = h->http(x->call, &req, &resp);
    /* LinkedIn's message of a refusal, read while the token is at hand. */
    char msg[200] = "";
    if (st == C360_OK && (resp->status < 200 || resp->status >= 300))
        err_text(resp, cut, msg, sizeof msg);
    volatile char *w = auth;
    for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    free(auth);
    free(url);
    if (st != C360_OK)
        return st == C360_ETOOBIG || st == C360_EDENIED || st == C360_EINVAL ? C360_ERROR : st;

    int status = resp->status;
    if (status >= 200 && status < 300) {
        h->state_delete(x->call, "throttle_n");
        const char *rid = resp_header(resp, "x-restli-id");
        if (restli_id != NULL && rid != NULL) snprintf(restli_id, cap, "%s", rid);
        if (resp->body_len == 0) {
            h->http_free(resp);
            return C360_OK;
        }
        *out = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
        h->http_free(resp);
        if (json_is_object(*out)) return C360_OK;
        json_decref(*out);
        *out = NULL;
        h->call_error(x->call, "LinkedIn answered %s without a JSON object", r->path);
        h->call_retry_after(x->call, 0);
        return C360_RETRY;
    }
    h->http_free(resp);
    if (status == 429) {
        int64_t nth = 1;
        h->state_incr(x->call, "throttle_n", 1, &nth);
        uint8_t j[2];
        h->random_bytes(j, sizeof j);
        uint32_t wait = li_backoff_ms(nth, h->now_ms(), x->p->throttle_min_ms,
                                      (uint32_t)((j[0] << 8 | j[1]) % 1000));
        h->ratelimit_report(x->call, C360_RL_TENANT, member_bucket, 100, wait);
        h->call_retry_after(x->call, wait);
        if (nth >= LI_PERSISTENT_429) {
            h->call_error(x->call, "LinkedIn rate limit (HTTP 429, %lld in a row): daily limit "
                          "reached, waiting for midnight UTC (%u s)", (long long)nth, (wait + 999) / 1000);
            h->log(x->call, C360_LOG_WARN, "LinkedIn daily limit reached: paused until midnight UTC");
        } else {
            h->call_error(x->call, "LinkedIn rate limit (HTTP 429): retrying in %u s", (wait + 999) / 1000);
        }
        return C360_RETRY;
    }
    if (status == 401) {
        if (r->quiet_auth || r->token != NULL) {
            h->call_error(x->call, "LinkedIn refused the token (HTTP 401)");
            return C360_EAUTH;
        }
        return li_token_rejected(x, status);
    }
    if (status >= 500 || status == 408) {
        h->call_retry_after(x->call, 0);
        h->call_error(x->call, "LinkedIn API temporarily unavailable (HTTP %d): %s", status, msg);
        return C360_RETRY;
    }
    h->call_error(x->call, "LinkedIn API error (HTTP %d) on %s: %s", status, r->path, msg);
    return status == 404 ? C360_ENOTFOUND : C360_ERROR;
}
