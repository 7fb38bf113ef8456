/* The linkedin connector's spec for its fuzz targets (fz_plugin.h): a valid
 * config, its secrets, canned webhook bodies and records. Generated
 * once from the integration tests' payloads; edit freely. */
#include "fz_plugin.h"

static const fz_spec spec = {
    .config = "{\"client_id\":\"77abc\",\"sponsored_account_ids\":[\"123\"],\"organization_ids\":[\"456\"]}",
    .secrets = {"client_secret", "li-secret-0123456789", NULL},
    .events = {"{\"type\":\"LEAD_ACTION\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:abc-1\",\"leadGenForm\":\"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:9,1)\",\"owner\":{\"sponsoredAccount\":\"urn:li:sponsoredAccount:123\"},\"associatedEntity\":{\"sponsoredCreative\":\"urn:li:sponsoredCreative:4242\"},\"leadType\":\"SPONSORED\",\"leadAction\":\"CREATED\",\"occurredAt\":1767225600000}", "{\"type\":\"LEAD_ACTION\",\"leadGenFormResponse\":\"urn:li:leadGenFormResponse:abc-2\",\"leadGenForm\":\"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:9,1)\",\"owner\":{\"organization\":\"urn:li:organization:456\"},\"leadType\":\"ORGANIZATION_PRODUCT\",\"leadAction\":\"DELETED\",\"occurredAt\":1767225600000}", NULL},
    .event_headers = "x-li-signature: 00\ncontent-type: application/json\n",
    .records = {NULL},
};
