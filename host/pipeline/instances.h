/* instances.h -- opened plugin instances of connections.
 *
 * An instance is what the plugin's instance_open made of one connection at
 * one config version: a struct c360_instance (instance.h) plus the plugin's
 * instance_data. Instances are shared and reference-counted: any number of
 * worker threads (and the event loop, for webhook_verify) use the same one
 * at once. When a connection's version changes (ch_conn_put) or it is
 * purged, the open instance is retired: nobody new gets it, and it is
 * closed (instance_close) when its last user releases it -- never while a
 * callback still runs with its instance_data.
 *
 * Two ways in:
 *
 *  - Workers (any non-loop thread): ch_instance_acquire opens on demand and
 *    blocks (Redis, and the plugin's instance_open, which may do network
 *    I/O). Concurrent acquires of one connection open it once: the others
 *    wait for that open. An open instance is re-validated against Redis
 *    (one HGET of the version) at most every `recheck_ms` (so a worker
 *    process, which gets no change notifications, uses a superseded config
 *    for at most that long); ch_instances_invalidate does it at once.
 *
 *  - The event loop: ch_instance_peek never blocks. It returns the instance
 *    only if it is already open at the version the caller names (from
 *    conncache.h), else NULL -- and asks the opener thread to open it; the
 *    ingress then answers 503 with Retry-After: 1. The opener thread
 *    (ch_instances_opener_start, master only) opens in the background the
 *    instances of every active connection of a webhook-capable plugin, so
 *    that after start-up peeks hit.
 *
 * instance_open runs with a c360_call bound to the new instance, so the
 * plugin may call blocking host services from it, e.g. instance_route_keys
 * (hostapi.c -> ch_conn_route_keys_set).
 *
 * instance_close runs on the thread that releases the last reference --
 * except on the event loop (the thread that called
 * ch_instances_opener_start), where the close is handed to the opener
 * thread, because instance_close is specified to run on a worker thread. */
#ifndef CH_INSTANCES_H
#define CH_INSTANCES_H

#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"
#include "conns.h"
#include "instance.h"
#include "loader.h"

typedef struct ch_instances ch_instances; /* the process's set */
typedef struct ch_inst ch_inst;           /* one reference-counted instance */
struct ch_conncache;

typedef struct ch_instances_opts {
    int recheck_ms;      /* version re-validation period of acquire; 0 =
                            1000 ms */
    int open_timeout_ms; /* deadline of the instance_open call; 0 = the
                            config's callback_timeout_ms default, 60 000 */
} ch_instances_opts;

/* A set serving the plugins of `ld` (which must outlive the set). opts may
 * be NULL for the defaults. */
ch_instances *ch_instances_new(const ch_loader *ld,
                               const ch_instances_opts *opts);
/* Stops the opener (if started) and closes every instance: call after
 * every user has released its references (workers joined, HTTP stopped).
 * An instance still referenced is reported (log) and leaked rather than
 * closed under its user. */
void ch_instances_free(ch_instances *set);

/* Returns the connection's instance at its current version, opening it if
 * needed (blocking). *out holds one reference: release it with
 * ch_instance_release. Status: C360_OK; C360_ENOTFOUND if the connection
 * does not exist (purged: drop its events) or its plugin is not loaded
 * here; the plugin's instance_open status otherwise (C360_RETRY, C360_EIO,
 * ... with its error text in err), or C360_EIO when Redis failed. The
 * connection's state is not checked: callers decide what paused or
 * disabled means for their work (ch_inst_conn gives it). err (may be NULL)
 * receives a reason for operators. */
int32_t ch_instance_acquire(ch_instances *set, const char *tenant,
                            const char *conn, ch_inst **out, char *err,
                            size_t errcap);

/* Non-blocking, for the event loop: the connection's instance if it is
 * open at exactly `version`, with one reference taken (release it with
 * ch_instance_release once webhook_verify returned); else NULL, and the
 * opener is asked to open it (tenant is needed for that). */
ch_inst *ch_instance_peek(ch_instances *set, const char *tenant,
                          const char *conn, uint64_t version);

/* Drops one reference; the last one of a retired instance closes it (see
 * the top of this file for the thread). NULL is accepted. */
void ch_instance_release(ch_inst *inst);

/* The connection changed or was deleted: retire its open instance now
 * (the next acquire re-reads Redis) and, with an opener running, have the
 * opener reopen it if it is still an active webhook connection. Any
 * thread; never blocks on Redis. */
void ch_instances_invalidate(ch_instances *set, const char *conn);

/* Closes the instances nobody holds that were not acquired for check_ms
 * and whose connection Redis now has gone, disabled or at another version,
 * and those not acquired for idle_max_ms whatever Redis says; returns how
 * many (the next acquire opens one again). A worker process acquires an
 * instance only when an item of its connection runs, and the items of a
 * disconnected, disabled or deleted connection are dropped before that:
 * without this, such an instance -- and what the plugin keeps in it,
 * tokens, keys, caches of personal data -- would stay in the process
 * until it restarts. A connection that is merely quiet (ticks every few
 * minutes) keeps its instance up to idle_max_ms. One HMGET per idle
 * instance at most once per check_ms, pipelined, without the table's
 * lock. Any thread but the master's loop (where it hands the closes to
 * the opener). */
size_t ch_instances_sweep(ch_instances *set, int64_t check_ms, int64_t idle_max_ms);

/* Accessors of an acquired instance (valid while the reference is held). */
c360_instance *ch_inst_instance(ch_inst *inst);  /* for c360_call */
void *ch_inst_data(const ch_inst *inst);         /* instance_data */
const ch_plugin *ch_inst_plugin(const ch_inst *inst);
/* The connection snapshot the instance was opened from (tenant, id,
 * plugin, state, config, version...). Owned by the instance. */
const ch_conn *ch_inst_conn(const ch_inst *inst);
uint64_t ch_inst_version(const ch_inst *inst);

/* Master only. Starts the opener thread: it opens the instances of every
 * active (or failing / needs_reauth / paused: anything but disabled)
 * connection of a plugin with C360_CAP_SOURCE_WEBHOOK known to `cache`,
 * after each full reload of the cache and on each change notification,
 * retrying a failed open with backoff (1 s doubling to 60 s); and runs the
 * closes handed over by the loop. Call on the event-loop thread (it
 * records it as the loop); hooks itself into the cache's change callbacks
 * (ch_conncache_set_listener). Returns 0, or -1 if the thread could not
 * start (logged). */
int ch_instances_opener_start(ch_instances *set, struct ch_conncache *cache);
/* Joins the opener (also done by ch_instances_free). */
void ch_instances_opener_stop(ch_instances *set);

/* Counters for tests and metrics. */
typedef struct ch_instances_stats {
    uint64_t open;        /* instances currently open (incl. retired ones
                             still referenced) */
    uint64_t opened;      /* instance_open calls that succeeded */
    uint64_t open_failed; /* instance_open calls that failed */
    uint64_t closed;      /* instance_close calls */
    uint64_t peek_miss;   /* peeks that found nothing at the version */
} ch_instances_stats;
void ch_instances_get_stats(ch_instances *set, ch_instances_stats *out);

#endif
