/* test_meta_handoff.c -- the meta plugin's verify -> route handoff
 * (meta_plugin.c, "verify -> route handoff"), driven through its
 * descriptor with a stub host.
 *
 * On the app-level URL webhook_verify leaves the apps that signed a body
 * and its routing pairs in a thread-local entry, and webhook_route uses
 * them only for the very request verify computed them for. A hit must give
 * what route alone gives; every miss must make route do the whole work,
 * signature check included, and so give the answer it gives without any
 * handoff. The misses are built so that a stale entry WOULD give another
 * answer (other connections, routed where it must refuse), and every route
 * is also told apart by the HMACs it computes: 0 on a hit, at least one
 * when it checked the signature itself.
 *
 * The stub host: secrets and cached page proofs per connection (so
 * instance_open proves its pages without the network), the routing keys
 * each open connection registered (to name the connections a route
 * reaches), the route_event calls and the error of each call. Crypto is
 * libsodium's, as the real host's is. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "meta.h"

/* The plugin's one exported symbol (C360_PLUGIN_ENTRY), linked in here. */
const c360_plugin_desc *c360_plugin_entry(void);

/* ---- the stub host ---------------------------------------------------- */

#define KEYS_MAX 8
#define ROUTES_MAX 80

struct c360_instance {
    const char *name; /* "A", "B", ...: how results name it */
    const char *app_id, *secret, *vt, *page, *page_token;
    void *id;         /* instance_data; NULL while closed */
    size_t nkeys;
    char keys[KEYS_MAX][META_ROUTE_KEY_MAX];
};

typedef struct routed {
    char key[META_ROUTE_KEY_MAX];
    char dedup[META_DEDUP_MAX];
} routed;

struct c360_call {
    struct c360_instance *inst; /* NULL on the event loop */
    char error[512];
    size_t nroutes;
    routed routes[ROUTES_MAX];
};

static struct c360_instance conn_a = {"A", "1111", "secret-one", "vt-one", "101", "tok-a-101"};
static struct c360_instance conn_b = {"B", "1111", "secret-one", "vt-one", "102", "tok-b-102"};
/* Another app id with app A's secret: when open, a body signed with
 * secret-one is routed under both apps. */
static struct c360_instance conn_c = {"C", "2222", "secret-one", "vt-two", "101", "tok-c-101"};
/* Another app and secret, also for page 101. */
static struct c360_instance conn_d = {"D", "3333", "secret-three", "vt-three", "101", "tok-d-101"};
/* Opened in a second plugin instance only (test_other_struct). */
static struct c360_instance conn_e = {"E", "5555", "secret-five", "vt-five", "505", "tok-e-505"};
static struct c360_instance *const conns[] = {&conn_a, &conn_b, &conn_c, &conn_d};
#define NCONNS (sizeof conns / sizeof conns[0])

/* HMACs computed (any thread): a route that checks the signature adds. */
static _Atomic int hmac_calls;

static void s_hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    atomic_fetch_add(&hmac_calls, 1);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}

/* ABI 1.8's prepared keys, counted with the one-shot HMACs: the plugin
 * uses these when the host has them. */
struct c360_hmac_key {
    crypto_auth_hmacsha256_state st;
};
static c360_hmac_key *s_key_new(const void *key, size_t klen)
{
    c360_hmac_key *k = malloc(sizeof *k);
    if (k != NULL) crypto_auth_hmacsha256_init(&k->st, key, klen);
    return k;
}
static void s_keyed(const c360_hmac_key *k, const void *msg, size_t mlen, uint8_t out[32])
{
    atomic_fetch_add(&hmac_calls, 1);
    crypto_auth_hmacsha256_state st = k->st;
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}
static void s_key_free(c360_hmac_key *k) { free(k); }

static void s_sha(const void *msg, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, msg, len);
}

static int s_eq(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

static void s_log(c360_call *call, int32_t level, const char *fmt, ...)
{
    (void)call, (void)level, (void)fmt;
}

static void s_call_error(c360_call *call, const char *fmt, ...)
{
    if (call == NULL) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->error, sizeof call->error, fmt, ap);
    va_end(ap);
}

static int64_t s_time_left(c360_call *call)
{
    (void)call;
    return 0; /* never the network: the proofs are cached (s_state_get) */
}

static int64_t s_now(void)
{
    return 1700000000000;
}

static void s_free(void *p)
{
    free(p);
}

static uint8_t *dup_text(const char *s, size_t *len)
{
    *len = strlen(s);
    uint8_t *v = malloc(*len + 1);
    if (v != NULL) memcpy(v, s, *len + 1);
    return v;
}

static int32_t s_secret_get(c360_call *call, const char *name, uint8_t **v, size_t *len)
{
    const struct c360_instance *in = call != NULL ? call->inst : NULL;
    if (in == NULL) return C360_EINVAL;
    char tok_name[64];
    snprintf(tok_name, sizeof tok_name, "page_token:%s", in->page);
    const char *s = strcmp(name, "app_secret") == 0     ? in->secret
                    : strcmp(name, "verify_token") == 0 ? in->vt
                    : strcmp(name, tok_name) == 0       ? in->page_token
                                                        : NULL;
    if (s == NULL) return C360_ENOTFOUND;
    *v = dup_text(s, len);
    return *v != NULL ? C360_OK : C360_ENOMEM;
}

/* "proof:page:<page>" holds the fingerprint of the token that proved the
 * page (meta_verify.c): as if an earlier tick had proven it. */
static int32_t s_state_get(c360_call *call, const char *key, uint8_t **v, size_t *len,
                           uint64_t *version)
{
    const struct c360_instance *in = call != NULL ? call->inst : NULL;
    if (in == NULL) return C360_EINVAL;
    char want[64];
    snprintf(want, sizeof want, "proof:page:%s", in->page);
    if (strcmp(key, want) != 0) return C360_ENOTFOUND;
    uint8_t dig[32];
    char hex[65];
    s_sha(in->page_token, strlen(in->page_token), dig);
    meta_hex(dig, sizeof dig, hex);
    hex[META_FP_LEN] = '\0';
    *v = dup_text(hex, len);
    if (version != NULL) *version = 1;
    return *v != NULL ? C360_OK : C360_ENOMEM;
}

static int32_t s_state_set(c360_call *call, const char *key, const void *v, size_t len,
                           uint32_t ttl, uint64_t *version)
{
    (void)call, (void)key, (void)v, (void)len, (void)ttl;
    if (version != NULL) *version = 1;
    return C360_OK;
}

static int32_t s_route_keys(c360_call *call, const char *const *keys, uint32_t n)
{
    struct c360_instance *in = call->inst;
    if (in == NULL || n > KEYS_MAX) return C360_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        snprintf(in->keys[i], sizeof in->keys[i], "%s", keys[i]);
    in->nkeys = n;
    return C360_OK;
}

static int32_t s_route_event(c360_call *call, const char *key, const char *dedup)
{
    if (call->nroutes == ROUTES_MAX) return C360_ETOOBIG;
    routed *r = &call->routes[call->nroutes++];
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->dedup, sizeof r->dedup, "%s", dedup != NULL ? dedup : "");
    return C360_OK;
}

static int32_t s_conn_status(c360_call *call, int32_t state, const char *cause)
{
    (void)call, (void)state, (void)cause;
    return C360_OK;
}

static int32_t s_record_emit(c360_call *call, const char *type, const char *id, const char *json,
                             size_t len)
{
    (void)call, (void)type, (void)id, (void)json, (void)len;
    return C360_EUNSUPPORTED;
}

static void s_dedup_key(c360_call *call, const char *key)
{
    (void)call, (void)key;
}

static const c360_host_api host = {
    .struct_size = sizeof(c360_host_api),
    .abi_major = C360_ABI_MAJOR,
    .abi_minor = C360_ABI_MINOR,
    .log = s_log,
    .now_ms = s_now,
    .monotonic_ms = s_now,
    .free = s_free,
    .call_error = s_call_error,
    .call_time_left_ms = s_time_left,
    .state_get = s_state_get,
    .state_set = s_state_set,
    .secret_get = s_secret_get,
    .secret_free = s_free,
    .hmac_sha256 = s_hmac,
    .sha256 = s_sha,
    .ct_equal = s_eq,
    .call_dedup_key = s_dedup_key,
    .route_event = s_route_event,
    .instance_route_keys = s_route_keys,
    .record_emit = s_record_emit,
    .connection_status = s_conn_status,
    .hmac_sha256_key_new = s_key_new,
    .hmac_sha256_keyed = s_keyed,
    .hmac_sha256_key_free = s_key_free,
};

/* ---- the plugin, as the host drives it -------------------------------- */

static const c360_plugin_desc *desc;
static void *pd;

/* The generation of the app map (meta_apps.c), which the handoff
 * compares. */
static unsigned long apps_gen(void *plugin_data)
{
    return atomic_load(&((meta_plugin *)plugin_data)->apps.gen);
}

static void open_conn(struct c360_instance *in)
{
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"app_id\":\"%s\",\"page_ids\":[\"%s\"]}", in->app_id, in->page);
    struct c360_call call = {in};
    in->nkeys = 0;
    CHECK(desc->instance_open(&call, pd, in, cfg, strlen(cfg), &in->id) == C360_OK);
    CHECK(in->nkeys == 1); /* its page, proven: its routing key */
}

/* The host drops a closed connection's keys. */
static void close_conn(struct c360_instance *in)
{
    desc->instance_close(pd, in->id);
    in->id = NULL;
    in->nkeys = 0;
}

/* One request: its own struct, headers and signature buffer. */
typedef struct request {
    c360_webhook req;
    c360_header hdr[2];
    char sig[80];
} request;

static void sign(const char *secret, const uint8_t *body, size_t len, char out[80])
{
    uint8_t mac[32];
    char hex[65];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    meta_hex(mac, sizeof mac, hex);
    snprintf(out, 80, "sha256=%s", hex);
}

/* A POST to the app-level URL of body (not copied: the request points at
 * it, as the host's does at its buffer), signed with secret. */
static void make_request(request *r, const uint8_t *body, size_t len, const char *secret)
{
    memset(r, 0, sizeof *r);
    sign(secret, body, len, r->sig);
    r->hdr[0] = (c360_header){"content-type", "application/json"};
    r->hdr[1] = (c360_header){"x-hub-signature-256", r->sig};
    r->req = (c360_webhook){.struct_size = sizeof(c360_webhook), .header_count = 2,
                            .method = "POST", .path = "/hooks/meta", .query = "",
                            .headers = r->hdr, .body = body, .body_len = len,
                            .received_at_ms = 1700000000000};
}

static int32_t verify(const request *r)
{
    struct c360_call call = {NULL};
    c360_webhook_reply rp = {.struct_size = sizeof rp, .status = 200};
    snprintf(rp.content_type, sizeof rp.content_type, "text/plain");
    return desc->webhook_verify(&call, pd, NULL, &r->req, &rp);
}

/* What one webhook_route did: its status, the HMACs it computed, and
 * where it routed, as sorted "<connection> <dedup>" lines ("?<key>" for a
 * key no open connection registered). */
typedef struct outcome {
    int32_t st;
    int hmacs;
    char error[512];
    char routes[2048];
} outcome;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void describe(const struct c360_call *call, char *out, size_t cap)
{
    char lines[ROUTES_MAX][META_ROUTE_KEY_MAX + META_DEDUP_MAX + 2];
    const char *sorted[ROUTES_MAX] = {NULL};
    for (size_t i = 0; i < call->nroutes; i++) {
        const routed *r = &call->routes[i];
        const char *who = NULL;
        for (size_t c = 0; c < NCONNS && who == NULL; c++)
            for (size_t k = 0; k < conns[c]->nkeys && who == NULL; k++)
                if (strcmp(conns[c]->keys[k], r->key) == 0) who = conns[c]->name;
        if (who != NULL)
            snprintf(lines[i], sizeof lines[i], "%s %s", who, r->dedup);
        else
            snprintf(lines[i], sizeof lines[i], "?%s %s", r->key, r->dedup);
        sorted[i] = lines[i];
    }
    qsort(sorted, call->nroutes, sizeof sorted[0], cmp_str);
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < call->nroutes && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? ";" : "", sorted[i]);
}

static outcome route(const request *r)
{
    struct c360_call *call = calloc(1, sizeof *call);
    outcome o = {0};
    if (call == NULL) {
        o.st = C360_ENOMEM;
        return o;
    }
    int before = atomic_load(&hmac_calls);
    o.st = desc->webhook_route(call, pd, &r->req);
    o.hmacs = atomic_load(&hmac_calls) - before;
    snprintf(o.error, sizeof o.error, "%s", call->error);
    describe(call, o.routes, sizeof o.routes);
    free(call);
    return o;
}

/* webhook_route on a thread of its own: no handoff entry there. */
typedef struct fresh_run {
    const request *r;
    outcome o;
} fresh_run;

static void *fresh_main(void *arg)
{
    fresh_run *f = arg;
    f->o = route(f->r);
    return NULL;
}

static outcome route_fresh(const request *r)
{
    fresh_run f = {r, {0}};
    pthread_t th;
    if (pthread_create(&th, NULL, fresh_main, &f) != 0) {
        CHECK(!"pthread_create");
        return f.o;
    }
    pthread_join(th, NULL);
    return f.o;
}

/* A route that checked the signature itself and found no app for it:
 * refused (the host answers no connection), nothing routed. A macro, so
 * that a failure names the line of the case. */
#define CHECK_REFUSED(o)                                        \
    do {                                                        \
        CHECK((o).st == C360_EINVAL);                           \
        CHECK_STR((o).error, "no app secret matches any more"); \
        CHECK_STR((o).routes, "");                              \
        CHECK((o).hmacs >= 1);                                  \
    } while (0)

/* ---- bodies ------------------------------------------------------------ */

#define LEAD_BODY(page, lead)                                                              \
    "{\"object\":\"page\",\"entry\":[{\"id\":\"" page "\",\"time\":1700000000,\"changes\":[" \
    "{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":\"" lead "\",\"page_id\":\"" page     \
    "\",\"form_id\":\"555\",\"created_time\":1700000000}}]}]}"

/* Mutable: some tests change the bytes after verify. */
static uint8_t body_x[] = LEAD_BODY("101", "444000000001");
static uint8_t body_y[] = LEAD_BODY("102", "444000000002");
#define LEN_X (sizeof body_x - 1)
#define LEN_Y (sizeof body_y - 1)

static void reset_x(void)
{
    static const char orig[] = LEAD_BODY("101", "444000000001");
    memcpy(body_x, orig, sizeof orig);
}

/* Bytes of body_x: where s starts (the first time). */
static uint8_t *find_x(const char *s)
{
    char *p = strstr((char *)body_x, s);
    CHECK(p != NULL);
    return (uint8_t *)p;
}

/* ---- 1. hit ------------------------------------------------------------ */

static void test_hit(void)
{
    request x, y;
    make_request(&x, body_x, LEN_X, "secret-one");
    make_request(&y, body_y, LEN_Y, "secret-one");

    /* Route alone (a fresh thread, no entry): the reference answer. */
    outcome ref = route_fresh(&x);
    CHECK(ref.st == C360_OK);
    CHECK_STR(ref.routes, "A lead:444000000001");
    CHECK(ref.hmacs >= 1);

    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    /* Another thread does not see this thread's entry... */
    outcome other = route_fresh(&x);
    CHECK(other.st == C360_OK && other.hmacs >= 1);
    CHECK_STR(other.routes, ref.routes);
    /* ...nor takes it: the hit, without one HMAC, and the same answer. */
    outcome hit = route(&x);
    CHECK(hit.st == C360_OK);
    CHECK(hit.hmacs == 0);
    CHECK_STR(hit.routes, ref.routes);
    /* Route cleared the entry: the same request again is routed from
     * scratch, alike. */
    outcome again = route(&x);
    CHECK(again.st == C360_OK && again.hmacs >= 1);
    CHECK_STR(again.routes, ref.routes);

    CHECK(verify(&y) == C360_VERDICT_ACCEPT);
    hit = route(&y);
    CHECK(hit.st == C360_OK && hit.hmacs == 0);
    CHECK_STR(hit.routes, "B lead:444000000002");
}

/* More pairs than the entry holds (HANDOFF_PAIRS, 8): route keeps the
 * apps verify matched (no HMAC) and lists the pairs again, all of them. */
static void test_hit_many_pairs(void)
{
    char body[2048];
    size_t at = (size_t)snprintf(body, sizeof body,
                                 "{\"object\":\"page\",\"entry\":[{\"id\":\"101\","
                                 "\"time\":1700000000,\"changes\":[");
    for (int i = 0; i < 10; i++)
        at += (size_t)snprintf(body + at, sizeof body - at,
                               "%s{\"field\":\"leadgen\",\"value\":"
                               "{\"leadgen_id\":\"44400000001%d\",\"page_id\":\"101\"}}",
                               i ? "," : "", i);
    at += (size_t)snprintf(body + at, sizeof body - at, "]}]}");
    CHECK(at < sizeof body);
    request r;
    make_request(&r, (const uint8_t *)body, at, "secret-one");
    outcome ref = route_fresh(&r);
    CHECK(ref.st == C360_OK);
    CHECK(strstr(ref.routes, "A lead:444000000010;") == ref.routes);
    CHECK(strstr(ref.routes, "A lead:444000000019") != NULL);
    CHECK(verify(&r) == C360_VERDICT_ACCEPT);
    outcome o = route(&r);
    CHECK(o.st == C360_OK && o.hmacs == 0);
    CHECK_STR(o.routes, ref.routes);
}

/* ---- 2a. another request struct, the same body ------------------------ */

static void test_other_struct(void)
{
    request x, x2, forged;
    make_request(&x, body_x, LEN_X, "secret-one");
    make_request(&x2, body_x, LEN_X, "secret-one");
    /* The same body bytes at the same address, a signature that is no
     * app's: a stale entry would route it. */
    make_request(&forged, body_x, LEN_X, "no-such-secret");

    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    outcome o = route(&x2);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");

    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    o = route(&forged);
    CHECK_REFUSED(o);
    /* And the miss cleared x's entry too. */
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");

    /* The very same request routed by another plugin instance (another
     * init) whose app map has the same generation but no app of
     * secret-one: refused, not routed with the first instance's entry. */
    struct c360_call call = {NULL};
    void *pd1 = pd, *pd2 = NULL;
    CHECK(desc->init(&call, &host, &pd2) == C360_OK);
    pd = pd2;
    while (apps_gen(pd2) + 2 <= apps_gen(pd1)) {
        open_conn(&conn_e);
        close_conn(&conn_e);
    }
    if (apps_gen(pd2) < apps_gen(pd1)) open_conn(&conn_e);
    pd = pd1;
    CHECK(apps_gen(pd2) == apps_gen(pd1));
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    pd = pd2;
    o = route(&x);
    if (conn_e.id != NULL) close_conn(&conn_e);
    pd = pd1;
    CHECK(o.st == C360_EINVAL);
    CHECK_STR(o.error, "no app secret matches any more");
    CHECK_STR(o.routes, "");
    desc->fini(pd2);
}

/* ---- 2b. the same struct, its body bytes changed after verify --------- */

static void test_body_changed(void)
{
    request x;
    reset_x();
    make_request(&x, body_x, LEN_X, "secret-one");
    uint8_t *lead = find_x("444000000001");

    /* A byte of the lead id: the signature no longer matches, and route,
     * checking it itself, refuses as for any bad signature. */
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    lead[11] = '9';
    outcome o = route(&x);
    CHECK_REFUSED(o);
    /* Route refused without a handoff as well. */
    o = route_fresh(&x);
    CHECK_REFUSED(o);

    /* The same bytes moved to another buffer, in the same struct: not
     * the body verify read, so a miss, with the same answer. */
    reset_x();
    uint8_t moved[sizeof body_x];
    memcpy(moved, body_x, sizeof body_x);
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    x.req.body = moved;
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");
    x.req.body = body_x;

    /* Changed and signed again (in the same header buffer): authentic,
     * and routed with the new lead, not the stale pair. */
    reset_x();
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    lead[11] = '9';
    sign("secret-one", body_x, LEN_X, x.sig);
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000009");

    /* Another page of the same length, signed again: connection B's, not
     * A's (which the stale pair names). */
    reset_x();
    sign("secret-one", body_x, LEN_X, x.sig);
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    for (int i = 0; i < 2; i++) memcpy(find_x("\"101\""), "\"102\"", 5);
    sign("secret-one", body_x, LEN_X, x.sig);
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "B lead:444000000001");
    outcome ref = route_fresh(&x);
    CHECK_STR(ref.routes, o.routes);
    reset_x();
}

/* ---- 2c. the app map changed between verify and route ---------------- */

static void test_apps_changed(void)
{
    request x, x3;
    reset_x();
    make_request(&x, body_x, LEN_X, "secret-one");
    make_request(&x3, body_x, LEN_X, "secret-three");

    /* An app added: C (app 2222) holds secret-one too, so the body is now
     * routed under both apps, to A and to C. */
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    open_conn(&conn_c);
    outcome o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001;C lead:444000000001");
    outcome ref = route_fresh(&x);
    CHECK_STR(ref.routes, o.routes);

    /* That app removed again: A alone (the stale entry names C too). */
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    close_conn(&conn_c);
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");

    /* The only app of the signing secret removed: no app signs it any
     * more, and route refuses (the stale entry would route to D's key). */
    CHECK(verify(&x3) == C360_VERDICT_ACCEPT);
    close_conn(&conn_d);
    o = route(&x3);
    CHECK_REFUSED(o);
    open_conn(&conn_d);
    o = route_fresh(&x3);
    CHECK(o.st == C360_OK);
    CHECK_STR(o.routes, "D lead:444000000001");

    /* A connection that shares an existing entry (same app, secret and
     * verify token) does not change the map: still a hit. */
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    close_conn(&conn_b);
    open_conn(&conn_b);
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs == 0);
    CHECK_STR(o.routes, "A lead:444000000001");
}

/* ---- 2d. verify rejected, route called anyway ------------------------- */

static void test_rejected(void)
{
    request x, bad;
    reset_x();
    make_request(&x, body_x, LEN_X, "secret-one");
    make_request(&bad, body_y, LEN_Y, "no-such-secret");

    /* The host reuses one request struct and buffer: the same bytes come
     * again with a signature that is no app's. Verify rejects; a route
     * for it must not use the entry of the accepted request before. */
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    x.sig[7] = x.sig[7] == '0' ? '1' : '0';
    CHECK(verify(&x) == C360_VERDICT_REJECT);
    outcome o = route(&x);
    CHECK_REFUSED(o);

    /* Another request rejected in between: the accepted one's entry is
     * gone, its route does the whole work, alike. */
    sign("secret-one", body_x, LEN_X, x.sig);
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    CHECK(verify(&bad) == C360_VERDICT_REJECT);
    o = route(&bad);
    CHECK_REFUSED(o);
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");
}

/* ---- 2e. another verify between the first verify and its route -------- */

static void test_second_verify(void)
{
    request x, y, x3;
    reset_x();
    make_request(&x, body_x, LEN_X, "secret-one");
    make_request(&y, body_y, LEN_Y, "secret-one");
    /* The same bytes signed by another app's secret: accepted too, routed
     * under app 3333 (to D), never under 1111. */
    make_request(&x3, body_x, LEN_X, "secret-three");

    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    CHECK(verify(&y) == C360_VERDICT_ACCEPT);
    outcome o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");
    /* x's route cleared y's entry: y is routed from scratch. */
    o = route(&y);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "B lead:444000000002");

    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    CHECK(verify(&x3) == C360_VERDICT_ACCEPT);
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    CHECK(verify(&x3) == C360_VERDICT_ACCEPT);
    o = route(&x3);
    CHECK(o.st == C360_OK && o.hmacs == 0); /* the latest verify's: a hit */
    CHECK_STR(o.routes, "D lead:444000000001");

    /* A handshake between clears the entry as well. */
    CHECK(verify(&x) == C360_VERDICT_ACCEPT);
    request get;
    make_request(&get, body_x, 0, "secret-one");
    get.req.method = "GET";
    get.req.query = "hub.mode=subscribe&hub.verify_token=vt-one&hub.challenge=42";
    CHECK(verify(&get) == C360_VERDICT_REPLIED);
    o = route(&x);
    CHECK(o.st == C360_OK && o.hmacs >= 1);
    CHECK_STR(o.routes, "A lead:444000000001");
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    desc = c360_plugin_entry();
    CHECK(desc != NULL && desc->webhook_verify != NULL && desc->webhook_route != NULL);
    struct c360_call call = {NULL};
    CHECK(desc->init(&call, &host, &pd) == C360_OK);
    open_conn(&conn_a);
    open_conn(&conn_b);
    open_conn(&conn_d);

    test_hit();
    test_hit_many_pairs();
    test_other_struct();
    test_body_changed();
    test_apps_changed();
    test_rejected();
    test_second_verify();

    for (size_t i = 0; i < NCONNS; i++)
        if (conns[i]->id != NULL) close_conn(conns[i]);
    desc->fini(pd);
    CHECK_DONE();
}
