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
    pid_t pid;
    char *dir;
    char *socket;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

ch_err ch_devredis_start(const char *bin, const char *data_dir,
                         ch_devredis **out, char *err, size_t errcap)
{
    *out = NULL;
    char *dir = ch_asprintf("%s/redis", data_dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
        free(dir);
        return CH_EIO;
    }
    char *sock = ch_asprintf("%s/redis.sock", dir);
    if (strlen(sock) >= 108) {
        snprintf(err, errcap, "data_dir path too long for a Unix socket (%s)", sock);
        free(dir); free(sock);
        return CH_ECONFIG;
    }
    char *logf = ch_asprintf("%s/redis.log", dir);
    unlink(sock); /* a stale socket from a crash would confuse readiness */

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errcap, "fork: %s", strerror(errno));
        free(dir); free(sock); free(logf);
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
        execlp(bin, bin, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
               "--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec",
               "--save", "", "--daemonize", "no", "--logfile", logf,
               (char *)NULL);
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot exec redis-server\",\"bin\":\"%s\",\"error\":\"%s\"}\n",
                bin, strerror(errno));
        _exit(127);
    }
    free(logf);

    for (int i = 0; i < 250; i++) {
        struct stat st;
        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) break;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            snprintf(err, errcap, "%s exited at start (status %d); see %s/redis.log",
                     bin, WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir);
            free(dir); free(sock);
            return CH_EIO;
        }
        sleep_ms(20);
    }
    ch_devredis *d = ch_calloc(1, sizeof *d);
    d->pid = pid;
    d->dir = dir;
    d->socket = sock;
    *out = d;
    char pidbuf[24];
    snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
    ch_log(CH_LOG_INFO, "started private redis-server", "socket", sock,
           "pid", pidbuf, "aof", "on", NULL);
    return CH_OK;
}

const char *ch_devredis_socket(const ch_devredis *d) { return d->socket; }
pid_t ch_devredis_pid(const ch_devredis *d) { return d->pid; }

void ch_devredis_stop(ch_devredis *d)
{
    if (!d) return;
    kill(d->pid, SIGTERM);
    int status;
    int done = 0;
    for (int i = 0; i < 250 && !done; i++) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) done = 1;
        else sleep_ms(20);
    }
    if (!done) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
    }
    ch_log(CH_LOG_INFO, "stopped private redis-server", NULL);
    free(d->dir);
    free(d->socket);
    free(d);
}
