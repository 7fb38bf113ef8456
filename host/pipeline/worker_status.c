/* worker_status.c -- see worker_status.h. */
#include "worker_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "conns.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"

int32_t ch_worker_conn_status(const char *tenant, const char *conn, const char *plugin,
                              int32_t state, const char *cause, const char *request_id)
{
    const char *name;
    switch (state) {
    case C360_CONN_ACTIVE: name = CH_CONN_STATE_ACTIVE; break;
    case C360_CONN_FAILING: name = CH_CONN_STATE_FAILING; break;
    case C360_CONN_NEEDS_REAUTH: name = CH_CONN_STATE_NEEDS_REAUTH; break;
    default: return C360_EINVAL;
    }
    if (!ch_id_valid(tenant) || !ch_id_valid(conn) || !plugin) return C360_EINVAL;
    char *k = ch_key_tenant(tenant, "conn:%s", conn);
    redisReply *r = ch_rconn_command("HMGET %s plugin state cause", k);
    free(k);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
        if (r) freeReplyObject(r);
        return C360_EIO;
    }
    const redisReply *pl = r->element[0], *st = r->element[1], *ca = r->element[2];
    if (pl->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return C360_ENOTFOUND;
    }
    const char *cur = st->type == REDIS_REPLY_STRING ? st->str : CH_CONN_STATE_ACTIVE;
    const char *curcause = ca->type == REDIS_REPLY_STRING ? ca->str : "";
    const char *want = cause ? cause : "";
    /* Operator states win over what a plugin reports. */
    int operator_state = strcmp(cur, CH_CONN_STATE_PAUSED) == 0 || strcmp(cur, CH_CONN_STATE_DISABLED) == 0;
    /* Causes are stored cleaned and truncated (conns.h): compare the
     * stored prefix so that an over-long cause does not rewrite forever. */
    int same = strcmp(cur, name) == 0 &&
               strncmp(curcause, want, CH_CONN_CAUSE_MAX - 1) == 0 &&
               (strlen(want) >= CH_CONN_CAUSE_MAX - 1 || strlen(curcause) == strlen(want));
    int cur_failing = strcmp(cur, CH_CONN_STATE_FAILING) == 0;
    freeReplyObject(r); /* cur and curcause pointed into it */
    if (operator_state || same) return C360_OK;
    /* A destination whose endpoint answered 410 stays failing until the
     * customer adds the stopped route back (which clears the mark): one
     * success on another route, or in another process's instance, must
     * not hide it -- nor let queued records of the stopped route be sent. */
    if (strcmp(name, CH_CONN_STATE_ACTIVE) == 0 && cur_failing) {
        char *kg = ch_key_tenant(tenant, "rgone:%s", conn);
        redisReply *g = ch_rconn_command("SCARD %s", kg);
        free(kg);
        long long stopped = g && g->type == REDIS_REPLY_INTEGER ? g->integer : 0;
        if (g) freeReplyObject(g);
        if (stopped > 0) return C360_OK;
    }
    char actor[64];
    snprintf(actor, sizeof actor, "plugin:%s", plugin);
    int32_t rc = ch_conn_set_state(tenant, conn, name, want, actor, request_id);
    if (rc == C360_OK)
        ch_log(CH_LOG_INFO, "connection state reported by its plugin", "tenant", tenant,
               "connection", conn, "plugin", plugin, "state", name, NULL);
    return rc;
}
