/* oauth_tp.c -- "oauth_tp", the test plugin of OAuth connect (ABI 1.3
 * oauth_connect; tests/unit/test_api_oauth.c, tools/plugin_check).
 *
 * A polling source whose provider is whatever the connection's config
 * names (the tests point it at tests/fakes/fake_oauth):
 *
 *   {"authorize_url": "...", "token_url": "...", "client_id": "...",
 *    "scope"?: "...", "extra"?: "a=b&c=d", "pkce"?: bool, "basic"?: bool,
 *    "token_name"?: "...", "mode"?: "ok" | "public" | "decline" | "fail" |
 *    "bad_answer"}
 *
 * oauth_connect answers from the instance's copy of the config (strings
 * that live as long as the instance: the ABI's ownership rule), with the
 * client secret read from the connection's secret "client_secret" and
 * handed back to the host in host_secret (the host frees it). Modes:
 *   ok          as above (default); no secret stored -> C360_EINVAL
 *   public      a public client: no secret, nothing to hand back
 *   decline     C360_EUNSUPPORTED (this connection does not use OAuth)
 *   fail        C360_ERROR with a reason
 *   bad_answer  an ftp:// authorize_url, which the host must refuse
 * tick fetches the access token with host->oauth_token (the same token
 * endpoint and token name), so a connected connection's ticks succeed.
 *
 * Built twice: oauth_tp.so (ABI 1.3) and, with OTP_V12, oauth_tp12.so,
 * whose descriptor is a 1.2 one (struct_size ends before oauth_connect)
 * although the member is set past it: a host must not read it. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#ifdef OTP_V12
#define C360_PLUGIN_REQUIRES_MINOR 2
#endif
#include "connector_api.h"

static const c360_host_api *H;

typedef struct otp_inst {
    char *authorize_url, *token_url, *client_id, *scope, *extra, *token_name, *mode;
    int pkce, basic;
} otp_inst;

static const char otp_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"authorize_url\",\"token_url\",\"client_id\"],"
    "\"properties\":{\"authorize_url\":{\"type\":\"string\"},"
    "\"token_url\":{\"type\":\"string\"},\"client_id\":{\"type\":\"string\"},"
    "\"scope\":{\"type\":\"string\"},\"extra\":{\"type\":\"string\"},"
    "\"pkce\":{\"type\":\"boolean\"},\"basic\":{\"type\":\"boolean\"},"
    "\"token_name\":{\"type\":\"string\"},"
    "\"mode\":{\"type\":\"string\",\"enum\":[\"ok\",\"public\",\"decline\",\"fail\","
    "\"bad_answer\"]}}}";

static int32_t otp_init(c360_call *call, const c360_host_api *host, void **pd)
{
    (void)call;
    H = host;
    *pd = NULL;
    return C360_OK;
}

static int32_t otp_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    (void)pd;
    json_t *j = json_loadb(json, len, 0, NULL);
    int32_t st = C360_OK;
    static const char *const need[] = {"authorize_url", "token_url", "client_id"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!json_is_string(json_object_get(j, need[i]))) {
            char ptr[40] = "/";
            strncat(ptr, need[i], sizeof ptr - 2);
            H->config_error(call, ptr, "required string");
            st = C360_EINVAL;
        }
    }
    json_decref(j);
    return st;
}

static char *take(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? strdup(s) : NULL;
}

static void otp_close(void *pd, void *id)
{
    (void)pd;
    otp_inst *i = id;
    if (!i) return;
    free(i->authorize_url);
    free(i->token_url);
    free(i->client_id);
    free(i->scope);
    free(i->extra);
    free(i->token_name);
    free(i->mode);
    free(i);
}

static int32_t otp_open(c360_call *call, void *pd, c360_instance *inst, const char *json,
                        size_t len, void **id)
{
    (void)pd;
    (void)inst;
    json_t *j = json_loadb(json, len, 0, NULL);
    if (!j) {
        H->call_error(call, "config is not JSON");
        return C360_EINVAL;
    }
    otp_inst *i = calloc(1, sizeof *i);
    if (!i) {
        json_decref(j);
        return C360_ENOMEM;
    }
    i->authorize_url = take(j, "authorize_url");
    i->token_url = take(j, "token_url");
    i->client_id = take(j, "client_id");
    i->scope = take(j, "scope");
    i->extra = take(j, "extra");
    i->token_name = take(j, "token_name");
    i->mode = take(j, "mode");
    i->pkce = json_is_true(json_object_get(j, "pkce"));
    i->basic = json_is_true(json_object_get(j, "basic"));
    json_decref(j);
    *id = i;
    return C360_OK;
}

static int mode_is(const otp_inst *i, const char *m) { return i->mode && strcmp(i->mode, m) == 0; }

static int32_t otp_oauth_connect(c360_call *call, void *pd, void *id, c360_oauth_connect *out)
{
    (void)pd;
    otp_inst *i = id;
    if (out->struct_size < offsetof(c360_oauth_connect, host_secret) + sizeof out->host_secret) {
        H->call_error(call, "host too old for this plugin's OAuth connect");
        return C360_EUNSUPPORTED;
    }
    if (mode_is(i, "decline")) {
        H->call_error(call, "this connection authenticates with an API key");
        return C360_EUNSUPPORTED;
    }
    if (mode_is(i, "fail")) {
        H->call_error(call, "the provider app is misconfigured");
        return C360_ERROR;
    }
    out->authorize_url = mode_is(i, "bad_answer") ? "ftp://provider.invalid/authorize"
                                                  : i->authorize_url;
    out->client_id = i->client_id;
    out->scope = i->scope;
    out->extra_params = i->extra;
    out->pkce = i->pkce ? 1u : 0u;
    out->token_url = i->token_url;
    out->auth = i->basic ? C360_OAUTH_AUTH_BASIC : C360_OAUTH_AUTH_BODY;
    out->token_name = i->token_name;
    if (mode_is(i, "public")) return C360_OK;
    uint8_t *secret = NULL;
    size_t len = 0;
    int32_t st = H->secret_get(call, "client_secret", &secret, &len);
    if (st == C360_ENOTFOUND) {
        H->call_error(call, "store the secret client_secret first");
        return C360_EINVAL;
    }
    if (st != C360_OK) return st;
    /* Cannot be freed before the host has copied it: handed back. */
    out->client_secret = (const char *)secret;
    out->host_secret = secret;
    return C360_OK;
}

static int32_t otp_tick(c360_call *call, void *pd, void *id)
{
    (void)pd;
    otp_inst *i = id;
    uint8_t *secret = NULL;
    size_t len = 0;
    if (!mode_is(i, "public") && H->secret_get(call, "client_secret", &secret, &len) != C360_OK)
        secret = NULL;
    c360_oauth_params p = {.struct_size = sizeof p, .grant = C360_GRANT_AUTHORIZATION_CODE,
                           .auth = i->basic ? C360_OAUTH_AUTH_BASIC : C360_OAUTH_AUTH_BODY,
                           .token_url = i->token_url, .client_id = i->client_id,
                           .client_secret = (const char *)secret, .token_name = i->token_name};
    char *token = NULL;
    int64_t exp = 0;
    int32_t st = H->oauth_token(call, &p, &token, &exp);
    if (secret) H->secret_free(secret);
    if (token) H->secret_free(token);
    if (st == C360_ENOTFOUND) return C360_OK; /* not connected yet: nothing to poll */
    if (st != C360_OK) H->call_error(call, "no access token (%s)", c360_strstatus(st));
    return st;
}

static const c360_plugin_desc otp_desc = {
#ifdef OTP_V12
    /* A descriptor as a 1.2 plugin has it: it ends after webhook_route. */
    C360_PLUGIN_MAGIC, C360_ABI_MAJOR, 2,
    (uint32_t)(offsetof(c360_plugin_desc, webhook_route) + sizeof(void (*)(void))),
    C360_CAP_SOURCE_TICK,
    .name = "oauth_tp12",
#else
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK),
    .name = "oauth_tp",
#endif
    .version = "1.0.0",
    .description = "OAuth connect test plugin",
    .config_schema = otp_schema,
    .init = otp_init,
    .validate_config = otp_validate,
    .instance_open = otp_open,
    .instance_close = otp_close,
    .tick = otp_tick,
    /* In the V12 build this lies past struct_size: never to be read. */
    .oauth_connect = otp_oauth_connect,
};

C360_PLUGIN_ENTRY { return &otp_desc; }
