/* meta_cache.c -- a connection's in-memory caches (meta.h, "meta_cache"):
 * per worker process, per connection instance, under one mutex held only
 * for copies (never across a host call).
 *
 *  - page tokens, and the fact that no re-login was pending ("need_oauth"
 *    absent), for META_TOKEN_CACHE_MS: a lead then costs no state read
 *    and no secret read (a Redis round trip and an unseal each). The host
 *    reopens the instance when a secret is stored through the API (the
 *    connection's version changes), so a pasted token is used at once;
 *    tokens this process writes (OAuth refresh) or sees rejected drop the
 *    cache at once; a refresh or a rejection in another process is seen
 *    here within META_TOKEN_CACHE_MS.
 *  - compact forms (question labels), already cached in state for a day:
 *    kept here META_FORM_CACHE_MS, so a lead costs no state read and no
 *    JSON parse of its form.
 *  - rate budget reservations (meta_graph.c);
 *  - leads event_prefetch read ahead (meta_prefetch.c), each taken by the
 *    event that needs it: at most META_LEAD_CACHE_N, each at most
 *    META_LEAD_CACHE_MS, and only for the page whose token read it. Each
 *    is an owned copy of its body's bytes (meta_batch_op_end_bytes proved
 *    them; meta_lead_src.c reads them for the record, no tree), or a tree
 *    where the answer was read by Jansson; freed when taken by another
 *    page or stale, evicted, or at close. */
#include <stdlib.h>
#include <string.h>

#include "meta.h"

bool meta_cache_init(meta_cache *k)
{
    memset(k, 0, sizeof *k);
    k->app.want = 1;
    for (size_t i = 0; i < META_MAX_PAGES; i++) k->obj[i].want = 1;
    return pthread_mutex_init(&k->lock, NULL) == 0;
}

static void wipe_free(char *s)
{
    if (s == NULL) return;
    volatile char *w = s;
    for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
    free(s);
}

void meta_cache_destroy(meta_cache *k)
{
    for (size_t i = 0; i < META_MAX_PAGES; i++) wipe_free(k->tok[i]);
    for (size_t i = 0; i < META_FORM_CACHE_N; i++) json_decref(k->form[i].form);
    for (size_t i = 0; i < META_LEAD_CACHE_N; i++) {
        json_decref(k->lead[i].lead);
        free(k->lead[i].body);
    }
    pthread_mutex_destroy(&k->lock);
}

char *meta_cache_token(meta_conn *c, size_t i, int64_t now)
{
    meta_cache *k = &c->cache;
    char *out = NULL;
    if (i >= META_MAX_PAGES) return NULL;
    pthread_mutex_lock(&k->lock);
    if (k->tok[i] != NULL && now < k->tok_until[i]) out = strdup(k->tok[i]);
    pthread_mutex_unlock(&k->lock);
    return out;
}

void meta_cache_token_put(meta_conn *c, size_t i, const char *tok, int64_t now)
{
    meta_cache *k = &c->cache;
    if (i >= META_MAX_PAGES) return;
    char *copy = strdup(tok);
    if (copy == NULL) return; /* not cached: read again next time */
    pthread_mutex_lock(&k->lock);
    char *old = k->tok[i];
    k->tok[i] = copy;
    k->tok_until[i] = now + META_TOKEN_CACHE_MS;
    pthread_mutex_unlock(&k->lock);
    wipe_free(old);
}

void meta_cache_tokens_drop(meta_conn *c)
{
    meta_cache *k = &c->cache;
    char *old[META_MAX_PAGES];
    pthread_mutex_lock(&k->lock);
    k->oauth_ok_until = 0;
    for (size_t i = 0; i < META_MAX_PAGES; i++) {
        old[i] = k->tok[i];
        k->tok[i] = NULL;
    }
    pthread_mutex_unlock(&k->lock);
    for (size_t i = 0; i < META_MAX_PAGES; i++) wipe_free(old[i]);
}

bool meta_cache_oauth_ok(meta_conn *c, int64_t now)
{
    pthread_mutex_lock(&c->cache.lock);
    bool ok = now < c->cache.oauth_ok_until;
    pthread_mutex_unlock(&c->cache.lock);
    return ok;
}

void meta_cache_oauth_ok_set(meta_conn *c, int64_t now)
{
    pthread_mutex_lock(&c->cache.lock);
    c->cache.oauth_ok_until = now + META_TOKEN_CACHE_MS;
    pthread_mutex_unlock(&c->cache.lock);
}

/* Jansson's reference counts are atomic (JSON_HAVE_ATOMIC_BUILTINS), and
 * a cached form is never modified: threads share it by reference. */
json_t *meta_cache_form(meta_conn *c, const char *form_id, int64_t now)
{
    meta_cache *k = &c->cache;
    json_t *out = NULL;
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < META_FORM_CACHE_N; i++) {
        if (k->form[i].form != NULL && now < k->form[i].until &&
            strcmp(k->form[i].id, form_id) == 0) {
            out = json_incref(k->form[i].form);
            break;
        }
    }
    pthread_mutex_unlock(&k->lock);
    return out;
}

/* What pick_slot needs to know of a cache slot. */
typedef struct slot_view {
    const char *id;
    bool used;
    int64_t until;
} slot_view;

/* Where to put id among v[0..n): its own slot, else a free or stale one,
 * else the one that lapses first. */
static size_t pick_slot(const slot_view *v, size_t n, const char *id, int64_t now)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].used && strcmp(v[i].id, id) == 0) return i;
        if (!v[i].used || v[i].until <= now) {
            at = i;
            continue;
        }
        if (v[at].used && v[at].until > now && v[i].until < v[at].until) at = i;
    }
    return at;
}

void meta_cache_form_put(meta_conn *c, const char *form_id, json_t *form, int64_t now)
{
    meta_cache *k = &c->cache;
    if (form == NULL || strlen(form_id) > META_ID_MAX) return;
    pthread_mutex_lock(&k->lock);
    slot_view v[META_FORM_CACHE_N];
    for (size_t i = 0; i < META_FORM_CACHE_N; i++)
        v[i] = (slot_view){k->form[i].id, k->form[i].form != NULL, k->form[i].until};
    size_t at = pick_slot(v, META_FORM_CACHE_N, form_id, now);
    json_t *old = k->form[at].form;
    memcpy(k->form[at].id, form_id, strlen(form_id) + 1);
    k->form[at].form = json_incref(form);
    k->form[at].until = now + META_FORM_CACHE_MS;
    pthread_mutex_unlock(&k->lock);
    json_decref(old);
}

void meta_cache_lead_put(meta_conn *c, const char *lead_id, const char *page_id, json_t *lead,
                         char *body, size_t body_len, int64_t now)
{
    meta_cache *k = &c->cache;
    if ((lead == NULL && body == NULL) || strlen(lead_id) > META_ID_MAX ||
        strlen(page_id) > META_ID_MAX) {
        json_decref(lead);
        free(body);
        return;
    }
    pthread_mutex_lock(&k->lock);
    /* (An evicted lead's event, of an older look ahead, is done by now,
     * or fetches its lead itself.) */
    slot_view v[META_LEAD_CACHE_N];
    for (size_t i = 0; i < META_LEAD_CACHE_N; i++)
        v[i] = (slot_view){k->lead[i].id, k->lead[i].lead != NULL || k->lead[i].body != NULL,
                           k->lead[i].until};
    size_t at = pick_slot(v, META_LEAD_CACHE_N, lead_id, now);
    json_t *old = k->lead[at].lead;
    char *old_body = k->lead[at].body;
    memcpy(k->lead[at].id, lead_id, strlen(lead_id) + 1);
    memcpy(k->lead[at].page, page_id, strlen(page_id) + 1);
    k->lead[at].lead = lead;
    k->lead[at].body = body;
    k->lead[at].body_len = body_len;
    k->lead[at].until = now + META_LEAD_CACHE_MS;
    pthread_mutex_unlock(&k->lock);
    json_decref(old);
    free(old_body);
}

bool meta_cache_lead_take(meta_conn *c, const char *lead_id, const char *page_id, int64_t now,
                          json_t **lead, char **body, size_t *body_len)
{
    meta_cache *k = &c->cache;
    json_t *stale = NULL;
    char *stale_body = NULL;
    *lead = NULL;
    *body = NULL;
    *body_len = 0;
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < META_LEAD_CACHE_N; i++) {
        if ((k->lead[i].lead == NULL && k->lead[i].body == NULL) ||
            strcmp(k->lead[i].id, lead_id) != 0)
            continue;
        /* Taken either way: a stale copy, or one another page's token
         * read, is of no use to anyone. */
        if (now < k->lead[i].until && strcmp(k->lead[i].page, page_id) == 0) {
            *lead = k->lead[i].lead;
            *body = k->lead[i].body;
            *body_len = k->lead[i].body_len;
        } else {
            stale = k->lead[i].lead;
            stale_body = k->lead[i].body;
        }
        k->lead[i].lead = NULL;
        k->lead[i].body = NULL;
        break;
    }
    pthread_mutex_unlock(&k->lock);
    json_decref(stale);
    free(stale_body);
    return *lead != NULL || *body != NULL;
}

bool meta_cache_lead_has(meta_conn *c, const char *lead_id, int64_t now)
{
    meta_cache *k = &c->cache;
    bool has = false;
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < META_LEAD_CACHE_N && !has; i++)
        has = (k->lead[i].lead != NULL || k->lead[i].body != NULL) && now < k->lead[i].until &&
              strcmp(k->lead[i].id, lead_id) == 0;
    pthread_mutex_unlock(&k->lock);
    return has;
}

meta_resv *meta_cache_resv(meta_conn *c, const char *object)
{
    if (object == NULL) return &c->cache.app;
    for (size_t i = 0; i < c->cfg.npages; i++)
        if (strcmp(c->cfg.pages[i], object) == 0) return &c->cache.obj[i];
    return NULL;
}
