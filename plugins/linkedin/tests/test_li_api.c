/* test_li_api.c -- what the linkedin plugin reports when LinkedIn's API
 * answers an error whose text holds the access token (li_api.c, through
 * the kit's excerpt rule, plugins/kit/c360kit.h): the message is not shown
 * at all -- no part of the token reaches call_error, the log or the
 * connection's status, whichever field carries it ("message",
 * "error_description", "error") and whichever answer it comes with (4xx,
 * 5xx, 408, 401, 429). A message without the token is shown, so the
 * hiding is the token's doing.
 *
 * li_api is called directly with a connection built by hand and a stub
 * host: the token comes from oauth_token (as the host's OAuth store gives
 * it), every budget grants, and http answers the scripted error. The
 * plugin's sources are linked in (the pure and the host parts). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "li.h"

#define HIDDEN "(message not shown: it held a credential)"

/* A LinkedIn access token is a few hundred characters of base64url-ish
 * text: the answers below echo it whole, and parts of it (its tail only). */
static const char TOKEN[] =
    "AQVx7Jd2kQm9Lr4Tz8Wc1Nf6Hb3Yp0Ge5Us2Ia7Ok4Mv9Rt1Ex6Dq3Zs8Cw5Bn0Fj2Hl7Pg4Ky9Um1"
    "Ti6Vo3Xa8Sr5Qe0Wd2Ny7Mb4Lc9Kf1Jh6Gg3Ie8Hz5Dv0Cu2At7Bs4Fr9Eq1Dp6Co3Bn8Am5Zl0Yk2"
    "Xj7Wi4Vh9Ug1Tf6Se3Rd8Qc5Pb0Oa2Nz7My4Lx9Kw1Jv6Iu3Ht8Gs5Fr0Eq2Dp7Co4Bn9Am1Zl6";

struct c360_instance {
    const char *conn;
};

/* What the call was told, and what to answer. */
struct c360_call {
    char reported[4096]; /* every call_error, log and status text, joined */
    size_t len;
    int status;          /* the HTTP answer's status */
    const char *body;    /* ... and body */
    int http_calls;
    char auth[512];      /* the Authorization header sent */
};

static void note(c360_call *c, const char *fmt, va_list ap)
{
    if (c->len + 2 >= sizeof c->reported) return;
    int n = vsnprintf(c->reported + c->len, sizeof c->reported - c->len - 1, fmt, ap);
    if (n > 0) c->len += (size_t)n < sizeof c->reported - c->len - 1 ? (size_t)n
                                                                    : sizeof c->reported - c->len - 2;
    c->reported[c->len++] = '\n';
    c->reported[c->len] = '\0';
}

static void s_log(c360_call *c, int32_t level, const char *fmt, ...)
{
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    note(c, fmt, ap);
    va_end(ap);
}

static void s_call_error(c360_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note(c, fmt, ap);
    va_end(ap);
}

static int32_t s_conn_status(c360_call *c, int32_t state, const char *cause)
{
    (void)state;
    s_log(c, C360_LOG_INFO, "%s", cause != NULL ? cause : "");
    return C360_OK;
}

static int64_t s_now_ms(void) { return 1706741502694LL; }
static void s_retry_after(c360_call *c, uint32_t ms) { (void)c; (void)ms; }
static int64_t s_time_left(c360_call *c) { (void)c; return 30000; }
static const char *s_conn(const c360_instance *i) { return i->conn; }
static int32_t s_state_delete(c360_call *c, const char *k) { (void)c; (void)k; return C360_OK; }
static int32_t s_state_incr(c360_call *c, const char *k, int64_t d, int64_t *out)
{
    (void)c; (void)k;
    *out = d;
    return C360_OK;
}
static void s_secret_free(void *p) { free(p); }
static int32_t s_rl_take(c360_call *c, int32_t scope, const char *b, const c360_rl_limit *l,
                         uint32_t cost, uint32_t *wait)
{
    (void)c; (void)scope; (void)b; (void)l; (void)cost;
    *wait = 0;
    return C360_OK;
}
static int32_t s_rl_report(c360_call *c, int32_t scope, const char *b, uint32_t pct, uint32_t ms)
{
    (void)c; (void)scope; (void)b; (void)pct; (void)ms;
    return C360_OK;
}
static void s_random(void *buf, size_t n) { memset(buf, 7, n); }
static int32_t s_oauth_token(c360_call *c, const c360_oauth_params *p, char **tok, int64_t *exp)
{
    (void)c; (void)p;
    *tok = strdup(TOKEN);
    *exp = 0;
    return C360_OK;
}
static int32_t s_token_rejected(c360_call *c, const char *name, const char *reason)
{
    (void)c; (void)name; (void)reason;
    return C360_OK; /* "a newer token is stored" */
}

static int32_t s_http(c360_call *c, const c360_http_request *rq, c360_http_response **out)
{
    c->http_calls++;
    for (uint32_t i = 0; i < rq->header_count; i++)
        if (strcmp(rq->headers[i].name, "authorization") == 0)
            snprintf(c->auth, sizeof c->auth, "%s", rq->headers[i].value);
    size_t bl = strlen(c->body);
    c360_http_response *r = calloc(1, sizeof *r + bl + 1);
    memcpy(r + 1, c->body, bl + 1);
    r->struct_size = sizeof *r;
    r->status = c->status;
    r->body = (const uint8_t *)(r + 1);
    r->body_len = bl;
    *out = r;
    return C360_OK;
}
static void s_http_free(c360_http_response *r) { free(r); }

static const c360_host_api g_host = {
    .struct_size = sizeof(c360_host_api),
    .abi_major = C360_ABI_MAJOR,
    .abi_minor = C360_ABI_MINOR,
    .log = s_log,
    .now_ms = s_now_ms,
    .monotonic_ms = s_now_ms,
    .call_retry_after = s_retry_after,
    .call_error = s_call_error,
    .call_time_left_ms = s_time_left,
    .instance_connection = s_conn,
    .state_delete = s_state_delete,
    .state_incr = s_state_incr,
    .secret_free = s_secret_free,
    .ratelimit_take = s_rl_take,
    .ratelimit_report = s_rl_report,
    .http = s_http,
    .http_free = s_http_free,
    .oauth_token = s_oauth_token,
    .oauth_token_rejected = s_token_rejected,
    .random_bytes = s_random,
    .connection_status = s_conn_status,
};

/* true if s holds any 8 bytes in a row of the token (the kit's shortest
 * cut): not even a part of it may be shown. */
static int holds_token_part(const char *s)
{
    char part[9];
    for (size_t i = 0; i + 8 <= sizeof TOKEN - 1; i++) {
        memcpy(part, TOKEN + i, 8);
        part[8] = '\0';
        if (strstr(s, part) != NULL) return 1;
    }
    return 0;
}

static li_plugin g_p;
static li_app g_app;
static li_conn g_c;
static c360_instance g_inst = {"li-conn-1"};

/* li_api on one scripted answer; its status, with what it reported in c. */
static int32_t api_answer(c360_call *c, int status, const char *body)
{
    memset(c, 0, sizeof *c);
    c->status = status;
    c->body = body;
    li_ctx x = {&g_p, &g_c, c, &g_host};
    li_req r = {.path = "leadFormResponses", .query = "q=owner"};
    json_t *out = NULL;
    int32_t st = li_api(&x, &r, &out, NULL, 0);
    json_decref(out);
    return st;
}

int main(void)
{
    g_p.host = &g_host;
    snprintf(g_p.api_url, sizeof g_p.api_url, "https://api.linkedin.example");
    g_p.throttle_min_ms = 1000;
    g_app.secret = (uint8_t *)"app-secret";
    g_app.secret_len = 10;
    g_c.inst = &g_inst;
    g_c.app = &g_app;
    snprintf(g_c.cfg.client_id, sizeof g_c.cfg.client_id, "77abc");
    snprintf(g_c.cfg.api_version, sizeof g_c.cfg.api_version, "202506");
    snprintf(g_c.token_url, sizeof g_c.token_url, "https://www.linkedin.example/oauth/v2/accessToken");
    c360_call c;

    /* The token went out in the header only. */
    CHECK(api_answer(&c, 200, "{}") == C360_OK);
    CHECK(strncmp(c.auth, "Bearer ", 7) == 0 && strcmp(c.auth + 7, TOKEN) == 0);

    /* Answers echoing the token, in each field LinkedIn and OAuth use and
     * anywhere in the text: reported, but the message not shown. */
    char body[1024];
    struct {
        int status;
        const char *fmt;   /* %s: the token */
        int32_t want;
        int shows_message; /* the answer's path reports LinkedIn's text */
    } cases[] = {
        {400, "{\"message\":\"Invalid token %s for this request\",\"status\":400}", C360_ERROR, 1},
        {403, "{\"message\":\"Not enough permissions to access: Bearer %s\"}", C360_ERROR, 1},
        {404, "{\"message\":\"%s\"}", C360_ENOTFOUND, 1},
        {422, "{\"error\":\"invalid_request\",\"error_description\":\"token=%s.\"}", C360_ERROR, 1},
        {400, "{\"error\":\"bad %s\"}", C360_ERROR, 1},
        {500, "{\"message\":\"Internal error for %s\",\"serviceErrorCode\":0}", C360_RETRY, 1},
        {503, "{\"message\":\"%s%s\"}", C360_RETRY, 1},
        {408, "{\"message\":\"timeout (token %s)\"}", C360_RETRY, 1},
        {401, "{\"message\":\"Expired token %s\"}", C360_RETRY, 0},
        {429, "{\"message\":\"Too many requests with %s\"}", C360_RETRY, 0},
    };
    /* Each case echoes the whole token, then only its last 40 bytes, then
     * 12 bytes from its middle: a part is hidden like the whole. */
    const char *parts[] = {TOKEN, TOKEN + sizeof TOKEN - 1 - 40, NULL};
    char middle[13];
    memcpy(middle, TOKEN + 150, 12);
    middle[12] = '\0';
    parts[2] = middle;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0] * 3; k++) {
        size_t i = k / 3;
        const char *tok = parts[k % 3];
        snprintf(body, sizeof body, cases[i].fmt, tok, tok);
        int32_t st = api_answer(&c, cases[i].status, body);
        if (st != cases[i].want || holds_token_part(c.reported))
            fprintf(stderr, "case %zu/%zu (HTTP %d): status %d, reported:\n%s", i, k % 3,
                    cases[i].status, (int)st, c.reported);
        CHECK(st == cases[i].want);
        CHECK(c.http_calls == 1 && c.len > 0);
        CHECK(!holds_token_part(c.reported));
        if (cases[i].shows_message) CHECK_CONTAINS(c.reported, HIDDEN);
    }

    /* The same answers without the token: LinkedIn's text is shown. */
    CHECK(api_answer(&c, 400, "{\"message\":\"Invalid query parameter count\"}") == C360_ERROR);
    CHECK_CONTAINS(c.reported, "Invalid query parameter count");
    CHECK(strstr(c.reported, HIDDEN) == NULL);
    CHECK(api_answer(&c, 500, "{\"message\":\"Internal Server Error\"}") == C360_RETRY);
    CHECK_CONTAINS(c.reported, "Internal Server Error");
    CHECK_DONE();
}
