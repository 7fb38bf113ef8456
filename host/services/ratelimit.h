/* ratelimit.h -- rate-limit budgets shared by every host (docs/ratelimits.md).
 *
 * A bucket is a Redis hash holding a GCRA "theoretical arrival time" plus
 * what providers last reported (a slowdown and a pause). Every take and
 * every report is one Lua script that reads Redis's own clock (TIME), so
 * any number of hosts share one budget and one clock, and no two takes can
 * both spend the last unit.
 *
 * Scopes (enum c360_rl_scope) pick the key:
 *   APP         c360:{p:<plugin>}:rl:<bucket>
 *   TENANT      c360:{t:<tenant>}:rl:t:<plugin>:<bucket>
 *   CONNECTION  c360:{t:<tenant>}:rl:c:<plugin>:<conn>:<bucket>
 * The t/c marker keeps a tenant bucket named "c1:x" apart from connection
 * c1's bucket "x" (bucket names may contain ':'; ids never do).
 * A bucket's key expires when the bucket would be full again and no
 * report is in force, so idle buckets cost nothing. */
#ifndef CH_RATELIMIT_H
#define CH_RATELIMIT_H

#include <stdint.h>

#include "connector_api.h"

/* The longest period a budget may have. */
#define CH_RL_MAX_PERIOD_MS 86400000u

typedef struct ch_rl_settings {
    /* Usage (percent) from which the rate falls linearly ... */
    unsigned slowdown_pct;      /* default 90 */
    /* ... to floor_pct of the budget at 100 % usage. */
    unsigned floor_pct;         /* default 10 */
    /* Usage at or above which takes wait for default_pause_ms (unless the
     * provider named a wait). */
    unsigned pause_pct;         /* default 95 */
    uint32_t default_pause_ms;  /* default 60000 */
    /* How long a reported slowdown lasts if no newer report replaces it
     * (a provider that stops sending headers must not slow us for ever). */
    uint32_t slowdown_hold_ms;  /* default 60000 */
} ch_rl_settings;

/* The defaults above. */
void ch_ratelimit_defaults(ch_rl_settings *out);
/* Replaces the settings (any thread, any time). C360_EINVAL, and nothing
 * changes, unless 1 <= slowdown_pct <= 100, 1 <= floor_pct <= 100,
 * 1 <= pause_pct <= CH_USAGE_MAX_PCT, 1 <= default_pause_ms <= 1 day and
 * slowdown_hold_ms <= 1 day. */
int32_t ch_ratelimit_configure(const ch_rl_settings *s);
void ch_ratelimit_settings_get(ch_rl_settings *out);

/* The Redis key of a bucket (free it), or NULL if an argument is invalid.
 * tenant is ignored for APP, conn for APP and TENANT. */
char *ch_ratelimit_key(const char *plugin, const char *tenant,
                       const char *conn, int32_t scope, const char *bucket);

/* Takes `cost` units. C360_OK if allowed now; C360_RETRY with *wait_ms
 * (>= 1) the delay after which the same take would be allowed, if nothing
 * else takes meanwhile (nothing is spent on a refusal). C360_EINVAL for a
 * bad scope or name, a NULL limit or one whose struct_size is below ABI
 * 1.1's, limit 0, period_ms 0 or over a day, cost 0 or cost > burst (burst
 * 0 means limit), or a burst that takes over a day to refill (burst *
 * period_ms / limit > 1 day). C360_EIO if Redis cannot be reached. wait_ms may be NULL;
 * it is 0 on C360_OK. */
int32_t ch_ratelimit_take(const char *plugin, const char *tenant,
                          const char *conn, int32_t scope, const char *bucket,
                          const c360_rl_limit *lim, uint32_t cost,
                          uint32_t *wait_ms);

/* Records a provider's report on the bucket: usage_pct at or above
 * slowdown_pct slows the bucket (down to floor_pct of its rate at 100 %) for
 * slowdown_hold_ms; a lower usage lifts an earlier slowdown. pause_ms > 0,
 * or usage at or above pause_pct (then default_pause_ms), makes takes wait
 * until the pause has passed; a pause is only ever extended, never
 * shortened, by a later report. */
int32_t ch_ratelimit_report(const char *plugin, const char *tenant,
                            const char *conn, int32_t scope,
                            const char *bucket, uint32_t usage_pct,
                            uint32_t pause_ms);

/* Reads the usage headers of resp (usage.h) and reports them. C360_OK also
 * when the response carries no signal (then Redis is not touched). */
int32_t ch_ratelimit_feed_response(const char *plugin, const char *tenant,
                                   const char *conn, int32_t scope,
                                   const char *bucket,
                                   const c360_http_response *resp);

#endif
