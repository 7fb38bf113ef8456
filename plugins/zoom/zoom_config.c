/* zoom_config.c -- the connection config: its JSON Schema and the
 * plugin's own checks, which repeat the schema rather than trust it and
 * report every problem at its JSON Pointer. No secrets here: the webhook
 * secret token and the client secret are connection secrets. */
#include <stdio.h>
#include <string.h>

#include "zoom.h"

#define S_(x) #x
#define S(x) S_(x)
#define NUM_PATTERN "\"^[0-9]{1,20}$\""

const char zoom_config_schema[] =
    "{"
    "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"zoom\","
    "\"description\":\"Zoom meeting and webinar registrants and attendance. "
      "Secrets: webhook_secret_token, client_secret.\","
    "\"type\":\"object\","
    "\"additionalProperties\":false,"
    "\"required\":[\"account_id\",\"client_id\"],"
    "\"properties\":{"
      "\"account_id\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9_-]{1,64}$\","
        "\"description\":\"The Zoom account id (Server-to-Server OAuth app "
        "credentials); webhooks are routed by it.\"},"
      "\"client_id\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9_.-]{1,128}$\","
        "\"description\":\"The Server-to-Server OAuth app's client id; its "
        "secret is the connection secret client_secret.\"},"
      "\"meeting_ids\":{\"type\":\"array\",\"maxItems\":" S(ZOOM_MAX_OBJECTS) ","
        "\"uniqueItems\":true,\"items\":{\"type\":\"string\",\"pattern\":" NUM_PATTERN "},"
        "\"description\":\"Meetings whose registrants the catch-up poll reads.\"},"
      "\"webinar_ids\":{\"type\":\"array\",\"maxItems\":" S(ZOOM_MAX_OBJECTS) ","
        "\"uniqueItems\":true,\"items\":{\"type\":\"string\",\"pattern\":" NUM_PATTERN "},"
        "\"description\":\"Webinars whose registrants the catch-up poll reads.\"},"
      "\"attendance\":{\"type\":\"boolean\",\"default\":true,"
        "\"description\":\"participant_joined events become attendance records.\"},"
      "\"poll_interval_s\":{\"type\":\"integer\",\"minimum\":60,\"maximum\":86400,"
        "\"description\":\"At most one catch-up poll this often; absent: on every tick.\"}"
    "}"
    "}";

bool zoom_in(const zoom_num *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], id) == 0) return true;
    return false;
}

typedef struct cfgrun {
    zoom_cfg_err_fn err;
    void *arg;
    int n;
} cfgrun;

static void bad(cfgrun *r, const char *ptr, const char *msg)
{
    r->n++;
    if (r->err != NULL) r->err(r->arg, ptr, msg);
}

static bool charset(const char *s, size_t max, const char *extra)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr(extra, c) != NULL))
            return false;
    }
    return true;
}

static void num_list(cfgrun *r, const json_t *doc, const char *name, zoom_num *list, size_t *n)
{
    const json_t *a = json_object_get(doc, name);
    char p[96];
    *n = 0;
    if (a == NULL) return;
    snprintf(p, sizeof p, "/%s", name);
    if (!json_is_array(a) || json_array_size(a) > ZOOM_MAX_OBJECTS) {
        bad(r, p, "must be an array of at most " S(ZOOM_MAX_OBJECTS) " ids");
        return;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        snprintf(p, sizeof p, "/%s/%zu", name, i);
        if (!zoom_num_valid(s)) {
            bad(r, p, "must be a string of 1 to 20 digits");
        } else if (zoom_in(list, *n, s)) {
            bad(r, p, "is listed twice");
        } else {
            snprintf(list[(*n)++], sizeof(zoom_num), "%s", s);
        }
    }
}

static const char *const known[] = {"account_id", "client_id", "meeting_ids", "webinar_ids",
                                    "attendance", "poll_interval_s"};

int zoom_config_parse(const char *json, size_t len, zoom_cfg *cfg, zoom_cfg_err_fn err,
                      void *arg)
{
    cfgrun r = {err, arg, 0};
    memset(cfg, 0, sizeof *cfg);
    cfg->attendance = true;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        bad(&r, "", doc == NULL ? "not valid JSON" : "must be a JSON object");
        json_decref(doc);
        return r.n;
    }
    const char *acc = zoom_str(doc, "account_id");
    if (json_object_get(doc, "account_id") == NULL)
        bad(&r, "/account_id", "is required");
    else if (!charset(acc, ZOOM_ID_MAX, "_-"))
        bad(&r, "/account_id", "must be 1 to 64 of A-Z a-z 0-9 _ -");
    else
        snprintf(cfg->account_id, sizeof cfg->account_id, "%s", acc);
    const char *cid = zoom_str(doc, "client_id");
    if (json_object_get(doc, "client_id") == NULL)
        bad(&r, "/client_id", "is required");
    else if (!charset(cid, 128, "_.-"))
        bad(&r, "/client_id", "must be 1 to 128 of A-Z a-z 0-9 _ . -");
    else
        snprintf(cfg->client_id, sizeof cfg->client_id, "%s", cid);
    num_list(&r, doc, "meeting_ids", cfg->meetings, &cfg->nmeetings);
    num_list(&r, doc, "webinar_ids", cfg->webinars, &cfg->nwebinars);
    const json_t *at = json_object_get(doc, "attendance");
    if (at != NULL) {
        if (!json_is_boolean(at))
            bad(&r, "/attendance", "must be a boolean");
        else
            cfg->attendance = json_is_true(at);
    }
    const json_t *pi = json_object_get(doc, "poll_interval_s");
    if (pi != NULL) {
        if (!json_is_integer(pi) || json_integer_value(pi) < 60 || json_integer_value(pi) > 86400)
            bad(&r, "/poll_interval_s", "must be an integer from 60 to 86400");
        else
            cfg->poll_interval_s = (int64_t)json_integer_value(pi);
    }
    const char *key;
    const json_t *v;
    json_object_foreach(doc, key, v) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            char p[80];
            snprintf(p, sizeof p, "/%.60s", key);
            for (char *c = p + 1; *c; c++)
                if (*c == '/' || *c == '~') *c = '_';
            bad(&r, p, "unknown setting");
        }
    }
    json_decref(doc);
    if (r.n > 0) memset(cfg, 0, sizeof *cfg);
    return r.n;
}
