/* slots.c -- see slots.h. */
#include "slots.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "call.h"

#define SLOTS_MAGIC 0x736c6f74u /* "slot" */

struct ch_slots {
    uint32_t magic;
    int workers;     /* process entries (>= 1) */
    int threads;
    size_t size;     /* bytes mapped, this header included */
    ch_slot_proc *procs;
    ch_slot *slots;
};

static _Thread_local ch_slot *tl_slot;

const char *ch_slot_cb_name(int cb)
{
    switch (cb) {
    case CH_SLOT_CB_EVENT: return "event";
    case CH_SLOT_CB_TICK: return "tick";
    case CH_SLOT_CB_DELIVER: return "deliver";
    case CH_SLOT_CB_OPEN: return "instance_open";
    case CH_SLOT_CB_PREFETCH: return "event_prefetch";
    default: return "none";
    }
}

/* Everything, header included, lives in the shared mapping, so that the
 * pointers inside it mean the same in every forked process. */
ch_slots *ch_slots_create(int workers, int threads)
{
    if (workers < 0 || threads < 1 || workers > 1024 || threads > 1024) {
        errno = EINVAL;
        return NULL;
    }
    int procs = workers ? workers : 1;
    size_t head = (sizeof(ch_slots) + 63) & ~(size_t)63;
    size_t ptab = ((size_t)procs * sizeof(ch_slot_proc) + 63) & ~(size_t)63;
    size_t size = head + ptab + (size_t)procs * (size_t)threads * sizeof(ch_slot);
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    memset(m, 0, size);
    ch_slots *s = m;
    s->magic = SLOTS_MAGIC;
    s->workers = procs;
    s->threads = threads;
    s->size = size;
    s->procs = (ch_slot_proc *)((char *)m + head);
    s->slots = (ch_slot *)((char *)m + head + ptab);
    return s;
}

void ch_slots_destroy(ch_slots *s)
{
    if (!s || s->magic != SLOTS_MAGIC) return;
    munmap(s, s->size);
}

int ch_slots_workers(const ch_slots *s) { return s->workers; }
int ch_slots_threads(const ch_slots *s) { return s->threads; }

ch_slot *ch_slots_get(ch_slots *s, int worker, int thread)
{
    if (worker < 0 || worker >= s->workers || thread < 0 || thread >= s->threads) return NULL;
    return &s->slots[(size_t)worker * (size_t)s->threads + (size_t)thread];
}

ch_slot_proc *ch_slots_proc(ch_slots *s, int worker)
{
    if (worker < 0 || worker >= s->workers) return NULL;
    return &s->procs[worker];
}

/* Seqlock writer: odd while the plain fields change. The fences order the
 * plain stores between the two counter updates for readers in other
 * processes (the same physical memory). */
static void wbegin(ch_slot *s)
{
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void wend(ch_slot *s)
{
    atomic_thread_fence(memory_order_release);
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
}

void ch_slot_claim(ch_slot *s, const char *consumer, ch_slot_view *prev)
{
    if (prev) ch_slot_read(s, prev);
    wbegin(s);
    snprintf(s->consumer, sizeof s->consumer, "%s", consumer ? consumer : "");
    s->held_tenant[0] = '\0';
    memset(&s->item, 0, sizeof s->item);
    wend(s);
    atomic_store(&s->busy, 0);
    atomic_store(&s->crashed, 0);
    ch_slot_beat(s);
}

void ch_slot_hold(ch_slot *s, const char *tenant)
{
    wbegin(s);
    snprintf(s->held_tenant, sizeof s->held_tenant, "%s", tenant ? tenant : "");
    wend(s);
}

void ch_slot_begin(ch_slot *s, const ch_slot_item *item)
{
    wbegin(s);
    s->item = *item;
    wend(s);
    atomic_store(&s->busy, 1);
    atomic_store_explicit(&s->heartbeat_ms, ch_monotonic_ms(), memory_order_relaxed);
}

void ch_slot_end(ch_slot *s)
{
    atomic_store(&s->busy, 0);
    atomic_store_explicit(&s->heartbeat_ms, ch_monotonic_ms(), memory_order_relaxed);
}

void ch_slot_beat(ch_slot *s)
{
    atomic_store_explicit(&s->heartbeat_ms, ch_monotonic_ms(), memory_order_relaxed);
}

void ch_slot_read(const ch_slot *s, ch_slot_view *out)
{
    ch_slot *w = (ch_slot *)s; /* atomics are read through a non-const lvalue */
    /* Bounded: a writer killed (SIGKILL for a hang) in the middle of an
     * update leaves the counter odd forever; after that many tries the
     * copy is taken as it is -- a possibly torn view of a dead thread is
     * better than a master spinning. */
    for (int tries = 0;; tries++) {
        uint32_t a = atomic_load_explicit(&w->seq, memory_order_acquire);
        if ((a & 1u) && tries < 10000) continue;
        memcpy(out->consumer, s->consumer, sizeof out->consumer);
        memcpy(out->held_tenant, s->held_tenant, sizeof out->held_tenant);
        memcpy(&out->item, &s->item, sizeof out->item);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&w->seq, memory_order_relaxed) == a || tries >= 10000) break;
    }
    /* The strings come from another process, possibly torn: terminate
     * them. */
    out->consumer[sizeof out->consumer - 1] = '\0';
    out->held_tenant[sizeof out->held_tenant - 1] = '\0';
    out->item.tenant[sizeof out->item.tenant - 1] = '\0';
    out->item.conn[sizeof out->item.conn - 1] = '\0';
    out->item.stream[sizeof out->item.stream - 1] = '\0';
    out->item.entry[sizeof out->item.entry - 1] = '\0';
    out->item.plugin[sizeof out->item.plugin - 1] = '\0';
    out->busy = atomic_load(&w->busy);
    out->crashed = atomic_load(&w->crashed);
    out->heartbeat_ms = atomic_load(&w->heartbeat_ms);
}

void ch_slot_mark_crashed(ch_slot *s, int sig)
{
    if (s) atomic_store(&s->crashed, sig);
}

void ch_slot_set_current(ch_slot *s) { tl_slot = s; }
ch_slot *ch_slot_current(void) { return tl_slot; }
