/* records.c -- see records.h. */
#include "records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connector_api.h"
#include "jsonscan.h"
#include "keys.h"
#include "util.h"

void ch_records_init(ch_records *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
}

static void drop_all(ch_records *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].type);
        free(r->v[i].id);
        free(r->v[i].json);
    }
    r->n = 0;
    r->bytes = 0;
    r->refused = 0;
}

void ch_records_reset(ch_records *r)
{
    pthread_mutex_lock(&r->lock);
    drop_all(r);
    pthread_mutex_unlock(&r->lock);
}

void ch_records_free(ch_records *r)
{
    drop_all(r);
    free(r->v);
    r->v = NULL;
    r->cap = 0;
    pthread_mutex_destroy(&r->lock);
}

/* A destination gets the JSON as it was emitted; it must at least be one
 * well-formed object, or every destination would have to defend itself.
 * The one-pass scan (jsonscan.h) settles the usual record without building
 * a tree; whatever it is unsure of, Jansson decides. */
static int json_object_valid(const char *json, size_t len)
{
    if (ch_jsonscan_object(json, len) == CH_JSONSCAN_OBJECT) return 1;
    json_error_t e;
    json_t *j = json_loadb(json, len, JSON_DECODE_ANY, &e);
    int ok = json_is_object(j); /* false for NULL too */
    json_decref(j);
    return ok;
}

int32_t ch_records_add(ch_records *r, const char *type, const char *id,
                       const char *json, size_t json_len)
{
    int32_t st = C360_OK;
    if (!ch_name_valid(type) || !ch_name_valid(id) || !json) st = C360_EINVAL;
    else if (json_len > CH_RECORD_JSON_MAX) st = C360_ETOOBIG;
    else if (!json_object_valid(json, json_len)) st = C360_EINVAL;
    if (st != C360_OK) {
        pthread_mutex_lock(&r->lock);
        r->refused++;
        pthread_mutex_unlock(&r->lock);
        return st;
    }
    size_t add = strlen(type) + strlen(id) + json_len;
    ch_record_buf b = {ch_strdup(type), ch_strdup(id), ch_malloc(json_len + 1), json_len};
    memcpy(b.json, json, json_len);
    b.json[json_len] = '\0';

    pthread_mutex_lock(&r->lock);
    if (r->n >= CH_RECORDS_MAX || r->bytes + add > CH_RECORDS_BYTES_MAX) {
        r->refused++;
        pthread_mutex_unlock(&r->lock);
        free(b.type);
        free(b.id);
        free(b.json);
        return C360_ETOOBIG;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->v = ch_realloc(r->v, r->cap * sizeof *r->v);
    }
    r->v[r->n++] = b;
    r->bytes += add;
    pthread_mutex_unlock(&r->lock);
    return C360_OK;
}

static size_t put(char *out, const char *s, size_t n)
{
    int k = sprintf(out, "%zu:", n);
    memcpy(out + k, s, n);
    return (size_t)k + n;
}

char *ch_records_pack(ch_records *r, size_t *len)
{
    pthread_mutex_lock(&r->lock);
    *len = 0;
    if (r->n == 0) {
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    /* 3 length prefixes of at most 21 bytes ("18446744073709551615:") each. */
    size_t cap = r->bytes + r->n * 3 * 21 + 1;
    char *out = ch_malloc(cap), *p = out;
    for (size_t i = 0; i < r->n; i++) {
        p += put(p, r->v[i].type, strlen(r->v[i].type));
        p += put(p, r->v[i].id, strlen(r->v[i].id));
        p += put(p, r->v[i].json, r->v[i].json_len);
    }
    *len = (size_t)(p - out);
    pthread_mutex_unlock(&r->lock);
    return out;
}

size_t ch_records_count(ch_records *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}
