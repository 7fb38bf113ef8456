/* supervisor_zygote.c -- see supervisor_zygote.h. */
#include "supervisor_zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define ZYGOTE_CHILDREN_MAX 1024

struct ch_zygote {
    pid_t pid;
    int fd;
    int reaped;
};

/* Signals the master's event loop (libevent) handles: in a child they
 * would write into the master's signal pipe. */
static void reset_signals(void)
{
    static const int reset[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGQUIT, SIGALRM};
    for (size_t i = 0; i < sizeof reset / sizeof *reset; i++) signal(reset[i], SIG_DFL);
}

static void on_chld(int sig) { (void)sig; }

/* linux_dirent64, as getdents64(2) fills it (glibc has no declaration). */
struct zy_dirent {
    unsigned long long ino;
    long long off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* Calls fn for every open socket of this process but skip. Only
 * async-signal-safe calls (it runs in a freshly forked child too, and the
 * master may have threads then). Without /proc, nothing. */
static void each_socket(int skip, void (*fn)(int fd, const struct stat *st, void *arg), void *arg)
{
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            const struct zy_dirent *d = (const struct zy_dirent *)(buf + off);
            off += d->reclen;
            int fd = 0;
            const char *c = d->name;
            if (*c < '0' || *c > '9') continue;
            while (*c >= '0' && *c <= '9' && fd < 1 << 24) fd = fd * 10 + (*c++ - '0');
            if (*c != '\0' || fd <= 2 || fd == skip || fd == dfd) continue;
            struct stat st;
            if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) fn(fd, &st, arg);
        }
    }
    close(dfd);
}

/* The sockets that existed when the first zygote was forked, in the
 * master: whatever a plugin's init opened (docs/plugin-abi.md promises
 * every process shares those) and libevent's signal pair, which lives as
 * long as the loop. Taken once; a zygote forked again keeps these and
 * drops every other socket it inherited. */
#define ZY_KEEP_MAX 256
static struct { dev_t dev; ino_t ino; } g_keep[ZY_KEEP_MAX];
static size_t g_nkeep;
static int g_keep_state; /* 0 not taken, 1 taken, -1 too many: keep all */

static void note_socket(int fd, const struct stat *st, void *arg)
{
    (void)fd;
    (void)arg;
    if (g_keep_state < 0) return;
    if (g_nkeep == ZY_KEEP_MAX) {
        g_keep_state = -1;
        return;
    }
    g_keep[g_nkeep].dev = st->st_dev;
    g_keep[g_nkeep].ino = st->st_ino;
    g_nkeep++;
}

static void drop_socket(int fd, const struct stat *st, void *arg)
{
    int null = *(const int *)arg;
    for (size_t i = 0; i < g_nkeep; i++)
        if (g_keep[i].dev == st->st_dev && g_keep[i].ino == st->st_ino) return;
    /* /dev/null in its place rather than a close: the number stays taken,
     * so a stale close() or send() by number in this process or a worker
     * never hits a socket opened later. */
    dup2(null, fd);
}

/* In a freshly forked zygote: every socket inherited from the master that
 * was not there at the first fork -- client connections, the listeners,
 * the master's Redis connections -- is replaced by /dev/null. None is the
 * zygote's or a worker's business, and a copy held here would keep a
 * socket the master closed alive: its peer would never see the close, and
 * with the master's epoll changelist (daemon.c) the registration of the
 * closed descriptor would stay in the master's epoll set. The first zygote
 * is forked before the master opens any of those; one forked again (the
 * old one died) is not. */
static void drop_inherited_sockets(int keep)
{
    if (g_keep_state <= 0) return; /* first fork, or too many to tell */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) return;
    each_socket(keep, drop_socket, &null);
    close(null);
}

/* Signals a terminal or an operator sends to the whole process group
 * (Ctrl-C) must not take the zygote down: its death would kill every
 * worker at once instead of letting them finish their callbacks. It ends
 * with the master (PR_SET_PDEATHSIG, or its socket closing). Workers get
 * the default dispositions back. */
static const int zygote_ignores[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};

static void set_ignored(void (*how)(int))
{
    for (size_t i = 0; i < sizeof zygote_ignores / sizeof *zygote_ignores; i++) signal(zygote_ignores[i], how);
}

static void send_msg(int fd, int op, int widx, int pid, int status)
{
    ch_zmsg m = {op, widx, pid, status};
    while (write(fd, &m, sizeof m) < 0 && errno == EINTR) {}
}

typedef struct child { pid_t pid; int widx; } child;

static void zygote_main(int fd, ch_zygote_worker_fn fn, void *arg)
{
    /* SIGCHLD is blocked except inside ppoll, so an exit is never missed
     * between reaping and waiting. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    set_ignored(SIG_IGN);
    sigset_t blocked, waitmask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    sigprocmask(SIG_SETMASK, &blocked, NULL);
    sigemptyset(&waitmask);

    child kids[ZYGOTE_CHILDREN_MAX];
    size_t nkids = 0;
    pid_t self = getpid();
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = ppoll(&p, 1, NULL, &waitmask);
        if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
            ch_zmsg m;
            ssize_t n = read(fd, &m, sizeof m);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break; /* master gone */
            if (n == (ssize_t)sizeof m && m.op == CH_Z_SPAWN) {
                if (nkids == ZYGOTE_CHILDREN_MAX) {
                    send_msg(fd, CH_Z_FAILED, m.widx, 0, EAGAIN);
                    continue;
                }
                pid_t pid = fork();
                if (pid == 0) {
                    close(fd);
                    prctl(PR_SET_PDEATHSIG, SIGKILL);
                    if (getppid() != self) _exit(0);
                    signal(SIGCHLD, SIG_DFL);
                    set_ignored(SIG_DFL);
                    sigset_t none;
                    sigemptyset(&none);
                    sigprocmask(SIG_SETMASK, &none, NULL);
                    _exit(fn(m.widx, self, arg));
                }
                if (pid < 0) {
                    send_msg(fd, CH_Z_FAILED, m.widx, 0, errno);
                } else {
                    kids[nkids++] = (child){pid, m.widx};
                    send_msg(fd, CH_Z_STARTED, m.widx, pid, 0);
                }
            }
        }
        int st;
        pid_t pid;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
            for (size_t i = 0; i < nkids; i++) {
                if (kids[i].pid != pid) continue;
                send_msg(fd, CH_Z_EXITED, kids[i].widx, pid, st);
                kids[i] = kids[--nkids];
                break;
            }
        }
    }
    for (size_t i = 0; i < nkids; i++) kill(kids[i].pid, SIGKILL);
    for (size_t i = 0; i < nkids; i++) waitpid(kids[i].pid, NULL, 0);
    _exit(0);
}

ch_zygote *ch_zygote_start(ch_zygote_worker_fn fn, void *arg)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        ch_log(CH_LOG_ERROR, "supervisor: socketpair failed", "error", strerror(errno), NULL);
        return NULL;
    }
    pid_t master = getpid();
    if (g_keep_state == 0) {
        each_socket(-1, note_socket, NULL);
        if (g_keep_state == 0) g_keep_state = 1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != master) _exit(0);
        reset_signals();
        close(sv[0]);
        drop_inherited_sockets(sv[1]);
        send_msg(sv[1], CH_Z_READY, -1, 0, 0);
        zygote_main(sv[1], fn, arg);
    }
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        ch_log(CH_LOG_ERROR, "supervisor: cannot fork the zygote", "error", strerror(err), NULL);
        return NULL;
    }
    /* Until the zygote has dropped the master's sockets, a socket the
     * master closes would stay open in it: wait for its word (a moment;
     * at most 2 s, then go on and only log). */
    struct pollfd p = {sv[0], POLLIN, 0};
    ch_zmsg ready = {0, 0, 0, 0};
    if (poll(&p, 1, 2000) != 1 || read(sv[0], &ready, sizeof ready) != (ssize_t)sizeof ready ||
        ready.op != CH_Z_READY)
        ch_log(CH_LOG_WARN, "supervisor: the zygote did not report ready within 2 s", NULL);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    ch_zygote *z = ch_calloc(1, sizeof *z);
    z->pid = pid;
    z->fd = sv[0];
    return z;
}

int ch_zygote_fd(const ch_zygote *z) { return z->fd; }
pid_t ch_zygote_pid(const ch_zygote *z) { return z->pid; }

int ch_zygote_spawn(ch_zygote *z, int widx)
{
    ch_zmsg m = {CH_Z_SPAWN, widx, 0, 0};
    ssize_t n;
    do n = write(z->fd, &m, sizeof m);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof m ? 0 : -1;
}

int ch_zygote_read(ch_zygote *z, ch_zmsg *m)
{
    ssize_t n;
    do n = read(z->fd, m, sizeof *m);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof *m) return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
}

int ch_zygote_reap(ch_zygote *z, int *status)
{
    if (z->reaped) return 1;
    int st = 0;
    pid_t r = waitpid(z->pid, &st, WNOHANG);
    if (r == z->pid || (r < 0 && errno == ECHILD)) {
        z->reaped = 1;
        if (status) *status = st;
        return 1;
    }
    return 0;
}

void ch_zygote_stop(ch_zygote *z)
{
    if (!z) return;
    if (!z->reaped) {
        kill(z->pid, SIGKILL);
        waitpid(z->pid, NULL, 0);
    }
    close(z->fd);
    free(z);
}
