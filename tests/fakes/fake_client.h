/* fake_client.h -- starting, stopping and poking the fake servers from a C
 * test. The fakes are found at $C360_BUILD_DIR/tests/fakes/<name> (ctest
 * sets C360_BUILD_DIR). fake_call() talks raw HTTP/1.0 over a socket, so a
 * test of the HTTP client never depends on the client under test to read
 * a fake's counters. Header-only, like redis_fixture.h. */
#ifndef C360_FAKE_CLIENT_H
#define C360_FAKE_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct fake_proc {
    pid_t pid;
    int port;
} fake_proc;

static inline void fake_stop(fake_proc *p)
{
    if (p->pid <= 0) return;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) { p->pid = 0; return; }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

/* Starts fake `name` with args (NULL-terminated, may be NULL) and waits up
 * to 10 s for its "port N" line. Exits the test on failure. */
static inline void fake_start(fake_proc *p, const char *name, const char *const *args)
{
    const char *dir = getenv("C360_BUILD_DIR");
    if (!dir) { fprintf(stderr, "C360_BUILD_DIR is not set (run under ctest)\n"); exit(1); }
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fakes/%s", dir, name);
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); exit(1); }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(1); }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        const char *argv[32] = {path};
        int n = 1;
        for (int i = 0; args && args[i] && n < 31; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->port = 0;
    char line[64];
    size_t used = 0;
    struct pollfd pfd = {fds[0], POLLIN, 0};
    while (used < sizeof line - 1 && poll(&pfd, 1, 10000) == 1) {
        ssize_t r = read(fds[0], line + used, 1);
        if (r <= 0) break;
        if (line[used] == '\n') { line[used] = '\0'; break; }
        used++;
    }
    line[used] = '\0';
    close(fds[0]);
    if (sscanf(line, "port %d", &p->port) != 1 || p->port <= 0) {
        fprintf(stderr, "fake %s did not start (got \"%s\")\n", path, line);
        fake_stop(p);
        exit(1);
    }
}

/* One request to 127.0.0.1:port; returns the HTTP status (or -1) and the
 * body in out (NUL-terminated, cut at cap). */
static inline int fake_call(int port, const char *method, const char *target, char *out, size_t cap)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { close(s); return -1; }
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", method, target);
    if (write(s, req, (size_t)n) != n) { close(s); return -1; }
    static char resp[1 << 16];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = read(s, resp + got, sizeof resp - 1 - got)) > 0) got += (size_t)r;
    close(s);
    resp[got] = '\0';
    int status = -1;
    if (sscanf(resp, "HTTP/%*s %d", &status) != 1) return -1;
    const char *body = strstr(resp, "\r\n\r\n");
    if (out && cap) snprintf(out, cap, "%s", body ? body + 4 : "");
    return status;
}

/* A number field of the fake's /stats JSON, or -1. */
static inline long fake_stat(int port, const char *field)
{
    char body[4096], pat[128];
    if (fake_call(port, "GET", "/stats", body, sizeof body) != 200) return -1;
    snprintf(pat, sizeof pat, "\"%s\":", field);
    const char *p = strstr(body, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* A string field of the fake's /stats JSON into out ("" if absent). */
static inline void fake_stat_str(int port, const char *field, char *out, size_t cap)
{
    char body[4096], pat[128];
    out[0] = '\0';
    if (fake_call(port, "GET", "/stats", body, sizeof body) != 200) return;
    snprintf(pat, sizeof pat, "\"%s\":\"", field);
    const char *p = strstr(body, pat);
    if (!p) return;
    p += strlen(pat);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < cap) n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

#endif
