/* deliver.c -- running one item of a tenant's delivery stream: the
 * destination's deliver callback with the record, under the destination's
 * concurrency cap, with every attempt logged (docs/pipeline.md,
 * "Deliveries"). Several items of one destination whose plugin takes
 * batches go through deliver_batch.c instead, with the helpers below.
 *
 * The cap is a lease per destination held in Redis, so it holds across
 * threads, processes and hosts: a sorted set c360:{t:T}:lease:<d> of
 * tokens scored by their expiry. A lease of a worker that died expires on
 * its own (callback_timeout_ms x 2 + 5 s), instead of leaking a counter
 * slot forever as a bare INCR/DECR counter would after a crash. Taking a
 * lease is one script; it is given back in the outcome script, so a
 * delivery costs two round trips in all. Over the cap, the thread asks
 * again for up to cap_wait_ms (ch_wdel_lease); still over it, the item is
 * held for cap_hold_ms (no attempt counted) and another destination's
 * work goes on.
 *
 * C360_EGONE (ABI 1.4: the endpoint answered 410 Gone) dead-letters the
 * record with why "gone" instead of retrying it, and deliver_gone.c stops
 * the route it came by and marks the destination failing.
 *
 * C360_THROTTLED (ABI 1.5: the destination put the record off unsent,
 * because its endpoint throttles it or its own rate budget is spent)
 * holds the record like the cap hold does -- no attempt counted, no
 * failure in the stats or the metrics, no delivery log entry (nothing was
 * sent), the lease given back -- for the call's Retry-After, at least
 * CH_WDEL_THROTTLE_FLOOR_MS. A record first enqueued more than
 * CH_WDEL_THROTTLE_MAX_AGE_MS ago is past being put off: its deferral
 * counts as C360_RETRY (an attempt), so a destination that throttles
 * forever still ends in dead letters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "call.h"
#include "conns.h"
#include "conns_mapping.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "util.h"
#include "worker_int.h"

/* KEYS: lease. ARGV: token, ttl ms, cap. 1 = leased, 0 = over the cap. */
static ch_script s_lease = CH_SCRIPT(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl = tonumber(ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and\n"
    "   redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end\n"
    "redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "return 1\n");

static int lease_try(const char *key, const char *token, const char *ttl, const char *cap)
{
    const char *argv[] = {key, token, ttl, cap};
    redisReply *r = ch_rconn_eval(&s_lease, 1, 4, argv, NULL);
    int res = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (res < 0) ch_metrics_inc(CH_M_REDIS_ERRORS, 1);
    if (r) freeReplyObject(r);
    return res;
}

/* Over the cap, a place is usually given back within milliseconds (each
 * delivery's outcome script gives its lease back): asking again for up to
 * cap_wait_ms, after 1, 2, 4 and then every 8 ms, costs a few round trips,
 * where a hold costs an outcome script per item, a claim later and
 * cap_hold_ms of latency. With 2 workers x 4 threads on one destination of
 * cap 4 the holds took a quarter of the lead benchmark's throughput
 * (docs/benchmarks.md). */
int ch_wdel_lease(ch_wthread *t, const char *tenant, const char *dest, const char *token)
{
    char *key = ch_key_tenant(tenant, "lease:%s", dest);
    char ttl[24], c[16];
    snprintf(ttl, sizeof ttl, "%lld", 2LL * t->conf->callback_timeout_ms + 5000);
    snprintf(c, sizeof c, "%d", t->conf->delivery_concurrency);
    int res = lease_try(key, token, ttl, c);
    int64_t end = res == 0 && t->conf->cap_wait_ms > 0 ? ch_monotonic_ms() + t->conf->cap_wait_ms : 0;
    for (int step = 1; res == 0 && end && !ch_wthread_stopping(t); step = step < 8 ? step * 2 : 8) {
        int64_t left = end - ch_monotonic_ms();
        if (left <= 0) break;
        ch_wthread_nap(t, step < left ? step : (int)left);
        res = lease_try(key, token, ttl, c);
    }
    if (res > 0 && end) ch_wthread_capwait(t);
    free(key);
    return res;
}

void ch_wdel_simple(ch_wthread *t, const char *tenant, ch_qitem *it, ch_qmode mode, const char *why,
                    const char *err, int64_t delay, const char *token)
{
    ch_qoutcome o = {.mode = mode, .why = why, .err = err, .delay_ms = delay, .lease_token = token};
    ch_wthread_outcome(t, tenant, it, &o, NULL);
}

int ch_wdel_item_valid(const ch_qitem *it)
{
    return it->valid && ch_id_valid(it->d) && ch_name_valid(it->ri) && it->rt[0] && it->r_len > 0;
}

int ch_wdel_precheck(ch_wthread *t, const char *tenant, ch_qitem *it, const ch_wconn *wc)
{
    long long attempt = ch_qitem_attempt(it);
    if (attempt > t->conf->max_attempts) {
        ch_wdel_simple(t, tenant, it, CH_QM_DLQ, "attempts", "attempts exhausted", 0, NULL);
        return 0;
    }
    /* A route stopped by a 410 (deliver_gone.c) leaves its destination
     * failing: only then is the route looked up, so a healthy
     * destination's deliveries pay nothing for it. What is queued for a
     * stopped route is not sent (the endpoint is gone); a destination that
     * became active again meanwhile gets it sent, and a 410 ends it the
     * same way. A lookup that fails sends it too. */
    if (strcmp(wc->state, CH_CONN_STATE_FAILING) == 0 && ch_id_valid(it->s)) {
        int stopped = 0;
        if (ch_conn_route_stopped(tenant, it->s, it->d, &stopped) == C360_OK && stopped) {
            char err[160];
            snprintf(err, sizeof err, "%s: the route from %s was stopped (410 Gone)",
                     c360_strstatus(C360_EGONE), it->s);
            ch_qoutcome o = {.mode = CH_QM_DLQ, .why = "gone", .err = err,
                             .status = C360_EGONE};
            ch_wthread_outcome(t, tenant, it, &o, NULL);
            return 0;
        }
    }
    return 1;
}

/* --- route mappings, kept per worker thread --------------------------------
 *
 * A route's field mapping was one HGET (and a JSON parse) per delivery.
 * Each worker thread keeps the parsed mappings of the routes it delivered
 * by lately (t->maps, beside its connection cache), each for that cache's
 * ttl (worker.h conn_cache_ms, 1 s by default): a mapping changed through
 * the admin API reaches deliveries within that bound, the same bound
 * within which a connection's state change (pause, disable) reaches them
 * (worker_conn.c). "No mapping" and "stored but not JSON" are kept too; a
 * failed read (Redis away) is not. Only the thread itself touches them. */

static size_t wmap_bucket(const char *tenant, const char *src, const char *dst)
{
    uint32_t h = 2166136261u; /* FNV-1a over tenant/src/dst */
    for (const char *p = tenant; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = src; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = dst; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return h % CH_WMAP_CACHE;
}

void ch_wdel_maps_clear(ch_wthread *t)
{
    for (size_t i = 0; i < CH_WMAP_CACHE; i++) {
        json_decref(t->maps[i].m);
        t->maps[i] = (ch_wmap){0};
    }
}

static void copy_id(char *dst, const char *src)
{
    size_t n = strnlen(src, CH_ID_MAX);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The mapping read from Redis and parsed: C360_OK (*out may be NULL),
 * C360_ERROR, C360_EIO. */
static int32_t mapping_read(const char *tenant, const ch_qitem *it, json_t **out)
{
    char *m = NULL;
    int32_t ms = ch_conn_route_mapping(tenant, it->s, it->d, &m);
    if (ms != C360_OK && ms != C360_ENOTFOUND) {
        free(m);
        return C360_EIO;
    }
    int32_t st = C360_OK;
    if (ms == C360_OK && m) {
        *out = json_loads(m, 0, NULL);
        if (!*out) st = C360_ERROR;
    }
    free(m);
    return st;
}

int32_t ch_wdel_mapping(ch_wthread *t, const char *tenant, const ch_qitem *it, json_t **out)
{
    *out = NULL;
    int ttl_ms = t->conns.ttl_ms;
    if (!it->s || !ch_id_valid(it->s)) return C360_OK;
    if (ttl_ms <= 0 || !ch_id_valid(tenant) || !it->d || !ch_id_valid(it->d))
        return mapping_read(tenant, it, out);
    ch_wmap *e = &t->maps[wmap_bucket(tenant, it->s, it->d)];
    int64_t now = ch_monotonic_ms();
    if (e->at_ms && now - e->at_ms < ttl_ms && strcmp(e->tenant, tenant) == 0 &&
        strcmp(e->src, it->s) == 0 && strcmp(e->dst, it->d) == 0) {
        *out = json_incref(e->m);
        return e->st;
    }
    json_t *m = NULL;
    int32_t st = mapping_read(tenant, it, &m);
    if (st == C360_EIO) return st;
    json_decref(e->m);
    copy_id(e->tenant, tenant);
    copy_id(e->src, it->s);
    copy_id(e->dst, it->d);
    e->m = m;
    e->st = st;
    e->at_ms = now;
    *out = json_incref(m);
    return st;
}

char *ch_wdel_shape(const json_t *mapping, const ch_qitem *it, size_t *len)
{
    *len = 0;
    json_t *rj = json_loadb(it->r, it->r_len, 0, NULL);
    json_t *out = rj ? ch_mapping_apply(mapping, rj) : NULL;
    char *shaped = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (shaped) *len = strlen(shaped);
    json_decref(out);
    json_decref(rj);
    return shaped;
}

int64_t ch_wdel_throttle_delay(uint32_t retry_after, int64_t waited_ms)
{
    int64_t d = retry_after > CH_WDEL_THROTTLE_FLOOR_MS ? (int64_t)retry_after
                                                         : CH_WDEL_THROTTLE_FLOOR_MS;
    /* A backlog held behind a long throttle must not come back every
     * quarter second (each return is a fetch, a lease, a plugin call and
     * a hold write per record): the hold grows with the time the record
     * has waited, a tenth of it, up to CH_WDEL_THROTTLE_GROW_MAX_MS. */
    int64_t grow = waited_ms > 0 ? waited_ms / 10 : 0;
    if (grow > CH_WDEL_THROTTLE_GROW_MAX_MS) grow = CH_WDEL_THROTTLE_GROW_MAX_MS;
    if (grow > d) d = grow;
    if (d > CH_WDEL_THROTTLE_DELAY_MAX_MS) d = CH_WDEL_THROTTLE_DELAY_MAX_MS;
    /* The hold's jitter, only upwards: never sooner than the endpoint
     * asked for (ch_hold_delay(d) is d +- d/4, so this is d .. 1.5 d). */
    return ch_hold_delay(d) + d / 4;
}

int ch_wdel_throttle_expired(const ch_qitem *it, int64_t now_ms)
{
    /* No enqueue time (never written so): counted, never put off forever. */
    return it->t <= 0 || now_ms - it->t >= CH_WDEL_THROTTLE_MAX_AGE_MS;
}

int ch_wdel_finish(ch_wthread *t, const char *tenant, ch_qitem *it, int32_t st, const char *text,
                   uint32_t retry_after, int64_t took, const char *token)
{
    if (st == C360_THROTTLED) {
        if (!ch_wdel_throttle_expired(it, ch_now_ms())) {
            ch_qoutcome h = {.mode = CH_QM_HOLD, .status = st, .latency_ms = took,
                             .delay_ms = ch_wdel_throttle_delay(retry_after, ch_now_ms() - it->t),
                             .lease_token = token};
            return ch_wthread_outcome(t, tenant, it, &h, NULL) == C360_OK;
        }
        st = C360_RETRY; /* put off too long: an attempt from now on */
    }
    long long attempt = ch_qitem_attempt(it);
    ch_qoutcome o = {.status = st, .latency_ms = took, .lease_token = token};
    if (st == C360_OK) {
        o.mode = CH_QM_OK;
        o.err = "";
    } else if (st == C360_EGONE) {
        /* Not retried: the endpoint said it is gone for good. */
        o.mode = CH_QM_DLQ;
        o.err = text;
        o.why = "gone";
    } else if (ch_status_retryable(st) && attempt < t->conf->max_attempts) {
        o.mode = CH_QM_RETRY;
        o.err = text;
        o.delay_ms = ch_qw_backoff_ms(attempt, retry_after, t->conf->retry_base_ms, t->conf->retry_cap_ms);
    } else {
        o.mode = CH_QM_DLQ;
        o.err = text;
        o.why = ch_status_retryable(st) ? "attempts" : "error";
    }
    if (ch_wthread_outcome(t, tenant, it, &o, NULL) != C360_OK) return 0;
    if (st == C360_OK) {
        ch_metrics_inc(CH_M_DELIVERIES_OK, 1);
        int64_t since = it->et > 0 ? it->et : it->t;
        if (since > 0) ch_metrics_observe_delivery(ch_now_ms() - since);
    } else {
        ch_metrics_inc(CH_M_DELIVERIES_FAILED, 1);
    }
    return 1;
}

void ch_wexec_deliver(ch_wthread *t, const char *tenant, ch_qitem *it)
{
    if (!ch_wdel_item_valid(it)) {
        ch_wdel_simple(t, tenant, it, CH_QM_DLQ, "error", "malformed delivery item", 0, NULL);
        return;
    }
    ch_wconn wc;
    if (ch_wconn_get(&t->conns, tenant, it->d, &wc) != C360_OK) return; /* stays pending */
    if (!wc.exists || strcmp(wc.state, "disabled") == 0) {
        ch_wdel_simple(t, tenant, it, CH_QM_DROP, wc.exists ? "disabled" : NULL, NULL, 0, NULL);
        return;
    }
    if (strcmp(wc.state, "paused") == 0 || strcmp(wc.state, "needs_reauth") == 0) {
        ch_wdel_simple(t, tenant, it, CH_QM_HOLD, NULL, NULL, ch_hold_delay(t->conf->hold_ms), NULL);
        return;
    }
    if (!ch_wdel_precheck(t, tenant, it, &wc)) return;
    long long attempt = ch_qitem_attempt(it);

    char token[CH_WDEL_TOKEN_MAX];
    snprintf(token, sizeof token, "%s:%s", t->consumer, it->id);
    int l = ch_wdel_lease(t, tenant, it->d, token);
    if (l < 0) return; /* Redis away: stays pending, runs again later */
    if (l == 0) {
        ch_wdel_simple(t, tenant, it, CH_QM_HOLD, NULL, NULL, ch_hold_delay(t->conf->cap_hold_ms), NULL);
        return;
    }

    char err[CH_CALL_ERROR_MAX + 64] = "";
    ch_inst *inst = NULL;
    int32_t st = ch_wexec_acquire(t, tenant, it, it->d, wc.plugin, &inst, err, sizeof err);
    if (st == C360_ENOTFOUND) {
        /* The destination exists: its plugin is not loaded on this host. */
        ch_wconn_forget(&t->conns, tenant, it->d);
        ch_wdel_simple(t, tenant, it, CH_QM_HOLD, NULL, NULL, ch_hold_delay(t->conf->hold_ms), token);
        return;
    }
    const ch_plugin *pl = st == C360_OK ? ch_inst_plugin(inst) : NULL;
    const ch_plugin_ops *ops = pl ? ch_plugin_ops_get(pl) : NULL;
    if (st == C360_OK && !ops->deliver) {
        ch_instance_release(inst);
        st = C360_ERROR;
        snprintf(err, sizeof err, "the destination's plugin has no deliver callback");
    }
    char text[CH_CALL_ERROR_MAX + 96];
    uint32_t ra = 0;
    int64_t took = 0;
    /* A route with a field mapping delivers the record as the mapping
     * shapes it (conns_mapping.h); the id, type and source stay. A mapping
     * that cannot be read leaves the item pending (Redis away); one that
     * cannot be applied is a permanent error of this delivery. */
    char *shaped = NULL;
    size_t shaped_len = 0;
    if (st == C360_OK) {
        json_t *mj = NULL;
        int32_t ms = ch_wdel_mapping(t, tenant, it, &mj);
        if (ms == C360_EIO) {
            /* Redis blinked between two steps: look again soon (the short
             * hold of the delivery cap), not after a paused connection's
             * hold_ms -- a one-second blip must not delay deliveries 30 s
             * (found by integration_faults_redis_*). No attempt counted. */
            ch_instance_release(inst);
            ch_wdel_simple(t, tenant, it, CH_QM_HOLD, NULL, NULL, ch_hold_delay(t->conf->cap_hold_ms), token);
            return;
        }
        if (mj) shaped = ch_wdel_shape(mj, it, &shaped_len);
        json_decref(mj);
        if (ms == C360_ERROR || (mj && !shaped)) {
            ch_instance_release(inst);
            st = C360_ERROR;
            snprintf(err, sizeof err, "the route's field mapping cannot be applied to this record");
        }
    }
    if (st == C360_OK) {
        c360_record rec = {
            .struct_size = sizeof rec,
            .attempt = attempt > UINT32_MAX ? UINT32_MAX : (uint32_t)attempt,
            .type = it->rt,
            .id = it->ri,
            .source_plugin = it->sp,
            .json = shaped ? shaped : it->r,
            .json_len = shaped ? shaped_len : it->r_len,
            .created_at_ms = it->t,
        };
        c360_call call;
        ch_call_init(&call, ch_plugin_name(pl), ch_inst_instance(inst), NULL, t->conf->callback_timeout_ms);
        ch_wexec_slot_begin(t, tenant, it, ch_plugin_name(pl), CH_SLOT_CB_DELIVER);
        int64_t t0 = ch_monotonic_ms();
        st = ops->deliver(&call, ch_plugin_data(pl), ch_inst_data(inst), &rec);
        took = ch_monotonic_ms() - t0;
        ch_slot_end(t->slot);
        ch_metrics_observe_callback(ch_plugin_index(t->conf->loader, pl), CH_CB_DELIVER, took);
        st = ch_status_normalise_deliver(st);
        ra = call.retry_set ? call.retry_after_ms : 0;
        ch_status_text(text, sizeof text, st, call.error);
        ch_call_done(&call);
        ch_instance_release(inst);
    } else {
        ch_status_text(text, sizeof text, st, err[0] ? err : "instance_open failed");
    }
    free(shaped);

    int written = ch_wdel_finish(t, tenant, it, st, text, ra, took, token);
    if (st == C360_EGONE && written) {
        const char *src = ch_id_valid(it->s) ? it->s : NULL;
        ch_wdel_gone(t, tenant, it->d, &src, src ? 1 : 0);
    }
}
