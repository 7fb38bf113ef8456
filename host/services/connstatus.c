/* connstatus.c -- see connstatus.h. */
#include "connstatus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "keys.h"
#include "notify.h"
#include "rconn.h"

/* One script for set and transition, so "since_ms only moves when the
 * state changes" and the compare in transition are atomic. ARGV[4] is the
 * required current state ("" = any; an absent record counts as active).
 * Replies 0 when that compare failed, else {1, the previous state or ""}
 * (the notification hook needs to know what the state moved from). */
static ch_script s_set = CH_SCRIPT(
    "local cur = redis.call('HGET', KEYS[1], 'state')\n"
    "if ARGV[4] ~= '' and (cur or 'active') ~= ARGV[4] then return 0 end\n"
    "if cur ~= ARGV[1] then\n"
    "  redis.call('HSET', KEYS[1], 'state', ARGV[1], 'since_ms', ARGV[3])\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'cause', ARGV[2])\n"
    "return {1, cur or ''}\n");

static int state_valid(const char *s)
{
    if (!s) return 0;
    size_t n = strnlen(s, CH_CONNSTATUS_STATE_MAX);
    if (n == 0 || n >= CH_CONNSTATUS_STATE_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_')) return 0;
    return 1;
}

static int32_t do_set(const char *tenant, const char *conn, const char *from,
                      const char *state, const char *cause, int *changed)
{
    if (changed) *changed = 0;
    if (!ch_id_valid(tenant) || !ch_id_valid(conn) || !state_valid(state) ||
        (from && !state_valid(from)))
        return C360_EINVAL;
    char c[CH_CONNSTATUS_CAUSE_MAX];
    snprintf(c, sizeof c, "%s", cause ? cause : "");
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)ch_now_ms());
    char *key = ch_key_tenant(tenant, "conn:%s:status", conn);
    const char *argv[] = {key, state, c, now, from ? from : ""};
    redisReply *r = ch_rconn_eval(&s_set, 1, 5, argv, NULL);
    free(key);
    if (!r) return C360_EIO;
    int32_t rc = C360_EIO;
    int moved = 0;
    char prev[CH_CONNSTATUS_STATE_MAX] = "";
    if (r->type == REDIS_REPLY_INTEGER) {
        rc = C360_OK; /* the compare of a transition failed: nothing set */
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        rc = C360_OK;
        moved = 1;
        snprintf(prev, sizeof prev, "%s", r->element[1]->str);
    }
    if (rc == C360_OK && changed) *changed = moved;
    freeReplyObject(r);
    /* Fire and forget: the tenant's notification endpoint, if any and
     * subscribed, hears about needs_reauth, failing and recoveries. It
     * never fails the caller (errors are logged inside). */
    if (moved && strcmp(prev[0] ? prev : CH_CONN_ACTIVE, state) != 0)
        ch_notify_conn_state(tenant, conn, prev, state, c);
    return rc;
}

int32_t ch_connstatus_set(const char *tenant, const char *conn,
                          const char *state, const char *cause)
{
    return do_set(tenant, conn, NULL, state, cause, NULL);
}

int32_t ch_connstatus_transition(const char *tenant, const char *conn,
                                 const char *from, const char *state,
                                 const char *cause, int *changed)
{
    if (!from) return C360_EINVAL;
    return do_set(tenant, conn, from, state, cause, changed);
}

int32_t ch_connstatus_get(const char *tenant, const char *conn, ch_connstatus *out)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(conn) || !out) return C360_EINVAL;
    memset(out, 0, sizeof *out);
    char *key = ch_key_tenant(tenant, "conn:%s:status", conn);
    redisReply *r = ch_rconn_command("HMGET %s state cause since_ms", key);
    free(key);
    if (!r) return C360_EIO;
    int32_t rc = C360_EIO;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        redisReply **e = r->element;
        if (e[0]->type != REDIS_REPLY_STRING) {
            rc = C360_ENOTFOUND;
        } else {
            snprintf(out->state, sizeof out->state, "%.*s", (int)e[0]->len, e[0]->str);
            if (e[1]->type == REDIS_REPLY_STRING)
                snprintf(out->cause, sizeof out->cause, "%.*s", (int)e[1]->len, e[1]->str);
            if (e[2]->type == REDIS_REPLY_STRING) out->since_ms = strtoll(e[2]->str, NULL, 10);
            rc = C360_OK;
        }
    }
    freeReplyObject(r);
    return rc;
}

int32_t ch_connstatus_delete(const char *tenant, const char *conn)
{
    if (!ch_id_valid(tenant) || !ch_id_valid(conn)) return C360_EINVAL;
    char *key = ch_key_tenant(tenant, "conn:%s:status", conn);
    redisReply *r = ch_rconn_command("DEL %s", key);
    free(key);
    if (!r) return C360_EIO;
    int32_t rc = r->type == REDIS_REPLY_INTEGER ? C360_OK : C360_EIO;
    freeReplyObject(r);
    return rc;
}
