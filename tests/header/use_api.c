/* Compiled (syntax only) as C99 and C11 with -Wall -Wextra -pedantic -Werror
 * by the header_* tests: a plugin and a host fragment that use every macro
 * of connector_api.h, so the macros are checked as well as the declarations. */
#include "connector_api.h"

#include <string.h>

/* ABI facts that must never change, checked at compile time in a form C99
 * accepts (a negative array size is an error). */
#define HT_CHECK(name, cond) typedef char ht_check_##name[(cond) ? 1 : -1]
HT_CHECK(magic, C360_PLUGIN_MAGIC == 0x43333630u);
HT_CHECK(magic_off, offsetof(c360_plugin_desc, magic) == 0);
HT_CHECK(major_off, offsetof(c360_plugin_desc, abi_major) == 4);
HT_CHECK(minor_off, offsetof(c360_plugin_desc, abi_minor) == 6);
HT_CHECK(size_off, offsetof(c360_plugin_desc, struct_size) == 8);
HT_CHECK(caps_off, offsetof(c360_plugin_desc, capabilities) == 12);
HT_CHECK(host_size_off, offsetof(c360_host_api, struct_size) == 0);
HT_CHECK(host_major_off, offsetof(c360_host_api, abi_major) == 4);
HT_CHECK(host_minor_off, offsetof(c360_host_api, abi_minor) == 6);
HT_CHECK(abi_major, C360_ABI_MAJOR == 1);
HT_CHECK(abi_minor, C360_ABI_MINOR >= 8);
/* Appended members stay appended: 1.3's oauth_connect follows 1.2's
 * webhook_route, 1.4's deliver_batch follows it, and 1.7's event_prefetch
 * follows that and ends the descriptor. */
HT_CHECK(oauth_connect_after_route,
         offsetof(c360_plugin_desc, oauth_connect) ==
             offsetof(c360_plugin_desc, webhook_route) + sizeof(void (*)(void)));
HT_CHECK(deliver_batch_after_oauth,
         offsetof(c360_plugin_desc, deliver_batch) ==
             offsetof(c360_plugin_desc, oauth_connect) + sizeof(void (*)(void)));
HT_CHECK(event_prefetch_after_batch,
         offsetof(c360_plugin_desc, event_prefetch) ==
             offsetof(c360_plugin_desc, deliver_batch) + sizeof(void (*)(void)));
HT_CHECK(event_prefetch_ends,
         sizeof(c360_plugin_desc) ==
             offsetof(c360_plugin_desc, event_prefetch) + sizeof(void (*)(void)));
HT_CHECK(egone, C360_EGONE == 13);
/* ABI 1.5: a delivery put off unattempted. */
HT_CHECK(throttled, C360_THROTTLED == 14 && C360_STATUS__COUNT == 15);
HT_CHECK(oauth_connect_size_off, offsetof(c360_oauth_connect, struct_size) == 0);
/* ABI 1.6: state_set_on_commit follows 1.2's connection_status; 1.8's
 * prepared HMAC keys follow it, in order, and end the host table. */
HT_CHECK(on_commit_after_status,
         offsetof(c360_host_api, state_set_on_commit) ==
             offsetof(c360_host_api, connection_status) + sizeof(void (*)(void)));
HT_CHECK(key_new_after_on_commit,
         offsetof(c360_host_api, hmac_sha256_key_new) ==
             offsetof(c360_host_api, state_set_on_commit) + sizeof(void (*)(void)));
HT_CHECK(keyed_after_key_new,
         offsetof(c360_host_api, hmac_sha256_keyed) ==
             offsetof(c360_host_api, hmac_sha256_key_new) + sizeof(void (*)(void)));
HT_CHECK(key_free_after_keyed,
         offsetof(c360_host_api, hmac_sha256_key_free) ==
             offsetof(c360_host_api, hmac_sha256_keyed) + sizeof(void (*)(void)));
HT_CHECK(key_free_ends,
         sizeof(c360_host_api) ==
             offsetof(c360_host_api, hmac_sha256_key_free) + sizeof(void (*)(void)));

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(C360_PLUGIN_MAGIC == 0x43333630u, "magic is \"C360\"");
_Static_assert(offsetof(c360_plugin_desc, magic) == 0, "magic at 0");
_Static_assert(offsetof(c360_plugin_desc, abi_major) == 4, "abi_major at 4");
_Static_assert(offsetof(c360_plugin_desc, abi_minor) == 6, "abi_minor at 6");
_Static_assert(offsetof(c360_plugin_desc, struct_size) == 8, "struct_size at 8");
#endif

/* --- the plugin side -------------------------------------------------- */

typedef struct ht_inst {
    char tenant[64];
} ht_inst;

static const c360_host_api *ht_host;

static int32_t ht_init(c360_call *call, const c360_host_api *host,
                       void **plugin_data)
{
    ht_host = host;
    *plugin_data = NULL;
    if (C360_HOST_HAS(host, log))
        host->log(call, C360_LOG_INFO, "init: %s, abi %u.%u",
                  c360_strstatus(C360_OK), (unsigned)host->abi_major,
                  (unsigned)host->abi_minor);
    if (!C360_HOST_HAS(host, instance_connection)) {
        if (C360_HOST_HAS(host, call_error))
            host->call_error(call, "host too old: %s",
                             c360_strstatus(C360_EUNSUPPORTED));
        return C360_EUNSUPPORTED;
    }
    return C360_OK;
}

static void ht_fini(void *plugin_data)
{
    (void)plugin_data;
}

static int32_t ht_validate(c360_call *call, void *plugin_data,
                           const char *config_json, size_t config_len)
{
    (void)plugin_data;
    if (config_len == 0 || config_json[0] != '{') {
        ht_host->config_error(call, "", "must be a JSON object");
        return C360_EINVAL;
    }
    return C360_OK;
}

static int32_t ht_open(c360_call *call, void *plugin_data, c360_instance *inst,
                       const char *config_json, size_t config_len,
                       void **instance_data)
{
    static ht_inst one;
    (void)call;
    (void)plugin_data;
    (void)config_json;
    (void)config_len;
    strncpy(one.tenant, ht_host->instance_tenant(inst), sizeof one.tenant - 1);
    *instance_data = &one;
    return C360_OK;
}

static int32_t ht_tick(c360_call *call, void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    (void)instance_data;
    if (ht_host->call_time_left_ms(call) < 10) {
        ht_host->call_retry_after(call, 1000);
        return C360_RETRY;
    }
    return C360_OK;
}

static int32_t ht_verify(c360_call *call, void *plugin_data,
                         void *instance_data, const c360_webhook *req,
                         c360_webhook_reply *reply)
{
    static const char ok[] = "ok";
    (void)call;
    (void)plugin_data;
    (void)instance_data;
    if (req->header_count == 0)
        return C360_VERDICT_REJECT;
    reply->status = 200;
    memcpy(reply->body_buf, ok, sizeof ok - 1);
    reply->body_len = sizeof ok - 1;
    return C360_VERDICT_REPLIED;
}

static int32_t ht_event(c360_call *call, void *plugin_data,
                        void *instance_data, const c360_event *ev)
{
    (void)plugin_data;
    (void)instance_data;
    ht_host->log(call, C360_LOG_DEBUG, "event %s attempt %u", ev->event_id,
                 (unsigned)ev->attempt);
    return C360_OK;
}

static int32_t ht_deliver(c360_call *call, void *plugin_data,
                          void *instance_data, const c360_record *rec)
{
    (void)call;
    (void)plugin_data;
    (void)instance_data;
    return rec->json_len > 0 ? C360_OK : C360_EINVAL;
}

/* ABI 1.7: a look ahead at events about to run (advisory: nothing kept
 * here). */
static int32_t ht_event_prefetch(c360_call *call, void *plugin_data,
                                 void *instance_data,
                                 const c360_event *const *evs, size_t n)
{
    size_t i, bytes = 0;
    (void)call;
    (void)plugin_data;
    (void)instance_data;
    for (i = 0; i < n; i++)
        bytes += evs[i]->body_len;
    return bytes > 0 ? C360_OK : C360_EINVAL;
}

/* ABI 1.4: several records at once, each with its own status; a 410 is
 * C360_EGONE (the host stops the route). */
static int32_t ht_deliver_batch(c360_call *call, void *plugin_data,
                                void *instance_data,
                                const c360_record *const *recs, size_t n,
                                int32_t *statuses)
{
    size_t i;
    (void)plugin_data;
    (void)instance_data;
    for (i = 0; i < n; i++)
        statuses[i] = recs[i]->json_len == 0 ? C360_EINVAL
                      : recs[i]->attempt > 3 ? C360_EGONE
                                             : C360_OK;
    if (n > 1 && statuses[0] != C360_OK)
        ht_host->call_retry_after(call, 1000);
    return C360_OK;
}

/* ABI 1.3: OAuth connect, with the client secret handed back to the host
 * (host_secret) rather than freed before the host has copied it. */
static int32_t ht_oauth_connect(c360_call *call, void *plugin_data,
                                void *instance_data, c360_oauth_connect *out)
{
    uint8_t *secret = NULL;
    size_t len = 0;
    (void)plugin_data;
    (void)instance_data;
    if (out->struct_size < offsetof(c360_oauth_connect, host_secret) +
                               sizeof out->host_secret)
        return C360_EUNSUPPORTED;
    if (!C360_HOST_HAS(ht_host, secret_get) ||
        ht_host->secret_get(call, "client_secret", &secret, &len) != C360_OK)
        return C360_EINVAL;
    out->pkce = 1;
    out->authorize_url = "https://provider.example/oauth/authorize";
    out->client_id = "client";
    out->scope = "leads";
    out->extra_params = "access_type=offline&prompt=consent";
    out->token_url = "https://provider.example/oauth/token";
    out->client_secret = (const char *)secret;
    out->auth = C360_OAUTH_AUTH_BODY;
    out->host_secret = secret;
    return C360_OK;
}

static const c360_plugin_desc ht_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK |
                     C360_CAP_DESTINATION),
    .name = "header_test",
    .version = "0.0.1",
    .description = "compile-only test of connector_api.h",
    .config_schema = "{\"type\":\"object\"}",
    .init = ht_init,
    .fini = ht_fini,
    .validate_config = ht_validate,
    .instance_open = ht_open,
    .tick = ht_tick,
    .webhook_verify = ht_verify,
    .event = ht_event,
    .deliver = ht_deliver,
    .oauth_connect = ht_oauth_connect,
    .deliver_batch = ht_deliver_batch,
    .event_prefetch = ht_event_prefetch,
};

C360_PLUGIN_ENTRY
{
    return &ht_desc;
}

/* --- the host side ------------------------------------------------------ */

int ht_host_accepts(c360_entry_fn entry);
int ht_host_accepts(c360_entry_fn entry)
{
    const c360_plugin_desc *d = entry();
    if (d == NULL || d->magic != C360_PLUGIN_MAGIC)
        return 0;
    if (d->abi_major != C360_ABI_MAJOR || d->abi_minor > C360_ABI_MINOR)
        return 0;
    if (!C360_DESC_HAS(d, disconnect) && !C360_DESC_HAS(d, init))
        return 0;
    /* 1.3: a member read only when the plugin's struct_size covers it. */
    if (C360_DESC_HAS(d, oauth_connect) && d->oauth_connect == NULL)
        return 0;
    /* 1.4: likewise; optional, and only for destinations. */
    if (C360_DESC_HAS(d, deliver_batch) && d->deliver_batch != NULL &&
        !(d->capabilities & C360_CAP_DESTINATION))
        return 0;
    /* 1.7: likewise; optional, and only for webhook sources. */
    if (C360_DESC_HAS(d, event_prefetch) && d->event_prefetch != NULL &&
        !(d->capabilities & C360_CAP_SOURCE_WEBHOOK))
        return 0;
    if ((d->capabilities & ~C360_CAP__KNOWN_V1_0) != 0)
        return 0;
    return strcmp(c360_strstatus(C360_STATUS__COUNT),
                  c360_strstatus(-1)) == 0 &&
           strcmp(c360_strstatus(C360_EGONE), "gone") == 0 &&
           strcmp(c360_strstatus(C360_THROTTLED), "throttled") == 0;
}

int ht_host_self_check(void);
int ht_host_self_check(void)
{
    c360_entry_fn fn = c360_plugin_entry;
    return ht_host_accepts(fn) && strcmp(C360_ENTRY_SYMBOL, "c360_plugin_entry") == 0;
}
