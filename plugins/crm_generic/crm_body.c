/* crm_body.c -- what a request to the customer's endpoint carries: the
 * record as the host handed it over (already shaped by the route's field
 * mapping), or a Standard Webhooks envelope around it, alone or in a batch.
 *
 * Records are copied byte for byte, never parsed and re-serialised: the
 * host checked at emit time that each is one JSON object, and the bytes
 * the customer receives are then exactly the bytes that were stored (and
 * that a replay sends again). The body of a given set of records is the
 * same on every attempt: the envelope's timestamp is when the record was
 * queued for this destination (c360_record.created_at_ms), not the time of
 * sending (that is webhook-timestamp's job). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm.h"

void crm_buf_init(crm_buf *b)
{
    memset(b, 0, sizeof *b);
}

void crm_buf_add(crm_buf *b, const void *p, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) {
            if (cap > SIZE_MAX / 2 - CRM_SIGN_HEADROOM) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *m = realloc(b->mem, CRM_SIGN_HEADROOM + cap + 1);
        if (!m) {
            b->oom = true;
            return;
        }
        b->mem = m;
        b->cap = cap;
    }
    memcpy(b->mem + CRM_SIGN_HEADROOM + b->len, p, n);
    b->len += n;
    b->mem[CRM_SIGN_HEADROOM + b->len] = '\0';
}

void crm_buf_adds(crm_buf *b, const char *s)
{
    crm_buf_add(b, s, strlen(s));
}

void crm_buf_free(crm_buf *b)
{
    free(b->mem);
    memset(b, 0, sizeof *b);
}

void crm_rfc3339(int64_t ms, char out[32])
{
    if (ms < 0)
        ms = 0;
    if (ms > 253402300799999LL) /* 9999-12-31T23:59:59.999Z */
        ms = 253402300799999LL;
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    /* The compiler cannot know that a year past 9999 never comes from
     * the clamp above: format wide, then copy what fits. */
    char wide[96];
    snprintf(wide, sizeof wide, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms % 1000));
    snprintf(out, 32, "%.31s", wide);
}

void crm_event_type(const char *record_type, char *out, size_t cap)
{
    if (strchr(record_type, '.'))
        snprintf(out, cap, "%s", record_type);
    else
        snprintf(out, cap, "%s.created", record_type);
}

static bool crm_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool crm_json_object_shape(const char *json, size_t len)
{
    if (!json || len < 2 || memchr(json, '\0', len))
        return false;
    size_t a = 0, z = len;
    while (a < z && crm_space(json[a]))
        a++;
    while (z > a && crm_space(json[z - 1]))
        z--;
    return z - a >= 2 && json[a] == '{' && json[z - 1] == '}';
}

/* A JSON string literal for text the host validated as printable ASCII
 * (record types): only '"' and '\\' need escaping. */
static void crm_add_json_string(crm_buf *b, const char *s)
{
    crm_buf_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            crm_buf_add(b, "\\", 1);
        if ((unsigned char)*p >= 0x20)
            crm_buf_add(b, p, 1);
    }
    crm_buf_add(b, "\"", 1);
}

static void crm_add_one(const crm_cfg *cfg, const c360_record *r, crm_buf *b)
{
    if (cfg->body == CRM_BODY_RECORD) {
        crm_buf_add(b, r->json, r->json_len);
        return;
    }
    char type[CRM_ID_MAX + 16], ts[32];
    crm_event_type(r->type, type, sizeof type);
    crm_rfc3339(r->created_at_ms, ts);
    crm_buf_adds(b, "{\"type\":");
    crm_add_json_string(b, type);
    crm_buf_adds(b, ",\"timestamp\":\"");
    crm_buf_adds(b, ts);
    crm_buf_adds(b, "\",\"data\":");
    crm_buf_add(b, r->json, r->json_len);
    crm_buf_adds(b, "}");
}

int32_t crm_body_build(const crm_cfg *cfg, const c360_record *const *recs,
                       size_t n, crm_buf *out, size_t *bad)
{
    crm_buf_init(out);
    for (size_t i = 0; i < n; i++) {
        if (!recs[i]->type || !crm_json_object_shape(recs[i]->json, recs[i]->json_len)) {
            if (bad)
                *bad = i;
            return C360_EINVAL;
        }
    }
    /* With batching on, every request is a batch, even of one record: an
     * endpoint set up for arrays gets arrays. */
    bool batch = cfg->max_records > 1;
    if (batch)
        crm_buf_adds(out, cfg->array_body ? "[" : "{\"records\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            crm_buf_add(out, ",", 1);
        crm_add_one(cfg, recs[i], out);
    }
    if (batch)
        crm_buf_adds(out, cfg->array_body ? "]" : "]}");
    if (out->oom || out->len == 0) {
        crm_buf_free(out);
        return C360_ENOMEM;
    }
    return C360_OK;
}

static int crm_cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int32_t crm_request_id(const c360_host_api *host,
                       const c360_record *const *recs, size_t n, char *out,
                       size_t cap)
{
    if (n == 0 || cap < CRM_ID_MAX + 1)
        return C360_EINVAL;
    if (n == 1) {
        size_t len = strlen(recs[0]->id);
        if (len == 0 || len > CRM_ID_MAX)
            return C360_EINVAL;
        memcpy(out, recs[0]->id, len + 1);
        return C360_OK;
    }
    const char **ids = malloc(n * sizeof *ids);
    if (!ids)
        return C360_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = recs[i]->id;
        total += strlen(ids[i]) + 1;
    }
    qsort(ids, n, sizeof *ids, crm_cmp_id);
    char *joined = malloc(total);
    if (!joined) {
        free(ids);
        return C360_ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ids[i]);
        memcpy(joined + off, ids[i], l);
        off += l;
        if (i + 1 < n)
            joined[off++] = '\n';
    }
    free(ids);
    uint8_t digest[32];
    host->sha256(joined, off, digest);
    free(joined);
    char *hex = host->hex_encode(digest, sizeof digest);
    if (!hex)
        return C360_ENOMEM;
    snprintf(out, cap, "batch_%.32s", hex);
    host->free(hex);
    return C360_OK;
}
