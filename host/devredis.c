/* devredis.c -- see devredis.h. */
#include "devredis.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct ch_devredis {
    pid_t pid;      /* 0 once reaped */
    char *bin;
    char *dir;
    char *socket;
    char *logfile;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Forks redis-server and waits (up to 5 s) for its socket. */
static ch_err spawn(ch_devredis *d, char *err, size_t errcap)
{
    unlink(d->socket); /* a stale socket would look like a live server */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errcap, "fork: %s", strerror(errno));
        return CH_EIO;
    }
    if (pid == 0) {
        /* The private Redis must not outlive c360d, even after kill -9. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); close(devnull); }
        /* Own process group: a ^C in the terminal reaches c360d, which then
         * stops Redis after its own shutdown, in order. */
        setpgid(0, 0);
        execlp(d->bin, d->bin, "--port", "0", "--unixsocket", d->socket,
               "--unixsocketperm", "700", "--dir", d->dir, "--appendonly", "yes",
               "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
               "--logfile", d->logfile, (char *)NULL);
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot exec redis-server\",\"bin\":\"%s\",\"error\":\"%s\"}\n",
                d->bin, strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        struct stat st;
        if (stat(d->socket, &st) == 0 && S_ISSOCK(st.st_mode)) {
            d->pid = pid;
            char pidbuf[24];
            snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
            ch_log(CH_LOG_INFO, "started private redis-server", "socket", d->socket,
                   "pid", pidbuf, "aof", "on", NULL);
            return CH_OK;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            snprintf(err, errcap, "%s exited at start (status %d); see %s",
                     d->bin, WIFEXITED(status) ? WEXITSTATUS(status) : -1, d->logfile);
            return CH_EIO;
        }
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    snprintf(err, errcap, "%s did not open %s within 5 s", d->bin, d->socket);
    return CH_EIO;
}

static void devredis_free(ch_devredis *d)
{
    free(d->bin);
    free(d->dir);
    free(d->socket);
    free(d->logfile);
    free(d);
}

ch_err ch_devredis_start(const char *bin, const char *data_dir,
                         ch_devredis **out, char *err, size_t errcap)
{
    *out = NULL;
    ch_devredis *d = ch_calloc(1, sizeof *d);
    d->bin = ch_strdup(bin);
    d->dir = ch_asprintf("%s/redis", data_dir);
    d->socket = ch_asprintf("%s/redis.sock", d->dir);
    d->logfile = ch_asprintf("%s/redis.log", d->dir);
    if (mkdir(d->dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errcap, "cannot create %s: %s", d->dir, strerror(errno));
        devredis_free(d);
        return CH_EIO;
    }
    if (strlen(d->socket) >= 108) {
        snprintf(err, errcap, "data_dir path too long for a Unix socket (%s)", d->socket);
        devredis_free(d);
        return CH_ECONFIG;
    }
    ch_err e = spawn(d, err, errcap);
    if (e != CH_OK) {
        devredis_free(d);
        return e;
    }
    *out = d;
    return CH_OK;
}

const char *ch_devredis_socket(const ch_devredis *d) { return d->socket; }
pid_t ch_devredis_pid(const ch_devredis *d) { return d->pid; }

int ch_devredis_reap(ch_devredis *d)
{
    if (d->pid <= 0) return 0;
    int status;
    if (waitpid(d->pid, &status, WNOHANG) != d->pid) return 0;
    char st[32];
    snprintf(st, sizeof st, "%d", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
    ch_log(CH_LOG_WARN, "private redis-server exited", "status", st, NULL);
    d->pid = 0;
    return 1;
}

ch_err ch_devredis_restart(ch_devredis *d, char *err, size_t errcap)
{
    if (d->pid > 0) return CH_OK;
    return spawn(d, err, errcap);
}

void ch_devredis_stop(ch_devredis *d)
{
    if (!d) return;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int status, done = 0;
        for (int i = 0; i < 250 && !done; i++) {
            if (waitpid(d->pid, &status, WNOHANG) == d->pid) done = 1;
            else sleep_ms(20);
        }
        if (!done) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &status, 0);
        }
        ch_log(CH_LOG_INFO, "stopped private redis-server", NULL);
    }
    devredis_free(d);
}
