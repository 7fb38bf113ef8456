/* conncache_int.h -- the parts of the cache shared by conncache.c (data,
 * refresher thread) and conncache_sub.c (the subscription on the loop).
 * Not an API: conncache.h is. */
#ifndef CH_CONNCACHE_INT_H
#define CH_CONNCACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "conncache.h"
#include "strmap.h"

#define CC_QUEUE_MAX 10000 /* pending single refreshes; beyond: full load */

/* A cached connection: the entry plus the routing keys it registered. */
typedef struct cc_conn {
    ch_cc_entry e;
    char **rk;
    size_t nrk;
} cc_conn;

/* (plugin, routing key) -> the connections that registered it. */
typedef struct cc_targets {
    size_t n, cap;
    ch_cc_target *t;
} cc_targets;

/* One generation of the cache: replaced whole by a full load, edited in
 * place by single refreshes (under the lock). */
typedef struct cc_snap {
    ch_strmap *conns;  /* id -> cc_conn */
    ch_strmap *routes; /* "<plugin>\x1f<key>" -> cc_targets */
    ch_strmap *gone;   /* id -> int64_t expiry (Unix ms) of its tombstone
                          (conns.h ch_conn_gone_mark) */
} cc_snap;

typedef struct cc_msg {
    char tenant[CH_ID_MAX + 1];
    char id[CH_ID_MAX + 1];
} cc_msg;

struct cc_sub; /* conncache_sub.c */

struct ch_conncache {
    int reload_s;

    pthread_mutex_t lock;   /* snap, queue, flags, listener */
    pthread_cond_t wake;
    cc_snap *snap;
    cc_msg *queue;          /* ring of CC_QUEUE_MAX */
    size_t q_head, q_len;
    int reload_wanted;      /* a full load is due (subscribed, overflow) */
    int stopping;
    int thread_started;
    pthread_t thread;

    void (*on_change)(const char *tenant, const char *conn, void *arg);
    void (*on_reload)(void *arg);
    void *listener_arg;

    atomic_int loaded;
    _Atomic uint64_t full_loads, refreshes, load_errors, subscribed;

    struct cc_sub *sub;
};

/* Queues a refresh of one connection (any thread). */
void cc_enqueue(ch_conncache *cc, const char *tenant, const char *id);
/* Asks for a full load (any thread). */
void cc_want_reload(ch_conncache *cc);

/* The subscription (conncache_sub.c), on the loop. */
struct cc_sub *cc_sub_new(ch_conncache *cc, struct event_base *base, const ch_redis_url *url,
                          const char *username, const char *password);
void cc_sub_start(struct cc_sub *s);
void cc_sub_free(struct cc_sub *s);

/* Snapshot edits (conncache_snap.c); the caller holds the lock for the
 * live snapshot. */
cc_snap *cc_snap_new(void);
void cc_snap_free(cc_snap *s);
/* Inserts or replaces c (ownership moves to the snapshot). */
void cc_snap_put(cc_snap *s, cc_conn *c);
/* Removes connection id (if present) and its routing keys. */
void cc_snap_remove(cc_snap *s, const char *id);
void cc_conn_free(cc_conn *c);
/* Sets (expires_ms > 0) or removes (0) the tombstone of id. */
void cc_snap_gone(cc_snap *s, const char *id, int64_t expires_ms);

#endif
