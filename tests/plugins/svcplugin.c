/* svcplugin.c -- "svc_user", the test plugin of c360-plugin-check's fake
 * host (tests/integration/plugin_check.sh): every ABI 1.1 service, and the
 * ABI 1.2 pipeline services a polling source uses.
 *
 * Its tick uses every ABI 1.1 service the way the ABI asks -- state (set,
 * get, cas, incr, delete), secrets (put, get, secret_free), a rate-limit
 * take, OAuth, an HTTP GET with http_free, audit, and the crypto helpers --
 * and checks each answer against the service's contract, so a tick that
 * returns ok proves the fake keeps the contracts. Then, as a source does
 * with what it fetched, it emits one record (record_emit) and reports the
 * connection active (connection_status); when the provider fails it
 * reports the connection failing instead. instance_open runs an OAuth
 * exchange and registers the connection's routing keys
 * (instance_route_keys). deliver POSTs the record; disconnect deletes what
 * tick stored. With --http-status N its HTTP error paths run (401: token
 * rejected, 429 and 5xx: retry, other 4xx: error).
 *
 * The config can make it do exactly one thing wrong, so that the test can
 * prove the checker catches each:
 *   {"misbehave": "leak"}             tick never releases a state_get value
 *   {"misbehave": "wrong_free"}       tick releases a secret with host->free
 *   {"misbehave": "block_in_verify"}  the config check (validate_config, on
 *                                     the event loop) calls state_get
 *   {"misbehave": "bad_record"}       tick emits a record whose JSON is an
 *                                     array, not an object, and ignores the
 *                                     C360_EINVAL (so the tick still
 *                                     returns ok: the record is lost)
 * svc_user declares no webhook capability, so the config check is its one
 * callback that must not block. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The pipeline services (record_emit, connection_status,
 * instance_route_keys) are ABI 1.2: a host without them is refused at init
 * rather than half-tested. */
#define C360_PLUGIN_REQUIRES_MINOR 2

#include "connector_api.h"

enum svc_mode {
    SVC_GOOD = 0,
    SVC_LEAK,
    SVC_WRONG_FREE,
    SVC_BLOCK_IN_VERIFY,
    SVC_BAD_RECORD,
    SVC_MODE_LAST = SVC_BAD_RECORD
};

static const char *const svc_mode_names[] = {
    [SVC_LEAK] = "leak",
    [SVC_WRONG_FREE] = "wrong_free",
    [SVC_BLOCK_IN_VERIFY] = "block_in_verify",
    [SVC_BAD_RECORD] = "bad_record",
};

#define SVC_API_URL "https://example.invalid/x"
#define SVC_RECORDS_URL "https://example.invalid/records"
#define SVC_TOKEN_URL "https://example.invalid/oauth/token"
/* Stands in for a key the connect flow would have stored. */
#define SVC_SIGNING_KEY "svc-user-signing-key"

static const char svc_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"properties\":{\"misbehave\":{\"type\":\"string\","
    "\"enum\":[\"leak\",\"wrong_free\",\"block_in_verify\","
    "\"bad_record\"]}}}";

typedef struct svc_plugin {
    const c360_host_api *host;
} svc_plugin;

typedef struct svc_conn {
    c360_instance *inst;
    enum svc_mode mode;
} svc_conn;

/* Fails the callback with a reason for operators: every check below that
 * does not hold means the host broke a contract. */
#define SVC_REQUIRE(host, call, cond, ...)                                  \
    do {                                                                    \
        if (!(cond)) {                                                      \
            (host)->call_error((call), __VA_ARGS__);                        \
            return C360_ERROR;                                              \
        }                                                                   \
    } while (0)

/* Tokens pass through stack buffers: clear them where the compiler cannot
 * drop the stores. */
static void svc_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n-- > 0)
        *v++ = 0;
}

/* ------------------------------------------------------------------------ */
/* Config                                                                    */
/* ------------------------------------------------------------------------ */

/* call NULL: report nothing (instance_open re-parses a validated config). */
static int32_t svc_parse(const c360_host_api *host, c360_call *call,
                         const char *json, size_t len, enum svc_mode *mode)
{
    *mode = SVC_GOOD;
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        if (call != NULL)
            host->config_error(call, "", "must be a JSON object");
        json_decref(doc);
        return C360_EINVAL;
    }
    int errors = 0;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "misbehave") != 0) {
            errors++;
            if (call != NULL)
                host->config_error(call, "", "only \"misbehave\" is a setting");
            continue;
        }
        const char *s = json_string_value(v);
        bool known = false;
        for (int m = SVC_LEAK; s != NULL && m <= SVC_MODE_LAST; m++) {
            if (strcmp(s, svc_mode_names[m]) == 0) {
                *mode = (enum svc_mode)m;
                known = true;
            }
        }
        if (!known) {
            errors++;
            if (call != NULL)
                host->config_error(call, "/misbehave", "must be \"leak\", "
                                   "\"wrong_free\", \"block_in_verify\" or "
                                   "\"bad_record\"");
        }
    }
    json_decref(doc);
    return errors == 0 ? C360_OK : C360_EINVAL;
}

static int32_t svc_validate_config(c360_call *call, void *plugin_data,
                                   const char *config_json, size_t config_len)
{
    const c360_host_api *host = ((svc_plugin *)plugin_data)->host;
    enum svc_mode mode;
    int32_t st = svc_parse(host, call, config_json, config_len, &mode);
    if (st == C360_OK && mode == SVC_BLOCK_IN_VERIFY) {
        /* The mistake: state is Redis in c360d, and this runs on the event
         * loop. c360d refuses it (C360_EDENIED); the checker must say so. */
        uint8_t *value = NULL;
        size_t n = 0;
        if (host->state_get(call, "cursor", &value, &n, NULL) == C360_OK)
            host->free(value);
    }
    return st;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */
/* ------------------------------------------------------------------------ */

static int32_t svc_init(c360_call *call, const c360_host_api *host,
                        void **plugin_data)
{
    /* The table is append-only, but a host may leave a member NULL: test
     * every service used, not just the newest. */
    if (!C360_HOST_HAS(host, instance_connection))
        return C360_EUNSUPPORTED;
    const char *missing = NULL;
#define SVC_NEED(m)                                                         \
    if (missing == NULL && !C360_HOST_HAS(host, m))                         \
        missing = #m;
    SVC_NEED(state_get) SVC_NEED(state_set) SVC_NEED(state_cas)
    SVC_NEED(state_delete) SVC_NEED(state_incr) SVC_NEED(secret_get)
    SVC_NEED(secret_put) SVC_NEED(secret_delete) SVC_NEED(secret_free)
    SVC_NEED(ratelimit_take) SVC_NEED(ratelimit_report)
    SVC_NEED(ratelimit_feed_response) SVC_NEED(audit) SVC_NEED(http)
    SVC_NEED(http_free) SVC_NEED(oauth_token) SVC_NEED(oauth_exchange)
    SVC_NEED(oauth_token_rejected) SVC_NEED(hmac_sha256) SVC_NEED(sha256)
    SVC_NEED(ct_equal) SVC_NEED(base64_encode) SVC_NEED(base64_decode)
    SVC_NEED(hex_encode) SVC_NEED(random_bytes)
    SVC_NEED(instance_route_keys) SVC_NEED(record_emit)
    SVC_NEED(connection_status)
#undef SVC_NEED
    if (missing != NULL) {
        host->call_error(call, "host lacks %s", missing);
        return C360_EUNSUPPORTED;
    }
    svc_plugin *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return C360_ENOMEM;
    p->host = host;
    *plugin_data = p;
    return C360_OK;
}

static void svc_fini(void *plugin_data)
{
    free(plugin_data);
}

static const c360_oauth_params svc_oauth = {
    .struct_size = sizeof(c360_oauth_params),
    .grant = C360_GRANT_CLIENT_CREDENTIALS,
    .auth = C360_OAUTH_AUTH_BODY,
    .token_url = SVC_TOKEN_URL,
    .client_id = "svc-user",
    .client_secret = "not-a-real-client-secret",
};

static int32_t svc_instance_open(c360_call *call, void *plugin_data,
                                 c360_instance *inst, const char *config_json,
                                 size_t config_len, void **instance_data)
{
    const c360_host_api *host = ((svc_plugin *)plugin_data)->host;
    svc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return C360_ENOMEM;
    c->inst = inst;
    if (svc_parse(host, NULL, config_json, config_len, &c->mode) != C360_OK) {
        free(c);
        host->call_error(call, "config no longer valid");
        return C360_EINVAL;
    }
    /* Fetch the first token now, so bad app credentials show at connect
     * time rather than at the first tick. */
    int32_t st = host->oauth_exchange(call, &svc_oauth);
    if (st != C360_OK) {
        free(c);
        return st; /* the host put the reason in the call */
    }
    /* The provider accounts this connection serves, as a plugin with
     * app-level webhooks registers them (the duplicate is on purpose: the
     * host must ignore it). They replace whatever an earlier open
     * registered, so every open names them all. */
    static const char *const keys[] = {"svc:account:acct-1",
                                       "svc:account:acct-2",
                                       "svc:account:acct-1"};
    st = host->instance_route_keys(call, keys, 3);
    if (st != C360_OK) {
        free(c);
        host->call_error(call, "instance_route_keys: %s",
                         c360_strstatus(st));
        return st;
    }
    *instance_data = c;
    return C360_OK;
}

static void svc_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    free(instance_data);
}

/* ------------------------------------------------------------------------ */
/* tick: every service                                                       */
/* ------------------------------------------------------------------------ */

static int32_t svc_use_state(const c360_host_api *host, c360_call *call,
                             enum svc_mode mode)
{
    uint64_t v1 = 0, v2 = 0, got = 0;
    int32_t st = host->state_set(call, "cursor", "page-1", 6, 0, &v1);
    SVC_REQUIRE(host, call, st == C360_OK && v1 >= 1, "state_set: %s",
                c360_strstatus(st));

    uint8_t *value = NULL;
    size_t len = 0;
    st = host->state_get(call, "cursor", &value, &len, &got);
    SVC_REQUIRE(host, call, st == C360_OK, "state_get: %s", c360_strstatus(st));
    bool same = len == 6 && memcmp(value, "page-1", 6) == 0 && value[6] == '\0';
    if (mode != SVC_LEAK)
        host->free(value);
    /* else the mistake: the value is never released. */
    SVC_REQUIRE(host, call, same && got == v1, "state_get: wrong value or "
                "version");

    st = host->state_cas(call, "cursor", "page-2", 6, v1, 0, &v2);
    SVC_REQUIRE(host, call, st == C360_OK && v2 > v1, "state_cas: %s",
                c360_strstatus(st));
    /* The version just replaced must not win again. */
    st = host->state_cas(call, "cursor", "page-3", 6, v1, 0, NULL);
    SVC_REQUIRE(host, call, st == C360_ECONFLICT, "stale state_cas: %s",
                c360_strstatus(st));

    /* A short lock: expected 0 = only if nobody holds it. */
    st = host->state_cas(call, "lock", "1", 1, 0, 30000, NULL);
    SVC_REQUIRE(host, call, st == C360_OK, "state_cas lock: %s",
                c360_strstatus(st));
    int64_t ticks = 0;
    st = host->state_incr(call, "ticks", 1, &ticks);
    SVC_REQUIRE(host, call, st == C360_OK && ticks >= 1, "state_incr: %s",
                c360_strstatus(st));
    st = host->state_incr(call, "cursor", 1, NULL);
    SVC_REQUIRE(host, call, st == C360_EINVAL, "state_incr on text: %s",
                c360_strstatus(st));
    st = host->state_delete(call, "lock");
    SVC_REQUIRE(host, call, st == C360_OK, "state_delete: %s",
                c360_strstatus(st));
    return C360_OK;
}

/* The helpers against known answers, then a MAC under the secret key. */
static int32_t svc_use_crypto(const c360_host_api *host, c360_call *call,
                              const uint8_t *key, size_t key_len)
{
    static const char abc_sha256[] =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    uint8_t digest[32], mac[32], nonce[16];
    host->sha256("abc", 3, digest);
    char *hex = host->hex_encode(digest, sizeof(digest));
    bool hex_ok = hex != NULL && strcmp(hex, abc_sha256) == 0;
    host->free(hex);
    SVC_REQUIRE(host, call, hex_ok, "sha256/hex_encode: wrong answer");

    host->hmac_sha256(key, key_len, "payload", 7, mac);
    char *b64 = host->base64_encode(mac, sizeof(mac), C360_B64_URLSAFE_NOPAD);
    SVC_REQUIRE(host, call, b64 != NULL, "base64_encode failed");
    uint8_t *back = NULL;
    size_t back_len = 0;
    int32_t st = host->base64_decode(b64, strlen(b64), C360_B64_URLSAFE_NOPAD,
                                     &back, &back_len);
    host->free(b64);
    bool round = st == C360_OK && back_len == sizeof(mac) &&
                 host->ct_equal(back, mac, sizeof(mac));
    host->free(back);
    SVC_REQUIRE(host, call, round, "base64 round trip failed");
    host->random_bytes(nonce, sizeof(nonce));
    return C360_OK;
}

static int32_t svc_use_secrets(const c360_host_api *host, c360_call *call,
                               enum svc_mode mode)
{
    static const char key[] = SVC_SIGNING_KEY;
    int32_t st = host->secret_put(call, "signing_key", key, sizeof(key) - 1);
    SVC_REQUIRE(host, call, st == C360_OK, "secret_put: %s",
                c360_strstatus(st));
    uint8_t *secret = NULL;
    size_t len = 0;
    st = host->secret_get(call, "signing_key", &secret, &len);
    SVC_REQUIRE(host, call, st == C360_OK, "secret_get: %s",
                c360_strstatus(st));
    bool same = len == sizeof(key) - 1 && host->ct_equal(secret, key, len);
    if (same)
        st = svc_use_crypto(host, call, secret, len);
    if (mode == SVC_WRONG_FREE)
        host->free(secret); /* the mistake: guarded memory, wrong function */
    else
        host->secret_free(secret);
    SVC_REQUIRE(host, call, same, "secret_get: not the value put");
    return st;
}

/* What a provider's status means for the callback. */
static int32_t svc_http_outcome(const c360_host_api *host, c360_call *call,
                                int32_t status)
{
    if (status >= 200 && status < 300)
        return C360_OK;
    if (status == 429 || status >= 500) {
        host->call_retry_after(call, 30000);
        host->call_error(call, "provider answered %" PRId32, status);
        return C360_RETRY;
    }
    host->call_error(call, "provider answered %" PRId32, status);
    return C360_ERROR;
}

static int32_t svc_fetch(const c360_host_api *host, c360_call *call)
{
    c360_rl_limit lim = {sizeof(lim), 10, 1000, 0};
    uint32_t wait_ms = 0;
    int32_t st = host->ratelimit_take(call, C360_RL_CONNECTION, "api", &lim, 1,
                                      &wait_ms);
    if (st == C360_RETRY) {
        host->call_retry_after(call, wait_ms);
        return st;
    }
    SVC_REQUIRE(host, call, st == C360_OK, "ratelimit_take: %s",
                c360_strstatus(st));

    char *token = NULL;
    int64_t expires_at = 0;
    st = host->oauth_token(call, &svc_oauth, &token, &expires_at);
    if (st != C360_OK)
        return st; /* EAUTH, RETRY...: the host put the reason in the call */
    char auth[512];
    snprintf(auth, sizeof(auth), "Bearer %s", token);
    host->secret_free(token);
    const c360_header headers[] = {
        {"accept", "application/json"},
        {"authorization", auth},
    };
    c360_http_request req = {
        .struct_size = sizeof(req),
        .header_count = 2,
        .method = "GET",
        .url = SVC_API_URL,
        .headers = headers,
    };
    c360_http_response *resp = NULL;
    st = host->http(call, &req, &resp);
    svc_wipe(auth, sizeof(auth));
    if (st != C360_OK)
        return st;
    host->ratelimit_feed_response(call, C360_RL_CONNECTION, "api", resp);
    int32_t status = resp->status;
    json_t *body = status == 200
        ? json_loadb((const char *)resp->body, resp->body_len, 0, NULL)
        : NULL;
    bool body_ok = status != 200 || json_is_object(body);
    json_decref(body);
    host->http_free(resp);
    SVC_REQUIRE(host, call, body_ok, "200 without a JSON object");
    if (status == 401) {
        /* C360_OK: a newer token is stored, so try again with it soon. */
        st = host->oauth_token_rejected(call, NULL, "http 401");
        if (st != C360_OK)
            return st;
        host->call_retry_after(call, 0);
        host->call_error(call, "token rejected; retrying with a newer one");
        return C360_RETRY;
    }
    return svc_http_outcome(host, call, status);
}

/* What the tick fetched, as one normalised record. The id names the page
 * the cursor moved to, so a retried tick emits the same id again and the
 * destinations (which take it as an idempotency key) drop the repeat. */
static int32_t svc_emit(const c360_host_api *host, c360_call *call,
                        enum svc_mode mode)
{
    static const char rec[] = "{\"cursor\":\"page-2\",\"source\":\"svc_user\"}";
    static const char not_object[] = "[\"page-2\"]";
    if (mode == SVC_BAD_RECORD) {
        /* The mistake: a record that is not a JSON object, and the status
         * left unchecked, so the tick returns ok without its record. */
        (void)host->record_emit(call, "sync_page", "page-2", not_object,
                                sizeof(not_object) - 1);
        return C360_OK;
    }
    int32_t st = host->record_emit(call, "sync_page", "page-2", rec,
                                   sizeof(rec) - 1);
    SVC_REQUIRE(host, call, st == C360_OK, "record_emit: %s",
                c360_strstatus(st));
    return C360_OK;
}

/* Tells the customer how the connection is doing after this tick. */
static int32_t svc_report(const c360_host_api *host, c360_call *call,
                          int32_t outcome)
{
    if (outcome == C360_EAUTH) {
        /* The grant is dead: only the customer can fix it. */
        host->connection_status(call, C360_CONN_NEEDS_REAUTH,
                                "authorisation rejected; reconnect");
        return outcome;
    }
    if (outcome != C360_OK) {
        host->connection_status(call, C360_CONN_FAILING, "last sync failed");
        return outcome;
    }
    int32_t st = host->connection_status(call, C360_CONN_ACTIVE,
                                         "last sync ok");
    SVC_REQUIRE(host, call, st == C360_OK, "connection_status: %s",
                c360_strstatus(st));
    return C360_OK;
}

static int32_t svc_tick(c360_call *call, void *plugin_data,
                        void *instance_data)
{
    const c360_host_api *host = ((svc_plugin *)plugin_data)->host;
    svc_conn *c = instance_data;
    int32_t st = svc_use_state(host, call, c->mode);
    if (st == C360_OK)
        st = svc_use_secrets(host, call, c->mode);
    if (st == C360_OK)
        st = svc_fetch(host, call);
    if (st == C360_OK)
        st = svc_emit(host, call, c->mode);
    /* Ids only: the connection and the outcome. */
    host->audit(call, "sync.tick", host->instance_connection(c->inst),
                st == C360_OK ? "ok" : "error");
    st = svc_report(host, call, st);
    if (st == C360_OK)
        host->log(call, C360_LOG_INFO, "svc_user tick: every service kept "
                  "its contract");
    return st;
}

/* ------------------------------------------------------------------------ */
/* deliver, disconnect                                                       */
/* ------------------------------------------------------------------------ */

static int32_t svc_deliver(c360_call *call, void *plugin_data,
                           void *instance_data, const c360_record *rec)
{
    const c360_host_api *host = ((svc_plugin *)plugin_data)->host;
    (void)instance_data;
    c360_rl_limit lim = {sizeof(lim), 100, 60000, 10};
    uint32_t wait_ms = 0;
    int32_t st = host->ratelimit_take(call, C360_RL_TENANT, "deliveries", &lim,
                                      1, &wait_ms);
    if (st == C360_RETRY) {
        host->call_retry_after(call, wait_ms);
        return st;
    }
    SVC_REQUIRE(host, call, st == C360_OK, "ratelimit_take: %s",
                c360_strstatus(st));
    /* The record id is the idempotency key: deliveries are at least once. */
    const c360_header headers[] = {
        {"content-type", "application/json"},
        {"idempotency-key", rec->id},
    };
    c360_http_request req = {
        .struct_size = sizeof(req),
        .header_count = 2,
        .method = "POST",
        .url = SVC_RECORDS_URL,
        .headers = headers,
        .body = (const uint8_t *)rec->json,
        .body_len = rec->json_len,
    };
    c360_http_response *resp = NULL;
    st = host->http(call, &req, &resp);
    if (st != C360_OK)
        return st;
    int32_t status = resp->status;
    host->http_free(resp);
    /* The destination says how busy it is in its own way: pass it on. */
    host->ratelimit_report(call, C360_RL_TENANT, "deliveries",
                           status == 429 ? 100 : 10, 0);
    return svc_http_outcome(host, call, status);
}

static int32_t svc_disconnect(c360_call *call, void *plugin_data,
                              void *instance_data)
{
    const c360_host_api *host = ((svc_plugin *)plugin_data)->host;
    (void)instance_data;
    /* The host deletes everything afterwards anyway; a plugin that cleans
     * up itself is correct on hosts that keep data for a grace period. */
    int32_t st = host->state_delete(call, "cursor");
    if (st == C360_OK)
        st = host->state_delete(call, "ticks");
    if (st == C360_OK)
        st = host->secret_delete(call, "signing_key");
    return st;
}

static const c360_plugin_desc svc_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_DESTINATION),
    .name = "svc_user",
    .version = "1.0.0",
    .description = "uses every ABI 1.1 host service and the 1.2 pipeline "
                   "(c360-plugin-check test)",
    .config_schema = svc_schema,
    .init = svc_init,
    .fini = svc_fini,
    .validate_config = svc_validate_config,
    .instance_open = svc_instance_open,
    .instance_close = svc_instance_close,
    .tick = svc_tick,
    .deliver = svc_deliver,
    .disconnect = svc_disconnect,
};

C360_PLUGIN_ENTRY
{
    return &svc_desc;
}
