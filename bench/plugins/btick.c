/* btick.c -- "btick", the scheduler benchmark's tick source
 * (bench/run_scheduler.sh, issue 8 scenario 3).
 *
 * Its tick does no work of its own: it only writes down when it ran, so
 * that the benchmark can hold every run against the due time the scheduler
 * had set for it (read from the due set by c360-bench-sched watch). One
 * line per tick, appended with a single write(2) to the file named by
 * $C360_BENCH_TICK_LOG when the plugin is initialised:
 *
 *     <tenant>/<connection> <unix ms, 3 decimals>\n
 *
 * O_APPEND makes each short write land whole, whichever worker process or
 * thread makes it, so no lock and no buffer to lose at a crash or a stop.
 * One system call of a few microseconds per tick: about 1 % of what the
 * host spends on a tick, which the benchmark reports next to the figures.
 * Without the variable the tick writes nothing (a plain no-op source).
 *
 * No webhooks, no records; config: an empty object. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connector_api.h"

#define BTICK_MEMBER_MAX 130 /* "<64>/<64>" + NUL */

static const char btick_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"btick (scheduler benchmark source)\",\"type\":\"object\","
    "\"additionalProperties\":false,\"properties\":{}}";

typedef struct btick_plugin {
    const c360_host_api *host;
    int fd; /* -1: not recording */
} btick_plugin;

typedef struct btick_conn {
    char member[BTICK_MEMBER_MAX]; /* as in the due set: tenant/connection */
    size_t len;
} btick_conn;

/* Only "{}" (whitespace around it allowed): the benchmark seeds exactly
 * that, and anything else is a mistake worth refusing. */
static int btick_config_ok(const char *json, size_t len)
{
    size_t i = 0;
    while (i < len && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r')) i++;
    if (i >= len || json[i++] != '{') return 0;
    while (i < len && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r')) i++;
    if (i >= len || json[i++] != '}') return 0;
    while (i < len && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r')) i++;
    return i == len;
}

static int32_t btick_init(c360_call *call, const c360_host_api *host, void **plugin_data)
{
    if (!C360_HOST_HAS(host, instance_connection)) {
        if (host != NULL && host->call_error != NULL)
            host->call_error(call, "btick needs a 1.x host table");
        return C360_EUNSUPPORTED;
    }
    btick_plugin *p = calloc(1, sizeof *p);
    if (p == NULL) return C360_ENOMEM;
    p->host = host;
    p->fd = -1;
    const char *path = getenv("C360_BENCH_TICK_LOG");
    if (path != NULL && *path) {
        p->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (p->fd < 0) {
            host->call_error(call, "btick: cannot open C360_BENCH_TICK_LOG: %s", strerror(errno));
            free(p);
            return C360_EIO;
        }
    }
    *plugin_data = p;
    return C360_OK;
}

static void btick_fini(void *plugin_data)
{
    btick_plugin *p = plugin_data;
    if (p == NULL) return;
    if (p->fd >= 0) close(p->fd);
    free(p);
}

static int32_t btick_validate_config(c360_call *call, void *plugin_data, const char *json,
                                     size_t len)
{
    btick_plugin *p = plugin_data;
    if (btick_config_ok(json, len)) return C360_OK;
    p->host->config_error(call, "", "must be an empty JSON object");
    return C360_EINVAL;
}

static int32_t btick_instance_open(c360_call *call, void *plugin_data, c360_instance *inst,
                                   const char *json, size_t len, void **instance_data)
{
    btick_plugin *p = plugin_data;
    if (!btick_config_ok(json, len)) {
        p->host->call_error(call, "config not valid");
        return C360_EINVAL;
    }
    btick_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return C360_ENOMEM;
    int n = snprintf(c->member, sizeof c->member, "%s/%s", p->host->instance_tenant(inst),
                     p->host->instance_connection(inst));
    if (n <= 0 || (size_t)n >= sizeof c->member) {
        free(c);
        return C360_EINVAL;
    }
    c->len = (size_t)n;
    *instance_data = c;
    return C360_OK;
}

static void btick_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    free(instance_data);
}

static int32_t btick_tick(c360_call *call, void *plugin_data, void *instance_data)
{
    (void)call;
    btick_plugin *p = plugin_data;
    btick_conn *c = instance_data;
    if (p->fd < 0) return C360_OK;
    /* The same clock as the due set's scores (Redis TIME: the machine's
     * real-time clock; the benchmark runs Redis on this machine). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[BTICK_MEMBER_MAX + 40];
    memcpy(line, c->member, c->len);
    int n = snprintf(line + c->len, sizeof line - c->len, " %lld.%03ld\n",
                     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (ts.tv_nsec / 1000) % 1000);
    if (n > 0) {
        /* A short or failed write loses one sample, which the benchmark
         * then counts as a missed tick: it cannot go unnoticed. */
        ssize_t w = write(p->fd, line, c->len + (size_t)n);
        (void)w;
    }
    return C360_OK;
}

static const c360_plugin_desc btick_desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK),
    .name = "btick",
    .version = "1.0.0",
    .description = "scheduler benchmark source: records when each tick runs",
    .config_schema = btick_schema,
    .init = btick_init,
    .fini = btick_fini,
    .validate_config = btick_validate_config,
    .instance_open = btick_instance_open,
    .instance_close = btick_instance_close,
    .tick = btick_tick,
};

C360_PLUGIN_ENTRY
{
    return &btick_desc;
}
