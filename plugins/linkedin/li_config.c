/* li_config.c -- the connection config: its JSON Schema and the plugin's
 * own checks (repeating the schema: tools may skip it), every problem at
 * its JSON Pointer. No secrets here: the client secret is the connection
 * secret "client_secret"; the tokens are the host's (OAuth connect). */
#include <stdio.h>
#include <string.h>

#include "li.h"

#define S_(x) #x
#define S(x) S_(x)
#define ID_PATTERN "\"^[0-9]{1,32}$\""

const char li_config_schema[] =
    "{"
    "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"linkedin\","
    "\"description\":\"LinkedIn Lead Gen Forms (Lead Sync). Secret: "
      "client_secret; connect with OAuth.\","
    "\"type\":\"object\","
    "\"additionalProperties\":false,"
    "\"required\":[\"client_id\"],"
    "\"properties\":{"
      "\"client_id\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9_-]{1,64}$\","
        "\"description\":\"The LinkedIn app's client id (Developer Portal). Its "
        "secret is the connection secret client_secret.\"},"
      "\"sponsored_account_ids\":{\"type\":\"array\",\"maxItems\":" S(LI_MAX_OWNERS) ","
        "\"uniqueItems\":true,\"items\":{\"type\":\"string\",\"pattern\":" ID_PATTERN "},"
        "\"description\":\"Ad accounts (urn:li:sponsoredAccount:<id>) whose "
        "lead form responses this connection receives.\"},"
      "\"organization_ids\":{\"type\":\"array\",\"maxItems\":" S(LI_MAX_OWNERS) ","
        "\"uniqueItems\":true,\"items\":{\"type\":\"string\",\"pattern\":" ID_PATTERN "},"
        "\"description\":\"Organizations (urn:li:organization:<id>) whose "
        "non-sponsored leads this connection receives.\"},"
      "\"poll_interval_s\":{\"type\":\"integer\",\"minimum\":60,\"maximum\":86400,"
        "\"description\":\"At most one catch-up poll this often; absent: on "
        "every tick.\"},"
      "\"api_version\":{\"type\":\"string\",\"pattern\":\"^20[0-9]{2}(0[1-9]|1[0-2])$\","
        "\"default\":\"" LI_DEFAULT_API_VERSION "\","
        "\"description\":\"The LinkedIn-Version header (YYYYMM).\"},"
      "\"webhook_url\":{\"type\":\"string\",\"pattern\":\"^https?://\",\"maxLength\":500,"
        "\"description\":\"When set, the connection subscribes its owners' "
        "lead notifications to this URL (the connection's webhook URL) and "
        "removes them at disconnect.\"}"
    "}"
    "}";

bool li_digits(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return n > 0 && n <= max && strspn(s, "0123456789") == n;
}

const char *li_owner_field(int kind)
{
    return kind == LI_SPONSORED ? "sponsoredAccount" : "organization";
}

void li_owner_urn(const li_owner *o, char *out, size_t cap)
{
    snprintf(out, cap, "urn:li:%s:%s", li_owner_field(o->kind), o->id);
}

bool li_owns(const li_cfg *cfg, int kind, const char *id)
{
    for (size_t i = 0; i < cfg->nowners; i++)
        if (cfg->owners[i].kind == kind && strcmp(cfg->owners[i].id, id) == 0) return true;
    return false;
}

typedef struct cfgrun {
    li_cfg_err_fn err;
    void *arg;
    int n;
} cfgrun;

static void bad(cfgrun *r, const char *ptr, const char *msg)
{
    r->n++;
    if (r->err != NULL) r->err(r->arg, ptr, msg);
}

static void owners(cfgrun *r, const json_t *doc, const char *name, int kind, li_cfg *cfg)
{
    const json_t *a = json_object_get(doc, name);
    char p[96];
    if (a == NULL) return;
    snprintf(p, sizeof p, "/%s", name);
    if (!json_is_array(a) || json_array_size(a) > LI_MAX_OWNERS) {
        bad(r, p, "must be an array of at most " S(LI_MAX_OWNERS) " ids");
        return;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        snprintf(p, sizeof p, "/%s/%zu", name, i);
        if (s == NULL || !li_digits(s, 32)) {
            bad(r, p, "must be a string of 1 to 32 digits");
            continue;
        }
        if (li_owns(cfg, kind, s)) {
            bad(r, p, "is listed twice");
            continue;
        }
        if (cfg->nowners == LI_MAX_OWNERS) {
            bad(r, p, "too many owners (at most " S(LI_MAX_OWNERS) " in all)");
            return;
        }
        cfg->owners[cfg->nowners].kind = kind;
        snprintf(cfg->owners[cfg->nowners].id, sizeof(li_id), "%s", s);
        cfg->nowners++;
    }
}

static const char *const known[] = {"client_id", "sponsored_account_ids", "organization_ids",
                                    "poll_interval_s", "api_version", "webhook_url"};

int li_config_parse(const char *json, size_t len, li_cfg *cfg, li_cfg_err_fn err, void *arg)
{
    cfgrun r = {err, arg, 0};
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->api_version, sizeof cfg->api_version, "%s", LI_DEFAULT_API_VERSION);
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        bad(&r, "", doc == NULL ? "not valid JSON" : "must be a JSON object");
        json_decref(doc);
        return r.n;
    }
    const char *cid = li_str(doc, "client_id");
    size_t cl = cid != NULL ? strlen(cid) : 0;
    if (json_object_get(doc, "client_id") == NULL)
        bad(&r, "/client_id", "is required");
    else if (cl == 0 || cl > LI_CLIENT_ID_MAX ||
             strspn(cid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != cl)
        bad(&r, "/client_id", "must be 1 to 64 of A-Z a-z 0-9 _ -");
    else
        memcpy(cfg->client_id, cid, cl + 1);

    owners(&r, doc, "sponsored_account_ids", LI_SPONSORED, cfg);
    owners(&r, doc, "organization_ids", LI_ORGANIZATION, cfg);
    if (cfg->nowners == 0 && r.n == 0)
        bad(&r, "/sponsored_account_ids",
            "name at least one sponsored account or organization (organization_ids)");

    const json_t *pi = json_object_get(doc, "poll_interval_s");
    if (pi != NULL) {
        if (!json_is_integer(pi) || json_integer_value(pi) < 60 || json_integer_value(pi) > 86400)
            bad(&r, "/poll_interval_s", "must be an integer from 60 to 86400");
        else
            cfg->poll_interval_s = (int64_t)json_integer_value(pi);
    }
    const json_t *av = json_object_get(doc, "api_version");
    if (av != NULL) {
        const char *s = json_string_value(av);
        bool ok = s != NULL && li_digits(s, 6) && strlen(s) == 6 && s[0] == '2' && s[1] == '0';
        int month = ok ? (s[4] - '0') * 10 + (s[5] - '0') : 0;
        if (!ok || month < 1 || month > 12)
            bad(&r, "/api_version", "must be YYYYMM, e.g. " LI_DEFAULT_API_VERSION);
        else
            snprintf(cfg->api_version, sizeof cfg->api_version, "%s", s);
    }
    const json_t *wu = json_object_get(doc, "webhook_url");
    if (wu != NULL) {
        const char *s = json_string_value(wu);
        size_t n = s != NULL ? strlen(s) : 0;
        bool ok = n > 0 && n < 500 &&
                  (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0);
        for (size_t i = 0; ok && i < n; i++) ok = s[i] > 0x20 && s[i] < 0x7f && s[i] != '"';
        if (!ok)
            bad(&r, "/webhook_url", "must be an http(s) URL of at most 500 printable characters");
        else
            memcpy(cfg->webhook_url, s, n + 1);
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
