/* state_staged.h -- the state writes a source plugin stages during one
 * callback (state_set_on_commit, ABI 1.6).
 *
 * The sibling of records.h: state_set_on_commit (hostapi.c) appends to the
 * buffer the worker hung on the call (c360_call.staged) next to its
 * records; nothing reaches Redis until the callback returned C360_OK, when
 * the worker applies the writes in the outcome script that commits the
 * records and acknowledges the item (queue_work.h), in the order they were
 * staged. A write that was staged is never seen by state_get before that,
 * and a callback that fails, or whose item someone else finished, leaves
 * no trace of them.
 *
 * A write is state.c's (the key's hash gets v and ver from the
 * connection's version counter, PEXPIRE / PERSIST after ttl_ms); a delete
 * is its UNLINK. Bounds (each a C360_ETOOBIG for the plugin, the buffer
 * unchanged): the operator's value limit per write (passed in),
 * CH_STAGED_MAX writes per call, CH_STAGED_BYTES_MAX bytes of keys and
 * values in all. Keys: ch_name_valid (as state.c); a NULL value with a
 * length: C360_EINVAL.
 *
 * Thread-safe: a plugin may stage from helper threads while its callback
 * runs. */
#ifndef CH_STATE_STAGED_H
#define CH_STATE_STAGED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define CH_STAGED_MAX 1000
#define CH_STAGED_BYTES_MAX (16 * 1024 * 1024)

typedef struct ch_staged_write {
    char *key;
    char *value;       /* NULL: a delete */
    size_t len;
    uint32_t ttl_ms;
} ch_staged_write;

typedef struct ch_staged {
    pthread_mutex_t lock;
    ch_staged_write *v;
    size_t n, cap;
    size_t bytes;      /* key + value of every write kept */
    size_t refused;    /* writes refused (bounds, bad input) */
} ch_staged;

void ch_staged_init(ch_staged *s);
/* Drops every write (the buffer is reused for the next call). */
void ch_staged_reset(ch_staged *s);
void ch_staged_free(ch_staged *s);

/* C360_OK, C360_EINVAL, C360_ETOOBIG (see the top); value NULL with len 0
 * stages a delete. Copies everything. */
int32_t ch_staged_add(ch_staged *s, const char *key, const void *value,
                      size_t len, uint32_t ttl_ms, size_t value_max);

/* The writes in the order staged, for the outcome script: the returned
 * blob (free it) of *len bytes holds per write its op ("s" set, "d"
 * delete), its ttl_ms in decimal and its value ("" for a delete), each as
 * "<decimal length>:<bytes>" (the records' packing); *keys gets the
 * write's key names, write i's at (*keys)[i], in one allocation (free
 * *keys). NULL, *len 0, *keys NULL and *n 0 when nothing is staged. */
char *ch_staged_pack(ch_staged *s, size_t *len, char ***keys, size_t *n);

size_t ch_staged_count(ch_staged *s);

/* The order of a thread's state writes. A worker thread holds the outcomes
 * of finished calls back for a few milliseconds to write them in one
 * script (worker_exec.c), and with them their staged writes. Before a call
 * on that thread touches the state of a connection directly (hostapi.c:
 * get, set, cas, delete, incr) or a tick of it runs, ch_staged_barrier
 * lets the thread write what it holds for that connection first: a
 * thread's calls then see the committed writes of its earlier calls, and
 * a later direct write is never overwritten by an earlier staged one. The
 * thread registers fn (per thread; none: the barrier does nothing). */
typedef void (*ch_staged_barrier_fn)(void *arg, const char *tenant, const char *conn);
void ch_staged_set_barrier(ch_staged_barrier_fn fn, void *arg);
/* Unregisters the calling thread's hook if it was registered with arg
 * (arg is being freed). */
void ch_staged_clear_barrier(void *arg);
void ch_staged_barrier(const char *tenant, const char *conn);

#endif
