/* rconn.h -- blocking Redis connections for host services.
 *
 * Plugins call host services from worker threads and may block on them, so
 * services talk to Redis synchronously, each thread over its own connection
 * (created on first use, reconnected on error, closed when the thread ends).
 * The event loop never uses these: it has the async connection (redis.h).
 *
 * Scripts (Lua) are run with EVALSHA and loaded on NOSCRIPT, so a Redis
 * restart or failover that drops the script cache costs one round trip. */
#ifndef CH_RCONN_H
#define CH_RCONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "err.h"
#include "redis_url.h"

/* Process-wide target; call before any thread uses a connection. The
 * password is copied into guarded memory. timeout_ms bounds each command. */
ch_err ch_rconn_configure(const ch_redis_url *url, const char *username,
                          const char *password, int timeout_ms);
/* Forgets the target and wipes the password (at exit, after the threads). */
void ch_rconn_shutdown(void);

/* Runs a command on this thread's connection. Returns the reply (free it
 * with freeReplyObject), or NULL when Redis cannot be reached (after one
 * reconnect attempt); errno-like detail in ch_rconn_error(). A Redis error
 * reply is returned as a reply of type REDIS_REPLY_ERROR. */
redisReply *ch_rconn_command(const char *fmt, ...);
redisReply *ch_rconn_argv(int argc, const char **argv, const size_t *lens);
/* Why the last call on this thread returned NULL. */
const char *ch_rconn_error(void);
/* Closes this thread's connection and gives back its kept reply arena
 * (also done automatically when the thread ends). */
void ch_rconn_thread_close(void);

/* A Lua script with its SHA1, filled on first use. Define as
 *     static ch_script s = CH_SCRIPT("return 1");                        */
typedef struct ch_script {
    const char *src;
    char sha[41];
} ch_script;
#define CH_SCRIPT(text) {text, ""}

/* EVALSHA script with nkeys keys followed by args (argc counts both). */
redisReply *ch_rconn_eval(ch_script *s, int nkeys, int argc,
                          const char **argv, const size_t *lens);

/* Pipelining: n commands sent together and answered in one round trip
 * (hiredis append + read). cmds[i] is one command (argv; lens NULL =
 * strlen). replies[i] gets its reply (free each with freeReplyObject), or
 * NULL when the connection failed before that reply arrived. Returns the
 * number of replies received (n when all arrived). If the connection is
 * found dead before the first reply, the whole batch is sent once more on
 * a fresh connection, as ch_rconn_argv does. That resend is only safe for
 * commands that may run twice: hiredis writes while waiting for the first
 * reply, so a read timeout can come after the server ran them (callers:
 * the scheduler's claim, guarded by its tick_q lease, and SET NX dedup
 * marks, which find their own mark). A connection cut after some replies
 * leaves the rest NULL, and those commands may or may not have run. */
typedef struct ch_rconn_cmd {
    int argc;
    const char **argv;
    const size_t *lens;
} ch_rconn_cmd;
size_t ch_rconn_pipeline(size_t n, const ch_rconn_cmd *cmds, redisReply **replies);

/* n EVALSHAs of one script, pipelined as above: cmds[i] holds the keys
 * and args of call i (argc counts both), nkeys[i] how many are keys. A
 * NOSCRIPT answer (a Redis restart emptied the script cache) loads the
 * script and runs those calls again (as ch_rconn_eval does; NULL replies
 * if the script cannot be loaded). Returns the number of non-NULL
 * replies (check each). */
size_t ch_rconn_eval_pipeline(ch_script *s, size_t n, const int *nkeys,
                              const ch_rconn_cmd *cmds, redisReply **replies);

/* Replies in an arena (rconn_arena.c): for the hot reads of many small
 * strings (a worker's fetch of stream entries), every object of the
 * replies is put in the arena's few chunks instead of a malloc each, and
 * released with the arena, all at once. Such replies read as any reply
 * but must NEVER be passed to freeReplyObject; they live until
 * ch_rarena_free. An arena is used by one thread at a time; each thread
 * keeps one emptied arena (its largest chunk up to 1 MiB) for its next
 * ch_rarena_new, so steady fetches allocate nothing. */
typedef struct ch_rarena ch_rarena;
ch_rarena *ch_rarena_new(void);
void ch_rarena_free(ch_rarena *a);
/* Gives back this thread's kept arena now (ch_rconn_thread_close does;
 * a thread that ends gives it back by itself). */
void ch_rarena_thread_release(void);
/* ch_rconn_pipeline with the replies built in arena a (same contract;
 * a connection lost mid-reply leaves what was read in the arena). */
size_t ch_rconn_pipeline_arena(size_t n, const ch_rconn_cmd *cmds, redisReply **replies,
                               ch_rarena *a);
/* The hiredis reader functions behind it (rconn.c installs them around
 * the reads; the objects take their arena from the reader's privdata). */
redisReplyObjectFunctions *ch_rarena_fns(void);

#endif
