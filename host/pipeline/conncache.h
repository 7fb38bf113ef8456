/* conncache.h -- this process's copy of the connection indexes, for the
 * event loop.
 *
 * The ingress must map a webhook URL to a tenant and connection (and an
 * app-level webhook's routing keys to connections) without a Redis round
 * trip. The cache holds, per connection: tenant, plugin, state, version
 * and its routing keys; and per (plugin, routing key) the connections that
 * registered it; and the tombstones of disconnected connections.
 *
 * Filled by a full load on a background thread (the "refresher": blocking
 * Redis, rconn.h) at start and every `reload_s` seconds, and refreshed one
 * connection at a time when a "T/c" message arrives on c360:conn-changed
 * (conns.h publishes after every change). The subscription is a dedicated
 * async hiredis connection on the event loop, reconnecting with backoff;
 * every (re)subscription triggers a full load, since messages published
 * while it was down are lost. The refresher applies changes in arrival
 * order, after any full load that was running when they arrived, so a
 * change is never overwritten by an older snapshot.
 *
 * Lookups copy the answer out under a mutex that writers hold only for
 * pointer-sized work (never during Redis I/O): they never block the loop
 * on Redis. */
#ifndef CH_CONNCACHE_H
#define CH_CONNCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "conns.h"
#include "redis_url.h"

typedef struct ch_conncache ch_conncache;

/* One connection as cached (a copy: the caller owns it). */
typedef struct ch_cc_entry {
    char tenant[CH_ID_MAX + 1];
    char id[CH_ID_MAX + 1];
    char plugin[CH_CONN_PLUGIN_MAX];
    char state[CH_CONN_STATE_MAX];
    uint64_t version;
    int ticks;
} ch_cc_entry;

/* One target of a routing key. */
typedef struct ch_cc_target {
    char tenant[CH_ID_MAX + 1];
    char id[CH_ID_MAX + 1];
} ch_cc_target;

/* base: the event loop (the subscription runs on it). url, username,
 * password: the Redis of the pipeline (password may be NULL; copied into
 * locked memory). The refresher's blocking connection is rconn.h's, which
 * must be configured already. reload_s: full reload period (0 = 30). */
ch_conncache *ch_conncache_new(struct event_base *base,
                               const ch_redis_url *url, const char *username,
                               const char *password, int reload_s);
/* Starts the refresher thread (first full load at once) and the
 * subscription. Returns 0, or -1 if the thread could not start (logged).
 * Call on the loop thread. */
int ch_conncache_start(ch_conncache *cc);
/* Stops the subscription and joins the refresher; call on the loop thread
 * before freeing the base. Idempotent. */
void ch_conncache_stop(ch_conncache *cc);
void ch_conncache_free(ch_conncache *cc);

/* 1 once the first full load succeeded. Before that every lookup misses,
 * and the ingress answers 503 rather than 404. */
int ch_conncache_loaded(ch_conncache *cc);

/* Copies connection `id` into *out: 1 if cached, 0 if not. Any thread. */
int ch_conncache_get(ch_conncache *cc, const char *id, ch_cc_entry *out);

/* 1 if connection id was disconnected (a tombstone, conns.h
 * ch_conn_gone_mark, not expired): its webhooks answer 410. A connection
 * that exists (ch_conncache_get) outranks a mark. Any thread. */
int ch_conncache_gone(ch_conncache *cc, const char *id);

/* The connections that registered routing key `key` of plugin `plugin`:
 * copies up to cap of them into out and returns how many there are (may be
 * more than cap). Any thread. */
size_t ch_conncache_route(ch_conncache *cc, const char *plugin,
                          const char *key, ch_cc_target *out, size_t cap);

/* Calls fn for every cached connection (a copy per call), under the lock:
 * fn must be quick and must not call back into the cache. */
void ch_conncache_foreach(ch_conncache *cc,
                          void (*fn)(const ch_cc_entry *e, void *arg),
                          void *arg);

/* Listener (one; instances.h's opener): on_change(tenant, conn, arg) after
 * a connection was refreshed or removed, on_reload(arg) after a full load.
 * Called on the refresher thread, outside the cache lock; may block
 * briefly but should hand work off. NULL functions = no listener. */
void ch_conncache_set_listener(ch_conncache *cc,
                               void (*on_change)(const char *tenant,
                                                 const char *conn, void *arg),
                               void (*on_reload)(void *arg), void *arg);

/* Asks the refresher to re-read one connection now (tests, or a module
 * that changed it in this process). Any thread; never blocks on Redis. */
void ch_conncache_refresh(ch_conncache *cc, const char *tenant,
                          const char *conn);

typedef struct ch_conncache_stats {
    uint64_t connections;   /* cached now */
    uint64_t route_keys;    /* distinct (plugin, key) pairs cached now */
    uint64_t full_loads;    /* successful full loads */
    uint64_t refreshes;     /* single-connection refreshes applied */
    uint64_t load_errors;   /* full loads / refreshes that failed */
    uint64_t subscribed;    /* times the subscription was (re)established */
} ch_conncache_stats;
void ch_conncache_get_stats(ch_conncache *cc, ch_conncache_stats *out);

#endif
