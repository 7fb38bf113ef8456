/* header_abi_layout: prints and checks the ABI facts of connector_api.h that
 * must never change (see docs/plugin-abi.md). Exit 0 when all hold. */
#include "connector_api.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void check_eq(const char *what, unsigned long long got,
                     unsigned long long want)
{
    printf("%-40s %llu (want %llu)%s\n", what, got, want,
           got == want ? "" : "  <-- WRONG");
    if (got != want)
        failures++;
}

int main(void)
{
    static const c360_plugin_desc desc = { C360_DESC_HEADER(0),
                                           .name = "abi_layout" };

    check_eq("C360_PLUGIN_MAGIC", C360_PLUGIN_MAGIC, 0x43333630u);
    check_eq("offsetof(c360_plugin_desc, magic)",
             offsetof(c360_plugin_desc, magic), 0);
    check_eq("offsetof(c360_plugin_desc, abi_major)",
             offsetof(c360_plugin_desc, abi_major), 4);
    check_eq("offsetof(c360_plugin_desc, abi_minor)",
             offsetof(c360_plugin_desc, abi_minor), 6);
    check_eq("offsetof(c360_plugin_desc, struct_size)",
             offsetof(c360_plugin_desc, struct_size), 8);
    check_eq("offsetof(c360_plugin_desc, capabilities)",
             offsetof(c360_plugin_desc, capabilities), 12);
    check_eq("sizeof desc.magic", sizeof desc.magic, 4);
    check_eq("sizeof desc.abi_major", sizeof desc.abi_major, 2);
    check_eq("sizeof desc.abi_minor", sizeof desc.abi_minor, 2);
    check_eq("sizeof desc.struct_size", sizeof desc.struct_size, 4);
    check_eq("offsetof(c360_host_api, struct_size)",
             offsetof(c360_host_api, struct_size), 0);
    check_eq("offsetof(c360_host_api, abi_major)",
             offsetof(c360_host_api, abi_major), 4);
    check_eq("offsetof(c360_host_api, abi_minor)",
             offsetof(c360_host_api, abi_minor), 6);

    /* Members appended by a minor follow the older ones: a descriptor of
     * an older minor is a prefix of the current one, and C360_DESC_HAS
     * tells the host which members it covers. */
    check_eq("C360_ABI_MINOR >= 8", C360_ABI_MINOR >= 8, 1);
    check_eq("offsetof(c360_host_api, state_set_on_commit) after connection_status",
             offsetof(c360_host_api, state_set_on_commit),
             offsetof(c360_host_api, connection_status) + sizeof(void (*)(void)));
    check_eq("offsetof(c360_host_api, hmac_sha256_key_new) after state_set_on_commit",
             offsetof(c360_host_api, hmac_sha256_key_new),
             offsetof(c360_host_api, state_set_on_commit) + sizeof(void (*)(void)));
    check_eq("offsetof(c360_host_api, hmac_sha256_keyed) after hmac_sha256_key_new",
             offsetof(c360_host_api, hmac_sha256_keyed),
             offsetof(c360_host_api, hmac_sha256_key_new) + sizeof(void (*)(void)));
    check_eq("hmac_sha256_key_free ends the 1.8 host table",
             sizeof(c360_host_api),
             offsetof(c360_host_api, hmac_sha256_key_free) + sizeof(void (*)(void)));
    check_eq("offsetof(oauth_connect) after webhook_route",
             offsetof(c360_plugin_desc, oauth_connect),
             offsetof(c360_plugin_desc, webhook_route) + sizeof desc.webhook_route);
    check_eq("offsetof(deliver_batch) after oauth_connect",
             offsetof(c360_plugin_desc, deliver_batch),
             offsetof(c360_plugin_desc, oauth_connect) + sizeof desc.oauth_connect);
    check_eq("offsetof(event_prefetch) after deliver_batch",
             offsetof(c360_plugin_desc, event_prefetch),
             offsetof(c360_plugin_desc, deliver_batch) + sizeof desc.deliver_batch);
    check_eq("event_prefetch ends the 1.7 descriptor",
             sizeof(c360_plugin_desc),
             offsetof(c360_plugin_desc, event_prefetch) + sizeof desc.event_prefetch);
    {
        /* A 1.2 plugin's descriptor ends after webhook_route. */
        c360_plugin_desc d12 = desc;
        d12.struct_size = (uint32_t)(offsetof(c360_plugin_desc, webhook_route) +
                                     sizeof d12.webhook_route);
        check_eq("C360_DESC_HAS(1.2 desc, webhook_route)",
                 C360_DESC_HAS(&d12, webhook_route), 1);
        check_eq("C360_DESC_HAS(1.2 desc, oauth_connect)",
                 C360_DESC_HAS(&d12, oauth_connect), 0);
        /* A 1.3 plugin's descriptor ends after oauth_connect. */
        c360_plugin_desc d13 = desc;
        d13.struct_size = (uint32_t)(offsetof(c360_plugin_desc, oauth_connect) +
                                     sizeof d13.oauth_connect);
        check_eq("C360_DESC_HAS(1.3 desc, oauth_connect)",
                 C360_DESC_HAS(&d13, oauth_connect), 1);
        check_eq("C360_DESC_HAS(1.3 desc, deliver_batch)",
                 C360_DESC_HAS(&d13, deliver_batch), 0);
        /* A 1.4 plugin's descriptor ends after deliver_batch. */
        c360_plugin_desc d14 = desc;
        d14.struct_size = (uint32_t)(offsetof(c360_plugin_desc, deliver_batch) +
                                     sizeof d14.deliver_batch);
        check_eq("C360_DESC_HAS(1.4 desc, deliver_batch)",
                 C360_DESC_HAS(&d14, deliver_batch), 1);
        check_eq("C360_DESC_HAS(1.4 desc, event_prefetch)",
                 C360_DESC_HAS(&d14, event_prefetch), 0);
        check_eq("C360_DESC_HAS(1.7 desc, event_prefetch)",
                 C360_DESC_HAS(&desc, event_prefetch), 1);
    }
    check_eq("offsetof(c360_oauth_connect, struct_size)",
             offsetof(c360_oauth_connect, struct_size), 0);
    check_eq("offsetof(c360_oauth_connect, pkce)",
             offsetof(c360_oauth_connect, pkce), 4);
    check_eq("offsetof(c360_oauth_connect, authorize_url)",
             offsetof(c360_oauth_connect, authorize_url), 8);
    check_eq("offsetof(c360_oauth_connect, auth)",
             offsetof(c360_oauth_connect, auth),
             offsetof(c360_oauth_connect, authorize_url) + 6 * sizeof(void *));
    check_eq("offsetof(c360_oauth_connect, token_name)",
             offsetof(c360_oauth_connect, token_name),
             offsetof(c360_oauth_connect, auth) + 8);
    check_eq("host_secret ends c360_oauth_connect",
             sizeof(c360_oauth_connect),
             offsetof(c360_oauth_connect, host_secret) + sizeof(void *));

    /* The descriptor header written by C360_DESC_HEADER. */
    check_eq("C360_DESC_HEADER magic", desc.magic, C360_PLUGIN_MAGIC);
    check_eq("C360_DESC_HEADER abi_major", desc.abi_major, C360_ABI_MAJOR);
    check_eq("C360_DESC_HEADER abi_minor", desc.abi_minor, C360_ABI_MINOR);
    check_eq("C360_DESC_HEADER struct_size", desc.struct_size,
             sizeof(c360_plugin_desc));

    /* Status codes, log levels, verdicts and capability bits are
     * append-only: never renumbered. */
    check_eq("C360_OK", C360_OK, 0);
    check_eq("C360_RETRY", C360_RETRY, 1);
    check_eq("C360_ERROR", C360_ERROR, 2);
    check_eq("C360_EINVAL", C360_EINVAL, 3);
    check_eq("C360_ENOMEM", C360_ENOMEM, 4);
    check_eq("C360_ENOTFOUND", C360_ENOTFOUND, 5);
    check_eq("C360_EUNSUPPORTED", C360_EUNSUPPORTED, 6);
    check_eq("C360_ETOOBIG", C360_ETOOBIG, 7);
    check_eq("C360_ECONFLICT", C360_ECONFLICT, 8);
    check_eq("C360_EAUTH", C360_EAUTH, 9);
    check_eq("C360_ETIMEOUT", C360_ETIMEOUT, 10);
    check_eq("C360_EIO", C360_EIO, 11);
    check_eq("C360_EDENIED", C360_EDENIED, 12);
    check_eq("C360_EGONE", C360_EGONE, 13);
    check_eq("C360_THROTTLED", C360_THROTTLED, 14);
    check_eq("C360_STATUS__COUNT", C360_STATUS__COUNT, 15);
    check_eq("strcmp(c360_strstatus(C360_THROTTLED), \"throttled\")",
             (unsigned long long)(strcmp(c360_strstatus(C360_THROTTLED), "throttled") != 0), 0);
    check_eq("strcmp(c360_strstatus(C360_EGONE), \"gone\")",
             (unsigned long long)(strcmp(c360_strstatus(C360_EGONE), "gone") != 0), 0);
    check_eq("C360_LOG_DEBUG", C360_LOG_DEBUG, 0);
    check_eq("C360_LOG_ERROR", C360_LOG_ERROR, 3);
    check_eq("C360_VERDICT_ACCEPT", C360_VERDICT_ACCEPT, 0);
    check_eq("C360_VERDICT_REPLIED", C360_VERDICT_REPLIED, 1);
    check_eq("C360_VERDICT_REJECT", C360_VERDICT_REJECT, 2);
    check_eq("C360_CAP_SOURCE_TICK", C360_CAP_SOURCE_TICK, 1);
    check_eq("C360_CAP_SOURCE_WEBHOOK", C360_CAP_SOURCE_WEBHOOK, 2);
    check_eq("C360_CAP_DESTINATION", C360_CAP_DESTINATION, 4);
    check_eq("strcmp(C360_ENTRY_SYMBOL, \"c360_plugin_entry\")",
             (unsigned long long)(strcmp(C360_ENTRY_SYMBOL,
                                         "c360_plugin_entry") != 0), 0);

    /* c360_strstatus: never NULL, distinct text for each known code. */
    for (int32_t s = -1; s <= C360_STATUS__COUNT; s++) {
        if (c360_strstatus(s) == NULL) {
            printf("c360_strstatus(%d) is NULL  <-- WRONG\n", (int)s);
            failures++;
        }
    }
    for (int32_t a = 0; a < C360_STATUS__COUNT; a++)
        for (int32_t b = a + 1; b <= C360_STATUS__COUNT; b++)
            if (strcmp(c360_strstatus(a), c360_strstatus(b)) == 0) {
                printf("c360_strstatus(%d) == c360_strstatus(%d)  <-- WRONG\n",
                       (int)a, (int)b);
                failures++;
            }

    if (failures)
        printf("abi layout: %d check(s) FAILED\n", failures);
    else
        printf("abi layout: all checks hold\n");
    return failures ? 1 : 0;
}
