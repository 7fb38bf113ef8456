/* redis_fixture.h -- a private redis-server for a unit test process.
 *
 * fx_redis_start() runs redis-server on a free loopback port in a fresh temp
 * directory and waits until it answers; fx_redis_stop() (also run at exit)
 * kills it and removes the directory. Tests never touch a shared Redis.
 * fx_rconn_start() does the same and points the host's blocking Redis
 * connections (rconn.h) at it. Header-only so each test binary stays one
 * file. */
#ifndef C360_TEST_REDIS_FIXTURE_H
#define C360_TEST_REDIS_FIXTURE_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rconn.h"

typedef struct fx_redis {
    pid_t pid;
    int port;
    char dir[64];
} fx_redis;

static fx_redis fx_current;

static inline void fx_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 when the server on port is process pid, 0 when nothing answers yet,
 * -1 when another server answers there: tests run in parallel, and a port
 * drawn at random may be another test's -- whose server answers PING
 * before ours has failed to bind and exited, so a PING alone would hand
 * this test someone else's Redis (seen once: test_api_keys listing another
 * test's keys). */
static inline int fx_redis_serves(int port, pid_t pid)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) { if (c) redisFree(c); return 0; }
    redisReply *r = redisCommand(c, "INFO server");
    int res = 0;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "process_id:");
        res = p && atol(p + strlen("process_id:")) == (long)pid ? 1 : -1;
    }
    if (r) freeReplyObject(r);
    redisFree(c);
    return res;
}

static inline void fx_redis_stop(void)
{
    if (fx_current.pid > 0) {
        kill(fx_current.pid, SIGKILL);
        waitpid(fx_current.pid, NULL, 0);
        fx_current.pid = 0;
    }
    if (fx_current.dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx_current.dir);
        if (system(cmd) != 0) fprintf(stderr, "fixture: cannot remove %s\n", fx_current.dir);
        fx_current.dir[0] = '\0';
    }
}

/* Starts (or restarts, keeping the port and directory) redis-server.
 * Extra redis-server arguments may be given, NULL-terminated. Returns the
 * port, or exits the test with status 1. */
static inline int fx_redis_start_args(const char *const *extra)
{
    if (!fx_current.dir[0]) {
        snprintf(fx_current.dir, sizeof fx_current.dir, "/tmp/c360-fx-XXXXXX");
        if (!mkdtemp(fx_current.dir)) { perror("mkdtemp"); exit(1); }
        srand((unsigned)getpid() ^ (unsigned)time(NULL));
        atexit(fx_redis_stop);
    }
    for (int attempt = 0; attempt < 20; attempt++) {
        /* Below the ephemeral range (32768+) and apart from the shell
         * tests' range (10000-24999). */
        int port = fx_current.port ? fx_current.port : 25000 + rand() % 7700;
        char portbuf[16];
        snprintf(portbuf, sizeof portbuf, "%d", port);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); exit(1); }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            const char *argv[32] = {"redis-server", "--port", portbuf, "--bind", "127.0.0.1",
                                    "--save", "", "--appendonly", "no", "--dir", fx_current.dir,
                                    "--logfile", "redis.log"};
            int n = 13;
            for (int i = 0; extra && extra[i] && n < 31; i++) argv[n++] = extra[i];
            argv[n] = NULL;
            execvp("redis-server", (char *const *)argv);
            _exit(127);
        }
        for (int i = 0; i < 100; i++) {
            int s = fx_redis_serves(port, pid);
            if (s == 1) {
                fx_current.pid = pid;
                fx_current.port = port;
                return port;
            }
            if (s < 0) break; /* another test's server: try another port */
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) break; /* port taken: try another */
            fx_sleep_ms(20);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (fx_current.port) break;
    }
    fprintf(stderr, "fixture: cannot start redis-server\n");
    exit(1);
}

static inline int fx_redis_start(void) { return fx_redis_start_args(NULL); }

/* Kills the server (SIGKILL) but keeps port and directory for a restart. */
static inline void fx_redis_kill(void)
{
    if (fx_current.pid > 0) {
        kill(fx_current.pid, SIGKILL);
        waitpid(fx_current.pid, NULL, 0);
        fx_current.pid = 0;
    }
}

/* Where the server listens (once started). */
static inline ch_redis_url fx_redis_url(void)
{
    ch_redis_url u = {.port = fx_current.port};
    snprintf(u.host, sizeof u.host, "127.0.0.1");
    return u;
}

/* Points the host's blocking connections (rconn.h) at the started server,
 * timeout_ms per command. */
static inline void fx_rconn_configure(int timeout_ms)
{
    ch_redis_url u = fx_redis_url();
    ch_rconn_configure(&u, NULL, NULL, timeout_ms);
}

/* fx_redis_start() and fx_rconn_configure(); returns the port. */
static inline int fx_rconn_start(int timeout_ms)
{
    int port = fx_redis_start();
    fx_rconn_configure(timeout_ms);
    return port;
}

#endif
