/* api_secrets.c -- /v1/tenants/{tenant}/connections/{conn}/secrets
 * (docs/api/connections.md, "Secrets"): write-only secrets of a connection.
 *
 * A value goes in with PUT and never comes out: the list shows names and
 * update times (secrets.h ch_secret_list), PUT answers 204, and no error,
 * log line or audit entry carries a value -- which is why PUT reads its
 * body itself instead of through ch_abody: a JSON parser's error text
 * quotes the bytes "near" the error, which here would be the secret. Names
 * starting "oauth:" belong to the OAuth service (tokens it seals): the API
 * can neither set nor delete them (403), only list them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "api.h"
#include "connector_api.h"
#include "conns.h"
#include "instances.h"
#include "log.h"
#include "secrets.h"
#include "tenants.h"

#define VALUE_MAX (64 * 1024)
#define LIST_DEFAULT 100
#define LIST_MAX 1000

/* The connection of the path exists in this tenant (else answered). */
static int conn_found(ch_actx *x)
{
    ch_conn *c = ch_aconn_get(x, ch_aparam(x, "conn"), NULL);
    if (!c) return 0;
    ch_conn_free(c);
    return 1;
}

static int reserved(const char *name) { return strncmp(name, "oauth:", 6) == 0; }

/* The name as an audit target: audit fields refuse '@' (audit.h). */
static void audit_secret(ch_actx *x, const char *action, const char *name, int32_t st)
{
    char t[CH_NAME_MAX + 1];
    snprintf(t, sizeof t, "%s", name);
    for (char *p = t; *p; p++)
        if (*p == '@') *p = '?';
    ch_aaudit(x, x->tenant, ch_aparam(x, "conn"), action, t, st == C360_OK ? "ok" : "error");
}

/* Plugins read some secrets when they open a connection (a webhook signing
 * secret the event loop verifies with, crm_generic's credentials): a
 * stored change bumps the connection's version, which makes every host and
 * worker reopen it, and this host's instance is dropped at once. Returns
 * the bump's status (C360_OK too when the connection was deleted
 * meanwhile: nothing is left to reload). */
static int32_t propagate(ch_actx *x)
{
    int32_t touched = ch_conn_touch(x->tenant, ch_aparam(x, "conn"));
    if (ch_admin_instances(x->admin))
        ch_instances_invalidate(ch_admin_instances(x->admin), ch_aparam(x, "conn"));
    if (touched == C360_ENOTFOUND) return C360_OK;
    if (touched != C360_OK)
        ch_log(CH_LOG_ERROR, "secrets: the change is stored but the connection's version was not "
               "bumped; its worker processes keep what they read until it changes again",
               "tenant", x->tenant, "connection", ch_aparam(x, "conn"), "error",
               c360_strstatus(touched), NULL);
    return touched;
}

/* The value changed in Redis but the version bump that makes the worker
 * processes reopen the connection failed (Redis went away in between):
 * plugins that keep what they read (crm_generic) would go on with the old
 * value. Both requests are idempotent, so the client is told to send the
 * same one again, which bumps the version then. */
static void not_propagated(ch_actx *x, int32_t touched)
{
    ch_aerr(x, 503, "not_propagated",
            "the change is stored, but the connection could not be told to reload it (%s); "
            "send the same request again",
            c360_strstatus(touched));
}

static void h_list(ch_actx *x)
{
    ch_apage pg;
    if (ch_apage_parse(x, LIST_DEFAULT, LIST_MAX, &pg) != 0) return;
    if (!conn_found(x)) return;
    ch_secret_info *v;
    size_t n;
    char err[256];
    int32_t st = ch_secret_list(x->tenant, ch_aparam(x, "conn"), &v, &n, err, sizeof err);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "secrets");
        return;
    }
    json_t *items = json_array();
    size_t i = 0, taken = 0;
    if (pg.cursor[0])
        while (i < n && strcmp(v[i].name, pg.cursor) <= 0) i++;
    for (; i < n && taken < (size_t)pg.limit; i++, taken++)
        json_array_append_new(items, json_pack("{s:s, s:o}", "name", v[i].name, "updated_ms",
                                               v[i].updated_ms ? json_integer(v[i].updated_ms)
                                                               : json_null()));
    char next[CH_NAME_MAX + 1] = "";
    if (i < n && taken > 0) snprintf(next, sizeof next, "%s", v[i - 1].name);
    free(v);
    ch_areply(x, 200, ch_alist(items, next));
}

/* The body {"value": "..."}; answers and returns NULL on any problem,
 * without ever quoting the body. */
static json_t *read_value(ch_actx *x, const char **value, size_t *len)
{
    const char *ct = x->content_type;
    while (ct && *ct == ' ') ct++;
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        ch_aerr(x, 415, "unsupported_media_type", "the body must be application/json");
        return NULL;
    }
    if (x->body_len == 0) {
        ch_aerr(x, 400, "malformed_json", "a JSON object body is required");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)x->body, x->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        /* Position only: the parser's text quotes the body. */
        ch_aerr(x, 400, "malformed_json", "the body is not a valid JSON object (line %d, column %d)",
                o ? 1 : je.line, o ? 1 : je.column);
        return NULL;
    }
    json_t *details = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (strcmp(k, "value") != 0) {
            char safe[72];
            size_t i = 0;
            for (; i < 64 && k[i]; i++) safe[i] = (k[i] >= 0x20 && k[i] < 0x7f) ? k[i] : '?';
            safe[i] = '\0';
            char path[80];
            snprintf(path, sizeof path, "/%s", safe);
            json_array_append_new(details, json_pack("{s:s, s:s}", "path", path, "message",
                                                     "unknown field"));
        }
    }
    json_t *val = json_object_get(o, "value");
    if (!val)
        json_array_append_new(details, json_pack("{s:s, s:s}", "path", "/value", "message",
                                                 "required"));
    else if (!json_is_string(val))
        json_array_append_new(details, json_pack("{s:s, s:s}", "path", "/value", "message",
                                                 "must be a string"));
    else if (json_string_length(val) == 0 || json_string_length(val) > VALUE_MAX)
        json_array_append_new(details, json_pack("{s:s, s:s}", "path", "/value", "message",
                                                 "must be 1..65536 bytes"));
    if (json_array_size(details)) {
        ch_aerr_details(x, 422, "validation", "the body has invalid fields", details);
        json_decref(o);
        return NULL;
    }
    json_decref(details);
    *value = json_string_value(val);
    *len = json_string_length(val);
    return o;
}

/* Wipes the parsed value before the document is freed. */
static void wipe(json_t *o)
{
    json_t *v = json_object_get(o, "value");
    if (json_is_string(v)) sodium_memzero((void *)json_string_value(v), json_string_length(v));
    json_decref(o);
}

static void h_put(ch_actx *x)
{
    const char *name = ch_aparam(x, "name");
    if (reserved(name)) {
        ch_aerr(x, 403, "reserved_name", "secret names starting \"oauth:\" are reserved for "
                "OAuth tokens");
        return;
    }
    const char *value;
    size_t len;
    json_t *body = read_value(x, &value, &len);
    if (!body) return;
    if (!conn_found(x)) {
        wipe(body);
        return;
    }
    char err[256];
    int32_t st = ch_secret_put(x->tenant, ch_aparam(x, "conn"), name, value, len, err, sizeof err);
    wipe(body);
    audit_secret(x, "secret.put", name, st);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "secret");
        return;
    }
    int32_t touched = propagate(x);
    if (touched != C360_OK) {
        not_propagated(x, touched);
        return;
    }
    ch_areply(x, 204, NULL);
}

static void h_delete(ch_actx *x)
{
    const char *name = ch_aparam(x, "name");
    if (reserved(name)) {
        ch_aerr(x, 403, "reserved_name", "secret names starting \"oauth:\" are reserved for "
                "OAuth tokens");
        return;
    }
    if (!conn_found(x)) return;
    char err[256];
    int32_t st = ch_secret_delete(x->tenant, ch_aparam(x, "conn"), name, err, sizeof err);
    audit_secret(x, "secret.delete", name, st);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "secret");
        return;
    }
    int32_t touched = propagate(x);
    if (touched != C360_OK) {
        not_propagated(x, touched);
        return;
    }
    ch_areply(x, 204, NULL);
}

const ch_aroute ch_api_secrets_routes[] = {
    {"GET", "/v1/tenants/{tenant}/connections/{conn}/secrets", CH_ROLE_TENANT_VIEWER, h_list, 0,
     "List a connection's secrets (names and update times only)"},
    {"PUT", "/v1/tenants/{tenant}/connections/{conn}/secrets/{name}", CH_ROLE_TENANT_ADMIN,
     h_put, 0, "Set a secret (write-only)"},
    {"DELETE", "/v1/tenants/{tenant}/connections/{conn}/secrets/{name}", CH_ROLE_TENANT_ADMIN,
     h_delete, 0, "Delete a secret"},
    {0},
};
