/* rconn.c -- see rconn.h. */
#include "rconn.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "redis.h"
#include "util.h"

/* The reply buffer a connection keeps between replies. hiredis frees an
 * idle reader buffer bigger than its default 16 KiB and grows the next one
 * again by doubling reallocs; a worker's fetches and claims of records
 * (tens of KiB each turn) then cost a large allocation per reply, each of
 * which makes glibc consolidate its fastbins (perf: 2.5 % of the workers'
 * CPU). One buffer of up to this size per connection is kept instead;
 * a bigger one (a rare huge reply) is still given back. */
#define RCONN_READER_KEEP (512 * 1024)

typedef struct target {
    ch_redis_url url;
    char *username;
    char *password; /* sodium_malloc'd */
    int timeout_ms;
    int configured;
} target;

static target g_target;
static pthread_mutex_t g_script_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

typedef struct tconn {
    redisContext *ctx;
    char error[160];
} tconn;

static void tconn_destroy(void *p)
{
    tconn *t = p;
    if (!t) return;
    if (t->ctx) redisFree(t->ctx);
    free(t);
}

static void make_key(void) { pthread_key_create(&g_key, tconn_destroy); }

static tconn *self(void)
{
    pthread_once(&g_once, make_key);
    tconn *t = pthread_getspecific(g_key);
    if (!t) {
        t = ch_calloc(1, sizeof *t);
        pthread_setspecific(g_key, t);
    }
    return t;
}

ch_err ch_rconn_configure(const ch_redis_url *url, const char *username,
                          const char *password, int timeout_ms)
{
    ch_rconn_shutdown();
    g_target.url = *url;
    g_target.username = username ? ch_strdup(username) : NULL;
    g_target.password = ch_redis_password_copy(password);
    g_target.timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    g_target.configured = 1;
    return CH_OK;
}

void ch_rconn_shutdown(void)
{
    ch_rconn_thread_close();
    free(g_target.username);
    if (g_target.password) sodium_free(g_target.password);
    memset(&g_target, 0, sizeof g_target);
}

const char *ch_rconn_error(void) { return self()->error; }

void ch_rconn_thread_close(void)
{
    ch_rarena_thread_release();
    pthread_once(&g_once, make_key);
    tconn *t = pthread_getspecific(g_key);
    if (t && t->ctx) {
        redisFree(t->ctx);
        t->ctx = NULL;
    }
}

static int handshake(tconn *t)
{
    redisReply *r = NULL;
    if (g_target.password) {
        if (g_target.username)
            r = redisCommand(t->ctx, "AUTH %s %s", g_target.username, g_target.password);
        else
            r = redisCommand(t->ctx, "AUTH %s", g_target.password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(t->error, sizeof t->error, "AUTH failed: %.100s", r ? r->str : t->ctx->errstr);
            if (r) freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    if (g_target.url.db) {
        r = redisCommand(t->ctx, "SELECT %d", g_target.url.db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(t->error, sizeof t->error, "SELECT failed");
            if (r) freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

static int ensure(tconn *t)
{
    if (t->ctx && !t->ctx->err) return 0;
    if (t->ctx) { redisFree(t->ctx); t->ctx = NULL; }
    if (!g_target.configured) {
        snprintf(t->error, sizeof t->error, "redis not configured");
        return -1;
    }
    struct timeval tv = {g_target.timeout_ms / 1000, (g_target.timeout_ms % 1000) * 1000};
    t->ctx = g_target.url.is_unix ? redisConnectUnixWithTimeout(g_target.url.path, tv)
                                  : redisConnectWithTimeout(g_target.url.host, g_target.url.port, tv);
    if (!t->ctx || t->ctx->err) {
        snprintf(t->error, sizeof t->error, "connect: %s", t->ctx ? t->ctx->errstr : "out of memory");
        if (t->ctx) { redisFree(t->ctx); t->ctx = NULL; }
        return -1;
    }
    redisSetTimeout(t->ctx, tv);
    t->ctx->reader->maxbuf = RCONN_READER_KEEP;
    if (handshake(t) < 0) {
        redisFree(t->ctx);
        t->ctx = NULL;
        return -1;
    }
    return 0;
}

/* One reconnect attempt: a connection that died while idle (a Redis
 * restart) must not fail the first command after it; the old server never
 * ran that command. Only a connection cut in the middle of a command can
 * make it run twice; service writes are idempotent or version-checked, and
 * counters (state_incr) are documented as at-least-once for that reason. */
redisReply *ch_rconn_argv(int argc, const char **argv, const size_t *lens)
{
    tconn *t = self();
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure(t) < 0) continue;
        redisReply *r = redisCommandArgv(t->ctx, argc, argv, lens);
        if (r) return r;
        snprintf(t->error, sizeof t->error, "%s", t->ctx->errstr[0] ? t->ctx->errstr : "connection lost");
        redisFree(t->ctx);
        t->ctx = NULL;
    }
    return NULL;
}

redisReply *ch_rconn_command(const char *fmt, ...)
{
    tconn *t = self();
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure(t) < 0) continue;
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = redisvCommand(t->ctx, fmt, ap);
        va_end(ap);
        if (r) return r;
        snprintf(t->error, sizeof t->error, "%s", t->ctx->errstr[0] ? t->ctx->errstr : "connection lost");
        redisFree(t->ctx);
        t->ctx = NULL;
    }
    return NULL;
}

static int load_script(ch_script *s)
{
    redisReply *r = ch_rconn_command("SCRIPT LOAD %s", s->src);
    if (!r) return -1;
    int ok = r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok) {
        pthread_mutex_lock(&g_script_lock);
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        pthread_mutex_unlock(&g_script_lock);
    } else {
        snprintf(self()->error, sizeof self()->error, "SCRIPT LOAD failed: %.100s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* s's SHA1 as this process knows it ("" before it loaded it), into sha
 * (41 bytes). */
static void sha_copy(ch_script *s, char *sha)
{
    pthread_mutex_lock(&g_script_lock);
    memcpy(sha, s->sha, 41);
    pthread_mutex_unlock(&g_script_lock);
}

/* Copies s's SHA1 into sha (41 bytes), loading the script first when this
 * process has not yet; 0, or -1 (detail in ch_rconn_error) if it cannot. */
static int script_sha(ch_script *s, char *sha)
{
    sha_copy(s, sha);
    if (sha[0]) return 0;
    if (load_script(s) < 0) return -1;
    sha_copy(s, sha);
    return 0;
}

static int is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Fills a (argc + 3 entries) with EVALSHA sha nkeys argv..., nk being the
 * caller's buffer for the key count. */
static void evalsha_vector(const char **a, size_t *l, const char *sha, char nk[16], int nkeys,
                           int argc, const char **argv, const size_t *lens)
{
    snprintf(nk, 16, "%d", nkeys);
    a[0] = "EVALSHA"; l[0] = 7;
    a[1] = sha; l[1] = 40;
    a[2] = nk; l[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        a[3 + i] = argv[i];
        l[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
}

/* Sends the n EVALSHA vectors ev of script s, pipelined (for one alone
 * that is what ch_rconn_argv does, with the same single reconnect). Each
 * vector points at `sha` (script_sha's copy), so a reload rewrites them
 * all: the calls answered NOSCRIPT (a Redis restart, failover or SCRIPT
 * FLUSH emptied the script cache; they did not run) are sent once more
 * after the script is loaded again, or get NULL replies if it cannot be.
 * Both ch_rconn_eval and ch_rconn_eval_pipeline run through here. Returns
 * the number of non-NULL replies. */
static size_t evalsha_run(ch_script *s, char *sha, size_t n, const ch_rconn_cmd *ev,
                          redisReply **replies)
{
    size_t got = ch_rconn_pipeline(n, ev, replies);
    size_t again = 0;
    for (size_t i = 0; i < got; i++) again += is_noscript(replies[i]);
    if (again) {
        for (size_t i = 0; i < got; i++) {
            if (!is_noscript(replies[i])) continue;
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
        if (load_script(s) == 0) {
            sha_copy(s, sha);
            /* The calls to send again, packed: they are the NULL replies
             * among the first `got` (the rest never got an answer). */
            ch_rconn_cmd *sub = ch_calloc(again, sizeof *sub);
            size_t *idx = ch_calloc(again, sizeof *idx);
            redisReply **rr = ch_calloc(again, sizeof *rr);
            size_t k = 0;
            for (size_t i = 0; i < got; i++) {
                if (replies[i]) continue;
                idx[k] = i;
                sub[k++] = ev[i];
            }
            ch_rconn_pipeline(again, sub, rr);
            for (k = 0; k < again; k++) replies[idx[k]] = rr[k];
            free(sub);
            free(idx);
            free(rr);
        }
    }
    got = 0;
    for (size_t i = 0; i < n; i++) got += replies[i] != NULL;
    return got;
}

redisReply *ch_rconn_eval(ch_script *s, int nkeys, int argc,
                          const char **argv, const size_t *lens)
{
    char sha[41];
    if (script_sha(s, sha) < 0) return NULL;
    /* EVALSHA sha nkeys args... -- on the stack for the usual handful
     * (an event's outcome is 29, and a few dozen more with the state
     * writes its callback staged), on the heap for scripts over many keys
     * (a purge names every route). */
    enum { STACKARGS = 64, MAXARGS = 1 << 20 };
    if (argc < 0 || argc > MAXARGS) return NULL;
    const char *av_s[STACKARGS];
    size_t al_s[STACKARGS];
    const char **av = av_s;
    size_t *al = al_s;
    if (argc + 3 > STACKARGS) {
        av = ch_malloc((size_t)(argc + 3) * sizeof *av);
        al = ch_malloc((size_t)(argc + 3) * sizeof *al);
    }
    char nk[16];
    evalsha_vector(av, al, sha, nk, nkeys, argc, argv, lens);
    ch_rconn_cmd ev = {argc + 3, av, al};
    redisReply *r = NULL;
    evalsha_run(s, sha, 1, &ev, &r);
    if (av != av_s) {
        free(av);
        free(al);
    }
    return r;
}

/* One pipelined pass on this thread's connection; 0 replies and *dead set
 * when the connection failed before any reply. */
/* arena: the replies are built in it (ch_rconn_pipeline_arena), else by
 * hiredis's own functions. */
static size_t pipeline_once(tconn *t, size_t n, const ch_rconn_cmd *cmds,
                            redisReply **replies, int *dead, ch_rarena *arena)
{
    *dead = 0;
    size_t got = 0;
    for (size_t i = 0; i < n; i++) replies[i] = NULL;
    if (ensure(t) < 0) {
        *dead = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (redisAppendCommandArgv(t->ctx, cmds[i].argc, cmds[i].argv, cmds[i].lens) != REDIS_OK)
            goto fail;
    }
    redisReader *rd = t->ctx->reader;
    redisReplyObjectFunctions *own = rd->fn;
    if (arena) {
        /* Only between whole replies (this thread reads nothing else on
         * this connection meanwhile); the context freed on a failure
         * takes the arena's functions with it. */
        rd->fn = ch_rarena_fns();
        rd->privdata = arena;
    }
    for (; got < n; got++) {
        void *r = NULL;
        if (redisGetReply(t->ctx, &r) != REDIS_OK || !r) goto fail;
        replies[got] = r;
    }
    rd->fn = own;
    rd->privdata = NULL;
    return got;
fail:
    snprintf(t->error, sizeof t->error, "%s", t->ctx->errstr[0] ? t->ctx->errstr : "connection lost");
    /* Commands appended but not answered are dropped with the context. */
    redisFree(t->ctx);
    t->ctx = NULL;
    *dead = got == 0;
    return got;
}

static size_t pipeline_with(size_t n, const ch_rconn_cmd *cmds, redisReply **replies,
                            ch_rarena *arena)
{
    if (!n) return 0;
    tconn *t = self();
    int dead = 0;
    size_t got = pipeline_once(t, n, cmds, replies, &dead, arena);
    if (dead) got = pipeline_once(t, n, cmds, replies, &dead, arena);
    return got;
}

size_t ch_rconn_pipeline(size_t n, const ch_rconn_cmd *cmds, redisReply **replies)
{
    return pipeline_with(n, cmds, replies, NULL);
}

size_t ch_rconn_pipeline_arena(size_t n, const ch_rconn_cmd *cmds, redisReply **replies,
                               ch_rarena *a)
{
    if (!a) {
        for (size_t i = 0; i < n; i++) replies[i] = NULL;
        return 0;
    }
    return pipeline_with(n, cmds, replies, a);
}

size_t ch_rconn_eval_pipeline(ch_script *s, size_t n, const int *nkeys,
                              const ch_rconn_cmd *cmds, redisReply **replies)
{
    if (!n) return 0;
    for (size_t i = 0; i < n; i++) replies[i] = NULL;
    char sha[41];
    if (script_sha(s, sha) < 0) return 0;
    ch_rconn_cmd *ev = ch_calloc(n, sizeof *ev);
    char (*nk)[16] = ch_calloc(n, sizeof *nk);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)cmds[i].argc + 3;
    const char **av = ch_malloc(total * sizeof *av);
    size_t *al = ch_malloc(total * sizeof *al);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        evalsha_vector(av + off, al + off, sha, nk[i], nkeys[i], cmds[i].argc, cmds[i].argv,
                       cmds[i].lens);
        ev[i] = (ch_rconn_cmd){cmds[i].argc + 3, av + off, al + off};
        off += (size_t)cmds[i].argc + 3;
    }
    size_t got = evalsha_run(s, sha, n, ev, replies);
    free(ev);
    free(nk);
    free(av);
    free(al);
    return got;
}
