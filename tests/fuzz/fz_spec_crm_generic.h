/* The crm_generic connector's spec for its fuzz targets (fz_plugin.h): a valid
 * config, its secrets, canned webhook bodies and records. Generated
 * once from the integration tests' payloads; edit freely. */
#include "fz_plugin.h"

static const fz_spec spec = {
    .config = "{\"url\":\"http://127.0.0.1:9/leads\",\"auth\":{\"type\":\"standard_webhooks\"},\"timeout_ms\":5000,\"batch\":{\"max_records\":4}}",
    .secrets = {"signing_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL},
    .events = {NULL},
    .event_headers = NULL,
    .records = {"lead\nmeta:lead:1\n{\"type\":\"lead\",\"email\":\"a@example.com\",\"fields\":{\"name\":\"A\"}}", "lead\nmeta:lead:2\n{\"type\":\"lead\",\"email\":\"b@example.com\"}", "comment\nmeta:comment:3\n{\"type\":\"comment\",\"text\":\"hi\"}", NULL},
};
