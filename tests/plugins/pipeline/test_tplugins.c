/* test_tplugins.c -- the pipeline test plugins (tsrc, tdst, tnop) against a
 * small fake host, without c360d: the end-to-end tests rely on each of
 * their behaviours (signature checks, dedup keys, routing, records,
 * misbehaviour on demand, status mapping), so a broken plugin must fail
 * here, where the cause is obvious, and not as a lost event there.
 *
 *   test_tplugins DIR     DIR holds tsrc.so, tdst.so, tnop.so
 *
 * The fake host implements the host functions the plugins use and records
 * what they were called with. "crash" and "hang" run in forked children:
 * the crash must be a SIGSEGV (the test runs with ASAN_OPTIONS
 * handle_segv=0 so the sanitizer does not turn it into an exit), the hang
 * must still be running when the parent gives up on it. */
#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "connector_api.h"
#include "check.h"

/* ------------------------------------------------------------------------ */
/* The fake host                                                             */
/* ------------------------------------------------------------------------ */

#define MAX_REC 8

struct c360_instance {
    const char *tenant, *conn;
};

struct c360_call {
    c360_instance *inst;
    int64_t time_left_ms;
    uint32_t retry_after;
    int retry_after_set;
    char error[512];
    char dedup[256];
    int nroutes;
    char routes[4][256], route_dedup[4][256];
    int nkeys;
    char keys[8][256];
    int nrec;
    char rec_type[MAX_REC][64], rec_id[MAX_REC][256], rec_json[MAX_REC][1024];
    /* host->state_set_on_commit (ABI 1.6): what was staged, in order;
     * value "(delete)" for a delete. */
    int nstaged;
    char st_key[MAX_REC][256], st_val[MAX_REC][256];
    uint32_t st_ttl[MAX_REC];
    /* host->http */
    int http_status;
    const char *http_retry_after;
    int32_t http_result;
    char http_url[256], http_idem[256], http_body[1024];
    int http_flags;
};

static int g_config_errors;
static int64_t g_state_counter;

static void f_log(c360_call *call, int32_t level, const char *fmt, ...)
{
    (void)call; (void)level; (void)fmt;
}
static int64_t f_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
static int64_t f_mono_ms(void) { return f_now_ms(); }
static void f_free(void *p) { free(p); }
static void f_retry_after(c360_call *c, uint32_t ms) { c->retry_after = ms; c->retry_after_set = 1; }
static void f_call_error(c360_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
}
static int64_t f_time_left(c360_call *c) { return c->time_left_ms; }
static const char *f_request_id(c360_call *c) { (void)c; return "rid-test"; }
static void f_config_error(c360_call *c, const char *ptr, const char *msg)
{
    (void)c; (void)ptr; (void)msg;
    g_config_errors++;
}
static const char *f_tenant(const c360_instance *i) { return i->tenant; }
static const char *f_conn(const c360_instance *i) { return i->conn; }
static int32_t f_state_incr(c360_call *c, const char *key, int64_t d, int64_t *r)
{
    (void)c; (void)key;
    g_state_counter += d;
    *r = g_state_counter;
    return C360_OK;
}
static void f_hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}
static int f_ct_equal(const void *a, const void *b, size_t n) { return sodium_memcmp(a, b, n) == 0; }
static void f_dedup(c360_call *c, const char *k) { snprintf(c->dedup, sizeof c->dedup, "%s", k); }
static int32_t f_route_event(c360_call *c, const char *rk, const char *dk)
{
    if (c->nroutes >= 4) return C360_ETOOBIG;
    snprintf(c->routes[c->nroutes], 256, "%s", rk);
    snprintf(c->route_dedup[c->nroutes], 256, "%s", dk ? dk : "(null)");
    c->nroutes++;
    return C360_OK;
}
static int32_t f_route_keys(c360_call *c, const char *const *keys, uint32_t n)
{
    c->nkeys = (int)n;
    for (uint32_t i = 0; i < n && i < 8; i++) snprintf(c->keys[i], 256, "%s", keys[i]);
    return C360_OK;
}
static int32_t f_record_emit(c360_call *c, const char *type, const char *id, const char *json,
                             size_t len)
{
    if (c->nrec >= MAX_REC) return C360_ETOOBIG;
    snprintf(c->rec_type[c->nrec], 64, "%s", type);
    snprintf(c->rec_id[c->nrec], 256, "%s", id);
    snprintf(c->rec_json[c->nrec], 1024, "%.*s", (int)len, json);
    c->nrec++;
    return C360_OK;
}

static int32_t f_state_set_on_commit(c360_call *c, const char *key, const void *v, size_t len,
                                     uint32_t ttl)
{
    if (!key || !*key || (!v && len)) return C360_EINVAL;
    if (c->nstaged >= MAX_REC) return C360_ETOOBIG;
    snprintf(c->st_key[c->nstaged], 256, "%s", key);
    if (v) snprintf(c->st_val[c->nstaged], 256, "%.*s", (int)len, (const char *)v);
    else snprintf(c->st_val[c->nstaged], 256, "(delete)");
    c->st_ttl[c->nstaged] = ttl;
    c->nstaged++;
    return C360_OK;
}

typedef struct fresp {
    c360_http_response r;
    c360_header h[1];
} fresp;

static int32_t f_http(c360_call *c, const c360_http_request *req, c360_http_response **out)
{
    snprintf(c->http_url, sizeof c->http_url, "%s", req->url);
    snprintf(c->http_body, sizeof c->http_body, "%.*s", (int)req->body_len, (const char *)req->body);
    c->http_flags = (int)req->flags;
    for (uint32_t i = 0; i < req->header_count; i++)
        if (strcmp(req->headers[i].name, "idempotency-key") == 0)
            snprintf(c->http_idem, sizeof c->http_idem, "%s", req->headers[i].value);
    if (c->http_result != C360_OK) return c->http_result;
    fresp *f = calloc(1, sizeof *f);
    f->r.struct_size = sizeof f->r;
    f->r.status = c->http_status;
    f->r.body = (const uint8_t *)"";
    if (c->http_retry_after) {
        f->h[0].name = "retry-after";
        f->h[0].value = c->http_retry_after;
        f->r.header_count = 1;
    }
    f->r.headers = f->h;
    *out = &f->r;
    return C360_OK;
}
static void f_http_free(c360_http_response *r) { free(r); }

static c360_host_api g_host = {
    .struct_size = sizeof(c360_host_api),
    .abi_major = C360_ABI_MAJOR,
    .abi_minor = C360_ABI_MINOR,
    .log = f_log,
    .now_ms = f_now_ms,
    .monotonic_ms = f_mono_ms,
    .free = f_free,
    .call_retry_after = f_retry_after,
    .call_error = f_call_error,
    .call_time_left_ms = f_time_left,
    .call_request_id = f_request_id,
    .config_error = f_config_error,
    .instance_tenant = f_tenant,
    .instance_connection = f_conn,
    .state_incr = f_state_incr,
    .http = f_http,
    .http_free = f_http_free,
    .hmac_sha256 = f_hmac,
    .ct_equal = f_ct_equal,
    .call_dedup_key = f_dedup,
    .route_event = f_route_event,
    .instance_route_keys = f_route_keys,
    .record_emit = f_record_emit,
    .state_set_on_commit = f_state_set_on_commit,
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct loaded {
    void *dl;
    const c360_plugin_desc *d;
    void *pd;
} loaded;

static loaded load(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.so", dir, name);
    loaded l = {0};
    l.dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!l.dl) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        exit(1);
    }
    c360_entry_fn fn = (c360_entry_fn)(uintptr_t)dlsym(l.dl, C360_ENTRY_SYMBOL);
    if (!fn) {
        fprintf(stderr, "%s: no entry\n", path);
        exit(1);
    }
    l.d = fn();
    c360_call call = {0};
    if (l.d->init(&call, &g_host, &l.pd) != C360_OK) {
        fprintf(stderr, "%s: init: %s\n", name, call.error);
        exit(1);
    }
    return l;
}

static void unload(loaded *l)
{
    if (l->d->fini) l->d->fini(l->pd);
    dlclose(l->dl);
}

static void *open_inst(loaded *l, c360_instance *inst, const char *cfg, c360_call *call)
{
    void *id = NULL;
    int32_t st = l->d->instance_open(call, l->pd, inst, cfg, strlen(cfg), &id);
    CHECK(st == C360_OK);
    return id;
}

static void sign(const char *secret, const char *body, char *out /* 72 */)
{
    uint8_t mac[32];
    f_hmac(secret, strlen(secret), body, strlen(body), mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 65, mac, 32);
}

static int32_t verify(loaded *l, void *inst, const char *method, const char *query,
                      const char *body, const char *sig, c360_call *call,
                      c360_webhook_reply *reply)
{
    c360_header h[2] = {{"content-type", "application/json"}, {"x-tsrc-signature", sig}};
    c360_webhook w = {
        .struct_size = sizeof w, .header_count = sig ? 2 : 1, .method = method,
        .path = "/hooks/tsrc/c1", .query = query, .headers = h,
        .body = (const uint8_t *)body, .body_len = strlen(body), .received_at_ms = f_now_ms(),
    };
    memset(reply, 0, sizeof *reply);
    reply->struct_size = sizeof *reply;
    reply->status = 200;
    return l->d->webhook_verify(call, l->pd, inst, &w, reply);
}

static int32_t event(loaded *l, void *inst, const char *body, uint32_t attempt, c360_call *call)
{
    c360_event ev = {.struct_size = sizeof ev, .event_id = "1700000000000-0",
                     .body = (const uint8_t *)body, .body_len = strlen(body),
                     .received_at_ms = f_now_ms(), .attempt = attempt};
    return l->d->event(call, l->pd, inst, &ev);
}

/* ------------------------------------------------------------------------ */
/* tsrc                                                                      */
/* ------------------------------------------------------------------------ */

static void test_tsrc(const char *dir)
{
    loaded l = load(dir, "tsrc");
    CHECK_STR(l.d->name, "tsrc");
    CHECK(l.d->capabilities == (C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK));
    CHECK(l.d->webhook_route != NULL);

    /* Config validation reports problems. */
    c360_call call = {0};
    g_config_errors = 0;
    const char *bad = "{\"secret\":\"short\",\"tick_records\":1,\"typo\":true}";
    CHECK(l.d->validate_config(&call, l.pd, bad, strlen(bad)) == C360_EINVAL);
    CHECK(g_config_errors == 3);
    g_config_errors = 0;
    const char *nosecret = "{}";
    CHECK(l.d->validate_config(&call, l.pd, nosecret, 2) == C360_EINVAL);
    CHECK(g_config_errors == 1);

    const char *secret = "s3cret-for-c1";
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"secret\":\"%s\",\"route_keys\":[\"page:1\",\"page:2\"],\"tick_records\":true}",
             secret);
    c360_instance inst = {"tA", "c1"};
    memset(&call, 0, sizeof call);
    CHECK(l.d->validate_config(&call, l.pd, cfg, strlen(cfg)) == C360_OK);
    void *c1 = open_inst(&l, &inst, cfg, &call);
    CHECK(call.nkeys == 2);
    CHECK_STR(call.keys[0], "page:1");
    CHECK_STR(call.keys[1], "page:2");

    /* A good signature: accepted, dedup key from "id". */
    const char *body = "{\"nested\":{\"id\":\"no\",\"a\":[1,{\"b\":\"}\"}]},\"id\":\"lead-42\",\"n\":1}";
    char sig[80];
    sign(secret, body, sig);
    c360_webhook_reply reply;
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, c1, "POST", "", body, sig, &call, &reply) == C360_VERDICT_ACCEPT);
    CHECK_STR(call.dedup, "lead-42");

    /* Upper-case hex is the same signature. */
    char upper[80];
    snprintf(upper, sizeof upper, "%s", sig);
    for (char *p = upper + 7; *p; p++) if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 32);
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, c1, "POST", "", body, upper, &call, &reply) == C360_VERDICT_ACCEPT);

    /* Bad, missing, malformed, or another connection's key: 401. */
    char other[80];
    sign("another-secret", body, other);
    const char *sigs[] = {other, NULL, "sha256=zz", "sha1=00", "sha256="};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        memset(&call, 0, sizeof call);
        CHECK(verify(&l, c1, "POST", "", body, sigs[i], &call, &reply) == C360_VERDICT_REJECT);
        CHECK(reply.status == 401);
        CHECK(call.dedup[0] == '\0');
    }
    /* A body changed after signing. */
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, c1, "POST", "", "{\"id\":\"lead-43\",\"n\":1}", sig, &call, &reply) ==
          C360_VERDICT_REJECT);

    /* No id, or an id the host would refuse: accepted without a dedup key. */
    const char *noid[] = {"{\"n\":1}", "{\"id\":\"has space\"}", "{\"id\":7}", "[1]"};
    for (size_t i = 0; i < sizeof noid / sizeof noid[0]; i++) {
        sign(secret, noid[i], sig);
        memset(&call, 0, sizeof call);
        CHECK(verify(&l, c1, "POST", "", noid[i], sig, &call, &reply) == C360_VERDICT_ACCEPT);
        CHECK(call.dedup[0] == '\0');
    }

    /* The handshake: signed GET ?challenge= echoed; unsigned refused. */
    sign(secret, "", sig);
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, c1, "GET", "x=1&challenge=abc.DEF_9", "", sig, &call, &reply) ==
          C360_VERDICT_REPLIED);
    CHECK(reply.status == 200 && reply.body_len == 9 && memcmp(reply.body_buf, "abc.DEF_9", 9) == 0);
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, c1, "GET", "challenge=<script>", "", sig, &call, &reply) == C360_VERDICT_REPLIED);
    CHECK(reply.status == 400);
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, c1, "GET", "challenge=abc", "", NULL, &call, &reply) == C360_VERDICT_REJECT);

    /* App-level URL: the app secret, then webhook_route by "route". */
    const char *app = "{\"id\":\"m-1\",\"route\":\"page:2\"}";
    sign("tsrc-app-secret", app, sig);
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, NULL, "POST", "", app, sig, &call, &reply) == C360_VERDICT_ACCEPT);
    CHECK(call.dedup[0] == '\0');
    sign(secret, app, other);
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, NULL, "POST", "", app, other, &call, &reply) == C360_VERDICT_REJECT);
    c360_webhook w = {.struct_size = sizeof w, .method = "POST", .path = "/hooks/tsrc",
                      .query = "", .body = (const uint8_t *)app, .body_len = strlen(app)};
    memset(&call, 0, sizeof call);
    CHECK(l.d->webhook_route(&call, l.pd, &w) == C360_OK);
    CHECK(call.nroutes == 1);
    CHECK_STR(call.routes[0], "page:2");
    CHECK_STR(call.route_dedup[0], "m-1");
    const char *noroute = "{\"id\":\"m-2\"}";
    w.body = (const uint8_t *)noroute;
    w.body_len = strlen(noroute);
    memset(&call, 0, sizeof call);
    CHECK(l.d->webhook_route(&call, l.pd, &w) != C360_OK);
    CHECK(call.nroutes == 0);

    /* event: one record, id and type from the body, json = the raw body. */
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, body, 1, &call) == C360_OK);
    CHECK(call.nrec == 1);
    CHECK_STR(call.rec_type[0], "lead");
    CHECK_STR(call.rec_id[0], "lead-42");
    CHECK_STR(call.rec_json[0], body);
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"type\":\"comment\"}", 1, &call) == C360_OK);
    CHECK_STR(call.rec_type[0], "comment");
    CHECK_STR(call.rec_id[0], "1700000000000-0"); /* the host's event id */
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"id\":\"has space\",\"type\":\"\"}", 1, &call) == C360_OK);
    CHECK_STR(call.rec_id[0], "1700000000000-0");
    CHECK_STR(call.rec_type[0], "lead");
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "not json", 1, &call) == C360_ERROR);
    CHECK(call.nrec == 0);

    /* Misbehaviour on demand. */
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"id\":\"r\",\"action\":\"retry\",\"retry_after_ms\":250}", 1, &call) ==
          C360_RETRY);
    CHECK(call.retry_after_set && call.retry_after == 250);
    CHECK(call.nrec == 0);
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"id\":\"r\",\"action\":\"retry\"}", 5, &call) == C360_RETRY);
    CHECK(call.retry_after == 1000); /* the config default */
    const char *until3 = "{\"id\":\"r3\",\"action\":\"retry\",\"attempts\":3}";
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, until3, 2, &call) == C360_RETRY);
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, until3, 3, &call) == C360_OK);
    CHECK(call.nrec == 1 && strcmp(call.rec_id[0], "r3") == 0);
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"id\":\"e\",\"action\":\"error\"}", 1, &call) == C360_ERROR);
    CHECK(call.nrec == 0 && call.error[0] != '\0');

    /* "stage": state writes staged in order, before any action (the host
     * drops them with the RETRY); a refused one fails the event. */
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"id\":\"s\",\"stage\":[{\"key\":\"k1\",\"value\":\"v1\","
                        "\"ttl_ms\":60000},{\"key\":\"k2\",\"value\":null}]}", 1, &call) == C360_OK);
    CHECK(call.nrec == 1 && call.nstaged == 2);
    CHECK_STR(call.st_key[0], "k1");
    CHECK_STR(call.st_val[0], "v1");
    CHECK(call.st_ttl[0] == 60000);
    CHECK_STR(call.st_key[1], "k2");
    CHECK_STR(call.st_val[1], "(delete)");
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"id\":\"s\",\"action\":\"retry\",\"stage\":[{\"key\":\"k1\","
                        "\"value\":\"v\"}]}", 1, &call) == C360_RETRY);
    CHECK(call.nstaged == 1 && call.nrec == 0);
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1, "{\"id\":\"s\",\"stage\":[{\"value\":\"v\"}]}", 1, &call) == C360_EINVAL);
    CHECK(call.nrec == 0);

    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        c360_call cc = {0};
        event(&l, c1, "{\"id\":\"x\",\"action\":\"crash\"}", 1, &cc);
        _exit(0); /* not reached if the crash works */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);

    pid = fork();
    if (pid == 0) {
        c360_call cc = {.time_left_ms = -1};
        event(&l, c1, "{\"id\":\"x\",\"action\":\"hang\"}", 1, &cc);
        _exit(0);
    }
    struct timespec ts = {1, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(waitpid(pid, &status, WNOHANG) == 0); /* still hanging */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);

    /* "actions": false is the fix: the same bodies go through. */
    char fixed[512];
    snprintf(fixed, sizeof fixed, "{\"secret\":\"%s\",\"actions\":false}", secret);
    memset(&call, 0, sizeof call);
    void *c1b = open_inst(&l, &inst, fixed, &call);
    CHECK(call.nkeys == 0); /* no keys configured: the old ones are dropped */
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1b, "{\"id\":\"x\",\"action\":\"crash\"}", 1, &call) == C360_OK);
    CHECK(call.nrec == 1 && strcmp(call.rec_id[0], "x") == 0);

    /* work_ms: the event takes (at least) that long. */
    snprintf(fixed, sizeof fixed, "{\"secret\":\"%s\",\"work_ms\":150}", secret);
    memset(&call, 0, sizeof call);
    void *c1w = open_inst(&l, &inst, fixed, &call);
    int64_t t0 = f_now_ms();
    memset(&call, 0, sizeof call);
    CHECK(event(&l, c1w, "{\"id\":\"w\"}", 1, &call) == C360_OK && call.nrec == 1);
    CHECK(f_now_ms() - t0 >= 150);
    l.d->instance_close(l.pd, c1w);

    /* tick: records only with tick_records; ids from the state counter. */
    g_state_counter = 0;
    memset(&call, 0, sizeof call);
    CHECK(l.d->tick(&call, l.pd, c1) == C360_OK);
    memset(&call, 0, sizeof call);
    CHECK(l.d->tick(&call, l.pd, c1) == C360_OK);
    CHECK(call.nrec == 1);
    CHECK_STR(call.rec_id[0], "tick-c1-2");
    CHECK_STR(call.rec_type[0], "tick");
    json_t *j = json_loads(call.rec_json[0], 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "id")), "tick-c1-2");
    CHECK_STR(json_string_value(json_object_get(j, "tenant")), "tA");
    CHECK(json_integer_value(json_object_get(j, "at_ms")) > 0);
    CHECK(json_integer_value(json_object_get(j, "pid")) == getpid());
    json_decref(j);
    memset(&call, 0, sizeof call);
    CHECK(l.d->tick(&call, l.pd, c1b) == C360_OK);
    CHECK(call.nrec == 0 && call.nstaged == 0);

    /* tick_stage: the tick stages its mark and a delete. */
    snprintf(fixed, sizeof fixed, "{\"secret\":\"%s\",\"tick_stage\":true}", secret);
    memset(&call, 0, sizeof call);
    void *c1s = open_inst(&l, &inst, fixed, &call);
    memset(&call, 0, sizeof call);
    CHECK(l.d->tick(&call, l.pd, c1s) == C360_OK);
    CHECK(call.nrec == 0 && call.nstaged == 2);
    CHECK_STR(call.st_key[0], "tick_mark");
    CHECK(strncmp(call.st_val[0], "tick-", 5) == 0 && call.st_ttl[0] == 600000);
    CHECK_STR(call.st_key[1], "tick_gone");
    CHECK_STR(call.st_val[1], "(delete)");
    l.d->instance_close(l.pd, c1s);

    l.d->instance_close(l.pd, c1);
    l.d->instance_close(l.pd, c1b);
    unload(&l);
}

/* ------------------------------------------------------------------------ */
/* tdst                                                                      */
/* ------------------------------------------------------------------------ */

static int32_t deliver(loaded *l, void *inst, c360_call *call)
{
    c360_record r = {.struct_size = sizeof r, .attempt = 2, .type = "lead", .id = "lead-42",
                     .source_plugin = "tsrc", .json = "{\"a\":1}", .json_len = 7};
    return l->d->deliver(call, l->pd, inst, &r);
}

static void test_tdst(const char *dir)
{
    loaded l = load(dir, "tdst");
    CHECK(l.d->capabilities == C360_CAP_DESTINATION);
    c360_call call = {0};
    g_config_errors = 0;
    const char *bad = "{\"url\":\"ftp://x\",\"timeout_ms\":5}";
    CHECK(l.d->validate_config(&call, l.pd, bad, strlen(bad)) == C360_EINVAL);
    CHECK(g_config_errors == 2);
    c360_instance inst = {"tA", "d1"};
    void *d1 = open_inst(&l, &inst, "{\"url\":\"http://127.0.0.1:1/in\"}", &call);

    const struct { int status; const char *ra; int32_t want; uint32_t after; } cases[] = {
        {200, NULL, C360_OK, 0},        {204, NULL, C360_OK, 0},
        {429, "3", C360_RETRY, 3000},   {503, NULL, C360_RETRY, 0},
        {500, "junk", C360_RETRY, 0},   {400, NULL, C360_ERROR, 0},
        {404, NULL, C360_ERROR, 0},     {301, NULL, C360_ERROR, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&call, 0, sizeof call);
        call.http_status = cases[i].status;
        call.http_retry_after = cases[i].ra;
        CHECK(deliver(&l, d1, &call) == cases[i].want);
        if (cases[i].want == C360_RETRY) CHECK(call.retry_after_set && call.retry_after == cases[i].after);
        CHECK_STR(call.http_url, "http://127.0.0.1:1/in");
        CHECK_STR(call.http_idem, "lead-42");
        CHECK_STR(call.http_body, "{\"a\":1}");
        CHECK(call.http_flags & C360_HTTP_CUSTOMER_URL);
    }
    /* No answer: the host's status goes back as is (EIO is retried). */
    memset(&call, 0, sizeof call);
    call.http_result = C360_EIO;
    CHECK(deliver(&l, d1, &call) == C360_EIO);
    l.d->instance_close(l.pd, d1);
    unload(&l);
}

/* ------------------------------------------------------------------------ */
/* tnop                                                                      */
/* ------------------------------------------------------------------------ */

static void test_tnop(const char *dir)
{
    loaded l = load(dir, "tnop");
    c360_call call = {0};
    c360_instance inst = {"tA", "n1"};
    void *n0 = open_inst(&l, &inst, "{}", &call);
    void *n1 = open_inst(&l, &inst, "{\"emit\":true}", &call);
    c360_webhook_reply reply;
    memset(&call, 0, sizeof call);
    CHECK(verify(&l, n0, "POST", "", "anything", NULL, &call, &reply) == C360_VERDICT_ACCEPT);
    memset(&call, 0, sizeof call);
    CHECK(event(&l, n0, "{}", 1, &call) == C360_OK && call.nrec == 0);
    CHECK(l.d->tick(&call, l.pd, n0) == C360_OK && call.nrec == 0);
    CHECK(event(&l, n1, "{}", 1, &call) == C360_OK && call.nrec == 1);
    CHECK(l.d->tick(&call, l.pd, n1) == C360_OK && call.nrec == 2);
    CHECK_STR(call.rec_id[1], "tnop-tick-n1-1");
    g_config_errors = 0;
    CHECK(l.d->validate_config(&call, l.pd, "{\"emit\":1}", 10) == C360_EINVAL && g_config_errors == 1);
    l.d->instance_close(l.pd, n0);
    l.d->instance_close(l.pd, n1);
    unload(&l);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_tplugins PLUGIN_DIR\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    /* The crash child must die of SIGSEGV, not of an ASan report: without
     * handle_segv=0 (set by the test's environment) ASan catches it. */
    test_tsrc(argv[1]);
    test_tdst(argv[1]);
    test_tnop(argv[1]);
    CHECK_DONE();
}
