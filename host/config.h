/* config.h -- c360d's configuration: a JSON file, overridden by flags.
 *
 * Everything is validated in one place and refused with the JSON Pointer of
 * the offending key ("/redis/url: must start with redis:// or unix://").
 * Unknown keys are refused too: a typo must not silently fall back to a
 * default. Secrets are never values here, only paths to files (or the
 * environment), so a config file can be shown to anyone. */
#ifndef CH_CONFIG_H
#define CH_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "redis_url.h"

#define CH_DEFAULT_LISTEN "127.0.0.1:8360"
#define CH_DEFAULT_DATA_DIR "./c360-data"

typedef struct ch_config {
    char *listen_host;
    int listen_port;
    int redis_dev;            /* no redis.url: start a private redis-server */
    ch_redis_url redis;       /* when !redis_dev */
    char *redis_url;          /* as configured (no secrets in it), or NULL */
    char *redis_username;     /* may be NULL */
    char *redis_password_file;/* may be NULL; C360_REDIS_PASSWORD otherwise */
    char *redis_server_bin;   /* dev default: which redis-server to run */
    char **plugin_dirs;
    size_t plugin_dir_count;
    char *data_dir;
    char *master_key_file;    /* NULL: C360_MASTER_KEY or the dev key file */
    int log_level;
    int shutdown_timeout_ms;
    size_t http_max_body;
    size_t http_max_headers;
    int http_timeout_s;
    int http_request_timeout_s; /* a whole request must arrive within this */
    size_t http_max_connections;
    char *tls_cert_file;      /* both set: the listener speaks HTTPS */
    char *tls_key_file;
    /* The admin API (docs/admin-api.md). */
    int admin_threads;
    int admin_queue_max;
    char *public_url;         /* base URL providers and browsers see */
    int admin_key_rate;       /* requests per second per API key; 0 = off */
    int admin_key_burst;
    int admin_auth_fail_per_min;
    char *operator_key_file;  /* the first operator key is written here */
    /* Host services. */
    size_t state_max_value;
    size_t secret_max_value;
    int rl_slowdown_pct;
    int rl_pause_pct;
    int rl_default_pause_ms;
    int audit_retention_days;
    char *audit_file;         /* optional JSON Lines sink */
    int out_deny_private;     /* SSRF policy for customer URLs */
    char **out_allow;         /* CIDR[:port] exceptions */
    size_t out_allow_count;
    int out_timeout_ms;
    int out_connect_timeout_ms;
    size_t out_max_response;
    int oauth_refresh_margin_s;
    int oauth_lease_ms;
    /* The pipeline (docs/pipeline.md). */
    int workers;              /* worker processes; 0 = threads in the master */
    int worker_threads;       /* threads per worker process */
    int share;                /* items a tenant gets per round-robin turn */
    int max_attempts;         /* then the item is a dead letter */
    int dedup_window_s;
    int retention_days;       /* raw events kept for replay */
    int callback_timeout_ms;  /* a callback past this is a hang */
    int poison_threshold;     /* crashes/hangs before an item is poison */
    int claim_idle_ms;        /* pending this long on a dead host: claimed */
    int delivery_concurrency; /* per destination connection */
    int delivery_batch_max;   /* records per deliver_batch call (ABI 1.4);
                                 1 = never batch */
    int delivery_cap_wait_ms; /* over the cap: ask again this long, then hold */
    int tick_floor_s;         /* shortest tick interval */
    json_t *effective;        /* the merged document, for diffs on SIGHUP */
} ch_config;

/* Loads `file` (NULL: defaults only), applies `overrides` (a JSON object of
 * the same shape, built from command-line flags; may be NULL) and validates.
 * On failure returns CH_ECONFIG and writes "path: reason" into err. */
ch_err ch_config_load(const char *file, json_t *overrides,
                      const char *default_plugin_dir, ch_config **out,
                      char *err, size_t errcap);
void ch_config_free(ch_config *cfg);

/* Calls fn for every leaf key whose value differs between a and b (added,
 * removed or changed), with its JSON Pointer. */
void ch_config_diff(const ch_config *a, const ch_config *b,
                    void (*fn)(const char *pointer, void *arg), void *arg);

/* The documented keys, for --help and docs/operators.md. */
extern const char ch_config_help[];

#endif
