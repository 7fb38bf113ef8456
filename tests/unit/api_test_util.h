/* api_test_util.h -- what the admin API's unit tests (test_api_*.c) share
 * on top of admin_fixture.h: readers of answers (error code, details,
 * pages), requests that check their status, the work loop that makes data
 * the real way, and readers of the audit chain. Header-only, like
 * admin_fixture.h; the CHECKs count in the including test's check.h.
 *
 * The request macros (GET, STATUS, COUNT, REQ, DO, WANT, WANT_422) go through AT_ENV, the
 * test's af_env pointer: a test with a global `af_env E` defines AT_ENV as
 * (&E) before including this; by default it is the `af_env *e` the test
 * functions take. */
#ifndef C360_TEST_API_TEST_UTIL_H
#define C360_TEST_API_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_fixture.h"
#include "audit.h"
#include "check.h"
#include "slots.h"
#include "worker.h"
#include "worker_int.h"

#ifndef AT_ENV
#define AT_ENV e
#endif

/* ---- reading answers ------------------------------------------------------- */

/* The error code of an error answer, NULL if there is none. */
static inline const char *at_code(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

/* The path of the i-th error detail, NULL if there is none. */
static inline const char *at_detail_path(json_t *j, size_t i)
{
    json_t *d = json_array_get(json_object_get(json_object_get(j, "error"), "details"), i);
    return json_string_value(json_object_get(d, "path"));
}

static inline const char *at_str(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

static inline json_int_t at_int(json_t *j, const char *k)
{
    return json_integer_value(json_object_get(j, k));
}

/* A list answer's page: {"items": [...], "next_cursor": ...}. */
static inline size_t at_nitems(json_t *page)
{
    return json_array_size(json_object_get(page, "items"));
}

static inline json_t *at_item(json_t *page, size_t i)
{
    return json_array_get(json_object_get(page, "items"), i);
}

static inline const char *at_istr(json_t *page, size_t i, const char *k)
{
    return at_str(at_item(page, i), k);
}

static inline long long at_iint(json_t *page, size_t i, const char *k)
{
    return at_int(at_item(page, i), k);
}

/* ---- requests that check their status ------------------------------------ */

/* The status of a request whose answer is not looked at. */
static inline int at_status(af_env *e, const char *key, const char *method, const char *target,
                            const char *body)
{
    int st;
    json_decref(af_req(e, key, method, target, body, &st));
    return st;
}

/* One request; checks the status (printing the caller's line and the
 * answer when it is not `want`), returns the answer. */
static inline json_t *at_req_want(af_env *e, const char *key, const char *method,
                                  const char *target, const char *body, int want, int line)
{
    int st;
    json_t *j = af_req(e, key, method, target, body, &st);
    if (st != want) {
        char *d = j ? json_dumps(j, JSON_COMPACT) : NULL;
        fprintf(stderr, "line %d: %s %s -> %d, want %d: %s\n", line, method, target, st, want,
                d ? d : "(no body)");
        free(d);
    }
    CHECK(st == want);
    return j;
}

/* A request answered `want` with error code `code` (not checked if NULL). */
static inline void at_want(af_env *e, const char *key, const char *method, const char *target,
                           const char *body, int want, const char *code, int line)
{
    json_t *j = at_req_want(e, key, method, target, body, want, line);
    if (code) CHECK_STR(at_code(j), code);
    json_decref(j);
}

/* A 422 whose first detail is at `path` (not checked if NULL). */
static inline void at_want_422(af_env *e, const char *key, const char *method,
                               const char *target, const char *body, const char *path, int line)
{
    json_t *j = at_req_want(e, key, method, target, body, 422, line);
    CHECK_STR(at_code(j), "validation");
    if (path) CHECK_STR(at_detail_path(j, 0), path);
    json_decref(j);
}

/* How many items a 200 list answer holds; -1 for any other status. */
static inline long long at_count(af_env *e, const char *key, const char *target)
{
    int st;
    json_t *page = af_req(e, key, "GET", target, NULL, &st);
    long long n = st == 200 ? (long long)at_nitems(page) : -1;
    json_decref(page);
    return n;
}

#define GET(key, t, st) af_req(AT_ENV, key, "GET", t, NULL, st)
#define STATUS(key, m, t, b) at_status(AT_ENV, key, m, t, b)
#define GET_STATUS(key, t) at_status(AT_ENV, key, "GET", t, NULL)
#define COUNT(key, t) at_count(AT_ENV, key, t)
#define REQ(key, m, t, b, want) at_req_want(AT_ENV, key, m, t, b, want, __LINE__)
#define DO(key, m, t, b, want) json_decref(REQ(key, m, t, b, want))
#define WANT(key, m, t, b, want, code) at_want(AT_ENV, key, m, t, b, want, code, __LINE__)
#define WANT_422(key, m, t, b, p) at_want_422(AT_ENV, key, m, t, b, p, __LINE__)

/* ---- tenants and keys ----------------------------------------------------- */

/* Tenants ta and tb; an admin and a viewer key of ta, an admin key of tb
 * (the other tenant, whose key must see nothing of ta). */
static inline void at_two_tenants(af_env *e, char *ta_admin, char *ta_viewer, char *tb_admin)
{
    af_tenant(e, "ta");
    af_tenant(e, "tb");
    af_key(e, CH_ROLE_TENANT_ADMIN, "ta", ta_admin);
    af_key(e, CH_ROLE_TENANT_VIEWER, "ta", ta_viewer);
    af_key(e, CH_ROLE_TENANT_ADMIN, "tb", tb_admin);
}

/* ---- data through the real work loop -------------------------------------- */

/* One worker thread, turned by hand: the tests make dead letters, sync log
 * and delivery entries the way production does, without timing on
 * threads. */
typedef struct at_workers {
    ch_workers *w;
    ch_slots *slots;
    ch_wthread *t;
    int drain_turns; /* at most this many turns per at_drain */
} at_workers;

/* Short retries and holds so a test waits milliseconds; max_attempts 0
 * keeps the default. */
static inline void at_workers_start(at_workers *aw, af_env *e, int max_attempts, int drain_turns)
{
    ch_worker_conf c;
    ch_worker_conf_defaults(&c);
    c.loader = e->loader;
    c.threads = 1;
    c.retry_base_ms = 20;
    c.retry_cap_ms = 40;
    c.hold_ms = 200;
    if (max_attempts > 0) c.max_attempts = max_attempts;
    c.callback_timeout_ms = 2000;
    c.hang_grace_ms = 200;
    c.claim_idle_ms = 5000;
    c.sweep_ms = 1000;
    c.conn_cache_ms = 50;
    c.tenants_refresh_ms = 50;
    aw->drain_turns = drain_turns;
    aw->slots = ch_slots_create(1, 1);
    aw->w = ch_workers_new(&c, aw->slots, 0, e->instances);
    aw->t = aw->w->threads[0];
    ch_wthread_begin(aw->t);
}

static inline void at_workers_stop(at_workers *aw)
{
    ch_workers_free(aw->w);
    ch_slots_destroy(aw->slots);
}

/* Turns until the tenant has nothing ready (or drain_turns ran out). */
static inline void at_drain(at_workers *aw, const char *tenant)
{
    for (int i = 0; i < aw->drain_turns; i++)
        if (ch_wthread_turn(aw->t, tenant) == 0) break;
}

/* ---- the audit chain ------------------------------------------------------- */

/* The tenant's entries with this action (any if NULL), newest first, at
 * most limit; NULL if the chain cannot be read (new reference). */
static inline json_t *at_audit_entries(const char *tenant, const char *action, uint32_t limit)
{
    ch_audit_query q = {.action = action, .limit = limit};
    json_t *entries = NULL;
    uint64_t next = 0;
    if (ch_audit_list(tenant, &q, &entries, &next) != C360_OK) return NULL;
    return entries;
}

#endif
