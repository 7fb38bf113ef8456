/* instances.c -- see instances.h: the table of open instances, acquire,
 * peek, release, invalidate. The opener thread is in instances_opener.c. */
#include "instances.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "cond.h"
#include "instances_int.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

ch_instances *ch_instances_new(const ch_loader *ld, const ch_instances_opts *opts)
{
    ch_instances *set = ch_calloc(1, sizeof *set);
    set->ld = ld;
    set->recheck_ms = opts && opts->recheck_ms > 0 ? opts->recheck_ms : 1000;
    set->open_timeout_ms = opts && opts->open_timeout_ms > 0 ? opts->open_timeout_ms : 60000;
    pthread_mutex_init(&set->lock, NULL);
    pthread_cond_init(&set->opened, NULL);
    ch_cond_init_monotonic(&set->opener_wake);
    set->slots = ch_strmap_new();
    set->todo = ch_strmap_new();
    return set;
}

void inst_close_now(ch_instances *set, ch_inst *i)
{
    const ch_plugin_ops *ops = ch_plugin_ops_get(i->plugin);
    if (ops->instance_close) ops->instance_close(ch_plugin_data(i->plugin), i->ci.data);
    pthread_mutex_lock(&set->lock);
    set->stats.closed++;
    set->stats.open--;
    pthread_mutex_unlock(&set->lock);
    i->ci.magic = 0; /* a plugin keeping the pointer gets refused, not served */
    free(i->ci.tenant);
    free(i->ci.connection);
    ch_conn_free(i->conn);
    free(i);
}

void inst_close_or_defer(ch_instances *set, ch_inst *i)
{
    pthread_mutex_lock(&set->lock);
    if (set->opener_on && pthread_equal(pthread_self(), set->loop)) {
        /* instance_close is a worker-thread callback: not on the loop. */
        if (set->ncloseq == set->capcloseq) {
            set->capcloseq = set->capcloseq ? set->capcloseq * 2 : 16;
            set->closeq = ch_realloc(set->closeq, set->capcloseq * sizeof *set->closeq);
        }
        set->closeq[set->ncloseq++] = i;
        pthread_cond_signal(&set->opener_wake);
        pthread_mutex_unlock(&set->lock);
        return;
    }
    pthread_mutex_unlock(&set->lock);
    inst_close_now(set, i);
}

ch_inst *inst_retire_locked(ch_instances *set, inst_slot *s)
{
    (void)set;
    ch_inst *i = s->cur;
    if (!i) return NULL;
    s->cur = NULL;
    i->retired = 1;
    return --i->refs == 0 ? i : NULL;
}

static inst_slot *slot_get(ch_instances *set, const char *conn)
{
    inst_slot *s = ch_strmap_get(set->slots, conn);
    if (!s) {
        s = ch_calloc(1, sizeof *s);
        ch_strmap_put(set->slots, conn, s);
    }
    return s;
}

/* A connection hash's version field as Redis answered it: 0 when the
 * connection is gone (nil), -1 when the answer is not a version. */
static long long version_of(const redisReply *r)
{
    long long v = -1;
    if (r && r->type == REDIS_REPLY_NIL) v = 0;
    else if (r && r->type == REDIS_REPLY_STRING && ch_parse_ll(r->str, 1, INT64_MAX, &v) != 0) v = -1;
    return v;
}

/* The version Redis has now: 0 when the connection is gone, -1 on error. */
static long long current_version(const char *tenant, const char *conn)
{
    char *k = ch_key_tenant(tenant, "conn:%s", conn);
    redisReply *r = ch_rconn_command("HGET %s version", k);
    free(k);
    long long v = version_of(r);
    if (r) freeReplyObject(r);
    return v;
}

/* Opens a new instance of the connection (no lock held). */
static int32_t open_instance(ch_instances *set, const char *tenant, const char *conn,
                             ch_inst **out, char *err, size_t errcap)
{
    ch_conn *c = NULL;
    int32_t st = ch_conn_get(tenant, conn, &c);
    if (st == C360_ENOTFOUND) {
        snprintf(err, errcap, "connection not found");
        return st;
    }
    if (st != C360_OK) {
        snprintf(err, errcap, "cannot read the connection: %s", c360_strstatus(st));
        return st;
    }
    const ch_plugin *p = ch_loader_find(set->ld, c->plugin);
    if (!p) {
        snprintf(err, errcap, "plugin %s is not loaded", c->plugin);
        ch_conn_free(c);
        return C360_ENOTFOUND;
    }
    ch_inst *i = ch_calloc(1, sizeof *i);
    i->set = set;
    i->plugin = p;
    i->conn = c;
    i->ci.magic = CH_INSTANCE_MAGIC;
    i->ci.tenant = ch_strdup(tenant);
    i->ci.connection = ch_strdup(conn);
    i->ci.plugin = ch_plugin_name(p);
    c360_call call;
    ch_call_init(&call, ch_plugin_name(p), &i->ci, NULL, set->open_timeout_ms);
    void *data = NULL;
    st = ch_status_normalise(ch_plugin_ops_get(p)->instance_open(
        &call, ch_plugin_data(p), &i->ci, c->config, c->config_len, &data));
    if (st != C360_OK) {
        snprintf(err, errcap, "instance_open: %s%s%s", c360_strstatus(st),
                 call.error[0] ? ": " : "", call.error);
        ch_call_done(&call);
        ch_log(CH_LOG_WARN, "instance_open failed", "plugin", ch_plugin_name(p), "tenant", tenant,
               "connection", conn, "error", err, NULL);
        pthread_mutex_lock(&set->lock);
        set->stats.open_failed++;
        pthread_mutex_unlock(&set->lock);
        i->ci.magic = 0;
        free(i->ci.tenant);
        free(i->ci.connection);
        ch_conn_free(c);
        free(i);
        return st;
    }
    ch_call_done(&call);
    i->ci.data = data;
    i->checked_ms = ch_monotonic_ms();
    i->used_ms = i->checked_ms;
    *out = i;
    return C360_OK;
}

int32_t inst_acquire(ch_instances *set, const char *tenant, const char *conn, int force_check,
                     ch_inst **out, char *err, size_t errcap)
{
    char local[256]; /* the reason is logged even when the caller wants none */
    if (!err || errcap == 0) { err = local; errcap = sizeof local; }
    err[0] = '\0';
    *out = NULL;
    if (!ch_id_valid(tenant) || !ch_id_valid(conn)) {
        snprintf(err, errcap, "bad tenant or connection id");
        return C360_EINVAL;
    }
    pthread_mutex_lock(&set->lock);
    for (;;) {
        inst_slot *s = slot_get(set, conn);
        ch_inst *cur = s->cur;
        if (cur && strcmp(cur->ci.tenant, tenant) != 0) {
            /* The id now belongs to another tenant (purged, re-created). */
            ch_inst *dead = inst_retire_locked(set, s);
            pthread_mutex_unlock(&set->lock);
            if (dead) inst_close_or_defer(set, dead);
            pthread_mutex_lock(&set->lock);
            continue;
        }
        if (cur) {
            int64_t now = ch_monotonic_ms();
            cur->refs++;
            cur->used_ms = now;
            if (!force_check && now - cur->checked_ms < set->recheck_ms) {
                pthread_mutex_unlock(&set->lock);
                *out = cur;
                return C360_OK;
            }
            pthread_mutex_unlock(&set->lock);
            long long v = current_version(tenant, conn);
            if (v < 0) {
                /* Redis is away: the instance we have is still the best
                 * answer (it was valid recently); the caller's own Redis
                 * work will fail if Redis stays away. */
                *out = cur;
                return C360_OK;
            }
            pthread_mutex_lock(&set->lock);
            if ((uint64_t)v == cur->conn->version && !cur->retired) {
                cur->checked_ms = now;
                pthread_mutex_unlock(&set->lock);
                *out = cur;
                return C360_OK;
            }
            /* Superseded or gone: retire it (if still current), drop our
             * reference, and open anew below. */
            ch_inst *dead1 = s->cur == cur ? inst_retire_locked(set, s) : NULL;
            ch_inst *dead2 = --cur->refs == 0 ? cur : NULL;
            pthread_mutex_unlock(&set->lock);
            if (dead1 && dead1 != dead2) inst_close_or_defer(set, dead1);
            if (dead2) inst_close_or_defer(set, dead2);
            pthread_mutex_lock(&set->lock);
            if (v == 0) {
                pthread_mutex_unlock(&set->lock);
                snprintf(err, errcap, "connection not found");
                return C360_ENOTFOUND;
            }
            force_check = 0;
            continue;
        }
        if (s->opening) {
            pthread_cond_wait(&set->opened, &set->lock);
            continue;
        }
        s->opening = 1;
        pthread_mutex_unlock(&set->lock);
        ch_inst *fresh = NULL;
        int32_t st = open_instance(set, tenant, conn, &fresh, err, errcap);
        pthread_mutex_lock(&set->lock);
        s = slot_get(set, conn);
        s->opening = 0;
        ch_inst *dead = NULL;
        if (st == C360_OK) {
            dead = inst_retire_locked(set, s); /* cannot happen: opening */
            fresh->refs = 2;                   /* the table's and ours */
            s->cur = fresh;
            set->stats.opened++;
            set->stats.open++;
        }
        pthread_cond_broadcast(&set->opened);
        pthread_mutex_unlock(&set->lock);
        if (dead) inst_close_or_defer(set, dead);
        *out = fresh;
        return st;
    }
}

int32_t ch_instance_acquire(ch_instances *set, const char *tenant, const char *conn,
                            ch_inst **out, char *err, size_t errcap)
{
    return inst_acquire(set, tenant, conn, 0, out, err, errcap);
}

ch_inst *ch_instance_peek(ch_instances *set, const char *tenant, const char *conn,
                          uint64_t version)
{
    pthread_mutex_lock(&set->lock);
    inst_slot *s = ch_strmap_get(set->slots, conn);
    ch_inst *i = s ? s->cur : NULL;
    if (i && i->conn->version == version && strcmp(i->ci.tenant, tenant) == 0) {
        i->refs++;
        i->used_ms = ch_monotonic_ms();
    } else {
        i = NULL;
        set->stats.peek_miss++;
        if (set->opener_on) opener_enqueue_locked(set, tenant, conn);
    }
    pthread_mutex_unlock(&set->lock);
    return i;
}

void ch_instance_release(ch_inst *i)
{
    if (!i) return;
    ch_instances *set = i->set;
    pthread_mutex_lock(&set->lock);
    int last = --i->refs == 0;
    pthread_mutex_unlock(&set->lock);
    if (last) inst_close_or_defer(set, i);
}

void ch_instances_invalidate(ch_instances *set, const char *conn)
{
    if (!conn) return;
    pthread_mutex_lock(&set->lock);
    inst_slot *s = ch_strmap_get(set->slots, conn);
    ch_inst *dead = NULL;
    char tenant[CH_ID_MAX + 1] = "";
    if (s && s->cur) {
        snprintf(tenant, sizeof tenant, "%s", s->cur->ci.tenant);
        dead = inst_retire_locked(set, s);
    }
    if (set->opener_on && tenant[0]) opener_enqueue_locked(set, tenant, conn);
    pthread_mutex_unlock(&set->lock);
    if (dead) inst_close_or_defer(set, dead);
}

c360_instance *ch_inst_instance(ch_inst *i) { return &i->ci; }
void *ch_inst_data(const ch_inst *i) { return i->ci.data; }
const ch_plugin *ch_inst_plugin(const ch_inst *i) { return i->plugin; }
const ch_conn *ch_inst_conn(const ch_inst *i) { return i->conn; }
uint64_t ch_inst_version(const ch_inst *i) { return i->conn->version; }

void ch_instances_get_stats(ch_instances *set, ch_instances_stats *out)
{
    pthread_mutex_lock(&set->lock);
    *out = set->stats;
    pthread_mutex_unlock(&set->lock);
}

/* An idle instance found by the sweep's first pass, told apart later from
 * one opened meanwhile at the same address by its use time. */
typedef struct sweep_cand {
    ch_inst *inst;
    int64_t used_ms;
    uint64_t version;
    char tenant[CH_ID_MAX + 1], conn[CH_ID_MAX + 1];
    int close;                 /* 1: idle past idle_max_ms, or found stale */
    int fresh;                 /* Redis has it as opened: a version check */
} sweep_cand;

typedef struct sweep_ctx {
    int64_t now, check_ms, idle_max_ms;
    sweep_cand *v;
    size_t n, cap;
} sweep_ctx;

static void sweep_slot(const char *key, void *value, void *arg)
{
    sweep_ctx *w = arg;
    inst_slot *s = value;
    ch_inst *i = s->cur;
    /* Only what nobody holds: an instance in use stays, however old. And
     * Redis is asked about an idle one at most once per check_ms (its
     * version checks count: acquire's and the sweep's own). */
    if (!i || s->opening || i->refs != 1 || w->now - i->used_ms < w->check_ms) return;
    int close = w->now - i->used_ms >= w->idle_max_ms;
    if (!close && w->now - i->checked_ms < w->check_ms) return;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->v = ch_realloc(w->v, w->cap * sizeof *w->v);
    }
    sweep_cand *c = &w->v[w->n++];
    c->inst = i;
    c->used_ms = i->used_ms;
    c->version = i->conn->version;
    snprintf(c->tenant, sizeof c->tenant, "%s", i->ci.tenant);
    snprintf(c->conn, sizeof c->conn, "%s", key);
    c->close = close;
    c->fresh = 0;
}

/* The connection as Redis has it now (an HMGET version state reply):
 * gone, disabled or at another version means the instance is stale; 1
 * then, 0 when it is as opened, -1 when Redis did not answer (kept, and
 * asked again at the next sweep). */
static int stale(const sweep_cand *c, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
    const redisReply *st = r->element[1];
    long long ver = version_of(r->element[0]);
    if (ver < 0) return -1;
    if (ver == 0 || (uint64_t)ver != c->version) return 1;
    return st->type == REDIS_REPLY_STRING && strcmp(st->str, CH_CONN_STATE_DISABLED) == 0;
}

/* The candidates not already to be closed, asked in pipelined batches:
 * thousands of idle instances cost a few round trips, not one each. */
#define SWEEP_BATCH 128
static void sweep_ask(sweep_cand *v, size_t n)
{
    size_t idx[SWEEP_BATCH];
    char *keys[SWEEP_BATCH];
    const char *argv[SWEEP_BATCH][4];
    ch_rconn_cmd cmds[SWEEP_BATCH];
    redisReply *replies[SWEEP_BATCH];
    for (size_t k = 0; k < n;) {
        size_t m = 0;
        for (; k < n && m < SWEEP_BATCH; k++) {
            if (v[k].close) continue;
            idx[m] = k;
            keys[m] = ch_key_tenant(v[k].tenant, "conn:%s", v[k].conn);
            argv[m][0] = "HMGET";
            argv[m][1] = keys[m];
            argv[m][2] = "version";
            argv[m][3] = "state";
            cmds[m] = (ch_rconn_cmd){4, argv[m], NULL};
            m++;
        }
        if (m == 0) break;
        memset(replies, 0, m * sizeof *replies);
        ch_rconn_pipeline(m, cmds, replies);
        for (size_t j = 0; j < m; j++) {
            int st = stale(&v[idx[j]], replies[j]);
            v[idx[j]].close = st == 1;
            v[idx[j]].fresh = st == 0;
            if (replies[j]) freeReplyObject(replies[j]);
            free(keys[j]);
        }
    }
}

size_t ch_instances_sweep(ch_instances *set, int64_t check_ms, int64_t idle_max_ms)
{
    sweep_ctx w = {ch_monotonic_ms(), check_ms, idle_max_ms, NULL, 0, 0};
    pthread_mutex_lock(&set->lock);
    ch_strmap_foreach(set->slots, sweep_slot, &w);
    pthread_mutex_unlock(&set->lock);
    /* Redis is asked without the lock: acquires go on meanwhile. */
    sweep_ask(w.v, w.n);
    ch_inst **dead = w.n ? ch_calloc(w.n, sizeof *dead) : NULL;
    size_t nd = 0;
    pthread_mutex_lock(&set->lock);
    for (size_t k = 0; k < w.n; k++) {
        const sweep_cand *c = &w.v[k];
        if (!c->close && !c->fresh) continue;
        inst_slot *s = ch_strmap_get(set->slots, c->conn);
        /* Still the same instance, still unused since the first pass. */
        if (!s || s->cur != c->inst || s->opening || c->inst->refs != 1 ||
            c->inst->used_ms != c->used_ms)
            continue;
        if (!c->close) {
            /* As opened: that was a version check. */
            c->inst->checked_ms = w.now;
            continue;
        }
        ch_inst *d = inst_retire_locked(set, s);
        if (d) dead[nd++] = d;
    }
    pthread_mutex_unlock(&set->lock);
    for (size_t k = 0; k < nd; k++) inst_close_or_defer(set, dead[k]);
    free(dead);
    free(w.v);
    return nd;
}

typedef struct free_ctx {
    ch_instances *set;
    ch_inst **close;
    size_t n;
} free_ctx;

static void collect_slot(const char *key, void *value, void *arg)
{
    free_ctx *f = arg;
    inst_slot *s = value;
    if (!s->cur) return;
    ch_inst *i = s->cur;
    ch_inst *dead = inst_retire_locked(f->set, s);
    if (dead) f->close[f->n++] = dead;
    else
        ch_log(CH_LOG_ERROR, "instances: still referenced at shutdown; not closed", "connection",
               key, "plugin", ch_plugin_name(i->plugin), NULL);
}

void ch_instances_free(ch_instances *set)
{
    if (!set) return;
    ch_instances_opener_stop(set);
    pthread_mutex_lock(&set->lock);
    free_ctx f = {set, ch_calloc(ch_strmap_count(set->slots) + 1, sizeof(ch_inst *)), 0};
    ch_strmap_foreach(set->slots, collect_slot, &f);
    pthread_mutex_unlock(&set->lock);
    /* At shutdown there is no worker left: close on this thread. */
    for (size_t i = 0; i < f.n; i++) inst_close_now(set, f.close[i]);
    free(f.close);
    ch_strmap_free(set->slots, free);
    ch_strmap_free(set->todo, free);
    free(set->closeq);
    pthread_cond_destroy(&set->opener_wake);
    pthread_cond_destroy(&set->opened);
    pthread_mutex_destroy(&set->lock);
    free(set);
}
