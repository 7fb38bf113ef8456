/* test_hostapi.c -- the plugin-facing table: services act for the call's
 * instance (never a plugin-chosen namespace), need one, and refuse to block
 * the event loop; state_set_on_commit (ABI 1.6) only stages, and only where
 * a worker hung a buffer on the call. */
#include <pthread.h>
#include <stdlib.h>

#include <sodium.h>

#include "call.h"
#include "check.h"
#include "connector_api.h"
#include "hostapi.h"
#include "instance.h"
#include "log.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "state.h"
#include "conns.h"
#include "keyring.h"
#include "oauth.h"
#include "secrets.h"
#include "state_staged.h"
#include "svc.h"

static const c360_host_api *H;

static void make_inst(c360_instance *i, const char *tenant, const char *conn)
{
    memset(i, 0, sizeof *i);
    i->magic = CH_INSTANCE_MAGIC;
    i->tenant = (char *)tenant;
    i->connection = (char *)conn;
    i->plugin = "testplug";
}

static void *worker(void *arg)
{
    int *ok = arg;
    c360_instance a, b;
    make_inst(&a, "tenantA", "conn1");
    make_inst(&b, "tenantB", "conn1");
    c360_call ca, cb;
    ch_call_init(&ca, "testplug", &a, NULL, 0);
    ch_call_init(&cb, "testplug", &b, NULL, 0);
    uint8_t *v;
    size_t n;
    *ok = H->state_set(&ca, "cursor", "42", 2, 0, NULL) == C360_OK &&
          H->state_get(&ca, "cursor", &v, &n, NULL) == C360_OK && n == 2;
    if (*ok) H->free(v);
    /* Same connection id, other tenant: nothing there. */
    *ok = *ok && H->state_get(&cb, "cursor", &v, &n, NULL) == C360_ENOTFOUND;
    /* What the table wrote is exactly what the service reads for tenantA. */
    *ok = *ok && ch_state_get("tenantA", "conn1", "cursor", &v, &n, NULL) == C360_OK;
    if (*ok) free(v);
    ch_call_done(&ca);
    ch_call_done(&cb);
    ch_rconn_thread_close();
    return NULL;
}

/* A token the provider rejected for good: through the table, the connection
 * ends up "needs_reauth" in the registry (what stops its ticks), not only in
 * its status record. */
static void *token_dies(void *arg)
{
    int32_t *st = arg;
    c360_instance a;
    make_inst(&a, "tenantR", "connR");
    c360_call call;
    ch_call_init(&call, "testplug", &a, NULL, 0);
    *st = H->oauth_token_rejected(&call, NULL, "provider code 190");
    ch_call_done(&call);
    ch_rconn_thread_close();
    return NULL;
}

static void *no_instance(void *arg)
{
    int32_t *st = arg;
    c360_call noinst;
    ch_call_init(&noinst, "testplug", NULL, NULL, 0);
    int64_t r;
    *st = H->state_incr(&noinst, "k", 1, &r);
    c360_instance a;
    make_inst(&a, "tenantA", "conn1");
    c360_call stale;
    ch_call_init(&stale, "testplug", &a, NULL, 0);
    ch_call_done(&stale); /* magic wiped: a kept handle */
    if (*st == C360_EINVAL && H->state_incr(&stale, "k", 1, &r) != C360_EINVAL) *st = -1;
    ch_call_done(&noinst);
    ch_rconn_thread_close();
    return NULL;
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    ch_log_set_level(CH_LOG_ERROR + 1); /* the refusals below log errors on purpose */
    fx_rconn_start(2000);
    H = ch_host_api();

    CHECK(H->struct_size == sizeof(c360_host_api));
    CHECK(H->abi_major == C360_ABI_MAJOR && H->abi_minor == C360_ABI_MINOR);
    CHECK(C360_HOST_HAS(H, state_get) && C360_HOST_HAS(H, random_bytes));

    /* A table from an older host (1.0 size) reports 1.1 services missing. */
    c360_host_api old = *H;
    old.struct_size = (uint32_t)offsetof(c360_host_api, state_get);
    CHECK(!C360_HOST_HAS(&old, state_get));
    CHECK(C360_HOST_HAS(&old, instance_connection));

    /* The loop thread (this one) may not block. */
    ch_hostapi_set_loop_thread();
    c360_instance a;
    make_inst(&a, "tenantA", "conn1");
    c360_call call;
    ch_call_init(&call, "testplug", &a, NULL, 0);
    CHECK(H->state_set(&call, "k", "v", 1, 0, NULL) == C360_EDENIED);
    /* Pure helpers are fine anywhere. */
    uint8_t mac[32];
    H->hmac_sha256("k", 1, "m", 1, mac);
    char *hx = H->hex_encode(mac, 4);
    CHECK(hx && strlen(hx) == 8);
    H->free(hx);
    ch_call_done(&call);

    /* On a worker: scoped by the instance. */
    pthread_t th;
    int ok = 0;
    pthread_create(&th, NULL, worker, &ok);
    pthread_join(th, NULL);
    CHECK(ok);

    /* No instance (e.g. init), or a stale call handle: refused, no crash. */
    pthread_t th2;
    int32_t st2 = 0;
    pthread_create(&th2, NULL, no_instance, &st2);
    pthread_join(th2, NULL);
    CHECK(st2 == C360_EINVAL);

    /* ABI 1.6: state_set_on_commit stages into the buffer a worker hangs
     * on an event or tick call, never touching Redis; without one (any
     * other callback) it is refused with C360_EDENIED. */
    CHECK(C360_HOST_HAS(H, state_set_on_commit));
    ch_call_init(&call, "testplug", &a, NULL, 0);
    CHECK(H->state_set_on_commit(&call, "seen", "1", 1, 0) == C360_EDENIED);
    CHECK(H->state_set_on_commit(NULL, "seen", "1", 1, 0) == C360_EINVAL);
    ch_staged sg;
    ch_staged_init(&sg);
    call.staged = &sg;
    CHECK(H->state_set_on_commit(&call, "seen", "1", 1, 60000) == C360_OK);
    CHECK(H->state_set_on_commit(&call, "gone", NULL, 0, 0) == C360_OK);
    CHECK(H->state_set_on_commit(&call, "bad key", "1", 1, 0) == C360_EINVAL);
    CHECK(H->state_set_on_commit(&call, "k", NULL, 3, 0) == C360_EINVAL);
    size_t limit = ch_svc_limits_current.state_max_value;
    ch_svc_limits_current.state_max_value = 4;
    CHECK(H->state_set_on_commit(&call, "k", "12345", 5, 0) == C360_ETOOBIG);
    CHECK(H->state_set_on_commit(&call, "k", "1234", 4, 0) == C360_OK);
    ch_svc_limits_current.state_max_value = limit;
    CHECK(ch_staged_count(&sg) == 3);
    uint8_t *sv = NULL;
    size_t sn = 0;
    CHECK(ch_state_get("tenantA", "conn1", "seen", &sv, &sn, NULL) == C360_ENOTFOUND);
    call.staged = NULL;
    ch_staged_free(&sg);
    ch_call_done(&call);

    /* Dead token -> registry state. */
    static const char kr_text[] = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    ch_keyring *kr = NULL;
    char err[256];
    CHECK(ch_keyring_parse(kr_text, sizeof kr_text - 1, 0, "test", &kr, err, sizeof err) == CH_OK);
    ch_secrets_init(kr);
    ch_conn_spec spec = {.tenant = "tenantR", .id = "connR", .plugin = "testplug", .ticks = 1};
    CHECK(ch_conn_put(&spec, "system", NULL, NULL, NULL) == C360_OK);
    CHECK(ch_oauth_store("tenantR", "connR", NULL, "at-1", "rt-1", 3600, 0, err, sizeof err) == C360_OK);
    pthread_t th3;
    int32_t st3 = 0;
    pthread_create(&th3, NULL, token_dies, &st3);
    pthread_join(th3, NULL);
    CHECK(st3 == C360_EAUTH);
    ch_conn *cn = NULL;
    CHECK(ch_conn_get("tenantR", "connR", &cn) == C360_OK);
    CHECK(cn && strcmp(cn->state, "needs_reauth") == 0);
    ch_conn_free(cn);
    ch_secrets_init(NULL);
    ch_keyring_free(kr);

    ch_rconn_shutdown();
    CHECK_DONE();
}
