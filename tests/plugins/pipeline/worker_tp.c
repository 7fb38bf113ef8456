/* worker_tp.c -- "wtp", the workers' own test plugin: a source (webhooks and
 * ticks) and a destination whose behaviour the unit tests and workers.sh
 * choose per event and per connection, so that every outcome of the work
 * loop can be produced on demand and observed in Redis.
 *
 * Event body (text, space-separated):
 *   ok N [P]       emits N records "lead" with ids "<P>-<i>" (P defaults to
 *                  the host's event id); OK
 *   retry K [MS]   RETRY (retry_after MS if given) while attempt <= K, then
 *                  as "ok 1"
 *   error          ERROR with the call error "boom"
 *   status N       returns N as it is
 *   crash          SIGSEGV (a write through a NULL pointer)
 *   hang           sleeps an hour (past any deadline)
 *   sleep MS       sleeps MS, then as "ok 1"
 *   reauth         reports NEEDS_REAUTH with cause "token dead", returns
 *                  EAUTH
 *   badrec         emits invalid records (the host must refuse them) and
 *                  one good one; OK
 * Every event run counts state "ev:<event id>" += 1 (at-least-once checks).
 *
 * Connection config (JSON object):
 *   deliver_fail N      deliver: RETRY while the record's attempt <= N
 *   deliver_error       deliver: ERROR ("rejected")
 *   deliver_sleep_ms N  deliver: sleeps N
 *   tick_records N      tick: emits N records "tick-<conn>-<k>"
 *   tick_status S       tick: returns S (a number) instead of OK
 *   open_fail           instance_open: ERROR
 *   prefetch            event_prefetch (ABI 1.7) keeps count: state
 *                       "pf_calls" += 1 and "pf_events" += n per call,
 *                       "pf:<event id>" += 1 per event shown, "pf_last" =
 *                       the event ids of the last call joined by ","; and
 *                       "pf_bad" = 1 if record_emit or state_set_on_commit
 *                       was not refused as the ABI says. Without it,
 *                       event_prefetch does nothing and returns OK.
 *   prefetch_status S   event_prefetch returns S (after counting)
 *   prefetch_sleep_ms N event_prefetch sleeps N ms, or as long as its call
 *                       has left if that is less; "pf_left" = the time it
 *                       had left when called
 * Every delivery counts state "d:<record id>" += 1 and "delivered" += 1,
 * stores the record's JSON as it arrived in state "json:<record id>", and
 * keeps "maxconc", the most deliveries of the connection seen in flight at
 * once across every thread and process (from state "inflight"). */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "connector_api.h"

static const c360_host_api *H;

typedef struct wtp_inst {
    long deliver_fail;
    int deliver_error;
    long deliver_sleep_ms;
    long tick_records;
    long tick_status;
    int prefetch;
    long prefetch_status;
    long prefetch_sleep_ms;
    atomic_long ticks;
} wtp_inst;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static int32_t init(c360_call *call, const c360_host_api *host, void **pd)
{
    (void)call;
    H = host;
    *pd = NULL;
    return C360_OK;
}

static int32_t validate(c360_call *call, void *pd, const char *json, size_t len)
{
    (void)call; (void)pd; (void)json; (void)len;
    return C360_OK;
}

static long num(json_t *o, const char *k, long dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

static int32_t open_inst(c360_call *call, void *pd, c360_instance *inst, const char *json,
                         size_t len, void **out)
{
    (void)pd; (void)inst;
    json_error_t e;
    json_t *o = json_loadb(json, len, 0, &e);
    if (!json_is_object(o)) {
        json_decref(o);
        H->call_error(call, "config is not an object");
        return C360_ERROR;
    }
    if (json_is_true(json_object_get(o, "open_fail"))) {
        json_decref(o);
        H->call_error(call, "open refused by config");
        return C360_ERROR;
    }
    wtp_inst *w = calloc(1, sizeof *w);
    if (!w) {
        json_decref(o);
        return C360_ENOMEM;
    }
    w->deliver_fail = num(o, "deliver_fail", 0);
    w->deliver_error = json_is_true(json_object_get(o, "deliver_error"));
    w->deliver_sleep_ms = num(o, "deliver_sleep_ms", 0);
    w->tick_records = num(o, "tick_records", 0);
    w->tick_status = num(o, "tick_status", C360_OK);
    w->prefetch = json_is_true(json_object_get(o, "prefetch"));
    w->prefetch_status = num(o, "prefetch_status", C360_OK);
    w->prefetch_sleep_ms = num(o, "prefetch_sleep_ms", 0);
    json_decref(o);
    *out = w;
    return C360_OK;
}

static void close_inst(void *pd, void *id)
{
    (void)pd;
    free(id);
}

static void count(c360_call *call, const char *prefix, const char *id)
{
    char key[256];
    snprintf(key, sizeof key, "%s%s", prefix, id);
    H->state_incr(call, key, 1, NULL);
}

static int32_t emit(c360_call *call, const char *prefix, long n)
{
    for (long i = 0; i < n; i++) {
        char id[160], json[256];
        snprintf(id, sizeof id, "%.120s-%ld", prefix, i);
        snprintf(json, sizeof json, "{\"i\":%ld,\"src\":\"wtp\",\"id\":\"%s\"}", i, id);
        int32_t st = H->record_emit(call, "lead", id, json, strlen(json));
        if (st != C360_OK) return st;
    }
    return C360_OK;
}

static int32_t on_event(c360_call *call, void *pd, void *idata, const c360_event *ev)
{
    (void)pd; (void)idata;
    count(call, "ev:", ev->event_id);
    char body[256];
    size_t n = ev->body_len < sizeof body - 1 ? ev->body_len : sizeof body - 1;
    memcpy(body, ev->body, n);
    body[n] = '\0';
    char op[32] = "", arg2[128] = "";
    long a = 0;
    int got = sscanf(body, "%31s %ld %127s", op, &a, arg2);
    if (got < 1) return C360_ERROR;
    if (strcmp(op, "ok") == 0) return emit(call, got >= 3 ? arg2 : ev->event_id, a);
    if (strcmp(op, "retry") == 0) {
        if ((long)ev->attempt <= a) {
            if (got >= 3) H->call_retry_after(call, (uint32_t)atol(arg2));
            H->call_error(call, "try again (attempt %u)", ev->attempt);
            return C360_RETRY;
        }
        return emit(call, ev->event_id, 1);
    }
    if (strcmp(op, "error") == 0) {
        H->call_error(call, "boom");
        return C360_ERROR;
    }
    if (strcmp(op, "status") == 0) return (int32_t)a;
    if (strcmp(op, "crash") == 0) {
        volatile int *volatile p = NULL;
        *p = 1;
        return C360_ERROR;
    }
    if (strcmp(op, "hang") == 0) {
        sleep_ms(3600L * 1000);
        return C360_ERROR;
    }
    if (strcmp(op, "sleep") == 0) {
        sleep_ms(a);
        return emit(call, ev->event_id, 1);
    }
    if (strcmp(op, "reauth") == 0) {
        H->connection_status(call, C360_CONN_NEEDS_REAUTH, "token dead");
        H->call_error(call, "credentials rejected");
        return C360_EAUTH;
    }
    if (strcmp(op, "badrec") == 0) {
        /* Each refusal must come back as the documented status. */
        if (H->record_emit(call, "lead", "x", "[1]", 3) != C360_EINVAL) return C360_ERROR;
        if (H->record_emit(call, "Bad Type", "x", "{}", 2) != C360_EINVAL) return C360_ERROR;
        if (H->record_emit(call, "lead", "", "{}", 2) != C360_EINVAL) return C360_ERROR;
        if (H->record_emit(call, "lead", "x", "{", 1) != C360_EINVAL) return C360_ERROR;
        return emit(call, ev->event_id, 1);
    }
    H->call_error(call, "unknown op");
    return C360_ERROR;
}

static int32_t on_prefetch(c360_call *call, void *pd, void *idata, const c360_event *const *evs,
                           size_t n)
{
    (void)pd;
    const wtp_inst *w = idata;
    if (!w->prefetch) return C360_OK;
    int64_t left = H->call_time_left_ms(call);
    H->state_incr(call, "pf_calls", 1, NULL);
    H->state_incr(call, "pf_events", (int64_t)n, NULL);
    char last[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        count(call, "pf:", evs[i]->event_id);
        int k = snprintf(last + used, sizeof last - used, "%s%s", i ? "," : "", evs[i]->event_id);
        if (k > 0 && (size_t)k < sizeof last - used) used += (size_t)k;
    }
    H->state_set(call, "pf_last", last, used, 0, NULL);
    if (H->record_emit(call, "lead", "pf", "{}", 2) != C360_EUNSUPPORTED ||
        H->state_set_on_commit(call, "pf_staged", "1", 1, 0) != C360_EDENIED)
        H->state_set(call, "pf_bad", "1", 1, 0, NULL);
    if (w->prefetch_sleep_ms > 0) {
        char lb[24];
        int k = snprintf(lb, sizeof lb, "%lld", (long long)left);
        H->state_set(call, "pf_left", lb, (size_t)k, 0, NULL);
        sleep_ms(w->prefetch_sleep_ms < left ? w->prefetch_sleep_ms : (long)left);
    }
    if (w->prefetch_status != C360_OK) H->call_error(call, "prefetch failed on purpose");
    return (int32_t)w->prefetch_status;
}

static int32_t on_tick(c360_call *call, void *pd, void *idata)
{
    (void)pd;
    wtp_inst *w = idata;
    if (w->tick_status != C360_OK) {
        H->call_error(call, "tick failed on purpose");
        return (int32_t)w->tick_status;
    }
    char prefix[128];
    snprintf(prefix, sizeof prefix, "tick-%s-%ld", H->call_request_id(call), atomic_fetch_add(&w->ticks, 1));
    H->state_incr(call, "ticks", 1, NULL);
    return emit(call, prefix, w->tick_records);
}

/* The most deliveries in flight at once, kept as a monotone maximum. */
static void note_concurrency(c360_call *call, int64_t now_in_flight)
{
    for (int i = 0; i < 20; i++) {
        uint8_t *v = NULL;
        size_t len = 0;
        uint64_t ver = 0;
        int64_t cur = 0;
        int32_t st = H->state_get(call, "maxconc", &v, &len, &ver);
        if (st == C360_OK) {
            cur = atoll((const char *)v);
            H->free(v);
        } else if (st != C360_ENOTFOUND) {
            return;
        }
        if (now_in_flight <= cur) return;
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)now_in_flight);
        if (H->state_cas(call, "maxconc", buf, (size_t)n, st == C360_OK ? ver : 0, 0, NULL) == C360_OK)
            return;
    }
}

static int32_t on_deliver(c360_call *call, void *pd, void *idata, const c360_record *rec)
{
    (void)pd;
    wtp_inst *w = idata;
    int64_t inflight = 0;
    H->state_incr(call, "inflight", 1, &inflight);
    note_concurrency(call, inflight);
    if (w->deliver_sleep_ms > 0) sleep_ms(w->deliver_sleep_ms);
    int32_t st = C360_OK;
    if (w->deliver_error) {
        H->call_error(call, "rejected");
        st = C360_ERROR;
    } else if ((long)rec->attempt <= w->deliver_fail) {
        H->call_error(call, "destination unavailable (attempt %u)", rec->attempt);
        st = C360_RETRY;
    }
    if (st == C360_OK) {
        count(call, "d:", rec->id);
        H->state_incr(call, "delivered", 1, NULL);
        /* What arrived, as it arrived (route mappings reshape it). */
        char key[200];
        snprintf(key, sizeof key, "json:%.150s", rec->id);
        H->state_set(call, key, rec->json, rec->json_len, 0, NULL);
    }
    H->state_incr(call, "inflight", -1, NULL);
    return st;
}

static int32_t verify(c360_call *call, void *pd, void *idata, const c360_webhook *req,
                      c360_webhook_reply *reply)
{
    (void)call; (void)pd; (void)idata; (void)req; (void)reply;
    return C360_VERDICT_ACCEPT;
}

static const c360_plugin_desc desc = {
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK | C360_CAP_DESTINATION),
    .name = "wtp",
    .version = "1.0.0",
    .description = "worker test plugin: misbehaves on demand",
    .config_schema = "{\"type\":\"object\"}",
    .init = init,
    .validate_config = validate,
    .instance_open = open_inst,
    .instance_close = close_inst,
    .tick = on_tick,
    .webhook_verify = verify,
    .event = on_event,
    .deliver = on_deliver,
    .event_prefetch = on_prefetch,
};

C360_PLUGIN_ENTRY { return &desc; }
