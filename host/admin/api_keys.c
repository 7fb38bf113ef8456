/* api_keys.c -- API keys (docs/api/keys.md): operators manage every key
 * under /v1/keys; a tenant_admin manages its own tenant's keys under
 * /v1/tenants/{tenant}/keys, up to its own role. Keys are apikeys.h's; the
 * text of a new key is in the creation answer and nowhere else (not in a
 * log line, not in the audit entry: that records the key id). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "apikeys.h"
#include "connector_api.h"
#include "rconn.h"
#include "tenants.h"

/* A key's display name: 1..100 bytes without control characters. */
static int key_name_ok(const char *s)
{
    if (!s) return 0;
    size_t n = strlen(s);
    if (n == 0 || n > CH_APIKEY_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static void invalid(ch_actx *x, const char *path, const char *msg)
{
    ch_aerr_details(x, 422, "validation", "the key is not valid",
                    json_pack("[{s:s, s:s}]", "path", path, "message", msg));
}

/* The keys of one tenant ("" = operator keys), a page of them by id. */
static void list(ch_actx *x, const char *tenant)
{
    ch_apage pg;
    if (ch_apage_parse(x, 100, 1000, &pg) < 0) return;
    json_t *all;
    int32_t st = ch_apikey_list(tenant, &all);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "key list");
        return;
    }
    json_t *items = json_array();
    size_t i;
    json_t *k;
    const char *last = NULL;
    int more = 0;
    json_array_foreach(all, i, k) { /* sorted by id */
        const char *id = json_string_value(json_object_get(k, "id"));
        if (!id || (pg.cursor[0] && strcmp(id, pg.cursor) <= 0)) continue;
        if ((int64_t)json_array_size(items) == pg.limit) {
            more = 1;
            break;
        }
        json_array_append(items, k);
        last = id;
    }
    char next[CH_ID_MAX + 1] = "";
    if (more && last) snprintf(next, sizeof next, "%s", last);
    json_decref(all);
    ch_areply(x, 200, ch_alist(items, next[0] ? next : NULL));
}

/* Creates a key of role in tenant ("" for operator keys) and answers 201
 * {"key": <text>, ...info}. */
static void create(ch_actx *x, const char *name, ch_role role, const char *tenant)
{
    ch_apikey_info info;
    char text[CH_APIKEY_TEXT_MAX];
    int32_t st = ch_apikey_create(name, role, tenant, x->who.actor, &info, text);
    if (st != C360_OK) {
        sodium_memzero(text, sizeof text);
        ch_aerr_status(x, st, "key");
        return;
    }
    /* A tenant deletion that ran between the existence check and the
     * create has already deleted the tenant's keys: this one must go too. */
    int e = tenant[0] ? ch_tenant_exists(tenant) : 1;
    if (e != 1) {
        sodium_memzero(text, sizeof text);
        (void)ch_apikey_delete_tenant(tenant);
        if (e < 0) ch_aerr_status(x, C360_EIO, "tenant");
        else ch_aerr(x, 404, "tenant_not_found", "no tenant %s", tenant);
        return;
    }
    ch_aaudit(x, tenant, NULL, "apikey.create", info.id, "ok");
    json_t *o = ch_apikey_to_json(&info);
    json_object_set_new(o, "key", json_string(text));
    sodium_memzero(text, sizeof text);
    char loc[CH_ID_MAX + 64];
    if (tenant[0]) snprintf(loc, sizeof loc, "/v1/tenants/%s/keys/%s", tenant, info.id);
    else snprintf(loc, sizeof loc, "/v1/keys/%s", info.id);
    ch_aheader(x, "Location", loc);
    ch_areply(x, 201, o);
}

/* Number of valid operator keys other than `except`; -1 if Redis failed. */
static int other_operator_keys(const char *except)
{
    json_t *all;
    if (ch_apikey_list("", &all) != C360_OK) return -1;
    int n = 0;
    size_t i;
    json_t *k;
    json_array_foreach(all, i, k) {
        const char *id = json_string_value(json_object_get(k, "id"));
        json_t *rev = json_object_get(k, "revoked_ms");
        int revoked = rev && !json_is_null(rev) && json_integer_value(rev) != 0;
        if (id && strcmp(id, except) != 0 && !revoked) n++;
    }
    json_decref(all);
    return n;
}

/* Revokes key `id`; tenant NULL = any key (operators), else the key must
 * belong to that tenant (404 otherwise: another tenant's keys do not
 * exist here). */
static void revoke(ch_actx *x, const char *tenant)
{
    const char *id = ch_aparam(x, "key");
    ch_apikey_info info;
    int32_t st = ch_apikey_get(id, &info);
    if (st == C360_OK && tenant && strcmp(info.tenant, tenant) != 0) st = C360_ENOTFOUND;
    if (st == C360_ENOTFOUND) {
        ch_aerr(x, 404, "not_found", "no key %s", id);
        return;
    }
    if (st != C360_OK) {
        ch_aerr_status(x, st, "key");
        return;
    }
    /* Operator revocations are serialised (a short lock in Redis, shared
     * by every host), so two operators revoking the last two keys at once
     * cannot both see "one other is left". */
    int locked = 0;
    if (info.role == CH_ROLE_OPERATOR && !info.revoked_ms) {
        for (int i = 0; i < 100 && !locked; i++) {
            redisReply *r = ch_rconn_command("SET c360:{auth}:revoke-lock %s NX PX 5000",
                                             x->request_id && *x->request_id ? x->request_id : "-");
            locked = r && r->type == REDIS_REPLY_STATUS;
            if (r) freeReplyObject(r);
            if (!locked) {
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        if (!locked) {
            ch_aerr_status(x, C360_EIO, "key");
            return;
        }
        /* the last operator key would lock every operator out */
        int others = other_operator_keys(info.id);
        if (others <= 0) {
            redisReply *r = ch_rconn_command("DEL c360:{auth}:revoke-lock");
            if (r) freeReplyObject(r);
            if (others < 0) ch_aerr_status(x, C360_EIO, "key");
            else ch_aerr(x, 409, "last_operator_key",
                         "key %s is the last valid operator key: create another one first",
                         info.id);
            return;
        }
    }
    if (!info.revoked_ms) {
        st = ch_apikey_revoke(info.id);
        if (locked) {
            redisReply *r = ch_rconn_command("DEL c360:{auth}:revoke-lock");
            if (r) freeReplyObject(r);
        }
        if (st != C360_OK) {
            ch_aerr_status(x, st, "key");
            return;
        }
        ch_aaudit(x, info.tenant, NULL, "apikey.revoke", info.id, "ok");
        char kid[CH_ID_MAX + 1];
        snprintf(kid, sizeof kid, "%s", info.id); /* not aliased with the output */
        if (ch_apikey_get(kid, &info) != C360_OK) {
            ch_aerr_status(x, C360_EIO, "key");
            return;
        }
    }
    ch_areply(x, 200, ch_apikey_to_json(&info));
}

/* ---- /v1/keys (operators) ---------------------------------------------- */

static void h_op_list(ch_actx *x)
{
    list(x, "");
}

static void h_op_create(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"name", CH_AF_STRING, 1, CH_APIKEY_NAME_MAX},
        {"role", CH_AF_STRING, 1, 32},
        {"tenant", CH_AF_STRING, 0, CH_ID_MAX},
        {NULL},
    };
    json_t *body = ch_abody(x, fields);
    if (!body) return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *rname = json_string_value(json_object_get(body, "role"));
    json_t *tj = json_object_get(body, "tenant");
    const char *tenant = tj ? json_string_value(tj) : "";
    ch_role role = ch_role_parse(rname);
    if (!key_name_ok(name)) {
        invalid(x, "/name", "must be 1..100 bytes without control characters");
    } else if (role == CH_ROLE_NONE) {
        invalid(x, "/role", "must be operator, tenant_admin or tenant_viewer");
    } else if (role == CH_ROLE_OPERATOR && tenant[0]) {
        invalid(x, "/tenant", "operator keys belong to no tenant");
    } else if (role != CH_ROLE_OPERATOR && !tenant[0]) {
        invalid(x, "/tenant", "a tenant key needs its tenant");
    } else if (tenant[0] && !ch_id_valid(tenant)) {
        invalid(x, "/tenant", "must be 1..64 of [A-Za-z0-9_-]");
    } else {
        int e = tenant[0] ? ch_tenant_exists(tenant) : 1;
        if (e < 0) ch_aerr_status(x, C360_EIO, "tenant");
        else if (e == 0) ch_aerr(x, 404, "tenant_not_found", "no tenant %s", tenant);
        else create(x, name, role, tenant);
    }
    json_decref(body);
}

static void h_op_revoke(ch_actx *x)
{
    revoke(x, NULL);
}

/* ---- /v1/tenants/{tenant}/keys (tenant admins) ------------------------- */
/* The dispatcher answered 404 for a tenant that does not exist. */

static void h_t_list(ch_actx *x)
{
    list(x, x->tenant);
}

static void h_t_create(ch_actx *x)
{
    static const ch_afield fields[] = {
        {"name", CH_AF_STRING, 1, CH_APIKEY_NAME_MAX},
        {"role", CH_AF_STRING, 1, 32},
        {NULL},
    };
    json_t *body = ch_abody(x, fields);
    if (!body) return;
    const char *name = json_string_value(json_object_get(body, "name"));
    ch_role role = ch_role_parse(json_string_value(json_object_get(body, "role")));
    if (!key_name_ok(name)) {
        invalid(x, "/name", "must be 1..100 bytes without control characters");
    } else if (role == CH_ROLE_NONE) {
        invalid(x, "/role", "must be tenant_admin or tenant_viewer");
    } else if (role == CH_ROLE_OPERATOR || role > x->who.role) {
        ch_aerr(x, 403, "role_too_high", "a key of role %s cannot be created here",
                ch_role_name(role));
    } else {
        create(x, name, role, x->tenant);
    }
    json_decref(body);
}

static void h_t_revoke(ch_actx *x)
{
    revoke(x, x->tenant);
}

const ch_aroute ch_api_keys_routes[] = {
    {"GET", "/v1/keys", CH_ROLE_OPERATOR, h_op_list, 0, "List operator keys"},
    {"POST", "/v1/keys", CH_ROLE_OPERATOR, h_op_create, 0,
     "Create an API key (an operator key, or a key of a tenant)"},
    {"DELETE", "/v1/keys/{key}", CH_ROLE_OPERATOR, h_op_revoke, 0, "Revoke any API key"},
    {"GET", "/v1/tenants/{tenant}/keys", CH_ROLE_TENANT_ADMIN, h_t_list, 0,
     "List a tenant's API keys"},
    {"POST", "/v1/tenants/{tenant}/keys", CH_ROLE_TENANT_ADMIN, h_t_create, 0,
     "Create an API key of the tenant, up to the caller's role"},
    {"DELETE", "/v1/tenants/{tenant}/keys/{key}", CH_ROLE_TENANT_ADMIN, h_t_revoke, 0,
     "Revoke an API key of the tenant"},
    {0},
};
