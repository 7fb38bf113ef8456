/* conns.h -- the connection registry (docs/pipeline.md, "Connections").
 *
 * A connection is one tenant's use of one plugin. This module is the only
 * writer of the connection hash and of the indexes built from it:
 *
 *   c360:{t:T}:conn:<c>        hash: plugin, name, config, state, cause,
 *                              interval_s, ticks, version, created_ms,
 *                              updated_ms
 *   c360:{t:T}:conns           set of the tenant's connection ids
 *   c360:{t:T}:routes:<src>    set of destination ids fed by src
 *   c360:{t:T}:rmap:<src>      hash: destination id -> field mapping of
 *                              that route (JSON object text; absent =
 *                              records go as they are)
 *   c360:{t:T}:rgone:<dst>     set of source ids whose route to dst was
 *                              stopped because dst answered 410 Gone
 *                              (ch_conn_route_stop); expires
 *                              CH_CONN_ROUTE_STOP_TTL_MS after the last stop
 *   c360:{t:T}:conn:<c>:rk     set: the routing keys c registered last
 *   c360:{idx}:conn            hash: connection id -> tenant
 *   c360:{idx}:rk:<plugin>     hash: routing key -> JSON array of "T/c"
 *   c360:{idx}:tenants         set of tenants with a connection
 *   c360:{sched}:due           zset: "T/c" -> next tick (membership only;
 *                              the scheduler, P3, owns the scores after
 *                              the first one)
 *   c360:{idx}:gone-owner      hash: connection id -> owner tag (below)
 *   c360:{idx}:gone            zset: connection id -> expiry (Unix ms) of
 *                              its tombstone: a disconnected connection's
 *                              webhooks answer 410 until then. Ids only:
 *                              no tenant, nothing of the tenant's data.
 *
 * Every change PUBLISHes "T/c" on c360:conn-changed (hosts refresh their
 * caches, conncache.h) and appends an audit entry (audit.h) with the actor
 * the caller names ("apikey:<id>", "admin:<id>", "system", "plugin:<p>").
 *
 * Threads: every function BLOCKS on Redis (rconn.h, the calling thread's
 * own connection): call from worker, admin or background threads, never
 * from the event loop (which reads connections through conncache.h).
 *
 * Keys of one tenant share a hash slot and are updated together by Lua
 * scripts; the {idx} and {sched} keys live in other slots, so a change is
 * several steps, ordered so that a crash between them leaves at worst a
 * stale index entry that the next put/purge of that connection repairs
 * (never an index pointing a webhook at another tenant: ids are global and
 * claimed first, with HSETNX).
 *
 * Return values are the SDK's status codes: C360_OK, C360_EINVAL (bad id,
 * state, config...), C360_ENOTFOUND, C360_ECONFLICT (the id belongs to
 * another tenant, or the plugin of an existing connection would change),
 * C360_EIO (Redis unreachable or an unexpected reply; logged). */
#ifndef CH_CONNS_H
#define CH_CONNS_H

#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"
#include "keys.h"

/* Connection states, the values of the hash field `state`. */
#define CH_CONN_STATE_ACTIVE "active"             /* normal */
#define CH_CONN_STATE_PAUSED "paused"             /* webhooks still stored
                                                     (nothing is lost); no
                                                     ticks; workers leave its
                                                     events pending */
#define CH_CONN_STATE_DISABLED "disabled"         /* webhooks refused with
                                                     410; no ticks */
#define CH_CONN_STATE_NEEDS_REAUTH "needs_reauth" /* webhooks stored; no
                                                     ticks until reconnected */
#define CH_CONN_STATE_FAILING "failing"           /* work continues with
                                                     backoff */

#define CH_CONN_STATE_MAX 16        /* longest state name + NUL */
#define CH_CONN_CAUSE_MAX 256       /* longer causes are truncated */
#define CH_CONN_PLUGIN_MAX 33       /* plugin names: [a-z0-9_]{1,32} + NUL */
#define CH_CONN_CONFIG_MAX (256 * 1024) /* config JSON text, bytes */
#define CH_CONN_ROUTE_KEYS_MAX 1000 /* routing keys per connection (ABI) */
#define CH_CONN_ROUTE_KEY_MAX 200   /* bytes per routing key (ABI) */
#define CH_CONN_ROUTES_MAX 1000     /* destinations per source */
#define CH_CONN_NAME_MAX 200        /* display name, bytes of UTF-8 */
#define CH_CONN_MAPPING_MAX (64 * 1024) /* a route's mapping, JSON bytes */

/* 1 if state is one of the five states above. */
int ch_conn_state_valid(const char *state);

/* What ch_conn_put writes. */
typedef struct ch_conn_spec {
    const char *tenant;     /* ch_id_valid */
    const char *id;         /* ch_id_valid, globally unique */
    const char *plugin;     /* [a-z0-9_]{1,32}; fixed once created */
    const char *config;     /* JSON text (not parsed here: the caller
                               validated it); NULL = "{}" */
    size_t config_len;      /* bytes of config; <= CH_CONN_CONFIG_MAX */
    uint32_t interval_s;    /* tick interval; 0 = the plugin's/host's
                               default (the scheduler applies the floor) */
    const char *state;      /* NULL = "active" for a new connection and
                               unchanged for an existing one */
    const char *cause;      /* NULL = "" */
    int ticks;              /* 1 if the plugin has C360_CAP_SOURCE_TICK:
                               stored as field `ticks`, decides membership
                               of c360:{sched}:due */
    const char *name;       /* display name (<= CH_CONN_NAME_MAX bytes, no
                               control characters); NULL = unchanged ("" for
                               a new connection) */
    uint64_t expect_version; /* 0 = unconditional; else the update is made
                               only if the stored version is this one
                               (C360_ECONFLICT otherwise, nothing changed) */
    int must_create;        /* 1: C360_ECONFLICT if the connection exists
                               already (nothing changed) */
} ch_conn_spec;

/* A snapshot of one connection. Owned by the caller: release it with
 * ch_conn_free (which frees config too). Plain data, no references. */
typedef struct ch_conn {
    char tenant[CH_ID_MAX + 1];
    char id[CH_ID_MAX + 1];
    char plugin[CH_CONN_PLUGIN_MAX];
    char state[CH_CONN_STATE_MAX];
    char cause[CH_CONN_CAUSE_MAX];
    char name[CH_CONN_NAME_MAX + 1]; /* "" if never named */
    char *config;           /* NUL-terminated JSON text (owned) */
    size_t config_len;
    uint32_t interval_s;
    int ticks;
    uint64_t version;       /* >= 1; bumped by every ch_conn_put */
    int64_t created_ms;
    int64_t updated_ms;
} ch_conn;

void ch_conn_free(ch_conn *c);

/* Creates the connection or updates it, and bumps its version (instances
 * of the old version are closed once unused: instances.h). Claims the id in
 * c360:{idx}:conn (C360_ECONFLICT if another tenant holds it), adds it to
 * the tenant's set and the tenant to c360:{idx}:tenants, and sets its
 * schedule membership: a ticking, active connection is added to
 * c360:{sched}:due with score = now when it is not there yet (an update
 * keeps the scheduler's score); otherwise it is removed. *version_out (may
 * be NULL) receives the new version, *created (may be NULL) 1 for a new
 * connection. Audited as connection.create / connection.update. */
int32_t ch_conn_put(const ch_conn_spec *spec, const char *actor,
                    const char *request_id, uint64_t *version_out,
                    int *created);

/* Reads one connection. C360_ENOTFOUND if absent. *out is set only on
 * C360_OK. */
int32_t ch_conn_get(const char *tenant, const char *id, ch_conn **out);

/* The tenant that owns connection id (from c360:{idx}:conn), into
 * tenant[CH_ID_MAX + 1]. C360_ENOTFOUND if no tenant does. */
int32_t ch_conn_tenant_of(const char *id, char *tenant);

/* The tenant's connection ids, sorted (strcmp). *ids is an array of *n
 * owned strings: release with ch_conn_ids_free. An empty tenant gives
 * C360_OK with *n = 0. */
int32_t ch_conn_list(const char *tenant, char ***ids, size_t *n);
void ch_conn_ids_free(char **ids, size_t n);

/* Sets state and cause (NULL = "") of a connection without bumping its
 * version. Mirrors them in connstatus.h (what the admin API shows), fixes
 * the schedule membership (ticking and active or failing: in the due set;
 * paused, disabled, needs_reauth: out of it; back to active: added with
 * score = now), publishes and audits (connection.state). C360_ENOTFOUND if
 * the connection does not exist. */
int32_t ch_conn_set_state(const char *tenant, const char *id,
                          const char *state, const char *cause,
                          const char *actor, const char *request_id);

/* Bumps the connection's version without changing anything else, so that
 * every host and worker reopens its instances (instances.h re-checks the
 * version): what a plugin read when it opened the connection -- a secret
 * -- changed. Publishes (a failed notice is logged only: the version is
 * what instances check); not audited (the caller's change is).
 * C360_ENOTFOUND if the connection does not exist; another status when
 * the version could not be bumped. */
int32_t ch_conn_touch(const char *tenant, const char *id);

/* The first step of a disconnect: state `disabled` (like ch_conn_set_state)
 * and the connection marked closing, after which ch_conn_set_state answers
 * C360_ECONFLICT and changes nothing: a resume, an OAuth callback or a
 * plugin's status report racing the disconnect cannot re-enable webhooks
 * or ticks of a connection that is being purged. Audited as
 * connection.close. */
int32_t ch_conn_close(const char *tenant, const char *id, const char *cause,
                      const char *actor, const char *request_id);

/* Routes: records of source `src` are delivered to destination `dst`
 * (both connections of the same tenant, which must exist; the caller has
 * checked the capabilities). Adding an existing route or removing a
 * missing one is C360_OK. Audited as connection.route.add / .remove. */
int32_t ch_conn_route_add(const char *tenant, const char *src,
                          const char *dst, const char *actor,
                          const char *request_id);
int32_t ch_conn_route_remove(const char *tenant, const char *src,
                             const char *dst, const char *actor,
                             const char *request_id);
/* Adds the route (like ch_conn_route_add) and sets its field mapping in
 * the same step: mapping is JSON object text (the caller validated it;
 * <= CH_CONN_MAPPING_MAX bytes) or NULL to clear it. Removing a route
 * (ch_conn_route_remove, ch_conn_purge) drops its mapping; ch_conn_route_add
 * keeps one. Audited as connection.route.add (new) or .update. */
int32_t ch_conn_route_put(const char *tenant, const char *src, const char *dst,
                          const char *mapping, const char *actor,
                          const char *request_id);
/* The destination answered 410 Gone (C360_EGONE, ABI 1.4): removes route
 * src -> dst like ch_conn_route_remove (actor "system", audited as
 * connection.route.remove) but keeps its field mapping, so that adding the
 * route again (ch_conn_route_add) restores it, and marks the route stopped
 * in c360:{t:T}:rgone:<dst> until it is added again (ch_conn_route_add and
 * _put clear the mark) or the mark expires. The workers dead-letter with
 * why "gone" what was still queued for a stopped route (docs/pipeline.md,
 * "Deliveries"). C360_OK when this call removed the route, C360_ENOTFOUND
 * when it was not there (marked anyway; nothing published or audited). */
#define CH_CONN_ROUTE_STOP_TTL_MS (30LL * 86400 * 1000)
int32_t ch_conn_route_stop(const char *tenant, const char *src,
                           const char *dst, const char *request_id);
/* *stopped = 1 if route src -> dst is marked stopped (one SISMEMBER). */
int32_t ch_conn_route_stopped(const char *tenant, const char *src,
                              const char *dst, int *stopped);
/* The mapping of route src -> dst: *mapping (free it) or NULL when the
 * route has none (or does not exist). */
int32_t ch_conn_route_mapping(const char *tenant, const char *src,
                              const char *dst, char **mapping);
/* The destinations of src, sorted; release with ch_conn_ids_free. */
int32_t ch_conn_route_list(const char *tenant, const char *src, char ***dsts,
                           size_t *n);

/* Replaces the routing keys connection `id` (of plugin `plugin`) owns in
 * c360:{idx}:rk:<plugin> with keys[0..n) (duplicates ignored; n may be 0 to
 * drop them all): the connection's "T/c" is removed from the keys it owned
 * before (remembered in c360:{t:T}:conn:<c>:rk) and added to the new ones,
 * with the index updated atomically per key so that connections of other
 * tenants sharing a key are never lost. C360_EINVAL for more than
 * CH_CONN_ROUTE_KEYS_MAX keys or a key that is not 1..200 printable ASCII
 * bytes; C360_ENOTFOUND if the connection does not exist (so a closing
 * instance cannot resurrect a purged connection's keys). Publishes and
 * audits (connection.route_keys, actor "plugin:<plugin>") only when the set
 * changed: instance_open calls it on every open. */
int32_t ch_conn_route_keys_set(const char *tenant, const char *id,
                               const char *plugin, const char *const *keys,
                               size_t n);
/* The routing keys the connection registered last, sorted; release with
 * ch_conn_ids_free. */
int32_t ch_conn_route_keys_get(const char *tenant, const char *id,
                               char ***keys, size_t *n);

/* Deletes a connection and everything of it (the customer disconnected;
 * the caller has already run the plugin's disconnect callback and closes
 * its instances). Removes it from c360:{idx}:conn, from every routing key
 * it owned, from c360:{sched}:due, from the tenant's set (and the tenant
 * from c360:{idx}:tenants when it was the last one), from every route (as
 * source and as destination, with their mappings), then deletes its state (ch_state_delete_
 * connection), secrets (ch_secret_delete_connection), OAuth metadata
 * (ch_oauth_forget_connection), status (ch_connstatus_delete), dedup keys
 * (c360:{t:T}:dd:<c>:*), its stat hash, delivery log, sync log and the hash itself.
 * Pending events of the connection stay in the tenant's streams: workers
 * find the connection gone (ch_conn_get -> C360_ENOTFOUND, or instances.h
 * refusing to open it) and acknowledge them without processing. Idempotent:
 * purging a connection that is already gone returns C360_OK and cleans
 * whatever was left; an id that another tenant owns is C360_ENOTFOUND (and
 * nothing is touched). Publishes and audits (connection.delete). Slow on a
 * huge keyspace: the dedup keys (like state and secrets) are found with
 * SCAN. */
int32_t ch_conn_purge(const char *tenant, const char *id, const char *actor,
                      const char *request_id);

/* Tombstones (conns_gone.c). A disconnected connection is marked gone
 * before anything of it is deleted, for CH_CONN_GONE_TTL_MS: the ingress
 * answers 410 to its webhook URL meanwhile (conncache.h caches the set),
 * instead of the 404 of an id that never existed. The mark names the
 * connection id, in {idx} keys, and its owner only as a hash tag: no tenant
 * id, and not a tenant key. Meanwhile only the same tenant may create a
 * connection with that id (ch_conn_put answers C360_ECONFLICT to any
 * other): a provider that was never unsubscribed keeps getting 410 and its
 * data never reaches another tenant. ch_conn_put of the owner's new
 * connection with that id clears it. */
#define CH_CONN_GONE_KEY "c360:{idx}:gone"
#define CH_CONN_GONE_OWNER_KEY "c360:{idx}:gone-owner"
#define CH_CONN_GONE_TTL_MS (180LL * 86400 * 1000)
/* Marks id gone (expiry now + TTL) for its owner `tenant`, and drops
 * expired marks. Publishes no change: the caller's next conns change
 * (state, purge) does. */
int32_t ch_conn_gone_mark(const char *tenant, const char *id);
/* Removes the mark (C360_OK if there was none). */
int32_t ch_conn_gone_clear(const char *id);
/* *other = 1 if id carries a live mark of a tenant other than `tenant`. */
int32_t ch_conn_gone_other_owner(const char *tenant, const char *id, int *other);
/* *expires_ms = the mark's expiry, 0 if unmarked or expired. */
int32_t ch_conn_gone_get(const char *id, int64_t *expires_ms);

/* Publishes "T/c" on c360:conn-changed, so that every host refreshes its
 * cached copy of the connection. The functions above do it themselves;
 * this is for modules that change what hosts cache by other means. */
int32_t ch_conn_publish_changed(const char *tenant, const char *id);

/* The channel name, for subscribers. */
#define CH_CONN_CHANNEL "c360:conn-changed"

#endif
