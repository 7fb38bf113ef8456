/* dsr.c -- the walk of a data-subject request over every place a tenant
 * keeps personal data (dsr.h). Matching is dsr_match.c.
 *
 * The places are walked in a fixed order of steps, so that a cursor can
 * say where a call stopped: 0 dead letters, 1 records (deliveries), then
 * per connection (sorted ids) 2 its delivery log, 3 its sync log, 4 its
 * last error, then 5 plugin state (SCAN), 6 raw events -- the largest,
 * last. The cursor is "<step>.<connection|->.<position|->": the last
 * stream id examined, or the SCAN cursor. */
#include "dsr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "crypto.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

#define BATCH 100
#define SCAN_COUNT 1000
#define CHUNK 20 /* ids per erase call (ch_rconn_eval: 29 arguments) */
#define POS_MAX 48

enum { C_RECORDS, C_RAW, C_DLQ, C_DLOG, C_SYNC, C_ERR, C_STATE, NCAT };
static const char *const cat_names[NCAT] = {"records",  "raw_events", "dead_letters",
                                            "delivery_log", "sync_log", "errors", "state"};

enum { S_DLQ, S_DL, S_DLOG, S_SYNC, S_STAT, S_STATE, S_EV, S_END };

typedef struct run {
    const char *tenant;
    const ch_dsr_subject *s;
    int erase;
    size_t scan_max, items_max, bytes_max;
    size_t scanned, bytes;
    json_t *lists[NCAT];
    size_t counts[NCAT];
    int list_cut;
    int stopped;  /* the scan budget ran out: next holds the cursor */
    int failed;   /* Redis failed */
    char next[CH_DSR_CURSOR_MAX];
} run;

/* ---- the cursor --------------------------------------------------------------- */

typedef struct cursor {
    int step;
    char conn[CH_ID_MAX + 1]; /* "" = none */
    char pos[POS_MAX];        /* "" = from the start */
} cursor;

static int pos_valid(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n >= POS_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '-')) return 0;
    return 1;
}

static int cursor_parse(const char *text, cursor *c)
{
    memset(c, 0, sizeof *c);
    if (!text || !*text) return 0;
    if (strlen(text) >= CH_DSR_CURSOR_MAX) return -1;
    char buf[CH_DSR_CURSOR_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    char *d1 = strchr(buf, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || d1 != buf + 1 || buf[0] < '0' || buf[0] >= '0' + S_END) return -1;
    *d1 = *d2 = '\0';
    c->step = buf[0] - '0';
    const char *conn = d1 + 1, *pos = d2 + 1;
    if (strcmp(conn, "-") != 0) {
        if (!ch_id_valid(conn)) return -1;
        snprintf(c->conn, sizeof c->conn, "%.*s", CH_ID_MAX, conn);
    }
    if (strcmp(pos, "-") != 0) {
        if (!pos_valid(pos)) return -1;
        snprintf(c->pos, sizeof c->pos, "%.*s", POS_MAX - 1, pos);
    }
    int per_conn = c->step == S_DLOG || c->step == S_SYNC || c->step == S_STAT;
    if (per_conn != (c->conn[0] != '\0')) return -1;
    return 0;
}

static void stop_at(run *r, int step, const char *conn, const char *pos)
{
    r->stopped = 1;
    snprintf(r->next, sizeof r->next, "%d.%s.%s", step, conn && *conn ? conn : "-",
             pos && *pos ? pos : "-");
}

/* ---- reporting ------------------------------------------------------------------ */

/* A stored value as JSON: embedded when it is a JSON object or array, a
 * string when it is UTF-8, else {"base64": ...}. */
static json_t *value_json(const char *v, size_t n)
{
    size_t i = 0;
    /* v is a hiredis STRING reply's str, never NULL (the analyzer takes fval's
     * NULL result for one). */
    while (i < n && (v[i] == ' ' || v[i] == '\n' || v[i] == '\t' || v[i] == '\r')) i++; // NOLINT(clang-analyzer-core.NullDereference)
    if (i < n && (v[i] == '{' || v[i] == '[')) {
        json_t *j = json_loadb(v, n, 0, NULL);
        if (j) return j;
    }
    json_t *s = json_stringn(v, n);
    if (s) return s;
    char *b = ch_base64_encode(v, n, C360_B64_STANDARD);
    json_t *o = json_pack("{s:s}", "base64", b ? b : "");
    free(b);
    return o;
}

static void add_item(run *r, int cat, json_t *item)
{
    r->counts[cat]++;
    if (json_array_size(r->lists[cat]) < r->items_max) {
        json_array_append_new(r->lists[cat], item);
    } else {
        r->list_cut = 1;
        json_decref(item);
    }
}

/* Content goes in while the byte budget lasts (exports only). */
static int take_bytes(run *r, size_t n)
{
    if (r->erase || r->bytes + n > r->bytes_max) return 0;
    r->bytes += n;
    return 1;
}

static void redis_failed(run *r, const char *what, const redisReply *rep)
{
    r->failed = 1;
    ch_log(CH_LOG_WARN, "dsr: redis step failed", "tenant", r->tenant, "op", what, "error",
           rep && rep->type == REDIS_REPLY_ERROR ? rep->str : rep ? "unexpected reply"
                                                            : ch_rconn_error(),
           NULL);
}

/* ---- erasing ----------------------------------------------------------------- */

/* KEYS: stream, att, retry, crash. ARGV: member prefix, ids. A work item
 * that is still pending is acknowledged and forgotten by the retry,
 * attempt and crash keys, so no worker takes it up again (a worker
 * running it right now finds it acknowledged and writes nothing). */
static ch_script s_erase_work = CH_SCRIPT(
    "local n = 0\n"
    "for i = 2, #ARGV do\n"
    "  local id = ARGV[i]\n"
    "  redis.pcall('XACK', KEYS[1], 'w', id)\n"
    "  n = n + redis.call('XDEL', KEYS[1], id)\n"
    "  local m = ARGV[1] .. id\n"
    "  redis.call('ZREM', KEYS[3], m)\n"
    "  redis.call('HDEL', KEYS[2], m)\n"
    "  redis.call('HDEL', KEYS[4], m)\n"
    "end\n"
    "return n\n");

/* KEYS: hash. ARGV: field, value, other fields to drop. Deletes only what
 * was matched: a value written since stays. */
static ch_script s_erase_field = CH_SCRIPT(
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end\n"
    "for i = 3, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end\n"
    "return redis.call('HDEL', KEYS[1], ARGV[1])\n");

/* KEYS: key. ARGV: value of field v. */
static ch_script s_erase_state = CH_SCRIPT(
    "if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end\n"
    "return redis.call('DEL', KEYS[1])\n");

static void erase_ids(run *r, int step, const char *key, char **ids, size_t n)
{
    for (size_t i = 0; i < n && !r->failed; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        redisReply *rep;
        if (step == S_EV || step == S_DL) {
            char *att = ch_key_tenant(r->tenant, "att"), *retry = ch_key_tenant(r->tenant, "retry");
            char *crash = ch_key_tenant(r->tenant, "crash");
            const char *argv[5 + CHUNK] = {key, att, retry, crash, step == S_DL ? "dl:" : ""};
            for (size_t j = 0; j < k; j++) argv[5 + j] = ids[i + j];
            rep = ch_rconn_eval(&s_erase_work, 4, (int)(5 + k), argv, NULL);
            free(att);
            free(retry);
            free(crash);
        } else {
            const char *argv[2 + CHUNK] = {"XDEL", key};
            for (size_t j = 0; j < k; j++) argv[2 + j] = ids[i + j];
            rep = ch_rconn_argv((int)(2 + k), argv, NULL);
        }
        if (!rep || rep->type != REDIS_REPLY_INTEGER) redis_failed(r, "erase", rep);
        if (rep) freeReplyObject(rep);
    }
}

/* ---- the places ------------------------------------------------------------------ */

static const char *fval(const redisReply *f, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && k->len == nl && memcmp(k->str, name, nl) == 0)
            return v->type == REDIS_REPLY_STRING ? v->str : NULL;
    }
    return NULL;
}

static int entry_matches(const run *r, const redisReply *f)
{
    for (size_t i = 1; i < f->elements; i += 2) {
        const redisReply *v = f->element[i];
        if (v->type == REDIS_REPLY_STRING && ch_dsr_match_value(r->s, v->str, v->len)) return 1;
    }
    return 0;
}

/* The connection a stream entry concerns. */
static const char *entry_conn(int step, const char *key_conn, const redisReply *f)
{
    if (key_conn) return key_conn;
    if (step == S_DL) return fval(f, "d");
    if (step == S_DLQ) {
        const char *kind = fval(f, "kind");
        return fval(f, kind && strcmp(kind, "dl") == 0 ? "d" : "c");
    }
    return fval(f, "c");
}

static json_t *stream_item(run *r, int step, const char *key_conn, const char *id,
                           const redisReply *f)
{
    json_t *it = json_pack("{s:s,s:I}", "id", id, "time_ms", (json_int_t)strtoll(id, NULL, 10));
    const char *c = entry_conn(step, key_conn, f);
    if (c) json_object_set_new(it, "connection", json_string(c));
    if (r->erase) return it;
    size_t n = 0;
    for (size_t i = 1; i < f->elements; i += 2) n += f->element[i]->len + f->element[i - 1]->len;
    if (!take_bytes(r, n)) {
        json_object_set_new(it, "content_omitted", json_true());
        return it;
    }
    json_t *fields = json_object();
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        json_object_set_new(fields, k->str, value_json(v->str, v->len));
    }
    json_object_set_new(it, "fields", fields);
    return it;
}

/* Walks one stream after `from` (exclusive; "" = the start). */
static void walk_stream(run *r, int step, int cat, const char *key, const char *key_conn,
                        const char *from)
{
    char lo[POS_MAX + 1] = "-", last[POS_MAX] = "";
    if (from && *from) {
        snprintf(lo, sizeof lo, "(%s", from);
        snprintf(last, sizeof last, "%s", from);
    }
    char **ids = ch_calloc(BATCH, sizeof *ids);
    while (!r->failed) {
        if (r->scanned >= r->scan_max) {
            stop_at(r, step, key_conn, last);
            break;
        }
        size_t want = r->scan_max - r->scanned < BATCH ? r->scan_max - r->scanned : BATCH;
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%zu", want);
        redisReply *rep = ch_rconn_command("XRANGE %s %s + COUNT %s", key, lo, cnt);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            redis_failed(r, "xrange", rep);
            if (rep) freeReplyObject(rep);
            break;
        }
        size_t nids = 0;
        for (size_t i = 0; i < rep->elements; i++) {
            const redisReply *e = rep->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[1]->type != REDIS_REPLY_ARRAY || e->element[0]->len >= POS_MAX)
                continue;
            const char *id = e->element[0]->str;
            snprintf(last, sizeof last, "%s", id);
            r->scanned++;
            if (!entry_matches(r, e->element[1])) continue;
            add_item(r, cat, stream_item(r, step, key_conn, id, e->element[1]));
            if (r->erase) ids[nids++] = ch_strdup(id);
        }
        size_t got = rep->elements;
        freeReplyObject(rep);
        if (r->erase) erase_ids(r, step, key, ids, nids);
        for (size_t i = 0; i < nids; i++) free(ids[i]);
        if (got < want) break; /* the end of the stream */
        snprintf(lo, sizeof lo, "(%s", last);
    }
    free(ids);
}

static void walk_stat(run *r, const char *conn)
{
    if (r->scanned >= r->scan_max) {
        stop_at(r, S_STAT, conn, "");
        return;
    }
    char *key = ch_key_tenant(r->tenant, "conn:%s:stat", conn);
    redisReply *rep = ch_rconn_command("HMGET %s last_err last_err_ms", key);
    r->scanned++;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        redis_failed(r, "stat", rep);
    } else if (rep->element[0]->type == REDIS_REPLY_STRING &&
               ch_dsr_match_value(r->s, rep->element[0]->str, rep->element[0]->len)) {
        const redisReply *e = rep->element[0], *ms = rep->element[1];
        json_t *it = json_pack("{s:s}", "connection", conn);
        if (!r->erase && take_bytes(r, e->len)) {
            json_object_set_new(it, "last_err", value_json(e->str, e->len));
            if (ms->type == REDIS_REPLY_STRING)
                json_object_set_new(it, "last_err_ms", json_integer(strtoll(ms->str, NULL, 10)));
        } else if (!r->erase) {
            json_object_set_new(it, "content_omitted", json_true());
        }
        add_item(r, C_ERR, it);
        if (r->erase) {
            const char *argv[] = {key, "last_err", e->str, "last_err_ms"};
            size_t lens[] = {strlen(key), 8, e->len, 11};
            redisReply *d = ch_rconn_eval(&s_erase_field, 1, 4, argv, lens);
            if (!d || d->type != REDIS_REPLY_INTEGER) redis_failed(r, "erase-stat", d);
            if (d) freeReplyObject(d);
        }
    }
    if (rep) freeReplyObject(rep);
    free(key);
}

static void walk_state(run *r, const char *from)
{
    char cur[POS_MAX];
    snprintf(cur, sizeof cur, "%s", from && *from ? from : "0");
    char *prefix = ch_key_tenant(r->tenant, "state:");
    size_t pl = strlen(prefix);
    char *pattern = ch_asprintf("%s*", prefix);
    for (;;) {
        if (r->scanned >= r->scan_max) {
            stop_at(r, S_STATE, NULL, cur);
            break;
        }
        redisReply *rep = ch_rconn_command("SCAN %s MATCH %s COUNT %d", cur, pattern, SCAN_COUNT);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[0]->len >= sizeof cur) {
            redis_failed(r, "scan", rep);
            if (rep) freeReplyObject(rep);
            break;
        }
        snprintf(cur, sizeof cur, "%s", rep->element[0]->str);
        const redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements && !r->failed; i++) {
            const redisReply *k = keys->element[i];
            if (k->type != REDIS_REPLY_STRING || k->len <= pl) continue;
            /* state:<conn>:<name>; a plugin's names may hold ':'. */
            const char *rest = k->str + pl, *colon = strchr(rest, ':');
            if (!colon || colon == rest || (size_t)(colon - rest) > CH_ID_MAX) continue;
            char conn[CH_ID_MAX + 1];
            memcpy(conn, rest, (size_t)(colon - rest));
            conn[colon - rest] = '\0';
            redisReply *v = ch_rconn_command("HGET %b v", k->str, k->len);
            r->scanned++;
            if (!v || (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_NIL)) {
                /* a key of another type under the prefix: not state */
                if (!v) redis_failed(r, "state", v);
                if (v) freeReplyObject(v);
                continue;
            }
            if (v->type == REDIS_REPLY_STRING && ch_dsr_match_value(r->s, v->str, v->len)) {
                json_t *it = json_pack("{s:s,s:s}", "connection", conn, "key", colon + 1);
                if (!r->erase && take_bytes(r, v->len))
                    json_object_set_new(it, "value", value_json(v->str, v->len));
                else if (!r->erase)
                    json_object_set_new(it, "content_omitted", json_true());
                add_item(r, C_STATE, it);
                if (r->erase) {
                    const char *argv[] = {k->str, v->str};
                    size_t lens[] = {k->len, v->len};
                    redisReply *d = ch_rconn_eval(&s_erase_state, 1, 2, argv, lens);
                    if (!d || d->type != REDIS_REPLY_INTEGER) redis_failed(r, "erase-state", d);
                    if (d) freeReplyObject(d);
                }
            }
            freeReplyObject(v);
        }
        freeReplyObject(rep);
        if (r->failed || strcmp(cur, "0") == 0) break;
    }
    free(pattern);
    free(prefix);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The tenant's connection ids, sorted. */
static char **conn_ids(run *r, size_t *n)
{
    *n = 0;
    char *key = ch_key_tenant(r->tenant, "conns");
    redisReply *rep = ch_rconn_command("SMEMBERS %s", key);
    free(key);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        redis_failed(r, "conns", rep);
        if (rep) freeReplyObject(rep);
        return NULL;
    }
    char **ids = ch_calloc(rep->elements + 1, sizeof *ids);
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING && ch_id_valid(rep->element[i]->str))
            ids[(*n)++] = ch_strdup(rep->element[i]->str);
    freeReplyObject(rep);
    qsort(ids, *n, sizeof *ids, cmp_str);
    return ids;
}

static void walk_conns(run *r, const cursor *c)
{
    size_t n;
    char **ids = conn_ids(r, &n);
    if (!ids) return;
    for (size_t i = 0; i < n && !r->stopped && !r->failed; i++) {
        int first = S_DLOG;
        const char *from = "";
        if (c->conn[0]) {
            int d = strcmp(ids[i], c->conn);
            if (d < 0) continue;
            if (d == 0) {
                first = c->step;
                from = c->pos;
            }
        }
        for (int step = first; step <= S_STAT && !r->stopped && !r->failed; step++) {
            if (step == S_STAT) {
                walk_stat(r, ids[i]);
                continue;
            }
            char *key = ch_key_tenant(r->tenant, step == S_DLOG ? "dlog:%s" : "synclog:%s", ids[i]);
            walk_stream(r, step, step == S_DLOG ? C_DLOG : C_SYNC, key, ids[i],
                        step == first ? from : "");
            free(key);
        }
    }
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

static json_t *searched(const char *t)
{
    json_t *a = json_array();
    static const char *const fmts[] = {
        "c360:{t:%s}:dlq", "c360:{t:%s}:dl", "c360:{t:%s}:dlog:<connection>",
        "c360:{t:%s}:synclog:<connection>", "c360:{t:%s}:conn:<connection>:stat last_err",
        "c360:{t:%s}:state:*", "c360:{t:%s}:ev",
    };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char buf[160];
        snprintf(buf, sizeof buf, fmts[i], t);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

int32_t ch_dsr_run(const char *tenant, const ch_dsr_subject *s, const ch_dsr_opts *o,
                   json_t **report)
{
    *report = NULL;
    cursor c;
    if (!ch_id_valid(tenant) || !s || (!s->email[0] && !s->phone[0]) ||
        cursor_parse(o ? o->cursor : NULL, &c) != 0)
        return C360_EINVAL;
    run r = {
        .tenant = tenant,
        .s = s,
        .erase = o && o->erase,
        .scan_max = o && o->scan_max ? o->scan_max : CH_DSR_SCAN_MAX_DEFAULT,
        .items_max = o && o->items_max ? o->items_max : CH_DSR_ITEMS_MAX_DEFAULT,
        .bytes_max = o && o->bytes_max ? o->bytes_max : CH_DSR_BYTES_MAX_DEFAULT,
    };
    for (int i = 0; i < NCAT; i++) r.lists[i] = json_array();

#define GO (!r.stopped && !r.failed)
    for (int step = c.step; step <= S_DL && GO; step++) {
        char *key = ch_key_tenant(tenant, "%s", step == S_DLQ ? "dlq" : "dl");
        walk_stream(&r, step, step == S_DLQ ? C_DLQ : C_RECORDS, key, NULL,
                    step == c.step ? c.pos : "");
        free(key);
    }
    if (GO && c.step <= S_STAT) {
        static const cursor from_start = {0};
        walk_conns(&r, c.step >= S_DLOG ? &c : &from_start);
    }
    if (GO && c.step <= S_STATE) walk_state(&r, c.step == S_STATE ? c.pos : "");
    if (GO) {
        char *key = ch_key_tenant(tenant, "ev");
        walk_stream(&r, S_EV, C_RAW, key, NULL, c.step == S_EV ? c.pos : "");
        free(key);
    }
#undef GO
    if (r.failed) {
        for (int i = 0; i < NCAT; i++) json_decref(r.lists[i]);
        return C360_EIO;
    }
    json_t *lists = json_object(), *counts = json_object();
    for (int i = 0; i < NCAT; i++) {
        json_object_set_new(lists, cat_names[i], r.lists[i]);
        json_object_set_new(counts, cat_names[i], json_integer((json_int_t)r.counts[i]));
    }
    json_t *subj = json_pack("{s:o,s:o}", "email", s->email[0] ? json_string(s->email) : json_null(),
                             "phone", s->phone[0] ? json_string(s->phone) : json_null());
    *report = json_pack("{s:o,s:o,s:o,s:o,s:I,s:b,s:b,s:o}", "subject", subj,
                        r.erase ? "removed" : "found", lists, "counts", counts, "searched",
                        searched(tenant), "scanned", (json_int_t)r.scanned, "truncated",
                        r.stopped, "list_truncated", r.list_cut, "next_cursor",
                        r.stopped ? json_string(r.next) : json_null());
    return C360_OK;
}
