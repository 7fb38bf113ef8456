/* batch_tp.c -- "btp", a test destination with deliver_batch (ABI 1.4), for
 * tests/unit/test_deliver_batch.c: each record's outcome is chosen by the
 * prefix of its id, so one batch can carry every status at once.
 *
 *   ok...      C360_OK
 *   rt<K>-...  C360_RETRY while the record's attempt <= K (with
 *              call_retry_after(config retry_after_ms) when that is set),
 *              then OK
 *   err-...    C360_ERROR ("rejected")
 *   gone-...   C360_EGONE ("410 Gone")
 *   th<K>-...  C360_THROTTLED (ABI 1.5) for the record's first K calls
 *              (seen:<id>: its attempt does not grow while it is put off),
 *              with call_retry_after(retry_after_ms) when that is set,
 *              then OK
 *   unset-...  deliver_batch leaves its status as it found it
 *   other      C360_OK
 *
 * State it keeps (host->state_*), per connection:
 *   batches       deliver_batch calls;   singles  deliver calls
 *   maxn          the most records one deliver_batch call got
 *   seen:<id>     attempts of the record that reached the plugin
 *   d:<id>        successful deliveries of the record
 *   json:<id>     the record's JSON as it arrived (route mappings)
 *   att:<id>      the attempt number of its last delivery
 *   maxconc       the most calls of the connection in flight at once
 *
 * Config (JSON object): sleep_ms (each call sleeps), retry_after_ms, oom
 * (true: deliver_batch returns C360_ENOMEM and sets no status), force (a
 * prefix above, "ok", "rt9", "err", "gone" or "unset", that every record
 * gets whatever its id: for c360-plugin-check, whose ids are fixed).
 *
 * Built twice: batch_tp.so ("btp", ABI 1.4) and, with BTP_V13,
 * batch_tp13.so ("btp13"): a 1.3 descriptor (abi_minor 3, struct_size up to
 * oauth_connect) that still has deliver_batch set past its end -- a host
 * must never read it, and delivers to it with deliver one at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "connector_api.h"

static const c360_host_api *H;

typedef struct btp_inst {
    long sleep_ms;
    long retry_after_ms;
    int oom;
    char force[8];
} btp_inst;

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
    (void)pd;
    json_t *o = json_loadb(json, len, 0, NULL);
    int ok = json_is_object(o);
    json_decref(o);
    if (!ok) H->config_error(call, "", "must be a JSON object");
    return ok ? C360_OK : C360_EINVAL;
}

static int32_t open_inst(c360_call *call, void *pd, c360_instance *inst, const char *json,
                         size_t len, void **out)
{
    (void)pd;
    (void)inst;
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        H->call_error(call, "config is not an object");
        return C360_ERROR;
    }
    btp_inst *b = calloc(1, sizeof *b);
    if (!b) {
        json_decref(o);
        return C360_ENOMEM;
    }
    json_t *v = json_object_get(o, "sleep_ms");
    b->sleep_ms = json_is_integer(v) ? (long)json_integer_value(v) : 0;
    v = json_object_get(o, "retry_after_ms");
    b->retry_after_ms = json_is_integer(v) ? (long)json_integer_value(v) : 0;
    b->oom = json_is_true(json_object_get(o, "oom"));
    v = json_object_get(o, "force");
    if (json_is_string(v)) snprintf(b->force, sizeof b->force, "%s-", json_string_value(v));
    json_decref(o);
    *out = b;
    return C360_OK;
}

static void close_inst(void *pd, void *id)
{
    (void)pd;
    free(id);
}

static void incr(c360_call *call, const char *prefix, const char *id, int64_t *now)
{
    char key[256];
    snprintf(key, sizeof key, "%s%.200s", prefix, id);
    H->state_incr(call, key, 1, now);
}

static void put_num(c360_call *call, const char *prefix, const char *id, long long v)
{
    char key[256], buf[32];
    snprintf(key, sizeof key, "%s%.200s", prefix, id);
    int n = snprintf(buf, sizeof buf, "%lld", v);
    H->state_set(call, key, buf, (size_t)n, 0, NULL);
}

/* A monotone maximum in state key `key` (compare-and-set). */
static void note_max(c360_call *call, const char *key, int64_t v)
{
    for (int i = 0; i < 20; i++) {
        uint8_t *cur = NULL;
        size_t len = 0;
        uint64_t ver = 0;
        int64_t have = 0;
        int32_t st = H->state_get(call, key, &cur, &len, &ver);
        if (st == C360_OK) {
            have = atoll((const char *)cur);
            H->free(cur);
        } else if (st != C360_ENOTFOUND) {
            return;
        }
        if (v <= have) return;
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
        if (H->state_cas(call, key, buf, (size_t)n, st == C360_OK ? ver : 0, 0, NULL) == C360_OK)
            return;
    }
}

/* The status the record's id asks for; 1 in *leave for "unset-". */
static int32_t outcome_of(c360_call *call, const btp_inst *b, const c360_record *rec, int *leave)
{
    const char *id = b->force[0] ? b->force : rec->id;
    *leave = 0;
    int64_t seen = 0;
    incr(call, "seen:", rec->id, &seen);
    put_num(call, "att:", rec->id, rec->attempt);
    if (strncmp(id, "th", 2) == 0 && id[2] >= '0' && id[2] <= '9') {
        if (seen <= strtol(id + 2, NULL, 10)) {
            if (b->retry_after_ms > 0) H->call_retry_after(call, (uint32_t)b->retry_after_ms);
            H->call_error(call, "slow down (call %lld)", (long long)seen);
            return C360_THROTTLED;
        }
    } else if (strncmp(id, "rt", 2) == 0) {
        long k = strtol(id + 2, NULL, 10);
        if ((long)rec->attempt <= k) {
            if (b->retry_after_ms > 0) H->call_retry_after(call, (uint32_t)b->retry_after_ms);
            H->call_error(call, "busy (attempt %u)", rec->attempt);
            return C360_RETRY;
        }
    } else if (strncmp(id, "err-", 4) == 0) {
        H->call_error(call, "rejected");
        return C360_ERROR;
    } else if (strncmp(id, "gone-", 5) == 0) {
        H->call_error(call, "410 Gone");
        return C360_EGONE;
    } else if (strncmp(id, "unset-", 6) == 0) {
        *leave = 1;
        return C360_OK;
    }
    incr(call, "d:", rec->id, NULL);
    char key[256];
    snprintf(key, sizeof key, "json:%.200s", rec->id);
    H->state_set(call, key, rec->json, rec->json_len, 0, NULL);
    return C360_OK;
}

static void enter(c360_call *call, const btp_inst *b)
{
    int64_t inflight = 0;
    H->state_incr(call, "inflight", 1, &inflight);
    note_max(call, "maxconc", inflight);
    if (b->sleep_ms > 0) sleep_ms(b->sleep_ms);
}

static int32_t deliver(c360_call *call, void *pd, void *idata, const c360_record *rec)
{
    (void)pd;
    btp_inst *b = idata;
    H->state_incr(call, "singles", 1, NULL);
    enter(call, b);
    int leave = 0;
    int32_t st = outcome_of(call, b, rec, &leave);
    H->state_incr(call, "inflight", -1, NULL);
    return st;
}

static int32_t deliver_batch(c360_call *call, void *pd, void *idata,
                             const c360_record *const *recs, size_t n, int32_t *statuses)
{
    (void)pd;
    btp_inst *b = idata;
    H->state_incr(call, "batches", 1, NULL);
    note_max(call, "maxn", (int64_t)n);
    enter(call, b);
    if (b->oom) {
        H->state_incr(call, "inflight", -1, NULL);
        return C360_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int leave = 0;
        int32_t st = outcome_of(call, b, recs[i], &leave);
        if (!leave) statuses[i] = st;
    }
    H->state_incr(call, "inflight", -1, NULL);
    return C360_OK;
}

#ifdef BTP_V13
/* Written by hand, as a 1.3 SDK would have: abi_minor 3 and the size of a
 * 1.3 descriptor. deliver_batch lies past that end. */
#define BTP_HEADER                                                          \
    C360_PLUGIN_MAGIC, C360_ABI_MAJOR, 3,                                   \
        (uint32_t)(offsetof(c360_plugin_desc, oauth_connect) +              \
                   sizeof(void (*)(void))),                                 \
        C360_CAP_DESTINATION
#define BTP_NAME "btp13"
#else
#define BTP_HEADER C360_DESC_HEADER(C360_CAP_DESTINATION)
#define BTP_NAME "btp"
#endif

static const c360_plugin_desc desc = {
    BTP_HEADER,
    .name = BTP_NAME,
    .version = "1.0.0",
    .description = "batch test destination: per-record statuses on demand",
    .config_schema = "{\"type\":\"object\"}",
    .init = init,
    .validate_config = validate,
    .instance_open = open_inst,
    .instance_close = close_inst,
    .deliver = deliver,
    .deliver_batch = deliver_batch,
};

C360_PLUGIN_ENTRY { return &desc; }
