/* strmap.c -- see strmap.h. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct node {
    struct node *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated */
} node;

struct ch_strmap {
    node **b;
    size_t nb;    /* power of two */
    size_t count;
};

/* FNV-1a: keys are short ids; no untrusted party chooses enough of them
 * to matter (connection ids and routing keys come from operators and
 * plugins, not from webhook senders). */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

ch_strmap *ch_strmap_new(void)
{
    ch_strmap *m = ch_calloc(1, sizeof *m);
    m->nb = 16;
    m->b = ch_calloc(m->nb, sizeof *m->b);
    return m;
}

void ch_strmap_free(ch_strmap *m, void (*free_value)(void *))
{
    if (!m) return;
    for (size_t i = 0; i < m->nb; i++) {
        node *n = m->b[i];
        while (n) {
            node *next = n->next;
            if (free_value) free_value(n->value);
            free(n);
            n = next;
        }
    }
    free(m->b);
    free(m);
}

size_t ch_strmap_count(const ch_strmap *m) { return m->count; }

static node **find(const ch_strmap *m, const char *key, uint64_t h)
{
    node **p = &m->b[h & (m->nb - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0)) p = &(*p)->next;
    return p;
}

void *ch_strmap_get(const ch_strmap *m, const char *key)
{
    node **p = find(m, key, hash_str(key));
    return *p ? (*p)->value : NULL;
}

static void grow(ch_strmap *m)
{
    size_t nb = m->nb * 2;
    node **b = ch_calloc(nb, sizeof *b);
    for (size_t i = 0; i < m->nb; i++) {
        node *n = m->b[i];
        while (n) {
            node *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

void *ch_strmap_put(ch_strmap *m, const char *key, void *value)
{
    uint64_t h = hash_str(key);
    node **p = find(m, key, h);
    if (*p) {
        void *old = (*p)->value;
        (*p)->value = value;
        return old;
    }
    size_t len = strlen(key);
    node *n = ch_malloc(sizeof *n + len + 1);
    memcpy(n->key, key, len + 1);
    n->hash = h;
    n->value = value;
    n->next = NULL;
    *p = n;
    if (++m->count > m->nb) grow(m);
    return NULL;
}

void *ch_strmap_del(ch_strmap *m, const char *key)
{
    node **p = find(m, key, hash_str(key));
    if (!*p) return NULL;
    node *n = *p;
    void *v = n->value;
    *p = n->next;
    free(n);
    m->count--;
    return v;
}

void ch_strmap_foreach(const ch_strmap *m, void (*fn)(const char *, void *, void *), void *arg)
{
    for (size_t i = 0; i < m->nb; i++)
        for (node *n = m->b[i]; n; n = n->next) fn(n->key, n->value, arg);
}
