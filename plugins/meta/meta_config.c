/* meta_config.c -- the connection config: its JSON Schema (served to forms
 * and applied by the admin API) and the plugin's own checks, which repeat
 * the schema rather than trust it (connections written by tools skip the
 * schema) and report every problem at its JSON Pointer. No secrets here:
 * the app secret, the verify token and the tokens are the connection's
 * secrets (docs/connectors/meta.md). */
#include <stdio.h>
#include <string.h>

#include "meta.h"

#define S_(x) #x
#define S(x) S_(x)
#define ID_PATTERN "\"^[0-9]{1,32}$\""

const char meta_config_schema[] =
    "{"
    "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"meta\","
    "\"description\":\"Facebook Pages lead ads and comments, Instagram "
      "comments, ads insights. Secrets: app_secret, verify_token, and "
      "page_token:<page id> / user_token unless connected by OAuth.\","
    "\"type\":\"object\","
    "\"additionalProperties\":false,"
    "\"required\":[\"app_id\",\"page_ids\"],"
    "\"properties\":{"
      "\"app_id\":{\"type\":\"string\",\"pattern\":" ID_PATTERN ","
        "\"description\":\"The Meta app's id (App Dashboard). Its secret is "
        "the connection secret app_secret.\"},"
      "\"page_ids\":{\"type\":\"array\",\"minItems\":1,"
        "\"maxItems\":" S(META_MAX_PAGES) ",\"uniqueItems\":true,"
        "\"items\":{\"type\":\"string\",\"pattern\":" ID_PATTERN "},"
        "\"description\":\"Facebook Page ids whose leads and comments this "
        "connection receives.\"},"
      "\"ig_user_ids\":{\"type\":\"array\",\"maxItems\":" S(META_MAX_IG) ","
        "\"uniqueItems\":true,"
        "\"items\":{\"type\":\"string\",\"pattern\":" ID_PATTERN "},"
        "\"description\":\"Instagram professional account ids whose "
        "comments this connection receives.\"},"
      "\"form_ids\":{\"type\":\"array\",\"maxItems\":" S(META_MAX_FORMS) ","
        "\"uniqueItems\":true,"
        "\"items\":{\"type\":\"string\",\"pattern\":" ID_PATTERN "},"
        "\"description\":\"Only leads of these lead forms; absent: every "
        "form of the pages.\"},"
      "\"poll_interval_s\":{\"type\":\"integer\",\"minimum\":60,"
        "\"maximum\":86400,"
        "\"description\":\"At most one catch-up poll this often; absent: on "
        "every tick (the connection's interval_s).\"},"
      "\"insights\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"properties\":{"
          "\"enabled\":{\"type\":\"boolean\"},"
          "\"ad_account_ids\":{\"type\":\"array\","
            "\"maxItems\":" S(META_MAX_ACCOUNTS) ",\"uniqueItems\":true,"
            "\"items\":{\"type\":\"string\","
              "\"pattern\":\"^(act_)?[0-9]{1,32}$\"}}},"
        "\"description\":\"Daily campaign insights of these ad accounts "
        "(needs the user token, ads_read).\"},"
      "\"graph_version\":{\"type\":\"string\","
        "\"pattern\":\"^v[0-9]{1,3}[.][0-9]{1,2}$\","
        "\"default\":\"" META_DEFAULT_VERSION "\"}"
    "}"
    "}";

bool meta_in(const meta_id *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], id) == 0) return true;
    return false;
}

typedef struct cfgrun {
    meta_cfg_err_fn err;
    void *arg;
    int n;
} cfgrun;

static void bad(cfgrun *r, const char *ptr, const char *msg)
{
    r->n++;
    if (r->err != NULL) r->err(r->arg, ptr, msg);
}

/* An array of ids into list (n, max). `act` accepts and strips "act_". */
static void id_list(cfgrun *r, const json_t *doc, const char *name,
                    const char *ptr, meta_id *list, size_t *n, size_t min,
                    size_t max, bool act)
{
    const json_t *a = json_object_get(doc, name);
    char p[96];
    *n = 0;
    if (a == NULL) {
        if (min > 0) bad(r, ptr, "is required");
        return;
    }
    if (!json_is_array(a)) {
        bad(r, ptr, "must be an array");
        return;
    }
    if (json_array_size(a) < min || json_array_size(a) > max) {
        snprintf(p, sizeof p, "must have %zu to %zu items", min, max);
        bad(r, ptr, p);
        return;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        const char *s = json_string_value(v);
        snprintf(p, sizeof p, "%s/%zu", ptr, i);
        if (s != NULL && act && strncmp(s, "act_", 4) == 0) s += 4;
        if (s == NULL || !meta_id_valid(s, false)) {
            bad(r, p, act ? "must be an ad account id (digits, optionally "
                            "after act_)"
                          : "must be a string of 1 to 32 digits");
            continue;
        }
        if (meta_in(list, *n, s)) {
            bad(r, p, "is listed twice");
            continue;
        }
        snprintf(list[(*n)++], sizeof(meta_id), "%s", s);
    }
}

static const char *const known[] = {"app_id", "page_ids", "ig_user_ids",
                                    "form_ids", "poll_interval_s", "insights",
                                    "graph_version"};

int meta_config_parse(const char *json, size_t len, meta_cfg *cfg,
                      meta_cfg_err_fn err, void *arg)
{
    cfgrun r = {err, arg, 0};
    json_error_t jerr;
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->version, sizeof cfg->version, "%s", META_DEFAULT_VERSION);

    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        bad(&r, "", doc == NULL ? "not valid JSON" : "must be a JSON object");
        json_decref(doc);
        return r.n;
    }

    const char *app = meta_str(doc, "app_id");
    if (json_object_get(doc, "app_id") == NULL)
        bad(&r, "/app_id", "is required");
    else if (app == NULL || !meta_id_valid(app, false))
        bad(&r, "/app_id", "must be a string of 1 to 32 digits");
    else
        snprintf(cfg->app_id, sizeof cfg->app_id, "%s", app);

    id_list(&r, doc, "page_ids", "/page_ids", cfg->pages, &cfg->npages, 1,
            META_MAX_PAGES, false);
    id_list(&r, doc, "ig_user_ids", "/ig_user_ids", cfg->ig, &cfg->nig, 0,
            META_MAX_IG, false);
    id_list(&r, doc, "form_ids", "/form_ids", cfg->forms, &cfg->nforms, 0,
            META_MAX_FORMS, false);

    const json_t *pi = json_object_get(doc, "poll_interval_s");
    if (pi != NULL) {
        if (!json_is_integer(pi) || json_integer_value(pi) < 60 ||
            json_integer_value(pi) > 86400)
            bad(&r, "/poll_interval_s", "must be an integer from 60 to 86400");
        else
            cfg->poll_interval_s = (int64_t)json_integer_value(pi);
    }

    const json_t *ins = json_object_get(doc, "insights");
    if (ins != NULL) {
        if (!json_is_object(ins)) {
            bad(&r, "/insights", "must be an object");
        } else {
            const char *k;
            const json_t *v;
            json_object_foreach((json_t *)ins, k, v) {
                if (strcmp(k, "enabled") != 0 && strcmp(k, "ad_account_ids") != 0)
                    bad(&r, "/insights", "has an unknown member");
            }
            const json_t *en = json_object_get(ins, "enabled");
            if (en != NULL && !json_is_boolean(en))
                bad(&r, "/insights/enabled", "must be a boolean");
            id_list(&r, ins, "ad_account_ids", "/insights/ad_account_ids",
                    cfg->accounts, &cfg->naccounts, 0, META_MAX_ACCOUNTS, true);
            /* Absent "enabled" with accounts listed means on. */
            cfg->insights = en != NULL ? json_is_true(en) : cfg->naccounts > 0;
            if (cfg->insights && cfg->naccounts == 0 &&
                json_object_get(ins, "ad_account_ids") == NULL)
                bad(&r, "/insights/ad_account_ids",
                    "is required when insights are enabled");
        }
    }

    const json_t *gv = json_object_get(doc, "graph_version");
    if (gv != NULL) {
        const char *s = json_string_value(gv);
        bool ok = s != NULL && s[0] == 'v' && strlen(s) >= 4 && strlen(s) <= 7;
        const char *dot = ok ? strchr(s, '.') : NULL;
        ok = ok && dot != NULL && dot > s + 1 && dot - s <= 4 &&
             strlen(dot + 1) >= 1 && strlen(dot + 1) <= 2 &&
             strspn(s + 1, "0123456789") == (size_t)(dot - s - 1) &&
             strspn(dot + 1, "0123456789") == strlen(dot + 1);
        if (!ok)
            bad(&r, "/graph_version", "must look like v25.0");
        else
            snprintf(cfg->version, sizeof cfg->version, "%s", s);
    }

    const char *key;
    const json_t *v;
    json_object_foreach(doc, key, v) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            char p[80];
            /* Keys are reported cut and without '/' or '~', which would
             * need escaping in a pointer: the message says enough. */
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
