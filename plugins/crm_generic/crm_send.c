/* crm_send.c -- the requests of one deliver / deliver_batch call: the
 * connection's secrets taken for the call (crm_secrets.c: read once per
 * instance, which the host reopens when a secret is put or deleted),
 * the records grouped into requests as the config says, each request
 * rate-limited, signed, sent through the host (the operator's SSRF policy
 * applies: C360_HTTP_CUSTOMER_URL; redirects are never followed), and its
 * answer turned into one status per record.
 *
 * Nothing secret leaves this file except in the request itself: errors
 * and log lines name statuses, ids and secret *names*; response excerpts
 * are scrubbed of every secret value first (crm_excerpt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm.h"

/* The connection's rate-limit bucket (C360_RL_CONNECTION): Retry-After
 * and X-RateLimit-* answers of the endpoint pause or slow it for every
 * worker on every host, not just the request that got them. */
#define CRM_BUCKET "crm"
/* A call with less time than this left sends nothing more: the host cuts
 * the request's timeout to the deadline, and a request cut short is a
 * retry that may have been delivered anyway. Small, so that an operator's
 * short callback_timeout_ms still leaves room to send. */
#define CRM_MIN_TIME_MS 250
/* Takes of the budget in one request at most (see crm_take): the
 * deadline ends the waiting long before, this only bounds the loop. */
#define CRM_RL_TAKES_MAX 10000

/* --- one request ------------------------------------------------------- */

typedef enum crm_next {
    CRM_NEXT_GO = 0,   /* go on with the next group */
    CRM_NEXT_SPLIT,    /* the group's payload was refused: one by one */
    CRM_NEXT_STOP      /* send nothing more: the rest get *rest_status */
} crm_next;

typedef struct crm_ctx {
    const crm_plugin *p;
    crm_conn *c;
    c360_call *call;
    crm_secrets *sec;
    crm_call_out *out;
    int32_t rest_status;
} crm_ctx;

static void crm_set_all(int32_t *statuses, size_t n, int32_t st)
{
    for (size_t i = 0; i < n; i++)
        statuses[i] = st;
}

static void crm_retry(crm_call_out *out, uint32_t ms)
{
    if (ms > out->retry_ms)
        out->retry_ms = ms;
}

static const char *crm_resp_header(const c360_http_response *r, const char *name)
{
    for (uint32_t i = 0; i < r->header_count; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* Maps a failure to send (no response) to the records' status. */
static crm_next crm_no_response(crm_ctx *x, int32_t rc, int32_t *statuses, size_t n)
{
    crm_call_out *out = x->out;
    switch (rc) {
    case C360_ENOMEM:
        crm_set_all(statuses, n, C360_ENOMEM);
        x->rest_status = C360_ENOMEM;
        return CRM_NEXT_STOP;
    case C360_EDENIED:
        /* The operator's policy refuses the URL's address (private,
         * loopback, metadata...): no retry changes that. */
        crm_set_all(statuses, n, C360_ERROR);
        snprintf(out->error, sizeof out->error,
                 "the endpoint's address is not allowed by the operator's "
                 "outbound policy");
        snprintf(out->cause, sizeof out->cause, "%.255s", out->error);
        out->conn_failing = true;
        x->rest_status = C360_ERROR;
        return CRM_NEXT_STOP;
    case C360_EINVAL:
        crm_set_all(statuses, n, C360_ERROR);
        snprintf(out->error, sizeof out->error,
                 "the request could not be made (URL or header refused by "
                 "the host)");
        x->rest_status = C360_ERROR;
        return CRM_NEXT_STOP;
    case C360_ETOOBIG:
        /* The endpoint took the request and answered more than the host
         * reads: whether it was accepted is unknown, so it is sent again
         * (with the same webhook-id). */
        crm_set_all(statuses, n, C360_RETRY);
        snprintf(out->error, sizeof out->error,
                 "the endpoint's answer was over the host's size limit");
        x->rest_status = C360_RETRY;
        return CRM_NEXT_STOP;
    default:
        /* Timeouts, DNS, connect, TLS: the endpoint is unreachable now. */
        crm_set_all(statuses, n, C360_RETRY);
        snprintf(out->error, sizeof out->error,
                 "could not reach the endpoint: %s", c360_strstatus(rc));
        x->rest_status = C360_RETRY;
        return CRM_NEXT_STOP;
    }
}

static crm_next crm_answer(crm_ctx *x, const c360_http_response *resp,
                           int32_t *statuses, size_t n)
{
    const c360_host_api *host = x->p->host;
    crm_call_out *out = x->out;
    char ex[CRM_EXCERPT_MAX + 1];
    int32_t code = resp->status;
    crm_verdict v = crm_classify(code);
    if (v != CRM_V_OK)
        crm_excerpt(resp->body, resp->body_len, x->sec->redact, x->sec->redact_len,
                    x->sec->nredact, ex, sizeof ex);
    switch (v) {
    case CRM_V_OK:
        crm_set_all(statuses, n, C360_OK);
        out->any_ok = true;
        return CRM_NEXT_GO;
    case CRM_V_RETRY: {
        uint32_t ms = 0;
        if (crm_retry_after(crm_resp_header(resp, "retry-after"), host->now_ms(), &ms))
            crm_retry(out, ms);
        /* 429: the endpoint took nothing and asks to be called later --
         * put off, not failed (no attempt on a 1.5 host). A 408 or 5xx is
         * a failure of the endpoint: an attempt. */
        int32_t st = code == 429 ? crm_defer_status(host->abi_minor) : C360_RETRY;
        crm_set_all(statuses, n, st);
        snprintf(out->error, sizeof out->error, "HTTP %d%s%s", (int)code,
                 ex[0] ? ": " : "", ex);
        x->rest_status = st;
        return CRM_NEXT_STOP; /* the endpoint is struggling: leave it be */
    }
    case CRM_V_GONE:
        crm_set_all(statuses, n, C360_EGONE);
        snprintf(out->error, sizeof out->error,
                 "HTTP 410: the endpoint is gone%s%s", ex[0] ? ": " : "", ex);
        x->rest_status = C360_EGONE;
        return CRM_NEXT_STOP;
    case CRM_V_AUTH:
        crm_set_all(statuses, n, C360_ERROR);
        out->creds_refused = true;
        snprintf(out->error, sizeof out->error, "HTTP %d: credentials refused%s%s",
                 (int)code, ex[0] ? ": " : "", ex);
        snprintf(out->cause, sizeof out->cause,
                 "the endpoint refused the credentials (HTTP %d): check the "
                 "auth settings and secrets", (int)code);
        out->conn_failing = true;
        x->rest_status = C360_ERROR;
        return CRM_NEXT_STOP;
    case CRM_V_REDIRECT:
        crm_set_all(statuses, n, C360_ERROR);
        snprintf(out->error, sizeof out->error,
                 "HTTP %d: the endpoint redirects; redirects are not followed "
                 "(set the URL it redirects to)", (int)code);
        snprintf(out->cause, sizeof out->cause, "%.255s", out->error);
        out->conn_failing = true;
        x->rest_status = C360_ERROR;
        return CRM_NEXT_STOP;
    case CRM_V_SPLIT:
        if (n > 1)
            return CRM_NEXT_SPLIT;
        /* fall through */
    case CRM_V_ERROR:
        crm_set_all(statuses, n, C360_ERROR);
        snprintf(out->error, sizeof out->error, "HTTP %d%s%s", (int)code,
                 ex[0] ? ": " : "", ex);
        return CRM_NEXT_GO;
    }
    return CRM_NEXT_GO;
}

#define CRM_FIXED_HEADERS 8

/* Takes one request's unit of the connection's budget, or says why not
 * (false: *wait is the budget's next slot, *step how to defer).
 *
 * A record handed back with C360_RETRY costs it a delivery attempt, and
 * a host older than ABI 1.5 has no way for a destination to defer without
 * one (1.5 hosts take C360_THROTTLED, crm_defer_status). So the
 * connection's own pacing -- worker threads competing for
 * max_requests_per_s, e.g. while a backlog drains after an outage -- is
 * waited for here, for as long as the call's deadline leaves room for the
 * request, however many takes it needs (crm_rl_plan tells such waits
 * apart: they are never longer than one unit's step). What the endpoint
 * asked for -- a Retry-After pause, the slowdown after a 429 -- is slept
 * only for CRM_RL_THROTTLED_SLEEP_MS in all and otherwise handed back at
 * once: a throttled endpoint must not hold worker threads that other
 * connections' and tenants' deliveries need. A budget the host cannot
 * check (Redis away) does not stop delivery: the limit is a courtesy to
 * the endpoint, whose own answers still count. */
static bool crm_take(crm_ctx *x, uint32_t *wait, crm_rl_step *step)
{
    const c360_host_api *host = x->p->host;
    const crm_cfg *cfg = &x->c->cfg;
    c360_rl_limit lim = {sizeof lim, cfg->max_rps, 1000, cfg->max_rps};
    /* What the request itself needs of the call's time after the wait. */
    int64_t need = CRM_MIN_TIME_MS + cfg->timeout_ms / 2;
    uint32_t throttled_slept = 0;
    /* Bounded even against a host whose clock stands still. */
    for (int tries = 0; tries < CRM_RL_TAKES_MAX; tries++) {
        *wait = 0;
        if (host->ratelimit_take(x->call, C360_RL_CONNECTION, CRM_BUCKET, &lim, 1, wait) !=
            C360_RETRY)
            return true;
        bool paced = true;
        *step = crm_rl_plan(*wait, cfg->max_rps, host->call_time_left_ms(x->call) - need,
                            throttled_slept, &paced);
        if (*step != CRM_RL_SLEEP)
            return false;
        if (!paced)
            throttled_slept += *wait;
        struct timespec ts = {*wait / 1000, (long)(*wait % 1000) * 1000000L + 1000000L};
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (nanosleep(&ts, &ts) != 0)
            ; /* EINTR: sleep the rest */
    }
    *step = CRM_RL_DEFER_TIME;
    return false;
}

static crm_next crm_request(crm_ctx *x, const c360_record *const *recs, size_t n,
                            int32_t *statuses)
{
    const c360_host_api *host = x->p->host;
    const crm_cfg *cfg = &x->c->cfg;
    crm_call_out *out = x->out;
    c360_call *call = x->call;

    if (host->call_time_left_ms(call) < CRM_MIN_TIME_MS) {
        crm_set_all(statuses, n, C360_RETRY);
        snprintf(out->error, sizeof out->error, "out of time in this call");
        x->rest_status = C360_RETRY;
        return CRM_NEXT_STOP;
    }
    crm_buf body;
    size_t bad = 0;
    int32_t st = crm_body_build(cfg, recs, n, &body, &bad);
    if (st == C360_EINVAL) {
        if (n > 1)
            return CRM_NEXT_SPLIT;
        statuses[0] = C360_ERROR;
        snprintf(out->error, sizeof out->error, "record %s is not a JSON object",
                 recs[0]->id);
        return CRM_NEXT_GO;
    }
    char id[CRM_ID_MAX + 1];
    if (st == C360_OK)
        st = crm_request_id(host, recs, n, id, sizeof id);
    if (st != C360_OK) {
        crm_buf_free(&body);
        return crm_no_response(x, st == C360_EINVAL ? C360_EINVAL : C360_ENOMEM,
                               statuses, n);
    }

    /* One unit per request, from the budget every worker shares. */
    uint32_t wait = 0;
    crm_rl_step step = CRM_RL_SLEEP;
    if (!crm_take(x, &wait, &step)) {
        /* Nothing was sent: put off (no attempt on a 1.5 host). */
        int32_t defer = crm_defer_status(host->abi_minor);
        crm_buf_free(&body);
        crm_set_all(statuses, n, defer);
        crm_retry(out, wait);
        /* Says what really held the records back: in a dead letter this
         * is the last attempt's cause. */
        if (step == CRM_RL_DEFER_THROTTLED)
            snprintf(out->error, sizeof out->error,
                     "not sent: the endpoint throttled this connection (HTTP 429 or "
                     "Retry-After); its rate budget has a slot in %u ms",
                     (unsigned)wait);
        else
            snprintf(out->error, sizeof out->error,
                     "not sent: no slot in the connection's rate budget (%u requests/s, "
                     "shared by every worker) before the call's deadline; next in %u ms",
                     (unsigned)cfg->max_rps, (unsigned)wait);
        x->rest_status = defer;
        return CRM_NEXT_STOP;
    }

    char ts[24], sig[2 * (CRM_SIG_LEN + 1)];
    int64_t now_s = host->now_ms() / 1000;
    snprintf(ts, sizeof ts, "%lld", (long long)now_s);
    c360_header hdr[CRM_FIXED_HEADERS + CRM_HEADERS_MAX];
    uint32_t nh = 0;
    hdr[nh++] = (c360_header){"content-type", "application/json"};
    hdr[nh++] = (c360_header){"user-agent", CRM_USER_AGENT};
    hdr[nh++] = (c360_header){"webhook-id", id};
    hdr[nh++] = (c360_header){"webhook-timestamp", ts};
    /* The same key for receivers that know the IETF header rather than
     * Standard Webhooks. */
    hdr[nh++] = (c360_header){"idempotency-key", id};
    if (cfg->auth == CRM_AUTH_STANDARD_WEBHOOKS) {
        const uint8_t *keys[2] = {x->sec->key[0], x->sec->key[1]};
        st = crm_sign(host, &body, id, now_s, keys, x->sec->key_len, x->sec->nkeys,
                      sig, sizeof sig);
        if (st != C360_OK) {
            crm_buf_free(&body);
            return crm_no_response(x, st, statuses, n);
        }
        hdr[nh++] = (c360_header){"webhook-signature", sig};
    } else if (x->sec->auth_value) {
        const char *name = cfg->auth == CRM_AUTH_HEADER ? cfg->auth_header : "authorization";
        hdr[nh++] = (c360_header){name, x->sec->auth_value};
    }
    for (size_t i = 0; i < cfg->nheaders; i++)
        hdr[nh++] = (c360_header){cfg->headers[i].name, cfg->headers[i].value};

    c360_http_request req = {
        .struct_size = sizeof req,
        .header_count = nh,
        .method = cfg->method,
        .url = cfg->url,
        .headers = hdr,
        .body = (const uint8_t *)crm_buf_body(&body),
        .body_len = body.len,
        .timeout_ms = cfg->timeout_ms,
        /* The customer typed the URL: the operator's SSRF policy applies.
         * No C360_HTTP_FOLLOW_REDIRECTS: a 3xx is an answer, not a hop. */
        .flags = C360_HTTP_CUSTOMER_URL,
    };
    c360_http_response *resp = NULL;
    int64_t t0 = host->monotonic_ms();
    int32_t rc = host->http(call, &req, &resp);
    int64_t took = host->monotonic_ms() - t0;
    crm_buf_free(&body);
    if (rc != C360_OK || !resp) {
        host->log(call, C360_LOG_INFO, "%s %s (%zu records): no answer: %s after %lld ms",
                  cfg->method, id, n, c360_strstatus(rc), (long long)took);
        return crm_no_response(x, rc == C360_OK ? C360_EIO : rc, statuses, n);
    }
    /* Retry-After and X-RateLimit-* slow the shared bucket (the host reads
     * Retry-After only on statuses >= 400). */
    host->ratelimit_feed_response(call, C360_RL_CONNECTION, CRM_BUCKET, resp);
    host->log(call, resp->status >= 200 && resp->status < 300 ? C360_LOG_DEBUG : C360_LOG_INFO,
              "%s %s (%zu records): HTTP %d in %lld ms", cfg->method, id, n,
              (int)resp->status, (long long)took);
    crm_next next = crm_answer(x, resp, statuses, n);
    host->http_free(resp);
    return next;
}

/* --- the call -------------------------------------------------------------- */

int32_t crm_deliver_records(const crm_plugin *p, crm_conn *c, c360_call *call,
                            const c360_record *const *recs, size_t n,
                            int32_t *statuses, crm_call_out *out)
{
    memset(out, 0, sizeof *out);
    crm_set_all(statuses, n, C360_RETRY);
    crm_secrets sec;
    int32_t st = crm_secrets_load(p->host, c, call, &sec, out);
    if (st != C360_OK) {
        crm_secrets_free(c, &sec);
        crm_set_all(statuses, n, st == C360_ENOMEM ? C360_ENOMEM : C360_RETRY);
        return st == C360_ENOMEM ? C360_ENOMEM : C360_OK;
    }
    crm_ctx x = {p, c, call, &sec, out, C360_RETRY};
    size_t group = c->cfg.max_records > 0 ? c->cfg.max_records : 1;
    for (size_t i = 0; i < n;) {
        size_t k = n - i < group ? n - i : group;
        crm_next next = crm_request(&x, recs + i, k, statuses + i);
        if (next == CRM_NEXT_SPLIT) {
            /* One record per request (still in the batch's shape), so
             * that only the records the endpoint refuses are dead
             * letters, not their neighbours. */
            for (size_t j = 0; j < k && next != CRM_NEXT_STOP; j++) {
                next = crm_request(&x, recs + i + j, 1, statuses + i + j);
                if (next == CRM_NEXT_STOP)
                    crm_set_all(statuses + i + j + 1, k - j - 1, x.rest_status);
            }
        }
        i += k;
        if (next == CRM_NEXT_STOP) {
            crm_set_all(statuses + i, n - i, x.rest_status);
            break;
        }
    }
    /* A kept secret the endpoint refused may be one replaced since (this
     * process sees the reopen within a second): the next call reads the
     * stored ones again. */
    if (out->creds_refused)
        crm_secrets_forget(c, &sec);
    crm_secrets_free(c, &sec);
    return x.rest_status == C360_ENOMEM ? C360_ENOMEM : C360_OK;
}
