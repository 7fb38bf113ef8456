/* google_api.c -- one Gmail API call, the way every call is made:
 *
 *  1. the per-user quota (15,000 units a minute; history.list costs 2,
 *     messages.get 5, ...) as a shared bucket of the connection
 *     (C360_RL_CONNECTION "gmail:user"): a short wait is slept, a long one
 *     gives the work back with C360_RETRY;
 *  2. the access token from the host (host->oauth_token refreshes it with
 *     the refresh token when due; invalid_grant -> needs_reauth), in an
 *     Authorization header;
 *  3. the outcome: 429 and 403 userRateLimitExceeded / rateLimitExceeded
 *     back off exponentially with jitter (at least throttle_min_ms, or
 *     Retry-After), reported to the bucket so that every host pauses; 5xx
 *     are retried with the host's backoff; 401 goes to
 *     oauth_token_rejected; 404 is the caller's (history too old, message
 *     deleted); the rest is permanent with an excerpt of Google's message
 *     (never a token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google.h"

#define URL_MAX 4096
#define MAX_BYTES (8u << 20)
#define BUCKET "gmail:user"
#define THROTTLE_MAX_MS (15u * 60u * 1000u)

static const c360_rl_limit user_budget = {sizeof(c360_rl_limit), 15000, 60000, 1500};

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

void g_ctx_done(g_ctx *x)
{
    if (x->token != NULL) x->host->secret_free(x->token);
    x->token = NULL;
}

int32_t g_token(g_ctx *x)
{
    const c360_host_api *h = x->host;
    if (x->token != NULL) return C360_OK;
    uint8_t *secret = NULL;
    size_t slen = 0;
    int32_t st = h->secret_get(x->call, "client_secret", &secret, &slen);
    if (st == C360_ENOTFOUND) {
        h->call_error(x->call, "store the connection secret client_secret");
        h->call_retry_after(x->call, 60000);
        return C360_RETRY;
    }
    if (st != C360_OK) return st;
    while (slen > 0 && (secret[slen - 1] == '\n' || secret[slen - 1] == '\r' || secret[slen - 1] == ' '))
        secret[--slen] = '\0';
    c360_oauth_params pr = {
        .struct_size = sizeof pr, .grant = C360_GRANT_REFRESH_TOKEN,
        .auth = C360_OAUTH_AUTH_BODY, .token_url = x->c->token_url,
        .client_id = x->c->cfg.client_id, .client_secret = (const char *)secret};
    int64_t exp = 0;
    st = h->oauth_token(x->call, &pr, &x->token, &exp);
    h->secret_free(secret);
    if (st == C360_OK) return C360_OK;
    x->token = NULL;
    if (st == C360_EAUTH) {
        static const char cause[] =
            "Google authorisation expired or was revoked (invalid_grant): connect again with OAuth";
        if (!x->quiet) h->connection_status(x->call, C360_CONN_NEEDS_REAUTH, cause);
        h->call_error(x->call, "%s", cause);
        return C360_EAUTH;
    }
    if (st == C360_ENOTFOUND) {
        h->call_error(x->call, "not connected to Google yet: connect with OAuth");
        h->call_retry_after(x->call, 60000);
        return C360_RETRY;
    }
    return st; /* transient: the host said why */
}

static int32_t take(g_ctx *x, uint32_t cost)
{
    const c360_host_api *h = x->host;
    for (int tries = 0;; tries++) {
        uint32_t wait = 0;
        int32_t st = h->ratelimit_take(x->call, C360_RL_CONNECTION, BUCKET, &user_budget,
                                       cost, &wait);
        if (st != C360_RETRY) return st;
        if (tries < 3 && wait <= 1500 && h->call_time_left_ms(x->call) > wait + 5000) {
            sleep_ms(wait);
            continue;
        }
        h->call_retry_after(x->call, wait);
        h->call_error(x->call, "waiting %u ms for the Gmail quota of this mailbox", wait);
        return C360_RETRY;
    }
}

/* Exponential backoff with jitter: the n-th throttling in a row (state
 * "throttle_n", forgotten after 10 minutes without one) waits
 * min * 2^(n-1), at most 15 minutes, plus up to a quarter more. */
static uint32_t backoff(g_ctx *x, uint32_t retry_after_ms)
{
    const c360_host_api *h = x->host;
    uint8_t *v = NULL;
    size_t len = 0;
    long n = 0;
    if (h->state_get(x->call, "throttle_n", &v, &len, NULL) == C360_OK) {
        n = strtol((const char *)v, NULL, 10);
        h->free(v);
    }
    if (n < 0 || n > 30) n = 0;
    n++;
    char b[16];
    snprintf(b, sizeof b, "%ld", n);
    h->state_set(x->call, "throttle_n", b, strlen(b), 600000, NULL);
    uint64_t w = x->p->throttle_min_ms;
    for (long i = 1; i < n && w < THROTTLE_MAX_MS; i++) w *= 2;
    if (w > THROTTLE_MAX_MS) w = THROTTLE_MAX_MS;
    uint32_t r = 0;
    h->random_bytes(&r, sizeof r);
    w += r % (w / 4 + 1);
    if (retry_after_ms > w) w = retry_after_ms;
    return (uint32_t)w;
}

static uint32_t retry_after_header(const c360_http_response *resp)
{
    for (uint32_t i = 0; i < resp->header_count; i++)
        if (strcmp(resp->headers[i].name, "retry-after") == 0) {
            char *end;
            long s = strtol(resp->headers[i].value, &end, 10);
            if (*end == '\0' && s > 0 && s < 86400) return (uint32_t)s * 1000u;
        }
    return 0;
}

int32_t g_api(g_ctx *x, const g_req *r, json_t **out, g_err *err_out)
{
    const c360_host_api *h = x->host;
    g_err local = {0}; /* set below through e; = {0} for cppcheck */
    g_err *e = err_out != NULL ? err_out : &local;
    int32_t st;
    *out = NULL;
    memset(e, 0, sizeof *e);
    if ((st = take(x, r->cost != 0 ? r->cost : 1)) != C360_OK) return st;
    if ((st = g_token(x)) != C360_OK) return st;

    char *url = malloc(URL_MAX);
    if (url == NULL) return C360_ENOMEM;
    int n = snprintf(url, URL_MAX, "%s/gmail/v1/users/me/%s%s%s", x->p->gmail_url, r->path,
                     r->query != NULL ? "?" : "", r->query != NULL ? r->query : "");
    if (n <= 0 || n >= URL_MAX) {
        free(url);
        h->call_error(x->call, "Gmail API URL too long");
        return C360_ERROR;
    }
    size_t al = strlen(x->token) + sizeof "Bearer ";
    char *auth = malloc(al);
    if (auth == NULL) {
        free(url);
        return C360_ENOMEM;
    }
    snprintf(auth, al, "Bearer %s", x->token);
    c360_header hdr[3];
    uint32_t nh = 0;
    hdr[nh++] = (c360_header){"accept", "application/json"};
    hdr[nh++] = (c360_header){"authorization", auth};
    if (r->json != NULL) hdr[nh++] = (c360_header){"content-type", "application/json"};
    c360_http_request req = {
        .struct_size = sizeof req, .header_count = nh,
        .method = r->method != NULL ? r->method : "GET", .url = url, .headers = hdr,
        .body = (const uint8_t *)r->json, .body_len = r->json != NULL ? strlen(r->json) : 0,
        .timeout_ms = 30000, .max_response_bytes = MAX_BYTES};
    c360_http_response *resp = NULL;
    st = h->http(x->call, &req, &resp);
    volatile char *w = auth;
    for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    free(auth);
    free(url);
    if (st != C360_OK)
        return st == C360_ETOOBIG || st == C360_EDENIED || st == C360_EINVAL ? C360_ERROR : st;

    g_err_classify(resp->status, (const char *)resp->body, resp->body_len, e);
    if (e->cls == G_ERR_NONE) {
        if (resp->body_len > 0) {
            *out = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
            if (!json_is_object(*out)) {
                json_decref(*out);
                *out = NULL;
                h->http_free(resp);
                h->call_error(x->call, "Gmail answered %s without a JSON object", r->path);
                h->call_retry_after(x->call, 0);
                return C360_RETRY;
            }
        }
        h->http_free(resp);
        return C360_OK;
    }
    uint32_t ra = retry_after_header(resp);
    h->http_free(resp);
    switch (e->cls) {
    case G_ERR_THROTTLE: {
        uint32_t wait = backoff(x, ra);
        h->ratelimit_report(x->call, C360_RL_CONNECTION, BUCKET, 100, wait);
        h->call_retry_after(x->call, wait);
        h->call_error(x->call, "Gmail rate limit (HTTP %d %s): retrying in %u s", e->http_status,
                      e->reason[0] != '\0' ? e->reason : "", (wait + 999) / 1000);
        return C360_RETRY;
    }
    case G_ERR_AUTH: {
        if (x->quiet) {
            h->call_error(x->call, "Gmail refused the access token (HTTP 401)");
            return C360_EAUTH;
        }
        if (h->oauth_token_rejected(x->call, "default", "Gmail refused the access token (HTTP 401)") ==
            C360_OK) {
            h->call_retry_after(x->call, 1000);
            h->call_error(x->call, "a newer Google token is stored; retrying");
            return C360_RETRY;
        }
        static const char cause[] = "Gmail refused the access token (HTTP 401): connect again with OAuth";
        h->connection_status(x->call, C360_CONN_NEEDS_REAUTH, cause);
        h->call_error(x->call, "%s", cause);
        return C360_EAUTH;
    }
    case G_ERR_NOTFOUND:
        return C360_ENOTFOUND;
    case G_ERR_TRANSIENT:
        h->call_retry_after(x->call, 0);
        h->call_error(x->call, "Gmail temporarily unavailable (HTTP %d): %s", e->http_status, e->msg);
        return C360_RETRY;
    default:
        h->call_error(x->call, "Gmail API error (HTTP %d %s): %s", e->http_status, e->reason, e->msg);
        return C360_ERROR;
    }
}
