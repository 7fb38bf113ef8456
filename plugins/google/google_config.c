/* google_config.c -- the connection config: its JSON Schema and the
 * plugin's own checks (which repeat the schema: connections written by
 * tools skip it), every problem reported at its JSON Pointer. Secrets are
 * not config: client_secret and push_token are connection secrets. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "google.h"

#define S_(x) #x
#define S(x) S_(x)
#define LABEL_PATTERN "\"^[A-Za-z0-9_][A-Za-z0-9_ /.-]{0,63}$\""

const char g_config_schema[] =
    "{"
    "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"google\","
    "\"description\":\"Gmail through Pub/Sub push: new messages as c360.email.v1 "
      "records. Secrets: client_secret (the OAuth client's), push_token (the "
      "?token= of the push subscription's endpoint). Connect with OAuth.\","
    "\"type\":\"object\","
    "\"additionalProperties\":false,"
    "\"required\":[\"client_id\",\"topic_name\"],"
    "\"properties\":{"
      "\"client_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255,"
        "\"description\":\"The Google OAuth client id; its secret is the "
        "connection secret client_secret.\"},"
      "\"topic_name\":{\"type\":\"string\","
        "\"pattern\":\"^projects/[a-z][a-z0-9-]{4,61}[a-z0-9]/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$\","
        "\"description\":\"The Pub/Sub topic Gmail publishes to (users.watch).\"},"
      "\"watch_label_ids\":{\"type\":\"array\",\"maxItems\":" S(G_MAX_LABELS) ","
        "\"uniqueItems\":true,\"items\":{\"type\":\"string\",\"pattern\":" LABEL_PATTERN "},"
        "\"default\":[\"INBOX\"],"
        "\"description\":\"Labels watched (default INBOX).\"},"
      "\"include_body\":{\"type\":\"boolean\",\"default\":false,"
        "\"description\":\"Read full messages (format=full) and put their text "
        "and HTML bodies in the records. Off: headers, labels and snippet only.\"},"
      "\"resync_days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":30,"
        "\"default\":" S(G_DEFAULT_RESYNC_DAYS) ","
        "\"description\":\"When Gmail's history is too old to continue from, "
        "messages of this many last days are read again.\"},"
      "\"filters\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"description\":\"Only messages that pass every filter given become "
        "records.\","
        "\"properties\":{"
          "\"label_ids\":{\"type\":\"array\",\"maxItems\":" S(G_MAX_LABELS) ","
            "\"items\":{\"type\":\"string\",\"pattern\":" LABEL_PATTERN "},"
            "\"description\":\"The message has at least one of these labels.\"},"
          "\"sender_domains\":{\"type\":\"array\",\"maxItems\":" S(G_MAX_DOMAINS) ","
            "\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":" S(G_DOMAIN_MAX) "},"
            "\"description\":\"The sender's domain is one of these, or a subdomain.\"},"
          "\"subject_regex\":{\"type\":\"string\",\"minLength\":1,"
            "\"maxLength\":" S(G_REGEX_MAX) ","
            "\"description\":\"POSIX extended regular expression the subject "
            "matches (case-insensitive).\"}}},"
      "\"oidc\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"audience\",\"service_account_email\"],"
        "\"description\":\"Also require the push subscription's OIDC token.\","
        "\"properties\":{"
          "\"audience\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255},"
          "\"service_account_email\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":255}}}"
    "}"
    "}";

typedef struct cfgrun {
    g_cfg_err_fn err;
    void *arg;
    int n;
} cfgrun;

static void bad(cfgrun *r, const char *ptr, const char *msg)
{
    r->n++;
    if (r->err != NULL) r->err(r->arg, ptr, msg);
}

static bool label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > G_LABEL_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (i > 0 && (c == ' ' || c == '/' || c == '.' || c == '-'));
        if (!ok) return false;
    }
    return true;
}

static bool domain_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > G_DOMAIN_MAX || s[0] == '.' || s[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f) return false;
    return true;
}

static size_t labels(cfgrun *r, const json_t *arr, const char *ptr, g_label *out)
{
    char p[96];
    size_t n = 0;
    if (arr == NULL) return 0;
    if (!json_is_array(arr) || json_array_size(arr) > G_MAX_LABELS) {
        bad(r, ptr, "must be an array of at most " S(G_MAX_LABELS) " label ids");
        return 0;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s == NULL || !label_ok(s)) {
            snprintf(p, sizeof p, "%s/%zu", ptr, i);
            bad(r, p, "not a Gmail label id");
            continue;
        }
        snprintf(out[n++], sizeof out[0], "%s", s);
    }
    return n;
}

int g_config_parse(const char *json, size_t len, g_cfg *cfg, g_cfg_err_fn err, void *arg)
{
    cfgrun r = {err, arg, 0};
    memset(cfg, 0, sizeof *cfg);
    cfg->resync_days = G_DEFAULT_RESYNC_DAYS;
    json_t *root = json_loadb(json, len, 0, NULL);
    if (!json_is_object(root)) {
        bad(&r, "", "the config must be a JSON object");
        json_decref(root);
        return r.n;
    }
    static const char *const known[] = {"client_id", "topic_name", "watch_label_ids",
                                        "include_body", "resync_days", "filters", "oidc"};
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) found |= strcmp(k, known[i]) == 0;
        if (!found) {
            char p[300];
            snprintf(p, sizeof p, "/%.200s", k);
            bad(&r, p, "unknown setting");
        }
    }
    const char *s = g_str(root, "client_id");
    if (s == NULL || !printable(s, sizeof cfg->client_id - 1)) bad(&r, "/client_id", "required: the OAuth client id");
    else snprintf(cfg->client_id, sizeof cfg->client_id, "%s", s);

    s = g_str(root, "topic_name");
    if (s == NULL || strncmp(s, "projects/", 9) != 0 || strstr(s, "/topics/") == NULL ||
        !printable(s, sizeof cfg->topic - 1))
        bad(&r, "/topic_name", "required: projects/<project>/topics/<topic>");
    else snprintf(cfg->topic, sizeof cfg->topic, "%s", s);

    if (json_object_get(root, "watch_label_ids") != NULL)
        cfg->nwatch = labels(&r, json_object_get(root, "watch_label_ids"), "/watch_label_ids",
                             cfg->watch_labels);
    else {
        snprintf(cfg->watch_labels[0], sizeof cfg->watch_labels[0], "INBOX");
        cfg->nwatch = 1;
    }

    v = json_object_get(root, "include_body");
    if (v != NULL && !json_is_boolean(v)) bad(&r, "/include_body", "must be true or false");
    cfg->include_body = json_is_true(v);

    v = json_object_get(root, "resync_days");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 30)
            bad(&r, "/resync_days", "must be an integer from 1 to 30");
        else cfg->resync_days = (int)json_integer_value(v);
    }

    const json_t *f = json_object_get(root, "filters");
    if (f != NULL && !json_is_object(f)) bad(&r, "/filters", "must be an object");
    if (json_is_object(f)) {
        json_object_foreach((json_t *)f, k, v) {
            if (strcmp(k, "label_ids") != 0 && strcmp(k, "sender_domains") != 0 &&
                strcmp(k, "subject_regex") != 0) {
                char p[300];
                snprintf(p, sizeof p, "/filters/%.200s", k);
                bad(&r, p, "unknown filter");
            }
        }
        cfg->nf_labels = labels(&r, json_object_get(f, "label_ids"), "/filters/label_ids",
                                cfg->f_labels);
        const json_t *d = json_object_get(f, "sender_domains");
        if (d != NULL && (!json_is_array(d) || json_array_size(d) > G_MAX_DOMAINS))
            bad(&r, "/filters/sender_domains", "must be an array of at most " S(G_MAX_DOMAINS) " domains");
        else
            for (size_t i = 0; i < json_array_size(d); i++) {
                const char *ds = json_string_value(json_array_get(d, i));
                if (ds != NULL && ds[0] == '@') ds++;
                if (ds == NULL || !domain_ok(ds)) {
                    char p[64];
                    snprintf(p, sizeof p, "/filters/sender_domains/%zu", i);
                    bad(&r, p, "not a domain name");
                    continue;
                }
                snprintf(cfg->f_domains[cfg->nf_domains++], G_DOMAIN_MAX + 1, "%s", ds);
            }
        v = json_object_get(f, "subject_regex");
        if (v != NULL) {
            s = json_string_value(v);
            regex_t re;
            if (s == NULL || strlen(s) == 0 || strlen(s) > G_REGEX_MAX ||
                regcomp(&re, s, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
                bad(&r, "/filters/subject_regex", "not a POSIX extended regular expression");
            else {
                regfree(&re);
                snprintf(cfg->f_subject, sizeof cfg->f_subject, "%s", s);
            }
        }
    }

    const json_t *o = json_object_get(root, "oidc");
    if (o != NULL) {
        const char *aud = g_str(o, "audience"), *em = g_str(o, "service_account_email");
        if (!json_is_object(o)) bad(&r, "/oidc", "must be an object");
        else {
            if (aud == NULL || !printable(aud, sizeof cfg->oidc_audience - 1))
                bad(&r, "/oidc/audience", "required: the push subscription's audience");
            if (em == NULL || !printable(em, sizeof cfg->oidc_email - 1) || strchr(em, '@') == NULL)
                bad(&r, "/oidc/service_account_email", "required: the push service account's email");
            if (r.n == 0) {
                cfg->oidc = true;
                snprintf(cfg->oidc_audience, sizeof cfg->oidc_audience, "%s", aud);
                snprintf(cfg->oidc_email, sizeof cfg->oidc_email, "%s", em);
            }
        }
    }
    json_decref(root);
    return r.n;
}
