/* The meta connector's spec for its fuzz targets (fz_plugin.h): a valid
 * config, its secrets, canned webhook bodies and records. Generated
 * once from the integration tests' payloads; edit freely. */
#include "fz_plugin.h"

static const fz_spec spec = {
    .config = "{\"app_id\":\"1111\",\"page_ids\":[\"101\"],\"ig_user_ids\":[\"17841400000000303\"],\"insights\":{\"enabled\":true,\"ad_account_ids\":[\"act_4242\"]}}",
    .secrets = {"app_secret", "0123456789abcdef0123456789abcdef", "verify_token", "vt-0123456789", NULL},
    .events = {"{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"time\":1767225600,\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\":5551,\"page_id\":101,\"form_id\":\"77\",\"adgroup_id\":\"31\",\"ad_id\":\"31\",\"created_time\":1767225600}}]}]}", "{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"time\":1767225600,\"changes\":[{\"field\":\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"add\",\"comment_id\":\"101_9_1\",\"post_id\":\"101_9\",\"message\":\"hi\",\"from\":{\"id\":\"42\",\"name\":\"A\"},\"created_time\":1767225600}}]}]}", "{\"object\":\"instagram\",\"entry\":[{\"id\":\"17841400000000303\",\"time\":1767225600,\"changes\":[{\"field\":\"comments\",\"value\":{\"id\":\"1790\",\"text\":\"hi\",\"media\":{\"id\":\"1789\"},\"from\":{\"id\":\"42\",\"username\":\"a\"}}}]}]}", NULL},
    .event_headers = "x-hub-signature-256: sha256=00\ncontent-type: application/json\n",
    .records = {NULL},
};
