/* fuzz_admin.c -- admin API request bodies (host/admin/).
 *
 * The first input byte picks the operation, the rest is its input:
 *
 *   op < 0xc0: a request to one of the routes that take a body (POST, PUT,
 *     PATCH of the route tables, e.g. PATCH /v1/tenants/{tenant}, POST
 *     .../connections, PUT .../routes/{dst}), run by its real handler as
 *     an operator: ch_abody, the field checks, If-Match / version, the
 *     mapping check... With bit 0x40 set the first line is the If-Match
 *     header. Redis is configured at a Unix socket that does not exist,
 *     so a body that passes every check ends in a quick 503: only the
 *     parsing and validation paths run.
 *   0xc0..0xdf: a connection config for a bundled plugin (op picks which),
 *     checked as the API does (conn_config.c: the plugin's JSON Schema,
 *     then its validate_config).
 *   0xe0..0xef: "schema \0 instance": ch_jschema_check, then validate.
 *   0xf0..0xff: a route mapping: ch_mapping_check, then ch_mapping_apply
 *     on a fixed record.
 *
 * Every answer must be a well-formed status with a JSON body. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "api.h"
#include "conn_config.h"
#include "conns_mapping.h"
#include "hostapi.h"
#include "jsonschema.h"
#include "loader.h"
#include "log.h"
#include "rconn.h"

#ifndef C360_FUZZ_PLUGIN_DIR
#error "C360_FUZZ_PLUGIN_DIR: the build's plugin directory"
#endif

#define ROUTES_MAX 64

static const ch_aroute *g_routes[ROUTES_MAX];
static size_t g_nroutes;
static ch_loader *g_ld;
static ch_admin *g_admin;
static json_t *g_record;

static void setup(void)
{
    ch_log_set_level(CH_LOG_ERROR);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) ch_log_set_fd(null);
    ch_redis_url u;
    char why[256];
    if (ch_redis_url_parse("unix:///nonexistent/c360-fuzz-no-redis.sock", &u, why, sizeof why) != 0 ||
        ch_rconn_configure(&u, NULL, NULL, 200) != CH_OK)
        abort();
    g_ld = ch_loader_new(ch_host_api());
    ch_loader_load_dir(g_ld, C360_FUZZ_PLUGIN_DIR);
    if (ch_loader_count(g_ld) == 0) {
        fprintf(stderr, "fuzz_admin: no plugin loaded from %s\n", C360_FUZZ_PLUGIN_DIR);
        abort();
    }
    ch_admin_settings s;
    ch_admin_settings_default(&s);
    s.public_url = "https://c360.example";
    s.callback_timeout_ms = 1000;
    g_admin = ch_admin_new(&s, g_ld, NULL);
    for (size_t t = 0; ch_api_tables[t]; t++)
        for (const ch_aroute *r = ch_api_tables[t]; r->method; r++) {
            if (strcmp(r->method, "POST") && strcmp(r->method, "PUT") && strcmp(r->method, "PATCH"))
                continue;
            /* Sends to a customer's URL: not a parsing path. */
            if (strstr(r->pattern, "/notifications/test")) continue;
            if (g_nroutes < ROUTES_MAX) g_routes[g_nroutes++] = r;
        }
    g_record = json_pack("{s:s, s:s, s:{s:s, s:[i, s]}, s:n}", "type", "lead", "id", "meta:lead:1",
                         "contact", "email", "a@example.com", "list", 1, "two", "z");
}

static const char *param_value(const char *name, size_t len)
{
    static const struct { const char *n, *v; } vals[] = {
        {"tenant", "acme"}, {"conn", "c1"}, {"dst", "c2"}, {"name", "api_key"},
        {"plugin", "meta"}, {"dl", "1767225600000-0"}, {"key", "k1"},
    };
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        if (strlen(vals[i].n) == len && memcmp(vals[i].n, name, len) == 0) return vals[i].v;
    return "x1";
}

static void check_answer(const ch_actx *x)
{
    if (x->status < 200 || x->status > 599) {
        fprintf(stderr, "fuzz_admin: %s %s answered %d\n", x->method, x->path, x->status);
        abort();
    }
}

static void run_route(const ch_aroute *r, const uint8_t *data, size_t size, int with_if_match)
{
    char *buf = malloc(size + 1);
    if (size) memcpy(buf, data, size);
    buf[size] = '\0';
    char *body = buf, *if_match = NULL;
    size_t blen = size;
    if (with_if_match) {
        char *nl = memchr(buf, '\n', size);
        if (nl) {
            *nl = '\0';
            if_match = buf;
            body = nl + 1;
            blen = size - (size_t)(body - buf);
        }
    }
    ch_actx x;
    memset(&x, 0, sizeof x);
    x.admin = g_admin;
    x.method = r->method;
    x.path = r->pattern;
    x.query = "";
    x.request_id = "fz";
    x.remote_ip = "127.0.0.1";
    x.content_type = "application/json";
    x.if_match = if_match;
    x.body = (const uint8_t *)body;
    x.body_len = blen;
    /* The path parameters of the pattern. */
    for (const char *p = strchr(r->pattern, '{'); p && x.nparams < CH_APARAMS_MAX;
         p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e) break;
        char *nm = strndup(p + 1, (size_t)(e - p - 1));
        x.pname[x.nparams] = nm;
        /* Owned by the context: ch_actx_clear frees both. */
        x.pval[x.nparams] = strdup(param_value(p + 1, (size_t)(e - p - 1)));
        if (strcmp(nm, "tenant") == 0) x.tenant = x.pval[x.nparams];
        x.nparams++;
    }
    x.who.role = CH_ROLE_OPERATOR;
    snprintf(x.who.key_id, sizeof x.who.key_id, "k1");
    snprintf(x.who.actor, sizeof x.who.actor, "apikey:k1");
    r->fn(&x);
    check_answer(&x);
    ch_actx_clear(&x);
    free(buf);
}

static void run_config(unsigned which, const uint8_t *data, size_t size)
{
    const ch_plugin *p = ch_loader_get(g_ld, which % ch_loader_count(g_ld));
    json_t *cfg = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!cfg) return;
    json_t *details = json_array();
    int rc = ch_conn_config_check(p, cfg, "fz", 1000, details);
    if ((rc == CH_CFG_OK) != (json_array_size(details) == 0)) {
        fprintf(stderr, "fuzz_admin: config check %d with %zu details\n", rc,
                json_array_size(details));
        abort();
    }
    json_decref(details);
    json_decref(cfg);
}

static void run_schema(const uint8_t *data, size_t size)
{
    const uint8_t *z = memchr(data, 0, size);
    size_t sl = z ? (size_t)(z - data) : size;
    json_t *schema = json_loadb((const char *)data, sl, JSON_DECODE_ANY, NULL);
    if (!schema) return;
    char err[256];
    if (ch_jschema_check(schema, err, sizeof err) == 0) {
        json_t *inst = z ? json_loadb((const char *)z + 1, size - sl - 1, JSON_DECODE_ANY, NULL)
                         : json_null();
        if (inst) {
            json_t *errors = json_array();
            int n = ch_jschema_validate(schema, inst, "/config", errors, err, sizeof err);
            if (n > CH_JS_MAX_ERRORS + 1) abort();
            json_decref(errors);
            json_decref(inst);
        }
    }
    json_decref(schema);
}

static void run_mapping(const uint8_t *data, size_t size)
{
    json_t *m = json_loadb((const char *)data, size, 0, NULL);
    if (!m) return;
    json_t *details = json_array();
    size_t bad = ch_mapping_check(m, "/mapping", details);
    json_t *out = ch_mapping_apply(m, g_record);
    if (!bad && json_is_object(m) && !out) {
        fprintf(stderr, "fuzz_admin: a valid mapping did not apply\n");
        abort();
    }
    json_decref(out);
    json_decref(details);
    json_decref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_admin) setup();
    if (size < 1) return 0;
    uint8_t op = data[0];
    data++;
    size--;
    if (op < 0xc0) run_route(g_routes[(op & 0x3f) % g_nroutes], data, size, op & 0x40);
    else if (op < 0xe0) run_config(op & 0x1f, data, size);
    else if (op < 0xf0) run_schema(data, size);
    else run_mapping(data, size);
    return 0;
}
