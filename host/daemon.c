/* daemon.c -- start-up, signals, reload and shutdown of the master. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>

#include "connector_api.h"
#include "call.h"
#include "devredis.h"
#include "hostapi.h"
#include "http.h"
#include "log.h"
#include "masterkey.h"
#include "rconn.h"
#include "svc.h"
#include "util.h"

#define DRAIN_POLL_MS 50

struct ch_daemon {
    struct event_base *base;
    const char *config_file;
    json_t *overrides;
    const char *default_plugin_dir;
    ch_config *cfg;
    ch_devredis *devredis;
    ch_redis *redis;
    ch_loader *loader;
    ch_http *http;
    unsigned char *master_key;   /* sodium_malloc'd, CH_MASTER_KEY_BYTES */
    struct event *sig_term, *sig_int, *sig_hup;
    struct event *drain_timer;
    int draining;
    int64_t drain_deadline_ms;
};

const ch_loader *ch_daemon_loader(const ch_daemon *d) { return d->loader; }
ch_redis *ch_daemon_redis(const ch_daemon *d) { return d->redis; }
int ch_daemon_draining(const ch_daemon *d) { return d->draining; }

/* In-flight work of the master: HTTP handlers finish synchronously on the
 * loop, so today draining waits for nothing but Redis replies in flight.
 * The pipeline (workers, deliveries) will add its own counts here. */
static int inflight(const ch_daemon *d)
{
    (void)d;
    return 0;
}

static void on_drain_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ch_daemon *d = arg;
    int n = inflight(d);
    if (n == 0 || ch_monotonic_ms() >= d->drain_deadline_ms) {
        if (n) {
            char left[16];
            snprintf(left, sizeof left, "%d", n);
            ch_log(CH_LOG_WARN, "shutdown deadline reached; leaving work pending", "inflight", left, NULL);
        }
        event_base_loopexit(d->base, NULL);
        return;
    }
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    evtimer_add(d->drain_timer, &tv);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    ch_daemon *d = arg;
    if (d->draining) {
        ch_log(CH_LOG_WARN, "second stop signal: exiting now", NULL);
        event_base_loopexit(d->base, NULL);
        return;
    }
    d->draining = 1;
    ch_log(CH_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    ch_http_stop_accepting(d->http);
    d->drain_deadline_ms = ch_monotonic_ms() + d->cfg->shutdown_timeout_ms;
    on_drain_timer(-1, 0, d);
}

typedef struct reload_ctx { ch_daemon *d; ch_config *next; } reload_ctx;

/* What a reload can change live, and what needs a restart. */
static void on_changed_key(const char *ptr, void *arg)
{
    reload_ctx *rc = arg;
    if (strcmp(ptr, "/log_level") == 0) {
        ch_log_set_level(rc->next->log_level);
        ch_log(CH_LOG_INFO, "config changed", "key", ptr, "applied", "now",
               "value", ch_log_level_name(rc->next->log_level), NULL);
    } else if (strcmp(ptr, "/shutdown_timeout_ms") == 0) {
        ch_log(CH_LOG_INFO, "config changed", "key", ptr, "applied", "now", NULL);
    } else {
        ch_log(CH_LOG_WARN, "config changed", "key", ptr, "applied", "after restart", NULL);
    }
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    ch_daemon *d = arg;
    char err[512];
    ch_config *next = NULL;
    ch_log(CH_LOG_INFO, "SIGHUP: re-reading configuration", "file",
           d->config_file ? d->config_file : "(none: flags only)", NULL);
    if (ch_config_load(d->config_file, d->overrides, d->default_plugin_dir, &next,
                       err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "new configuration refused; keeping the running one", "error", err, NULL);
        return;
    }
    reload_ctx rc = {d, next};
    ch_config_diff(d->cfg, next, on_changed_key, &rc);
    /* Keep the running settings that need a restart; take the live ones. */
    d->cfg->log_level = next->log_level;
    d->cfg->shutdown_timeout_ms = next->shutdown_timeout_ms;
    json_t *keep = d->cfg->effective;
    d->cfg->effective = next->effective; /* so the next diff is against the file */
    next->effective = keep;
    ch_config_free(next);
    ch_log(CH_LOG_INFO, "configuration reloaded", NULL);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST) return -1;
    return 0;
}

static int start(ch_daemon *d)
{
    char err[512];
    ch_config *c = d->cfg;

    if (mkdir_p(c->data_dir) < 0) {
        ch_log(CH_LOG_ERROR, "cannot create data directory", "dir", c->data_dir,
               "error", strerror(errno), NULL);
        return 1;
    }

    d->master_key = sodium_malloc(CH_MASTER_KEY_BYTES);
    if (!d->master_key) abort();
    ch_key_origin origin;
    if (ch_master_key_load(c->master_key_file, c->data_dir, c->redis_dev,
                           d->master_key, &origin, err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "master key refused", "error", err, NULL);
        return 2;
    }

    ch_redis_url url = c->redis;
    if (c->redis_dev) {
        if (ch_devredis_start(c->redis_server_bin, c->data_dir, &d->devredis, err, sizeof err) != CH_OK) {
            ch_log(CH_LOG_ERROR, "cannot start the private redis-server", "error", err, NULL);
            return 1;
        }
        memset(&url, 0, sizeof url);
        url.is_unix = 1;
        snprintf(url.path, sizeof url.path, "%s", ch_devredis_socket(d->devredis));
        ch_log(CH_LOG_WARN, "DEVELOPMENT DEFAULT: no redis.url configured, using a private redis-server "
               "and a generated dev master key; not for production",
               "redis", url.path,
               "master_key", origin == CH_KEY_DEV_GENERATED ? "generated in data_dir/master.key"
                             : origin == CH_KEY_DEV_FILE ? "data_dir/master.key" : "configured",
               NULL);
    }

    const char *perr = NULL;
    char *password = ch_redis_password_load(c->redis_password_file, &perr);
    if (perr) {
        ch_log(CH_LOG_ERROR, "cannot read the Redis password file", "file",
               c->redis_password_file, "error", perr, NULL);
        return 2;
    }
    d->redis = ch_redis_new(d->base, &url, c->redis_username, password);
    /* Worker threads reach the same Redis through the services' blocking
     * per-thread connections. */
    ch_rconn_configure(&url, c->redis_username, password, 5000);
    ch_secret_free(password);
    ch_svc_limits_current.state_max_value = c->state_max_value;
    ch_svc_limits_current.secret_max_value = c->secret_max_value;
    ch_hostapi_set_loop_thread();
    ch_redis_start(d->redis);

    d->loader = ch_loader_new(ch_host_api());
    for (size_t i = 0; i < c->plugin_dir_count; i++)
        ch_loader_load_dir(d->loader, c->plugin_dirs[i]);
    char nl[16], nr[16];
    snprintf(nl, sizeof nl, "%zu", ch_loader_count(d->loader));
    snprintf(nr, sizeof nr, "%zu", ch_loader_refused_count(d->loader));
    ch_log(CH_LOG_INFO, "plugins loaded", "loaded", nl, "refused", nr, NULL);

    ch_http_limits lim = {c->http_max_body, c->http_max_headers, c->http_timeout_s};
    d->http = ch_http_new(d->base, &lim);
    ch_api_core_register(d->http, d);
    if (ch_http_listen(d->http, c->listen_host, c->listen_port, err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "cannot listen", "error", err, NULL);
        return 1;
    }
    char where[320];
    snprintf(where, sizeof where, "http://%s:%d", c->listen_host, ch_http_port(d->http));
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", C360_ABI_MAJOR, C360_ABI_MINOR);
    ch_log(CH_LOG_INFO, "c360d listening", "url", where, "version", C360_VERSION, "abi", abi, NULL);

    d->sig_term = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
    d->sig_int = evsignal_new(d->base, SIGINT, on_stop_signal, d);
    d->sig_hup = evsignal_new(d->base, SIGHUP, on_hup, d);
    d->drain_timer = evtimer_new(d->base, on_drain_timer, d);
    event_add(d->sig_term, NULL);
    event_add(d->sig_int, NULL);
    event_add(d->sig_hup, NULL);
    return 0;
}

static void teardown(ch_daemon *d)
{
    ch_http_free(d->http);
    ch_loader_free(d->loader);   /* fini of every plugin */
    ch_redis_free(d->redis);
    ch_rconn_shutdown();
    ch_devredis_stop(d->devredis);
    if (d->sig_term) event_free(d->sig_term);
    if (d->sig_int) event_free(d->sig_int);
    if (d->sig_hup) event_free(d->sig_hup);
    if (d->drain_timer) event_free(d->drain_timer);
    if (d->master_key) sodium_free(d->master_key);
    ch_config_free(d->cfg);
    event_base_free(d->base);
}

int ch_daemon_run(const char *config_file, json_t *overrides,
                  const char *default_plugin_dir)
{
    char err[512];
    ch_daemon d;
    memset(&d, 0, sizeof d);
    d.config_file = config_file;
    d.overrides = overrides;
    d.default_plugin_dir = default_plugin_dir;

    if (ch_config_load(config_file, overrides, default_plugin_dir, &d.cfg, err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "configuration refused", "error", err, NULL);
        fprintf(stderr, "c360d: configuration refused: %s\n", err);
        return 2;
    }
    ch_log_set_level(d.cfg->log_level);
    if (sodium_init() < 0) {
        ch_log(CH_LOG_ERROR, "libsodium failed to initialise", NULL);
        ch_config_free(d.cfg);
        return 1;
    }
    /* Writes to a closed socket must be an error, not a process kill. */
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    d.base = event_base_new();
    if (!d.base) abort();

    int rc = start(&d);
    if (rc == 0) {
        event_base_dispatch(d.base);
        ch_log(CH_LOG_INFO, "stopped", NULL);
    }
    teardown(&d);
    libevent_global_shutdown();
    return rc;
}
