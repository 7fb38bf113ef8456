/* conn_config.c -- see conn_config.h. */
#include "conn_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "jsonschema.h"
#include "log.h"

#define MSG_MAX 300

static void add(json_t *details, const char *path, const char *msg)
{
    json_array_append_new(details, json_pack("{s:s, s:s}", "path", path, "message", msg));
}

/* A plugin's pointer, made a safe JSON Pointer under /config: "" or
 * starting with '/', printable, bounded. */
static void reroot(const char *ptr, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "/config%s%s", ptr && *ptr && *ptr != '/' ? "/" : "",
                                ptr ? ptr : "");
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) out[i] = '?';
}

/* Messages are the plugin's text: made valid UTF-8 (jansson refuses
 * anything else) and bounded. */
static json_t *clean_msg(const char *m)
{
    char buf[MSG_MAX + 1];
    const char *src = m && *m ? m : "invalid";
    size_t n = strnlen(src, MSG_MAX); /* cut on purpose: a bounded message */
    memcpy(buf, src, n);
    buf[n] = '\0';
    json_t *s = json_string(buf);
    if (s) return s;
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20) *p = '?';
    return json_string(buf);
}

static int run_plugin(const ch_plugin *p, const json_t *config, const char *request_id,
                      int64_t timeout_ms, json_t *details)
{
    const ch_plugin_ops *ops = ch_plugin_ops_get(p);
    if (!ops->validate_config) return CH_CFG_OK; /* the loader requires it; defensive */
    char *text = json_dumps(config, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        add(details, "/config", "cannot be serialised");
        return CH_CFG_INVALID;
    }
    c360_call call;
    ch_call_init(&call, ch_plugin_name(p), NULL, request_id, timeout_ms);
    int32_t st = ch_status_normalise(ops->validate_config(&call, ch_plugin_data(p), text,
                                                          strlen(text)));
    free(text);
    size_t before = json_array_size(details);
    for (size_t i = 0; i < call.cfgerr_count; i++) {
        char path[512];
        reroot(call.cfgerr[i].pointer, path, sizeof path);
        json_array_append_new(details, json_pack("{s:s, s:o}", "path", path, "message",
                                                 clean_msg(call.cfgerr[i].message)));
    }
    if (call.cfgerr_dropped) add(details, "/config", "more errors were reported and left out");
    if (st != C360_OK && json_array_size(details) == before) {
        char msg[MSG_MAX + 96]; /* room for the status and the whole %.300s: -O1 checks */
        snprintf(msg, sizeof msg, "refused by the plugin (%s)%s%.300s", c360_strstatus(st),
                 call.error[0] ? ": " : "", call.error);
        json_array_append_new(details, json_pack("{s:s, s:o}", "path", "/config", "message",
                                                 clean_msg(msg)));
    }
    ch_call_done(&call);
    return json_array_size(details) > before ? CH_CFG_INVALID : CH_CFG_OK;
}

int ch_conn_config_check(const ch_plugin *p, const json_t *config, const char *request_id,
                         int64_t timeout_ms, json_t *details)
{
    const c360_plugin_desc *d = ch_plugin_desc(p);
    const char *stext = d->config_schema;
    if (stext && *stext) {
        json_error_t je;
        json_t *schema = json_loads(stext, JSON_DECODE_ANY, &je);
        char why[256] = "";
        if (!schema) snprintf(why, sizeof why, "not JSON: %s", je.text);
        else if (ch_jschema_check(schema, why, sizeof why) != 0) {
            /* why is set */
        } else {
            size_t before = json_array_size(details);
            int n = ch_jschema_validate(schema, config, "/config", details, why, sizeof why);
            json_decref(schema);
            schema = NULL;
            if (n > 0) return CH_CFG_INVALID;
            if (n == 0) return run_plugin(p, config, request_id, timeout_ms, details);
            /* n < 0: broken after all (why is set); drop partial errors */
            while (json_array_size(details) > before)
                json_array_remove(details, json_array_size(details) - 1);
        }
        json_decref(schema);
        ch_log(CH_LOG_WARN, "a plugin's config_schema cannot be applied", "plugin",
               ch_plugin_name(p), "reason", why, NULL);
        char msg[512];
        snprintf(msg, sizeof msg,
                 "the config schema of plugin \"%s\" cannot be applied (%s); ask the operator "
                 "to update the plugin",
                 ch_plugin_name(p), why);
        json_array_append_new(details, json_pack("{s:s, s:o}", "path", "/config", "message",
                                                 clean_msg(msg)));
        return CH_CFG_SCHEMA_BROKEN;
    }
    return run_plugin(p, config, request_id, timeout_ms, details);
}
