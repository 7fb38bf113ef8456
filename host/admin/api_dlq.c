/* api_dlq.c -- dead letters (list, get, replay, discard, one or by filter)
 * and raw-event replay by time range (docs/api/dead-letters.md).
 *
 * The work is dlq.h's and replay.h's: this file turns requests into their
 * filters, bounds every request (a bulk call moves at most
 * CH_DLQ_LIMIT_MAX dead letters, a raw replay at most
 * CH_REPLAY_LIMIT_MAX events over at most RAW_SPAN_MAX_MS, and says
 * "more" so the caller calls again), and audits every change with its
 * counts (dlq.replay, dlq.discard, replay.raw). A filter's connection need
 * not exist any more (a disconnect deletes its dead letters, but ones
 * written by a callback still running then, or left by a c360-seed purge,
 * can be discarded by name); a raw replay's must, in this tenant, since
 * workers drop the events of a gone connection. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "api_logutil.h"
#include "connector_api.h"
#include "dlq.h"
#include "keys.h"
#include "replay.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 200
/* A raw replay covers at most this much time per request. */
#define RAW_SPAN_MAX_MS (31LL * 86400 * 1000)

/* ---- the API's view of a dead letter -------------------------------------- */

static const char *kind_api(const char *k)
{
    return !k ? NULL : strcmp(k, "ev") == 0 ? "event" : strcmp(k, "dl") == 0 ? "delivery" : k;
}

/* dlq.h's item -> the API's: kind event|delivery, why -> cause, err ->
 * error, and the connection it concerns (an event's source, a delivery's
 * destination) lifted out of the stored fields. */
static json_t *item_api(json_t *it)
{
    json_t *f = json_object_get(it, "fields");
    const char *kind = json_string_value(json_object_get(it, "kind"));
    json_t *o = json_object();
    json_object_set(o, "id", json_object_get(it, "id"));
    json_object_set(o, "at_ms", json_object_get(it, "at_ms"));
    const char *k = kind_api(kind);
    json_object_set_new(o, "kind", k ? json_string(k) : json_null());
    json_t *why = json_object_get(it, "why"), *err = json_object_get(it, "err");
    json_object_set(o, "cause", why ? why : json_null());
    json_object_set(o, "error", err ? err : json_null());
    json_t *conn = json_object_get(f, kind && strcmp(kind, "dl") == 0 ? "d" : "c");
    json_object_set(o, "connection", conn ? conn : json_null());
    json_t *bb = json_object_get(it, "body_bytes");
    if (bb) json_object_set(o, "body_bytes", bb);
    json_object_set_new(o, "fields", f ? json_incref(f) : json_object());
    if (json_is_true(json_object_get(it, "truncated"))) json_object_set_new(o, "truncated", json_true());
    return o;
}

/* ---- filters -------------------------------------------------------------- */

typedef struct dfilter {
    ch_dlq_filter f;
    char conn[CH_ID_MAX + 1];
} dfilter;

static const char *kind_store(const char *api)
{
    return strcmp(api, "event") == 0 ? "ev" : strcmp(api, "delivery") == 0 ? "dl" : NULL;
}

/* The stored spelling of a cause (static), or NULL for an unknown one. */
static const char *cause_static(const char *c)
{
    static const char *const causes[] = {"error", "attempts", "poison", "gone"};
    for (size_t i = 0; i < sizeof causes / sizeof *causes; i++)
        if (strcmp(c, causes[i]) == 0) return causes[i];
    return NULL;
}

static int cause_valid(const char *c)
{
    return cause_static(c) != NULL;
}

/* The filter from the query (?connection ?kind ?cause ?since_ms ?until_ms).
 * Returns 0 or -1 (answered). */
static int filter_query(ch_actx *x, dfilter *d)
{
    memset(d, 0, sizeof *d);
    if (ch_alog_query_range(x, &d->f.from_ms, &d->f.to_ms) != 0) return -1;
    int r = ch_aquery(x, "connection", d->conn, sizeof d->conn);
    if (r < 0 || (r == 1 && !ch_id_valid(d->conn))) {
        ch_aerr(x, 400, "bad_query", "connection must be a connection id");
        return -1;
    }
    if (r == 1) d->f.conn = d->conn;
    char buf[16];
    r = ch_aquery(x, "kind", buf, sizeof buf);
    if (r != 0) {
        if (r < 0 || !kind_store(buf)) {
            ch_aerr(x, 400, "bad_query", "kind must be event or delivery");
            return -1;
        }
        d->f.kind = kind_store(buf);
    }
    r = ch_aquery(x, "cause", buf, sizeof buf);
    if (r != 0) {
        if (r < 0 || !cause_valid(buf)) {
            ch_aerr(x, 400, "bad_query", "cause must be error, attempts, poison or gone");
            return -1;
        }
        d->f.why = cause_static(buf);
    }
    return 0;
}

static const ch_afield bulk_fields[] = {
    {"connection", CH_AF_STRING, 0, CH_ID_MAX},
    {"kind", CH_AF_STRING, 0, 16},
    {"cause", CH_AF_STRING, 0, 16},
    {"since_ms", CH_AF_INT, 0, 0},
    {"until_ms", CH_AF_INT, 0, 0},
    {"limit", CH_AF_INT, 0, 0},
    {NULL, 0, 0, 0},
};

/* The filter from a bulk body; *limit from its "limit". Returns 0 or -1. */
static int filter_body(ch_actx *x, json_t *b, dfilter *d, int64_t *limit)
{
    memset(d, 0, sizeof *d);
    const char *conn = json_string_value(json_object_get(b, "connection"));
    if (conn) {
        if (!ch_id_valid(conn)) {
            ch_alog_invalid(x, "/connection", "must be a connection id");
            return -1;
        }
        snprintf(d->conn, sizeof d->conn, "%s", conn);
        d->f.conn = d->conn;
    }
    const char *kind = json_string_value(json_object_get(b, "kind"));
    if (kind) {
        if (!kind_store(kind)) {
            ch_alog_invalid(x, "/kind", "must be event or delivery");
            return -1;
        }
        d->f.kind = kind_store(kind);
    }
    const char *cause = json_string_value(json_object_get(b, "cause"));
    if (cause) {
        if (!cause_valid(cause)) {
            ch_alog_invalid(x, "/cause", "must be error, attempts, poison or gone");
            return -1;
        }
        d->f.why = cause_static(cause);
    }
    int64_t since, until;
    if (ch_alog_body_int(x, b, "since_ms", 0, INT64_MAX / 2, 0, &since) != 0 ||
        ch_alog_body_int(x, b, "until_ms", 0, INT64_MAX / 2, 0, &until) != 0 ||
        ch_alog_check_range(x, since, until, 0) != 0 ||
        ch_alog_body_int(x, b, "limit", 1, CH_DLQ_LIMIT_MAX, CH_DLQ_LIMIT_MAX, limit) != 0)
        return -1;
    d->f.from_ms = since;
    d->f.to_ms = until;
    return 0;
}

/* "conn=c1 kind=ev cause=error since=1 until=2" (or "all"): the audit
 * target of a bulk call. Ids and numbers only. */
static void filter_text(const dfilter *d, char *out, size_t cap)
{
    int n = snprintf(out, cap, "filter:");
    size_t at = n > 0 ? (size_t)n : 0;
#define ADD(...)                                                                   \
    do {                                                                           \
        int k_ = snprintf(out + at, at < cap ? cap - at : 0, __VA_ARGS__);         \
        if (k_ > 0) at += (size_t)k_;                                              \
    } while (0)
    if (d->f.conn) ADD(" conn=%s", d->f.conn);
    if (d->f.kind) ADD(" kind=%s", d->f.kind);
    if (d->f.why) ADD(" cause=%s", d->f.why);
    if (d->f.from_ms) ADD(" since=%" PRId64, d->f.from_ms);
    if (d->f.to_ms) ADD(" until=%" PRId64, d->f.to_ms);
    if (!d->f.conn && !d->f.kind && !d->f.why && !d->f.from_ms && !d->f.to_ms) ADD(" all");
#undef ADD
}

/* ---- handlers ------------------------------------------------------------- */

static void list_dead_letters(ch_actx *x)
{
    dfilter d;
    ch_apage pg;
    if (filter_query(x, &d) != 0) return;
    if (ch_apage_parse(x, PAGE_DEFAULT, PAGE_MAX, &pg) != 0) return;
    if (ch_alog_cursor(x, pg.cursor) != 0) return;
    json_t *page = NULL;
    int32_t st = ch_dlq_list(x->tenant, &d.f, pg.cursor[0] ? pg.cursor : NULL, (uint32_t)pg.limit,
                             &page);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "dead letters");
        return;
    }
    json_t *items = json_array(), *src = json_object_get(page, "items");
    size_t i;
    json_t *it;
    json_array_foreach(src, i, it) json_array_append_new(items, item_api(it));
    const char *next = json_string_value(json_object_get(page, "next_cursor"));
    json_t *out = ch_alist(items, next);
    json_decref(page);
    ch_areply(x, 200, out);
}

/* The {dl} of the path, or NULL after answering 404: an id that cannot
 * be a stream entry's is no dead letter. */
static const char *dl_param(ch_actx *x)
{
    const char *id = ch_aparam(x, "dl");
    if (ch_alog_stream_id_valid(id)) return id;
    ch_aerr(x, 404, "not_found", "dead letter not found");
    return NULL;
}

static void get_dead_letter(ch_actx *x)
{
    const char *id = dl_param(x);
    if (!id) return;
    json_t *it = NULL;
    int32_t st = ch_dlq_get(x->tenant, id, &it);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "dead letter");
        return;
    }
    json_t *o = item_api(it);
    json_decref(it);
    ch_areply(x, 200, o);
}

/* The dead letter as the API shows it (NULL if it cannot be read) and its
 * connection in *conn (NULL if none or not a valid id), both for the audit
 * entry of a replay or discard: the connection is known only from the
 * entry, and one that vanishes in between is the caller's 404. *conn
 * points into the result, which the caller frees after auditing. */
static json_t *entry_for_audit(ch_actx *x, const char *id, const char **conn)
{
    json_t *it = NULL;
    *conn = NULL;
    if (ch_dlq_get(x->tenant, id, &it) != C360_OK) return NULL;
    json_t *o = item_api(it);
    json_decref(it);
    *conn = json_string_value(json_object_get(o, "connection"));
    if (*conn && !ch_id_valid(*conn)) *conn = NULL;
    return o;
}

static void replay_dead_letter(ch_actx *x)
{
    const char *id = dl_param(x);
    if (!id) return;
    const char *conn = NULL;
    json_t *it = entry_for_audit(x, id, &conn);
    ch_dlq_replayed to;
    int32_t st = ch_dlq_replay_one(x->tenant, id, &to);
    char target[64];
    snprintf(target, sizeof target, "dlq:%s", id);
    if (st != C360_OK) {
        if (st != C360_ENOTFOUND) ch_aaudit(x, x->tenant, conn, "dlq.replay", target, "error:unavailable");
        json_decref(it);
        ch_aerr_status(x, st, "dead letter");
        return;
    }
    char outcome[96];
    snprintf(outcome, sizeof outcome, "ok replayed=1 queue_id=%s", to.queue_id);
    ch_aaudit(x, x->tenant, conn, "dlq.replay", target, outcome);
    json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "id", id, "kind", kind_api(to.kind), "queue_id",
                          to.queue_id, "replayed", 1);
    json_decref(it);
    ch_areply(x, 202, o);
}

static void discard_dead_letter(ch_actx *x)
{
    const char *id = dl_param(x);
    if (!id) return;
    const char *conn = NULL;
    json_t *it = entry_for_audit(x, id, &conn);
    int32_t st = ch_dlq_discard(x->tenant, id);
    char target[64];
    snprintf(target, sizeof target, "dlq:%s", id);
    if (st == C360_OK) ch_aaudit(x, x->tenant, conn, "dlq.discard", target, "ok discarded=1");
    else if (st != C360_ENOTFOUND) ch_aaudit(x, x->tenant, conn, "dlq.discard", target, "error:unavailable");
    json_decref(it);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "dead letter");
        return;
    }
    ch_areply(x, 204, NULL);
}

static void bulk(ch_actx *x, int replay)
{
    json_t *b = ch_abody(x, bulk_fields);
    if (!b) return;
    dfilter d;
    int64_t limit;
    int bad = filter_body(x, b, &d, &limit);
    json_decref(b);
    if (bad) return;
    size_t n = 0;
    int more = 0;
    int32_t st = replay ? ch_dlq_replay_filter(x->tenant, &d.f, (uint32_t)limit, &n, &more)
                        : ch_dlq_discard_filter(x->tenant, &d.f, (uint32_t)limit, &n, &more);
    char target[200], outcome[96];
    filter_text(&d, target, sizeof target);
    const char *action = replay ? "dlq.replay" : "dlq.discard";
    const char *counted = replay ? "replayed" : "discarded";
    /* A failure part-way may already have moved some: they are counted. */
    snprintf(outcome, sizeof outcome, "%s %s=%zu more=%d", st == C360_OK ? "ok" : "error:unavailable",
             counted, n, more);
    ch_aaudit(x, x->tenant, d.f.conn, action, target, outcome);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "dead letters");
        return;
    }
    ch_areply(x, replay ? 202 : 200,
              json_pack("{s:I, s:b}", counted, (json_int_t)n, "more", more));
}

static void replay_filter(ch_actx *x) { bulk(x, 1); }
static void discard_filter(ch_actx *x) { bulk(x, 0); }

static const ch_afield raw_fields[] = {
    {"connection", CH_AF_STRING, 0, CH_ID_MAX},
    {"since_ms", CH_AF_INT, 1, 0},
    {"until_ms", CH_AF_INT, 1, 0},
    {"cursor", CH_AF_STRING, 0, CH_DLQ_ID_MAX},
    {"limit", CH_AF_INT, 0, 0},
    {NULL, 0, 0, 0},
};

static void replay_raw(ch_actx *x)
{
    json_t *b = ch_abody(x, raw_fields);
    if (!b) return;
    char conn[CH_ID_MAX + 1] = "", cursor[CH_DLQ_ID_MAX] = "";
    int64_t since, until, limit;
    const char *cs = json_string_value(json_object_get(b, "connection"));
    const char *cur = json_string_value(json_object_get(b, "cursor"));
    if (cs) snprintf(conn, sizeof conn, "%s", cs);
    if (cur) snprintf(cursor, sizeof cursor, "%s", cur);
    int bad = ch_alog_body_int(x, b, "since_ms", 0, INT64_MAX / 2, 0, &since) != 0 ||
              ch_alog_body_int(x, b, "until_ms", 1, INT64_MAX / 2, 0, &until) != 0 ||
              ch_alog_body_int(x, b, "limit", 1, CH_REPLAY_LIMIT_MAX, 1000, &limit) != 0;
    json_decref(b);
    if (bad) return;
    if (cs && !ch_id_valid(conn)) {
        ch_alog_invalid(x, "/connection", "must be a connection id");
        return;
    }
    if (cur && !ch_alog_stream_id_valid(cursor)) {
        ch_alog_invalid(x, "/cursor", "must be the next_cursor of a previous replay");
        return;
    }
    if (ch_alog_check_range(x, since, until, RAW_SPAN_MAX_MS) != 0) return;
    if (cs && ch_alog_conn(x, conn) != 0) return;
    ch_replay_range rg = {.conn = cs ? conn : NULL, .from_ms = since, .to_ms = until,
                          .cursor = cur ? cursor : NULL};
    size_t n = 0;
    char next[CH_DLQ_ID_MAX] = "";
    int32_t st = ch_replay_raw(x->tenant, &rg, (uint32_t)limit, &n, next);
    char target[96], outcome[96];
    snprintf(target, sizeof target, "ev:%" PRId64 "-%" PRId64, since, until);
    snprintf(outcome, sizeof outcome, "%s replayed=%zu more=%d",
             st == C360_OK ? "ok" : "error:unavailable", n, next[0] != '\0');
    ch_aaudit(x, x->tenant, cs ? conn : NULL, "replay.raw", target, outcome);
    if (st != C360_OK) {
        ch_aerr_status(x, st, "raw replay");
        return;
    }
    ch_areply(x, 202,
              json_pack("{s:I, s:b, s:o}", "replayed", (json_int_t)n, "more", next[0] != '\0',
                        "next_cursor", next[0] ? json_string(next) : json_null()));
}

const ch_aroute ch_api_dlq_routes[] = {
    {"GET", "/v1/tenants/{tenant}/dead-letters", CH_ROLE_TENANT_VIEWER, list_dead_letters, 0,
     "The tenant's dead letters, newest first, filtered"},
    {"POST", "/v1/tenants/{tenant}/dead-letters/replay", CH_ROLE_TENANT_ADMIN, replay_filter, 0,
     "Replays the dead letters matching a filter (bounded; call again while more is true)"},
    {"POST", "/v1/tenants/{tenant}/dead-letters/discard", CH_ROLE_TENANT_ADMIN, discard_filter, 0,
     "Discards the dead letters matching a filter (bounded; call again while more is true)"},
    {"GET", "/v1/tenants/{tenant}/dead-letters/{dl}", CH_ROLE_TENANT_VIEWER, get_dead_letter, 0,
     "One dead letter"},
    {"POST", "/v1/tenants/{tenant}/dead-letters/{dl}/replay", CH_ROLE_TENANT_ADMIN,
     replay_dead_letter, 0, "Sends one dead letter back to its work stream"},
    {"DELETE", "/v1/tenants/{tenant}/dead-letters/{dl}", CH_ROLE_TENANT_ADMIN, discard_dead_letter,
     0, "Discards one dead letter"},
    {"POST", "/v1/tenants/{tenant}/replay", CH_ROLE_TENANT_ADMIN, replay_raw, 0,
     "Processes again the webhooks received in a time range (bounded; continue with next_cursor)"},
    {0},
};
