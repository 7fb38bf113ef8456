/* queue_work.c -- reading work: fetch, claim, consumers (see queue_work.h).
 * The outcome and poison scripts are in queue_work_outcome.c. */
#include "queue_work.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "queue_work_int.h"
#include "queue_work_lua.h"
#include "rconn.h"
#include "util.h"

static ch_script s_due = CH_SCRIPT(qw_lua_due);
static ch_script s_claim = CH_SCRIPT(qw_lua_claim);
static ch_script s_forget = CH_SCRIPT(qw_lua_forget);
static ch_script s_dedup = CH_SCRIPT(qw_lua_dedup);

void ch_qw_redis_failed(const char *what, const redisReply *r)
{
    ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
    ch_log(CH_LOG_WARN, "pipeline: redis call failed", "op", what, "error",
           !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type",
           NULL);
}

char *ch_qw_stream_key(const char *tenant, ch_qkind kind)
{
    return ch_key_tenant(tenant, kind == CH_Q_DL ? "dl" : "ev");
}

void ch_qbatch_free(ch_qbatch *b)
{
    if (!b) return;
    if (b->reply) freeReplyObject(b->reply);
    /* The fetch's reads are the arena's (never freeReplyObject's). */
    ch_rarena_free(b->arena);
    free(b->items);
    memset(b, 0, sizeof *b);
}

long long ch_qitem_attempt(const ch_qitem *it)
{
    long long a = it->a > 0 ? it->a : 1;
    return a + (it->att > 0 ? it->att : 0);
}

static long long num(const char *s, long long dflt)
{
    long long v;
    return s && ch_parse_ll(s, -((long long)1 << 53), (long long)1 << 53, &v) == 0 ? v : dflt;
}

/* Entry ids are "<ms>-<seq>": digits and one dash, bounded. */
static int entry_id_valid(const char *id, size_t len)
{
    if (len == 0 || len >= CH_QW_ID_MAX) return 0;
    int dash = 0;
    for (size_t i = 0; i < len; i++) {
        if (id[i] == '-') { if (dash++ || i == 0 || i + 1 == len) return 0; }
        else if (id[i] < '0' || id[i] > '9') return 0;
    }
    return dash == 1;
}

/* One stream entry of the given kind: its id, the attempts counted so far
 * (a string reply, or anything else for none) and its fields. Every reply
 * type is checked: a malformed entry leaves it->valid = 0 (the worker
 * dead-letters what it can name and skips what it cannot). */
static void parse_entry(ch_qkind kind, const redisReply *id, const redisReply *att,
                        const redisReply *f, ch_qitem *it)
{
    memset(it, 0, sizeof *it);
    it->fetched_ms = ch_monotonic_ms();
    if (id->type != REDIS_REPLY_STRING || !entry_id_valid(id->str, id->len)) return;
    it->kind = kind;
    memcpy(it->id, id->str, id->len + 1);
    snprintf(it->member, sizeof it->member, "%s%s", it->kind == CH_Q_DL ? "dl:" : "", it->id);
    it->att = att && att->type == REDIS_REPLY_STRING ? num(att->str, 0) : 0;
    if (it->att < 0) it->att = 0;
    if (f->type != REDIS_REPLY_ARRAY || f->elements % 2) return;
    it->k = it->c = it->p = it->rid = it->h = it->b = it->dk = it->orig = "";
    it->d = it->s = it->sp = it->rt = it->ri = it->r = "";
    it->a = 1;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *n = f->element[i], *v = f->element[i + 1];
        if (n->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) return;
        const char *name = n->str;
        if (strcmp(name, "k") == 0) it->k = v->str;
        else if (strcmp(name, "c") == 0) it->c = v->str;
        else if (strcmp(name, "p") == 0) it->p = v->str;
        else if (strcmp(name, "rid") == 0) it->rid = v->str;
        else if (strcmp(name, "h") == 0) { it->h = v->str; it->h_len = v->len; }
        else if (strcmp(name, "b") == 0) { it->b = v->str; it->b_len = v->len; }
        else if (strcmp(name, "d") == 0) it->d = v->str;
        else if (strcmp(name, "s") == 0) it->s = v->str;
        else if (strcmp(name, "sp") == 0) it->sp = v->str;
        else if (strcmp(name, "rt") == 0) it->rt = v->str;
        else if (strcmp(name, "ri") == 0) it->ri = v->str;
        else if (strcmp(name, "r") == 0) { it->r = v->str; it->r_len = v->len; }
        else if (strcmp(name, "a") == 0) it->a = num(v->str, 1);
        else if (strcmp(name, "t") == 0) it->t = num(v->str, 0);
        else if (strcmp(name, "et") == 0) it->et = num(v->str, 0);
        else if (strcmp(name, "dk") == 0) it->dk = v->str;
        else if (strcmp(name, "dw") == 0) it->dw = num(v->str, 0);
        else if (strcmp(name, "orig") == 0) it->orig = v->str;
    }
    if (it->a < 1) it->a = 1;
    it->valid = 1;
}

/* One {kind, id, att, fields} element of a script's reply (item() in
 * queue_work_lua.h). */
static void parse_item(const redisReply *e, ch_qitem *it)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 || e->element[0]->type != REDIS_REPLY_STRING) {
        memset(it, 0, sizeof *it);
        it->fetched_ms = ch_monotonic_ms();
        return;
    }
    ch_qkind kind = strcmp(e->element[0]->str, "dl") == 0 ? CH_Q_DL : CH_Q_EV;
    parse_entry(kind, e->element[1], e->element[2], e->element[3], it);
}

/* Takes ownership of r (an array of items from its element `first` on)
 * into out. */
static int32_t take_batch(redisReply *r, size_t first, const char *what, ch_qbatch *out)
{
    memset(out, 0, sizeof *out);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < first) {
        ch_qw_redis_failed(what, r);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    out->reply = r;
    if (r->elements == first) return C360_OK;
    out->items = ch_calloc(r->elements - first, sizeof *out->items);
    for (size_t i = first; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        ch_qitem *it = &out->items[out->n];
        parse_item(e, it);
        /* An element without even a usable id cannot be acted on at all;
         * anything with an id is kept (invalid fields: dead letter). */
        if (it->id[0]) out->n++;
        else ch_log(CH_LOG_ERROR, "pipeline: malformed work item in a script reply", "op", what, NULL);
    }
    return C360_OK;
}

int32_t ch_qw_fetch(const char *tenant, const char *consumer, int share,
                    ch_qbatch *out)
{
    return ch_qw_fetch2(tenant, consumer, share, share, out);
}

/* The entries of an XREADGROUP reply ([[key, [[id, fields], ...]]]), NULL
 * when r is no such reply. */
static const redisReply *read_entries(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1) return NULL;
    const redisReply *s = r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || s->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return s->element[1];
}

/* An XREADGROUP's NOGROUP error: on a stream that exists the group is
 * created at id 0 (entries stored before it are read) and the read runs
 * again, as the fetch script did. *r is replaced by that read's reply
 * (both are arena a's). Returns 1 when there is nothing to read (the
 * stream is gone since the retries' script saw it), else 0. */
static int read_nogroup(redisReply **r, const char *key, const char **readv, ch_rarena *a)
{
    if (!*r || (*r)->type != REDIS_REPLY_ERROR || strncmp((*r)->str, "NOGROUP", 7) != 0) return 0;
    *r = NULL;
    /* Without MKSTREAM, so a stream that does not exist is not created:
     * it answers an error of its own. BUSYGROUP: another thread was
     * first, read. NULL or any other error (Redis away, OOM, READONLY):
     * *r stays NULL, a failed read. */
    const char *cv[] = {"XGROUP", "CREATE", key, CH_QW_GROUP, "0"};
    redisReply *c = ch_rconn_argv(5, cv, NULL);
    if (!c) return 0;
    int err = c->type == REDIS_REPLY_ERROR;
    int missing = err && strstr(c->str, "requires the key to exist") != NULL;
    if (err && !missing && !strstr(c->str, "BUSYGROUP")) {
        ch_qw_redis_failed("fetch", c);
        freeReplyObject(c);
        return 0;
    }
    freeReplyObject(c);
    if (missing) return 1;
    ch_rconn_cmd again = {9, readv, NULL};
    ch_rconn_pipeline_arena(1, &again, r, a);
    return 0;
}

/* The new entries of the two streams keys[] (ev, dl) for consumer, up to
 * left[k] of each (0: that stream is not read), appended to out's items
 * (pipelined XREADGROUPs, replies in out's arena); out->fresh[k] counts
 * them, out->gone has bit k when stream k does not exist. */
static int32_t read_new(const char *consumer, char *keys[2], const int left[2], ch_qbatch *out)
{
    char cnt[2][16];
    const char *readv[2][9];
    ch_rconn_cmd cmds[2];
    size_t nc = 0, which[2];
    for (int k = 0; k < 2; k++) {
        if (left[k] <= 0) continue;
        snprintf(cnt[k], sizeof cnt[k], "%d", left[k]);
        const char *v[9] = {"XREADGROUP", "GROUP", CH_QW_GROUP, consumer, "COUNT", cnt[k],
                            "STREAMS", keys[k], ">"};
        memcpy(readv[k], v, sizeof v);
        cmds[nc] = (ch_rconn_cmd){9, readv[k], NULL};
        which[nc++] = (size_t)k;
    }
    redisReply *rr[2] = {NULL, NULL};
    /* Tens of entries of about twenty strings each: built in an arena,
     * not a malloc per string (rconn.h). */
    if (nc) {
        out->arena = ch_rarena_new();
        ch_rconn_pipeline_arena(nc, cmds, rr, out->arena);
    }
    size_t total = out->n, failed = 0;
    const redisReply *ents[2] = {NULL, NULL};
    for (size_t c = 0; c < nc; c++) {
        size_t k = which[c];
        int none = read_nogroup(&rr[c], keys[k], readv[k], out->arena);
        if (none) out->gone |= 1u << k;
        /* nil: no new entry; an error (Redis away, a key of another type):
         * counted, and the turn still runs what it got (what a failed read
         * may have handed out stays pending under this consumer: its
         * leftovers). */
        if (none || (rr[c] && rr[c]->type == REDIS_REPLY_NIL)) continue;
        ents[k] = read_entries(rr[c]);
        if (!ents[k]) {
            ch_qw_redis_failed("fetch", rr[c]);
            failed++;
            continue;
        }
        total += ents[k]->elements;
    }
    if (total > out->n) {
        out->items = ch_realloc(out->items, total * sizeof *out->items);
        memset(out->items + out->n, 0, (total - out->n) * sizeof *out->items);
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; ents[k] && i < ents[k]->elements; i++) {
                const redisReply *e = ents[k]->element[i];
                /* As item(): an entry without its fields is not handed
                 * out (a '>' read always has them). */
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                    e->element[1]->type != REDIS_REPLY_ARRAY)
                    continue;
                ch_qitem *it = &out->items[out->n];
                parse_entry(k == 1 ? CH_Q_DL : CH_Q_EV, e->element[0], NULL, e->element[1], it);
                if (it->id[0]) out->n++, out->fresh[k]++;
                else ch_log(CH_LOG_ERROR, "pipeline: malformed work item in a script reply", "op", "fetch", NULL);
            }
        }
    }
    /* Nothing at all and a read that failed: Redis away, as before (and,
     * as before, nothing for the caller to free). */
    if (failed && out->n == 0) {
        ch_qbatch_free(out);
        return C360_EIO;
    }
    return C360_OK;
}

int32_t ch_qw_fetch2(const char *tenant, const char *consumer, int ev_share,
                     int dl_share, ch_qbatch *out)
{
    memset(out, 0, sizeof *out);
    if (!ch_id_valid(tenant) || !consumer || !*consumer || ev_share < 1 || dl_share < 1)
        return C360_EINVAL;
    char *keys[2] = {ch_key_tenant(tenant, "ev"), ch_key_tenant(tenant, "dl")};
    char *retry = ch_key_tenant(tenant, "retry"), *att = ch_key_tenant(tenant, "att");
    char sh[16], dsh[16];
    snprintf(sh, sizeof sh, "%d", ev_share);
    snprintf(dsh, sizeof dsh, "%d", dl_share);
    const char *argv[] = {keys[0], keys[1], retry, att, CH_QW_GROUP, consumer, sh, dsh};
    redisReply *due = ch_rconn_eval(&s_due, 4, 8, argv, NULL);
    free(retry); free(att);
    /* Its first element says which streams may hold unread entries: the
     * others are not read (an idle tenant's turn stays one round trip). */
    int32_t st = take_batch(due, 1, "fetch", out);
    if (st == C360_OK && due->element[0]->type != REDIS_REPLY_INTEGER) {
        ch_qw_redis_failed("fetch", due);
        ch_qbatch_free(out);
        st = C360_EIO;
    }
    if (st != C360_OK) {
        free(keys[0]); free(keys[1]);
        return st;
    }
    long long have = due->element[0]->integer;
    out->due_found = (have & 4) != 0;
    /* The shares left after the retries (each kind within its own), as
     * the script counted them: every item it returned. */
    int left[2] = {have & 1 ? ev_share : 0, have & 2 ? dl_share : 0};
    for (size_t i = 1; i < due->elements; i++) {
        const redisReply *e = due->element[i];
        int dl = e->type == REDIS_REPLY_ARRAY && e->elements > 0 &&
                 e->element[0]->type == REDIS_REPLY_STRING && strcmp(e->element[0]->str, "dl") == 0;
        left[dl]--;
    }
    st = read_new(consumer, keys, left, out);
    free(keys[0]); free(keys[1]);
    return st;
}

int32_t ch_qw_fetch_new(const char *tenant, const char *consumer, int ev_share, int dl_share,
                        ch_qbatch *out)
{
    memset(out, 0, sizeof *out);
    if (!ch_id_valid(tenant) || !consumer || !*consumer || ev_share < 0 || dl_share < 0 ||
        ev_share + dl_share == 0)
        return C360_EINVAL;
    char *keys[2] = {ch_key_tenant(tenant, "ev"), ch_key_tenant(tenant, "dl")};
    int left[2] = {ev_share, dl_share};
    int32_t st = read_new(consumer, keys, left, out);
    free(keys[0]); free(keys[1]);
    return st;
}

int32_t ch_qw_claim(const char *tenant, ch_qkind kind, const char *from,
                    const char *to, int64_t min_idle_ms, int count,
                    ch_qbatch *out)
{
    memset(out, 0, sizeof *out);
    if (!ch_id_valid(tenant) || !from || !*from || !to || !*to || count < 1 || min_idle_ms < 0)
        return C360_EINVAL;
    char *stream = ch_qw_stream_key(tenant, kind), *att = ch_key_tenant(tenant, "att");
    char idle[24], cnt[16];
    snprintf(idle, sizeof idle, "%lld", (long long)min_idle_ms);
    snprintf(cnt, sizeof cnt, "%d", count);
    const char *argv[] = {stream, att, CH_QW_GROUP, from, to, idle, cnt,
                          kind == CH_Q_DL ? "dl:" : "", kind == CH_Q_DL ? "dl" : "ev"};
    redisReply *r = ch_rconn_eval(&s_claim, 2, 9, argv, NULL);
    free(stream); free(att);
    return take_batch(r, 0, "claim", out);
}

static const redisReply *map_get(const redisReply *m, const char *key)
{
    for (size_t i = 0; i + 1 < m->elements; i += 2)
        if (m->element[i]->type == REDIS_REPLY_STRING && strcmp(m->element[i]->str, key) == 0)
            return m->element[i + 1];
    return NULL;
}

int32_t ch_qw_consumers(const char *tenant, ch_qkind kind, ch_qconsumer *out,
                        size_t cap, size_t *n)
{
    *n = 0;
    if (!ch_id_valid(tenant)) return C360_EINVAL;
    char *stream = ch_qw_stream_key(tenant, kind);
    redisReply *r = ch_rconn_command("XINFO CONSUMERS %s %s", stream, CH_QW_GROUP);
    free(stream);
    if (r && r->type == REDIS_REPLY_ERROR &&
        (strstr(r->str, "no such key") || strncmp(r->str, "NOGROUP", 7) == 0)) {
        freeReplyObject(r);
        return C360_OK;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        ch_qw_redis_failed("xinfo consumers", r);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    for (size_t i = 0; i < r->elements && *n < cap; i++) {
        const redisReply *m = r->element[i];
        if (m->type != REDIS_REPLY_ARRAY) continue;
        const redisReply *name = map_get(m, "name"), *pend = map_get(m, "pending"), *idle = map_get(m, "idle");
        if (!name || name->type != REDIS_REPLY_STRING || name->len >= sizeof out->name) continue;
        ch_qconsumer *c = &out[(*n)++];
        memcpy(c->name, name->str, name->len + 1);
        c->pending = pend && pend->type == REDIS_REPLY_INTEGER ? pend->integer : 0;
        c->idle_ms = idle && idle->type == REDIS_REPLY_INTEGER ? idle->integer : 0;
    }
    freeReplyObject(r);
    return C360_OK;
}

int32_t ch_qw_forget_consumer(const char *tenant, ch_qkind kind, const char *name)
{
    if (!ch_id_valid(tenant) || !name || !*name) return C360_EINVAL;
    char *stream = ch_qw_stream_key(tenant, kind);
    const char *argv[] = {stream, CH_QW_GROUP, name};
    redisReply *r = ch_rconn_eval(&s_forget, 1, 3, argv, NULL);
    free(stream);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (!ok) ch_qw_redis_failed("forget consumer", r);
    if (r) freeReplyObject(r);
    return ok ? C360_OK : C360_EIO;
}

/* --- dedup ------------------------------------------------------------------ */

/* A dedup key as hostapi.c and route_sink.c let it in: 1..CH_NAME_MAX
 * printable ASCII bytes without space (the separator of dk). */
static int dedup_key_ok(const char *s, size_t n)
{
    if (n == 0 || n > CH_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return 0;
    return 1;
}

/* Keys and arguments ch_rconn_eval takes (rconn.c: 32 with EVALSHA, the
 * SHA and the key count). */
#define DEDUP_EVALSHA_ARGS 29

/* Runs the dedup script; *verdict gets its integer reply. */
static int32_t dedup_script(const char *tenant, const ch_qitem *it, const char *value,
                            const char *window, char **ddkeys, size_t n, long long *verdict)
{
    char *stream = ch_qw_stream_key(tenant, CH_Q_EV), *att = ch_key_tenant(tenant, "att");
    char *retry = ch_key_tenant(tenant, "retry"), *crash = ch_key_tenant(tenant, "crash");
    char *stat = ch_key_tenant(tenant, "conn:%s:stat", it->c);
    int nkeys = 5 + (int)n, argc = nkeys + 5;
    /* Room for EVAL, the script and the key count in front (the long
     * form below). */
    const char **av = ch_calloc((size_t)argc + 3, sizeof *av);
    const char **argv = av + 3;
    argv[0] = stream; argv[1] = att; argv[2] = retry; argv[3] = crash; argv[4] = stat;
    for (size_t i = 0; i < n; i++) argv[5 + i] = ddkeys[i];
    argv[nkeys] = CH_QW_GROUP;
    argv[nkeys + 1] = it->id;
    argv[nkeys + 2] = it->member;
    argv[nkeys + 3] = value;
    argv[nkeys + 4] = window;
    redisReply *r;
    if (argc <= DEDUP_EVALSHA_ARGS) {
        r = ch_rconn_eval(&s_dedup, nkeys, argc, argv, NULL);
    } else {
        /* More keys than ch_rconn_eval passes (an app-level event that
         * reached this connection through many routing keys, each with
         * its own dedup key; rare): the script by text, one EVAL. */
        char nk[16];
        snprintf(nk, sizeof nk, "%d", nkeys);
        av[0] = "EVAL";
        av[1] = qw_lua_dedup;
        av[2] = nk;
        r = ch_rconn_argv(argc + 3, av, NULL);
    }
    free(av);
    free(stream); free(att); free(retry); free(crash); free(stat);
    int ok = r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0 && r->integer <= 2;
    if (ok) *verdict = r->integer;
    else ch_qw_redis_failed("dedup", r);
    if (r) freeReplyObject(r);
    return ok ? C360_OK : C360_EIO;
}

/* What the dedup step of one item needs: its usable keys as Redis keys,
 * the value (the entry's first id) and the window. */
typedef struct dd_prep {
    size_t n;                          /* usable keys; 0 = nothing to check */
    char *arena;                       /* owns the keys */
    char *keys[CH_QW_DEDUP_MAX];
    const char *value;
    char window[24];
} dd_prep;

/* Fills p for the item (p->n = 0: no Redis call needed, it runs). */
static void dd_prepare(const char *tenant, const ch_qitem *it, dd_prep *p)
{
    p->n = 0;
    p->arena = NULL;
    if (it->kind != CH_Q_EV || !it->valid || !it->k || strcmp(it->k, "wh") != 0 || !it->dk ||
        !*it->dk || !ch_id_valid(it->c))
        return;
    const char *key[CH_QW_DEDUP_MAX];
    size_t klen[CH_QW_DEDUP_MAX], n = 0, total = 0;
    for (const char *s = it->dk; *s && n < CH_QW_DEDUP_MAX;) {
        while (*s == ' ') s++;
        const char *e = s;
        while (*e && *e != ' ') e++;
        if (dedup_key_ok(s, (size_t)(e - s))) {
            key[n] = s;
            klen[n] = (size_t)(e - s);
            total += klen[n];
            n++;
        }
        s = e;
    }
    if (n == 0) return; /* nothing usable: at least once, as without keys */

    /* The value: the entry's first id, so that the same entry (retried,
     * taken over, or replayed from the dead letters with orig) finds its
     * own mark and runs. */
    p->value = it->orig && entry_id_valid(it->orig, strlen(it->orig)) ? it->orig : it->id;
    snprintf(p->window, sizeof p->window, "%lld",
             it->dw >= 1 && it->dw <= 90LL * 86400 ? it->dw : (long long)CH_QW_DEDUP_WINDOW_S);

    /* c360:{t:T}:dd:<c>:<key>, all in one allocation. */
    char *prefix = ch_key_tenant(tenant, "dd:%s:", it->c);
    size_t pl = strlen(prefix);
    p->arena = ch_malloc(n * (pl + 1) + total);
    char *w = p->arena;
    for (size_t i = 0; i < n; i++) {
        p->keys[i] = w;
        memcpy(w, prefix, pl);
        memcpy(w + pl, key[i], klen[i]);
        w += pl + klen[i];
        *w++ = '\0';
    }
    free(prefix);
    p->n = n;
}

/* The verdict of the usual single key's plain SET NX reply: 0 set (run),
 * -1 the key is there (the script decides), -2 failed. */
static long long dd_set_verdict(const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_STATUS) return 0;
    if (r && r->type == REDIS_REPLY_NIL) return -1;
    ch_qw_redis_failed("dedup", r);
    return -2;
}

static ch_qdedup dd_of(long long verdict)
{
    return verdict == 1 ? CH_QD_DUP : verdict == 2 ? CH_QD_GONE : CH_QD_RUN;
}

int32_t ch_qw_dedup(const char *tenant, const ch_qitem *it, ch_qdedup *out)
{
    if (out) *out = CH_QD_RUN;
    if (!out || !ch_id_valid(tenant) || !it) return C360_EINVAL;
    dd_prep p;
    dd_prepare(tenant, it, &p);
    if (p.n == 0) return C360_OK;

    int32_t st = C360_OK;
    long long verdict = -1;
    if (p.n == 1) {
        /* The usual case, one key: a plain SET decides for a new key
         * (cheaper for Redis than any script); only a key already there
         * needs the script to tell a retry from a duplicate. */
        const char *argv[] = {"SET", p.keys[0], p.value, "NX", "EX", p.window};
        redisReply *r = ch_rconn_argv(6, argv, NULL);
        verdict = dd_set_verdict(r);
        if (verdict == -2) st = C360_EIO;
        if (r) freeReplyObject(r);
    }
    if (st == C360_OK && verdict < 0)
        st = dedup_script(tenant, it, p.value, p.window, p.keys, p.n, &verdict);
    free(p.arena);
    if (st == C360_OK) *out = dd_of(verdict);
    return st;
}

/* Items whose single-key SETs go in one pipelined round trip. */
#define DD_PIPE_MAX 32

void ch_qw_dedup_many(const char *tenant, const ch_qitem *const *its, size_t n, ch_qdedup *out,
                      int32_t *st)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = CH_QD_RUN;
        st[i] = ch_id_valid(tenant) && its[i] ? C360_OK : C360_EINVAL;
    }
    if (!ch_id_valid(tenant)) return;
    for (size_t base = 0; base < n; base += DD_PIPE_MAX) {
        size_t m = n - base < DD_PIPE_MAX ? n - base : DD_PIPE_MAX;
        dd_prep p[DD_PIPE_MAX];
        const char *argv[DD_PIPE_MAX][6];
        ch_rconn_cmd cmds[DD_PIPE_MAX];
        size_t at[DD_PIPE_MAX], nc = 0;
        long long verdict[DD_PIPE_MAX];
        for (size_t j = 0; j < m; j++) {
            const ch_qitem *it = its[base + j];
            p[j].n = 0;
            p[j].arena = NULL;
            verdict[j] = 0;
            if (!it) continue;
            dd_prepare(tenant, it, &p[j]);
            verdict[j] = p[j].n == 0 ? 0 : -1;
            if (p[j].n != 1) continue;
            const char **a = argv[nc];
            a[0] = "SET"; a[1] = p[j].keys[0]; a[2] = p[j].value;
            a[3] = "NX"; a[4] = "EX"; a[5] = p[j].window;
            cmds[nc] = (ch_rconn_cmd){6, a, NULL};
            at[nc++] = j;
        }
        if (nc) {
            redisReply *r[DD_PIPE_MAX];
            ch_rconn_pipeline(nc, cmds, r);
            for (size_t k = 0; k < nc; k++) {
                /* A reply lost: that SET may or may not have run; the item
                 * is left to its own step (which finds its own mark if it
                 * did). */
                verdict[at[k]] = dd_set_verdict(r[k]);
                if (r[k]) freeReplyObject(r[k]);
            }
        }
        for (size_t j = 0; j < m; j++) {
            size_t i = base + j;
            if (st[i] == C360_OK && verdict[j] == -1)
                st[i] = dedup_script(tenant, its[i], p[j].value, p[j].window, p[j].keys, p[j].n,
                                     &verdict[j]);
            else if (verdict[j] == -2)
                st[i] = C360_EIO;
            if (st[i] == C360_OK) out[i] = dd_of(verdict[j]);
            free(p[j].arena);
        }
    }
}

int64_t ch_qw_backoff_ms(long long attempt, uint32_t retry_after_ms,
                         int64_t base_ms, int64_t cap_ms)
{
    if (base_ms < 1) base_ms = 1;
    if (cap_ms < base_ms) cap_ms = base_ms;
    if (attempt < 1) attempt = 1;
    int64_t top = base_ms;
    for (long long i = 1; i < attempt && top < cap_ms; i++) top *= 2;
    if (top > cap_ms) top = cap_ms;
    int64_t span = top - base_ms;
    int64_t d = base_ms;
    if (span > 0) {
        uint64_t rnd;
        randombytes_buf(&rnd, sizeof rnd);
        d += (int64_t)(rnd % (uint64_t)(span + 1));
    }
    if ((int64_t)retry_after_ms > d) d = retry_after_ms;
    return d;
}

void ch_qw_consumer_name(char *out, size_t cap, const char *host, long pid, int thread)
{
    snprintf(out, cap, "%s-%ld-%d", host, pid, thread);
}

int ch_qw_consumer_parse(const char *name, char *host, size_t hostcap, long *pid)
{
    const char *t = strrchr(name, '-');
    if (!t || t == name) return -1;
    const char *p = t - 1;
    while (p > name && *p != '-') p--;
    if (p == name) return -1;
    long long v, th;
    char pidbuf[24];
    size_t plen = (size_t)(t - p - 1);
    if (plen == 0 || plen >= sizeof pidbuf) return -1;
    memcpy(pidbuf, p + 1, plen);
    pidbuf[plen] = '\0';
    if (ch_parse_ll(pidbuf, 1, 1 << 30, &v) != 0 || ch_parse_ll(t + 1, 0, 1 << 20, &th) != 0) return -1;
    size_t hlen = (size_t)(p - name);
    if (hlen == 0 || hlen >= hostcap) return -1;
    memcpy(host, name, hlen);
    host[hlen] = '\0';
    *pid = (long)v;
    return 0;
}

void ch_qw_host_id(char *out, size_t cap)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0 || !h[0]) snprintf(h, sizeof h, "host");
    h[sizeof h - 1] = '\0';
    size_t n = 0;
    for (const char *s = h; *s && n + 1 < cap && n < 64; s++, n++) {
        char c = *s;
        out[n] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.') ? c : '_';
    }
    out[n] = '\0';
}
