/* rconn_arena.c -- Redis replies built in one arena (rconn.h, "Replies in
 * an arena").
 *
 * hiredis builds a reply with two mallocs per string (the redisReply and
 * its bytes) and one per array, and freeReplyObject gives each back. A
 * worker's fetch reads tens of stream entries of about twenty strings each
 * per turn: the lead benchmark's profile had building and freeing those
 * replies at about 10 % of the workers' CPU, most of it in malloc and free.
 * Here the reader's object functions put every object of the replies of
 * one fetch into a few large chunks, released together; the chunk kept by
 * each thread is used again by its next fetch, so a fetch in the steady
 * state allocates nothing at all.
 *
 * The objects are laid out as hiredis's own (the same redisReply, strings
 * NUL-terminated, elements arrays), so every reader of a reply works
 * unchanged; only freeReplyObject must never see one (ch_rarena_free
 * releases them). */
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rconn.h"
#include "util.h"

/* The first chunk, and the largest one a thread keeps between fetches
 * (a bigger one, from a rare huge reply, is given back). */
#define ARENA_FIRST (32 * 1024)
#define ARENA_KEEP (1024 * 1024)
/* No one object beyond this: a reply claiming more is refused as hiredis
 * refuses one it cannot allocate (the read fails with "Out of memory"). */
#define ARENA_OBJ_MAX ((size_t)1 << 30)

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char mem[];
} chunk;

struct ch_rarena {
    chunk *head; /* the chunk being filled; older ones follow */
};

/* One arena per thread waits for that thread's next fetch. */
static pthread_key_t g_spare;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void chunks_free(chunk *c)
{
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
}

static void spare_destroy(void *p)
{
    ch_rarena *a = p;
    if (!a) return;
    chunks_free(a->head);
    free(a);
}

static void make_key(void) { pthread_key_create(&g_spare, spare_destroy); }

void ch_rarena_thread_release(void)
{
    pthread_once(&g_once, make_key);
    spare_destroy(pthread_getspecific(g_spare));
    pthread_setspecific(g_spare, NULL);
}

ch_rarena *ch_rarena_new(void)
{
    pthread_once(&g_once, make_key);
    ch_rarena *a = pthread_getspecific(g_spare);
    if (a) {
        pthread_setspecific(g_spare, NULL);
        return a;
    }
    return ch_calloc(1, sizeof *a);
}

void ch_rarena_free(ch_rarena *a)
{
    if (!a) return;
    pthread_once(&g_once, make_key);
    /* Kept for this thread's next fetch: the largest chunk within
     * ARENA_KEEP, emptied; the others are given back. */
    chunk *keep = NULL;
    for (chunk *c = a->head; c; c = c->next)
        if (c->cap <= ARENA_KEEP && (!keep || c->cap > keep->cap)) keep = c;
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        if (c != keep) free(c);
    }
    a->head = keep;
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    if (pthread_getspecific(g_spare) == NULL && pthread_setspecific(g_spare, a) == 0) return;
    chunks_free(a->head);
    free(a);
}

/* n bytes, 8-aligned (every object here is a redisReply, an array of
 * pointers or a string), from the current chunk or a new one; NULL when
 * n is absurd or memory is out. */
static void *arena_alloc(ch_rarena *a, size_t n)
{
    if (n > ARENA_OBJ_MAX) return NULL;
    n = (n + 7) & ~(size_t)7;
    chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : ARENA_FIRST;
        if (cap < n) cap = n;
        chunk *fresh = malloc(sizeof *fresh + cap);
        if (!fresh) return NULL;
        fresh->cap = cap;
        fresh->used = 0;
        fresh->next = c;
        a->head = c = fresh;
    }
    void *p = c->mem + c->used;
    c->used += n;
    return p;
}

/* A new reply of type, linked into its parent array as hiredis links its
 * own; NULL (the reader reports "Out of memory") when there is no arena,
 * no room, or a parent that is not the array the reader says it is. */
static redisReply *reply_new(const redisReadTask *task, int type, size_t extra, void **extrap)
{
    ch_rarena *a = task->privdata;
    if (!a) return NULL;
    redisReply *parent = NULL;
    if (task->parent) {
        parent = task->parent->obj;
        if (!parent || parent->type != REDIS_REPLY_ARRAY || task->idx < 0 ||
            (size_t)task->idx >= parent->elements)
            return NULL;
    }
    redisReply *r = arena_alloc(a, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->type = type;
    if (extra) {
        *extrap = arena_alloc(a, extra);
        if (!*extrap) return NULL;
    }
    if (parent) parent->element[task->idx] = r;
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    void *buf = NULL;
    if (len >= ARENA_OBJ_MAX) return NULL;
    redisReply *r = reply_new(task, task->type, len + 1, &buf);
    if (!r) return NULL;
    memcpy(buf, str, len);
    ((char *)buf)[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
    void *el = NULL;
    size_t n = elements > 0 ? (size_t)elements : 0;
    if (n > ARENA_OBJ_MAX / sizeof(redisReply *)) return NULL;
    redisReply *r = reply_new(task, REDIS_REPLY_ARRAY, n * sizeof(redisReply *), &el);
    if (!r) return NULL;
    if (n) memset(el, 0, n * sizeof(redisReply *));
    r->element = el;
    r->elements = n;
    return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = reply_new(task, REDIS_REPLY_INTEGER, 0, NULL);
    if (r) r->integer = value;
    return r;
}

static void *create_nil(const redisReadTask *task)
{
    return reply_new(task, REDIS_REPLY_NIL, 0, NULL);
}

/* The reader frees a reply it abandons (an error half way, a context
 * freed mid-reply): its memory is the arena's, released with it. */
static void free_object(void *obj) { (void)obj; }

static redisReplyObjectFunctions g_fns = {create_string, create_array, create_integer,
                                          create_nil, free_object};

redisReplyObjectFunctions *ch_rarena_fns(void) { return &g_fns; }
