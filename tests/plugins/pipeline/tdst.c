/* tdst.c -- "tdst", the pipeline's test destination plugin.
 *
 * deliver POSTs the record's JSON to the connection's "url" (in the tests,
 * the sink server tests/fakes/fake_sink.c) through host->http, with
 *   idempotency-key: <record id>
 *   x-record-type:   <record type>
 *   x-source-plugin: <source plugin>
 *   x-attempt:       <attempt>
 * and maps the answer the way a real destination connector should:
 *   2xx               OK
 *   429, 5xx          RETRY, honouring Retry-After (seconds)
 *   other statuses    ERROR (the record is a dead letter)
 *   no answer         the host's status (C360_EIO / C360_ETIMEOUT: retried)
 * The URL is what a customer would type in, so the request is flagged
 * C360_HTTP_CUSTOMER_URL and the host's SSRF policy applies: tests that
 * deliver to 127.0.0.1 allow it with outbound_http.allow.
 * Config: {"url": "http://...", "timeout_ms": 10000}. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Needs ABI 1.1 (outbound HTTP) only: runs on any 1.1+ host. */
#define C360_PLUGIN_REQUIRES_MINOR 1

#include "connector_api.h"
#include "tp_util.h"

#define TDST_URL_MAX 2048

static const char tdst_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"tdst (test destination)\",\"type\":\"object\","
    "\"additionalProperties\":false,\"required\":[\"url\"],"
    "\"properties\":{"
    "\"url\":{\"type\":\"string\",\"minLength\":8,\"maxLength\":2048},"
    "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":600000,"
    "\"default\":10000}}}";

typedef struct tdst_plugin {
    const c360_host_api *host;
} tdst_plugin;

typedef struct tdst_conn {
    char *url;
    uint32_t timeout_ms;
} tdst_conn;

static int32_t tdst_parse(const c360_host_api *host, c360_call *call,
                          const char *json, size_t len, tdst_conn *out)
{
    json_error_t jerr;
    int errors = 0;
#define BAD(ptr, msg) tp_config_bad(host, call, &errors, (ptr), (msg))
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        BAD("", "must be a JSON object");
        return C360_EINVAL;
    }
    const char *url = NULL;
    uint32_t timeout_ms = 10000;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "url") == 0) {
            const char *u = json_string_value(v);
            if (u == NULL || json_string_length(v) > TDST_URL_MAX ||
                (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
                BAD("/url", "must be an http:// or https:// URL");
            else
                url = u;
        } else if (strcmp(key, "timeout_ms") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 100 ||
                json_integer_value(v) > 600000)
                BAD("/timeout_ms", "must be an integer from 100 to 600000");
            else
                timeout_ms = (uint32_t)json_integer_value(v);
        } else {
            tp_config_unknown(host, call, &errors, key);
        }
    }
    if (url == NULL && json_object_get(doc, "url") == NULL)
        BAD("/url", "is required");
#undef BAD
    if (errors == 0 && out != NULL) {
        out->url = tp_strdup(url);
        out->timeout_ms = timeout_ms;
        if (out->url == NULL) {
            json_decref(doc);
            return C360_ENOMEM;
        }
    }
    json_decref(doc);
    return errors ? C360_EINVAL : C360_OK;
}

static int32_t tdst_init(c360_call *call, const c360_host_api *host,
                         void **plugin_data)
{
    if (!C360_HOST_HAS(host, http)) {
        if (host != NULL && host->call_error != NULL)
            host->call_error(call, "tdst needs a host with outbound HTTP (ABI 1.1)");
        return C360_EUNSUPPORTED;
    }
    tdst_plugin *p = calloc(1, sizeof *p);
    if (p == NULL)
        return C360_ENOMEM;
    p->host = host;
    *plugin_data = p;
    return C360_OK;
}

static void tdst_fini(void *plugin_data)
{
    free(plugin_data);
}

static int32_t tdst_validate_config(c360_call *call, void *plugin_data,
                                    const char *json, size_t len)
{
    tdst_plugin *p = plugin_data;
    return tdst_parse(p->host, call, json, len, NULL);
}

static int32_t tdst_instance_open(c360_call *call, void *plugin_data,
                                  c360_instance *inst, const char *json,
                                  size_t len, void **instance_data)
{
    tdst_plugin *p = plugin_data;
    (void)inst;
    tdst_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return C360_ENOMEM;
    int32_t st = tdst_parse(p->host, NULL, json, len, c);
    if (st != C360_OK) {
        p->host->call_error(call, "config not valid");
        free(c);
        return st;
    }
    *instance_data = c;
    return C360_OK;
}

static void tdst_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    tdst_conn *c = instance_data;
    if (c == NULL)
        return;
    free(c->url);
    free(c);
}

/* Retry-After in seconds (the HTTP-date form is not used by the sink). */
static uint32_t tdst_retry_after_ms(const c360_http_response *r)
{
    const char *v = tp_header(r->headers, r->header_count, "retry-after");
    if (v == NULL)
        return 0;
    char *end;
    long s = strtol(v, &end, 10);
    if (end == v || s < 0 || s > 3600)
        return 0;
    return (uint32_t)s * 1000;
}

static int32_t tdst_deliver(c360_call *call, void *plugin_data, void *instance_data,
                            const c360_record *rec)
{
    tdst_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    tdst_conn *c = instance_data;
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%u", (unsigned)rec->attempt);
    const c360_header hdrs[] = {
        {"content-type", "application/json"},
        {"idempotency-key", rec->id},
        {"x-record-type", rec->type},
        {"x-source-plugin", rec->source_plugin ? rec->source_plugin : ""},
        {"x-attempt", attempt},
    };
    c360_http_request req = {
        .struct_size = sizeof req,
        .header_count = sizeof hdrs / sizeof hdrs[0],
        .method = "POST",
        .url = c->url,
        .headers = hdrs,
        .body = (const uint8_t *)rec->json,
        .body_len = rec->json_len,
        .timeout_ms = c->timeout_ms,
        .flags = C360_HTTP_CUSTOMER_URL,
    };
    c360_http_response *resp = NULL;
    int32_t st = host->http(call, &req, &resp);
    if (st != C360_OK)
        return st; /* the host set the reason; EIO/ETIMEOUT are retried */
    int32_t code = resp->status;
    uint32_t after = tdst_retry_after_ms(resp);
    host->http_free(resp);
    if (code >= 200 && code < 300)
        return C360_OK;
    host->call_error(call, "destination answered %d", (int)code);
    if (code == 429 || code >= 500) {
        host->call_retry_after(call, after);
        return C360_RETRY;
    }
    return C360_ERROR;
}

static const c360_plugin_desc tdst_desc = {
    C360_DESC_HEADER(C360_CAP_DESTINATION),
    .name = "tdst",
    .version = "1.0.0",
    .description = "pipeline test destination: POSTs records with an idempotency key",
    .config_schema = tdst_schema,
    .init = tdst_init,
    .fini = tdst_fini,
    .validate_config = tdst_validate_config,
    .instance_open = tdst_instance_open,
    .instance_close = tdst_instance_close,
    .deliver = tdst_deliver,
};

C360_PLUGIN_ENTRY
{
    return &tdst_desc;
}
