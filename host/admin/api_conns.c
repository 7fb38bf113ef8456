/* api_conns.c -- /v1/tenants/{tenant}/connections (docs/api/connections.md):
 * list, create, dry-run validate, get, update, disconnect, pause, resume,
 * sync now.
 *
 * The registry is conns.h (which audits create / update / state changes
 * itself); config checks are conn_config.h (the plugin's JSON Schema, then
 * its validate_config); deletion is conn_ops.h. Connection ids are global,
 * so every read goes through the tenant of the path (ch_conn_get(x->tenant,
 * id)): another tenant's id is simply "not found" here. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "conn_config.h"
#include "conn_ops.h"
#include "connector_api.h"
#include "conns.h"
#include "loader.h"
#include "rconn.h"
#include "scheduler.h"
#include "tenants.h"

#define INTERVAL_MAX 86400
#define LIST_DEFAULT 50
#define LIST_MAX 200

/* ---- helpers ------------------------------------------------------------ */

static json_t *detail(const char *path, const char *msg)
{
    return json_pack("{s:s, s:s}", "path", path, "message", msg);
}

static const ch_plugin *find_plugin(ch_actx *x, const char *name)
{
    const ch_loader *ld = ch_admin_loader(x->admin);
    return ld && name ? ch_loader_find(ld, name) : NULL;
}

/* Names: 1..200 bytes (UTF-8: jansson checked it), no control characters. */
static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > CH_CONN_NAME_MAX) return 0;
    for (const char *p = n; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

/* The URL a provider is given for this connection's webhooks: the
 * per-connection one, or the plugin's app-level one when the plugin routes
 * events itself (webhook_route). NULL for plugins without webhooks. */
static json_t *webhook_url(ch_actx *x, const ch_plugin *p, const char *conn)
{
    if (!p || !(ch_plugin_desc(p)->capabilities & C360_CAP_SOURCE_WEBHOOK)) return json_null();
    const char *base = ch_admin_public_url(x->admin);
    char url[1024];
    if (ch_plugin_ops_get(p)->webhook_route)
        snprintf(url, sizeof url, "%s/hooks/%s", base ? base : "", ch_plugin_name(p));
    else
        snprintf(url, sizeof url, "%s/hooks/%s/%s", base ? base : "", ch_plugin_name(p), conn);
    return json_string(url);
}

static json_t *conn_json(ch_actx *x, const ch_conn *c)
{
    json_t *cfg = json_loadb(c->config, c->config_len, JSON_DECODE_ANY, NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:o}",
                     "id", c->id, "tenant", c->tenant, "plugin", c->plugin, "name", c->name,
                     "config", cfg ? cfg : json_null(), "state", c->state, "cause", c->cause,
                     "interval_s", (json_int_t)c->interval_s, "version", (json_int_t)c->version,
                     "created_ms", (json_int_t)c->created_ms, "updated_ms",
                     (json_int_t)c->updated_ms, "webhook_url",
                     webhook_url(x, find_plugin(x, c->plugin), c->id));
}

static void reply_conn(ch_actx *x, int status, const ch_conn *c)
{
    ch_aetag(x, c->version);
    ch_areply(x, status, conn_json(x, c));
}

/* The connection {conn} of the path, or NULL after answering. */
static ch_conn *load_conn(ch_actx *x) { return ch_aconn_get(x, ch_aparam(x, "conn"), NULL); }

/* Plugin loaded (404 plugin_not_found) and enabled for the tenant (403
 * plugin_not_enabled). *cap receives the tenant's cap for it. */
static const ch_plugin *usable_plugin(ch_actx *x, const char *name, uint32_t *cap)
{
    const ch_plugin *p = find_plugin(x, name);
    if (!p) {
        ch_aerr(x, 404, "plugin_not_found", "no plugin %s is loaded", name);
        return NULL;
    }
    int enabled = 0;
    uint32_t max = 0;
    int32_t st = ch_tenant_plugin(x->tenant, name, &enabled, &max);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant plugin");
        return NULL;
    }
    if (!enabled) {
        ch_aerr(x, 403, "plugin_not_enabled", "plugin %s is not enabled for tenant %s", name,
                x->tenant);
        return NULL;
    }
    if (cap) *cap = max;
    return p;
}

/* Runs the config checks; answers 422 invalid_config and returns 0 when
 * they fail. */
static int config_ok(ch_actx *x, const ch_plugin *p, const json_t *config)
{
    json_t *details = json_array();
    int rc = ch_conn_config_check(p, config, x->request_id, ch_admin_callback_timeout_ms(x->admin),
                                  details);
    if (rc == CH_CFG_OK) {
        json_decref(details);
        return 1;
    }
    ch_aerr_details(x, 422, "invalid_config",
                    rc == CH_CFG_SCHEMA_BROKEN ? "the plugin's config schema cannot be applied"
                                               : "the config is not valid for this plugin",
                    details);
    return 0;
}

/* KEYS[1] the tenant's conns set; ARGV[1] its key prefix, ARGV[2] a
 * plugin. Returns {all connections, those of the plugin}. */
static ch_script s_count = CH_SCRIPT(
    "local all, mine = 0, 0\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  all = all + 1\n"
    "  if redis.call('HGET', ARGV[1] .. 'conn:' .. id, 'plugin') == ARGV[2] then mine = mine + 1 end\n"
    "end\n"
    "return {all, mine}\n");

/* The caps: the plugin's for this tenant and the tenant's overall
 * max_connections (limits). Checked before the write: two creates racing
 * for the last place may both get it (documented). */
static int within_limits(ch_actx *x, const char *plugin, uint32_t plugin_cap)
{
    ch_tenant *t = NULL;
    int32_t st = ch_tenant_get(x->tenant, &t);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "tenant");
        return 0;
    }
    json_int_t tcap = json_integer_value(json_object_get(t->limits, "max_connections"));
    ch_tenant_free(t);
    if (plugin_cap == 0 && tcap <= 0) return 1;
    char *ks = ch_key_tenant(x->tenant, "conns");
    char *prefix = ch_key_tenant_prefix(x->tenant);
    const char *argv[3] = {ks, prefix, plugin};
    redisReply *r = ch_rconn_eval(&s_count, 1, 3, argv, NULL);
    free(ks);
    free(prefix);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        if (r) freeReplyObject(r);
        ch_aerr_status(x, C360_EIO, "connections");
        return 0;
    }
    long long all = r->element[0]->integer, mine = r->element[1]->integer;
    freeReplyObject(r);
    if (plugin_cap && mine >= (long long)plugin_cap) {
        ch_aerr(x, 409, "limit_reached", "tenant %s may have at most %" PRIu32
                " connections of plugin %s", x->tenant, plugin_cap, plugin);
        return 0;
    }
    if (tcap > 0 && all >= tcap) {
        ch_aerr(x, 409, "limit_reached", "tenant %s may have at most %lld connections", x->tenant,
                (long long)tcap);
        return 0;
    }
    return 1;
}

static void gen_id(char out[17])
{
    unsigned char b[8];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, 17, b, sizeof b);
}

/* ---- list / get ---------------------------------------------------------- */

static void h_list(ch_actx *x)
{
    ch_apage pg;
    if (ch_apage_parse(x, LIST_DEFAULT, LIST_MAX, &pg) != 0) return;
    if (!ch_atenant_found(x)) return;
    char **ids;
    size_t n;
    int32_t st = ch_conn_list(x->tenant, &ids, &n);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connections");
        return;
    }
    json_t *page;
    char next[CH_ID_MAX + 1];
    ch_apage_ids(ids, n, &pg, &page, next, sizeof next);
    ch_conn_ids_free(ids, n);
    json_t *items = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(page, i, v) {
        ch_conn *c = NULL;
        st = ch_conn_get(x->tenant, json_string_value(v), &c);
        if (st == C360_ENOTFOUND) continue; /* deleted meanwhile */
        if (st != C360_OK) break;
        json_array_append_new(items, conn_json(x, c));
        ch_conn_free(c);
    }
    json_decref(page);
    if (st != C360_OK && st != C360_ENOTFOUND) {
        json_decref(items);
        ch_aerr_status(x, st, "connections");
        return;
    }
    ch_areply(x, 200, ch_alist(items, next));
}

static void h_get(ch_actx *x)
{
    ch_conn *c = load_conn(x);
    if (!c) return;
    reply_conn(x, 200, c);
    ch_conn_free(c);
}

/* ---- create / validate ----------------------------------------------------- */

/* Field checks that do not need Redis (into details). */
static void check_fields(json_t *body, json_t *details)
{
    json_t *id = json_object_get(body, "id");
    /* Ids starting with '_' belong to the host (the notification secret
     * lives under the pseudo-connection "_notify"). */
    if (id && (!ch_id_valid(json_string_value(id)) ||
               strcmp(json_string_value(id), "validate") == 0 ||
               json_string_value(id)[0] == '_'))
        json_array_append_new(details, detail("/id", "must be 1..64 of [A-Za-z0-9_-], not "
                                                     "starting with '_', not \"validate\""));
    json_t *name = json_object_get(body, "name");
    if (name && !name_ok(json_string_value(name)))
        json_array_append_new(details,
                              detail("/name", "must be 1..200 bytes without control characters"));
    json_t *iv = json_object_get(body, "interval_s");
    if (iv && (json_integer_value(iv) < 0 || json_integer_value(iv) > INTERVAL_MAX))
        json_array_append_new(details, detail("/interval_s", "must be between 0 and 86400"));
}

static void h_create(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"id", CH_AF_STRING, 0, CH_ID_MAX},
        {"plugin", CH_AF_STRING, 1, CH_CONN_PLUGIN_MAX - 1},
        {"name", CH_AF_STRING, 1, CH_CONN_NAME_MAX},
        {"config", CH_AF_OBJECT, 0, 0},
        {"interval_s", CH_AF_INT, 0, 0},
        {NULL},
    };
    json_t *body = ch_abody(x, fields);
    if (!body) return;
    json_t *details = json_array();
    check_fields(body, details);
    if (json_array_size(details)) {
        ch_aerr_details(x, 422, "validation", "the body has invalid fields", details);
        json_decref(body);
        return;
    }
    json_decref(details);
    const char *plugin = json_string_value(json_object_get(body, "plugin"));
    json_t *config = json_object_get(body, "config");
    json_t *empty = json_object();
    if (!config) config = empty;
    uint32_t cap = 0;
    const ch_plugin *p = NULL;
    char *text = NULL;
    if (!ch_atenant_found(x) || !(p = usable_plugin(x, plugin, &cap)) ||
        !within_limits(x, plugin, cap) || !config_ok(x, p, config))
        goto out;
    text = json_dumps(config, JSON_COMPACT);
    if (!text || strlen(text) > CH_CONN_CONFIG_MAX) {
        ch_aerr(x, 413, "too_large", "the config is larger than %d bytes", CH_CONN_CONFIG_MAX);
        goto out;
    }
    const char *given = json_string_value(json_object_get(body, "id"));
    char id[CH_ID_MAX + 1];
    int32_t st = C360_ECONFLICT;
    /* A generated id that collides (2^-64) is drawn again; a given one is
     * the caller's to change. */
    for (int attempt = 0; attempt < (given ? 1 : 3) && st == C360_ECONFLICT; attempt++) {
        if (given) snprintf(id, sizeof id, "%s", given);
        else gen_id(id);
        ch_conn_spec spec = {
            .tenant = x->tenant, .id = id, .plugin = plugin, .config = text,
            .config_len = strlen(text),
            .interval_s = (uint32_t)json_integer_value(json_object_get(body, "interval_s")),
            .ticks = (ch_plugin_desc(p)->capabilities & C360_CAP_SOURCE_TICK) != 0,
            .name = json_string_value(json_object_get(body, "name")),
            .must_create = 1,
        };
        st = ch_conn_put(&spec, x->who.actor, x->request_id, NULL, NULL);
    }
    if (st == C360_ECONFLICT) {
        ch_aerr(x, 409, "conflict", "connection id %s is already in use", id);
        goto out;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connection");
        goto out;
    }
    ch_conn *c = NULL;
    st = ch_conn_get(x->tenant, id, &c);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connection");
        goto out;
    }
    char loc[256];
    snprintf(loc, sizeof loc, "/v1/tenants/%s/connections/%s", x->tenant, id);
    ch_aheader(x, "Location", loc);
    reply_conn(x, 201, c);
    ch_conn_free(c);
out:
    free(text);
    json_decref(empty);
    json_decref(body);
}

static void h_validate(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"plugin", CH_AF_STRING, 1, CH_CONN_PLUGIN_MAX - 1},
        {"config", CH_AF_OBJECT, 0, 0},
        {NULL},
    };
    json_t *body = ch_abody(x, fields);
    if (!body) return;
    json_t *config = json_object_get(body, "config");
    json_t *empty = json_object();
    const ch_plugin *p;
    if (ch_atenant_found(x) &&
        (p = usable_plugin(x, json_string_value(json_object_get(body, "plugin")), NULL)) &&
        config_ok(x, p, config ? config : empty))
        ch_areply(x, 200, json_pack("{s:b}", "valid", 1));
    json_decref(empty);
    json_decref(body);
}

/* ---- update ---------------------------------------------------------------- */

static void h_patch(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"name", CH_AF_STRING, 0, CH_CONN_NAME_MAX},
        {"config", CH_AF_OBJECT, 0, 0},
        {"interval_s", CH_AF_INT, 0, 0},
        {"version", CH_AF_INT, 0, 0},
        {NULL},
    };
    json_t *body = ch_abody(x, fields);
    if (!body) return;
    ch_conn *c = NULL;
    char *text = NULL;
    uint64_t expected = 0;
    int has = ch_aexpected_version(x, body, &expected);
    if (has < 0) goto out;
    json_t *details = json_array();
    check_fields(body, details);
    if (json_array_size(details)) {
        ch_aerr_details(x, 422, "validation", "the body has invalid fields", details);
        goto out;
    }
    json_decref(details);
    if (!(c = load_conn(x))) goto out;
    if (has && expected != c->version) {
        ch_aetag(x, c->version);
        ch_aerr(x, 409, "version_conflict", "connection %s is at version %" PRIu64 ", not %" PRIu64,
                c->id, c->version, expected);
        goto out;
    }
    if (strcmp(c->state, CH_CONN_STATE_DISABLED) == 0) {
        ch_aerr(x, 409, "invalid_state", "connection %s is being disconnected", c->id);
        goto out;
    }
    json_t *name = json_object_get(body, "name"), *config = json_object_get(body, "config"),
           *iv = json_object_get(body, "interval_s");
    if (!name && !config && !iv) { /* nothing to change */
        reply_conn(x, 200, c);
        goto out;
    }
    const ch_plugin *p = NULL;
    if (config) {
        if (!(p = usable_plugin(x, c->plugin, NULL)) || !config_ok(x, p, config)) goto out;
        text = json_dumps(config, JSON_COMPACT);
        if (!text || strlen(text) > CH_CONN_CONFIG_MAX) {
            ch_aerr(x, 413, "too_large", "the config is larger than %d bytes", CH_CONN_CONFIG_MAX);
            goto out;
        }
    } else {
        p = find_plugin(x, c->plugin);
    }
    ch_conn_spec spec = {
        .tenant = x->tenant, .id = c->id, .plugin = c->plugin,
        .config = text ? text : c->config, .config_len = text ? strlen(text) : c->config_len,
        .interval_s = iv ? (uint32_t)json_integer_value(iv) : c->interval_s,
        .ticks = p ? (ch_plugin_desc(p)->capabilities & C360_CAP_SOURCE_TICK) != 0 : c->ticks,
        .name = name ? json_string_value(name) : NULL,
        /* What was read is what is replaced: a change in between is a
         * conflict even without If-Match (no lost update). */
        .expect_version = c->version,
    };
    int32_t st = ch_conn_put(&spec, x->who.actor, x->request_id, NULL, NULL);
    if (st == C360_ECONFLICT) {
        ch_aerr(x, 409, "version_conflict", "connection %s changed meanwhile; read it again",
                c->id);
        goto out;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connection");
        goto out;
    }
    ch_conn_free(c);
    c = NULL;
    st = ch_conn_get(x->tenant, ch_aparam(x, "conn"), &c);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connection");
        goto out;
    }
    reply_conn(x, 200, c);
out:
    ch_conn_free(c);
    free(text);
    json_decref(body);
}

/* ---- disconnect -------------------------------------------------------------- */

static void h_delete(ch_actx *x)
{
    const char *id = ch_aparam(x, "conn");
    char outcome[768];
    int32_t st = ch_conn_disconnect(x->admin, x->tenant, id, x->who.actor, x->request_id,
                                    outcome, sizeof outcome);
    if (st == C360_ENOTFOUND) {
        if (ch_atenant_found(x)) ch_aerr(x, 404, "not_found", "no connection %s", id);
        return;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connection");
        return;
    }
    ch_areply(x, 200, json_pack("{s:s, s:b, s:s}", "id", id, "disconnected", 1, "outcome",
                                outcome));
}

/* ---- pause / resume / sync --------------------------------------------------- */

static void set_state(ch_actx *x, const char *to)
{
    ch_conn *c = load_conn(x);
    if (!c) return;
    int pause = strcmp(to, CH_CONN_STATE_PAUSED) == 0;
    const char *from = c->state;
    if (strcmp(from, to) == 0) { /* already there: nothing to do */
        reply_conn(x, 200, c);
        ch_conn_free(c);
        return;
    }
    /* pause: from any working state; resume: only undoes a pause (failing
     * recovers by itself, needs_reauth by reconnecting). disabled is a
     * disconnect in progress. */
    int allowed = pause ? strcmp(from, CH_CONN_STATE_DISABLED) != 0
                        : strcmp(from, CH_CONN_STATE_PAUSED) == 0;
    if (!allowed) {
        ch_aerr(x, 409, "invalid_state", "connection %s is %s: cannot %s it", c->id, from,
                pause ? "pause" : "resume");
        ch_conn_free(c);
        return;
    }
    int32_t st = ch_conn_set_state(x->tenant, c->id, to, pause ? "paused by the customer" : "",
                                   x->who.actor, x->request_id);
    char id[CH_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", c->id);
    ch_conn_free(c);
    c = NULL;
    if (st == C360_OK) st = ch_conn_get(x->tenant, id, &c);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "connection");
        return;
    }
    reply_conn(x, 200, c);
    ch_conn_free(c);
}

static void h_pause(ch_actx *x) { set_state(x, CH_CONN_STATE_PAUSED); }
static void h_resume(ch_actx *x) { set_state(x, CH_CONN_STATE_ACTIVE); }

static void h_sync(ch_actx *x)
{
    ch_conn *c = load_conn(x);
    if (!c) return;
    const ch_plugin *p = find_plugin(x, c->plugin);
    int ticks = c->ticks && p && (ch_plugin_desc(p)->capabilities & C360_CAP_SOURCE_TICK);
    int working = strcmp(c->state, CH_CONN_STATE_ACTIVE) == 0 ||
                  strcmp(c->state, CH_CONN_STATE_FAILING) == 0;
    if (!ticks) {
        ch_aerr(x, 409, "cannot_sync", "plugin %s does not poll (no scheduled ticks)", c->plugin);
    } else if (!working) {
        ch_aerr(x, 409, "invalid_state", "connection %s is %s: only an active or failing "
                "connection syncs", c->id, c->state);
    } else {
        int32_t st = ch_sched_sync_now(x->tenant, c->id);
        if (st == C360_ENOTFOUND) {
            ch_aerr(x, 409, "invalid_state", "connection %s is not scheduled", c->id);
        } else if (st != C360_OK) {
            ch_aerr_status(x, st, "connection");
        } else {
            ch_aaudit(x, x->tenant, c->id, "connection.sync", c->id, "ok");
            ch_areply(x, 202, json_pack("{s:s, s:b}", "id", c->id, "queued", 1));
        }
    }
    ch_conn_free(c);
}

const ch_aroute ch_api_conns_routes[] = {
    {"GET", "/v1/tenants/{tenant}/connections", CH_ROLE_TENANT_VIEWER, h_list, 0,
     "List the tenant's connections"},
    {"POST", "/v1/tenants/{tenant}/connections", CH_ROLE_TENANT_ADMIN, h_create, 0,
     "Create a connection"},
    {"POST", "/v1/tenants/{tenant}/connections/validate", CH_ROLE_TENANT_ADMIN, h_validate, 0,
     "Check a connection config without storing anything"},
    {"GET", "/v1/tenants/{tenant}/connections/{conn}", CH_ROLE_TENANT_VIEWER, h_get, 0,
     "Get a connection"},
    {"PATCH", "/v1/tenants/{tenant}/connections/{conn}", CH_ROLE_TENANT_ADMIN, h_patch, 0,
     "Update a connection's name, config or interval"},
    {"DELETE", "/v1/tenants/{tenant}/connections/{conn}", CH_ROLE_TENANT_ADMIN, h_delete, 0,
     "Disconnect and delete a connection"},
    {"POST", "/v1/tenants/{tenant}/connections/{conn}/pause", CH_ROLE_TENANT_ADMIN, h_pause, 0,
     "Pause a connection"},
    {"POST", "/v1/tenants/{tenant}/connections/{conn}/resume", CH_ROLE_TENANT_ADMIN, h_resume, 0,
     "Resume a paused connection"},
    {"POST", "/v1/tenants/{tenant}/connections/{conn}/sync", CH_ROLE_TENANT_ADMIN, h_sync, 0,
     "Poll a connection now"},
    {0},
};
