/* fuzz_ingress.c -- the webhook ingress's HTTP request path
 * (host/pipeline/ingress*.c, behind host/http.c's router on evhttp).
 *
 * The input is the raw bytes a client sends. One listener on 127.0.0.1
 * (a free port) serves c360d's real ingress; per input a client connects,
 * writes the bytes, half-closes and reads until the server closes, while
 * the harness runs the loop. The ingress sees a connection cache filled
 * in process (no Redis: conncache_int.h) and the hello example plugin
 * (the build's hello.so, through the real loader) with one open instance:
 *
 *   /hooks/hello/hello1    active, instance open: webhook_verify runs
 *                          (x-hello-token 0123456789abcdef, ?challenge=)
 *                          and an accepted event meets an event store
 *                          that is not connected (503);
 *   /hooks/hello/hello2    active, instance not open yet (503);
 *   /hooks/hello/hellooff  disabled (410); /hooks/hello/old1 a tombstone
 *                          (410); anything else 404.
 *   /hooks/meta            the meta plugin's app-level URL (no app known:
 *                          401), when meta.so is there.
 *
 * Inputs starting with byte 0x01 instead feed "name: value" lines to the
 * stored-headers encoder (ing_kept_headers_json), whose output must be a
 * JSON object whatever the bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "call.h"
#include "conncache_int.h"
#include "hostapi.h"
#include "http.h"
#include "ingress.h"
#include "ingress_int.h"
#include "instances_int.h"
#include "loader.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#ifndef C360_FUZZ_PLUGIN_DIR
#error "C360_FUZZ_PLUGIN_DIR: the build's plugin directory"
#endif

static struct event_base *g_base;
static ch_http *g_http;
static int g_port;
static ch_ingress *g_ing;
static ch_conncache *g_cc;
static ch_instances *g_set;
static ch_loader *g_ld;
static ch_redis *g_redis;

static void cache_conn(const char *id, const char *plugin, const char *state, uint64_t version,
                       const char *rk)
{
    cc_conn *c = ch_calloc(1, sizeof *c);
    snprintf(c->e.tenant, sizeof c->e.tenant, "acme");
    snprintf(c->e.id, sizeof c->e.id, "%s", id);
    snprintf(c->e.plugin, sizeof c->e.plugin, "%s", plugin);
    snprintf(c->e.state, sizeof c->e.state, "%s", state);
    c->e.version = version;
    if (rk) {
        c->rk = ch_calloc(1, sizeof *c->rk);
        c->rk[0] = ch_strdup(rk);
        c->nrk = 1;
    }
    pthread_mutex_lock(&g_cc->lock);
    cc_snap_put(g_cc->snap, c);
    pthread_mutex_unlock(&g_cc->lock);
}

/* hello1's instance, opened by the plugin itself, put where the opener
 * thread would have put it. */
static void open_hello1(void)
{
    const ch_plugin *p = ch_loader_find(g_ld, "hello");
    if (!p) {
        fprintf(stderr, "fuzz_ingress: hello.so not loaded from %s\n", C360_FUZZ_PLUGIN_DIR);
        abort();
    }
    static const char cfg[] = "{\"greeting\":\"hi\",\"webhook_token\":\"0123456789abcdef\"}";
    ch_inst *i = ch_calloc(1, sizeof *i);
    i->set = g_set;
    i->refs = 1;
    i->ci.magic = CH_INSTANCE_MAGIC;
    i->ci.tenant = ch_strdup("acme");
    i->ci.connection = ch_strdup("hello1");
    i->ci.plugin = ch_plugin_name(p);
    i->plugin = p;
    i->conn = ch_calloc(1, sizeof *i->conn);
    snprintf(i->conn->tenant, sizeof i->conn->tenant, "acme");
    snprintf(i->conn->id, sizeof i->conn->id, "hello1");
    snprintf(i->conn->plugin, sizeof i->conn->plugin, "hello");
    snprintf(i->conn->state, sizeof i->conn->state, "%s", CH_CONN_STATE_ACTIVE);
    i->conn->config = ch_strdup(cfg);
    i->conn->config_len = sizeof cfg - 1;
    i->conn->version = 1;
    c360_call call;
    ch_call_init(&call, "hello", &i->ci, "fz-open", 0);
    void *data = NULL;
    if (ch_plugin_ops_get(p)->instance_open(&call, ch_plugin_data(p), &i->ci, cfg, sizeof cfg - 1,
                                            &data) != C360_OK)
        abort();
    ch_call_done(&call);
    i->ci.data = data;
    inst_slot *s = ch_calloc(1, sizeof *s);
    s->cur = i;
    pthread_mutex_lock(&g_set->lock);
    ch_strmap_put(g_set->slots, "hello1", s);
    pthread_mutex_unlock(&g_set->lock);
}

static void setup(void)
{
    ch_log_set_level(CH_LOG_ERROR);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) ch_log_set_fd(null);
    g_base = event_base_new();
    ch_http_limits lim = {.max_body = 64 * 1024, .max_headers = 8 * 1024, .timeout_s = 2};
    g_http = ch_http_new(g_base, &lim);
    char err[256];
    if (ch_http_listen(g_http, "127.0.0.1", 0, err, sizeof err) != CH_OK) {
        fprintf(stderr, "fuzz_ingress: %s\n", err);
        abort();
    }
    g_port = ch_http_port(g_http);
    ch_hostapi_set_loop_thread();
    g_ld = ch_loader_new(ch_host_api());
    char path[4096];
    snprintf(path, sizeof path, "%s/hello.so", C360_FUZZ_PLUGIN_DIR);
    ch_loader_load_file(g_ld, path);
    snprintf(path, sizeof path, "%s/meta.so", C360_FUZZ_PLUGIN_DIR);
    ch_loader_load_file(g_ld, path);
    ch_redis_url u;
    if (ch_redis_url_parse("unix:///nonexistent/c360-fuzz-no-redis.sock", &u, err, sizeof err) != 0)
        abort();
    /* Never started: the event store is unreachable (503 on accept). */
    g_redis = ch_redis_new(g_base, &u, NULL, NULL);
    g_cc = ch_conncache_new(g_base, &u, NULL, NULL, 0);
    g_set = ch_instances_new(g_ld, NULL);
    cache_conn("hello1", "hello", CH_CONN_STATE_ACTIVE, 1, NULL);
    cache_conn("hello2", "hello", CH_CONN_STATE_ACTIVE, 2, NULL);
    cache_conn("hellooff", "hello", CH_CONN_STATE_DISABLED, 1, NULL);
    cache_conn("meta1", "meta", CH_CONN_STATE_ACTIVE, 1, "page:101");
    pthread_mutex_lock(&g_cc->lock);
    cc_snap_gone(g_cc->snap, "old1", INT64_MAX / 2);
    pthread_mutex_unlock(&g_cc->lock);
    atomic_store(&g_cc->loaded, 1);
    open_hello1();
    ch_ingress_opts o = {.dedup_window_s = 3600};
    g_ing = ch_ingress_new(g_base, g_http, g_redis, g_cc, g_set, g_ld, &o);
}

typedef struct client {
    int fd;
    struct event *ev;
    size_t got;
} client;

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    client *c = arg;
    if (what & EV_TIMEOUT) {
        event_base_loopbreak(g_base);
        return;
    }
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            c->got += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        event_base_loopbreak(g_base); /* EOF or reset: the server is done */
        return;
    }
}

static void run_http(const uint8_t *data, size_t size)
{
    client c = {0};
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof sa) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(c.fd, data + off, size - off);
        if (n <= 0) break; /* the server may refuse early (413, 400) */
        off += (size_t)n;
    }
    shutdown(c.fd, SHUT_WR);
    evutil_make_socket_nonblocking(c.fd);
    c.ev = event_new(g_base, c.fd, EV_READ | EV_PERSIST, on_read, &c);
    struct timeval tv = {3, 0};
    event_add(c.ev, &tv);
    event_base_dispatch(g_base);
    event_free(c.ev);
    close(c.fd);
}

static void run_kept_headers(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    g_ing->nhv = 0;
    char *p = buf, *end = buf + size;
    while (p < end && g_ing->nhv < CH_INGRESS_MAX_HEADERS) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) e = end;
        *e = '\0';
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            g_ing->hv[g_ing->nhv].name = p;
            g_ing->hv[g_ing->nhv].value = colon + 1;
            g_ing->nhv++;
        }
        p = e + 1;
    }
    ing_kept_headers_json(g_ing);
    if (g_ing->hjson_len > CH_INGRESS_KEEP_BYTES + 1) abort();
    json_error_t je;
    json_t *o = json_loadb(g_ing->hjson, g_ing->hjson_len, 0, &je);
    if (!o || !json_is_object(o)) {
        fprintf(stderr, "fuzz_ingress: kept headers are not a JSON object: %s\n", je.text);
        abort();
    }
    json_decref(o);
    g_ing->nhv = 0;
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_base) setup();
    if (size && data[0] == 0x01) run_kept_headers(data + 1, size - 1);
    else run_http(data, size);
    return 0;
}
