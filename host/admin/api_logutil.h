/* api_logutil.h -- what the log-like resources of the admin API share
 * (api_status.c: sync log and deliveries; api_dlq.c: dead letters and
 * replay; api_audit.c): time ranges in the query or the body, stream-id
 * cursors, the "connection of this tenant" check, and a newest-first,
 * filtered, bounded page over a capped Redis stream. Private to
 * host/admin/. Every function that answers does so only on failure and
 * then returns -1; the handler returns at once. */
#ifndef CH_API_LOGUTIL_H
#define CH_API_LOGUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "api.h"

/* Entries a stream page examines at most (matching or not): bounds one
 * request's work. A page that hits it ends early with a cursor. */
#define CH_ALOG_SCAN_MAX 5000
#define CH_ALOG_ID_MAX 41        /* "<ms>-<seq>" + NUL */

/* 422 "validation" with one detail {"path": path, "message": msg}. */
void ch_alog_invalid(ch_actx *x, const char *path, const char *msg);

/* ?since_ms and ?until_ms: integers >= 0, 0 or absent = unbounded. 400
 * "bad_query" when not integers, 422 when both are set and since >=
 * until. Returns 0 or -1 (answered). */
int ch_alog_query_range(ch_actx *x, int64_t *since_ms, int64_t *until_ms);

/* The same checks for values read from a body (paths /since_ms and
 * /until_ms); max_span_ms > 0 also caps until - since. */
int ch_alog_check_range(ch_actx *x, int64_t since_ms, int64_t until_ms, int64_t max_span_ms);

/* An integer member of a body object (ch_abody typed it already) within
 * [min, max]: 0 with *out set (dflt when absent), -1 after answering 422. */
int ch_alog_body_int(ch_actx *x, json_t *body, const char *name, int64_t min, int64_t max,
                     int64_t dflt, int64_t *out);

/* 1 if s is a Redis stream id "<ms>-<seq>". */
int ch_alog_stream_id_valid(const char *s);
/* The cursor of a stream page (ch_apage's): "" or a stream id; else 400
 * "bad_cursor". Returns 0 or -1. */
int ch_alog_cursor(ch_actx *x, const char *cursor);

/* The connection `conn` exists in x->tenant (connection ids are global:
 * another tenant's connection is simply not found here). Returns 0, or -1
 * after answering 404 (or 503 when Redis is away). */
int ch_alog_conn(ch_actx *x, const char *conn);

/* One stream entry: a JSON item for the page (new reference), or NULL to
 * leave the entry out (a filter). fields is the flat field/value array. */
typedef json_t *(*ch_alog_item_fn)(const char *id, const redisReply *fields, void *arg);

/* The value of a field of a flat field/value reply, or NULL. */
const redisReply *ch_alog_field(const redisReply *fields, const char *name);

/* A page of `key` (a stream), newest first, entries with since_ms <= id
 * time < until_ms (0 = unbounded) and older than cursor ("" = from the
 * newest), at most `limit` items and CH_ALOG_SCAN_MAX entries examined.
 * *items gets the array; next (CH_ALOG_ID_MAX bytes) the cursor of the
 * next page, "" when nothing older is left. C360_OK or C360_EIO. */
int32_t ch_alog_stream_page(const char *key, int64_t since_ms, int64_t until_ms,
                            const char *cursor, size_t limit, ch_alog_item_fn fn, void *arg,
                            json_t **items, char *next);

/* Splits a comma-separated list of allowed words (?status=ok,retry) into
 * a bit set over `words` (NULL-terminated). 0 when absent (= any); -1
 * after answering 400 "bad_query" for an unknown word. */
int ch_alog_query_words(ch_actx *x, const char *name, const char *const *words, unsigned *set);

#endif
