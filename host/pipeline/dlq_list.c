/* dlq_list.c -- dead letters as JSON for the admin API: a page, or one. */
#include "dlq_int.h"

#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "sched_int.h"

typedef struct page {
    json_t *items;
    size_t limit;
} page;

/* A JSON string of at most CH_DLQ_TEXT_MAX bytes of v, or NULL if v is not
 * valid UTF-8 (raw bodies and header excerpts may not be). A cut that
 * lands inside a multi-byte character backs off to its start. */
static json_t *text(const redisReply *v, int *truncated)
{
    size_t n = v->len;
    *truncated = 0;
    if (n > CH_DLQ_TEXT_MAX) {
        n = CH_DLQ_TEXT_MAX;
        *truncated = 1;
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)v->str[n] & 0xC0) == 0x80; k++) n--;
    }
    return json_stringn(v->str, n);
}

static int visit(const char *id, const redisReply *fields, void *arg)
{
    page *pg = arg;
    json_t *item = json_object();
    json_t *fj = json_object();
    int cut_any = 0;
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "at_ms", json_integer(ch_stream_id_ms(id)));
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (strcmp(k->str, "b") == 0) {
            json_object_set_new(item, "body_bytes", json_integer((json_int_t)v->len));
            continue;
        }
        int cut;
        json_t *s = text(v, &cut);
        if (!s) continue;
        cut_any |= cut;
        /* kind, why and err describe the dead letter; the rest is the item. */
        if (strcmp(k->str, "kind") == 0 || strcmp(k->str, "why") == 0 || strcmp(k->str, "err") == 0)
            json_object_set_new(item, k->str, s);
        else
            json_object_set_new(fj, k->str, s);
    }
    json_object_set_new(item, "fields", fj);
    if (cut_any) json_object_set_new(item, "truncated", json_true());
    json_array_append_new(pg->items, item);
    return json_array_size(pg->items) >= pg->limit;
}

int32_t ch_dlq_get(const char *tenant, const char *id, json_t **out)
{
    *out = NULL;
    if (!ch_id_valid(tenant) || !id || !ch_stream_id_valid(id)) return C360_EINVAL;
    char *key = ch_key_tenant(tenant, "dlq");
    redisReply *r = ch_rconn_command("XRANGE %s %s %s", key, id, id);
    free(key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (!r) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        ch_log(CH_LOG_WARN, "dlq: get failed", "error",
               !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply", NULL);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    int32_t st = C360_ENOTFOUND;
    const redisReply *e = r->elements == 1 ? r->element[0] : NULL;
    if (e && e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
        e->element[0]->type == REDIS_REPLY_STRING && e->element[1]->type == REDIS_REPLY_ARRAY) {
        page pg = {json_array(), 1};
        visit(e->element[0]->str, e->element[1], &pg);
        *out = json_incref(json_array_get(pg.items, 0));
        json_decref(pg.items);
        st = C360_OK;
    }
    freeReplyObject(r);
    return st;
}

int32_t ch_dlq_list(const char *tenant, const ch_dlq_filter *f, const char *cursor,
                    uint32_t limit, json_t **out)
{
    *out = NULL;
    if (limit > CH_DLQ_LIMIT_MAX) return C360_EINVAL;
    page pg = {json_array(), limit ? limit : 100};
    char last[CH_DLQ_ID_MAX];
    int exhausted;
    int32_t st = ch_dlq_scan(tenant, f, 1, cursor, visit, &pg, last, &exhausted);
    if (st != C360_OK) {
        json_decref(pg.items);
        return st;
    }
    *out = json_pack("{s:o,s:o}", "items", pg.items, "next_cursor",
                     exhausted || !last[0] ? json_null() : json_string(last));
    return C360_OK;
}
