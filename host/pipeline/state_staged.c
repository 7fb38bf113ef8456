/* state_staged.c -- see state_staged.h. */
#include "state_staged.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keys.h"
#include "util.h"

void ch_staged_init(ch_staged *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
}

static void drop_all(ch_staged *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].value);
    }
    s->n = 0;
    s->bytes = 0;
    s->refused = 0;
}

void ch_staged_reset(ch_staged *s)
{
    pthread_mutex_lock(&s->lock);
    drop_all(s);
    pthread_mutex_unlock(&s->lock);
}

static _Thread_local ch_staged_barrier_fn tl_barrier;
static _Thread_local void *tl_barrier_arg;

void ch_staged_set_barrier(ch_staged_barrier_fn fn, void *arg)
{
    tl_barrier = fn;
    tl_barrier_arg = arg;
}

void ch_staged_clear_barrier(void *arg)
{
    if (tl_barrier_arg == arg) {
        tl_barrier = NULL;
        tl_barrier_arg = NULL;
    }
}

void ch_staged_barrier(const char *tenant, const char *conn)
{
    if (tl_barrier && tenant && conn) tl_barrier(tl_barrier_arg, tenant, conn);
}

void ch_staged_free(ch_staged *s)
{
    drop_all(s);
    free(s->v);
    s->v = NULL;
    s->cap = 0;
    pthread_mutex_destroy(&s->lock);
}

int32_t ch_staged_add(ch_staged *s, const char *key, const void *value,
                      size_t len, uint32_t ttl_ms, size_t value_max)
{
    int32_t st = C360_OK;
    if (!ch_name_valid(key) || (!value && len)) st = C360_EINVAL;
    else if (len > value_max) st = C360_ETOOBIG;
    if (st != C360_OK) {
        pthread_mutex_lock(&s->lock);
        s->refused++;
        pthread_mutex_unlock(&s->lock);
        return st;
    }
    size_t add = strlen(key) + len;
    ch_staged_write w = {ch_strdup(key), NULL, len, value ? ttl_ms : 0};
    if (value) {
        w.value = ch_malloc(len + 1);
        memcpy(w.value, value, len);
        w.value[len] = '\0';
    }

    pthread_mutex_lock(&s->lock);
    if (s->n >= CH_STAGED_MAX || s->bytes + add > CH_STAGED_BYTES_MAX) {
        s->refused++;
        pthread_mutex_unlock(&s->lock);
        free(w.key);
        free(w.value);
        return C360_ETOOBIG;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = ch_realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = w;
    s->bytes += add;
    pthread_mutex_unlock(&s->lock);
    return C360_OK;
}

static size_t put(char *out, const char *s, size_t n)
{
    int k = sprintf(out, "%zu:", n);
    memcpy(out + k, s, n);
    return (size_t)k + n;
}

char *ch_staged_pack(ch_staged *s, size_t *len, char ***keys, size_t *n)
{
    pthread_mutex_lock(&s->lock);
    *len = 0;
    *keys = NULL;
    *n = s->n;
    if (s->n == 0) {
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    /* Per write: three length prefixes of at most 21 bytes
     * ("18446744073709551615:"), the op, a ttl of at most 10 digits. */
    size_t cap = s->bytes + s->n * (3 * 21 + 1 + 10) + 1;
    char *out = ch_malloc(cap), *p = out;
    /* The key names: the pointers, then the strings they point to. */
    size_t names = 0;
    for (size_t i = 0; i < s->n; i++) names += strlen(s->v[i].key) + 1;
    char **k = ch_malloc(s->n * sizeof *k + names);
    char *kp = (char *)(k + s->n);
    for (size_t i = 0; i < s->n; i++) {
        const ch_staged_write *w = &s->v[i];
        char ttl[16];
        int tl = snprintf(ttl, sizeof ttl, "%" PRIu32, w->ttl_ms);
        p += put(p, w->value ? "s" : "d", 1);
        p += put(p, ttl, (size_t)tl);
        p += put(p, w->value ? w->value : "", w->value ? w->len : 0);
        size_t kl = strlen(w->key) + 1;
        memcpy(kp, w->key, kl);
        k[i] = kp;
        kp += kl;
    }
    *len = (size_t)(p - out);
    *keys = k;
    pthread_mutex_unlock(&s->lock);
    return out;
}

size_t ch_staged_count(ch_staged *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}
