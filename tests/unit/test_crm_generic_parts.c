/* test_crm_generic_parts.c -- the crm_generic plugin (plugins/crm_generic)
 * without c360d: the config checks, bodies, request ids, Standard Webhooks
 * signatures (the spec's own test vector), Retry-After, response excerpts,
 * status mapping, and whole deliver / deliver_batch calls against a fake
 * host whose HTTP answers are scripted; the secrets an instance keeps
 * (read once, failures read again, released at close, shared by calls on
 * several threads) and the edges of a stored value (a trailing CRLF, the
 * 64 KiB limit with a newline after it, an out-of-memory read).
 *
 * The plugin's sources are compiled into this file (included below: the
 * unit tests here are one .c each, linked against c360core, which brings
 * the SDK header, Jansson and libsodium); its descriptor is reached
 * through c360_plugin_entry() as the host would. Nothing of c360core is
 * used: the plugin must work with only the host table it is given. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>
#include <sodium.h>

#include "../../plugins/crm_generic/crm_body.c"
#include "../../plugins/crm_generic/crm_config.c"
#include "../../plugins/crm_generic/crm_generic.c"
#include "../../plugins/crm_generic/crm_result.c"
#include "../../plugins/crm_generic/crm_secrets.c"
#include "../../plugins/crm_generic/crm_send.c"
#include "../../plugins/crm_generic/crm_sign.c"
#include "check.h"

/* ------------------------------------------------------------------------ */
/* The fake host                                                             */
/* ------------------------------------------------------------------------ */

struct c360_instance {
    const char *tenant, *conn;
};

#define MAX_REQ 16

typedef struct f_req {
    char method[8];
    char url[256];
    uint32_t flags, timeout_ms;
    char *body;
    size_t body_len;
    int nh;
    char hname[32][64];
    char hval[32][1100];
    size_t hval_len[32]; /* the whole value's length (hval may be cut) */
} f_req;

typedef struct f_answer {
    int32_t rc;          /* host->http's return */
    int status;
    const char *retry_after;
    const char *body;
} f_answer;

struct c360_call {
    int64_t time_left_ms;
    uint32_t retry_after;
    int retry_set;
    char error[512];
    /* config_error */
    int ncfg;
    char cfg_ptr[32][128];
    /* secrets */
    const char *secret_names[8];
    const char *secret_vals[8];
    int secret_gets;      /* secret_get calls */
    int32_t secret_fail;  /* secret_get answers this (not C360_OK)... */
    int secret_fail_from; /* ... from the call after this many (0: all) */
    /* rate limit */
    int32_t rl_take;
    uint32_t rl_wait;
    int rl_refusals;     /* refuse this many takes first (wait rl_wait) */
    int rl_takes, rl_feeds;
    /* http */
    int nreq;
    f_req req[MAX_REQ];
    int nans;
    f_answer ans[MAX_REQ];
    /* connection_status */
    int nstatus;
    int32_t status_state;
    char status_cause[256];
};

static int64_t f_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
static void f_log(c360_call *call, int32_t level, const char *fmt, ...)
{
    (void)call; (void)level; (void)fmt;
}
static void f_free(void *p) { free(p); }
static void f_retry_after(c360_call *c, uint32_t ms)
{
    c->retry_after = ms;
    c->retry_set = 1;
}
static void f_call_error(c360_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
}
static int64_t f_time_left(c360_call *c) { return c->time_left_ms; }
static void f_config_error(c360_call *c, const char *ptr, const char *msg)
{
    (void)msg;
    if (c->ncfg < 32)
        snprintf(c->cfg_ptr[c->ncfg], sizeof c->cfg_ptr[0], "%s", ptr);
    c->ncfg++;
}
static const char *f_tenant(const c360_instance *i) { return i->tenant; }
static const char *f_conn(const c360_instance *i) { return i->conn; }

/* Values handed out by secret_get and not yet given back (every thread's
 * calls): 0 once every instance is closed. */
static atomic_int g_secrets_live;

static int32_t f_secret_get(c360_call *c, const char *name, uint8_t **v, size_t *len)
{
    c->secret_gets++;
    if (c->secret_fail != C360_OK && c->secret_gets > c->secret_fail_from)
        return c->secret_fail;
    for (int i = 0; i < 8 && c->secret_names[i]; i++) {
        if (strcmp(c->secret_names[i], name) == 0) {
            *len = strlen(c->secret_vals[i]);
            *v = (uint8_t *)strdup(c->secret_vals[i]);
            atomic_fetch_add(&g_secrets_live, 1);
            return C360_OK;
        }
    }
    return C360_ENOTFOUND;
}
static void f_secret_free(void *p)
{
    atomic_fetch_sub(&g_secrets_live, 1);
    free(p);
}

static int32_t f_rl_take(c360_call *c, int32_t scope, const char *bucket,
                         const c360_rl_limit *lim, uint32_t cost, uint32_t *wait)
{
    (void)scope; (void)bucket; (void)lim; (void)cost;
    c->rl_takes++;
    *wait = c->rl_wait;
    if (c->rl_refusals > 0) {
        c->rl_refusals--;
        return C360_RETRY;
    }
    return c->rl_take;
}
static int32_t f_rl_feed(c360_call *c, int32_t scope, const char *bucket,
                         const c360_http_response *r)
{
    (void)scope; (void)bucket; (void)r;
    c->rl_feeds++;
    return C360_OK;
}

static int32_t f_http(c360_call *c, const c360_http_request *rq, c360_http_response **out)
{
    *out = NULL;
    if (c->nreq >= MAX_REQ)
        return C360_EIO;
    f_req *r = &c->req[c->nreq];
    f_answer a = c->nreq < c->nans ? c->ans[c->nreq] : (f_answer){C360_OK, 200, NULL, "{}"};
    c->nreq++;
    snprintf(r->method, sizeof r->method, "%s", rq->method);
    snprintf(r->url, sizeof r->url, "%s", rq->url);
    r->flags = rq->flags;
    r->timeout_ms = rq->timeout_ms;
    r->body = malloc(rq->body_len + 1);
    memcpy(r->body, rq->body, rq->body_len);
    r->body[rq->body_len] = '\0';
    r->body_len = rq->body_len;
    r->nh = (int)rq->header_count;
    for (uint32_t i = 0; i < rq->header_count && i < 32; i++) {
        snprintf(r->hname[i], sizeof r->hname[i], "%s", rq->headers[i].name);
        snprintf(r->hval[i], sizeof r->hval[i], "%s", rq->headers[i].value);
        r->hval_len[i] = strlen(rq->headers[i].value);
    }
    if (a.rc != C360_OK)
        return a.rc;
    /* One block, as the host makes it: struct, headers, strings, body. */
    size_t blen = a.body ? strlen(a.body) : 0;
    c360_http_response *resp = calloc(1, sizeof *resp + sizeof(c360_header) + blen + 64);
    c360_header *h = (c360_header *)(resp + 1);
    char *p = (char *)(h + 1);
    resp->struct_size = sizeof *resp;
    resp->status = a.status;
    if (a.retry_after) {
        snprintf(p, 48, "%s", a.retry_after);
        h[0].name = "retry-after";
        h[0].value = p;
        p += strlen(p) + 1;
        resp->header_count = 1;
    }
    resp->headers = h;
    memcpy(p, a.body ? a.body : "", blen + 1);
    resp->body = (const uint8_t *)p;
    resp->body_len = blen;
    *out = resp;
    return C360_OK;
}
static void f_http_free(c360_http_response *r) { free(r); }

static void f_hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}
static void f_sha256(const void *msg, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, msg, len);
}
static int f_ct_equal(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}
static char *f_b64enc(const void *bin, size_t len, int32_t variant)
{
    (void)variant;
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *o = malloc(cap);
    sodium_bin2base64(o, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
    return o;
}
static int32_t f_b64dec(const char *t, size_t tl, int32_t variant, uint8_t **bin, size_t *len)
{
    (void)variant;
    uint8_t *o = malloc(tl + 1);
    const char *end = NULL;
    if (sodium_base642bin(o, tl + 1, t, tl, NULL, len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || end != t + tl) {
        free(o);
        return C360_EINVAL;
    }
    *bin = o;
    return C360_OK;
}
static char *f_hex(const void *bin, size_t len)
{
    char *o = malloc(len * 2 + 1);
    sodium_bin2hex(o, len * 2 + 1, bin, len);
    return o;
}
static int32_t f_conn_status(c360_call *c, int32_t state, const char *cause)
{
    c->nstatus++;
    c->status_state = state;
    snprintf(c->status_cause, sizeof c->status_cause, "%s", cause ? cause : "");
    return C360_OK;
}

/* Not const: the ABI minor it offers is lowered to check crm_generic's
 * fallback for hosts older than 1.5 (C360_RETRY instead of
 * C360_THROTTLED). */
static c360_host_api g_host = {
    .struct_size = sizeof(c360_host_api),
    .abi_major = C360_ABI_MAJOR,
    .abi_minor = C360_ABI_MINOR,
    .log = f_log,
    .now_ms = f_now_ms,
    .monotonic_ms = f_now_ms,
    .free = f_free,
    .call_retry_after = f_retry_after,
    .call_error = f_call_error,
    .call_time_left_ms = f_time_left,
    .config_error = f_config_error,
    .instance_tenant = f_tenant,
    .instance_connection = f_conn,
    .secret_get = f_secret_get,
    .secret_free = f_secret_free,
    .ratelimit_take = f_rl_take,
    .ratelimit_feed_response = f_rl_feed,
    .http = f_http,
    .http_free = f_http_free,
    .hmac_sha256 = f_hmac,
    .sha256 = f_sha256,
    .ct_equal = f_ct_equal,
    .base64_encode = f_b64enc,
    .base64_decode = f_b64dec,
    .hex_encode = f_hex,
    .connection_status = f_conn_status,
};

static void call_reset(c360_call *c)
{
    for (int i = 0; i < c->nreq; i++)
        free(c->req[i].body);
    memset(c, 0, sizeof *c);
    c->time_left_ms = 30000;
    c->rl_take = C360_OK;
}

static const char *req_header(const f_req *r, const char *name)
{
    for (int i = 0; i < r->nh; i++)
        if (strcmp(r->hname[i], name) == 0)
            return r->hval[i];
    return NULL;
}

/* The whole length of a header's value as sent; 0 if absent. */
static size_t req_header_len(const f_req *r, const char *name)
{
    for (int i = 0; i < r->nh; i++)
        if (strcmp(r->hname[i], name) == 0)
            return r->hval_len[i];
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Pure parts                                                                */
/* ------------------------------------------------------------------------ */

static void cfg_report(void *ctx, const char *ptr, const char *msg)
{
    f_config_error(ctx, ptr, msg);
}

/* Parses cfg; returns the status, with the pointers reported in c. */
static int32_t parse(c360_call *c, const char *json, bool allow_http, crm_cfg *out)
{
    call_reset(c);
    return crm_cfg_parse(json, strlen(json), allow_http, cfg_report, c, out);
}

static bool reported(const c360_call *c, const char *ptr)
{
    for (int i = 0; i < c->ncfg && i < 32; i++)
        if (strcmp(c->cfg_ptr[i], ptr) == 0)
            return true;
    return false;
}

static void test_config(void)
{
    c360_call c = {0};
    crm_cfg cfg;
    json_error_t e;
    json_t *schema = json_loads(crm_config_schema, 0, &e);
    CHECK(schema != NULL && json_is_object(schema));
    json_decref(schema);

    CHECK(parse(&c, "{\"url\":\"https://crm.example.com/hook\"}", false, &cfg) == C360_OK);
    CHECK_STR(cfg.method, "POST");
    CHECK(cfg.auth == CRM_AUTH_NONE && cfg.body == CRM_BODY_RECORD);
    CHECK(cfg.max_records == 1 && cfg.array_body && cfg.timeout_ms == CRM_TIMEOUT_DEFAULT);
    crm_cfg_free(&cfg);

    CHECK(parse(&c, "{\"url\":\"https://crm.example.com/h?list=7\",\"method\":\"PUT\","
                    "\"body\":\"envelope\",\"auth\":{\"type\":\"header\",\"header_name\":\"X-Api-Key\"},"
                    "\"batch\":{\"max_records\":50,\"array_body\":false},\"timeout_ms\":5000,"
                    "\"max_requests_per_s\":10,\"headers\":{\"X-Tenant\":\"acme\"}}",
                false, &cfg) == C360_OK);
    CHECK_STR(cfg.method, "PUT");
    CHECK_STR(cfg.auth_header, "x-api-key");
    CHECK(cfg.max_records == 50 && !cfg.array_body && cfg.max_rps == 10);
    CHECK(cfg.nheaders == 1 && strcmp(cfg.headers[0].name, "x-tenant") == 0);
    crm_cfg_free(&cfg);

    CHECK(parse(&c, "{}", false, &cfg) == C360_EINVAL && reported(&c, "/url"));
    CHECK(parse(&c, "[1]", false, &cfg) == C360_EINVAL && reported(&c, ""));
    CHECK(parse(&c, "{\"url\":", false, &cfg) == C360_EINVAL && reported(&c, ""));
    CHECK(parse(&c, "{\"url\":\"http://127.0.0.1:9/x\"}", false, &cfg) == C360_EINVAL &&
          reported(&c, "/url"));
    CHECK(parse(&c, "{\"url\":\"http://127.0.0.1:9/x\"}", true, &cfg) == C360_OK);
    crm_cfg_free(&cfg);
    CHECK(parse(&c, "{\"url\":\"ftp://x.example/\"}", true, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https://u:p@x.example/\"}", false, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https://x.example/?api_key=abc\"}", false, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https://x.example/?Token=abc\"}", false, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https://x.example/a b\"}", false, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https://x.example/#frag\"}", false, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https:///path\"}", false, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"url\":\"https://y.example/\"}", false,
                &cfg) == C360_EINVAL);

    /* Every problem at once, each at its pointer. */
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"method\":\"GET\",\"body\":\"xml\","
                    "\"auth\":{\"type\":\"bearer\",\"header_name\":\"x\"},"
                    "\"batch\":{\"max_records\":101,\"extra\":1},\"timeout_ms\":10,"
                    "\"max_requests_per_s\":0,\"frob\":1,"
                    "\"headers\":{\"Content-Type\":\"x\",\"X-Api-Key\":\"k\",\"a b\":\"x\","
                    "\"X-Ok\":\"line\\nbreak\",\"Webhook-Id\":\"x\",\"X-Num\":3}}",
                false, &cfg) == C360_EINVAL);
    CHECK(reported(&c, "/method"));
    CHECK(reported(&c, "/body"));
    CHECK(reported(&c, "/auth/header_name"));
    CHECK(reported(&c, "/batch/max_records"));
    CHECK(reported(&c, "/batch/extra"));
    CHECK(reported(&c, "/timeout_ms"));
    CHECK(reported(&c, "/max_requests_per_s"));
    CHECK(reported(&c, "/frob"));
    CHECK(reported(&c, "/headers/Content-Type"));
    CHECK(reported(&c, "/headers/X-Api-Key"));
    CHECK(reported(&c, "/headers/a b"));
    CHECK(reported(&c, "/headers/X-Ok"));
    CHECK(reported(&c, "/headers/Webhook-Id"));
    CHECK(reported(&c, "/headers/X-Num"));
    CHECK(!reported(&c, "/url"));

    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"auth\":{\"type\":\"header\"}}", false,
                &cfg) == C360_EINVAL && reported(&c, "/auth/header_name"));
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"auth\":{\"type\":\"header\","
                    "\"header_name\":\"Content-Length\"}}", false, &cfg) == C360_EINVAL);
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"auth\":{\"type\":\"header\","
                    "\"header_name\":\"Authorization\"}}", false, &cfg) == C360_OK);
    crm_cfg_free(&cfg);
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"auth\":{}}", false, &cfg) == C360_EINVAL &&
          reported(&c, "/auth/type"));
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"auth\":{\"type\":\"oauth\"}}", false,
                &cfg) == C360_EINVAL && reported(&c, "/auth/type"));
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"headers\":{\"a/b~\":\"x\"}}", false,
                &cfg) == C360_EINVAL && reported(&c, "/headers/a~1b~0"));
    CHECK(parse(&c, "{\"url\":\"https://x.example/\",\"headers\":{\"X-A\":\"1\",\"x-a\":\"2\"}}",
                false, &cfg) == C360_EINVAL);
    call_reset(&c);
}

static c360_record rec(const char *type, const char *id, const char *json, int64_t at)
{
    c360_record r = {sizeof r, 1, type, id, "tsrc", json, strlen(json), at};
    return r;
}

static void test_body(void)
{
    char ts[32], t[64];
    crm_rfc3339(1795943700123LL, ts);
    CHECK_STR(ts, "2026-11-29T09:15:00.123Z");
    crm_rfc3339(0, ts);
    CHECK_STR(ts, "1970-01-01T00:00:00.000Z");
    crm_event_type("lead", t, sizeof t);
    CHECK_STR(t, "lead.created");
    crm_event_type("lead.deleted", t, sizeof t);
    CHECK_STR(t, "lead.deleted");

    CHECK(crm_json_object_shape(" {\"a\":1}\n", 9));
    CHECK(!crm_json_object_shape("[1]", 3));
    CHECK(!crm_json_object_shape("{", 1));
    CHECK(!crm_json_object_shape("{\0}", 3));

    c360_record a = rec("lead", "meta:lead:1", "{\"a\":1}", 1795943700000LL);
    c360_record b = rec("lead.deleted", "meta:lead.deleted:2", "{\"b\":\"x\\\"y\"}", 1795943700000LL);
    c360_record bad = rec("lead", "x", "[]", 0);
    const c360_record *one[] = {&a}, *two[] = {&a, &b}, *two_r[] = {&b, &a}, *withbad[] = {&a, &bad};
    crm_cfg cfg = {.method = "POST", .max_records = 1, .array_body = true};
    crm_buf buf;
    size_t badi = 99;
    CHECK(crm_body_build(&cfg, one, 1, &buf, NULL) == C360_OK);
    CHECK_STR(crm_buf_body(&buf), "{\"a\":1}");
    crm_buf_free(&buf);

    cfg.body = CRM_BODY_ENVELOPE;
    CHECK(crm_body_build(&cfg, one, 1, &buf, NULL) == C360_OK);
    CHECK_STR(crm_buf_body(&buf), "{\"type\":\"lead.created\",\"timestamp\":"
                                  "\"2026-11-29T09:15:00.000Z\",\"data\":{\"a\":1}}");
    crm_buf_free(&buf);

    cfg.max_records = 10;
    CHECK(crm_body_build(&cfg, two, 2, &buf, NULL) == C360_OK);
    json_t *j = json_loads(crm_buf_body(&buf), 0, NULL);
    CHECK(json_is_array(j) && json_array_size(j) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 1), "type")), "lead.deleted");
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(j, 1), "data"), "b")),
              "x\"y");
    json_decref(j);
    crm_buf_free(&buf);

    cfg.body = CRM_BODY_RECORD;
    cfg.array_body = false;
    CHECK(crm_body_build(&cfg, one, 1, &buf, NULL) == C360_OK);
    CHECK_STR(crm_buf_body(&buf), "{\"records\":[{\"a\":1}]}");
    crm_buf_free(&buf);
    CHECK(crm_body_build(&cfg, withbad, 2, &buf, &badi) == C360_EINVAL && badi == 1);

    char id1[CRM_ID_MAX + 1], id2[CRM_ID_MAX + 1];
    CHECK(crm_request_id(&g_host, one, 1, id1, sizeof id1) == C360_OK);
    CHECK_STR(id1, "meta:lead:1");
    CHECK(crm_request_id(&g_host, two, 2, id1, sizeof id1) == C360_OK);
    CHECK(crm_request_id(&g_host, two_r, 2, id2, sizeof id2) == C360_OK);
    CHECK_STR(id1, id2);
    CHECK(strncmp(id1, "batch_", 6) == 0 && strlen(id1) == 38);
}

static void test_sign(void)
{
    uint8_t key[CRM_WHSEC_MAX];
    size_t klen = 0;
    const char *why = NULL;
    /* The test vector of the Standard Webhooks reference libraries. */
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    CHECK(crm_whsec_decode(&g_host, secret, strlen(secret), key, &klen, &why) == C360_OK);
    CHECK(klen == 24);
    crm_buf b;
    crm_buf_init(&b);
    crm_buf_adds(&b, "{\"test\": 2432232314}");
    char sig[2 * (CRM_SIG_LEN + 1)];
    const uint8_t *keys[2] = {key, key};
    size_t lens[2] = {klen, klen};
    CHECK(crm_sign(&g_host, &b, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, keys, lens, 1, sig,
                   sizeof sig) == C360_OK);
    CHECK_STR(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* The body itself is untouched by the prefix written in front of it. */
    CHECK_STR(crm_buf_body(&b), "{\"test\": 2432232314}");
    CHECK(crm_sign(&g_host, &b, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, keys, lens, 2, sig,
                   sizeof sig) == C360_OK);
    CHECK_STR(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
                   "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    crm_buf_free(&b);

    CHECK(crm_whsec_decode(&g_host, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 32, key, &klen, &why) ==
          C360_EINVAL);
    CHECK(crm_whsec_decode(&g_host, "whsec_!!!!", 10, key, &klen, &why) == C360_EINVAL);
    CHECK(crm_whsec_decode(&g_host, "whsec_AAAA", 10, key, &klen, &why) == C360_EINVAL);
    CHECK(crm_whsec_decode(&g_host, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 39, key, &klen,
                           &why) == C360_OK);
}

static void test_result(void)
{
    CHECK(crm_classify(200) == CRM_V_OK && crm_classify(204) == CRM_V_OK);
    CHECK(crm_classify(408) == CRM_V_RETRY && crm_classify(429) == CRM_V_RETRY);
    CHECK(crm_classify(500) == CRM_V_RETRY && crm_classify(503) == CRM_V_RETRY);
    CHECK(crm_classify(410) == CRM_V_GONE);
    CHECK(crm_classify(401) == CRM_V_AUTH && crm_classify(403) == CRM_V_AUTH);
    CHECK(crm_classify(301) == CRM_V_REDIRECT && crm_classify(308) == CRM_V_REDIRECT);
    CHECK(crm_classify(400) == CRM_V_SPLIT && crm_classify(422) == CRM_V_SPLIT);
    CHECK(crm_classify(404) == CRM_V_ERROR && crm_classify(100) == CRM_V_ERROR);
    CHECK(crm_classify(600) == CRM_V_ERROR && crm_classify(-1) == CRM_V_ERROR);

    int64_t e = 0;
    CHECK(crm_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &e) && e == 784111777);
    CHECK(crm_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &e) && e == 784111777);
    CHECK(crm_http_date("Sun Nov  6 08:49:37 1994", &e) && e == 784111777);
    CHECK(crm_http_date("Thu, 29 Feb 2024 23:59:59 GMT", &e) && e == 1709251199);
    CHECK(!crm_http_date("Sun, 06 Nov 1994 08:49:37 CET", &e));
    CHECK(!crm_http_date("Sun, 06 Foo 1994 08:49:37 GMT", &e));
    CHECK(!crm_http_date("Sun, 06 Nov 1994 8:49:37 GMT", &e));
    CHECK(!crm_http_date("", &e));

    uint32_t ms = 0;
    int64_t now = 784111777000LL;
    CHECK(crm_retry_after("120", now, &ms) && ms == 120000);
    CHECK(crm_retry_after(" 0 ", now, &ms) && ms == 0);
    CHECK(crm_retry_after("999999999999", now, &ms) && ms == 86400000u);
    CHECK(crm_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now, &ms) && ms == 30000);
    CHECK(crm_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now, &ms) && ms == 0);
    CHECK(!crm_retry_after("-5", now, &ms));
    CHECK(!crm_retry_after("soon", now, &ms));
    CHECK(!crm_retry_after(NULL, now, &ms));

    char ex[CRM_EXCERPT_MAX + 1];
    const char *body = "  {\"error\":\"bad\tfield\",\r\n\"echo\":\"Bearer s3cr3t-token\"}\x01";
    const char *secrets[] = {"s3cr3t-token", "abc"};
    size_t lens[] = {12, 3};
    crm_excerpt((const uint8_t *)body, strlen(body), secrets, lens, 2, ex, sizeof ex);
    CHECK_STR(ex, "{\"error\":\"bad field\", \"echo\":\"Bearer [redacted]\"}");
    char big[1000];
    memset(big, 'x', sizeof big);
    /* A 2-byte character straddling the cut is left out whole. */
    big[199] = (char)0xc3;
    big[200] = (char)0xa9;
    crm_excerpt((const uint8_t *)big, sizeof big, NULL, NULL, 0, ex, sizeof ex);
    CHECK(strlen(ex) == 199);
    const uint8_t junk[] = {0xff, 'a', 0xc2, 0x85, 'b', 0xed, 0xa0, 0x80, 'c'};
    crm_excerpt(junk, sizeof junk, NULL, NULL, 0, ex, sizeof ex);
    CHECK_STR(ex, "a b c");
    /* A secret just past the part shown is still not shown in part. */
    char tail[260];
    memset(tail, 'y', sizeof tail);
    memcpy(tail + 195, "s3cr3t-token", 12);
    crm_excerpt((const uint8_t *)tail, sizeof tail, secrets, lens, 1, ex, sizeof ex);
    CHECK(strstr(ex, "s3cr") == NULL);
}

/* ------------------------------------------------------------------------ */
/* Whole calls                                                               */
/* ------------------------------------------------------------------------ */

static const c360_plugin_desc *g_desc;
static void *g_pd;

static void *open_conn(c360_call *c, const char *config)
{
    static c360_instance inst = {"acme", "crm1"};
    void *id = NULL;
    CHECK(g_desc->instance_open(c, g_pd, &inst, config, strlen(config), &id) == C360_OK);
    return id;
}

/* What the host does when a secret is put or deleted: the instance is
 * closed and opened anew (crm_generic keeps what it read until then). */
static void *reopen_conn(c360_call *c, void *inst, const char *config)
{
    g_desc->instance_close(g_pd, inst);
    return open_conn(c, config);
}

static void set_secret(c360_call *c, const char *name, const char *value)
{
    int i = 0;
    while (c->secret_names[i])
        i++;
    c->secret_names[i] = name;
    c->secret_vals[i] = value;
}

/* Checks a Standard Webhooks request as a receiver would, with secret. */
static bool sw_valid(const f_req *r, const char *whsec, int which)
{
    const char *id = req_header(r, "webhook-id"), *ts = req_header(r, "webhook-timestamp");
    const char *sig = req_header(r, "webhook-signature");
    if (!id || !ts || !sig)
        return false;
    uint8_t key[128];
    size_t klen = 0;
    const char *b64 = whsec + 6;
    if (sodium_base642bin(key, sizeof key, b64, strlen(b64), NULL, &klen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    size_t mlen = strlen(id) + strlen(ts) + 2 + r->body_len;
    char *msg = malloc(mlen + 1);
    snprintf(msg, mlen + 1, "%s.%s.", id, ts);
    memcpy(msg + strlen(id) + strlen(ts) + 2, r->body, r->body_len);
    uint8_t mac[32];
    f_hmac(key, klen, msg, mlen, mac);
    free(msg);
    char want[64];
    sodium_bin2base64(want, sizeof want, mac, 32, sodium_base64_VARIANT_ORIGINAL);
    /* The which-th of the space-separated signatures. */
    const char *p = sig;
    for (int i = 0; i < which && p; i++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p || strncmp(p, "v1,", 3) != 0)
        return false;
    return strncmp(p + 3, want, strlen(want)) == 0;
}

static const char *WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *WHSEC2 = "whsec_c2Vjb25kLXNlY3JldC0yNC1ieXRlcyEh";

static void test_deliver(void)
{
    c360_call c = {0};
    call_reset(&c);
    g_desc = c360_plugin_entry();
    CHECK(g_desc->magic == C360_PLUGIN_MAGIC && strcmp(g_desc->name, "crm_generic") == 0);
    CHECK(C360_DESC_HAS(g_desc, deliver_batch) && g_desc->deliver_batch != NULL);
    CHECK(g_desc->init(&c, &g_host, &g_pd) == C360_OK);

    c360_record r1 = rec("lead", "meta:lead:1", "{\"email\":\"a@b.c\"}", 1795943700000LL);
    c360_record r2 = rec("lead", "meta:lead:2", "{\"email\":\"d@e.f\"}", 1795943700000LL);
    c360_record r3 = rec("lead", "meta:lead:3", "{\"email\":\"g@h.i\"}", 1795943700000LL);
    c360_record r4 = rec("lead", "meta:lead:4", "{\"email\":\"j@k.l\"}", 1795943700000LL);
    c360_record r5 = rec("lead", "meta:lead:5", "{\"email\":\"m@n.o\"}", 1795943700000LL);
    const c360_record *five[] = {&r1, &r2, &r3, &r4, &r5};
    int32_t st[5];

    /* Standard Webhooks, one record. */
    const char *sw_cfg = "{\"url\":\"https://crm.example.com/in\","
                         "\"auth\":{\"type\":\"standard_webhooks\"},\"headers\":{\"X-Src\":\"c360\"}}";
    void *sw = open_conn(&c, sw_cfg);
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(c.nreq == 1);
    CHECK_STR(c.req[0].method, "POST");
    CHECK_STR(c.req[0].url, "https://crm.example.com/in");
    CHECK(c.req[0].flags == C360_HTTP_CUSTOMER_URL);
    CHECK_STR(c.req[0].body, "{\"email\":\"a@b.c\"}");
    CHECK_STR(req_header(&c.req[0], "webhook-id"), "meta:lead:1");
    CHECK_STR(req_header(&c.req[0], "idempotency-key"), "meta:lead:1");
    CHECK_STR(req_header(&c.req[0], "content-type"), "application/json");
    CHECK_STR(req_header(&c.req[0], "x-src"), "c360");
    CHECK(req_header(&c.req[0], "authorization") == NULL);
    CHECK(sw_valid(&c.req[0], WHSEC, 0));
    CHECK(strchr(req_header(&c.req[0], "webhook-signature"), ' ') == NULL);
    CHECK(c.rl_takes == 1 && c.rl_feeds == 1);
    CHECK(c.nstatus == 1 && c.status_state == C360_CONN_ACTIVE);

    /* Active was reported a moment ago: not again. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(c.nstatus == 0);

    /* Rotation (signing_secret_next put: the host reopens): both
     * signatures, each valid under its own secret. */
    sw = reopen_conn(&c, sw, sw_cfg);
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    set_secret(&c, "signing_secret_next", WHSEC2);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(sw_valid(&c.req[0], WHSEC, 0) && sw_valid(&c.req[0], WHSEC2, 1));
    CHECK(!sw_valid(&c.req[0], WHSEC2, 0));

    /* No secret (deleted: reopened): nothing sent, a wait, the connection
     * told why. */
    sw = reopen_conn(&c, sw, sw_cfg);
    call_reset(&c);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY);
    CHECK(c.nreq == 0 && c.retry_set && c.retry_after >= 60000);
    CHECK(c.nstatus == 1 && c.status_state == C360_CONN_FAILING);
    CHECK_CONTAINS(c.status_cause, "signing_secret");
    /* The same cause again: not reported again within the minute. */
    call_reset(&c);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY && c.nstatus == 0);
    /* Fixed: active again, once. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(c.nstatus == 1 && c.status_state == C360_CONN_ACTIVE);
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK && c.nstatus == 0);
    sw = reopen_conn(&c, sw, sw_cfg);
    call_reset(&c);
    set_secret(&c, "signing_secret", "not-a-whsec");
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY && c.nreq == 0);
    CHECK_CONTAINS(c.error, "whsec_");
    CHECK(strstr(c.error, "not-a-whsec") == NULL);

    /* Answers. */
    struct {
        f_answer a;
        int32_t want;
        uint32_t retry_ms;
        const char *err;
    } cases[] = {
        {{C360_OK, 500, NULL, "oops"}, C360_RETRY, 0, "HTTP 500: oops"},
        {{C360_OK, 503, "7", ""}, C360_RETRY, 7000, "HTTP 503"},
        {{C360_OK, 429, "3", "{\"error\":\"slow down\"}"}, C360_THROTTLED, 3000, "HTTP 429"},
        {{C360_OK, 408, NULL, ""}, C360_RETRY, 0, "HTTP 408"},
        {{C360_OK, 410, NULL, "gone"}, C360_EGONE, 0, "HTTP 410"},
        {{C360_OK, 400, NULL, "{\"field\":\"email\"}"}, C360_ERROR, 0, "HTTP 400: {\"field\":\"email\"}"},
        {{C360_OK, 404, NULL, "no"}, C360_ERROR, 0, "HTTP 404"},
        {{C360_OK, 401, NULL, "who?"}, C360_ERROR, 0, "credentials refused"},
        {{C360_OK, 302, NULL, ""}, C360_ERROR, 0, "redirects are not followed"},
        {{C360_EIO, 0, NULL, NULL}, C360_RETRY, 0, "could not reach"},
        {{C360_ETIMEOUT, 0, NULL, NULL}, C360_RETRY, 0, "could not reach"},
        {{C360_EDENIED, 0, NULL, NULL}, C360_ERROR, 0, "operator"},
        {{C360_ETOOBIG, 0, NULL, NULL}, C360_RETRY, 0, "size limit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        call_reset(&c);
        set_secret(&c, "signing_secret", WHSEC);
        c.ans[0] = cases[i].a;
        c.nans = 1;
        int32_t got = g_desc->deliver(&c, g_pd, sw, &r1);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu: got %d\n", i, (int)got);
        CHECK(got == cases[i].want);
        if (got == C360_RETRY || got == C360_THROTTLED)
            CHECK(c.retry_set && c.retry_after == cases[i].retry_ms);
        CHECK_CONTAINS(c.error, cases[i].err);
    }
    /* A host older than ABI 1.5 does not know C360_THROTTLED: a 429 is a
     * C360_RETRY there, as before. */
    g_host.abi_minor = 4;
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.ans[0] = (f_answer){C360_OK, 429, "3", ""};
    c.nans = 1;
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY);
    CHECK(c.retry_set && c.retry_after == 3000);
    g_host.abi_minor = C360_ABI_MINOR;
    CHECK(crm_defer_status(5) == C360_THROTTLED && crm_defer_status(4) == C360_RETRY &&
          crm_defer_status(2) == C360_RETRY);

    /* Bearer, with the token echoed by a careless endpoint. */
    void *be = open_conn(&c, "{\"url\":\"https://crm.example.com/in\",\"method\":\"PUT\","
                             "\"auth\":{\"type\":\"bearer\"}}");
    call_reset(&c);
    set_secret(&c, "token", "tok-123456\n");
    c.ans[0] = (f_answer){C360_OK, 400, NULL, "bad request from Bearer tok-123456"};
    c.nans = 1;
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_ERROR);
    CHECK_STR(c.req[0].method, "PUT");
    CHECK_STR(req_header(&c.req[0], "authorization"), "Bearer tok-123456");
    CHECK(req_header(&c.req[0], "webhook-signature") == NULL);
    CHECK(strstr(c.error, "tok-123456") == NULL);
    CHECK_CONTAINS(c.error, "[redacted]");
    g_desc->instance_close(g_pd, be);

    /* Basic. */
    const char *ba_cfg = "{\"url\":\"https://crm.example.com/in\",\"auth\":{\"type\":\"basic\"}}";
    void *ba = open_conn(&c, ba_cfg);
    call_reset(&c);
    set_secret(&c, "username", "Aladdin");
    set_secret(&c, "password", "open sesame");
    CHECK(g_desc->deliver(&c, g_pd, ba, &r1) == C360_OK);
    CHECK_STR(req_header(&c.req[0], "authorization"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    ba = reopen_conn(&c, ba, ba_cfg);
    call_reset(&c);
    set_secret(&c, "username", "a:b");
    set_secret(&c, "password", "x");
    CHECK(g_desc->deliver(&c, g_pd, ba, &r1) == C360_RETRY && c.nreq == 0);
    g_desc->instance_close(g_pd, ba);

    /* API-key header. */
    void *hd = open_conn(&c, "{\"url\":\"https://crm.example.com/in\","
                             "\"auth\":{\"type\":\"header\",\"header_name\":\"X-Api-Key\"}}");
    call_reset(&c);
    set_secret(&c, "api_key", "k-1");
    CHECK(g_desc->deliver(&c, g_pd, hd, &r1) == C360_OK);
    CHECK_STR(req_header(&c.req[0], "x-api-key"), "k-1");
    g_desc->instance_close(g_pd, hd);

    /* Rate limit paused: nothing sent, the wait passed on. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.rl_take = C360_RETRY;
    c.rl_wait = 4321;
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_THROTTLED);
    CHECK(c.nreq == 0 && c.retry_set && c.retry_after == 4321);
    /* ... a plain retry for a 1.4 host. */
    g_host.abi_minor = 4;
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.rl_take = C360_RETRY;
    c.rl_wait = 4321;
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY);
    CHECK(c.nreq == 0 && c.retry_after == 4321);
    g_host.abi_minor = C360_ABI_MINOR;

    /* A short wait is slept in the call: no attempt spent on it. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.rl_refusals = 2;
    c.rl_wait = 30;
    int64_t t0 = f_now_ms();
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(c.nreq == 1 && c.rl_takes == 3 && f_now_ms() - t0 >= 60);

    /* Workers competing for the connection's own budget (waits of one
     * step, 20 ms at 50/s): taken as often as it takes, no attempt spent
     * (it used to give up after 5 takes). */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.rl_refusals = 12;
    c.rl_wait = 3;
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(c.nreq == 1 && c.rl_takes == 13 && !c.retry_set);

    /* A throttled endpoint (waits beyond the budget's own step): slept
     * for CRM_RL_THROTTLED_SLEEP_MS in all, then handed back with the
     * slot's wait and a cause that says so. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.rl_refusals = 1000;
    c.rl_wait = 60;
    t0 = f_now_ms();
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_THROTTLED);
    CHECK(c.nreq == 0 && c.rl_takes == 2 && c.retry_after == 60);
    CHECK(f_now_ms() - t0 < 100 + 60);
    CHECK_CONTAINS(c.error, "throttled");

    /* Own pacing, but the call has no room left for the wait and the
     * request (15 s timeout: 7.75 s needed): handed back, named so. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.time_left_ms = 250 + 7500 + 5;
    c.rl_refusals = 1000;
    c.rl_wait = 10;
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_THROTTLED);
    CHECK(c.nreq == 0 && c.rl_takes == 1 && c.retry_after == 10);
    CHECK_CONTAINS(c.error, "before the call's deadline");

    /* Out of time: nothing sent. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.time_left_ms = 10;
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY && c.nreq == 0);

    /* Batching off: deliver_batch sends one request per record. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver_batch(&c, g_pd, sw, five, 3, st) == C360_OK);
    CHECK(c.nreq == 3 && st[0] == C360_OK && st[1] == C360_OK && st[2] == C360_OK);
    CHECK_STR(req_header(&c.req[2], "webhook-id"), "meta:lead:3");
    /* ... and stops at the first struggling answer. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.ans[0] = (f_answer){C360_OK, 200, NULL, ""};
    c.ans[1] = (f_answer){C360_OK, 503, "2", ""};
    c.nans = 2;
    CHECK(g_desc->deliver_batch(&c, g_pd, sw, five, 3, st) == C360_OK);
    CHECK(c.nreq == 2 && st[0] == C360_OK && st[1] == C360_RETRY && st[2] == C360_RETRY);
    CHECK(c.retry_after == 2000);
    /* ... a 429 puts that record and the rest off, unattempted (1.5). */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.ans[0] = (f_answer){C360_OK, 200, NULL, ""};
    c.ans[1] = (f_answer){C360_OK, 429, "4", ""};
    c.nans = 2;
    CHECK(g_desc->deliver_batch(&c, g_pd, sw, five, 3, st) == C360_OK);
    CHECK(c.nreq == 2 && st[0] == C360_OK && st[1] == C360_THROTTLED && st[2] == C360_THROTTLED);
    CHECK(c.retry_set && c.retry_after == 4000);
    g_desc->instance_close(g_pd, sw);

    /* Batching on: 5 records in groups of 3, envelopes in arrays. */
    void *bt = open_conn(&c, "{\"url\":\"https://crm.example.com/in\",\"body\":\"envelope\","
                             "\"auth\":{\"type\":\"standard_webhooks\"},\"batch\":{\"max_records\":3}}");
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver_batch(&c, g_pd, bt, five, 5, st) == C360_OK);
    CHECK(c.nreq == 2);
    for (int i = 0; i < 5; i++)
        CHECK(st[i] == C360_OK);
    json_t *j = json_loads(c.req[0].body, 0, NULL);
    CHECK(json_is_array(j) && json_array_size(j) == 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "type")), "lead.created");
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(j, 2), "data"),
                                                "email")), "g@h.i");
    json_decref(j);
    CHECK(strncmp(req_header(&c.req[0], "webhook-id"), "batch_", 6) == 0);
    CHECK(sw_valid(&c.req[0], WHSEC, 0) && sw_valid(&c.req[1], WHSEC, 0));
    char first_id[64];
    snprintf(first_id, sizeof first_id, "%s", req_header(&c.req[0], "webhook-id"));
    /* deliver of one record with batching on: an array of one, the
     * record's own id. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, bt, &r4) == C360_OK);
    CHECK(c.req[0].body[0] == '[');
    CHECK_STR(req_header(&c.req[0], "webhook-id"), "meta:lead:4");

    /* The same set again: the same batch id. A 400 on the batch: each
     * record alone, only the refused one dead. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.ans[0] = (f_answer){C360_OK, 400, NULL, "record 2 is bad"};
    c.ans[1] = (f_answer){C360_OK, 200, NULL, ""};
    c.ans[2] = (f_answer){C360_OK, 422, NULL, "bad email"};
    c.ans[3] = (f_answer){C360_OK, 200, NULL, ""};
    c.nans = 4;
    CHECK(g_desc->deliver_batch(&c, g_pd, bt, five, 3, st) == C360_OK);
    CHECK_STR(req_header(&c.req[0], "webhook-id"), first_id);
    CHECK(c.nreq == 4);
    CHECK(st[0] == C360_OK && st[1] == C360_ERROR && st[2] == C360_OK);
    CHECK_CONTAINS(c.error, "bad email");
    CHECK_STR(req_header(&c.req[2], "webhook-id"), "meta:lead:2");

    /* A 410 on the first group: everything gone, nothing more sent. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.ans[0] = (f_answer){C360_OK, 410, NULL, ""};
    c.nans = 1;
    CHECK(g_desc->deliver_batch(&c, g_pd, bt, five, 5, st) == C360_OK);
    CHECK(c.nreq == 1);
    for (int i = 0; i < 5; i++)
        CHECK(st[i] == C360_EGONE);
    g_desc->instance_close(g_pd, bt);

    /* The operator's switch: http:// refused unless allowed. */
    call_reset(&c);
    const char *plain = "{\"url\":\"http://127.0.0.1/x\"}";
    CHECK(g_desc->validate_config(&c, g_pd, plain, strlen(plain)) == C360_EINVAL);
    CHECK(c.ncfg == 1 && strcmp(c.cfg_ptr[0], "/url") == 0);
    call_reset(&c);
    CHECK(g_desc->disconnect(&c, g_pd, NULL) == C360_OK);
    /* Every instance closed: every secret value given back. */
    CHECK(atomic_load(&g_secrets_live) == 0);
    g_desc->fini(g_pd);
    call_reset(&c);
}

/* The secrets an instance keeps: read by its first call and reused by
 * the later ones; a missing, unusable or unreadable secret is read again
 * by the next call; what the endpoint refused is read again; redaction
 * works the same on kept values; close gives every value back. */
static void test_secret_cache(void)
{
    c360_call c = {0};
    call_reset(&c);
    CHECK(g_desc->init(&c, &g_host, &g_pd) == C360_OK);
    c360_record r1 = rec("lead", "meta:lead:1", "{\"email\":\"a@b.c\"}", 1795943700000LL);
    const c360_record *two[] = {&r1, &r1};
    int32_t st[2];
    const char *sw_cfg = "{\"url\":\"https://crm.example.com/in\","
                         "\"auth\":{\"type\":\"standard_webhooks\"}}";

    /* Two calls of one instance: secret_get for the first only (the
     * signing secret, and signing_secret_next, absent). */
    void *sw = open_conn(&c, sw_cfg);
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(c.secret_gets == 2 && atomic_load(&g_secrets_live) == 1);
    CHECK(sw_valid(&c.req[0], WHSEC, 0));
    /* The store changed but the instance was not reopened: the kept value
     * (the host reopens on every put, see crm_secrets.c). */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC2);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK);
    CHECK(c.secret_gets == 0 && sw_valid(&c.req[0], WHSEC, 0));
    call_reset(&c);
    CHECK(g_desc->deliver_batch(&c, g_pd, sw, two, 2, st) == C360_OK);
    CHECK(c.secret_gets == 0 && c.nreq == 2 && st[0] == C360_OK && st[1] == C360_OK);
    CHECK(sw_valid(&c.req[1], WHSEC, 0));
    CHECK(atomic_load(&g_secrets_live) == 1);
    /* Closed: the kept value is given back (ASan would also see a leak). */
    g_desc->instance_close(g_pd, sw);
    CHECK(atomic_load(&g_secrets_live) == 0);

    /* Missing: nothing kept, read again by every call until it is there. */
    sw = open_conn(&c, sw_cfg);
    for (int i = 0; i < 2; i++) {
        call_reset(&c);
        CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY);
        CHECK(c.secret_gets == 1 && c.nreq == 0);
        CHECK_CONTAINS(c.error, "\"signing_secret\" is not set");
    }
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK && c.secret_gets == 2);
    call_reset(&c);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK && c.secret_gets == 0);
    g_desc->instance_close(g_pd, sw);
    CHECK(atomic_load(&g_secrets_live) == 0);

    /* Unusable (not whsec_, or over 64 KiB) or unreadable: not kept. */
    sw = open_conn(&c, sw_cfg);
    call_reset(&c);
    set_secret(&c, "signing_secret", "not-a-whsec");
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY && c.secret_gets == 2);
    CHECK(atomic_load(&g_secrets_live) == 0);
    char *big = malloc(CRM_SECRET_MAX + 2);
    memset(big, 'a', CRM_SECRET_MAX + 1);
    big[CRM_SECRET_MAX + 1] = '\0';
    call_reset(&c);
    set_secret(&c, "signing_secret", big);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY && c.secret_gets == 1);
    CHECK_CONTAINS(c.error, "at most 64 KiB");
    CHECK(atomic_load(&g_secrets_live) == 0);
    free(big);
    call_reset(&c);
    c.secret_fail = C360_EIO;
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_RETRY && c.secret_gets == 1);
    CHECK_CONTAINS(c.error, "reading secret \"signing_secret\"");
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK && c.secret_gets == 2);
    g_desc->instance_close(g_pd, sw);
    CHECK(atomic_load(&g_secrets_live) == 0);

    /* Bearer: a kept token still redacted from an excerpt; one the
     * endpoint refused is read again by the next call. */
    const char *be_cfg = "{\"url\":\"https://crm.example.com/in\",\"auth\":{\"type\":\"bearer\"}}";
    void *be = open_conn(&c, be_cfg);
    call_reset(&c);
    set_secret(&c, "token", "tok-old-123");
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_OK && c.secret_gets == 1);
    call_reset(&c);
    c.ans[0] = (f_answer){C360_OK, 400, NULL, "bad: Bearer tok-old-123"};
    c.nans = 1;
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_ERROR && c.secret_gets == 0);
    CHECK(strstr(c.error, "tok-old-123") == NULL);
    CHECK_CONTAINS(c.error, "[redacted]");
    call_reset(&c);
    c.ans[0] = (f_answer){C360_OK, 401, NULL, "who is tok-old-123?"};
    c.nans = 1;
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_ERROR && c.secret_gets == 0);
    CHECK(strstr(c.error, "tok-old-123") == NULL);
    /* Forgotten, but only freed with the call's reference: given back. */
    CHECK(atomic_load(&g_secrets_live) == 0);
    call_reset(&c);
    set_secret(&c, "token", "tok-new-456");
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_OK && c.secret_gets == 1);
    CHECK_STR(req_header(&c.req[0], "authorization"), "Bearer tok-new-456");
    g_desc->instance_close(g_pd, be);
    CHECK(atomic_load(&g_secrets_live) == 0);

    /* Basic: the kept pair and its base64 form redacted on a later call. */
    void *ba = open_conn(&c, "{\"url\":\"https://crm.example.com/in\",\"auth\":{\"type\":\"basic\"}}");
    call_reset(&c);
    set_secret(&c, "username", "Aladdin");
    set_secret(&c, "password", "open sesame");
    CHECK(g_desc->deliver(&c, g_pd, ba, &r1) == C360_OK && c.secret_gets == 2);
    call_reset(&c);
    c.ans[0] = (f_answer){C360_OK, 400, NULL, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== Aladdin/open sesame"};
    c.nans = 1;
    CHECK(g_desc->deliver(&c, g_pd, ba, &r1) == C360_ERROR && c.secret_gets == 0);
    CHECK(strstr(c.error, "QWxhZGRpbjpvcGVuIHNlc2FtZQ") == NULL);
    CHECK(strstr(c.error, "Aladdin") == NULL && strstr(c.error, "sesame") == NULL);
    CHECK(atomic_load(&g_secrets_live) == 2);
    g_desc->instance_close(g_pd, ba);
    CHECK(atomic_load(&g_secrets_live) == 0);

    g_desc->fini(g_pd);
    call_reset(&c);
}

/* The edges of a stored value. docs/connectors/crm_generic.md: "Line
 * breaks (CR or LF) at the end of a stored value are ignored" -- so a
 * signing secret or a token stored with "\r\n" (pasted on Windows) works
 * as without it. The 64 KiB limit (CRM_SECRET_MAX) is on
 * the value without its newline: exactly 64 KiB and "\n" is sent whole.
 * An out-of-memory secret_get fails the delivery with C360_ENOMEM (which
 * the host retries), sends nothing, keeps nothing and blames nobody: the
 * next call reads again. */
static void test_secret_edges(void)
{
    c360_call c = {0};
    call_reset(&c);
    CHECK(g_desc->init(&c, &g_host, &g_pd) == C360_OK);
    c360_record r1 = rec("lead", "meta:lead:1", "{\"email\":\"a@b.c\"}", 1795943700000LL);
    const c360_record *two[] = {&r1, &r1};
    int32_t st[2];
    const char *sw_cfg = "{\"url\":\"https://crm.example.com/in\","
                         "\"auth\":{\"type\":\"standard_webhooks\"}}";
    const char *be_cfg = "{\"url\":\"https://crm.example.com/in\",\"auth\":{\"type\":\"bearer\"}}";

    /* A signing secret stored with CRLF: signed with the secret itself. */
    char crlf[128];
    snprintf(crlf, sizeof crlf, "%s\r\n", WHSEC);
    void *sw = open_conn(&c, sw_cfg);
    call_reset(&c);
    set_secret(&c, "signing_secret", crlf);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK && c.nreq == 1);
    CHECK(sw_valid(&c.req[0], WHSEC, 0));
    g_desc->instance_close(g_pd, sw);
    /* ... and a token: no CR or LF reaches the header. */
    void *be = open_conn(&c, be_cfg);
    call_reset(&c);
    set_secret(&c, "token", "tok-crlf-789\r\n");
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_OK && c.nreq == 1);
    CHECK_STR(req_header(&c.req[0], "authorization"), "Bearer tok-crlf-789");
    g_desc->instance_close(g_pd, be);
    CHECK(atomic_load(&g_secrets_live) == 0);

    /* Exactly CRM_SECRET_MAX bytes and a newline: within the limit, sent
     * whole ("Bearer " + 64 KiB), and kept. One byte more is refused. */
    char *max = malloc(CRM_SECRET_MAX + 3);
    memset(max, 'a', CRM_SECRET_MAX);
    memcpy(max + CRM_SECRET_MAX, "\n", 2);
    be = open_conn(&c, be_cfg);
    call_reset(&c);
    set_secret(&c, "token", max);
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_OK && c.nreq == 1);
    CHECK(req_header_len(&c.req[0], "authorization") == 7 + (size_t)CRM_SECRET_MAX);
    CHECK(strncmp(req_header(&c.req[0], "authorization"), "Bearer aaaa", 11) == 0);
    CHECK(atomic_load(&g_secrets_live) == 1);
    be = reopen_conn(&c, be, be_cfg);
    memset(max, 'a', CRM_SECRET_MAX + 1);
    memcpy(max + CRM_SECRET_MAX + 1, "\n", 2);
    call_reset(&c);
    set_secret(&c, "token", max);
    CHECK(g_desc->deliver(&c, g_pd, be, &r1) == C360_RETRY && c.nreq == 0);
    CHECK_CONTAINS(c.error, "at most 64 KiB");
    CHECK(atomic_load(&g_secrets_live) == 0);
    g_desc->instance_close(g_pd, be);
    free(max);

    /* Out of memory in secret_get, for the first secret and for the
     * optional second (the first one read is given back): C360_ENOMEM,
     * nothing sent, nothing kept, the connection not marked failing. */
    sw = open_conn(&c, sw_cfg);
    for (int from = 0; from < 2; from++) {
        call_reset(&c);
        set_secret(&c, "signing_secret", WHSEC);
        c.secret_fail = C360_ENOMEM;
        c.secret_fail_from = from;
        CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_ENOMEM);
        CHECK(c.secret_gets == from + 1 && c.nreq == 0 && c.nstatus == 0);
        CHECK(atomic_load(&g_secrets_live) == 0);
    }
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    c.secret_fail = C360_ENOMEM;
    CHECK(g_desc->deliver_batch(&c, g_pd, sw, two, 2, st) == C360_ENOMEM);
    CHECK(st[0] == C360_ENOMEM && st[1] == C360_ENOMEM && c.nreq == 0);
    /* The next call reads again, and that read is kept. */
    call_reset(&c);
    set_secret(&c, "signing_secret", WHSEC);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK && c.secret_gets == 2);
    CHECK(sw_valid(&c.req[0], WHSEC, 0));
    call_reset(&c);
    CHECK(g_desc->deliver(&c, g_pd, sw, &r1) == C360_OK && c.secret_gets == 0);
    g_desc->instance_close(g_pd, sw);
    CHECK(atomic_load(&g_secrets_live) == 0);

    g_desc->fini(g_pd);
    call_reset(&c);
}

/* One instance's calls on several threads at once, some of them refused
 * (401: the kept secrets forgotten while other calls use them): every
 * request signed with the secret, nothing used after it was freed (ASan),
 * everything given back at close. */
#define T_THREADS 4
#define T_CALLS 200

typedef struct t_arg {
    void *inst;
    int id;
    int bad;
} t_arg;

static void *t_deliver(void *arg)
{
    t_arg *a = arg;
    c360_call *c = calloc(1, sizeof *c);
    c360_record r1 = rec("lead", "meta:lead:1", "{\"email\":\"a@b.c\"}", 1795943700000LL);
    for (int i = 0; i < T_CALLS; i++) {
        call_reset(c);
        set_secret(c, "signing_secret", WHSEC);
        bool refuse = (i + a->id) % 7 == 0;
        c->ans[0] = (f_answer){C360_OK, refuse ? 401 : 200, NULL, ""};
        c->nans = 1;
        int32_t got = g_desc->deliver(c, g_pd, a->inst, &r1);
        if (got != (refuse ? C360_ERROR : C360_OK) || c->nreq != 1 || !sw_valid(&c->req[0], WHSEC, 0))
            a->bad++;
    }
    call_reset(c);
    free(c);
    return NULL;
}

static void test_secret_threads(void)
{
    c360_call c = {0};
    call_reset(&c);
    CHECK(g_desc->init(&c, &g_host, &g_pd) == C360_OK);
    void *sw = open_conn(&c, "{\"url\":\"https://crm.example.com/in\","
                             "\"auth\":{\"type\":\"standard_webhooks\"},\"max_requests_per_s\":1000}");
    pthread_t th[T_THREADS];
    t_arg args[T_THREADS];
    for (int i = 0; i < T_THREADS; i++) {
        args[i] = (t_arg){sw, i, 0};
        CHECK(pthread_create(&th[i], NULL, t_deliver, &args[i]) == 0);
    }
    for (int i = 0; i < T_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].bad == 0);
    }
    g_desc->instance_close(g_pd, sw);
    CHECK(atomic_load(&g_secrets_live) == 0);
    g_desc->fini(g_pd);
    call_reset(&c);
}

/* The rate-budget policy, pure: own pacing is waited for while the call
 * has room; an endpoint's throttling only briefly. */
static void test_rl_plan(void)
{
    bool paced = false;
    CHECK(crm_rl_pace_ms(50) == 20 && crm_rl_pace_ms(3) == 334 && crm_rl_pace_ms(0) == 1000);
    CHECK(crm_rl_pace_ms(1000) == 1);
    /* 50/s: a 20 ms step; up to 27 ms counts as pacing. */
    CHECK(crm_rl_plan(18, 50, 5000, 0, &paced) == CRM_RL_SLEEP && paced);
    CHECK(crm_rl_plan(27, 50, 5000, 0, &paced) == CRM_RL_SLEEP && paced);
    CHECK(crm_rl_plan(18, 50, 17, 0, &paced) == CRM_RL_DEFER_TIME && paced);
    /* Pacing never runs out of sleeps while the call has room. */
    CHECK(crm_rl_plan(18, 50, 5000, 100000, &paced) == CRM_RL_SLEEP);
    /* Slowed to 10 % after a 429 (200 ms steps) or paused: handed back. */
    CHECK(crm_rl_plan(200, 50, 5000, 0, &paced) == CRM_RL_DEFER_THROTTLED && !paced);
    CHECK(crm_rl_plan(3000, 50, 60000, 0, &paced) == CRM_RL_DEFER_THROTTLED);
    /* ... but a short one (200/s slowed: 50 ms steps) is slept, up to
     * CRM_RL_THROTTLED_SLEEP_MS in all. */
    CHECK(crm_rl_plan(50, 200, 5000, 0, &paced) == CRM_RL_SLEEP && !paced);
    CHECK(crm_rl_plan(50, 200, 5000, 50, &paced) == CRM_RL_SLEEP);
    CHECK(crm_rl_plan(50, 200, 5000, 51, &paced) == CRM_RL_DEFER_THROTTLED);
    CHECK(crm_rl_plan(50, 200, 40, 0, &paced) == CRM_RL_DEFER_THROTTLED);
    /* 1/s: one step is a second, still the connection's own pacing. */
    CHECK(crm_rl_plan(1000, 1, 5000, 0, &paced) == CRM_RL_SLEEP && paced);
    CHECK(crm_rl_plan(1300, 1, 5000, 0, &paced) == CRM_RL_DEFER_THROTTLED && !paced);
    CHECK(crm_rl_plan(1, 1000, 5000, 0, NULL) == CRM_RL_SLEEP);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    unsetenv(CRM_ALLOW_HTTP_ENV);
    test_config();
    test_body();
    test_sign();
    test_result();
    test_rl_plan();
    test_deliver();
    test_secret_cache();
    test_secret_edges();
    test_secret_threads();
    CHECK_DONE();
}
