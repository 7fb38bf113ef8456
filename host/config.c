/* config.c -- load, merge and validate the configuration. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ssrf.h"
#include "util.h"

#define CONFIG_FILE_MAX (1024 * 1024)

const char ch_config_help[] =
    "Configuration file keys (JSON object; unknown keys are refused):\n"
    "  listen               \"ADDR:PORT\" of the HTTP listener (default " CH_DEFAULT_LISTEN ")\n"
    "  redis.url            redis://HOST:PORT[/DB] or unix:///PATH[?db=N]; absent = dev default\n"
    "                       (a private redis-server on a Unix socket in data_dir)\n"
    "  redis.username       ACL user name (optional)\n"
    "  redis.password_file  file holding the Redis password (or env C360_REDIS_PASSWORD)\n"
    "  redis.server_bin     redis-server binary for the dev default (default redis-server)\n"
    "  plugin_dirs          array of directories whose *.so plugins are loaded\n"
    "  data_dir             directory for dev Redis, dev keys and runtime files (default " CH_DEFAULT_DATA_DIR ")\n"
    "  master_key_file      file holding the master key (mode 0600; or env C360_MASTER_KEY)\n"
    "  log_level            debug | info | warn | error (default info)\n"
    "  shutdown_timeout_ms  how long SIGTERM waits for in-flight work (default 10000)\n"
    "  http.max_body_bytes  largest request body accepted (default 1048576)\n"
    "  http.max_header_bytes largest request header block accepted (default 16384)\n"
    "  http.timeout_s       read/write timeout per HTTP connection (default 10)\n"
    "  http.request_timeout_s a whole request must arrive within this (default 30)\n"
    "  http.max_connections open HTTP connections before accepting pauses (default 4096)\n"
    "  state.max_value_bytes largest plugin state value (default 1048576)\n"
    "  secrets.max_value_bytes largest secret (default 65536)\n"
    "  ratelimit.slowdown_pct provider usage at which buckets slow down (default 90)\n"
    "  ratelimit.pause_pct  provider usage at which buckets pause (default 95)\n"
    "  ratelimit.default_pause_ms pause when a provider gives no reset time (default 60000)\n"
    "  audit.retention_days how long audit entries are kept (default 365; 0 = for ever)\n"
    "  audit.file           also append audit entries to this JSON Lines file\n"
    "  outbound_http.deny_private refuse customer URLs resolving to private, loopback,\n"
    "                       link-local addresses (default true)\n"
    "  outbound_http.allow  array of \"CIDR\" or \"CIDR:port\" exceptions to that rule\n"
    "  outbound_http.timeout_ms / connect_timeout_ms / max_response_bytes\n"
    "                       defaults 30000 / 10000 / 8388608\n"
    "  pipeline.workers     worker processes (default 2; 0 = threads in the master)\n"
    "  pipeline.worker_threads threads per worker (default 4)\n"
    "  pipeline.share       work items per tenant per round-robin turn (default 16)\n"
    "  pipeline.max_attempts attempts before a dead letter (default 8)\n"
    "  pipeline.dedup_window_s webhook dedup window (default 604800)\n"
    "  pipeline.retention_days raw events kept for replay (default 7)\n"
    "  pipeline.callback_timeout_ms a callback running longer is a hang (default 60000)\n"
    "  pipeline.poison_threshold crashes or hangs before an item is poison (default 3)\n"
    "  pipeline.claim_idle_ms pending work of a dead host is claimed after (default 60000;\n"
    "                       never sooner than claim_idle_ms/4 + callback_timeout_ms\n"
    "                       + max(1 s, callback_timeout_ms/10) + 1 s)\n"
    "  pipeline.delivery_concurrency deliveries in flight per destination (default 4)\n"
    "  pipeline.delivery_batch_max records per deliver_batch call of a destination that\n"
    "                       takes several (default 20, 1 to 500; 1 = never batch)\n"
    "  pipeline.delivery_cap_wait_ms over the concurrency cap, ask again for a place this\n"
    "                       long before the delivery is held (default 50, 0 to 1000)\n"
    "  pipeline.tick_floor_s shortest tick interval (default 10)\n"
    "  oauth.refresh_margin_s refresh access tokens this long before expiry (default 300)\n"
    "  oauth.lease_ms       single-flight refresh lease across hosts (default 45000;\n"
    "                       keep it above the token endpoint's timeout)\n";

typedef struct verr { char *buf; size_t cap; int failed; } verr;

static void fail(verr *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(verr *e, const char *path, const char *fmt, ...)
{
    if (e->failed) return; /* the first error is the one reported */
    e->failed = 1;
    int n = snprintf(e->buf, e->cap, "%s: ", path);
    if (n < 0 || (size_t)n >= e->cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf + n, e->cap - (size_t)n, fmt, ap);
    va_end(ap);
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Refuses keys outside `allowed` (NULL-terminated). */
static void only_keys(verr *e, json_t *obj, const char *base,
                      const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0) { ok = 1; break; }
        if (!ok) fail(e, base, "unknown key \"%.64s\"", k);
    }
}

static const char *get_string(verr *e, json_t *obj, const char *key,
                              const char *path, size_t maxlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return NULL;
    if (!json_is_string(v)) { fail(e, path, "must be a string, not %s", json_type_name(v)); return NULL; }
    const char *s = json_string_value(v);
    if (!*s) { fail(e, path, "must not be empty"); return NULL; }
    if (strlen(s) > maxlen) { fail(e, path, "longer than %zu characters", maxlen); return NULL; }
    if (strlen(s) != json_string_length(v)) { fail(e, path, "contains a NUL byte"); return NULL; }
    return s;
}

static long long get_int(verr *e, json_t *obj, const char *key,
                         const char *path, long long min, long long max,
                         long long dflt)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v) return dflt;
    if (!json_is_integer(v)) { fail(e, path, "must be an integer, not %s", json_type_name(v)); return dflt; }
    long long x = json_integer_value(v);
    if (x < min || x > max) { fail(e, path, "must be between %lld and %lld, not %lld", min, max, x); return dflt; }
    return x;
}

static int parse_listen(const char *s, char **host, int *port, char *why, size_t cap)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) { snprintf(why, cap, "must be ADDR:PORT, e.g. 127.0.0.1:8360"); return -1; }
    long long p;
    if (ch_parse_ll(colon + 1, 0, 65535, &p) < 0) { snprintf(why, cap, "port must be 0-65535"); return -1; }
    size_t hl = (size_t)(colon - s);
    /* Accept [::1]:8360 */
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') { *host = ch_strndup(s + 1, hl - 2); }
    else *host = ch_strndup(s, hl);
    *port = (int)p;
    return 0;
}

/* The section `name` of root as an object (NULL if absent), refusing keys
 * outside `allowed`. */
static json_t *section(verr *e, json_t *root, const char *name, const char *const *allowed)
{
    json_t *o = json_object_get(root, name);
    char path[64];
    snprintf(path, sizeof path, "/%s", name);
    if (!o) return NULL;
    if (!json_is_object(o)) { fail(e, path, "must be an object, not %s", json_type_name(o)); return NULL; }
    only_keys(e, o, path, allowed);
    return o;
}

static void validate_services(verr *e, json_t *root, ch_config *c)
{
    static const char *const k_state[] = {"max_value_bytes", NULL};
    json_t *o = section(e, root, "state", k_state);
    c->state_max_value = (size_t)get_int(e, o, "max_value_bytes", "/state/max_value_bytes",
                                         1024, 64LL * 1024 * 1024, 1024 * 1024);
    o = section(e, root, "secrets", k_state);
    c->secret_max_value = (size_t)get_int(e, o, "max_value_bytes", "/secrets/max_value_bytes",
                                          256, 1024 * 1024, 64 * 1024);

    static const char *const k_rl[] = {"slowdown_pct", "pause_pct", "default_pause_ms", NULL};
    o = section(e, root, "ratelimit", k_rl);
    c->rl_slowdown_pct = (int)get_int(e, o, "slowdown_pct", "/ratelimit/slowdown_pct", 1, 100, 90);
    c->rl_pause_pct = (int)get_int(e, o, "pause_pct", "/ratelimit/pause_pct", 1, 100, 95);
    c->rl_default_pause_ms = (int)get_int(e, o, "default_pause_ms", "/ratelimit/default_pause_ms",
                                          100, 24 * 3600 * 1000, 60000);
    if (c->rl_pause_pct < c->rl_slowdown_pct)
        fail(e, "/ratelimit/pause_pct", "must not be below slowdown_pct");

    static const char *const k_audit[] = {"retention_days", "file", NULL};
    o = section(e, root, "audit", k_audit);
    c->audit_retention_days = (int)get_int(e, o, "retention_days", "/audit/retention_days", 0, 36500, 365);
    const char *af = o ? get_string(e, o, "file", "/audit/file", 4096) : NULL;
    if (af) c->audit_file = ch_strdup(af);

    static const char *const k_out[] = {"deny_private", "allow", "timeout_ms", "connect_timeout_ms",
                                        "max_response_bytes", NULL};
    o = section(e, root, "outbound_http", k_out);
    c->out_deny_private = 1;
    json_t *dp = o ? json_object_get(o, "deny_private") : NULL;
    if (dp && !json_is_boolean(dp)) fail(e, "/outbound_http/deny_private", "must be true or false");
    else if (dp) c->out_deny_private = json_is_true(dp);
    json_t *allow = o ? json_object_get(o, "allow") : NULL;
    if (allow && !json_is_array(allow)) fail(e, "/outbound_http/allow", "must be an array of \"CIDR\" or \"CIDR:port\"");
    else if (allow) {
        if (json_array_size(allow) > 256) fail(e, "/outbound_http/allow", "more than 256 entries");
        c->out_allow = ch_calloc(json_array_size(allow) + 1, sizeof *c->out_allow);
        size_t i;
        json_t *a;
        json_array_foreach(allow, i, a) {
            char p[64];
            snprintf(p, sizeof p, "/outbound_http/allow/%zu", i);
            ch_ssrf_rule rule;
            if (!json_is_string(a) || !*json_string_value(a) || json_string_length(a) > 64 ||
                ch_ssrf_rule_parse(json_string_value(a), &rule) != 0) {
                fail(e, p, "must be a CIDR such as \"10.1.2.0/24\" or \"127.0.0.1/32:8080\"");
                continue;
            }
            c->out_allow[c->out_allow_count++] = ch_strdup(json_string_value(a));
        }
    }
    c->out_timeout_ms = (int)get_int(e, o, "timeout_ms", "/outbound_http/timeout_ms", 100, 600000, 30000);
    c->out_connect_timeout_ms = (int)get_int(e, o, "connect_timeout_ms", "/outbound_http/connect_timeout_ms",
                                             100, 120000, 10000);
    c->out_max_response = (size_t)get_int(e, o, "max_response_bytes", "/outbound_http/max_response_bytes",
                                          1024, 256LL * 1024 * 1024, 8 * 1024 * 1024);

    static const char *const k_oauth[] = {"refresh_margin_s", "lease_ms", NULL};
    o = section(e, root, "oauth", k_oauth);
    c->oauth_refresh_margin_s = (int)get_int(e, o, "refresh_margin_s", "/oauth/refresh_margin_s", 0, 86400, 300);
    c->oauth_lease_ms = (int)get_int(e, o, "lease_ms", "/oauth/lease_ms", 1000, 600000, 45000);

    static const char *const k_pipe[] = {"workers", "worker_threads", "share", "max_attempts",
                                         "dedup_window_s", "retention_days", "callback_timeout_ms",
                                         "poison_threshold", "claim_idle_ms",
                                         "delivery_concurrency", "delivery_batch_max",
                                         "delivery_cap_wait_ms", "tick_floor_s", NULL};
    o = section(e, root, "pipeline", k_pipe);
#define PIPE(field, key, lo, hi, dflt) \
    c->field = (int)get_int(e, o, key, "/pipeline/" key, lo, hi, dflt)
    PIPE(workers, "workers", 0, 64, 2);
    PIPE(worker_threads, "worker_threads", 1, 64, 4);
    PIPE(share, "share", 1, 1000, 16);
    PIPE(max_attempts, "max_attempts", 1, 100, 8);
    PIPE(dedup_window_s, "dedup_window_s", 60, 90 * 86400, 7 * 86400);
    PIPE(retention_days, "retention_days", 1, 365, 7);
    PIPE(callback_timeout_ms, "callback_timeout_ms", 100, 3600000, 60000);
    PIPE(poison_threshold, "poison_threshold", 1, 100, 3);
    PIPE(claim_idle_ms, "claim_idle_ms", 1000, 3600000, 60000);
    PIPE(delivery_concurrency, "delivery_concurrency", 1, 1000, 4);
    PIPE(delivery_batch_max, "delivery_batch_max", 1, 500, 20);
    PIPE(delivery_cap_wait_ms, "delivery_cap_wait_ms", 0, 1000, 50);
    PIPE(tick_floor_s, "tick_floor_s", 1, 86400, 10);
#undef PIPE
}

static void validate_admin(verr *e, json_t *root, ch_config *c)
{
    static const char *const k_admin[] = {"threads", "queue_max", "public_url", "key_rate_per_s",
                                          "key_burst", "auth_fail_per_min", "operator_key_file",
                                          NULL};
    json_t *o = section(e, root, "admin", k_admin);
    c->admin_threads = (int)get_int(e, o, "threads", "/admin/threads", 1, 32, 4);
    c->admin_queue_max = (int)get_int(e, o, "queue_max", "/admin/queue_max", 1, 100000, 256);
    c->admin_key_rate = (int)get_int(e, o, "key_rate_per_s", "/admin/key_rate_per_s", 0, 100000, 50);
    c->admin_key_burst = (int)get_int(e, o, "key_burst", "/admin/key_burst", 0, 100000, 100);
    c->admin_auth_fail_per_min = (int)get_int(e, o, "auth_fail_per_min", "/admin/auth_fail_per_min",
                                              1, 100000, 10);
    const char *pu = o ? get_string(e, o, "public_url", "/admin/public_url", 512) : NULL;
    if (pu && strncmp(pu, "https://", 8) != 0 && strncmp(pu, "http://", 7) != 0)
        fail(e, "/admin/public_url", "must start with https:// (or http:// behind a proxy)");
    else if (pu && (strchr(pu, '?') || strchr(pu, '#') || strchr(pu, ' ')))
        fail(e, "/admin/public_url", "must be a base URL without query, fragment or spaces");
    if (pu) c->public_url = ch_strdup(pu);
    else
        c->public_url = ch_asprintf("%s://%s:%d", c->tls_cert_file ? "https" : "http",
                                    c->listen_host, c->listen_port);
    const char *kf = o ? get_string(e, o, "operator_key_file", "/admin/operator_key_file", 4096)
                       : NULL;
    c->operator_key_file = kf ? ch_strdup(kf) : ch_asprintf("%s/operator.key", c->data_dir);
}

static void validate(verr *e, json_t *root, ch_config *c, const char *default_plugin_dir)
{
    static const char *const top[] = {"listen", "redis", "plugin_dirs", "data_dir",
                                      "master_key_file", "log_level",
                                      "shutdown_timeout_ms", "http", "state", "secrets",
                                      "ratelimit", "audit", "outbound_http", "oauth",
                                      "pipeline", "admin", NULL};
    only_keys(e, root, "/", top);

    const char *listen = get_string(e, root, "listen", "/listen", 300);
    char why[256];
    if (parse_listen(listen ? listen : CH_DEFAULT_LISTEN, &c->listen_host,
                     &c->listen_port, why, sizeof why) < 0)
        fail(e, "/listen", "%s", why);

    json_t *redis = json_object_get(root, "redis");
    c->redis_dev = 1;
    if (redis && !json_is_object(redis)) fail(e, "/redis", "must be an object, not %s", json_type_name(redis));
    else if (redis) {
        static const char *const rk[] = {"url", "username", "password_file", "server_bin", NULL};
        only_keys(e, redis, "/redis", rk);
        const char *url = get_string(e, redis, "url", "/redis/url", 4096);
        if (url) {
            if (ch_redis_url_parse(url, &c->redis, why, sizeof why) < 0)
                fail(e, "/redis/url", "%s", why);
            c->redis_dev = 0;
            c->redis_url = ch_strdup(url);
        }
        const char *u = get_string(e, redis, "username", "/redis/username", 128);
        if (u) c->redis_username = ch_strdup(u);
        const char *pf = get_string(e, redis, "password_file", "/redis/password_file", 4096);
        if (pf) c->redis_password_file = ch_strdup(pf);
        const char *sb = get_string(e, redis, "server_bin", "/redis/server_bin", 4096);
        if (sb) c->redis_server_bin = ch_strdup(sb);
        if (c->redis_dev && (u || pf))
            fail(e, "/redis/url", "is required when a username or password_file is set");
    }
    if (!c->redis_server_bin) c->redis_server_bin = ch_strdup("redis-server");

    json_t *dirs = json_object_get(root, "plugin_dirs");
    if (dirs && !json_is_array(dirs)) fail(e, "/plugin_dirs", "must be an array of directory paths, not %s", json_type_name(dirs));
    else if (dirs) {
        if (json_array_size(dirs) > 64) fail(e, "/plugin_dirs", "more than 64 directories");
        size_t i;
        json_t *d;
        c->plugin_dirs = ch_calloc(json_array_size(dirs) + 1, sizeof *c->plugin_dirs);
        json_array_foreach(dirs, i, d) {
            char p[64];
            snprintf(p, sizeof p, "/plugin_dirs/%zu", i);
            if (!json_is_string(d) || !*json_string_value(d)) { fail(e, p, "must be a non-empty string"); continue; }
            c->plugin_dirs[c->plugin_dir_count++] = ch_strdup(json_string_value(d));
        }
    }
    if (c->plugin_dir_count == 0 && default_plugin_dir) {
        free(c->plugin_dirs);
        c->plugin_dirs = ch_calloc(2, sizeof *c->plugin_dirs);
        c->plugin_dirs[c->plugin_dir_count++] = ch_strdup(default_plugin_dir);
    }

    const char *dd = get_string(e, root, "data_dir", "/data_dir", 200);
    c->data_dir = ch_strdup(dd ? dd : CH_DEFAULT_DATA_DIR);
    const char *mk = get_string(e, root, "master_key_file", "/master_key_file", 4096);
    if (mk) c->master_key_file = ch_strdup(mk);

    json_t *lv = json_object_get(root, "log_level");
    c->log_level = CH_LOG_INFO;
    if (lv) {
        int l = json_is_string(lv) ? ch_log_level_parse(json_string_value(lv)) : -1;
        if (l < 0) fail(e, "/log_level", "must be one of debug, info, warn, error");
        else c->log_level = l;
    }
    c->shutdown_timeout_ms = (int)get_int(e, root, "shutdown_timeout_ms", "/shutdown_timeout_ms", 0, 600000, 10000);

    json_t *http = json_object_get(root, "http");
    c->http_max_body = 1024 * 1024;
    c->http_max_headers = 16 * 1024;
    c->http_timeout_s = 10;
    c->http_request_timeout_s = 30;
    c->http_max_connections = 4096;
    if (http && !json_is_object(http)) fail(e, "/http", "must be an object, not %s", json_type_name(http));
    else if (http) {
        static const char *const hk[] = {"max_body_bytes", "max_header_bytes", "timeout_s",
                                         "request_timeout_s", "max_connections",
                                         "tls_cert_file", "tls_key_file", NULL};
        only_keys(e, http, "/http", hk);
        const char *cf = get_string(e, http, "tls_cert_file", "/http/tls_cert_file", 4096);
        const char *kf = get_string(e, http, "tls_key_file", "/http/tls_key_file", 4096);
        if (!cf != !kf) fail(e, cf ? "/http/tls_key_file" : "/http/tls_cert_file",
                             "is required with %s", cf ? "tls_cert_file" : "tls_key_file");
        if (cf) c->tls_cert_file = ch_strdup(cf);
        if (kf) c->tls_key_file = ch_strdup(kf);
        c->http_max_body = (size_t)get_int(e, http, "max_body_bytes", "/http/max_body_bytes", 1024, 64LL * 1024 * 1024, 1024 * 1024);
        c->http_max_headers = (size_t)get_int(e, http, "max_header_bytes", "/http/max_header_bytes", 1024, 1024 * 1024, 16 * 1024);
        c->http_timeout_s = (int)get_int(e, http, "timeout_s", "/http/timeout_s", 1, 3600, 10);
        c->http_request_timeout_s = (int)get_int(e, http, "request_timeout_s",
                                                 "/http/request_timeout_s", 1, 3600, 30);
        c->http_max_connections = (size_t)get_int(e, http, "max_connections",
                                                  "/http/max_connections", 16, 1000000, 4096);
    }
    validate_services(e, root, c);
    validate_admin(e, root, c);
}

/* Deep-merges src into dst (objects merge key by key; anything else replaces). */
static void merge(json_t *dst, json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *cur = json_object_get(dst, k);
        if (json_is_object(cur) && json_is_object(v)) merge(cur, v);
        else json_object_set(dst, k, v);
    }
}

ch_err ch_config_load(const char *file, json_t *overrides,
                      const char *default_plugin_dir, ch_config **out,
                      char *err, size_t errcap)
{
    *out = NULL;
    json_t *root;
    if (file) {
        size_t len;
        char *text = ch_read_file(file, CONFIG_FILE_MAX, &len);
        if (!text) {
            snprintf(err, errcap, "%s: cannot read: %s", file,
                     errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
            return CH_ECONFIG;
        }
        json_error_t je;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        free(text);
        if (!root) {
            snprintf(err, errcap, "%s: line %d column %d: %s", file, je.line, je.column, je.text);
            return CH_ECONFIG;
        }
        if (!json_is_object(root)) {
            snprintf(err, errcap, "/: the configuration must be a JSON object");
            json_decref(root);
            return CH_ECONFIG;
        }
    } else {
        root = json_object();
    }
    if (overrides) merge(root, overrides);

    ch_config *c = ch_calloc(1, sizeof *c);
    verr e = {err, errcap, 0};
    validate(&e, root, c, default_plugin_dir);
    if (e.failed) {
        json_decref(root);
        ch_config_free(c);
        return CH_ECONFIG;
    }
    c->effective = root;
    *out = c;
    return CH_OK;
}

void ch_config_free(ch_config *c)
{
    if (!c) return;
    free(c->listen_host);
    free(c->redis_url);
    free(c->redis_username);
    free(c->redis_password_file);
    free(c->redis_server_bin);
    for (size_t i = 0; i < c->plugin_dir_count; i++) free(c->plugin_dirs[i]);
    free(c->plugin_dirs);
    free(c->data_dir);
    free(c->master_key_file);
    free(c->audit_file);
    free(c->tls_cert_file);
    free(c->tls_key_file);
    free(c->public_url);
    free(c->operator_key_file);
    for (size_t i = 0; i < c->out_allow_count; i++) free(c->out_allow[i]);
    free(c->out_allow);
    json_decref(c->effective);
    free(c);
}

static void diff(json_t *a, json_t *b, char *path, size_t plen, size_t cap,
                 void (*fn)(const char *, void *), void *arg)
{
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) {
            int n = snprintf(path + plen, cap - plen, "/%s", k);
            if (n < 0 || plen + (size_t)n >= cap) continue;
            diff(v, json_object_get(b, k), path, plen + (size_t)n, cap, fn, arg);
        }
        json_object_foreach(b, k, v) {
            if (json_object_get(a, k)) continue;
            int n = snprintf(path + plen, cap - plen, "/%s", k);
            if (n < 0 || plen + (size_t)n >= cap) continue;
            fn(path, arg);
        }
        path[plen] = '\0';
        return;
    }
    if (!json_equal(a, b)) fn(plen ? path : "/", arg);
    path[plen] = '\0';
}

void ch_config_diff(const ch_config *a, const ch_config *b,
                    void (*fn)(const char *, void *), void *arg)
{
    char path[512] = "";
    diff(a->effective, b->effective, path, 0, sizeof path, fn, arg);
}
