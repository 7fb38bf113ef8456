/* worker_conn.c -- a worker thread's short-lived copy of connection states
 * (worker_int.h).
 *
 * Every work item needs its connection's state (paused work is held,
 * disabled work dropped...). The state changes without a version bump
 * (conns.h ch_conn_set_state), so the instance's snapshot cannot be
 * trusted for it; one HMGET per connection per ttl keeps a flood of one
 * connection's events at one read per second instead of one per event. */
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "keys.h"
#include "metrics.h"
#include "rconn.h"
#include "util.h"
#include "worker_int.h"

static size_t bucket(const char *tenant, const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = tenant; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = id; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return h % CH_WCONN_CACHE;
}

int32_t ch_wconn_get(ch_wconn_cache *c, const char *tenant, const char *id, ch_wconn *out)
{
    memset(out, 0, sizeof *out);
    if (!ch_id_valid(tenant) || !ch_id_valid(id)) return C360_EINVAL;
    ch_wconn *e = &c->e[bucket(tenant, id)];
    int64_t now = ch_monotonic_ms();
    if (e->at_ms && now - e->at_ms < c->ttl_ms && strcmp(e->tenant, tenant) == 0 &&
        strcmp(e->id, id) == 0) {
        *out = *e;
        return C360_OK;
    }
    char *key = ch_key_tenant(tenant, "conn:%s", id);
    redisReply *r = ch_rconn_command("HMGET %s state plugin", key);
    free(key);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    const redisReply *st = r->element[0], *pl = r->element[1];
    snprintf(out->tenant, sizeof out->tenant, "%s", tenant);
    snprintf(out->id, sizeof out->id, "%s", id);
    /* The hash always has its plugin: without one the connection is gone
     * (a purge deletes the whole hash). */
    out->exists = pl->type == REDIS_REPLY_STRING && pl->len > 0;
    if (out->exists) {
        snprintf(out->plugin, sizeof out->plugin, "%s", pl->str);
        snprintf(out->state, sizeof out->state, "%s",
                 st->type == REDIS_REPLY_STRING && st->len > 0 && st->len < sizeof out->state
                     ? st->str : "active");
    }
    out->at_ms = now;
    freeReplyObject(r);
    *e = *out;
    return C360_OK;
}

void ch_wconn_forget(ch_wconn_cache *c, const char *tenant, const char *id)
{
    if (!tenant || !id) return;
    ch_wconn *e = &c->e[bucket(tenant, id)];
    if (strcmp(e->tenant, tenant) == 0 && strcmp(e->id, id) == 0) e->at_ms = 0;
}
