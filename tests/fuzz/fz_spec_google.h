/* The google connector's spec for its fuzz targets (fz_plugin.h): a valid
 * config, its secrets, canned webhook bodies and records. Generated
 * once from the integration tests' payloads; edit freely. */
#include "fz_plugin.h"

static const fz_spec spec = {
    .config = "{\"client_id\":\"gclient\",\"topic_name\":\"projects/myproject/topics/gmail\"}",
    .secrets = {"client_secret", "g-secret-0123", "push_token", "push-token-0123456789", NULL},
    .events = {"{\"message\":{\"data\":\"eyJlbWFpbEFkZHJlc3MiOiJ1c2VyQGV4YW1wbGUuY29tIiwiaGlzdG9yeUlkIjo5ODc2NTQzMjEwfQ==\",\"messageId\":\"m1\",\"publishTime\":\"2026-01-01T00:00:00Z\"},\"subscription\":\"projects/myproject/subscriptions/gmail\"}", NULL},
    .event_headers = "content-type: application/json\n",
    .records = {NULL},
};
