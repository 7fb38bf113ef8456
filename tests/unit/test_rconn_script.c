/* test_rconn_script.c -- Lua scripts over the blocking connections
 * (rconn.c), against a real redis-server: EVALSHA with the SHA loaded on
 * first use, and after SCRIPT FLUSH (what a Redis restart or failover does
 * to the script cache) both ch_rconn_eval and ch_rconn_eval_pipeline load
 * the script again and run each call exactly once. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rconn.h"
#include "redis_fixture.h"

/* Counts its runs per key, so a call run twice or not at all shows. */
static ch_script incr_script = CH_SCRIPT("return redis.call('INCR', KEYS[1])\n");
/* Runs (counts), then fails: an error reply other than NOSCRIPT. */
static ch_script fail_script = CH_SCRIPT(
    "redis.call('INCR', KEYS[1])\n"
    "return redis.error_reply('ERR refused by the script')\n");
/* The argument count and the byte length of the first argument. */
static ch_script shape_script = CH_SCRIPT("return {#KEYS, #ARGV, string.len(ARGV[1])}\n");
static ch_script broken_script = CH_SCRIPT("this is not Lua\n");

static long long get_int(const char *key)
{
    redisReply *r = ch_rconn_command("GET %s", key);
    long long v = r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    if (r) freeReplyObject(r);
    return v;
}

static void flush_scripts(void)
{
    redisReply *r = ch_rconn_command("SCRIPT FLUSH");
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
}

/* 1 if Redis has the script s (by the SHA rconn cached), 0 if not. */
static int script_loaded(const ch_script *s)
{
    redisReply *r = ch_rconn_command("SCRIPT EXISTS %s", s->sha);
    int yes = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
              r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1;
    if (r) freeReplyObject(r);
    return yes;
}

static long long eval_incr(const char *key)
{
    const char *argv[] = {key};
    redisReply *r = ch_rconn_eval(&incr_script, 1, 1, argv, NULL);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
}

static void test_single(void)
{
    CHECK(eval_incr("rs:one") == 1);
    CHECK(strlen(incr_script.sha) == 40 && script_loaded(&incr_script));
    flush_scripts();
    CHECK(!script_loaded(&incr_script));
    /* NOSCRIPT, load, once more: the call runs once. */
    CHECK(eval_incr("rs:one") == 2);
    CHECK(get_int("rs:one") == 2);
    CHECK(script_loaded(&incr_script));
    CHECK(eval_incr("rs:one") == 3);
}

/* n pipelined INCRs of keys rs:p:<base + i>; 1 if every reply is i's
 * count `want`. */
static int pipeline_incr(size_t n, int base, long long want)
{
    char keys[8][32];
    const char *argv[8][1];
    ch_rconn_cmd cmds[8];
    int nkeys[8];
    redisReply *replies[8];
    if (n > 8) return 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "rs:p:%d", base + (int)i);
        argv[i][0] = keys[i];
        cmds[i] = (ch_rconn_cmd){1, argv[i], NULL};
        nkeys[i] = 1;
    }
    size_t got = ch_rconn_eval_pipeline(&incr_script, n, nkeys, cmds, replies);
    int ok = got == n;
    for (size_t i = 0; i < n; i++) {
        ok &= replies[i] && replies[i]->type == REDIS_REPLY_INTEGER && replies[i]->integer == want;
        if (replies[i]) freeReplyObject(replies[i]);
    }
    return ok;
}

static void test_pipeline(void)
{
    CHECK(pipeline_incr(5, 0, 1));
    flush_scripts();
    /* Every call answered NOSCRIPT: all are sent again, each runs once. */
    CHECK(pipeline_incr(5, 0, 2));
    for (int i = 0; i < 5; i++) {
        char k[32];
        snprintf(k, sizeof k, "rs:p:%d", i);
        CHECK(get_int(k) == 2);
    }
    CHECK(script_loaded(&incr_script));
    /* The single path after the pipelined reload, then the other way. */
    CHECK(eval_incr("rs:p:0") == 3);
    flush_scripts();
    CHECK(eval_incr("rs:p:0") == 4);
    CHECK(pipeline_incr(1, 0, 5));
}

/* A script's own error is the reply, not a reason to run it again. */
static void test_script_error(void)
{
    const char *argv[] = {"rs:fail"};
    redisReply *r = ch_rconn_eval(&fail_script, 1, 1, argv, NULL);
    CHECK(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "refused by the script"));
    if (r) freeReplyObject(r);
    CHECK(get_int("rs:fail") == 1);
    flush_scripts();
    ch_rconn_cmd cmd = {1, argv, NULL};
    int nk = 1;
    redisReply *rep = NULL;
    CHECK(ch_rconn_eval_pipeline(&fail_script, 1, &nk, &cmd, &rep) == 1);
    CHECK(rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "refused by the script"));
    if (rep) freeReplyObject(rep);
    CHECK(get_int("rs:fail") == 2);
}

/* Argument vectors: binary-safe lengths, and one over the stack's 64. */
static void test_shapes(void)
{
    const char bin[] = {'a', '\0', 'b'};
    const char *argv[] = {"rs:k", bin};
    const size_t lens[] = {4, sizeof bin};
    redisReply *r = ch_rconn_eval(&shape_script, 1, 2, argv, lens);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
          r->element[0]->integer == 1 && r->element[1]->integer == 1 &&
          r->element[2]->integer == 3);
    if (r) freeReplyObject(r);

    enum { MANY = 100 };
    const char *many[MANY];
    for (int i = 0; i < MANY; i++) many[i] = i < 50 ? "rs:k" : "arg";
    flush_scripts();
    r = ch_rconn_eval(&shape_script, 50, MANY, many, NULL);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
          r->element[0]->integer == 50 && r->element[1]->integer == 50 &&
          r->element[2]->integer == 3);
    if (r) freeReplyObject(r);

    ch_rconn_cmd cmds[2] = {{2, argv, lens}, {MANY, many, NULL}};
    int nkeys[2] = {1, 50};
    redisReply *rep[2] = {NULL, NULL};
    flush_scripts();
    CHECK(ch_rconn_eval_pipeline(&shape_script, 2, nkeys, cmds, rep) == 2);
    CHECK(rep[0] && rep[0]->type == REDIS_REPLY_ARRAY && rep[0]->elements == 3 &&
          rep[0]->element[1]->integer == 1 && rep[0]->element[2]->integer == 3);
    CHECK(rep[1] && rep[1]->type == REDIS_REPLY_ARRAY && rep[1]->elements == 3 &&
          rep[1]->element[0]->integer == 50 && rep[1]->element[1]->integer == 50);
    for (int i = 0; i < 2; i++)
        if (rep[i]) freeReplyObject(rep[i]);
}

/* A script Redis refuses to load: NULL, with the reason, on both paths. */
static void test_unloadable(void)
{
    const char *argv[] = {"rs:x"};
    CHECK(ch_rconn_eval(&broken_script, 1, 1, argv, NULL) == NULL);
    CHECK_CONTAINS(ch_rconn_error(), "SCRIPT LOAD failed");
    ch_rconn_cmd cmd = {1, argv, NULL};
    int nk = 1;
    /* Not NULL before: the call must set it. */
    redisReply dummy;
    redisReply *rep = &dummy;
    CHECK(ch_rconn_eval_pipeline(&broken_script, 1, &nk, &cmd, &rep) == 0);
    CHECK(rep == NULL);
}

int main(void)
{
    fx_rconn_start(2000);
    test_single();
    test_pipeline();
    test_script_error();
    test_shapes();
    test_unloadable();
    ch_rconn_shutdown();
    CHECK_DONE();
}
