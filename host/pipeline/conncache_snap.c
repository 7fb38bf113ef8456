/* conncache_snap.c -- the cache's data: connections by id and the
 * routing-key index built from the keys each connection registered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "conncache_int.h"
#include "util.h"

/* "<plugin>\x1f<key>": the unit separator cannot occur in either part
 * (plugin names are [a-z0-9_], keys printable ASCII). */
static void route_key(char *out, size_t cap, const char *plugin, const char *key)
{
    snprintf(out, cap, "%s\x1f%s", plugin, key);
}

#define RK_BUF (CH_CONN_PLUGIN_MAX + CH_CONN_ROUTE_KEY_MAX + 2)

void cc_conn_free(cc_conn *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nrk; i++) free(c->rk[i]);
    free(c->rk);
    free(c);
}

static void free_conn_v(void *v) { cc_conn_free(v); }

static void free_targets(void *v)
{
    cc_targets *t = v;
    free(t->t);
    free(t);
}

cc_snap *cc_snap_new(void)
{
    cc_snap *s = ch_calloc(1, sizeof *s);
    s->conns = ch_strmap_new();
    s->routes = ch_strmap_new();
    s->gone = ch_strmap_new();
    return s;
}

void cc_snap_free(cc_snap *s)
{
    if (!s) return;
    ch_strmap_free(s->conns, free_conn_v);
    ch_strmap_free(s->routes, free_targets);
    ch_strmap_free(s->gone, free);
    free(s);
}

static void targets_remove(cc_snap *s, const char *plugin, const char *key, const ch_cc_entry *e)
{
    char rk[RK_BUF];
    route_key(rk, sizeof rk, plugin, key);
    cc_targets *t = ch_strmap_get(s->routes, rk);
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->t[i].id, e->id) == 0 && strcmp(t->t[i].tenant, e->tenant) == 0) {
            t->t[i] = t->t[--t->n];
            break;
        }
    }
    if (t->n == 0) free_targets(ch_strmap_del(s->routes, rk));
}

static void targets_add(cc_snap *s, const char *plugin, const char *key, const ch_cc_entry *e)
{
    char rk[RK_BUF];
    route_key(rk, sizeof rk, plugin, key);
    cc_targets *t = ch_strmap_get(s->routes, rk);
    if (!t) {
        t = ch_calloc(1, sizeof *t);
        ch_strmap_put(s->routes, rk, t);
    }
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->t[i].id, e->id) == 0 && strcmp(t->t[i].tenant, e->tenant) == 0) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 2;
        t->t = ch_realloc(t->t, t->cap * sizeof *t->t);
    }
    ch_cc_target *x = &t->t[t->n++];
    memcpy(x->tenant, e->tenant, sizeof x->tenant);
    memcpy(x->id, e->id, sizeof x->id);
}

void cc_snap_remove(cc_snap *s, const char *id)
{
    cc_conn *old = ch_strmap_del(s->conns, id);
    if (!old) return;
    for (size_t i = 0; i < old->nrk; i++) targets_remove(s, old->e.plugin, old->rk[i], &old->e);
    cc_conn_free(old);
}

void cc_snap_put(cc_snap *s, cc_conn *c)
{
    cc_snap_remove(s, c->e.id);
    for (size_t i = 0; i < c->nrk; i++) targets_add(s, c->e.plugin, c->rk[i], &c->e);
    ch_strmap_put(s->conns, c->e.id, c);
}

void cc_snap_gone(cc_snap *s, const char *id, int64_t expires_ms)
{
    if (expires_ms <= 0) {
        free(ch_strmap_del(s->gone, id));
        return;
    }
    int64_t *v = ch_strmap_get(s->gone, id);
    if (!v) {
        v = ch_malloc(sizeof *v);
        ch_strmap_put(s->gone, id, v);
    }
    *v = expires_ms;
}

/* --- lookups (conncache.h) --------------------------------------------- */

int ch_conncache_get(ch_conncache *cc, const char *id, ch_cc_entry *out)
{
    if (!id) return 0;
    pthread_mutex_lock(&cc->lock);
    cc_conn *c = cc->snap ? ch_strmap_get(cc->snap->conns, id) : NULL;
    if (c) *out = c->e;
    pthread_mutex_unlock(&cc->lock);
    return c != NULL;
}

size_t ch_conncache_route(ch_conncache *cc, const char *plugin, const char *key,
                          ch_cc_target *out, size_t cap)
{
    if (!plugin || !key || strlen(key) > CH_CONN_ROUTE_KEY_MAX ||
        strlen(plugin) >= CH_CONN_PLUGIN_MAX)
        return 0;
    char rk[RK_BUF];
    route_key(rk, sizeof rk, plugin, key);
    pthread_mutex_lock(&cc->lock);
    cc_targets *t = cc->snap ? ch_strmap_get(cc->snap->routes, rk) : NULL;
    size_t n = t ? t->n : 0;
    for (size_t i = 0; i < n && i < cap; i++) out[i] = t->t[i];
    pthread_mutex_unlock(&cc->lock);
    return n;
}

int ch_conncache_gone(ch_conncache *cc, const char *id)
{
    if (!id) return 0;
    int64_t now = ch_now_ms();
    pthread_mutex_lock(&cc->lock);
    const int64_t *v = cc->snap ? ch_strmap_get(cc->snap->gone, id) : NULL;
    int gone = v && *v > now;
    pthread_mutex_unlock(&cc->lock);
    return gone;
}

typedef struct foreach_ctx {
    void (*fn)(const ch_cc_entry *, void *);
    void *arg;
} foreach_ctx;

static void foreach_one(const char *key, void *value, void *arg)
{
    (void)key;
    foreach_ctx *f = arg;
    ch_cc_entry e = ((cc_conn *)value)->e;
    f->fn(&e, f->arg);
}

void ch_conncache_foreach(ch_conncache *cc, void (*fn)(const ch_cc_entry *, void *), void *arg)
{
    foreach_ctx f = {fn, arg};
    pthread_mutex_lock(&cc->lock);
    if (cc->snap) ch_strmap_foreach(cc->snap->conns, foreach_one, &f);
    pthread_mutex_unlock(&cc->lock);
}

void ch_conncache_get_stats(ch_conncache *cc, ch_conncache_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&cc->lock);
    if (cc->snap) {
        out->connections = ch_strmap_count(cc->snap->conns);
        out->route_keys = ch_strmap_count(cc->snap->routes);
    }
    pthread_mutex_unlock(&cc->lock);
    out->full_loads = atomic_load(&cc->full_loads);
    out->refreshes = atomic_load(&cc->refreshes);
    out->load_errors = atomic_load(&cc->load_errors);
    out->subscribed = atomic_load(&cc->subscribed);
}
