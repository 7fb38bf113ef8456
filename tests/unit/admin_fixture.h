/* admin_fixture.h -- for the admin API's unit tests: a real redis-server,
 * the services the handlers use (rconn, keyring, secrets, API keys), a
 * ch_admin with a loader of test plugins, and one-call requests through the
 * full dispatcher (route, authentication, role, tenant scope, handler).
 * Header-only, like redis_fixture.h. */
#ifndef C360_TEST_ADMIN_FIXTURE_H
#define C360_TEST_ADMIN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "admin.h"
#include "apikeys.h"
#include "hostapi.h"
#include "instances.h"
#include "keyring.h"
#include "loader.h"
#include "oauth_connect.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "secrets.h"

typedef struct af_env {
    ch_admin *admin;
    char op_key[CH_APIKEY_TEXT_MAX];
    int redis_port;
    ch_loader *loader;
    ch_instances *instances;
    ch_keyring *keyring;
    int nreq;
} af_env;

/* Loads a test plugin: "dir/x.so" relative to the build tree, or a bare
 * name looked up in tests/pipeline-plugins/ then tests/plugins/. */
static inline void af_load(ch_loader *ld, const char *name)
{
    const char *bd = getenv("C360_BUILD_DIR");
    char path[1024];
    if (strchr(name, '/')) {
        snprintf(path, sizeof path, "%s/%s", bd ? bd : ".", name);
    } else {
        snprintf(path, sizeof path, "%s/tests/pipeline-plugins/%s.so", bd ? bd : ".", name);
        FILE *f = fopen(path, "r");
        if (f) fclose(f);
        else snprintf(path, sizeof path, "%s/tests/plugins/%s.so", bd ? bd : ".", name);
    }
    if (ch_loader_load_file(ld, path) != CH_OK) {
        fprintf(stderr, "admin_fixture: cannot load %s\n", path);
        exit(1);
    }
}

static inline void af_start_with(af_env *e, const char *const *plugins,
                                 const ch_admin_settings *settings)
{
    memset(e, 0, sizeof *e);
    e->redis_port = fx_rconn_start(5000);
    if (e->redis_port <= 0) {
        fprintf(stderr, "admin_fixture: no redis-server\n");
        exit(1);
    }
    static const char ring[] =
        "k1:0101010101010101010101010101010101010101010101010101010101010101\n";
    char err[256];
    if (ch_keyring_parse(ring, strlen(ring), 0, "test", &e->keyring, err, sizeof err) != CH_OK) {
        fprintf(stderr, "admin_fixture: keyring: %s\n", err);
        exit(1);
    }
    ch_secrets_init(e->keyring);
    ch_apikeys_init(e->keyring);
    ch_oauth_connect_init(e->keyring);
    e->loader = ch_loader_new(ch_host_api());
    for (size_t i = 0; plugins && plugins[i]; i++) af_load(e->loader, plugins[i]);
    e->instances = ch_instances_new(e->loader, NULL);
    ch_admin_settings s;
    if (settings) {
        s = *settings;
    } else {
        ch_admin_settings_default(&s);
        s.public_url = "https://c360.test";
        s.key_rate_per_s = 0; /* tests send bursts */
        s.callback_timeout_ms = 5000;
    }
    e->admin = ch_admin_new(&s, e->loader, e->instances);
    ch_apikey_info info;
    if (ch_apikey_create("test operator", CH_ROLE_OPERATOR, "", "system", &info, e->op_key) !=
        C360_OK) {
        fprintf(stderr, "admin_fixture: cannot create the operator key\n");
        exit(1);
    }
}

static inline void af_start(af_env *e, const char *const *plugins)
{
    af_start_with(e, plugins, NULL);
}

static inline void af_stop(af_env *e)
{
    ch_admin_free(e->admin);
    ch_instances_free(e->instances);
    ch_loader_free(e->loader);
    ch_apikeys_init(NULL);
    ch_oauth_connect_init(NULL);
    ch_secrets_init(NULL);
    ch_keyring_free(e->keyring);
    ch_rconn_shutdown();
    fx_redis_stop();
}

/* One request as the dispatcher sees it: the context and the strings it
 * points to, which must outlive the dispatch. */
typedef struct af_call {
    ch_actx x;
    char path[512], query[4096], rid[40], auth[256];
} af_call;

/* Runs one request through the dispatcher. key may be NULL (no
 * Authorization); Content-Type is ctype, or application/json, when a body
 * is given. The caller reads c->x (status, resp, raw, headers) and then
 * calls ch_actx_clear(&c->x). */
static inline void af_call_run(af_env *e, af_call *c, const char *key, const char *method,
                               const char *target, const char *body, const char *ctype,
                               const char *if_match)
{
    memset(c, 0, sizeof *c);
    const char *q = strchr(target, '?');
    if (q) {
        snprintf(c->path, sizeof c->path, "%.*s", (int)(q - target), target);
        snprintf(c->query, sizeof c->query, "%s", q + 1);
    } else {
        snprintf(c->path, sizeof c->path, "%s", target);
    }
    /* atomic: some tests send requests from several threads at once */
    int n = __atomic_add_fetch(&e->nreq, 1, __ATOMIC_RELAXED);
    snprintf(c->rid, sizeof c->rid, "afreq%08d", n);
    if (key) snprintf(c->auth, sizeof c->auth, "Bearer %s", key);
    c->x.method = method;
    c->x.path = c->path;
    c->x.query = c->query;
    c->x.request_id = c->rid;
    c->x.remote_ip = "127.0.0.1";
    c->x.content_type = body ? (ctype ? ctype : "application/json") : NULL;
    c->x.if_match = if_match;
    c->x.body = (const uint8_t *)(body ? body : "");
    c->x.body_len = body ? strlen(body) : 0;
    ch_admin_dispatch(e->admin, &c->x, key ? c->auth : NULL);
}

/* One request through the dispatcher (see af_call_run). Returns the JSON
 * answer (new reference, NULL for an empty or non-JSON body) and the
 * status. */
static inline json_t *af_req_full(af_env *e, const char *key, const char *method,
                                  const char *target, const char *body, const char *ctype,
                                  const char *if_match, int *status)
{
    af_call c;
    af_call_run(e, &c, key, method, target, body, ctype, if_match);
    *status = c.x.status;
    json_t *out = c.x.resp ? json_incref(c.x.resp) : NULL;
    if (!out && c.x.raw) out = json_loadb(c.x.raw, c.x.raw_len, 0, NULL);
    ch_actx_clear(&c.x);
    return out;
}

static inline json_t *af_req(af_env *e, const char *key, const char *method,
                             const char *target, const char *body, int *status)
{
    return af_req_full(e, key, method, target, body, NULL, NULL, status);
}

/* Registers a tenant directly (tenants.h layout). */
static inline void af_tenant(af_env *e, const char *tenant)
{
    (void)e;
    redisReply *r = ch_rconn_command(
        "HSET c360:{t:%s}:tenant name %s limits {} retention_days 0 version 1 created_ms 1 "
        "updated_ms 1",
        tenant, tenant);
    if (r) freeReplyObject(r);
    r = ch_rconn_command("SADD c360:{idx}:tenant-registry %s", tenant);
    if (r) freeReplyObject(r);
}

/* A key of `role` (tenant "" for an operator). */
static inline void af_key(af_env *e, ch_role role, const char *tenant, char *text_out)
{
    (void)e;
    ch_apikey_info info;
    if (ch_apikey_create("test key", role, role == CH_ROLE_OPERATOR ? "" : tenant, "system",
                         &info, text_out) != C360_OK) {
        fprintf(stderr, "admin_fixture: cannot create a key\n");
        exit(1);
    }
}

#endif
