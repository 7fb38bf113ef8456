/* tsrc.c -- "tsrc", the pipeline's test source plugin (webhooks + ticks).
 *
 * What the end-to-end tests (tests/integration/pipeline_*.sh) and the
 * ingress benchmark (bench/) drive through the real c360d:
 *
 *  webhook_verify  HMAC-SHA256 over the raw body, header
 *                  `x-tsrc-signature: sha256=<hex>`, with the connection's
 *                  "secret" (per-connection URL) or the app secret
 *                  (app-level URL /hooks/tsrc; $TSRC_APP_SECRET at load,
 *                  default "tsrc-app-secret"). Bad or missing: 401. A signed
 *                  GET ?challenge=X is a handshake: answers X (REPLIED).
 *                  Names the dedup key from the body's "id".
 *  webhook_route   app-level URL: the body's "route" is the routing key; the
 *                  connections that registered it (config "route_keys", in
 *                  instance_open) get the event.
 *  event           emits one record: type = body "type" (default "lead"),
 *                  id = body "id" (default, or when it is not 1..200
 *                  printable bytes without spaces: the host's event id),
 *                  json = the raw body. With config "actions" (default true) the body's
 *                  "action" misbehaves on demand:
 *                    "retry"  RETRY with retry_after (body "retry_after_ms",
 *                             default config "retry_after_ms"); with body
 *                             "attempts": N it succeeds from attempt N on
 *                    "error"  ERROR (a dead letter at once)
 *                    "crash"  SIGSEGV by a write through a NULL pointer
 *                    "hang"   sleeps an hour past the call's deadline
 *                  Setting "actions": false is the tests' "bug fix": the
 *                  same stored event then goes through (poison replay).
 *                  Config "work_ms" makes every event take that long (a
 *                  sleep, no CPU) before it emits: the time a real source
 *                  spends fetching details from its provider, for tests of
 *                  worker capacity and fairness.
 *                  Body "stage": [{"key", "value" (a string, or null: a
 *                  delete), "ttl_ms"}...] stages those state writes with
 *                  state_set_on_commit (ABI 1.6) first, before any action,
 *                  so a "retry" or "error" event shows that they are
 *                  dropped; a refused one fails the event with its status.
 *                  With body "stage_probe": true the event then reads each
 *                  staged key and writes at once (state_set) "probe:<key>"
 *                  = "present" or "absent": what state_get saw before the
 *                  commit.
 *  tick            emits "tick-<connection>-<n>" when config "tick_records"
 *                  is true (n from the state service, so it is unique across
 *                  hosts and restarts); records carry at_ms and the pid, so
 *                  a test can see when and where each tick ran. With config
 *                  "tick_stage" it first stages (state_set_on_commit)
 *                  "tick_mark" = "tick-<now ms>" for 10 minutes and the
 *                  delete of "tick_gone".
 *  instance_open   with config "open_stage", tries state_set_on_commit
 *                  (which c360d refuses outside event and tick) and writes
 *                  its status at once as "open_stage_status".
 *
 * The signing secret sits in the config only because this is a test plugin
 * that must run without a connect flow: config is shown to operators and is
 * never the place for a real secret (a real connector keeps it with the
 * secrets service and loads it in instance_open). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "connector_api.h"
#include "tp_util.h"

#define TSRC_SIG_HEADER "x-tsrc-signature"
#define TSRC_SECRET_MIN 8
#define TSRC_SECRET_MAX 256
#define TSRC_KEY_MAX 200
#define TSRC_ROUTE_KEYS_MAX 1000
#define TSRC_CHALLENGE_MAX 128
#define TSRC_DEFAULT_APP_SECRET "tsrc-app-secret"

static const char tsrc_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"tsrc (test source)\",\"type\":\"object\","
    "\"additionalProperties\":false,\"required\":[\"secret\"],"
    "\"properties\":{"
    "\"secret\":{\"type\":\"string\",\"minLength\":8,\"maxLength\":256,"
    "\"description\":\"HMAC key of x-tsrc-signature (test plugin only: real "
    "connectors never keep secrets in config)\"},"
    "\"route_keys\":{\"type\":\"array\",\"maxItems\":1000,"
    "\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200}},"
    "\"tick_records\":{\"type\":\"boolean\",\"default\":false},"
    "\"actions\":{\"type\":\"boolean\",\"default\":true},"
    "\"retry_after_ms\":{\"type\":\"integer\",\"minimum\":0,"
    "\"maximum\":600000,\"default\":1000},"
    "\"work_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":60000,"
    "\"default\":0},"
    "\"tick_stage\":{\"type\":\"boolean\",\"default\":false},"
    "\"open_stage\":{\"type\":\"boolean\",\"default\":false}}}";

typedef struct tsrc_plugin {
    const c360_host_api *host;
    uint8_t app_secret[TSRC_SECRET_MAX];
    size_t app_secret_len;
} tsrc_plugin;

/* One connection. Fixed after instance_open (a config change reopens), so
 * webhook_verify may read it on the event loop while workers run. */
typedef struct tsrc_conn {
    const c360_instance *inst;
    uint8_t secret[TSRC_SECRET_MAX];
    size_t secret_len;
    bool tick_records;
    bool actions;
    uint32_t retry_after_ms;
    uint32_t work_ms;
    bool tick_stage;
    atomic_uint_fast64_t ticks; /* when the host has no state service */
} tsrc_conn;

typedef struct tsrc_cfg {
    const char *secret;
    size_t secret_len;
    json_t *route_keys; /* borrowed from the document */
    bool tick_records, actions, tick_stage, open_stage;
    uint32_t retry_after_ms;
    uint32_t work_ms;
} tsrc_cfg;

/* Parses a config; with call set, reports every problem through
 * config_error (validate_config). *doc is released by the caller. */
static int32_t tsrc_parse(const c360_host_api *host, c360_call *call,
                          const char *json, size_t len, json_t **doc,
                          tsrc_cfg *cfg)
{
    json_error_t jerr;
    int errors = 0;
    memset(cfg, 0, sizeof *cfg);
    cfg->actions = true;
    cfg->retry_after_ms = 1000;
#define BAD(ptr, msg) tp_config_bad(host, call, &errors, (ptr), (msg))
    *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*doc == NULL) {
        BAD("", "not valid JSON");
        return C360_EINVAL;
    }
    if (!json_is_object(*doc)) {
        BAD("", "must be a JSON object");
        return C360_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(*doc, key, v) {
        if (strcmp(key, "secret") == 0) {
            size_t n = json_string_length(v);
            if (!json_is_string(v) || n < TSRC_SECRET_MIN || n > TSRC_SECRET_MAX)
                BAD("/secret", "must be a string of 8 to 256 bytes");
            else {
                cfg->secret = json_string_value(v);
                cfg->secret_len = n;
            }
        } else if (strcmp(key, "route_keys") == 0) {
            size_t i;
            json_t *k;
            if (!json_is_array(v) || json_array_size(v) > TSRC_ROUTE_KEYS_MAX) {
                BAD("/route_keys", "must be an array of at most 1000 keys");
                continue;
            }
            json_array_foreach(v, i, k) {
                if (!json_is_string(k) || !tp_key_ok(json_string_value(k)))
                    BAD("/route_keys", "keys are 1..200 printable ASCII bytes");
            }
            cfg->route_keys = v;
        } else if (strcmp(key, "tick_records") == 0) {
            if (!json_is_boolean(v))
                BAD("/tick_records", "must be a boolean");
            cfg->tick_records = json_is_true(v);
        } else if (strcmp(key, "tick_stage") == 0) {
            if (!json_is_boolean(v))
                BAD("/tick_stage", "must be a boolean");
            cfg->tick_stage = json_is_true(v);
        } else if (strcmp(key, "open_stage") == 0) {
            if (!json_is_boolean(v))
                BAD("/open_stage", "must be a boolean");
            cfg->open_stage = json_is_true(v);
        } else if (strcmp(key, "actions") == 0) {
            if (!json_is_boolean(v))
                BAD("/actions", "must be a boolean");
            cfg->actions = json_is_true(v);
        } else if (strcmp(key, "retry_after_ms") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 600000)
                BAD("/retry_after_ms", "must be an integer from 0 to 600000");
            else
                cfg->retry_after_ms = (uint32_t)json_integer_value(v);
        } else if (strcmp(key, "work_ms") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 60000)
                BAD("/work_ms", "must be an integer from 0 to 60000");
            else
                cfg->work_ms = (uint32_t)json_integer_value(v);
        } else {
            tp_config_unknown(host, call, &errors, key);
        }
    }
    if (json_object_get(*doc, "secret") == NULL)
        BAD("/secret", "is required");
#undef BAD
    return errors ? C360_EINVAL : C360_OK;
}

static int32_t tsrc_init(c360_call *call, const c360_host_api *host,
                         void **plugin_data)
{
    /* Everything tsrc exists to exercise is ABI 1.2: refuse an older
     * host outright rather than test less than intended. */
    if (!C360_HOST_HAS(host, record_emit) || !C360_HOST_HAS(host, call_dedup_key) ||
        !C360_HOST_HAS(host, route_event) || !C360_HOST_HAS(host, hmac_sha256)) {
        if (host != NULL && host->call_error != NULL)
            host->call_error(call, "tsrc needs a host with the ABI 1.2 pipeline");
        return C360_EUNSUPPORTED;
    }
    tsrc_plugin *p = calloc(1, sizeof *p);
    if (p == NULL)
        return C360_ENOMEM;
    p->host = host;
    const char *s = getenv("TSRC_APP_SECRET");
    if (s == NULL || strlen(s) < TSRC_SECRET_MIN || strlen(s) > TSRC_SECRET_MAX)
        s = TSRC_DEFAULT_APP_SECRET;
    p->app_secret_len = strlen(s);
    memcpy(p->app_secret, s, p->app_secret_len);
    *plugin_data = p;
    return C360_OK;
}

static void tsrc_fini(void *plugin_data)
{
    free(plugin_data);
}

static int32_t tsrc_validate_config(c360_call *call, void *plugin_data,
                                    const char *json, size_t len)
{
    tsrc_plugin *p = plugin_data;
    json_t *doc;
    tsrc_cfg cfg;
    int32_t st = tsrc_parse(p->host, call, json, len, &doc, &cfg);
    json_decref(doc);
    return st;
}

static int32_t tsrc_instance_open(c360_call *call, void *plugin_data,
                                  c360_instance *inst, const char *json,
                                  size_t len, void **instance_data)
{
    tsrc_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    json_t *doc;
    tsrc_cfg cfg;
    int32_t st = tsrc_parse(host, NULL, json, len, &doc, &cfg);
    if (st != C360_OK) {
        host->call_error(call, "config not valid");
        json_decref(doc);
        return st;
    }
    /* Routing keys first: an instance that opened without its keys would
     * silently receive none of its app-level events. Replaces the keys a
     * previous config registered, so an empty list is registered too. */
    size_t nkeys = cfg.route_keys ? json_array_size(cfg.route_keys) : 0;
    if (C360_HOST_HAS(host, instance_route_keys)) {
        const char **keys = calloc(nkeys + 1, sizeof *keys);
        if (keys == NULL) {
            json_decref(doc);
            return C360_ENOMEM;
        }
        for (size_t i = 0; i < nkeys; i++)
            keys[i] = json_string_value(json_array_get(cfg.route_keys, i));
        st = host->instance_route_keys(call, keys, (uint32_t)nkeys);
        free(keys);
        if (st != C360_OK) {
            host->call_error(call, "registering %zu routing keys: %s", nkeys,
                             c360_strstatus(st));
            json_decref(doc);
            return st;
        }
    }
    if (cfg.open_stage && C360_HOST_HAS(host, state_set_on_commit) &&
        C360_HOST_HAS(host, state_set)) {
        /* No records to commit with here: the status is the point. */
        char b[16];
        int n = snprintf(b, sizeof b, "%d", (int)host->state_set_on_commit(call, "open_stage",
                                                                          "x", 1, 0));
        host->state_set(call, "open_stage_status", b, (size_t)n, 0, NULL);
    }
    tsrc_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        json_decref(doc);
        return C360_ENOMEM;
    }
    c->inst = inst;
    memcpy(c->secret, cfg.secret, cfg.secret_len);
    c->secret_len = cfg.secret_len;
    c->tick_records = cfg.tick_records;
    c->actions = cfg.actions;
    c->retry_after_ms = cfg.retry_after_ms;
    c->work_ms = cfg.work_ms;
    c->tick_stage = cfg.tick_stage;
    atomic_init(&c->ticks, 0);
    json_decref(doc);
    *instance_data = c;
    return C360_OK;
}

static void tsrc_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    tsrc_conn *c = instance_data;
    if (c == NULL)
        return;
    volatile uint8_t *s = c->secret;
    for (size_t i = 0; i < sizeof c->secret; i++)
        s[i] = 0;
    free(c);
}

static void tsrc_reply(c360_webhook_reply *reply, int32_t status, const char *text,
                       size_t len)
{
    if (len > sizeof reply->body_buf)
        len = sizeof reply->body_buf;
    reply->status = status;
    memcpy(reply->body_buf, text, len);
    reply->body_len = len;
}

/* On the event loop: no I/O, no allocation beyond the stack. */
static int32_t tsrc_webhook_verify(c360_call *call, void *plugin_data,
                                   void *instance_data, const c360_webhook *req,
                                   c360_webhook_reply *reply)
{
    tsrc_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    tsrc_conn *c = instance_data;
    const uint8_t *key = c ? c->secret : p->app_secret;
    size_t key_len = c ? c->secret_len : p->app_secret_len;

    const char *sig = tp_header(req->headers, req->header_count, TSRC_SIG_HEADER);
    uint8_t given[32], want[32];
    if (sig == NULL || strncmp(sig, "sha256=", 7) != 0 ||
        !tp_unhex(sig + 7, given, sizeof given)) {
        host->call_error(call, "missing or malformed " TSRC_SIG_HEADER);
        reply->status = 401;
        return C360_VERDICT_REJECT;
    }
    host->hmac_sha256(key, key_len, req->body, req->body_len, want);
    if (!host->ct_equal(given, want, sizeof want)) {
        host->call_error(call, "bad " TSRC_SIG_HEADER);
        reply->status = 401;
        return C360_VERDICT_REJECT;
    }
    if (strcmp(req->method, "GET") == 0) {
        /* Authenticated first, so nobody can make the URL echo text. */
        const char *v;
        size_t n;
        bool ok = tp_query_param(req->query, "challenge", &v, &n) && n > 0 &&
                  n <= TSRC_CHALLENGE_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
                 (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_' ||
                 v[i] == '.' || v[i] == '~';
        if (ok)
            tsrc_reply(reply, 200, v, n);
        else
            tsrc_reply(reply, 400, "bad challenge\n", 14);
        return C360_VERDICT_REPLIED;
    }
    /* The dedup key belongs to per-connection URLs; on the app-level URL
     * webhook_route names it with each routing key. */
    if (c != NULL) {
        char id[TSRC_KEY_MAX + 1];
        if (tp_json_str(req->body, req->body_len, "id", id, sizeof id) == 1 &&
            tp_key_ok(id))
            host->call_dedup_key(call, id);
    }
    return C360_VERDICT_ACCEPT;
}

static int32_t tsrc_webhook_route(c360_call *call, void *plugin_data,
                                  const c360_webhook *req)
{
    tsrc_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    char route[TSRC_KEY_MAX + 1], id[TSRC_KEY_MAX + 1];
    if (tp_json_str(req->body, req->body_len, "route", route, sizeof route) != 1 ||
        !tp_key_ok(route)) {
        host->call_error(call, "body names no \"route\"");
        return C360_EINVAL;
    }
    bool has_id = tp_json_str(req->body, req->body_len, "id", id, sizeof id) == 1 &&
                  tp_key_ok(id);
    return host->route_event(call, route, has_id ? id : NULL);
}

/* A real crash for the supervisor tests. The pointer comes from a volatile
 * object so the compiler cannot turn the store into a trap instruction
 * (SIGILL), and the UBSan null check is off here so that the sanitizer
 * build dies of the fault itself rather than of a UBSan abort. Under ASan
 * the SEGV is reported and the process exits (status 1) unless
 * ASAN_OPTIONS has handle_segv=0. */
static int *volatile tsrc_null;
__attribute__((no_sanitize("undefined"), noinline)) static void tsrc_crash(void)
{
    *tsrc_null = 42;
}

/* The body's "stage" list, staged in order (see the top). */
static int32_t tsrc_stage(c360_call *call, const c360_host_api *host, const json_t *body)
{
    const json_t *list = json_object_get(body, "stage");
    if (list == NULL)
        return C360_OK;
    if (!json_is_array(list) || !C360_HOST_HAS(host, state_set_on_commit)) {
        host->call_error(call, "\"stage\": needs an array and a host with ABI 1.6");
        return C360_ERROR;
    }
    size_t i;
    const json_t *w;
    json_array_foreach(list, i, w) {
        const char *key = json_string_value(json_object_get(w, "key"));
        const json_t *v = json_object_get(w, "value");
        json_int_t ttl = json_integer_value(json_object_get(w, "ttl_ms"));
        const char *val = json_string_value(v);
        int32_t st = host->state_set_on_commit(call, key, val, val ? json_string_length(v) : 0,
                                               ttl > 0 && ttl <= UINT32_MAX ? (uint32_t)ttl : 0);
        if (st != C360_OK) {
            host->call_error(call, "state_set_on_commit %zu: %s", i, c360_strstatus(st));
            return st;
        }
    }
    if (!json_is_true(json_object_get(body, "stage_probe")) || !C360_HOST_HAS(host, state_get) ||
        !C360_HOST_HAS(host, state_set))
        return C360_OK;
    json_array_foreach(list, i, w) {
        const char *key = json_string_value(json_object_get(w, "key"));
        uint8_t *got = NULL;
        size_t len = 0;
        int32_t st = host->state_get(call, key, &got, &len, NULL);
        host->free(got);
        char probe[TSRC_KEY_MAX + 8];
        snprintf(probe, sizeof probe, "probe:%s", key);
        const char *seen = st == C360_OK ? "present" : "absent";
        host->state_set(call, probe, seen, strlen(seen), 0, NULL);
    }
    return C360_OK;
}

static int32_t tsrc_event(c360_call *call, void *plugin_data, void *instance_data,
                          const c360_event *ev)
{
    tsrc_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    tsrc_conn *c = instance_data;
    json_error_t jerr;
    json_t *body = json_loadb((const char *)ev->body, ev->body_len, 0, &jerr);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        /* The same bytes never parse: permanent, not worth retries. */
        host->call_error(call, "event %s: body is not a JSON object", ev->event_id);
        return C360_ERROR;
    }
    int32_t staged = tsrc_stage(call, host, body);
    if (staged != C360_OK) {
        json_decref(body);
        return staged;
    }
    const char *action = json_string_value(json_object_get(body, "action"));
    if (c != NULL && c->actions && action != NULL) {
        if (strcmp(action, "retry") == 0) {
            json_int_t until = json_integer_value(json_object_get(body, "attempts"));
            if (until <= 0 || (json_int_t)ev->attempt < until) {
                json_t *ra = json_object_get(body, "retry_after_ms");
                uint32_t ms = json_is_integer(ra) && json_integer_value(ra) >= 0 &&
                                      json_integer_value(ra) <= 600000
                                  ? (uint32_t)json_integer_value(ra)
                                  : c->retry_after_ms;
                json_decref(body);
                host->call_retry_after(call, ms);
                host->call_error(call, "asked to retry (attempt %u)", (unsigned)ev->attempt);
                return C360_RETRY;
            }
        } else if (strcmp(action, "error") == 0) {
            json_decref(body);
            host->call_error(call, "asked to fail");
            return C360_ERROR;
        } else if (strcmp(action, "crash") == 0) {
            tsrc_crash();
        } else if (strcmp(action, "hang") == 0) {
            /* An hour past the deadline: only the supervisor ends this. */
            while (host->call_time_left_ms(call) > -3600 * 1000) {
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
            }
        }
    }
    if (c != NULL && c->work_ms > 0) {
        struct timespec ts = {c->work_ms / 1000, (long)(c->work_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ; /* EINTR: sleep the rest */
    }
    /* The body's id and type only when the host takes them as they are
     * (1..200 printable ASCII bytes, no spaces): otherwise the event would
     * fail for good on a detail of the test's making. */
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *type = json_string_value(json_object_get(body, "type"));
    if (id == NULL || !tp_key_ok(id))
        id = ev->event_id;
    if (type == NULL || !tp_key_ok(type))
        type = "lead";
    int32_t st = host->record_emit(call, type, id, (const char *)ev->body, ev->body_len);
    json_decref(body);
    if (st != C360_OK)
        host->call_error(call, "record_emit: %s", c360_strstatus(st));
    return st;
}

static int32_t tsrc_tick(c360_call *call, void *plugin_data, void *instance_data)
{
    tsrc_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    tsrc_conn *c = instance_data;
    if (c->tick_stage) {
        if (!C360_HOST_HAS(host, state_set_on_commit)) {
            host->call_error(call, "tick_stage needs a host with ABI 1.6");
            return C360_ERROR;
        }
        char mark[48];
        int len = snprintf(mark, sizeof mark, "tick-%" PRId64, host->now_ms());
        int32_t st = host->state_set_on_commit(call, "tick_mark", mark, (size_t)len, 600000);
        if (st == C360_OK)
            st = host->state_set_on_commit(call, "tick_gone", NULL, 0, 0);
        if (st != C360_OK) {
            host->call_error(call, "state_set_on_commit: %s", c360_strstatus(st));
            return st;
        }
    }
    if (!c->tick_records)
        return C360_OK;
    /* The state counter makes ids unique across hosts and restarts, which
     * is what lets a test count ticks by distinct record ids. */
    int64_t n = 0;
    int32_t st = C360_EUNSUPPORTED;
    if (C360_HOST_HAS(host, state_incr))
        st = host->state_incr(call, "tsrc_tick_seq", 1, &n);
    if (st == C360_EIO || st == C360_ETIMEOUT) {
        host->call_error(call, "state_incr: %s", c360_strstatus(st));
        return C360_RETRY;
    }
    if (st != C360_OK)
        n = (int64_t)atomic_fetch_add(&c->ticks, 1) + 1;
    const char *conn = host->instance_connection(c->inst);
    char id[160], json[512];
    snprintf(id, sizeof id, "tick-%s-%" PRId64, conn, n);
    int len = snprintf(json, sizeof json,
                       "{\"id\":\"%s\",\"tenant\":\"%s\",\"conn\":\"%s\",\"n\":%" PRId64
                       ",\"at_ms\":%" PRId64 ",\"pid\":%ld}",
                       id, host->instance_tenant(c->inst), conn, n, host->now_ms(),
                       (long)getpid());
    st = host->record_emit(call, "tick", id, json, (size_t)len);
    if (st != C360_OK)
        host->call_error(call, "record_emit: %s", c360_strstatus(st));
    return st;
}

static const c360_plugin_desc tsrc_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK),
    .name = "tsrc",
    .version = "1.0.0",
    .description = "pipeline test source: signed webhooks, records, misbehaviour on demand",
    .config_schema = tsrc_schema,
    .init = tsrc_init,
    .fini = tsrc_fini,
    .validate_config = tsrc_validate_config,
    .instance_open = tsrc_instance_open,
    .instance_close = tsrc_instance_close,
    .tick = tsrc_tick,
    .webhook_verify = tsrc_webhook_verify,
    .event = tsrc_event,
    .webhook_route = tsrc_webhook_route,
};

C360_PLUGIN_ENTRY
{
    return &tsrc_desc;
}
