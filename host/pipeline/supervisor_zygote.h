/* supervisor_zygote.h -- the single-threaded process that forks workers
 * (private to supervisor*.c).
 *
 * fork() copies only the calling thread: a lock another thread of the
 * master held at that instant (the allocator's, a TLS library's, the
 * sanitizers' thread registry...) stays locked forever in the child, which
 * then hangs at its first use. The master runs many threads (the
 * supervisor's, the instance opener, the connection cache, maintenance),
 * and a worker restart can come at any moment, so the master never forks
 * a worker itself: right after the plugins are loaded, while the master is
 * still single-threaded, it forks this "zygote", which stays
 * single-threaded forever and forks the workers on request. Every worker
 * is then a copy of a process in which no other thread ever held anything.
 *
 * The master talks to it over a SOCK_SEQPACKET socket pair: SPAWN(widx) ->
 * STARTED(widx, pid) or FAILED(widx, errno); EXITED(widx, pid, status)
 * whenever a worker ends (the zygote reaps them). The workers and the
 * zygote die with the master (PR_SET_PDEATHSIG), the workers also with the
 * zygote. */
#ifndef CH_SUPERVISOR_ZYGOTE_H
#define CH_SUPERVISOR_ZYGOTE_H

#include <stdint.h>
#include <sys/types.h>

/* READY: the zygote's first message, once it dropped the master's
 * sockets (ch_zygote_start waits for it). */
enum { CH_Z_SPAWN = 1, CH_Z_STARTED, CH_Z_FAILED, CH_Z_EXITED, CH_Z_READY };

typedef struct ch_zmsg {
    int32_t op;
    int32_t widx;
    int32_t pid;
    int32_t status;   /* EXITED: waitpid status; FAILED: errno */
} ch_zmsg;

typedef struct ch_zygote ch_zygote;

/* What a worker child runs: its exit status. `zygote` is its parent. */
typedef int (*ch_zygote_worker_fn)(int widx, pid_t zygote, void *arg);

/* Forks the zygote. NULL (logged) if the socket pair or the fork fails. */
ch_zygote *ch_zygote_start(ch_zygote_worker_fn fn, void *arg);
/* The master's end (non-blocking): readable when messages wait. */
int ch_zygote_fd(const ch_zygote *z);
pid_t ch_zygote_pid(const ch_zygote *z);
/* Asks for worker widx. 0, or -1 if the zygote cannot be reached. */
int ch_zygote_spawn(ch_zygote *z, int widx);
/* 1 with *m filled, 0 when nothing waits, -1 when the zygote is gone. */
int ch_zygote_read(ch_zygote *z, ch_zmsg *m);
/* 1 once the zygote process has exited (reaped, with its status). */
int ch_zygote_reap(ch_zygote *z, int *status);
/* SIGKILLs the zygote (its workers follow), reaps it, frees. */
void ch_zygote_stop(ch_zygote *z);

#endif
