/* conn_ops.c -- ch_conn_disconnect (conn_ops.h).
 *
 * The order is what makes "gone" true from the customer's point of view:
 *
 *  1. tombstone (conns.h ch_conn_gone_mark): once the connection hash is
 *     purged, its webhook URL keeps answering 410, not 404;
 *  2. state "disabled": every host's ingress answers 410 as soon as its
 *     cache refreshed (milliseconds), the scheduler drops it, and workers
 *     acknowledge its items unprocessed once their per-thread state copy
 *     (worker.h conn_cache_ms, 1 s) has expired;
 *  3. the plugin's disconnect callback on an instance of its own (the
 *     admin process's instance set), on a helper thread, waited for up to
 *     the callback deadline plus a grace: a plugin that hangs costs its
 *     helper thread, never the admin thread or the customer's deletion;
 *  4. at least CH_DISCONNECT_SETTLE_MS after step 2: every worker has seen
 *     "disabled" by now, so no item of the connection starts afterwards;
 *  5. every entry of the connection is deleted from the tenant's streams
 *     (events: c = conn; deliveries and dead letters: d = conn or s = conn)
 *     with its retry / attempt / crash members, pending ones acknowledged
 *     first: the OK outcome of a callback still running acknowledges
 *     nothing and so enqueues nothing (queue_work_lua.h; its "dlq" and
 *     "drop" outcomes do not check that yet and may leave a dead letter or
 *     a stat counter behind -- a pipeline fix, noted for issue 6);
 *  6. ch_conn_purge: hash, indexes, routes, secrets, state, OAuth, status,
 *     dedup keys, logs;
 *  7. the audit entry connection.disconnect with the callback's outcome.
 *
 * A failure of the callback never keeps the data. A Redis failure in 5/6
 * returns C360_EIO; everything is idempotent, so the caller retries (the
 * connection stays disabled meanwhile). */
#include "conn_ops.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "call.h"
#include "cond.h"
#include "conns.h"
#include "instances.h"
#include "keys.h"
#include "loader.h"
#include "log.h"
#include "rconn.h"
#include "scheduler.h"
#include "util.h"

/* Longer than a worker's connection-state cache (1 s) plus a margin for
 * the pub/sub hop of other hosts. */
#define STREAM_PAGE "500"

/* ---- the disconnect callback on a helper thread ------------------------ */

typedef struct dc_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;          /* the waiter and the helper */
    int done;
    ch_inst *inst;     /* the helper's reference */
    int64_t timeout_ms;
    char request_id[65];
    int32_t status;
    char error[CH_CALL_ERROR_MAX];
} dc_job;

/* Disconnect callbacks still running on their helper threads (one that
 * overran its deadline keeps running): the daemon must not close
 * instances or unload plugins under them (ch_conn_ops_wait_idle). */
static pthread_mutex_t g_live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_live_cv = PTHREAD_COND_INITIALIZER;
static unsigned g_live;

static void live_add(int d)
{
    pthread_mutex_lock(&g_live_mu);
    g_live = (unsigned)((int)g_live + d);
    if (g_live == 0) pthread_cond_broadcast(&g_live_cv);
    pthread_mutex_unlock(&g_live_mu);
}

unsigned ch_conn_ops_wait_idle(int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g_live_mu);
    while (g_live > 0)
        if (pthread_cond_timedwait(&g_live_cv, &g_live_mu, &ts) != 0) break;
    unsigned left = g_live;
    pthread_mutex_unlock(&g_live_mu);
    return left;
}

static void job_unref(dc_job *j)
{
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void *dc_main(void *arg)
{
    dc_job *j = arg;
    const ch_plugin *pl = ch_inst_plugin(j->inst);
    c360_call call;
    ch_call_init(&call, ch_plugin_name(pl), ch_inst_instance(j->inst), j->request_id,
                 j->timeout_ms);
    int32_t st = ch_plugin_ops_get(pl)->disconnect(&call, ch_plugin_data(pl),
                                                   ch_inst_data(j->inst));
    st = ch_status_normalise(st);
    char err[CH_CALL_ERROR_MAX];
    snprintf(err, sizeof err, "%s", call.error);
    ch_call_done(&call);
    /* The instance was retired by the caller: this release closes it
     * (instance_close follows disconnect, as the ABI says). */
    ch_instance_release(j->inst);
    ch_rconn_thread_close();
    pthread_mutex_lock(&j->mu);
    j->status = st;
    memcpy(j->error, err, sizeof err);
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    live_add(-1);
    return NULL;
}

/* Audit fields are printable ASCII without '@' (audit.h): a plugin's error
 * text is made to fit rather than lost. */
static void audit_clean(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '@') *p = '?';
}

/* Runs the plugin's disconnect callback; its outcome into out. */
static void run_disconnect(ch_admin *a, const char *tenant, const char *conn,
                           const char *request_id, char *out, size_t cap)
{
    ch_conn *c = NULL;
    if (ch_conn_get(tenant, conn, &c) != C360_OK) {
        snprintf(out, cap, "skipped: connection unreadable");
        return;
    }
    const ch_plugin *pl = ch_loader_find(ch_admin_loader(a), c->plugin);
    ch_conn_free(c);
    if (!pl) {
        snprintf(out, cap, "skipped: plugin not loaded");
        return;
    }
    if (!ch_plugin_ops_get(pl)->disconnect) {
        snprintf(out, cap, "ok: no disconnect callback");
        return;
    }
    ch_instances *set = ch_admin_instances(a);
    /* An instance opened from the current config (the state change bumped
     * no version; an open one is as good). */
    ch_inst *inst = NULL;
    char err[CH_CALL_ERROR_MAX + 64] = "";
    int32_t st = ch_instance_acquire(set, tenant, conn, &inst, err, sizeof err);
    if (st != C360_OK) {
        snprintf(out, cap, "instance_open: %s%s%s", c360_strstatus(st), err[0] ? ": " : "", err);
        return;
    }
    /* Nobody new gets this instance: the helper's release closes it. */
    ch_instances_invalidate(set, conn);

    int64_t timeout = ch_admin_callback_timeout_ms(a);
    if (timeout <= 0) timeout = 60000;
    int64_t grace = timeout / 10 > 1000 ? timeout / 10 : 1000;
    dc_job *j = ch_calloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    ch_cond_init_monotonic(&j->cv);
    j->refs = 2;
    j->inst = inst;
    j->timeout_ms = timeout;
    snprintf(j->request_id, sizeof j->request_id, "%s", request_id ? request_id : "");
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    live_add(1);
    int rc = pthread_create(&th, &at, dc_main, j);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        live_add(-1);
        ch_instance_release(inst);
        j->refs = 1;
        job_unref(j);
        snprintf(out, cap, "skipped: no thread for the callback");
        return;
    }
    int64_t wait = timeout + grace;
    int64_t until = ch_monotonic_ms() + wait;
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        if (ch_cond_wait_ms(&j->cv, &j->mu, until - ch_monotonic_ms()) != 0) break;
    int done = j->done;
    int32_t result = j->status;
    char text[CH_CALL_ERROR_MAX];
    memcpy(text, j->error, sizeof text);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    if (!done) {
        ch_log(CH_LOG_WARN, "disconnect: the plugin's disconnect callback did not return in time",
               "tenant", tenant, "connection", conn, NULL);
        snprintf(out, cap, "plugin: %s: no answer within %lld ms", c360_strstatus(C360_ETIMEOUT), (long long)wait);
    } else if (result == C360_OK) {
        snprintf(out, cap, "ok");
    } else {
        snprintf(out, cap, "plugin: %s%s%s", c360_strstatus(result), text[0] ? ": " : "", text);
    }
}

/* ---- the connection's stream entries ------------------------------------ */

/* KEYS: 1 stream, 2 att, 3 retry, 4 crash. ARGV: 1 group ('' = none: the
 * dead letters), 2 start id (exclusive after the first page: '(' prefix),
 * 3 page size, 4 connection, 5.. the fields that name it. Deletes the
 * page's entries of the connection, acknowledging them first. Returns
 * {last id scanned or '', deleted}. */
static ch_script s_stream_purge = CH_SCRIPT(
    "local S, ATT, RETRY, CRASH = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local g, conn = ARGV[1], ARGV[4]\n"
    "local names = {}\n"
    "for i = 5, #ARGV do names[ARGV[i]] = true end\n"
    "local page = redis.call('XRANGE', S, ARGV[2], '+', 'COUNT', tonumber(ARGV[3]))\n"
    "local last, n = '', 0\n"
    "for _, e in ipairs(page) do\n"
    "  last = e[1]\n"
    "  local f, hit, kind = e[2], false, 'ev'\n"
    "  for i = 1, #f, 2 do\n"
    "    if names[f[i]] and f[i + 1] == conn then hit = true end\n"
    "  end\n"
    "  if hit then\n"
    "    if g ~= '' then\n"
    "      redis.pcall('XACK', S, g, e[1])\n"
    "      local m = e[1]\n"
    "      if string.sub(S, -3) == ':dl' then m = 'dl:' .. m end\n"
    "      redis.call('HDEL', ATT, m)\n"
    "      redis.call('HDEL', CRASH, m)\n"
    "      redis.call('ZREM', RETRY, m)\n"
    "    end\n"
    "    redis.call('XDEL', S, e[1])\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return {last, n}\n");

static int32_t purge_stream(const char *tenant, const char *which, const char *group,
                            const char *conn, const char *const *fields, size_t nfields,
                            long long *deleted)
{
    char *ks = ch_key_tenant(tenant, "%s", which);
    char *katt = ch_key_tenant(tenant, "att");
    char *kretry = ch_key_tenant(tenant, "retry");
    char *kcrash = ch_key_tenant(tenant, "crash");
    char start[64] = "-";
    int32_t st = C360_OK;
    for (;;) {
        const char *argv[4 + 4 + 4];
        int argc = 0;
        argv[argc++] = ks;
        argv[argc++] = katt;
        argv[argc++] = kretry;
        argv[argc++] = kcrash;
        argv[argc++] = group;
        argv[argc++] = start;
        argv[argc++] = STREAM_PAGE;
        argv[argc++] = conn;
        for (size_t i = 0; i < nfields && i < 4; i++) argv[argc++] = fields[i];
        redisReply *r = ch_rconn_eval(&s_stream_purge, 4, argc, argv, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_INTEGER) {
            ch_log(CH_LOG_WARN, "disconnect: purging stream entries failed", "tenant", tenant,
                   "stream", which, "error",
                   !r ? ch_rconn_error() : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                   NULL);
            if (r) freeReplyObject(r);
            st = C360_EIO;
            break;
        }
        *deleted += r->element[1]->integer;
        int more = r->element[0]->len > 0 && r->element[0]->len < sizeof start - 1;
        if (more) snprintf(start, sizeof start, "(%s", r->element[0]->str);
        freeReplyObject(r);
        if (!more) break;
    }
    free(ks);
    free(katt);
    free(kretry);
    free(kcrash);
    return st;
}

/* Every entry of the connection in the tenant's event, delivery and dead
 * letter streams. */
static int32_t purge_entries(const char *tenant, const char *conn, long long *deleted)
{
    static const char *const ev_f[] = {"c"};
    static const char *const dl_f[] = {"d", "s"};
    static const char *const dlq_f[] = {"c", "d", "s"};
    int32_t st = purge_stream(tenant, "ev", "w", conn, ev_f, 1, deleted);
    if (st == C360_OK) st = purge_stream(tenant, "dl", "w", conn, dl_f, 2, deleted);
    if (st == C360_OK) st = purge_stream(tenant, "dlq", "", conn, dlq_f, 3, deleted);
    return st;
}

/* ---- the whole disconnect ------------------------------------------------ */

static void sleep_until(int64_t mono_ms)
{
    for (;;) {
        int64_t left = mono_ms - ch_monotonic_ms();
        if (left <= 0) return;
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void audit_disconnect(const char *tenant, const char *conn, const char *actor,
                             const char *request_id, const char *outcome)
{
    char o[CH_AUDIT_FIELD_MAX + 1];
    snprintf(o, sizeof o, "%s", outcome && *outcome ? outcome : "ok");
    audit_clean(o);
    ch_audit_entry e = {.tenant = tenant, .actor = actor, .connection = conn,
                        .action = "connection.disconnect", .target = conn, .outcome = o,
                        .request_id = request_id};
    int32_t st = ch_audit_append(&e, NULL);
    if (st != C360_OK)
        ch_log(CH_LOG_WARN, "disconnect: audit append failed", "tenant", tenant, "connection",
               conn, "status", c360_strstatus(st), NULL);
}

int32_t ch_conn_disconnect(ch_admin *a, const char *tenant, const char *conn, const char *actor,
                           const char *request_id, char *outcome, size_t cap)
{
    if (outcome && cap) outcome[0] = '\0';
    if (!ch_id_valid(tenant) || !ch_id_valid(conn) || !ch_audit_field_valid(actor, 0))
        return C360_EINVAL;
    char out[CH_CALL_ERROR_MAX + 128] = "";
    ch_conn *c = NULL;
    int32_t st = ch_conn_get(tenant, conn, &c);
    if (st != C360_OK) return st;
    int was_disabled = strcmp(c->state, CH_CONN_STATE_DISABLED) == 0;
    ch_conn_free(c);

    st = ch_conn_gone_mark(tenant, conn);
    if (st != C360_OK) return st;
    int64_t marked = ch_monotonic_ms();
    /* Closed in every case (idempotent), so nothing can re-enable it from
     * here on. Already disabled (a retried disconnect, a tenant delete):
     * the settle has run before, or the workers were dropping its items
     * anyway. */
    st = ch_conn_close(tenant, conn, "disconnecting", actor, request_id);
    if (st == C360_ENOTFOUND) st = C360_OK; /* purged meanwhile: finish */
    if (st != C360_OK) return st;
    (void)ch_sched_remove(tenant, conn); /* set_state did it; belt and braces */

    if (a) run_disconnect(a, tenant, conn, request_id, out, sizeof out);
    else snprintf(out, sizeof out, "skipped: no admin context");
    if (!was_disabled) sleep_until(marked + CH_DISCONNECT_SETTLE_MS);

    long long deleted = 0;
    st = purge_entries(tenant, conn, &deleted);
    if (st == C360_OK) st = ch_conn_purge(tenant, conn, actor, request_id);
    if (a) ch_instances_invalidate(ch_admin_instances(a), conn);
    if (st != C360_OK) {
        audit_disconnect(tenant, conn, actor, request_id, "error:io");
        return st;
    }
    ch_log(CH_LOG_INFO, "connection disconnected", "tenant", tenant, "connection", conn,
           "outcome", out, NULL);
    audit_disconnect(tenant, conn, actor, request_id, out);
    if (outcome && cap) snprintf(outcome, cap, "%s", out);
    return C360_OK;
}
