/* fh_ratelimit.c -- host->ratelimit_* with the argument checks of
 * host/services/ratelimit.h and no limiting at all: every take is allowed
 * at once (C360_OK, wait 0). A checker runs each callback once, so a real
 * budget would never bind; what it can catch is a budget the host would
 * refuse outright (cost over the burst, a zero period, ...), which in
 * c360d fails every call of the plugin. */
#include <inttypes.h>

#include "call.h"
#include "connector_api.h"
#include "fh_internal.h"
#include "keys.h"
#include "ratelimit.h"
#include "usage.h"

static const char *fh_scope_name(int32_t scope)
{
    switch (scope) {
    case C360_RL_APP: return "app";
    case C360_RL_TENANT: return "tenant";
    case C360_RL_CONNECTION: return "connection";
    default: return NULL;
    }
}

static void fh_bucket_args(json_t *e, int32_t scope, const char *bucket)
{
    const char *sname = fh_scope_name(scope);
    if (sname != NULL)
        fh_named_str(e, "scope", sname);
    else
        fh_named_int(e, "scope", scope);
    fh_named_str(e, "bucket", bucket);
}

/* C360_OK if the host would accept scope and bucket. */
static int32_t fh_bucket_check(json_t *e, const char *fn, int32_t scope,
                               const char *bucket)
{
    if (fh_scope_name(scope) == NULL)
        return fh_invalid_locked(e, fn, "unknown scope (C360_RL_APP, "
                                 "C360_RL_TENANT or C360_RL_CONNECTION)");
    if (!ch_name_valid(bucket))
        return fh_invalid_locked(e, fn, "bucket name must be 1..200 bytes of "
                                 "printable ASCII (0x21..0x7e)");
    return C360_OK;
}

/* The budget checks of ch_ratelimit_take, with the reason for each. */
static const char *fh_limit_problem(const c360_rl_limit *lim, uint32_t cost)
{
    if (lim == NULL || lim->struct_size < sizeof(c360_rl_limit))
        return "limit is NULL or its struct_size is below ABI 1.1's";
    uint32_t burst = lim->burst != 0 ? lim->burst : lim->limit;
    if (lim->limit == 0)
        return "limit must be above 0";
    if (lim->period_ms == 0)
        return "period_ms must be above 0";
    if (lim->period_ms > CH_RL_MAX_PERIOD_MS)
        return "period_ms is over a day";
    if (cost == 0)
        return "cost must be above 0";
    if (cost > burst)
        return "cost is over the burst (burst 0 = limit): it could never be "
               "allowed";
    if ((uint64_t)burst * lim->period_ms >
        (uint64_t)lim->limit * CH_RL_MAX_PERIOD_MS)
        return "a full burst would take over a day to refill";
    return NULL;
}

static int32_t fh_take_locked(json_t *e, c360_call *call, int32_t scope,
                              const char *bucket, const c360_rl_limit *limit,
                              uint32_t cost)
{
    int32_t st = fh_gate_locked(e, "ratelimit_take", call);
    if (st != C360_OK)
        return st;
    const char *why = fh_limit_problem(limit, cost);
    if (why != NULL)
        return fh_invalid_locked(e, "ratelimit_take", why);
    st = fh_bucket_check(e, "ratelimit_take", scope, bucket);
    if (st != C360_OK)
        return st;
    fh_detail(e, "allowed, wait 0 ms (the fake host never limits)");
    return fh_status(e, C360_OK);
}

int32_t fh_ratelimit_take(c360_call *call, int32_t scope, const char *bucket,
                          const c360_rl_limit *limit, uint32_t cost,
                          uint32_t *wait_ms)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("ratelimit_take");
    fh_bucket_args(e, scope, bucket);
    /* Fields are read only within the plugin's struct_size. */
    if (limit != NULL && limit->struct_size >= sizeof(*limit)) {
        fh_named_int(e, "limit", limit->limit);
        fh_named_int(e, "period_ms", limit->period_ms);
        fh_named_int(e, "burst", limit->burst);
    }
    fh_named_int(e, "cost", cost);
    if (wait_ms != NULL)
        *wait_ms = 0; /* first, as hostapi.c: 0 on every outcome but RETRY */
    int32_t st = fh_take_locked(e, call, scope, bucket, limit, cost);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

int32_t fh_ratelimit_report(c360_call *call, int32_t scope,
                            const char *bucket, uint32_t usage_pct,
                            uint32_t pause_ms)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("ratelimit_report");
    fh_bucket_args(e, scope, bucket);
    fh_named_int(e, "usage_pct", usage_pct);
    fh_named_int(e, "pause_ms", pause_ms);
    int32_t st = fh_gate_locked(e, "ratelimit_report", call);
    if (st == C360_OK)
        st = fh_bucket_check(e, "ratelimit_report", scope, bucket);
    if (st == C360_OK) {
        fh_detail(e, "recorded");
        st = fh_status(e, C360_OK);
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

int32_t fh_ratelimit_feed_response(c360_call *call, int32_t scope,
                                   const char *bucket,
                                   const c360_http_response *resp)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("ratelimit_feed_response");
    fh_bucket_args(e, scope, bucket);
    if (resp != NULL && resp->struct_size >= sizeof(*resp))
        fh_named_int(e, "resp_status", resp->status);
    int32_t st = fh_gate_locked(e, "ratelimit_feed_response", call);
    if (st == C360_OK)
        st = fh_bucket_check(e, "ratelimit_feed_response", scope, bucket);
    if (st == C360_OK && resp == NULL)
        st = fh_invalid_locked(e, "ratelimit_feed_response", "resp is NULL");
    if (st == C360_OK) {
        /* The host's own header reader: what c360d would report. */
        ch_usage u;
        if (ch_usage_parse(resp, ch_now_ms(), &u))
            fh_detail(e, "usage %" PRIu32 "%%, pause %" PRIu32 " ms",
                      u.usage_pct, u.pause_ms);
        else
            fh_detail(e, "no rate-limit headers");
        st = fh_status(e, C360_OK);
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}
