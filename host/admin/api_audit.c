/* api_audit.c -- reading and verifying audit chains (docs/api/audit.md):
 * a tenant's own, and for operators the "_system" chain (plugin loads,
 * operator-level actions). The work is audit.h's: ch_audit_list pages
 * newest first with a seq cursor, ch_audit_verify walks the chain. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "api_logutil.h"
#include "audit.h"
#include "connector_api.h"
#include "tenants.h"
#include "util.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 200
#define SYSTEM_CHAIN "_system"

/* The stored entry with its time named like every time of the API
 * (ts -> ts_ms); the rest is kept as stored, hashes and nonce included,
 * so a client can check the chain itself (docs/audit.md, "The chain"). */
static json_t *entry_api(json_t *e)
{
    json_t *o = json_deep_copy(e);
    json_t *ts = json_object_get(o, "ts");
    if (ts) {
        json_object_set(o, "ts_ms", ts);
        json_object_del(o, "ts");
    }
    return o;
}

/* ?actor / ?action: exact values, so one no entry could hold is refused
 * rather than answered with an empty list. 0 absent, 1 set, -1 answered. */
static int text_query(ch_actx *x, const char *name, char *buf, size_t cap)
{
    int r = ch_aquery(x, name, buf, cap);
    if (r == 0) return 0;
    if (r < 0 || !ch_audit_field_valid(buf, 0)) {
        ch_aerr(x, 400, "bad_query", "%s must be 1..200 printable ASCII characters without '@'", name);
        return -1;
    }
    return 1;
}

static void list_chain(ch_actx *x, const char *chain)
{
    char actor[CH_AUDIT_FIELD_MAX + 2], action[CH_AUDIT_FIELD_MAX + 2];
    ch_audit_query q = {0};
    ch_apage pg;
    int ra = text_query(x, "actor", actor, sizeof actor);
    if (ra < 0) return;
    int rc = text_query(x, "action", action, sizeof action);
    if (rc < 0) return;
    if (ch_alog_query_range(x, &q.since_ms, &q.until_ms) != 0) return;
    if (ch_apage_parse(x, PAGE_DEFAULT, PAGE_MAX, &pg) != 0) return;
    if (pg.cursor[0]) {
        long long c;
        if (ch_parse_ll(pg.cursor, 1, INT64_MAX, &c) != 0) {
            ch_aerr(x, 400, "bad_cursor", "cursor is not one this list handed out");
            return;
        }
        q.cursor = (uint64_t)c;
    }
    q.actor = ra ? actor : NULL;
    q.action = rc ? action : NULL;
    q.limit = (uint32_t)pg.limit;
    json_t *entries = NULL;
    uint64_t next = 0;
    int32_t st = ch_audit_list(chain, &q, &entries, &next);
    if (st != C360_OK) {
        ch_aerr_status(x, st == C360_EINVAL ? C360_EINVAL : C360_EIO, "audit log");
        return;
    }
    /* A tenant id used before by a tenant since deleted: its entries stay
     * in the chain (evidence), but only operators read them. */
    uint64_t floor = 0;
    if (strcmp(chain, SYSTEM_CHAIN) != 0 && x->who.role != CH_ROLE_OPERATOR) {
        ch_tenant *t = NULL;
        if (ch_tenant_get(chain, &t) == C360_OK) floor = t->audit_from;
        ch_tenant_free(t);
    }
    json_t *items = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        json_int_t seq = json_integer_value(json_object_get(e, "seq"));
        if (floor && seq >= 0 && (uint64_t)seq <= floor) continue;
        json_array_append_new(items, entry_api(e));
    }
    json_decref(entries);
    if (floor && next <= floor + 1) next = 0;
    char nc[24] = "";
    if (next) snprintf(nc, sizeof nc, "%" PRIu64, next);
    ch_areply(x, 200, ch_alist(items, nc));
}

static void verify_chain(ch_actx *x, const char *chain)
{
    ch_audit_verify_result res;
    memset(&res, 0, sizeof res);
    int32_t st = ch_audit_verify(chain, &res);
    if (st != C360_OK) {
        ch_aerr_status(x, st == C360_EINVAL ? C360_EINVAL : C360_EIO, "audit log");
        return;
    }
    json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:I}", "chain", chain, "intact", res.intact,
                          "checked", (json_int_t)res.checked, "first_seq",
                          (json_int_t)res.first_seq, "last_seq", (json_int_t)res.last_seq);
    json_object_set_new(o, "bad_seq", res.intact ? json_null() : json_integer((json_int_t)res.bad_seq));
    json_object_set_new(o, "problem", res.intact ? json_null() : json_string(res.problem));
    ch_areply(x, 200, o);
}

static void list_tenant(ch_actx *x) { list_chain(x, x->tenant); }
static void verify_tenant(ch_actx *x) { verify_chain(x, x->tenant); }
static void list_system(ch_actx *x) { list_chain(x, SYSTEM_CHAIN); }
static void verify_system(ch_actx *x) { verify_chain(x, SYSTEM_CHAIN); }

const ch_aroute ch_api_audit_routes[] = {
    {"GET", "/v1/tenants/{tenant}/audit", CH_ROLE_TENANT_VIEWER, list_tenant, 0,
     "The tenant's audit log, newest first, filtered"},
    {"GET", "/v1/tenants/{tenant}/audit/verify", CH_ROLE_TENANT_VIEWER, verify_tenant, 0,
     "Verifies the tenant's audit chain"},
    {"GET", "/v1/audit", CH_ROLE_OPERATOR, list_system, 0,
     "The system audit log (the \"_system\" chain), newest first, filtered"},
    {"GET", "/v1/audit/verify", CH_ROLE_OPERATOR, verify_system, 0,
     "Verifies the system audit chain"},
    {0},
};
