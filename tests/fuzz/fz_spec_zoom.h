/* The zoom connector's spec for its fuzz targets (fz_plugin.h): a valid
 * config, its secrets, canned webhook bodies and records. Generated
 * once from the integration tests' payloads; edit freely. */
#include "fz_plugin.h"

static const fz_spec spec = {
    .config = "{\"account_id\":\"accA\",\"client_id\":\"cidA\",\"meeting_ids\":[\"8101\"]}",
    .secrets = {"client_secret", "zoom-secret-0123", "webhook_secret_token", "zoom-whs-0123456789", NULL},
    .events = {"{\"event\":\"meeting.registration_created\",\"event_ts\":1767225600000,\"payload\":{\"account_id\":\"accA\",\"object\":{\"uuid\":\"uu1==\",\"id\":8101,\"topic\":\"Demo\",\"start_time\":\"2030-01-01T10:00:00Z\",\"registrant\":{\"id\":\"RA1\",\"first_name\":\"F\",\"last_name\":\"L\",\"email\":\"a@example.com\",\"status\":\"approved\"}}}}", "{\"event\":\"meeting.participant_joined\",\"event_ts\":1767225600000,\"payload\":{\"account_id\":\"accA\",\"object\":{\"uuid\":\"uu1==\",\"id\":8101,\"topic\":\"Demo\",\"participant\":{\"user_id\":\"u1\",\"user_name\":\"A\",\"email\":\"a@example.com\",\"join_time\":\"2026-01-01T00:00:00Z\"}}}}", "{\"event\":\"webinar.registration_created\",\"event_ts\":1767225600000,\"payload\":{\"account_id\":\"accA\",\"object\":{\"uuid\":\"uu2==\",\"id\":8101,\"topic\":\"Web\",\"registrant\":{\"id\":\"RB1\",\"email\":\"b@example.com\"}}}}", NULL},
    .event_headers = "x-zm-signature: v0=00\nx-zm-request-timestamp: 1767225600\ncontent-type: application/json\n",
    .records = {NULL},
};
