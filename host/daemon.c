/* daemon.c -- start-up, signals, reload and shutdown of the master. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>

#include "connector_api.h"
#include "call.h"
#include "devredis.h"
#include "hostapi.h"
#include "http.h"
#include "log.h"
#include "audit.h"
#include "httpc.h"
#include "keyring.h"
#include "admin.h"
#include "apikeys.h"
#include "conn_ops.h"
#include "notify.h"
#include "oauth_connect.h"
#include "oauth.h"
#include "ratelimit.h"
#include "secrets.h"
#include "rconn.h"
#include "svc.h"
#include "conncache.h"
#include "ingress.h"
#include "instances.h"
#include "maint.h"
#include "metrics.h"
#include "scheduler.h"
#include "supervisor.h"
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
    ch_keyring *keyring;         /* master keys (secrets service) */
    ch_conncache *conncache;     /* pipeline: connections, for the loop */
    ch_instances *instances;     /* pipeline: plugin instances for verify */
    ch_ingress *ingress;         /* pipeline: /hooks/ */
    ch_supervisor *sup;          /* pipeline: worker processes */
    ch_admin *admin;             /* /v1: the admin API and its threads */
    int maint_running;           /* pipeline: scheduler and upkeep thread */
    struct event *sig_term, *sig_int, *sig_hup;
    struct event *drain_timer;
    struct event *sig_chld;
    struct event *devredis_timer; /* restart of a private Redis that died */
    int devredis_backoff_ms;
    int lock_fd;
    int draining;
    int64_t drain_deadline_ms;
};

const ch_loader *ch_daemon_loader(const ch_daemon *d) { return d->loader; }
ch_redis *ch_daemon_redis(const ch_daemon *d) { return d->redis; }
int ch_daemon_draining(const ch_daemon *d) { return d->draining; }
int ch_daemon_conns_loaded(const ch_daemon *d)
{
    return d->conncache && ch_conncache_loaded(d->conncache);
}

/* In-flight work: webhooks waiting for their Redis write, and callbacks
 * running in the workers. Draining waits for both, up to the deadline;
 * whatever is left stays pending in Redis for the next start or another
 * host. */
static int inflight(const ch_daemon *d)
{
    int n = 0;
    if (d->ingress) {
        ch_ingress_stats st;
        ch_ingress_get_stats(d->ingress, &st);
        n += (int)st.pending;
    }
    if (d->sup) n += ch_supervisor_active(d->sup);
    return n;
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
    if (d->http) ch_http_stop_accepting(d->http);
    if (d->sup) ch_supervisor_drain(d->sup);
    d->drain_deadline_ms = ch_monotonic_ms() + d->cfg->shutdown_timeout_ms;
    on_drain_timer(-1, 0, d);
}

/* The private dev Redis is supervised: if it dies, it is started again
 * (with capped backoff) and the async connection reconnects by itself. */
static void on_devredis_restart(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    ch_daemon *d = arg;
    char err[256];
    if (d->draining || !d->devredis) return;
    if (ch_devredis_restart(d->devredis, err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "private redis-server did not restart", "error", err, NULL);
        d->devredis_backoff_ms = d->devredis_backoff_ms ? d->devredis_backoff_ms * 2 : 500;
        if (d->devredis_backoff_ms > 30000) d->devredis_backoff_ms = 30000;
        struct timeval tv = {d->devredis_backoff_ms / 1000, (d->devredis_backoff_ms % 1000) * 1000};
        evtimer_add(d->devredis_timer, &tv);
        return;
    }
    d->devredis_backoff_ms = 0;
}

static void on_child(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    ch_daemon *d = arg;
    if (!d->devredis || !ch_devredis_reap(d->devredis)) return;
    if (d->draining) return;
    ch_log(CH_LOG_ERROR, "private redis-server exited; restarting it", NULL);
    struct timeval tv = {0, 200 * 1000};
    evtimer_add(d->devredis_timer, &tv);
}

typedef struct reload_ctx { ch_daemon *d; ch_config *next; } reload_ctx;

/* What a reload can change live, and what needs a restart. The running
 * document keeps the values actually in force, so a key that needs a
 * restart is reported on every SIGHUP until the restart. */
static void on_changed_key(const char *ptr, void *arg)
{
    reload_ctx *rc = arg;
    json_t *running = rc->d->cfg->effective, *next = rc->next->effective;
    if (strcmp(ptr, "/log_level") == 0) {
        /* Logged before it applies, so raising the level does not hide it. */
        ch_log(CH_LOG_WARN, "config changed", "key", ptr, "applied", "now",
               "value", ch_log_level_name(rc->next->log_level), NULL);
        ch_log_set_level(rc->next->log_level);
        rc->d->cfg->log_level = rc->next->log_level;
        json_object_set(running, "log_level", json_object_get(next, "log_level"));
        if (!json_object_get(next, "log_level")) json_object_del(running, "log_level");
    } else if (strcmp(ptr, "/shutdown_timeout_ms") == 0) {
        ch_log(CH_LOG_WARN, "config changed", "key", ptr, "applied", "now", NULL);
        rc->d->cfg->shutdown_timeout_ms = rc->next->shutdown_timeout_ms;
        json_t *v = json_object_get(next, "shutdown_timeout_ms");
        if (v) json_object_set(running, "shutdown_timeout_ms", v);
        else json_object_del(running, "shutdown_timeout_ms");
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
    /* Diff against a snapshot: on_changed_key edits the running document. */
    ch_config snapshot = *d->cfg;
    snapshot.effective = json_deep_copy(d->cfg->effective);
    ch_config_diff(&snapshot, next, on_changed_key, &rc);
    json_decref(snapshot.effective);
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

/* Plugin loads and refusals concern no tenant: they go to the audit chain
 * of the pseudo-tenant "_system" (file names only, never paths' secrets). */
static void audit_plugins(const ch_loader *ld)
{
    for (size_t i = 0; i < ch_loader_count(ld); i++) {
        const ch_plugin *p = ch_loader_get(ld, i);
        ch_audit_entry e = {.tenant = "_system", .actor = "system", .action = "plugin.load",
                            .target = ch_plugin_name(p), .outcome = "ok"};
        ch_audit_append(&e, NULL);
    }
    for (size_t i = 0; i < ch_loader_refused_count(ld); i++) {
        const char *path = ch_loader_refused_path(ld, i);
        const char *base = strrchr(path, '/');
        char target[128], outcome[64];
        snprintf(target, sizeof target, "%s", base ? base + 1 : path);
        for (char *q = target; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e || *q == '@') *q = '_';
        snprintf(outcome, sizeof outcome, "refused:%s", ch_refusal_code(ch_loader_refused_code(ld, i)));
        ch_audit_entry e = {.tenant = "_system", .actor = "system", .action = "plugin.refuse",
                            .target = target, .outcome = outcome};
        ch_audit_append(&e, NULL);
    }
}

static void wipe_env(const char *name)
{
    char *v = getenv(name);
    if (v) sodium_memzero(v, strlen(v));
    unsetenv(name);
}

/* Every connection the listener accepts is a descriptor: the soft
 * RLIMIT_NOFILE goes up to the hard one (the loop is epoll, no FD_SETSIZE),
 * once, before the listener sizes http.max_connections to it (http.c). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    struct rlimit up = {rl.rlim_max, rl.rlim_max};
    (void)setrlimit(RLIMIT_NOFILE, &up); /* unchanged: http.c lowers the limit to fit */
}

static void configure_services(const ch_config *c)
{
    ch_svc_limits_current.state_max_value = c->state_max_value;
    ch_svc_limits_current.secret_max_value = c->secret_max_value;
    ch_rl_settings rl;
    ch_ratelimit_defaults(&rl);
    rl.slowdown_pct = (unsigned)c->rl_slowdown_pct;
    rl.pause_pct = (unsigned)c->rl_pause_pct;
    rl.default_pause_ms = (uint32_t)c->rl_default_pause_ms;
    if (ch_ratelimit_configure(&rl) != C360_OK)
        ch_log(CH_LOG_WARN, "rate-limit settings refused; using defaults", NULL);
    ch_audit_settings as = {.retention_days = (unsigned)c->audit_retention_days, .file = c->audit_file};
    ch_audit_configure(&as);

    ch_httpc_settings hs;
    ch_httpc_settings_default(&hs);
    hs.deny_private = c->out_deny_private;
    hs.allow = (const char *const *)c->out_allow;
    hs.allow_count = c->out_allow_count;
    hs.timeout_ms = (uint32_t)c->out_timeout_ms;
    hs.connect_timeout_ms = (uint32_t)c->out_connect_timeout_ms;
    hs.max_response_bytes = (uint32_t)c->out_max_response;
    char err[256];
    if (ch_httpc_configure(&hs, err, sizeof err) != C360_OK)
        ch_log(CH_LOG_ERROR, "outbound HTTP settings refused", "error", err, NULL);

    ch_oauth_settings os;
    ch_oauth_settings_default(&os);
    os.refresh_margin_s = (uint32_t)c->oauth_refresh_margin_s;
    os.lease_ms = (uint32_t)c->oauth_lease_ms;
    ch_oauth_configure(&os);
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
    /* One c360d per data directory: a second one would take over the first
     * one's private Redis socket and dev key. */
    char *lockpath = ch_asprintf("%s/c360d.lock", c->data_dir);
    d->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        ch_log(CH_LOG_ERROR, "data directory is in use by another c360d (or not writable)",
               "dir", c->data_dir, "lock", lockpath, "error", strerror(errno), NULL);
        free(lockpath);
        return 1;
    }
    free(lockpath);

    ch_key_origin origin;
    if (ch_keyring_load(c->master_key_file, c->data_dir, c->redis_dev, &d->keyring,
                        &origin, err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "master key refused", "error", err, NULL);
        return 2;
    }
    ch_secrets_init(d->keyring);
    ch_apikeys_init(d->keyring);
    ch_oauth_connect_init(d->keyring);
    /* Credentials read from the environment stay out of children's
     * environments (the private redis-server, anything a plugin runs). */
    wipe_env("C360_MASTER_KEY");
    /* The private dev Redis (started next) takes no password. */
    if (c->redis_dev) wipe_env("C360_REDIS_PASSWORD");
    char nkeys[16];
    snprintf(nkeys, sizeof nkeys, "%zu", ch_keyring_count(d->keyring));
    ch_log(CH_LOG_INFO, "master keyring loaded", "keys", nkeys,
           "active", ch_keyring_active_id(d->keyring), NULL);

    ch_redis_url url = c->redis;
    if (c->redis_dev) {
        if (ch_devredis_start(c->redis_server_bin, c->data_dir, &d->devredis, err, sizeof err) != CH_OK) {
            ch_log(CH_LOG_ERROR, "cannot start the private redis-server", "error", err, NULL);
            return 1;
        }
        memset(&url, 0, sizeof url);
        url.is_unix = 1;
        snprintf(url.path, sizeof url.path, "%s", ch_devredis_socket(d->devredis));
        int dev_key = origin == CH_KEY_DEV_GENERATED || origin == CH_KEY_DEV_FILE;
        ch_log(CH_LOG_WARN, dev_key
                   ? "DEVELOPMENT DEFAULT: no redis.url configured, using a private redis-server "
                     "and a development master key; not for production"
                   : "DEVELOPMENT DEFAULT: no redis.url configured, using a private redis-server; "
                     "not for production",
               "redis", url.path,
               "master_key", origin == CH_KEY_DEV_GENERATED ? "generated in data_dir/master.key"
                             : origin == CH_KEY_DEV_FILE ? "data_dir/master.key (development)"
                             : "configured",
               NULL);
    }

    /* The private dev Redis has no password: C360_REDIS_PASSWORD is for a
     * configured one only. */
    const char *perr = NULL;
    char *password = c->redis_dev ? NULL : ch_redis_password_load(c->redis_password_file, &perr);
    if (perr) {
        ch_log(CH_LOG_ERROR, "cannot read the Redis password file", "file",
               c->redis_password_file, "error", perr, NULL);
        return 2;
    }
    d->redis = ch_redis_new(d->base, &url, c->redis_username, password);
    d->conncache = ch_conncache_new(d->base, &url, c->redis_username, password, 30);
    /* Worker threads reach the same Redis through the services' blocking
     * per-thread connections. */
    ch_rconn_configure(&url, c->redis_username, password, 5000);
    ch_secret_free(password);
    /* Read (or, in the dev default, ignored): either way, not for children. */
    wipe_env("C360_REDIS_PASSWORD");
    configure_services(c);
    ch_hostapi_set_loop_thread();

    d->loader = ch_loader_new(ch_host_api());
    for (size_t i = 0; i < c->plugin_dir_count; i++)
        ch_loader_load_dir(d->loader, c->plugin_dirs[i]);
    audit_plugins(d->loader);
    char nl[16], nr[16];
    snprintf(nl, sizeof nl, "%zu", ch_loader_count(d->loader));
    snprintf(nr, sizeof nr, "%zu", ch_loader_refused_count(d->loader));
    ch_log(CH_LOG_INFO, "plugins loaded", "loaded", nl, "refused", nr, NULL);

    /* The workers are forked (through a single-threaded zygote) before any
     * other thread of ours exists: a fork copies only the calling thread,
     * and a lock held by another one would stay held in the child. */
    if (ch_metrics_init(ch_loader_count(d->loader)) != 0) {
        ch_log(CH_LOG_ERROR, "cannot map shared metrics", "error", strerror(errno), NULL);
        return 1;
    }
    ch_sched_settings ss = {.tick_floor_s = c->tick_floor_s,
                            .callback_timeout_ms = c->callback_timeout_ms};
    ch_sched_configure(&ss);
    ch_rconn_thread_close(); /* no Redis socket of ours shared with children */
    ch_supervisor_conf sc;
    ch_supervisor_conf_from_config(&sc, c, d->loader);
    d->sup = ch_supervisor_new(d->base, &sc);
    if (!d->sup || ch_supervisor_start(d->sup) != 0) {
        ch_log(CH_LOG_ERROR, "cannot start the workers", NULL);
        return 1;
    }
    /* The ingress connection only now, after the fork: a child holding a
     * copy of its socket would keep it (and, with the event base's
     * changelist, its epoll registration) alive after this process closed
     * it on a reconnect. It is asynchronous: nothing before the loop runs
     * waits for it. */
    ch_redis_start(d->redis);

    /* After the fork: the zygote and the workers keep the limit c360d was
     * started with; only this process holds the clients' connections. */
    raise_nofile();
    ch_http_limits lim = {c->http_max_body, c->http_max_headers, c->http_timeout_s,
                          c->http_request_timeout_s, c->http_max_connections};
    d->http = ch_http_new(d->base, &lim);
    ch_api_core_register(d->http, d);
    ch_metrics_register_http(d->http, d->loader);
    ch_metrics_set_redis(d->redis);

    ch_instances_opts io = {.open_timeout_ms = c->callback_timeout_ms};
    d->instances = ch_instances_new(d->loader, &io);
    if (ch_conncache_start(d->conncache) != 0 ||
        ch_instances_opener_start(d->instances, d->conncache) != 0) {
        ch_log(CH_LOG_ERROR, "cannot start the connection cache", NULL);
        return 1;
    }
    ch_ingress_opts ino = {.dedup_window_s = c->dedup_window_s};
    d->ingress = ch_ingress_new(d->base, d->http, d->redis, d->conncache, d->instances,
                                d->loader, &ino);
    ch_admin_settings as;
    ch_admin_settings_default(&as);
    as.threads = (unsigned)c->admin_threads;
    as.queue_max = (unsigned)c->admin_queue_max;
    as.public_url = c->public_url;
    as.callback_timeout_ms = c->callback_timeout_ms;
    as.key_rate_per_s = (uint32_t)c->admin_key_rate;
    as.key_burst = (uint32_t)c->admin_key_burst;
    as.auth_fail_per_min = (uint32_t)c->admin_auth_fail_per_min;
    as.operator_key_file = c->operator_key_file;
    d->admin = ch_admin_new(&as, d->loader, d->instances);
    if (ch_admin_attach(d->admin, d->base, d->http) != 0) {
        ch_log(CH_LOG_ERROR, "cannot start the admin API", NULL);
        return 1;
    }
    if (c->tls_cert_file &&
        ch_http_use_tls(d->http, c->tls_cert_file, c->tls_key_file, err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "cannot set up TLS", "error", err, NULL);
        return 1;
    }
    if (ch_http_listen(d->http, c->listen_host, c->listen_port, err, sizeof err) != CH_OK) {
        ch_log(CH_LOG_ERROR, "cannot listen", "error", err, NULL);
        return 1;
    }
    char where[320];
    snprintf(where, sizeof where, "%s://%s:%d", c->tls_cert_file ? "https" : "http",
             c->listen_host, ch_http_port(d->http));
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", C360_ABI_MAJOR, C360_ABI_MINOR);
    ch_log(CH_LOG_INFO, "c360d listening", "url", where, "version", C360_VERSION, "abi", abi, NULL);
    if (ch_maint_start(c) != CH_OK) {
        ch_log(CH_LOG_ERROR, "cannot start the maintenance thread", NULL);
        return 1;
    }
    d->maint_running = 1;
    /* Notifications to tenants' endpoints: a POST may block for its
     * timeout, so not on the maintenance thread (the scheduler's claims). */
    if (ch_notify_start(NULL) != CH_OK) {
        ch_log(CH_LOG_ERROR, "cannot start the notification sender", NULL);
        return 1;
    }

    return 0;
}

static void teardown(ch_daemon *d)
{
    if (d->maint_running) ch_maint_stop();
    ch_notify_stop();
    ch_metrics_set_redis(NULL);
    ch_supervisor_free(d->sup);  /* workers gone before their plugins' fini */
    if (d->conncache) ch_conncache_stop(d->conncache);
    ch_admin_free(d->admin);     /* its threads hold instances */
    /* A plugin's disconnect callback that overran its deadline may still
     * run on its helper thread: never close its instance or unload its
     * code under it (the process is exiting: leaving them is harmless). */
    int stuck = ch_conn_ops_wait_idle(d->cfg ? d->cfg->callback_timeout_ms : 1000) > 0;
    if (stuck)
        ch_log(CH_LOG_ERROR, "a plugin's disconnect callback is still running at shutdown; "
               "plugins are left loaded", NULL);
    if (!stuck) ch_instances_free(d->instances); /* instance_close, before fini */
    ch_http_free(d->http);
    if (!stuck) ch_loader_free(d->loader);   /* fini of every plugin */
    ch_redis_free(d->redis);     /* what still waits on it is dropped: the
                                    listener and its connections are gone */
    ch_ingress_free(d->ingress);
    ch_conncache_free(d->conncache);
    ch_metrics_shutdown();
    ch_rconn_shutdown();
    ch_devredis_stop(d->devredis);
    if (d->sig_term) event_free(d->sig_term);
    if (d->sig_int) event_free(d->sig_int);
    if (d->sig_hup) event_free(d->sig_hup);
    if (d->drain_timer) event_free(d->drain_timer);
    if (d->sig_chld) event_free(d->sig_chld);
    if (d->devredis_timer) event_free(d->devredis_timer);
    if (d->lock_fd >= 0) close(d->lock_fd); /* releases the flock */
    ch_secrets_init(NULL);
    ch_apikeys_init(NULL);
    ch_oauth_connect_init(NULL);
    ch_keyring_free(d->keyring);
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
    /* epoll's changelist: the adds and deletes of one loop iteration are
     * folded into the fewest epoll_ctl calls. evhttp enables and disables
     * a connection's read and write events around every request (about 4
     * epoll_ctl per request without it, 3 with it: the ingress profile's
     * largest kernel cost). libevent's condition for it: no descriptor the
     * loop watches has a copy (dup(), or a forked child's) that outlives
     * its close here, or the deferred delete misses the registration. The
     * first zygote is forked before any socket the loop watches and ever
     * closes is opened (start(): ch_redis_start after the fork; what it
     * inherits, libevent's signal pair, lives as long as the loop), and a
     * zygote forked again drops every socket opened since before it
     * reports ready (supervisor_zygote.c). */
    struct event_config *ecfg = event_config_new();
    if (!ecfg) abort();
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    d.base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (!d.base) abort();

    /* Signals first: a SIGTERM or SIGHUP that arrives while we start is
     * handled once the loop runs, instead of killing the process. */
    d.lock_fd = -1;
    d.sig_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
    d.sig_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
    d.sig_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    d.sig_chld = evsignal_new(d.base, SIGCHLD, on_child, &d);
    d.drain_timer = evtimer_new(d.base, on_drain_timer, &d);
    d.devredis_timer = evtimer_new(d.base, on_devredis_restart, &d);
    event_add(d.sig_term, NULL);
    event_add(d.sig_int, NULL);
    event_add(d.sig_hup, NULL);
    event_add(d.sig_chld, NULL);

    int rc = start(&d);
    if (rc == 0) {
        event_base_dispatch(d.base);
        ch_log(CH_LOG_INFO, "stopped", NULL);
    }
    teardown(&d);
    libevent_global_shutdown();
    return rc;
}
