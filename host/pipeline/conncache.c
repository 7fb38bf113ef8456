/* conncache.c -- see conncache.h: the refresher thread (full loads and
 * single-connection refreshes over blocking Redis) and the life cycle.
 * Data and lookups: conncache_snap.c; the subscription: conncache_sub.c. */
#include "conncache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "cond.h"
#include "conncache_int.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

/* KEYS[1] the tenant's conns set; ARGV[1] the tenant's key prefix. For
 * every connection: {id, plugin, state, version, ticks, {routing keys}}.
 * The per-connection keys are derived from the prefix: they share the
 * tenant's hash slot with KEYS[1]. */
static ch_script s_load_tenant = CH_SCRIPT(
    "local out = {}\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local h = redis.call('HMGET', ARGV[1] .. 'conn:' .. id, 'plugin', 'state', 'version', 'ticks')\n"
    "  if h[1] then\n"
    "    out[#out + 1] = {id, h[1], h[2] or 'active', h[3] or '0', h[4] or '0',\n"
    "                     redis.call('SMEMBERS', ARGV[1] .. 'conn:' .. id .. ':rk')}\n"
    "  end\n"
    "end\n"
    "return out\n");

/* KEYS[1] conn hash, KEYS[2] its rk set: {plugin, state, version, ticks,
 * {routing keys}} or nil when the connection is gone. */
static ch_script s_load_one = CH_SCRIPT(
    "local h = redis.call('HMGET', KEYS[1], 'plugin', 'state', 'version', 'ticks')\n"
    "if not h[1] then return false end\n"
    "return {h[1], h[2] or 'active', h[3] or '0', h[4] or '0', redis.call('SMEMBERS', KEYS[2])}\n");

/* Builds a cc_conn from {plugin, state, version, ticks, {rk}} at r->element
 * [off..off+5). NULL when the reply is not that shape. */
static cc_conn *parse_conn(const char *tenant, const char *id, redisReply **f)
{
    for (int i = 0; i < 4; i++)
        if (f[i]->type != REDIS_REPLY_STRING) return NULL;
    if (f[4]->type != REDIS_REPLY_ARRAY) return NULL;
    if (!ch_id_valid(tenant) || !ch_id_valid(id) || f[0]->len >= CH_CONN_PLUGIN_MAX) return NULL;
    cc_conn *c = ch_calloc(1, sizeof *c);
    snprintf(c->e.tenant, sizeof c->e.tenant, "%s", tenant);
    snprintf(c->e.id, sizeof c->e.id, "%s", id);
    snprintf(c->e.plugin, sizeof c->e.plugin, "%s", f[0]->str);
    snprintf(c->e.state, sizeof c->e.state, "%s", f[1]->str);
    long long v = 0;
    if (ch_parse_ll(f[2]->str, 0, INT64_MAX, &v) == 0) c->e.version = (uint64_t)v;
    c->e.ticks = strcmp(f[3]->str, "1") == 0;
    redisReply *rk = f[4];
    c->rk = ch_calloc(rk->elements ? rk->elements : 1, sizeof *c->rk);
    for (size_t i = 0; i < rk->elements; i++) {
        if (rk->element[i]->type != REDIS_REPLY_STRING ||
            rk->element[i]->len > CH_CONN_ROUTE_KEY_MAX)
            continue;
        c->rk[c->nrk++] = ch_strndup(rk->element[i]->str, rk->element[i]->len);
    }
    return c;
}

static int load_tenant(cc_snap *s, const char *tenant)
{
    char *ks = ch_key_tenant(tenant, "conns");
    char *prefix = ch_key_tenant_prefix(tenant);
    const char *argv[2] = {ks, prefix};
    redisReply *r = ch_rconn_eval(&s_load_tenant, 1, 2, argv, NULL);
    free(ks);
    free(prefix);
    int ok = r && r->type == REDIS_REPLY_ARRAY;
    for (size_t i = 0; ok && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 6 ||
            e->element[0]->type != REDIS_REPLY_STRING) {
            ok = 0;
            break;
        }
        cc_conn *c = parse_conn(tenant, e->element[0]->str, e->element + 1);
        if (c) cc_snap_put(s, c);
    }
    if (!ok)
        ch_log(CH_LOG_WARN, "conncache: loading a tenant failed", "tenant", tenant, "error",
               !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
               NULL);
    if (r) freeReplyObject(r);
    return ok;
}

/* The unexpired tombstones (conns.h), a page at a time. */
static int load_gone(cc_snap *s)
{
    char now[24];
    snprintf(now, sizeof now, "(%lld", (long long)ch_now_ms());
    for (long long off = 0;; off += 1000) {
        redisReply *r = ch_rconn_command("ZRANGEBYSCORE %s %s +inf WITHSCORES LIMIT %lld 1000",
                                         CH_CONN_GONE_KEY, now, off);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
            ch_log(CH_LOG_WARN, "conncache: loading tombstones failed", "error",
                   !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                   NULL);
            if (r) freeReplyObject(r);
            return 0;
        }
        size_t n = r->elements / 2;
        for (size_t i = 0; i < n; i++) {
            redisReply *id = r->element[2 * i], *sc = r->element[2 * i + 1];
            if (id->type == REDIS_REPLY_STRING && sc->type == REDIS_REPLY_STRING &&
                ch_id_valid(id->str))
                cc_snap_gone(s, id->str, (int64_t)strtod(sc->str, NULL));
        }
        freeReplyObject(r);
        if (n < 1000) return 1;
    }
}

/* Reads every tenant's connections into a new snapshot and swaps it in. */
static int full_load(ch_conncache *cc)
{
    cc_snap *s = cc_snap_new();
    char cursor[32] = "0";
    int ok = 1;
    do {
        redisReply *r = ch_rconn_command("SSCAN c360:{idx}:tenants %s COUNT 500", cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            ch_log(CH_LOG_WARN, "conncache: scanning tenants failed", "error",
                   !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                   NULL);
            if (r) freeReplyObject(r);
            ok = 0;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *page = r->element[1];
        for (size_t i = 0; ok && i < page->elements; i++) {
            redisReply *t = page->element[i];
            if (t->type == REDIS_REPLY_STRING && ch_id_valid(t->str)) ok = load_tenant(s, t->str);
        }
        freeReplyObject(r);
    } while (ok && strcmp(cursor, "0") != 0);
    if (ok) ok = load_gone(s);
    if (!ok) {
        cc_snap_free(s);
        atomic_fetch_add(&cc->load_errors, 1);
        return 0;
    }
    pthread_mutex_lock(&cc->lock);
    cc_snap *old = cc->snap;
    cc->snap = s;
    void (*on_reload)(void *) = cc->on_reload;
    void *arg = cc->listener_arg;
    pthread_mutex_unlock(&cc->lock);
    cc_snap_free(old);
    atomic_fetch_add(&cc->full_loads, 1);
    if (!atomic_exchange(&cc->loaded, 1))
        ch_log(CH_LOG_INFO, "conncache: loaded", NULL);
    if (on_reload) on_reload(arg);
    return 1;
}

static int refresh_one(ch_conncache *cc, const cc_msg *m)
{
    char *kc = ch_key_tenant(m->tenant, "conn:%s", m->id);
    char *kr = ch_key_tenant(m->tenant, "conn:%s:rk", m->id);
    const char *argv[2] = {kc, kr};
    redisReply *r = ch_rconn_eval(&s_load_one, 2, 2, argv, NULL);
    free(kc);
    free(kr);
    int ok = 1;
    cc_conn *c = NULL;
    int64_t tomb = 0;
    if (r && r->type == REDIS_REPLY_NIL) {
        c = NULL; /* gone: disconnected (a tombstone) or never there */
        if (ch_conn_gone_get(m->id, &tomb) != C360_OK) {
            freeReplyObject(r);
            atomic_fetch_add(&cc->load_errors, 1);
            return 0;
        }
    } else if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
        c = parse_conn(m->tenant, m->id, r->element);
        ok = c != NULL;
    } else {
        ok = 0;
    }
    if (!ok) {
        ch_log(CH_LOG_WARN, "conncache: refreshing a connection failed", "tenant", m->tenant,
               "connection", m->id, "error",
               !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
               NULL);
        if (r) freeReplyObject(r);
        atomic_fetch_add(&cc->load_errors, 1);
        return 0;
    }
    freeReplyObject(r);
    pthread_mutex_lock(&cc->lock);
    /* A connection hash exists only under the tenant that claimed the id
     * (conns.c claims first), so a found one replaces whatever is cached;
     * "gone" removes only the named tenant's entry (an id re-used by
     * another tenant after a purge stays). */
    cc_conn *cur = ch_strmap_get(cc->snap->conns, m->id);
    int same_owner = c || !cur || strcmp(cur->e.tenant, m->tenant) == 0;
    if (c) cc_snap_put(cc->snap, c);
    else if (same_owner) cc_snap_remove(cc->snap, m->id);
    cc_snap_gone(cc->snap, m->id, c ? 0 : tomb);
    c = NULL;
    void (*on_change)(const char *, const char *, void *) = cc->on_change;
    void *arg = cc->listener_arg;
    pthread_mutex_unlock(&cc->lock);
    atomic_fetch_add(&cc->refreshes, 1);
    if (on_change && same_owner) on_change(m->tenant, m->id, arg);
    return 1;
}

static void *refresher_main(void *arg)
{
    ch_conncache *cc = arg;
    int64_t next_load = 0; /* at once */
    pthread_mutex_lock(&cc->lock);
    while (!cc->stopping) {
        int64_t now = ch_monotonic_ms();
        if (cc->reload_wanted || now >= next_load) {
            cc->reload_wanted = 0;
            /* A full load reads everything after this point: the changes
             * queued so far are part of it. */
            cc->q_len = 0;
            pthread_mutex_unlock(&cc->lock);
            int ok = full_load(cc);
            pthread_mutex_lock(&cc->lock);
            next_load = ch_monotonic_ms() + (ok ? (int64_t)cc->reload_s * 1000 : 1000);
            continue;
        }
        if (cc->q_len) {
            cc_msg m = cc->queue[cc->q_head];
            cc->q_head = (cc->q_head + 1) % CC_QUEUE_MAX;
            cc->q_len--;
            pthread_mutex_unlock(&cc->lock);
            int ok = refresh_one(cc, &m);
            pthread_mutex_lock(&cc->lock);
            /* A failed refresh leaves a stale entry: reload soon. */
            if (!ok && next_load > ch_monotonic_ms() + 1000) next_load = ch_monotonic_ms() + 1000;
            continue;
        }
        ch_cond_wait_ms(&cc->wake, &cc->lock, next_load - now);
    }
    pthread_mutex_unlock(&cc->lock);
    ch_rconn_thread_close();
    return NULL;
}

void cc_enqueue(ch_conncache *cc, const char *tenant, const char *id)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(id)) return;
    pthread_mutex_lock(&cc->lock);
    if (cc->q_len == CC_QUEUE_MAX) {
        /* Flooded with changes: one full load covers them all. */
        cc->reload_wanted = 1;
    } else {
        cc_msg *m = &cc->queue[(cc->q_head + cc->q_len) % CC_QUEUE_MAX];
        snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
        snprintf(m->id, sizeof m->id, "%s", id);
        cc->q_len++;
    }
    pthread_cond_signal(&cc->wake);
    pthread_mutex_unlock(&cc->lock);
}

void cc_want_reload(ch_conncache *cc)
{
    pthread_mutex_lock(&cc->lock);
    cc->reload_wanted = 1;
    pthread_cond_signal(&cc->wake);
    pthread_mutex_unlock(&cc->lock);
}

void ch_conncache_refresh(ch_conncache *cc, const char *tenant, const char *conn)
{
    cc_enqueue(cc, tenant, conn);
}

ch_conncache *ch_conncache_new(struct event_base *base, const ch_redis_url *url,
                               const char *username, const char *password, int reload_s)
{
    ch_conncache *cc = ch_calloc(1, sizeof *cc);
    cc->reload_s = reload_s > 0 ? reload_s : 30;
    pthread_mutex_init(&cc->lock, NULL);
    ch_cond_init_monotonic(&cc->wake);
    cc->snap = cc_snap_new();
    cc->queue = ch_calloc(CC_QUEUE_MAX, sizeof *cc->queue);
    cc->sub = cc_sub_new(cc, base, url, username, password);
    return cc;
}

int ch_conncache_start(ch_conncache *cc)
{
    if (cc->thread_started) return 0;
    int rc = pthread_create(&cc->thread, NULL, refresher_main, cc);
    if (rc != 0) {
        ch_log(CH_LOG_ERROR, "conncache: cannot start the refresher thread", "error",
               strerror(rc), NULL);
        return -1;
    }
    cc->thread_started = 1;
    cc_sub_start(cc->sub);
    return 0;
}

void ch_conncache_stop(ch_conncache *cc)
{
    if (!cc) return;
    if (cc->sub) {
        cc_sub_free(cc->sub);
        cc->sub = NULL;
    }
    if (cc->thread_started) {
        pthread_mutex_lock(&cc->lock);
        cc->stopping = 1;
        pthread_cond_signal(&cc->wake);
        pthread_mutex_unlock(&cc->lock);
        pthread_join(cc->thread, NULL);
        cc->thread_started = 0;
    }
}

void ch_conncache_free(ch_conncache *cc)
{
    if (!cc) return;
    ch_conncache_stop(cc);
    cc_snap_free(cc->snap);
    free(cc->queue);
    pthread_cond_destroy(&cc->wake);
    pthread_mutex_destroy(&cc->lock);
    free(cc);
}

int ch_conncache_loaded(ch_conncache *cc) { return atomic_load(&cc->loaded); }

void ch_conncache_set_listener(ch_conncache *cc,
                               void (*on_change)(const char *, const char *, void *),
                               void (*on_reload)(void *), void *arg)
{
    pthread_mutex_lock(&cc->lock);
    cc->on_change = on_change;
    cc->on_reload = on_reload;
    cc->listener_arg = arg;
    pthread_mutex_unlock(&cc->lock);
}
