/* ctl_conf.c -- where c360ctl finds the API's URL, its key and TLS
 * settings. Each setting comes from the first of: its flag, its
 * environment variable, the config file, the default.
 *
 *   url       --url        C360_URL                  "url"
 *   key       --key-file   C360_KEY, C360_KEY_FILE   "key_file"
 *   cacert    --cacert     C360_CACERT               "cacert"
 *   timeout   --timeout    C360_TIMEOUT              "timeout_s"
 *
 * The config file is JSON: {"url":..,"key_file":..,"cacert":..,"timeout_s":..};
 * unknown members are refused so a typo is not silently ignored. A
 * relative key_file or cacert is taken relative to the config file's
 * directory, "~/" to $HOME. The key itself is never in the config file:
 * a file meant to be shared (dotfiles) should not hold a credential. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* dst = path resolved against the config file's directory and $HOME. */
static int resolve_path(char *dst, size_t cap, const char *path, const char *cfg_path)
{
    const char *home = getenv("HOME");
    int n;
    if (strncmp(path, "~/", 2) == 0 && home && *home) {
        n = snprintf(dst, cap, "%s/%s", home, path + 2);
    } else if (path[0] != '/' && cfg_path && strchr(cfg_path, '/')) {
        int dir = (int)(strrchr(cfg_path, '/') - cfg_path);
        n = snprintf(dst, cap, "%.*s/%s", dir, cfg_path, path);
    } else {
        n = snprintf(dst, cap, "%s", path);
    }
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int parse_timeout(const char *v, long *ms)
{
    char *end;
    errno = 0;
    double s = strtod(v, &end);
    if (errno || end == v || *end || !(s > 0) || s > 3600) return -1;
    *ms = (long)(s * 1000.0 + 0.5);
    if (*ms < 1) *ms = 1;
    return 0;
}

/* Checks and copies a URL: http or https, a host, no credentials, no
 * query; trailing slashes cut. */
static int set_url(ctl_conf *cf, const char *url, char *err, size_t cap)
{
    const char *rest;
    if (strncmp(url, "http://", 7) == 0) rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0) rest = url + 8;
    else {
        snprintf(err, cap, "URL must start with http:// or https:// (got '%.200s')", url);
        return -1;
    }
    size_t hostlen = strcspn(rest, "/");
    if (hostlen == 0 || memchr(rest, '@', hostlen)) {
        snprintf(err, cap, "URL '%.200s' needs a host (and no user:password@)", url);
        return -1;
    }
    for (const char *p = url; *p; p++) {
        if (!isgraph((unsigned char)*p) || *p == '?' || *p == '#') {
            snprintf(err, cap, "URL '%.200s' has a space, control, query or fragment", url);
            return -1;
        }
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') n--;
    if (n >= sizeof cf->url) {
        snprintf(err, cap, "URL longer than %zu bytes", sizeof cf->url - 1);
        return -1;
    }
    memcpy(cf->url, url, n);
    cf->url[n] = '\0';
    return 0;
}

/* The config file's members, checked. Returns CTL_OK / CTL_LOCAL. */
static int read_config(const char *path, int explicit, json_t **out, char *err, size_t cap)
{
    *out = NULL;
    struct stat st;
    if (!explicit && stat(path, &st) != 0 && errno == ENOENT) return CTL_OK;
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line > 0) snprintf(err, cap, "config %s:%d: %s", path, je.line, je.text);
        else snprintf(err, cap, "config %s: %s", path, je.text);
        return CTL_LOCAL;
    }
    if (!json_is_object(j)) {
        snprintf(err, cap, "config %s: must be a JSON object", path);
        json_decref(j);
        return CTL_LOCAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        int ok = (strcmp(k, "url") == 0 || strcmp(k, "key_file") == 0 ||
                  strcmp(k, "cacert") == 0)
                     ? json_is_string(v) && json_string_length(v) > 0
                 : strcmp(k, "timeout_s") == 0 ? json_is_number(v)
                 : -1;
        if (ok != 1) {
            if (ok < 0)
                snprintf(err, cap, "config %s: /%s: unknown member (known: url, key_file, "
                                   "cacert, timeout_s%s)",
                         path, k, strcmp(k, "key") == 0 ? "; the key itself belongs in a file "
                                                          "named by key_file" : "");
            else
                snprintf(err, cap, "config %s: /%s: must be a %s", path, k,
                         strcmp(k, "timeout_s") == 0 ? "number" : "non-empty string");
            json_decref(j);
            return CTL_LOCAL;
        }
    }
    *out = j;
    return CTL_OK;
}

int ctl_conf_resolve(const ctl_args *a, ctl_conf *cf, char *err, size_t cap)
{
    memset(cf, 0, sizeof *cf);
    err[0] = '\0';

    static char cfg_path[PATH_MAX];
    const char *cfg = ctl_opt(a, "config");
    int explicit = cfg != NULL;
    if (!cfg && (cfg = env("C360_CONFIG")) != NULL) explicit = 1;
    if (!cfg) {
        const char *xdg = env("XDG_CONFIG_HOME"), *home = env("HOME");
        if (xdg) snprintf(cfg_path, sizeof cfg_path, "%s/c360/ctl.json", xdg);
        else if (home) snprintf(cfg_path, sizeof cfg_path, "%s/.config/c360/ctl.json", home);
        else cfg_path[0] = '\0';
    } else {
        snprintf(cfg_path, sizeof cfg_path, "%s", cfg);
    }
    json_t *file = NULL;
    if (cfg_path[0]) {
        int rc = read_config(cfg_path, explicit, &file, err, cap);
        if (rc != CTL_OK) return rc;
    }
    const char *fv;

    /* url */
    const char *url = ctl_opt(a, "url");
    cf->url_from = "--url";
    if (!url && (url = env("C360_URL")) != NULL) cf->url_from = "C360_URL";
    if (!url && file && (fv = json_string_value(json_object_get(file, "url")))) {
        url = fv;
        cf->url_from = cfg_path;
    }
    if (!url) {
        url = CTL_DEFAULT_URL;
        cf->url_from = "default";
    }
    char uerr[300];
    if (set_url(cf, url, uerr, sizeof uerr) < 0) {
        snprintf(err, cap, "%s (from %s)", uerr, cf->url_from);
        json_decref(file);
        return cf->url_from == cfg_path ? CTL_LOCAL : CTL_USAGE;
    }

    /* key: --key-file > C360_KEY > C360_KEY_FILE > key_file */
    const char *kf = ctl_opt(a, "key-file");
    int rc = CTL_OK;
    if (kf) {
        cf->key_from = "--key-file";
        if (resolve_path(cf->key_file, sizeof cf->key_file, kf, NULL) < 0) rc = CTL_USAGE;
    } else if (env("C360_KEY")) {
        cf->key_env = 1;
        cf->key_from = "C360_KEY";
    } else if ((kf = env("C360_KEY_FILE")) != NULL) {
        cf->key_from = "C360_KEY_FILE";
        if (resolve_path(cf->key_file, sizeof cf->key_file, kf, NULL) < 0) rc = CTL_USAGE;
    } else if (file && (fv = json_string_value(json_object_get(file, "key_file")))) {
        cf->key_from = cfg_path;
        if (resolve_path(cf->key_file, sizeof cf->key_file, fv, cfg_path) < 0) rc = CTL_LOCAL;
    }
    if (rc != CTL_OK) {
        snprintf(err, cap, "key file path from %s is too long", cf->key_from);
        json_decref(file);
        return rc;
    }

    /* cacert */
    const char *ca = ctl_opt(a, "cacert"), *ca_from = "--cacert";
    if (!ca && (ca = env("C360_CACERT")) != NULL) ca_from = "C360_CACERT";
    if (ca && resolve_path(cf->cacert, sizeof cf->cacert, ca, NULL) < 0) rc = CTL_USAGE;
    if (!ca && file && (fv = json_string_value(json_object_get(file, "cacert")))) {
        ca_from = cfg_path;
        if (resolve_path(cf->cacert, sizeof cf->cacert, fv, cfg_path) < 0) rc = CTL_LOCAL;
    }
    if (rc != CTL_OK) {
        snprintf(err, cap, "CA file path from %s is too long", ca_from);
        json_decref(file);
        return rc;
    }

    /* timeout */
    cf->timeout_ms = CTL_DEFAULT_TIMEOUT_S * 1000L;
    const char *t = ctl_opt(a, "timeout"), *t_from = "--timeout";
    if (!t && (t = env("C360_TIMEOUT")) != NULL) t_from = "C360_TIMEOUT";
    if (t && parse_timeout(t, &cf->timeout_ms) < 0) {
        snprintf(err, cap, "%s: timeout must be seconds in (0, 3600] (got '%.40s')", t_from, t);
        json_decref(file);
        return CTL_USAGE;
    }
    json_t *jt;
    if (!t && file && (jt = json_object_get(file, "timeout_s")) != NULL) {
        double s = json_number_value(jt);
        if (!(s > 0) || s > 3600) {
            snprintf(err, cap, "config %s: /timeout_s must be seconds in (0, 3600]", cfg_path);
            json_decref(file);
            return CTL_LOCAL;
        }
        cf->timeout_ms = (long)(s * 1000.0 + 0.5);
        if (cf->timeout_ms < 1) cf->timeout_ms = 1;
    }
    json_decref(file);
    return CTL_OK;
}

/* A key is a token: printable ASCII, no spaces (it goes into a header). */
static int key_ok(const char *k, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] <= ' ' || k[i] > '~') return 0;
    return 1;
}

int ctl_conf_key(const ctl_conf *cf, char *key, char *err, size_t cap)
{
    key[0] = '\0';
    if (cf->key_env) {
        const char *k = env("C360_KEY");
        size_t n = k ? strlen(k) : 0;
        while (n && isspace((unsigned char)k[n - 1])) n--;
        if (!k || n >= CTL_KEY_MAX || !key_ok(k, n)) {
            snprintf(err, cap, "C360_KEY is not a valid API key (printable, no spaces, at "
                               "most %d bytes)", CTL_KEY_MAX - 1);
            return CTL_USAGE;
        }
        memcpy(key, k, n);
        key[n] = '\0';
        return CTL_OK;
    }
    if (!cf->key_file[0]) {
        snprintf(err, cap, "no API key: give --key-file PATH, or set C360_KEY_FILE or "
                           "C360_KEY, or put \"key_file\" in ~/.config/c360/ctl.json");
        return CTL_USAGE;
    }
    char *buf = NULL;
    size_t len = 0;
    char rerr[128];
    if (ctl_read_file(cf->key_file, CTL_KEY_MAX + 64, &buf, &len, rerr, sizeof rerr) < 0) {
        snprintf(err, cap, "key file %s (from %s): %s", cf->key_file, cf->key_from, rerr);
        return CTL_LOCAL;
    }
    size_t n = len;
    while (n && isspace((unsigned char)buf[n - 1])) n--;
    int ok = n < CTL_KEY_MAX && key_ok(buf, n);
    if (ok) {
        memcpy(key, buf, n);
        key[n] = '\0';
    }
    ctl_wipe(buf, len);
    free(buf);
    if (!ok) {
        snprintf(err, cap, "key file %s (from %s): %s", cf->key_file, cf->key_from,
                 n == 0 ? "empty" : "not an API key (one line of printable characters "
                                    "without spaces expected)");
        return CTL_LOCAL;
    }
    return CTL_OK;
}
