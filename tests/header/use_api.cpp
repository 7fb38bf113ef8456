// Compiled (syntax only) as C++11 and C++17 with -Wall -Wextra -pedantic
// -Werror by the header_* tests. C++ before C++20 has no designated
// initialisers, so a C++ plugin lists every descriptor member in order.
#include "connector_api.h"

#include <cstring>

static_assert(C360_PLUGIN_MAGIC == 0x43333630u, "magic is \"C360\"");
static_assert(offsetof(c360_plugin_desc, magic) == 0, "magic at 0");
static_assert(offsetof(c360_plugin_desc, abi_major) == 4, "abi_major at 4");
static_assert(offsetof(c360_plugin_desc, abi_minor) == 6, "abi_minor at 6");
static_assert(offsetof(c360_plugin_desc, struct_size) == 8, "struct_size at 8");
static_assert(offsetof(c360_host_api, abi_minor) == 6, "host abi_minor at 6");
static_assert(C360_EGONE == 13, "C360_EGONE is 13 (ABI 1.4)");
static_assert(C360_THROTTLED == 14 && C360_STATUS__COUNT == 15,
              "C360_THROTTLED is 14 (ABI 1.5)");
static_assert(offsetof(c360_plugin_desc, event_prefetch) ==
                  offsetof(c360_plugin_desc, deliver_batch) + sizeof(void (*)()),
              "1.7's event_prefetch follows 1.4's deliver_batch");
static_assert(sizeof(c360_plugin_desc) ==
                  offsetof(c360_plugin_desc, event_prefetch) + sizeof(void (*)()),
              "event_prefetch ends the 1.7 descriptor");

namespace {

const c360_host_api *g_host = nullptr;

int32_t init_cb(c360_call *call, const c360_host_api *host, void **plugin_data)
{
    g_host = host;
    *plugin_data = nullptr;
    if (C360_HOST_HAS(host, log))
        host->log(call, C360_LOG_INFO, "init: %s", c360_strstatus(C360_OK));
    if (!C360_HOST_HAS(host, instance_tenant))
        return C360_EUNSUPPORTED;
    return C360_OK;
}

int32_t validate_cb(c360_call *call, void *, const char *json, size_t len)
{
    if (len == 0 || json[0] != '{') {
        g_host->config_error(call, "", "must be a JSON object");
        return C360_EINVAL;
    }
    return C360_OK;
}

int32_t open_cb(c360_call *, void *, c360_instance *, const char *, size_t,
                void **instance_data)
{
    *instance_data = nullptr;
    return C360_OK;
}

int32_t deliver_cb(c360_call *call, void *, void *, const c360_record *rec)
{
    if (std::strlen(rec->id) == 0) {
        g_host->call_error(call, "record without id: %s",
                           c360_strstatus(C360_EINVAL));
        return C360_EINVAL;
    }
    return C360_OK;
}

// ABI 1.3: OAuth connect of a public client (PKCE, no secret).
int32_t oauth_connect_cb(c360_call *, void *, void *, c360_oauth_connect *out)
{
    out->authorize_url = "https://provider.example/oauth/authorize";
    out->client_id = "client";
    out->token_url = "https://provider.example/oauth/token";
    out->auth = C360_OAUTH_AUTH_BASIC;
    out->pkce = 1u;
    return C360_OK;
}

// ABI 1.4: a batch with a status per record.
int32_t deliver_batch_cb(c360_call *, void *, void *,
                         const c360_record *const *recs, std::size_t n,
                         int32_t *statuses)
{
    for (std::size_t i = 0; i < n; i++)
        statuses[i] = recs[i]->json_len > 0 ? C360_OK : C360_EGONE;
    return C360_OK;
}

const c360_plugin_desc desc = {
    C360_DESC_HEADER(C360_CAP_DESTINATION),
    "header_test_cxx",             // name
    "0.0.1",                       // version
    "compile-only C++ test",       // description
    "{\"type\":\"object\"}",       // config_schema
    init_cb,                       // init
    nullptr,                       // fini
    validate_cb,                   // validate_config
    open_cb,                       // instance_open
    nullptr,                       // instance_close
    nullptr,                       // tick
    nullptr,                       // webhook_verify
    nullptr,                       // event
    deliver_cb,                    // deliver
    nullptr,                       // disconnect
    nullptr,                       // webhook_route (ABI 1.2)
    oauth_connect_cb,              // oauth_connect (ABI 1.3)
    deliver_batch_cb,              // deliver_batch (ABI 1.4)
    nullptr,                       // event_prefetch (ABI 1.7)
};

} // namespace

C360_PLUGIN_ENTRY
{
    return &desc;
}

bool host_accepts(c360_entry_fn entry);
bool host_accepts(c360_entry_fn entry)
{
    const c360_plugin_desc *d = entry();
    return d != nullptr && d->magic == C360_PLUGIN_MAGIC &&
           d->abi_major == C360_ABI_MAJOR && C360_DESC_HAS(d, deliver) &&
           (d->capabilities & ~C360_CAP__KNOWN_V1_0) == 0;
}

bool self_check();
bool self_check()
{
    return host_accepts(c360_plugin_entry);
}
