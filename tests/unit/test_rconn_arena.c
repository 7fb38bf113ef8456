/* test_rconn_arena.c -- replies built in an arena (rconn_arena.c) against
 * a real redis-server: for every kind of reply (strings small and over a
 * chunk, empty and binary strings, integers, nil, nil arrays, empty and
 * nested arrays, errors, status) ch_rconn_pipeline_arena gives replies
 * equal, object for object, to ch_rconn_pipeline's; stream reads of many
 * entries (the worker's fetch) too; an emptied arena is used again by the
 * next fetch of the thread; another thread's arenas are its own; the
 * reader functions build in the reader's arena or fail; and a
 * connection that dies between fetches (a Redis restart) costs the next
 * fetch nothing but the reconnect, its replies still in the arena. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rconn.h"
#include "redis_fixture.h"

/* 1 when a and b are the same reply, object for object. */
static int same(const redisReply *a, const redisReply *b)
{
    if (!a || !b) return a == b;
    if (a->type != b->type) return 0;
    switch (a->type) {
    case REDIS_REPLY_INTEGER:
        return a->integer == b->integer;
    case REDIS_REPLY_NIL:
        return 1;
    case REDIS_REPLY_ARRAY:
        if (a->elements != b->elements) return 0;
        for (size_t i = 0; i < a->elements; i++)
            if (!same(a->element[i], b->element[i])) return 0;
        return 1;
    default: /* string, status, error: the bytes and the terminating NUL */
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0 && a->str[a->len] == '\0';
    }
}

/* A command for its effect (a format without arguments: hiredis splits
 * it on spaces). */
static void run(const char *cmd)
{
    redisReply *r = ch_rconn_command(cmd);
    CHECK(r != NULL && r->type != REDIS_REPLY_ERROR);
    if (r) freeReplyObject(r);
}

/* The same commands through both paths; every reply must match. */
static void both(size_t n, const ch_rconn_cmd *cmds, const char *what)
{
    redisReply *plain[16] = {NULL}, *ar[16] = {NULL};
    CHECK(n <= 16);
    CHECK(ch_rconn_pipeline(n, cmds, plain) == n);
    ch_rarena *a = ch_rarena_new();
    CHECK(ch_rconn_pipeline_arena(n, cmds, ar, a) == n);
    for (size_t i = 0; i < n; i++) {
        if (!same(plain[i], ar[i])) {
            fprintf(stderr, "%s: reply %zu differs\n", what, i);
            CHECK(0);
        }
        if (plain[i]) freeReplyObject(plain[i]);
    }
    ch_rarena_free(a);
}

static void test_kinds(void)
{
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    big[100] = '\0'; /* binary: a NUL inside */
    const char *set_big[] = {"SET", "k:big", big};
    const size_t set_big_len[] = {3, 5, sizeof big};
    ch_rconn_cmd c0 = {3, set_big, set_big_len};
    redisReply *r = NULL;
    CHECK(ch_rconn_pipeline(1, &c0, &r) == 1 && r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
    run("SET k:empty \"\"");
    run("SET k:n -42");
    run("RPUSH k:list a bb ccc");
    run("HSET k:h f1 v1 f2 v2");

    const char *get_big[] = {"GET", "k:big"}, *get_empty[] = {"GET", "k:empty"},
               *get_none[] = {"GET", "k:none"}, *num[] = {"STRLEN", "k:n"},
               *lrange[] = {"LRANGE", "k:list", "0", "-1"}, *lnone[] = {"LRANGE", "k:none", "0", "-1"},
               *err[] = {"LPUSH", "k:h", "x"}, *ping[] = {"PING"},
               *hgetall[] = {"HGETALL", "k:h"}, *blnil[] = {"BLPOP", "k:none", "0.01"},
               *ev[] = {"EVAL", "return {1, 'x', {2, {}, {'deep', {false}}}, redis.error_reply('E')}", "0"};
    ch_rconn_cmd cmds[] = {{2, get_big, NULL},  {2, get_empty, NULL}, {2, get_none, NULL},
                           {2, num, NULL},     {4, lrange, NULL},    {4, lnone, NULL},
                           {3, err, NULL},      {1, ping, NULL},      {2, hgetall, NULL},
                           {3, blnil, NULL},    {3, ev, NULL}};
    both(sizeof cmds / sizeof cmds[0], cmds, "kinds");
}

/* XADD n entries of about twenty fields, then read them back as the
 * worker does (XREADGROUP ... >), both ways, from two groups. */
static void test_stream(void)
{
    run("XGROUP CREATE k:s g1 $ MKSTREAM");
    run("XGROUP CREATE k:s g2 $");
    char rec[1500];
    memset(rec, 'r', sizeof rec - 1);
    rec[sizeof rec - 1] = '\0';
    for (int i = 0; i < 60; i++) {
        const char *v[] = {"XADD", "k:s", "*", "d", "dest", "s", "src", "sp", "meta", "rt", "lead",
                           "ri", "meta:lead:1", "r", rec, "a", "1", "t", "1795992700000", "et",
                           "1795992699000", "k", "w", "c", "conn", "p", "meta", "rid", "req-1"};
        ch_rconn_cmd c = {29, v, NULL};
        redisReply *r = NULL;
        CHECK(ch_rconn_pipeline(1, &c, &r) == 1 && r && r->type == REDIS_REPLY_STRING);
        if (r) freeReplyObject(r);
    }
    const char *r1[] = {"XREADGROUP", "GROUP", "g1", "me", "COUNT", "60", "STREAMS", "k:s", ">"};
    const char *r2[] = {"XREADGROUP", "GROUP", "g2", "me", "COUNT", "60", "STREAMS", "k:s", ">"};
    ch_rconn_cmd plain_cmd = {9, r1, NULL}, arena_cmd = {9, r2, NULL};
    redisReply *p = NULL, *q = NULL;
    CHECK(ch_rconn_pipeline(1, &plain_cmd, &p) == 1);
    ch_rarena *a = ch_rarena_new();
    CHECK(ch_rconn_pipeline_arena(1, &arena_cmd, &q, a) == 1);
    /* Entry ids are the same, the group each came through differs not. */
    CHECK(same(p, q));
    CHECK(q && q->type == REDIS_REPLY_ARRAY && q->elements == 1 &&
          q->element[0]->element[1]->elements == 60);
    if (p) freeReplyObject(p);
    ch_rarena_free(a);
    /* Nothing more to read: a nil, in the arena too. */
    a = ch_rarena_new();
    CHECK(ch_rconn_pipeline_arena(1, &arena_cmd, &q, a) == 1 && q && q->type == REDIS_REPLY_NIL);
    ch_rarena_free(a);
}

/* The thread's emptied arena comes back to its next fetch; a second
 * arena taken meanwhile is a new one; freeing both keeps one. */
static void test_reuse(void)
{
    ch_rarena *a = ch_rarena_new();
    ch_rarena_free(a);
    ch_rarena *b = ch_rarena_new();
    CHECK(b == a);
    ch_rarena *c = ch_rarena_new();
    CHECK(c != b);
    ch_rarena_free(b);
    ch_rarena_free(c);
    ch_rarena *d = ch_rarena_new();
    CHECK(d == b);
    ch_rarena_free(d);
    /* The replies are the arena's: a fetch into the thread's emptied
     * arena builds its first reply where the last fetch built its own. */
    const char *v[] = {"ECHO", "first"};
    ch_rconn_cmd c1 = {2, v, NULL};
    redisReply *r1 = NULL, *r2 = NULL;
    ch_rarena *e = ch_rarena_new();
    CHECK(ch_rconn_pipeline_arena(1, &c1, &r1, e) == 1 && r1 && strcmp(r1->str, "first") == 0);
    ch_rarena_free(e);
    e = ch_rarena_new();
    CHECK(ch_rconn_pipeline_arena(1, &c1, &r2, e) == 1 && r2 == r1);
    ch_rarena_free(e);
    /* With nothing in it: no replies, no crash. */
    ch_rarena_free(NULL);
    redisReply *r = (redisReply *)1;
    CHECK(ch_rconn_pipeline_arena(1, &(ch_rconn_cmd){1, (const char *[]){"PING"}, NULL}, &r, NULL) == 0);
    CHECK(r == NULL);
}

/* The reader functions on their own: objects in the arena of the
 * reader's privdata, and without one the reader fails as on a failed
 * allocation (never a reply from elsewhere). */
static void test_reader(void)
{
    static const char proto[] = "*3\r\n$3\r\nabc\r\n:-7\r\n*2\r\n$-1\r\n+OK\r\n";
    redisReader *rd = redisReaderCreateWithFunctions(ch_rarena_fns());
    ch_rarena *a = ch_rarena_new();
    rd->privdata = a;
    void *out = NULL;
    CHECK(redisReaderFeed(rd, proto, sizeof proto - 1) == REDIS_OK);
    CHECK(redisReaderGetReply(rd, &out) == REDIS_OK && out != NULL);
    redisReply *r = out;
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    if (r && r->elements == 3) {
        CHECK(r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "abc") == 0);
        CHECK(r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == -7);
        CHECK(r->element[2]->elements == 2 && r->element[2]->element[0]->type == REDIS_REPLY_NIL &&
              r->element[2]->element[1]->type == REDIS_REPLY_STATUS);
    }
    /* A reply cut off half way and the reader freed: nothing leaks (the
     * arena holds what was built). */
    CHECK(redisReaderFeed(rd, "*2\r\n$1\r\nx\r\n", 11) == REDIS_OK);
    CHECK(redisReaderGetReply(rd, &out) == REDIS_OK && out == NULL);
    redisReaderFree(rd);
    ch_rarena_free(a);

    rd = redisReaderCreateWithFunctions(ch_rarena_fns()); /* privdata NULL */
    CHECK(redisReaderFeed(rd, proto, sizeof proto - 1) == REDIS_OK);
    CHECK(redisReaderGetReply(rd, &out) == REDIS_ERR);
    redisReaderFree(rd);
}

static void *other_thread(void *arg)
{
    ch_rarena *mine = ch_rarena_new();
    *(int *)arg = mine != NULL;
    const char *v[] = {"LRANGE", "k:list", "0", "-1"};
    ch_rconn_cmd c = {4, v, NULL};
    redisReply *r = NULL;
    if (ch_rconn_pipeline_arena(1, &c, &r, mine) != 1 || !r || r->elements != 3) *(int *)arg = 0;
    ch_rarena_free(mine); /* kept by this thread, freed when it ends */
    ch_rconn_thread_close();
    return NULL;
}

static void test_threads(void)
{
    ch_rarena *main_spare = ch_rarena_new();
    int ok = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, other_thread, &ok) == 0);
    pthread_join(th, NULL);
    CHECK(ok);
    ch_rarena_free(main_spare);
    CHECK(ch_rarena_new() == main_spare); /* the other thread's stayed its own */
    ch_rarena_free(main_spare);
}

/* Redis restarted between fetches: the next fetch reconnects and its
 * replies are built in the arena as before. */
static void test_restart(void)
{
    fx_redis_kill();
    fx_redis_start();
    const char *v[] = {"ECHO", "after"};
    ch_rconn_cmd c = {2, v, NULL};
    redisReply *r = NULL;
    ch_rarena *a = ch_rarena_new();
    CHECK(ch_rconn_pipeline_arena(1, &c, &r, a) == 1);
    CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "after") == 0);
    ch_rarena_free(a);
    /* And the plain path is back to hiredis's own objects. */
    r = ch_rconn_command("ECHO plain");
    CHECK(r && strcmp(r->str, "plain") == 0);
    if (r) freeReplyObject(r);
}

int main(void)
{
    fx_rconn_start(2000);
    test_kinds();
    test_stream();
    test_reuse();
    test_reader();
    test_threads();
    test_restart();
    ch_rconn_shutdown();
    CHECK_DONE();
}
