/* secrets_scan.c -- walking the stored secrets (rotation, status,
 * disconnect); see secrets.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "rconn.h"
#include "secrets.h"
#include "util.h"

#define KEY_HEAD "c360:{t:"
#define KEY_MID "}:secret:"

/* Copies an id that ends at `stop` into out; returns its length or 0. */
static size_t take_id(const char *s, size_t n, char stop, char *out)
{
    size_t i = 0;
    while (i < n && i <= CH_ID_MAX && s[i] != stop) i++;
    if (i == 0 || i > CH_ID_MAX || i == n) return 0;
    memcpy(out, s, i);
    out[i] = '\0';
    return ch_id_valid(out) ? i : 0;
}

/* Strict on purpose: the SCAN pattern's '*' can match across "}:" (a state
 * key whose name contains "}:secret:" matches it), so only a key that is
 * exactly head, tenant id, "}:secret:", connection id, ':', name counts. */
int ch_secret_key_parse(const char *key, size_t len, char *tenant, char *conn, char *name)
{
    size_t h = strlen(KEY_HEAD), m = strlen(KEY_MID);
    if (len < h || memcmp(key, KEY_HEAD, h) != 0) return -1;
    const char *p = key + h;
    size_t n = len - h;
    size_t tl = take_id(p, n, '}', tenant);
    if (!tl || n - tl < m || memcmp(p + tl, KEY_MID, m) != 0) return -1;
    p += tl + m;
    n -= tl + m;
    size_t cl = take_id(p, n, ':', conn);
    if (!cl) return -1;
    p += cl + 1;
    n -= cl + 1;
    if (n == 0 || n > CH_NAME_MAX) return -1;
    memcpy(name, p, n);
    name[n] = '\0';
    return ch_name_valid(name) && strlen(name) == n ? 0 : -1;
}

/* One SCAN step: checks the reply's shape and returns the page of keys.
 * NULL on failure (err set); *reply must then not be used. */
static const redisReply *scan_page(const char *pattern, const char *cursor, unsigned count,
                                   redisReply **reply, char *next, size_t nextcap, char *err,
                                   size_t errcap)
{
    char cnt[16];
    snprintf(cnt, sizeof cnt, "%u", count);
    const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", cnt};
    redisReply *r = ch_rconn_argv(6, argv, NULL);
    *reply = r;
    if (!r) {
        ch_seterr(err, errcap, "redis: %s", ch_rconn_error());
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ch_seterr(err, errcap, "redis: %.120s", r->str);
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= nextcap ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        ch_seterr(err, errcap, "redis: unexpected SCAN reply");
        return NULL;
    }
    const redisReply *keys = r->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) {
            ch_seterr(err, errcap, "redis: unexpected SCAN reply");
            return NULL;
        }
    }
    memcpy(next, r->element[0]->str, r->element[0]->len);
    next[r->element[0]->len] = '\0';
    return keys;
}

static char *pattern_for(const char *tenant, const char *conn)
{
    if (!tenant) return ch_strdup(KEY_HEAD "*" KEY_MID "*");
    if (!conn) return ch_key_tenant(tenant, "secret:*");
    return ch_key_tenant(tenant, "secret:%s:*", conn);
}

int32_t ch_secrets_foreach(const char *tenant, const char *conn, unsigned batch,
                           ch_secret_visit_fn fn, void *arg, size_t *foreign, char *err,
                           size_t errcap)
{
    size_t dummy;
    if (!foreign) foreign = &dummy;
    *foreign = 0;
    /* Ids are [A-Za-z0-9_-]: they hold no glob character. */
    if ((tenant && !ch_id_valid(tenant)) || (conn && (!tenant || !ch_id_valid(conn)))) {
        ch_seterr(err, errcap, "invalid tenant or connection id");
        return C360_EINVAL;
    }
    char *pattern = pattern_for(tenant, conn);
    char cursor[32] = "0";
    int32_t rc = C360_OK;
    int stop = 0;
    do {
        redisReply *r;
        char next[32];
        const redisReply *keys = scan_page(pattern, cursor, batch ? batch : 100, &r, next,
                                           sizeof next, err, errcap);
        if (!keys) {
            rc = C360_EIO;
            if (r) freeReplyObject(r);
            break;
        }
        for (size_t i = 0; i < keys->elements && !stop; i++) {
            char t[CH_ID_MAX + 1], c[CH_ID_MAX + 1], n[CH_NAME_MAX + 1];
            const redisReply *k = keys->element[i];
            if (ch_secret_key_parse(k->str, k->len, t, c, n) < 0) {
                (*foreign)++;
                continue;
            }
            stop = fn(t, c, n, arg);
        }
        freeReplyObject(r);
        memcpy(cursor, next, sizeof cursor);
    } while (!stop && strcmp(cursor, "0") != 0);
    free(pattern);
    return rc;
}

int32_t ch_secret_delete_connection(const char *tenant, const char *conn, size_t *deleted,
                                    char *err, size_t errcap)
{
    size_t dummy;
    if (!deleted) deleted = &dummy;
    *deleted = 0;
    if (!ch_id_valid(tenant) || !ch_id_valid(conn)) {
        ch_seterr(err, errcap, "invalid tenant or connection id");
        return C360_EINVAL;
    }
    /* The pattern ends in "<conn>:*" and ids hold no ':', so it cannot
     * reach a connection whose id merely starts with this one's. */
    char *pattern = pattern_for(tenant, conn);
    char cursor[32] = "0";
    int32_t rc = C360_OK;
    do {
        redisReply *r;
        char next[32];
        const redisReply *keys =
            scan_page(pattern, cursor, 500, &r, next, sizeof next, err, errcap);
        if (!keys) {
            rc = C360_EIO;
            if (r) freeReplyObject(r);
            break;
        }
        if (keys->elements) {
            size_t n = keys->elements + 1;
            const char **argv = ch_malloc(n * sizeof *argv);
            size_t *lens = ch_malloc(n * sizeof *lens);
            argv[0] = "DEL";
            lens[0] = 3;
            for (size_t i = 0; i < keys->elements; i++) {
                argv[i + 1] = keys->element[i]->str;
                lens[i + 1] = keys->element[i]->len;
            }
            redisReply *d = ch_rconn_argv((int)n, argv, lens);
            free(argv);
            free(lens);
            if (!d || d->type != REDIS_REPLY_INTEGER) {
                ch_seterr(err, errcap, "redis: %.120s",
                          !d ? ch_rconn_error()
                             : d->type == REDIS_REPLY_ERROR ? d->str : "unexpected DEL reply");
                if (d) freeReplyObject(d);
                freeReplyObject(r);
                rc = C360_EIO;
                break;
            }
            *deleted += (size_t)(d->integer > 0 ? d->integer : 0);
            freeReplyObject(d);
        }
        freeReplyObject(r);
        memcpy(cursor, next, sizeof cursor);
    } while (strcmp(cursor, "0") != 0);
    free(pattern);
    if (rc == C360_OK) {
        /* The index of names goes with them (secrets.c). */
        char *idx = ch_key_tenant(tenant, "secretidx:%s", conn);
        redisReply *d = ch_rconn_command("DEL %s", idx);
        free(idx);
        if (!d || d->type != REDIS_REPLY_INTEGER) {
            ch_seterr(err, errcap, "redis: %.120s",
                      !d ? ch_rconn_error()
                         : d->type == REDIS_REPLY_ERROR ? d->str : "unexpected DEL reply");
            rc = C360_EIO;
        }
        if (d) freeReplyObject(d);
    }
    return rc;
}
