/* deliver_ok.c -- the OK outcomes of one deliver_batch call in one script.
 *
 * A batch of k records that the destination accepted used to write k
 * outcomes, one EVALSHA and one round trip each (qw_lua_outcome, mode ok,
 * kind dl). The lead benchmark's profile showed those k scripts as the
 * largest single cost in Redis (about 27 us of Redis time per delivered
 * record) and one of the worker's blocking round trips per record. Here
 * they are one script per batch, doing per record exactly what the single
 * outcome does for an accepted delivery -- the delivery log entry (written
 * even when the item is no longer pending: the attempt did happen), its
 * acknowledgement -- while what the records share is done once: one XACK
 * of all the entries, the lease token released, the attempt and crash
 * members forgotten in one HDEL each, the destination's stats written once
 * with the count acknowledged. Failed records keep their own outcome
 * (ch_wdel_finish): retries, holds and dead letters differ per record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "connector_api.h"
#include "log.h"
#include "metrics.h"
#include "queue_work.h"
#include "queue_work_int.h"
#include "rconn.h"
#include "util.h"
#include "worker_int.h"

/* KEYS: 1 dl stream, 2 att, 3 crash, 4 stat of the destination, 5 its
 *       delivery log, 6 its lease set.
 * ARGV: 1 group, 2 n, 3 lease token ('' = none), 4 latency ms, then per
 *       item 3: entry id, member, record id.
 * One XACK names every entry: its count is what the stats need (an entry
 * no longer pending is acknowledged by no one and counted nowhere, as
 * with an XACK each), and each redis.call costs Redis about as much as a
 * small command of its own. Returns the number acknowledged. */
static const char lua_deliver_ok[] =
    "local S, ATT, CRASH, STAT, DLOG, LEASE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]\n"
    "local g, n, token, ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]\n"
    "local t = redis.call('TIME')\n"
    "local snow = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))\n"
    "local ids, members = {}, {}\n"
    "local p = 5\n"
    "for i = 1, n do\n"
    /* The attempt happened: its log entry is written even for an entry
     * that is no longer pending. */
    "  redis.call('XADD', DLOG, 'MAXLEN', '~', '1000', '*', 't', snow, 'ri', ARGV[p + 2], 'st', '0',\n"
    "             'ms', ms, 'err', '')\n"
    "  ids[i] = ARGV[p]\n"
    "  members[i] = ARGV[p + 1]\n"
    "  p = p + 3\n"
    "end\n"
    "local acked = 0\n"
    "if n > 0 then\n"
    "  acked = redis.call('XACK', S, g, unpack(ids))\n"
    "  redis.call('HDEL', ATT, unpack(members))\n"
    "  redis.call('HDEL', CRASH, unpack(members))\n"
    "end\n"
    "if token ~= '' then redis.call('ZREM', LEASE, token) end\n"
    "if acked > 0 then\n"
    "  redis.call('HINCRBY', STAT, 'deliveries', acked)\n"
    "  redis.call('HSET', STAT, 'last_ok_ms', snow)\n"
    "end\n"
    "return acked\n";

static ch_script s_deliver_ok = CH_SCRIPT(lua_deliver_ok);

#define KEYS_N 6
#define ITEM_ARGS 3

/* One script call; C360_OK when its count came back. */
static int32_t write_ok(const char *tenant, const char *dest, ch_qitem *const *its, size_t n,
                        int64_t took, const char *token)
{
    char *keys[KEYS_N] = {
        ch_qw_stream_key(tenant, CH_Q_DL),
        ch_key_tenant(tenant, "att"),
        ch_key_tenant(tenant, "crash"),
        ch_key_tenant(tenant, "conn:%s:stat", dest),
        ch_key_tenant(tenant, "dlog:%s", dest),
        ch_key_tenant(tenant, "lease:%s", dest),
    };
    size_t argc = KEYS_N + 4 + ITEM_ARGS * n;
    const char **argv = ch_calloc(argc, sizeof *argv);
    size_t *lens = ch_calloc(argc, sizeof *lens);
    char cnt[24], ms[24];
    snprintf(cnt, sizeof cnt, "%zu", n);
    snprintf(ms, sizeof ms, "%lld", (long long)(took > 0 ? took : 0));
    size_t a = 0;
#define ARG(s) (argv[a] = (s), lens[a] = strlen(argv[a]), a++)
    for (size_t k = 0; k < KEYS_N; k++) ARG(keys[k]);
    ARG(CH_QW_GROUP);
    ARG(cnt);
    ARG(token ? token : "");
    ARG(ms);
    for (size_t i = 0; i < n; i++) {
        ARG(its[i]->id);
        ARG(its[i]->member);
        ARG(its[i]->ri);
    }
#undef ARG
    redisReply *r = ch_rconn_eval(&s_deliver_ok, KEYS_N, (int)a, argv, lens);
    for (size_t k = 0; k < KEYS_N; k++) free(keys[k]);
    free(argv);
    free(lens);
    int ok = r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0 && (size_t)r->integer <= n;
    if (!ok) ch_qw_redis_failed("ok (delivery batch)", r);
    if (r) freeReplyObject(r);
    return ok ? C360_OK : C360_EIO;
}

size_t ch_wdel_finish_ok(ch_wthread *t, const char *tenant, ch_qitem *const *its, size_t n,
                         int64_t took, const char *token)
{
    if (n == 0) return 0;
    const char *dest = its[0]->d;
    int32_t st = C360_EIO;
    /* As ch_wthread_outcome: Redis away, a few tries (the records were
     * delivered; writing that is worth a short wait), then the items stay
     * pending under this consumer and run again from the leftovers -- a
     * duplicate delivery, which the at-least-once promise allows and the
     * records' stable ids let the destination recognise. */
    for (int i = 0;; i++) {
        st = write_ok(tenant, dest, its, n, took, token);
        if (!ch_wthread_again(t, st, i, CH_WOUTCOME_TRIES)) break;
    }
    if (st != C360_OK) {
        char nb[24];
        snprintf(nb, sizeof nb, "%zu", n);
        ch_log(CH_LOG_ERROR, "workers: delivery outcomes not written; the items stay pending and run again",
               "tenant", tenant, "destination", dest, "entries", nb, "outcome", "ok", NULL);
        return 0;
    }
    pthread_mutex_lock(&t->w->stats_lock);
    t->w->stats.items += n;
    t->w->stats.ok += n;
    pthread_mutex_unlock(&t->w->stats_lock);
    ch_metrics_inc(CH_M_DELIVERIES_OK, n);
    int64_t now = ch_now_ms();
    for (size_t i = 0; i < n; i++) {
        int64_t since = its[i]->et > 0 ? its[i]->et : its[i]->t;
        if (since > 0) ch_metrics_observe_delivery(now - since);
    }
    return n;
}
